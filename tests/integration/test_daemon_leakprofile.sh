#!/bin/sh
# test_daemon_leakprofile.sh: one service entry scrapes the goroutine profile every second and, where the target
# serves it, the goroutine leak profile at its own interval. A Go 1.27 zoo leaks in three patterns at 3 goroutines
# a second; Go's leak detection proves two of them (the goroutines on a Mutex a package variable holds never show
# in the leak profile): those two are listed once each, confirmed, above the third (unconfirmed, growing). A Go
# 1.19 zoo answers 404 for the leak profile: remembered (one info line, no warning, nothing stored, the target
# stays up) while its goroutine profile is scraped every second. An ignore rule removes a confirmed leak.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
for t in curl jq sqlite3; do command -v $t >/dev/null || skip "$t is not installed"; done
DB=$TEST_TMP/leakprofd.db
go127=
for dir in ${LEAKPROFD_GO_BINS:-}; do
	[ "$(basename "$dir")" = go1.27 ] && go127=$dir
done
[ -n "$go127" ] || skip "LEAKPROFD_GO_BINS names no go1.27 folder (make exports it)"
gobin=$LEAKPROFD_GO_BIN

zooflags="-leak early_return,waitgroup,mutex -leak-count 10 -leak-rate 3 -benign pool,sleep -pool-size 40
	-sleepers 12 -sleep-interval 1h"
LEAKPROFD_GO_BIN=$go127
# shellcheck disable=SC2086
start_go new zoo $zooflags
LEAKPROFD_GO_BIN=$gobin
# shellcheck disable=SC2086
start_go old zoo $zooflags
curl -sf "http://127.0.0.1:$new_port/expected" >"$TEST_TMP/new.expected" || fail "GET /expected"
[ "$(jq -r .goroutineleak "$TEST_TMP/new.expected")" = true ] || fail "the Go 1.27 zoo serves no leak profile"
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$old_port/debug/pprof/goroutineleak" >"$TEST_TMP/old.code"
assert_eq "Go 1.19's leak profile" "$(cat "$TEST_TMP/old.code")" 404

config() {
	cat <<EOF2
listen: $listen
database: $DB
scrape_interval: 1s
scrape_timeout: 1s
detector:
  min_scrapes: 4
$1
services:
  - name: new
    targets: ["http://127.0.0.1:$new_port"]
    leak_profile: {interval: 1m}
  - name: old
    targets: ["http://127.0.0.1:$old_port"]
    leak_profile: {interval: 1m}
EOF2
}
listen=$(free_listen)
config "" >"$TEST_TMP/leakprofd.yaml"
start_daemon --config "$TEST_TMP/leakprofd.yaml"
wait_for 40 has_ok_scrapes "http://127.0.0.1:$new_port%" 8
wait_for 40 has_ok_scrapes "http://127.0.0.1:$old_port%" 8
daemon_alive

# One leak fetch of the Go 1.27 zoo (the interval is a minute), stored as a goroutineleak scrape that is no count
# sample; none of the Go 1.19 zoo; both targets up.
leakrows() {
	sq "SELECT count(*) FROM scrapes s JOIN targets t ON t.id = s.target_id
	    WHERE t.url LIKE 'http://127.0.0.1:$1%' AND s.kind = 'goroutineleak'"
}
assert_eq "leak fetches of the Go 1.27 zoo" "$(leakrows "$new_port")" 1
assert_eq "the leak fetch" "$(sq "SELECT status || ' ' || detail FROM scrapes WHERE kind = 'goroutineleak'")" "ok 1"
assert_eq "leak fetches of the Go 1.19 zoo" "$(leakrows "$old_port")" 0
assert_eq "targets not ok" "$(sq "SELECT count(*) FROM targets WHERE last_status <> 'ok'")" 0
assert_eq "rows of the 404" "$(sq "SELECT count(*) FROM scrapes WHERE status <> 'ok'")" 0
grep -c "127.0.0.1:$old_port/debug/pprof/goroutineleak.*not served (http 404)" "$TEST_TMP/daemon.log" \
	>"$TEST_TMP/notserved" || true
assert_eq "404 log lines" "$(cat "$TEST_TMP/notserved")" 1
if grep -E '^(<[0-4]>)?.*(warning|error)' "$TEST_TMP/daemon.log" | grep -q goroutineleak; then
	fail "the leak profile logged a warning or an error: $(grep goroutineleak "$TEST_TMP/daemon.log")"
fi

# suspects SERVICE [CONFIG]: "rank function file:line op confirmed" per suspect, in rank order.
suspects() {
	"$LEAKPROFD_BIN" suspects --config "${2:-$TEST_TMP/leakprofd.yaml}" --service "$1" --window 1h --json \
		>"$TEST_TMP/$1.suspects" || fail "$1: leakprofd suspects failed"
	jq -r '.suspects[] | "\(.function) \(.file):\(.line) \(.op) \(.confirmed)"' "$TEST_TMP/$1.suspects"
}
# The zoo's leak locations: those Go's leak detection reports confirmed (sorted), then the others.
jq -r '.locations[] | select(.kind == "leak") | select(.leaked) | "\(.function) \(.file):\(.line) \(.op_proto) true"' \
	"$TEST_TMP/new.expected" | sort >"$TEST_TMP/want.confirmed"
jq -r '.locations[] | select(.kind == "leak") | select(.leaked | not)
    | "\(.function) \(.file):\(.line) \(.op_proto) false"' "$TEST_TMP/new.expected" | sort >"$TEST_TMP/want.other"
[ "$(wc -l <"$TEST_TMP/want.confirmed")" -eq 2 ] && [ "$(wc -l <"$TEST_TMP/want.other")" -eq 1 ] ||
	fail "/expected lists $(cat "$TEST_TMP/want.confirmed" "$TEST_TMP/want.other")"
# Growth needs a few more scrapes than the confirmation.
got_all() {
	suspects new >"$TEST_TMP/new.got"
	[ "$(wc -l <"$TEST_TMP/new.got")" -ge 3 ]
}
wait_for 40 got_all
head -n 2 "$TEST_TMP/new.got" | sort >"$TEST_TMP/new.top"
cmp -s "$TEST_TMP/want.confirmed" "$TEST_TMP/new.top" || fail "the first two suspects are not the proven leaks:
$(cat "$TEST_TMP/new.got")"
tail -n +3 "$TEST_TMP/new.got" >"$TEST_TMP/new.rest"
cmp -s "$TEST_TMP/want.other" "$TEST_TMP/new.rest" || fail "the unconfirmed suspects differ:
$(diff "$TEST_TMP/want.other" "$TEST_TMP/new.rest")"
echo "new: $(jq -c '[.suspects[] | "\(.rank) \(.function):\(.line) \(.op)\(if .confirmed then " (confirmed)"
    else "" end)"]' "$TEST_TMP/new.suspects")"
# The Go 1.19 zoo: the same three locations ranked on growth, none confirmed.
suspects old >"$TEST_TMP/old.got"
assert_eq "old: confirmed" "$(grep -c ' true$' "$TEST_TMP/old.got")" 0
[ "$(wc -l <"$TEST_TMP/old.got")" -ge 1 ] || fail "old: no suspects"

# An ignore rule on a confirmed leak's function removes it, and only it.
fn=$(head -n 1 "$TEST_TMP/want.confirmed" | cut -d' ' -f1)
config "  ignore:
    - {function: \"$fn\"}" >"$TEST_TMP/ignore.yaml"
suspects new "$TEST_TMP/ignore.yaml" >"$TEST_TMP/new.ignored"
grep -q "^$fn " "$TEST_TMP/new.ignored" && fail "the ignored confirmed leak is still listed:
$(cat "$TEST_TMP/new.ignored")"
assert_eq "suspects left by the ignore rule" "$(wc -l <"$TEST_TMP/new.ignored")" 2
assert_eq "confirmed left by the ignore rule" "$(grep -c ' true$' "$TEST_TMP/new.ignored")" 1

daemon_alive
stop_daemon TERM
assert_eq "integrity" "$(sq 'PRAGMA integrity_check')" ok
echo "the leak profile confirms the Go 1.27 zoo's proven leaks; Go 1.19's 404 is remembered"
