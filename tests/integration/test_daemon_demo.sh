#!/bin/sh
# suite: long
# `make run` smoke test: tests/demo.sh (the demo service plus the daemon scraping it every 5 s) runs for about
# 15 s, the database gets scrapes with the demo's leak locations, and SIGINT (what Ctrl-C sends) stops the
# script, the daemon and the demo service cleanly.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
DB=$TEST_TMP/leakprofd.db
[ -x "$LEAKPROFD_GO_BIN/demo" ] || skip "build/go/demo is not built (make go)"
command -v perl >/dev/null || skip "perl (to start the script with SIGINT not ignored) is missing"
root=$(cd "$(dirname "$0")/../.." && pwd)

# A non-interactive shell starts background jobs with SIGINT ignored; a terminal's Ctrl-C would reach the
# script, so give it the default disposition as a foreground job has.
# Ports of its own, so that a concurrent run elsewhere on this host cannot take the same default ones.
DEMO_PORT=0 DEMO_WEB_PORT=$(free_port) DEMO_DB=$DB TMPDIR=$TEST_TMP perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV' sh "$root/tests/demo.sh" \
	>"$TEST_TMP/demo.log" 2>&1 &
demo_sh=$!
sleep 15
cat "$TEST_TMP/demo.log"
kill -0 "$demo_sh" 2>/dev/null || fail "tests/demo.sh exited early"
grep -q "dashboard on http://127.0.0.1:" "$TEST_TMP/demo.log" || fail "demo.sh did not say where the dashboard is"
n=$(sq "SELECT count(*) FROM scrapes WHERE status = 'ok'")
echo "ok scrapes after 15 s: $n"
[ "$n" -ge 2 ] || fail "only $n ok scrapes after 15 s at a 5 s interval"
sq "SELECT l.function, sa.count FROM samples sa JOIN locations l ON l.id = sa.location_id
    WHERE sa.scrape_id = (SELECT max(id) FROM scrapes WHERE status = 'ok')" | grep -q "main.handleLookup" ||
	fail "the demo's leak main.handleLookup is not in the latest scrape"

kill -INT "$demo_sh"
rc=0
wait "$demo_sh" || rc=$?
cat "$TEST_TMP/demo.log"
assert_eq "demo.sh exit status after SIGINT" "$rc" 0
grep -q "daemon: stopped" "$TEST_TMP/demo.log" || fail "the daemon did not stop cleanly"
# Neither the daemon nor the demo service outlives the script (both have $TEST_TMP in their arguments).
sleep 0.5
if ps -eo pid=,args= | grep -v grep | grep -F "$TEST_TMP" | grep -E "leakprofd run|/demo " >&2; then
	fail "processes left behind"
fi
assert_eq "integrity" "$(sq 'PRAGMA integrity_check')" ok
echo "ok"
