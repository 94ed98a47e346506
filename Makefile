# leakprofd: plain Makefile with pkg-config.
#   make            build build/leakprofd
#   make run        install missing packages (as root), build, start a demo service and the daemon scraping it
#   make check      install missing packages (as root), build, run every test (unit, integration, browser)
#   make SANITIZE=address,undefined check   the same under ASan/UBSan (objects under build/san/)
#   make valgrind   unit tests, the parse CLI and the daemon with the other commands under valgrind
#   make fuzz       each libFuzzer target for FUZZ_SECONDS, or for FUZZ_EXECS executions when given
#   make bench      benchmarks, reported as ratios against baselines measured in the same run
#   make eval       the detector's evaluation tables: simulated fleets, the leak and benign zoos, real fleets
#   make fixtures   capture tests/fixtures/go1.*/ again from tests/go/fixturegen built by every Go toolchain
#   make install / uninstall / deb

PKGS      = libcurl libmicrohttpd jansson sqlite3 yaml-0.1 zlib libcrypto libsystemd libpq
TEST_PKGS = check
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)

# Debian packages: what the build needs, and what the tests need on top.
DEB_BUILD = build-essential pkg-config libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev libsqlite3-dev \
            libyaml-dev zlib1g-dev libssl-dev libsystemd-dev libpq-dev golang-1.19-go curl ca-certificates
DEB_TEST  = check sqlite3 jq chromium valgrind clang libclang-rt-14-dev mandoc man-db systemd dpkg-dev \
            fakeroot procps psmisc openssl clang-format dnsmasq-base postgresql

CC       ?= cc
WERROR   ?= -Werror
OPT      ?= -O2
CFLAGS   ?= -g $(OPT)
CFLAGS   += -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Wall -Wextra $(WERROR) -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wwrite-strings -Wvla -Wformat=2 -fno-common -I. -I$(BUILD)/gen \
            -DLEAKPROFD_VERSION='"$(VERSION)"' -MMD -MP
# Nothing of ours is exported from the executables: a shared library that calls a function of its own
# name (libkrb5, under libpq, has a profile_release() too) must never reach one of ours instead.
CFLAGS   += -fvisibility=hidden
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lresolv -lm -lpthread
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
# The Go toolchains the test services are built with, each named explicitly: which `go` a plain PATH finds
# depends on what the machine has. Go 1.19 comes from Debian's golang-1.19-go; Go 1.26 is the Go installed at
# /usr/local/go (Go's own release; the build machines have it there); Go 1.27 is fetched once by that go command
# through the Go module proxy (GOTOOLCHAIN) into GO_MODCACHE, and used from there directly, offline.
GO119    ?= /usr/lib/go-1.19/bin/go
GO126    ?= /usr/local/go/bin/go
GO127_VERSION = 1.27.3
GO_MODCACHE ?= $(HOME)/go/pkg/mod
GO_HOST  := $(shell uname -s | tr A-Z a-z)-$(patsubst aarch64,arm64,$(patsubst x86_64,amd64,$(shell uname -m)))
GO127    ?= $(GO_MODCACHE)/golang.org/toolchain@v0.0.1-go$(GO127_VERSION).$(GO_HOST)/bin/go
GO_PROGS := $(patsubst tests/go/%/main.go,%,$(wildcard tests/go/*/main.go))
# build/go/PROG is Go 1.19 (what most tests run); build/go/TOOLCHAIN/PROG is every program built by each toolchain
# of the matrix. go1.26exp is Go 1.26 with GOEXPERIMENT=goroutineleakprofile (it serves /debug/pprof/goroutineleak,
# as Go 1.27 does by default).
GO_TOOLCHAINS := go1.19 go1.26 go1.26exp go1.27
GO_go1.19     = $(GO119)
GO_go1.26     = $(GO126)
GO_go1.26exp  = $(GO126)
GO_go1.27     = $(GO127)
GOEXP_go1.26exp = goroutineleakprofile
GO_BINS  := $(GO_PROGS:%=build/go/%) $(foreach t,$(GO_TOOLCHAINS),$(GO_PROGS:%=build/go/$(t)/%))
# The build cache is the go command's own default, outside build/: each toolchain's standard library (compiled
# again for each, about two CPU-minutes for the three newer ones) survives `make clean` and serves every checkout.
GO_CACHE ?= $(HOME)/.cache/go-build
# Module mode, offline (the programs use the standard library only). tests/go/go.mod says `go 1.19`; each newer
# toolchain builds with a go.mod of its own version (-modfile), so its programs get that version's GODEBUG
# defaults as a service of today's fleet would (Go 1.27's tracebacklabels=1 among them), not Go 1.20's.
GOENV     = GO111MODULE=on GOFLAGS=-buildvcs=false GOWORK=off GOPROXY=off GOTOOLCHAIN=local GOROOT= \
            GOCACHE=$(GO_CACHE) GOPATH=$(abspath build/gopath) CGO_ENABLED=0

.PRECIOUS: $(BUILD)/gen/%.inc
.PHONY: all deps run check lint unit integration browser valgrind fuzz bench eval install uninstall deb clean go \
        go-toolchains fixtures format
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

# Ranking from the window kept between rankings against ranking from the store (tests/bench/bench_window.sh).
$(BUILD)/bench_window: $(BUILD)/obj/tests/bench/bench_window.o $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The services are rebuilt when the toolchain that builds them changes (its path, its version or the experiment),
# not only their sources. A toolchain that is missing or of another version stops the build here, saying which.
# go_stamp DIR, GO, GOEXPERIMENT, VERSION PREFIX
define go_stamp
	@mkdir -p $(1)
	@v=$$($(2) version 2>/dev/null) || { echo "go: '$(2)' does not run: $(GOHINT_$(4))" \
		"(or name another Go $(4) with GO$(subst .,,$(4))=PATH)" >&2; exit 1; }; \
	case "$$v " in *" go$(4)."* | *" go$(4) "*) ;; *) echo "go: '$(2)' is $$v, not Go $(4): name one with" \
		"GO$(subst .,,$(4))=PATH" >&2; exit 1 ;; esac; \
	echo "$(2) $$v GOEXPERIMENT=$(3)" > $(1)/.toolchain.tmp; \
	if cmp -s $(1)/.toolchain.tmp $(1)/.toolchain; then rm -f $(1)/.toolchain.tmp; \
	else mv $(1)/.toolchain.tmp $(1)/.toolchain; fi
endef
GOHINT_1.19 = 'make deps' installs Debian's golang-1.19-go
GOHINT_1.26 = install Go 1.26 at /usr/local/go
GOHINT_1.27 = 'make deps' fetches it
build/go/.toolchain: FORCE
	$(call go_stamp,build/go,$(GO119),,1.19)

# The Go test services (leaking and benign): build/go/PROG with Go 1.19.
go: $(GO_BINS)
build/go/%: tests/go/%/*.go tests/go/go.mod build/go/.toolchain
	@mkdir -p $(@D)
	cd tests/go/$* && $(GOENV) GOEXPERIMENT= $(GO119) build -o $(abspath $@) .

# build/go/TOOLCHAIN/PROG for each toolchain of the matrix.
define go_toolchain_rules
build/go/$(1)/.toolchain: FORCE | $(filter $(GO127),$(GO_$(1)))
	$$(call go_stamp,build/go/$(1),$$(GO_$(1)),$$(GOEXP_$(1)),$(patsubst go%,%,$(patsubst %exp,%,$(1))))
	@printf 'module leakprofd/tests/go\n\ngo %s\n' $(patsubst go%,%,$(patsubst %exp,%,$(1))) > build/go/$(1)/go.mod
$(foreach p,$(GO_PROGS),
build/go/$(1)/$(p): $(wildcard tests/go/$(p)/*.go) tests/go/go.mod build/go/$(1)/.toolchain
	cd tests/go/$(p) && $$(GOENV) GOEXPERIMENT=$$(GOEXP_$(1)) $$(GO_$(1)) build \
		-modfile=$$(abspath build/go/$(1)/go.mod) -o $$(abspath $$@) .
)
endef
$(foreach t,$(GO_TOOLCHAINS),$(eval $(call go_toolchain_rules,$(t))))

# Go $(GO127_VERSION): the go command of Go 1.26 fetches it from the Go module proxy (about 76 MB, once per machine)
# into GO_MODCACHE; every build after that runs the fetched toolchain's own go command, offline.
$(GO127):
	@[ -x "$(GO126)" ] || { echo "go: Go 1.26 ('$(GO126)') is needed to fetch Go $(GO127_VERSION): install Go" \
		"1.26 at /usr/local/go or name it with GO126=PATH" >&2; exit 1; }
	cd / && env GO111MODULE= GOFLAGS= GOROOT= GOTOOLCHAIN=go$(GO127_VERSION) GOMODCACHE=$(GO_MODCACHE) \
		$(GO126) version
	@[ -x "$@" ] || { echo "go: fetching Go $(GO127_VERSION) left no '$@'" >&2; exit 1; }

# The real profiles of tests/fixtures/go1.*/ again, from fixturegen built by every toolchain (about a minute),
# and from its test binary where Go has testing/synctest (1.25+).
fixtures: $(GO_TOOLCHAINS:%=build/go/%/fixturegen) build/go/go1.26/fixturegen.test build/go/go1.27/fixturegen.test
	sh tests/fixtures/capture.sh $(abspath build/go)
build/go/go1.26/fixturegen.test build/go/go1.27/fixturegen.test: build/go/%/fixturegen.test: \
		$(wildcard tests/go/fixturegen/*.go) tests/go/go.mod build/go/%/.toolchain
	cd tests/go/fixturegen && $(GOENV) GOEXPERIMENT= $(GO_$*) test -c -modfile=$(abspath build/go/$*/go.mod) \
		-o $(abspath $@) .

# Every toolchain of the matrix present and of its version (Go 1.27 fetched if needed).
go-toolchains: $(GO_TOOLCHAINS:%=build/go/%/.toolchain)

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
	@$(MAKE) --no-print-directory go-toolchains

export LEAKPROFD_BIN = $(abspath $(BUILD)/leakprofd)
export LEAKPROFD_GO_BIN = $(abspath build/go)
export LEAKPROFD_GO = $(GO119)
# One folder per toolchain of the matrix, each holding every program: tests that run against each toolchain.
export LEAKPROFD_GO_BINS = $(foreach t,$(GO_TOOLCHAINS),$(abspath build/go/$(t)))
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

# Each suite in its own process, two at once (tests/run-unit.sh); the simulated fleets first. The suites
# get a PostgreSQL server of their own (tests/pg/with_pg.sh: started before, stopped after, its URI in
# LEAKPROFD_PG_URI); LEAKPROFD_PG=off runs them without one, LEAKPROFD_PG_URI=... against another.
# Then the suites whose tests keep a store run once more with every store a database of its own on that
# server (LEAKPROFD_TEST_BACKEND=pg, tests/testutil.h), unless LEAKPROFD_PG=off.
UNIT_JOBS ?= 2
PG_STATES = $(abspath $(BUILD)/test-pg)
UNIT_PG_SUITES = store detect alert web ingest shards history
UNIT_RUN = env UNIT_JOBS=$(UNIT_JOBS) sh run-unit.sh $(abspath $(BUILD)/check_leakprofd) \
	$(abspath $(BUILD)/gen/check_suites.inc)
unit: $(BUILD)/check_leakprofd
	cd tests && sh pg/with_pg.sh $(PG_STATES) sh -c '$(UNIT_RUN) || rc=1; \
		[ "$${LEAKPROFD_PG:-}" = off ] || LEAKPROFD_TEST_BACKEND=pg \
		UNIT_SUITES="$(UNIT_PG_SUITES)" $(UNIT_RUN) || rc=1; exit $${rc:-0}'

# Integration tests run side by side (tests/run-suite.sh): they mostly wait for scrape intervals. They get a
# PostgreSQL server as the unit suites do (test_migrate_db.sh copies into it; LEAKPROFD_PG=off skips that test).
SUITE_JOBS ?= 3
integration: $(BUILD)/leakprofd go
	sh tests/pg/with_pg.sh $(PG_STATES) env SUITE_JOBS=$(SUITE_JOBS) sh tests/run-suite.sh tests/integration

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
	cd tests && sh pg/with_pg.sh $(PG_STATES) env CK_FORK=no CK_EXCLUDE_TAGS=slow valgrind -q \
		--error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		$(abspath $(BUILD)/check_leakprofd)
	sh tests/valgrind-cli.sh
	sh tests/valgrind-daemon.sh
endif

# FUZZ_EXECS=N runs each target for N executions (libFuzzer's -runs) however long that takes, instead of
# FUZZ_SECONDS. Each target's log is kept in build/fuzz/<target>.log, and make prints the executions reached;
# a fuzzer interrupted alone (SIGINT to its pid: libFuzzer exits 72) ends its target, and the next one runs.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_LIMIT    = $(if $(FUZZ_EXECS),-runs=$(FUZZ_EXECS),-max_total_time=$(FUZZ_SECONDS))
FUZZ_WHAT     = $(if $(FUZZ_EXECS),$(FUZZ_EXECS) executions,$(FUZZ_SECONDS) s)
fuzz:
	$(MAKE) BUILD=build/fuzz CC=clang OPT=-O1 \
		CFLAGS_EXTRA= $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus-$$t; \
		for r in tests/fuzz/regressions/$$t-*; do \
			[ -f "$$r" ] || continue; \
			build/fuzz/fuzz_$$t "$$r" || { echo "fuzz: $$r fails again"; exit 1; }; \
		done; \
		echo "fuzz: $$t for $(FUZZ_WHAT)"; \
		start=$$(date +%s); rc=0; \
		build/fuzz/fuzz_$$t $(FUZZ_LIMIT) -rss_limit_mb=2048 -max_len=1048576 \
			-artifact_prefix=build/fuzz/$$t- build/fuzz/corpus-$$t tests/fuzz/seeds-$$t \
			>build/fuzz/$$t.log 2>&1 || rc=$$?; \
		if [ $$rc != 0 ] && [ $$rc != 72 ]; then tail -n 120 build/fuzz/$$t.log; \
			echo "fuzz: $$t failed on the build/fuzz/$$t-* input named above; keep it in tests/fuzz/regressions/"; \
			exit 1; fi; \
		last=$$(grep -a '^#[0-9]' build/fuzz/$$t.log | tail -n 1); \
		echo "fuzz: $$t: $$(echo "$$last" | sed 's/^#\([0-9]*\).*/\1/') executions in" \
			"$$(( $$(date +%s) - start )) s$$([ $$rc = 72 ] && echo ', interrupted'):" \
			"$$(echo "$$last" | sed 's/^#[0-9]*[[:space:]]*[A-Z]*[[:space:]]*//')"; \
	done

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(filter collector/%,$(LIB_SRCS)) $(wildcard collector/*.h)
	@mkdir -p $(@D)
	clang -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -g -O1 -I. -Ibuild/fuzz/gen \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $< \
		$(filter-out collector/scrape.c collector/targets.c collector/discovery%,$(filter collector/%,$(LIB_SRCS))) \
		base/xalloc.c base/log.c base/hash.c base/clock.c -lz

# The configuration and file_sd loaders (text that operators and discovery tools write).
FUZZ_CONFIG_SRCS := $(wildcard base/*.c) collector/targets.c $(wildcard collector/discovery*.c)
build/fuzz/fuzz_config: tests/fuzz/fuzz_config.c $(FUZZ_CONFIG_SRCS) base/config.h base/log.h \
		collector/targets.h
	@mkdir -p $(@D)
	clang -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -g -O1 -I. $(PKG_CFLAGS) -DLEAKPROFD_VERSION='"fuzz"' \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $< $(FUZZ_CONFIG_SRCS) $(PKG_LIBS)

# Discovery's answers (DNS messages, http_sd bodies): the discovery files need the loaders' sources.
build/fuzz/fuzz_discovery: tests/fuzz/fuzz_discovery.c $(FUZZ_CONFIG_SRCS) collector/discovery.h \
		collector/targets.h
	@mkdir -p $(@D)
	clang -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -g -O1 -I. $(PKG_CFLAGS) -DLEAKPROFD_VERSION='"fuzz"' \
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
