#!/bin/sh
# tests/integration/test_usage.sh: each command's one usage text against its other copies and its parser.
# - The options of `leakprofd COMMAND --help` are those of the command's line in the SYNOPSIS of leakprofd(8)
#   and in README.md's "Command line" block, and take a value in all three alike; `leakprofd --help` prints
#   the same synopsis.
# - COMMAND --help prints the usage on stdout and exits 0; an unknown option, a missing value or a value given
#   to a flag exits 2 with one line naming the option, then the usage, on stderr.
# - `--opt value` and `--opt=value` mean the same: run writes a database (from a real zoo service) with its
#   options given either way, then suspects, scrape, parse and test-webhook read it or their inputs both ways.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$LEAKPROFD_BIN
out=$TEST_TMP/out
err=$TEST_TMP/err
commands="run parse scrape suspects check-config test-webhook migrate-db"
[ -x "$bin" ] || fail "$bin is missing: run 'make'"

# lk WANT ARGS...: run leakprofd ARGS, require the exit status WANT, keep stdout and stderr in $out and $err.
lk() {
	_want=$1
	shift
	if "$bin" "$@" </dev/null >"$out" 2>"$err"; then _rc=0; else _rc=$?; fi
	[ "$_rc" = "$_want" ] || { cat "$out" "$err" >&2; fail "leakprofd $*: exit $_rc, want $_want"; }
}

# synopsis_opts: the options of the synopsis text on stdin, one a line, sorted: "--name" for a flag, "--name ARG"
# for one that takes a value (the word after it is not '|' or a bracket).
synopsis_opts() {
	grep -oE -- '--[a-z][a-z-]*( [^][| ])?' | sed -E 's/ .$/ ARG/' | sort
}

# help_synopsis CMD: the synopsis that `leakprofd CMD --help` prints (its first line and the indented lines
# that continue it), on one line, without "usage: ".
help_synopsis() {
	"$bin" "$1" --help | awk 'NR == 1 { printf "%s", $0; next } !done && /^   / { printf " %s", $0; next }
		{ done = 1 } END { print "" }' | sed 's/^usage: //' | tr -s ' '
}

# man_synopsis: the SYNOPSIS of leakprofd(8) as mandoc renders it, one command a line.
man_synopsis() {
	mandoc -T ascii -O width=1000 "$root/deploy/leakprofd.8" | col -bx |
		awk '/^SYNOPSIS/ { on = 1; next } on && /^[A-Z]/ { exit }
			on && /^ +leakprofd / { if (line != "") print line; line = $0; next }
			on && NF { line = line " " $0 } END { if (line != "") print line }' | sed 's/^ *//' | tr -s ' '
}

# readme_synopsis: README.md's "Command line" block, one command a line.
readme_synopsis() {
	awk '/^## Command line/ { sec = 1; next } sec && /^## / { exit }
		sec && /^```/ { if (block) exit; block = 1; next }
		block && /^leakprofd / { if (line != "") print line; line = $0; next }
		block && /^ / { line = line " " $0 } END { if (line != "") print line }' "$root/README.md" | tr -s ' '
}

# same_opts WHAT CMD WANT_FILE LINES_FILE: the options of CMD's line in LINES_FILE are those in WANT_FILE.
same_opts() {
	grep "^leakprofd $2 " "$4" >"$TEST_TMP/line" || fail "$1 has no synopsis of '$2'"
	synopsis_opts <"$TEST_TMP/line" >"$TEST_TMP/got"
	diff -u "$3" "$TEST_TMP/got" >"$TEST_TMP/diff" ||
		{ cat "$TEST_TMP/diff"; fail "$2: the options of $1 differ from leakprofd $2 --help (- help, + $1)"; }
}

echo "== the usage texts agree with leakprofd(8) and README.md"
readme_synopsis >"$TEST_TMP/readme"
[ -s "$TEST_TMP/readme" ] || fail "no Command line block in README.md"
have_man=false
if command -v mandoc >/dev/null 2>&1 && command -v col >/dev/null 2>&1; then
	have_man=true
	man_synopsis >"$TEST_TMP/man"
	[ -s "$TEST_TMP/man" ] || fail "no SYNOPSIS rendered from leakprofd(8)"
else
	echo "note: mandoc or col is not installed: leakprofd(8) not compared"
fi
lk 0 --help
tr -s ' \n' '  ' <"$out" >"$TEST_TMP/overview"
for cmd in $commands; do
	lk 0 "$cmd" --help
	head -n 1 "$out" | grep -q "^usage: leakprofd $cmd " || fail "$cmd --help: no usage line on stdout"
	[ ! -s "$err" ] || { cat "$err"; fail "$cmd --help: stderr not empty"; }
	cp "$out" "$TEST_TMP/help"
	lk 0 "$cmd" -h
	cmp -s "$out" "$TEST_TMP/help" || fail "$cmd -h differs from $cmd --help"

	syn=$(help_synopsis "$cmd")
	echo "$syn"
	printf '%s\n' "$syn" | synopsis_opts >"$TEST_TMP/want"
	# The option list under the synopsis names no option the synopsis lacks, and no other command's.
	grep -oE -- '--[a-z][a-z-]*' "$TEST_TMP/help" | sort -u >"$TEST_TMP/named"
	sed 's/ ARG$//' "$TEST_TMP/want" | sort -u >"$TEST_TMP/synnames"
	diff -u "$TEST_TMP/synnames" "$TEST_TMP/named" ||
		fail "$cmd --help: its text names other options than its synopsis (- synopsis, + text)"
	grep -qF " $syn " "$TEST_TMP/overview" || fail "leakprofd --help does not print the synopsis of $cmd"
	same_opts "README.md" "$cmd" "$TEST_TMP/want" "$TEST_TMP/readme"
	if $have_man; then
		same_opts "leakprofd(8)" "$cmd" "$TEST_TMP/want" "$TEST_TMP/man"
	fi
	n=$(grep -c -e "^leakprofd $cmd " "$TEST_TMP/readme" || true)
	[ "$n" = 1 ] || fail "README.md lists $cmd $n times"
done
# Neither copy lists a command that has no usage text.
for f in "$TEST_TMP/readme" "$TEST_TMP/man"; do
	[ -f "$f" ] || continue
	for cmd in $(awk '$2 !~ /^-/ { print $2 }' "$f"); do
		case " $commands " in
		*" $cmd "*) ;;
		*) fail "$(basename "$f") lists an unknown command '$cmd'" ;;
		esac
	done
done

echo "== usage errors: exit 2, the option named on one line, then the usage on stderr"
# usage_error CMD MESSAGE ARGS...: `leakprofd CMD ARGS` exits 2, prints nothing on stdout, and MESSAGE and then
# the usage on stderr.
usage_error() {
	_cmd=$1 _msg=$2
	shift 2
	lk 2 "$_cmd" "$@"
	[ ! -s "$out" ] || fail "$_cmd $*: stdout not empty"
	assert_eq "$_cmd $*: first line on stderr" "$(head -n 1 "$err")" "leakprofd $_cmd: $_msg"
	sed -n 2p "$err" | grep -q "^usage: leakprofd $_cmd " ||
		{ cat "$err"; fail "$_cmd $*: no usage after the message"; }
}
for cmd in $commands; do
	usage_error "$cmd" "unknown option '--no-such-option'" --no-such-option
	usage_error "$cmd" "unknown option '--no-such-option'" --no-such-option=1
	usage_error "$cmd" "unknown option '-Z'" -Z
	# Every option of the synopsis: without its value, or with a value it does not take.
	help_synopsis "$cmd" | synopsis_opts >"$TEST_TMP/opts"
	while read -r opt arg; do
		if [ -n "$arg" ]; then
			usage_error "$cmd" "option '$opt' needs a value" "$opt"
		else
			usage_error "$cmd" "option '$opt' takes no value" "$opt=1"
		fi
	done <"$TEST_TMP/opts"
done
usage_error suspects "unknown option '--win'" --win 6h           # names are not abbreviated
usage_error run "unexpected argument 'extra'" extra
usage_error parse "more than one input ('b')" a b
lk 2
grep -q "^usage: leakprofd COMMAND" "$err" || fail "leakprofd without a command: no overview on stderr"
lk 2 no-such-command
assert_eq "unknown command" "$(head -n 1 "$err")" "leakprofd: unknown command 'no-such-command'"

echo "== --opt value and --opt=value"
# parse: operands before options, after --, and standard input.
prof=$root/tests/fixtures/go1.19/goroutine.debug2.txt
lk 0 parse --json "$prof"
cp "$out" "$TEST_TMP/parse.json"
jq -e '.format == "debug=2" and (.locations | length) > 0' "$TEST_TMP/parse.json" >/dev/null || fail "parse --json"
for args in "$prof --json" "--json -- $prof"; do
	# shellcheck disable=SC2086 # the fixture's path has no spaces
	lk 0 parse $args
	cmp -s "$out" "$TEST_TMP/parse.json" || fail "parse $args differs from parse --json FILE"
done
if "$bin" parse --json - <"$prof" >"$out" 2>"$err"; then :; else fail "parse --json -: exit $?"; fi
cmp -s "$out" "$TEST_TMP/parse.json" || fail "parse --json - differs from parse --json FILE"

# run: a real database from a zoo service, each option given one way or the other; the configuration names
# another database and listen address, which the command line overrides.
[ -x "$LEAKPROFD_GO_BIN/zoo" ] || skip "build/go/zoo is not built (make go)"
for t in jq sqlite3; do command -v $t >/dev/null || skip "$t is not installed"; done
start_go zoo zoo -leak early_return -leak-count 20 -leak-rate 10
url=http://127.0.0.1:$zoo_port
DB=$TEST_TMP/usage.db
cat >"$TEST_TMP/leakprofd.yaml" <<YAML
listen: 127.0.0.1:1
database: $TEST_TMP/not-this.db
scrape_interval: 1m
scrape_timeout: 10s
YAML
start_daemon --config="$TEST_TMP/leakprofd.yaml" --database="$DB" --listen 127.0.0.1:0 --interval=1s \
	--target="$url"
wait_for 30 has_ok_scrapes "$url%" 6
stop_daemon
grep -q "running: 1 targets every 1 s, database '$DB'" "$TEST_TMP/daemon.log" ||
	{ cat "$TEST_TMP/daemon.log"; fail "run: --interval=1s, --database=FILE or --target=URL not applied"; }
grep -q "web: listening on '127.0.0.1:0'" "$TEST_TMP/daemon.log" || fail "run: --listen ADDR not applied"
[ ! -e "$TEST_TMP/not-this.db" ] || fail "run: the configuration's database was opened despite --database"

# suspects: the same ranking at the same time, options given either way and in any order.
at=$(( $(date +%s) * 1000 ))
lk 0 suspects --window=6h --db="$DB" --at="$at" --json
cp "$out" "$TEST_TMP/suspects.json"
jq -e '.window_seconds == 21600 and (.suspects | length) > 0' "$TEST_TMP/suspects.json" >/dev/null ||
	fail "suspects --window=6h: $(head -c 400 "$TEST_TMP/suspects.json")"
lk 0 suspects --window 6h --db "$DB" --at "$at" --json
cmp -s "$out" "$TEST_TMP/suspects.json" || fail "suspects --window 6h --db FILE differs from --window=6h --db=FILE"
lk 0 suspects --json --at "$at" --db="$DB" --window 6h
cmp -s "$out" "$TEST_TMP/suspects.json" || fail "suspects with the options in another order differs"
lk 0 suspects --window=6h --db="$DB" --at="$at" --json --limit=1
jq -e '(.suspects | length) == 1' "$out" >/dev/null || fail "suspects --limit=1: $(head -c 400 "$out")"
cp "$out" "$TEST_TMP/limit1.json"
lk 0 suspects --window 6h --db "$DB" --at "$at" --json --limit 1
cmp -s "$out" "$TEST_TMP/limit1.json" || fail "suspects --limit 1 differs from --limit=1"
lk 1 suspects --db="$TEST_TMP/missing.db"

# scrape: --format=debug=1 (the value holds '=') and --format debug=1 both ask for debug=1; the default is proto.
lk 0 scrape --timeout=5s --format=debug=1 --json "$url"
jq -e '.format == "debug=1"' "$out" >/dev/null || fail "scrape --format=debug=1: $(head -c 200 "$out")"
lk 0 scrape --json --timeout 5s "$url" --format debug=1
jq -e '.format == "debug=1"' "$out" >/dev/null || fail "scrape --format debug=1: $(head -c 200 "$out")"
lk 0 scrape --json "$url"
jq -e '.format == "proto"' "$out" >/dev/null || fail "scrape without --format: $(head -c 200 "$out")"

# test-webhook: the configuration given either way (the webhook refuses the connection: exit 1, same message).
cat >"$TEST_TMP/hook.yaml" <<YAML
alerting:
  webhooks:
    - {name: hook, url: "http://127.0.0.1:1/"}
YAML
lk 1 test-webhook --config="$TEST_TMP/hook.yaml" hook
grep -q "webhook 'hook'" "$err" || { cat "$err"; fail "test-webhook --config=FILE did not read FILE"; }
cp "$err" "$TEST_TMP/hook.err"
lk 1 test-webhook hook --config "$TEST_TMP/hook.yaml"
cmp -s "$err" "$TEST_TMP/hook.err" || fail "test-webhook --config FILE differs from --config=FILE"
lk 0 check-config -- "$TEST_TMP/hook.yaml"
echo "usage: all cases passed"
