module leakprofd/tests/go

go 1.19
