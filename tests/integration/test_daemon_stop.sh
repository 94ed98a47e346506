#!/bin/sh
# suite: long
# SIGTERM during a ranking that takes far longer than systemd's patience: the daemon stops within 5 s anyway.
#
# The database holds 2,000 targets × 6 h at a 30 s interval (tests/bench/web_gendb.sh: 1.4 M scrapes, 5.8 M
# samples), which the detector reads whole for every ranking: one ranking takes 10-30 s here. The daemon also
# scrapes 40 live targets every second (tests/bench/fleetsim.c, one process counting the requests it serves),
# and a client asks the API for a ranking recomputed over 5 h, as slow. Once the first round is stored
# and both rankings run, SIGTERM must end the daemon within 5 s with exit status 0; the log must say it stopped
# the ranking in progress, with nothing at error or warning level after the signal; and every scrape the targets
# served must be stored, but for the transfers the daemon says it abandoned in flight.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
for t in cc curl jq pkg-config sqlite3; do command -v $t >/dev/null || skip "$t is not installed"; done
LIVE=40

DB=$TEST_TMP/leakprofd.db
sh "$root/tests/bench/web_gendb.sh" "$DB" 2000 6 30
cc -std=c17 -D_GNU_SOURCE -O2 -o "$TEST_TMP/fleetsim" "$root/tests/bench/fleetsim.c" \
	$(pkg-config --cflags --libs libmicrohttpd zlib) -lpthread
rm -f "$TEST_TMP/sim.port"
bg "$TEST_TMP/fleetsim" -n "$LIVE" -epoch 5 -portfile "$TEST_TMP/sim.port"
wait_for 20 test -s "$TEST_TMP/sim.port"
sim=http://127.0.0.1:$(cat "$TEST_TMP/sim.port")
listen=$(free_listen)
{
	echo "listen: $listen"
	echo "database: $DB"
	echo "scrape_interval: 1s"
	echo "scrape_timeout: 1s"
	echo "services:"
	echo "  - name: live"
	echo "    detail_every: 0"
	echo "    targets:"
	i=0
	while [ $i -lt $LIVE ]; do
		echo "      - $sim/t/$i/debug/pprof/goroutine"
		i=$((i + 1))
	done
} >"$TEST_TMP/leakprofd.yaml"

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}
start_daemon --config "$TEST_TMP/leakprofd.yaml"
wait_for 60 grep -q "detect: ranking started" "$TEST_TMP/daemon.log"
# Not the detector's own window (6 h), which is answered from the stored ranking.
bg curl -s -o /dev/null "http://$listen/api/v1/suspects?window=5h"
slow=$BG_PID
# Well into both rankings, with scrapes flowing.
sleep 2
daemon_alive
grep -q "detect: ranking took" "$TEST_TMP/daemon.log" &&
	fail "the ranking was over before the signal: the database is too small to test a stop during one"
kill -0 "$slow" 2>/dev/null || fail "the API's ranking was over before the signal: nothing to test"
lines=$(wc -l <"$TEST_TMP/daemon.log")
t0=$(now_ms)
kill -TERM "$DAEMON_PID"
rc=0
wait "$DAEMON_PID" || rc=$?
took=$(($(now_ms) - t0))
tail -n +"$((lines + 1))" "$TEST_TMP/daemon.log" >"$TEST_TMP/stop.log"
cat "$TEST_TMP/stop.log"
echo "stopped in $took ms"
assert_eq "exit status after SIGTERM during a ranking" "$rc" 0
[ "$took" -le 5000 ] || fail "the daemon took $took ms to stop (at most 5000)"
grep -q "detect: stopped a ranking in progress" "$TEST_TMP/stop.log" || fail "no 'stopped a ranking' in the log"
if grep -E " (error|warning) " "$TEST_TMP/stop.log"; then
	fail "the stop logged the above at error or warning level"
fi

# Every scrape the targets served is stored, but those abandoned in flight.
served=$(curl -sf "$sim/stats" | jq .requests)
abandoned=$(sed -n 's/.*abandoning \([0-9]*\) scrapes in flight.*/\1/p' "$TEST_TMP/stop.log")
stored=$(sq "SELECT count(*) FROM scrapes s JOIN targets t ON t.id = s.target_id
	JOIN services v ON v.id = t.service_id WHERE v.name = 'live'")
echo "fleetsim served $served scrapes; $stored stored, ${abandoned:-0} abandoned in flight"
[ "$served" -gt "$LIVE" ] || fail "only $served scrapes served: the daemon did not scrape"
[ "$stored" -ge $((served - ${abandoned:-0})) ] ||
	fail "$stored scrapes stored of $served served (${abandoned:-0} abandoned in flight): scrapes were lost"
assert_eq "integrity" "$(sq 'PRAGMA integrity_check')" ok
echo "ok"
