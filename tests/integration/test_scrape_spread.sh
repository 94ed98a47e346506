#!/bin/sh
# A large fleet's first round spreads over the interval; a few targets added by a reload start at once.
#
# The daemon starts with 2,000 targets at a 5 s interval against the fleet simulator (tests/bench/fleetsim.c: one
# process serving every target's debug=0 profile). The targets are full profile URLs, so their leak profile
# fetches ask the same URL, are answered, and stored (as detail rows). In the first interval:
#   - every target is scraped, and within half an interval of its first scrape fetched again at most rarely
#     (its first leak fetch waits for its place in the hour-long leak interval instead of following its first
#     scrape at once: 2 fetches per target before);
#   - the fetches started in any one second stay under 1.5x the fleet's even rate (n / interval per second);
#   - the ingest queue dropped nothing.
# Then a reload adds 20 targets: a handful, so they are scraped at once (within 1 s of the reload, where their
# phases would spread them over the 5 s interval).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
for t in cc curl jq pkg-config sqlite3; do command -v $t >/dev/null || skip "$t is not installed"; done
N=2000
ADD=20
IV=5

DB=$TEST_TMP/leakprofd.db
cc -std=c17 -D_GNU_SOURCE -O2 -o "$TEST_TMP/fleetsim" "$root/tests/bench/fleetsim.c" \
	$(pkg-config --cflags --libs libmicrohttpd zlib) -lpthread
rm -f "$TEST_TMP/sim.port"
bg "$TEST_TMP/fleetsim" -n $((N + ADD)) -epoch $IV -portfile "$TEST_TMP/sim.port"
wait_for 20 test -s "$TEST_TMP/sim.port"
sim=http://127.0.0.1:$(cat "$TEST_TMP/sim.port")
listen=$(free_listen)
# config COUNT: services of 100 targets each, COUNT targets in all
config() {
	echo "listen: $listen"
	echo "database: $DB"
	echo "scrape_interval: ${IV}s"
	echo "scrape_timeout: 2s"
	echo "services:"
	i=0
	while [ $i -lt "$1" ]; do
		if [ $((i % 100)) = 0 ]; then
			echo "  - name: svc$((i / 100))"
			echo "    detail_every: 0"
			echo "    targets:"
		fi
		echo "      - $sim/t/$i/debug/pprof/goroutine"
		i=$((i + 1))
	done
}
config $N >"$TEST_TMP/leakprofd.yaml"

start_daemon --config "$TEST_TMP/leakprofd.yaml"
wait_for 30 grep -q "notice  daemon: leakprofd .* running: " "$TEST_TMP/daemon.log"
# The first interval, its jitter (interval / 20) and a second for the last scrapes to finish.
sleep $((IV + 1)).5
daemon_alive
# The first interval: from the first scrape (just after the targets were set) one interval on, and its
# jitter (interval / 20) for the first scrapes of the targets placed last. The fetches of a target in the half
# interval from its first scrape: that scrape, and its first leak fetch when the target's place in the leak
# interval falls there (rarely), but no longer that fetch right behind it.
first=$(sq "SELECT min(ts) FROM scrapes")
end=$((first + IV * 1000))
scraped=$(sq "SELECT count(DISTINCT target_id) FROM scrapes WHERE detail = 0 AND ts < $end + $IV * 50 + 200")
fetched=$(sq "SELECT count(*) FROM scrapes s JOIN (SELECT target_id, min(ts) AS f FROM scrapes
	WHERE detail = 0 GROUP BY target_id) m ON m.target_id = s.target_id WHERE s.ts < m.f + $IV * 500")
peak=$(sq "SELECT coalesce(max(c), 0) FROM (SELECT count(*) AS c FROM scrapes WHERE ts < $end
	GROUP BY (ts - $first) / 1000)")
echo "first interval: $scraped of $N targets scraped, $fetched fetches within half an interval of a target's first scrape, at most $peak started in a second"
[ "$scraped" = $N ] || fail "$scraped of $N targets scraped in the first interval"
[ "$fetched" -le $((N + N / 50)) ] ||
	fail "$fetched fetches within half an interval of a target's first scrape, for $N targets"
bound=$((N / IV * 3 / 2))
[ "$peak" -le $bound ] || fail "$peak scrapes started in one second (bound $bound: 1.5x $((N / IV)) a second)"
if grep -q "dropping new ones" "$TEST_TMP/daemon.log"; then
	fail "the ingest queue dropped scrapes"
fi

# A reload adding a handful of targets: scraped at once.
config $((N + ADD)) >"$TEST_TMP/leakprofd.yaml"
kill -HUP "$DAEMON_PID"
wait_for 10 grep -q "daemon: configuration .* loaded: $((N + ADD)) targets" "$TEST_TMP/daemon.log"
t=$(sed -n 's/^\([^ ]*\) notice  daemon: configuration .* loaded: .*/\1/p' "$TEST_TMP/daemon.log" | head -n 1)
loaded=$(date -d "$t" +%s%3N)
# added: how many of the added targets were scraped, and when the last of them was first scraped
added() {
	sq "SELECT count(*) || ' ' || coalesce(max(f), 0) FROM (SELECT min(s.ts) AS f FROM scrapes s
	    JOIN targets t ON t.id = s.target_id JOIN services v ON v.id = t.service_id
	    WHERE v.name = 'svc$((N / 100))' AND s.detail = 0 GROUP BY s.target_id)"
}
all_added() {
	[ "$(added | cut -d' ' -f1)" -ge $ADD ]
}
wait_for 10 all_added
set -- $(added)
echo "the $1 added targets were first scraped at most $(($2 - loaded)) ms after the reload was applied"
[ $(($2 - loaded)) -le 1000 ] || fail "the added targets were not scraped at once"
stop_daemon
grep -q "dropping new ones" "$TEST_TMP/daemon.log" && fail "the ingest queue dropped scrapes"
echo "ok"
