# leakprofd: plain Makefile with pkg-config.
#   make            build build/leakprofd
#   make run        install missing packages (as root), build, start a demo service and the daemon scraping it
#   make check      install missing packages (as root), build, run every test (unit, integration, browser)
#   make SANITIZE=address,undefined check   the same under ASan/UBSan (objects under build/san/)
#   make valgrind   unit tests, the parse CLI and the daemon with the other commands under valgrind
#   make fuzz       each libFuzzer target for FUZZ_SECONDS
#   make bench      benchmarks, reported as ratios against baselines measured in the same run
#   make eval       the detector's evaluation tables: simulated fleets, then the leak and benign zoos
#   make install / uninstall / deb

PKGS      = libcurl libmicrohttpd jansson sqlite3 yaml-0.1 zlib libcrypto libsystemd
TEST_PKGS = check
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)

# Debian packages: what the build needs, and what the tests need on top.
DEB_BUILD = build-essential pkg-config libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev libsqlite3-dev \
            libyaml-dev zlib1g-dev libssl-dev libsystemd-dev golang-1.19-go curl ca-certificates
DEB_TEST  = check sqlite3 jq chromium valgrind clang libclang-rt-14-dev mandoc man-db systemd dpkg-dev \
            fakeroot procps psmisc openssl clang-format

CC       ?= cc
WERROR   ?= -Werror
OPT      ?= -O2
CFLAGS   ?= -g $(OPT)
CFLAGS   += -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Wall -Wextra $(WERROR) -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wwrite-strings -Wvla -Wformat=2 -fno-common -I. -I$(BUILD)/gen \
            -DLEAKPROFD_VERSION='"$(VERSION)"' -MMD -MP
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread
CHECK_LIBS = $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

ifdef SANITIZE
BUILD    ?= build/san
CFLAGS   += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SANITIZE)
# Every report fails the run with a status no program here uses, leaks included: LeakSanitizer checks at
# each exit, so in every CK_FORK child too. Either variable set in the environment wins.
export ASAN_OPTIONS  ?= detect_leaks=1:halt_on_error=1:exitcode=86
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1:exitcode=86
else
BUILD    ?= build
endif

# The source folders in data-flow order; tests/layering.sh checks that each includes only itself and those before it.
LAYERS   := base collector storage detect web daemon
SRCS     := $(foreach d,$(LAYERS),$(wildcard $(d)/*.c))
LIB_SRCS := $(filter-out daemon/main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SRCS := $(filter-out tests/check_main.c,$(wildcard tests/check_*.c))
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/tests/check_main.o $(BUILD)/obj/tests/testutil.o \
             $(BUILD)/obj/tests/eval/fleetsim.o
# Files compiled in as C string literals: the schema and the dashboard's static assets.
EMBED    := $(wildcard storage/*.sql web/static/*)
GEN      := $(EMBED:%=$(BUILD)/gen/%.inc) $(BUILD)/gen/check_suites.inc
# The Go toolchain the test services are built with, named explicitly: which `go` a plain PATH finds depends on
# what the machine has (/usr/local/go may be a newer Go). Debian's golang-1.19-go installs this one.
GO119    ?= /usr/lib/go-1.19/bin/go
GO_PROGS := $(patsubst tests/go/%/main.go,%,$(wildcard tests/go/*/main.go))
GO_BINS  := $(GO_PROGS:%=build/go/%)
GOENV     = GO111MODULE=off GOFLAGS= GOCACHE=$(abspath build/gocache) GOPATH=$(abspath build/gopath) \
            CGO_ENABLED=0

.PRECIOUS: $(BUILD)/gen/%.inc
.PHONY: all deps run check lint unit integration browser valgrind fuzz bench eval install uninstall deb clean go \
        format
all: $(BUILD)/leakprofd

$(BUILD)/leakprofd: $(BUILD)/obj/daemon/main.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/obj/%.o: %.c | $(GEN)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

# The version is compiled into the files that name it; they are rebuilt when it changes (a commit), others not.
VERSION_USERS := $(shell grep -l LEAKPROFD_VERSION $(SRCS) 2>/dev/null)
$(VERSION_USERS:%.c=$(BUILD)/obj/%.o): $(BUILD)/gen/version.stamp
$(BUILD)/gen/version.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(VERSION)' > $@.tmp; if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
FORCE:

# Each tests/check_<name>.c exports <name>_suite(), declared only by the generated runner list.
$(BUILD)/obj/tests/%.o: CFLAGS += -Wno-missing-prototypes

# A file as a C string literal: #include "storage/schema.sql.inc" inside an initializer.
$(BUILD)/gen/%.inc: %
	@mkdir -p $(@D)
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/check_suites.inc: $(TEST_SRCS)
	@mkdir -p $(@D)
	for f in $(TEST_SRCS); do b=$${f#tests/check_}; echo "SUITE($${b%.c})"; done > $@.tmp && mv $@.tmp $@

$(BUILD)/check_leakprofd: $(TEST_OBJS) $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS)

# The detector on simulated fleets (tests/eval/): the whole set of scenarios, as a table.
$(BUILD)/fleet_eval: $(BUILD)/obj/tests/eval/fleet_eval.o $(BUILD)/obj/tests/eval/fleetsim.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The services are rebuilt when the toolchain that builds them changes, not only their sources.
build/go/.toolchain: FORCE
	@mkdir -p $(@D)
	@echo '$(GO119)' > $@.tmp; if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

# The Go test services (leaking and benign), built with Debian's Go toolchain.
go: $(GO_BINS)
build/go/%: tests/go/%/*.go build/go/.toolchain
	@mkdir -p $(@D)
	cd tests/go/$* && $(GOENV) $(GO119) build -o $(abspath $@) .

deps:
	@missing=$$(for p in $(DEB_BUILD) $(DEB_TEST); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "deps: installing:" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else \
		echo "deps: missing Debian packages; run: sudo apt-get install" $$missing; exit 1; \
	fi

export LEAKPROFD_BIN = $(abspath $(BUILD)/leakprofd)
export LEAKPROFD_GO_BIN = $(abspath build/go)
export LEAKPROFD_GO = $(GO119)
export LEAKPROFD_TEST_OUT = $(abspath $(BUILD)/test-output)

check: deps
	$(MAKE) lint
	$(MAKE) all $(BUILD)/check_leakprofd go
	$(MAKE) unit integration browser

# Source rules that need no build: the include layering, and every C file as the committed .clang-format
# writes it (`make format` rewrites them so).
FORMAT_SRCS = $(wildcard $(LAYERS:%=%/*.c) $(LAYERS:%=%/*.h) tests/*.c tests/*/*.c)
lint:
	sh tests/layering.sh $(LAYERS)
	clang-format --dry-run -Werror $(FORMAT_SRCS)
	@echo "format: $(words $(FORMAT_SRCS)) C files match .clang-format"

unit: $(BUILD)/check_leakprofd
	cd tests && $(abspath $(BUILD)/check_leakprofd)

integration: $(BUILD)/leakprofd go
	sh tests/run-suite.sh tests/integration

browser: $(BUILD)/leakprofd go
	sh tests/run-suite.sh tests/browser

run: deps
	$(MAKE) all go
	sh tests/demo.sh

ifdef SANITIZE
valgrind:
	@echo "valgrind: it cannot run sanitized binaries: run 'make valgrind' without SANITIZE" >&2; exit 2
else
valgrind: $(BUILD)/check_leakprofd $(BUILD)/leakprofd go
	cd tests && CK_FORK=no CK_EXCLUDE_TAGS=slow valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect $(abspath $(BUILD)/check_leakprofd)
	sh tests/valgrind-cli.sh
	sh tests/valgrind-daemon.sh
endif

FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz:
	$(MAKE) BUILD=build/fuzz CC=clang OPT=-O1 \
		CFLAGS_EXTRA= $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus-$$t; \
		for r in tests/fuzz/regressions/$$t-*; do \
			[ -f "$$r" ] || continue; \
			build/fuzz/fuzz_$$t "$$r" || { echo "fuzz: $$r fails again"; exit 1; }; \
		done; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=1048576 \
			-artifact_prefix=build/fuzz/$$t- build/fuzz/corpus-$$t tests/fuzz/seeds-$$t || { \
			echo "fuzz: $$t failed on the build/fuzz/$$t-* input named above; keep it in tests/fuzz/regressions/"; \
			exit 1; }; \
	done

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(filter collector/%,$(LIB_SRCS)) $(wildcard collector/*.h)
	@mkdir -p $(@D)
	clang -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -g -O1 -I. -Ibuild/fuzz/gen \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $< \
		$(filter-out collector/scrape.c collector/targets.c,$(filter collector/%,$(LIB_SRCS))) \
		base/xalloc.c base/log.c base/hash.c base/clock.c -lz

# The configuration and file_sd loaders (text that operators and discovery tools write).
FUZZ_CONFIG_SRCS := $(wildcard base/*.c) collector/targets.c
build/fuzz/fuzz_config: tests/fuzz/fuzz_config.c $(FUZZ_CONFIG_SRCS) base/config.h base/log.h \
		collector/targets.h
	@mkdir -p $(@D)
	clang -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -g -O1 -I. $(PKG_CFLAGS) \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $< $(FUZZ_CONFIG_SRCS) $(PKG_LIBS)

bench: all go
	sh tests/bench/run.sh

eval: all go $(BUILD)/fleet_eval
	$(BUILD)/fleet_eval
	sh tests/integration/eval.sh

clean:
	rm -rf build

format:
	clang-format -i $(FORMAT_SRCS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
-include deploy/install.mk
