#!/bin/sh
# tests/integration/test_pg_fleet.sh: two daemons sharing one PostgreSQL database (shard 0 and 1 of 2), scraping
# real leaking Go services and alerting a real, slow HTTP receiver (LEAKPROFD_PG_URI, as make integration names
# it through tests/pg/with_pg.sh; without it the test starts a server of its own with tests/pg/pg_start.sh).
# - each service's targets are scraped by one daemon, and both shards have some;
# - a third daemon for a shard already run is refused (exit 1, the holder named), and so is one of another
#   shard.count;
# - both dashboards and APIs show the whole fleet: the same suspects, from both shards, and every target;
# - every alert is delivered once, though both daemons deliver the one outbox to a receiver slow enough for
#   their attempts to overlap;
# - a daemon stopped with SIGTERM frees its shard at once (another takes it) while the other keeps ranking;
#   one killed with -9 and started again on this host takes its shard back at once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
[ "${LEAKPROFD_PG:-}" = off ] && skip "LEAKPROFD_PG=off leaves PostgreSQL out"
for p in zoo hookrecv; do [ -x "$LEAKPROFD_GO_BIN/$p" ] || skip "build/go/$p is not built (make go)"; done
for t in psql jq curl; do command -v $t >/dev/null || skip "$t is not installed"; done
cd "$TEST_TMP"

if [ -z "${LEAKPROFD_PG_URI:-}" ]; then
	pgstate=$TEST_TMP/pg
	trap 'cleanup_bg; sh "$root/tests/pg/pg_stop.sh" "$pgstate"' EXIT
	LEAKPROFD_PG_URI=$(sh "$root/tests/pg/pg_start.sh" "$pgstate") || fail "no PostgreSQL server started"
fi
base=${LEAKPROFD_PG_URI%/*}
dbname=leakprofd_fleet_$$
psql "$LEAKPROFD_PG_URI" -qAt -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $dbname" \
	-c "CREATE DATABASE $dbname" >/dev/null
[ -n "${pgstate:-}" ] ||
	trap 'cleanup_bg; psql "$LEAKPROFD_PG_URI" -qAt -c "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" || true' EXIT
URI=$base/$dbname

pq() {
	psql "$URI" -qAt -c "$1"
}

# --- the fleet: four leaking services, a slow receiver ---
services="alpha bravo charlie delta"
for s in $services; do
	start_go "$s" zoo -leak early_return -leak-rate 5 -benign pool -pool-size 50
done
HOOK_PORT=$(free_port)
rm -f hook.port
bg "$LEAKPROFD_GO_BIN/hookrecv" -addr "127.0.0.1:$HOOK_PORT" -portfile hook.port -out deliveries.jsonl -delay 3s
wait_for 20 test -s hook.port

# config INDEX COUNT LISTEN: the shared configuration of one daemon into d<INDEX>_<COUNT>.yaml
config() {
	f=d$1_$2.yaml
	cat >"$f" <<EOF
listen: $3
database: "$URI"
scrape_interval: 1s
scrape_timeout: 1s
shard: {index: $1, count: $2}
detector:
  window: 10m
  min_scrapes: 4
  min_count: 10
alerting:
  min_score: 0.5
  min_count: 20
  for: 3s
  repeat_interval: 1h
  max_age: 1h
  webhooks:
    - name: receiver
      url: http://127.0.0.1:$HOOK_PORT/hook
      timeout: 10s
services:
EOF
	for s in $services; do
		eval "port=\$${s}_port"
		printf '  - name: %s\n    targets: ["http://127.0.0.1:%s"]\n    detail_every: 0\n' "$s" "$port" >>"$f"
	done
	echo "$f"
}

# run NAME CONFIG: start a daemon logging to NAME.log; NAME_pid
run() {
	bg "$LEAKPROFD_BIN" run --config "$2" --log-level debug >>"$1.log" 2>&1
	eval "$1_pid=$BG_PID"
}

LA=$(free_listen)
LB=$(free_listen)
run a "$(config 0 2 "$LA")"
wait_for 20 sh -c "[ \"\$(psql '$URI' -qAt -c 'SELECT count(*) FROM daemons' 2>/dev/null)\" = 1 ]"
run b "$(config 1 2 "$LB")"
wait_for 30 curl -fsS -o /dev/null "http://$LA/healthz"
wait_for 30 curl -fsS -o /dev/null "http://$LB/healthz"

echo "== each service on one daemon, both shards in use"
wait_for 60 sh -c "[ \"\$(psql '$URI' -qAt -c \"SELECT count(DISTINCT t.id) FROM targets t JOIN scrapes s ON s.target_id = t.id WHERE s.status = 'ok'\")\" = 4 ]"
pq "SELECT sv.name, t.shard FROM targets t JOIN services sv ON sv.id = t.service_id ORDER BY 1"
assert_eq "shards holding targets" "$(pq 'SELECT count(DISTINCT shard) FROM targets')" 2
assert_eq "targets of more than one shard" \
	"$(pq 'SELECT count(*) FROM (SELECT service_id FROM targets GROUP BY service_id HAVING count(DISTINCT shard) > 1) x')" 0

echo "== a second daemon for a shard, or another shard.count, is refused"
rc=0
"$LEAKPROFD_BIN" run --config "$(config 0 2 "$(free_listen)")" >dup.log 2>&1 || rc=$?
assert_eq "exit status of a second daemon for shard 0" "$rc" 1
grep -q "another daemon runs this shard: shard 0 of 2 is run by the daemon on host" dup.log ||
	fail "the refusal does not name the holder: $(cat dup.log)"
rc=0
"$LEAKPROFD_BIN" run --config "$(config 2 3 "$(free_listen)")" >count.log 2>&1 || rc=$?
assert_eq "exit status of a daemon of shard.count 3" "$rc" 1
grep -q "shard.count is 3 here, but the daemon on host" count.log || fail "no reason given: $(cat count.log)"
kill -0 "$a_pid" && kill -0 "$b_pid" || fail "a refused daemon stopped a running one"

echo "== both show the whole fleet"
suspects() {   # suspects LISTEN: "service function" of every suspect, sorted
	curl -fsS "http://$1/api/v1/suspects" | jq -r '.suspects[] | "\(.service) \(.function)"' | sort
}
fleet_ranked() {
	[ "$(suspects "$LA" | grep -c 'main\.')" -ge 4 ] && [ "$(suspects "$LB" | grep -c 'main\.')" -ge 4 ]
}
wait_for 90 fleet_ranked
sa=$(suspects "$LA")
sb=$(suspects "$LB")
echo "$sa"
for s in $services; do
	echo "$sa" | grep -q "^$s main\." || fail "daemon a does not show $s's leak"
done
# the two may differ by a ranking stored between the two reads: compare twice
[ "$sa" = "$sb" ] || { sleep 2; [ "$(suspects "$LA")" = "$(suspects "$LB")" ] || fail "the two daemons show different suspects"; }
assert_eq "targets on daemon b's API" "$(curl -fsS "http://$LB/api/v1/targets" | jq '.targets | length')" 4
assert_eq "live daemons on daemon a's API" \
	"$(curl -fsS "http://$LA/api/v1/daemons" | jq '[.daemons[] | select(.live)] | length')" 2
curl -fsS "http://$LA/targets" | grep -q 'id="daemons"' || fail "the targets page shows no daemons"
# /metrics: each daemon its own shard's services, so that sums over both count each once
metric_services() {   # metric_services LISTEN: the services of its leakprofd_suspect_score series, sorted
	curl -fsS "http://$1/metrics" | sed -n 's/^leakprofd_suspect_score{.*service="\([^"]*\)".*/\1/p' | sort -u
}
ma=$(metric_services "$LA")
mb=$(metric_services "$LB")
assert_eq "services of daemon a's /metrics" "$(echo $ma)" \
	"$(echo $(pq "SELECT DISTINCT sv.name FROM targets t JOIN services sv ON sv.id = t.service_id WHERE t.shard = 0 ORDER BY 1"))"
assert_eq "services of both /metrics" "$(printf '%s\n%s\n' "$ma" "$mb" | sort | tr '\n' ' ')" "alpha bravo charlie delta "

echo "== every alert delivered once"
count_firing() {
	[ -f deliveries.jsonl ] || { echo 0; return; }
	jq -r 'select(.method == "POST") | .body | select(.status == "firing") | .event_id' deliveries.jsonl | wc -l |
		tr -d ' '
}
wait_for 120 sh -c "[ \"\$(jq -r 'select(.method == \"POST\") | .body | select(.status == \"firing\") | .service' deliveries.jsonl 2>/dev/null | sort -u | wc -l)\" -ge 4 ]"
sleep 8 # a second delivery of any of them would be under way by now
jq -r 'select(.method == "POST") | .body | "\(.status) \(.service) \(.event_id)"' deliveries.jsonl
assert_eq "event ids delivered more than once" \
	"$(jq -r 'select(.method == "POST") | .body.event_id' deliveries.jsonl | sort | uniq -d)" ""
assert_eq "firing notifications per service" \
	"$(jq -r 'select(.method == "POST") | .body | select(.status == "firing") | .service' deliveries.jsonl | sort | uniq -c | awk '{print $1}' | sort -u)" 1
assert_eq "notifications left pending" "$(pq "SELECT count(*) FROM outbox WHERE state <> 'delivered'")" 0

echo "== a stopped daemon frees its shard; the other goes on"
kill -TERM "$b_pid"
rc=0
wait "$b_pid" || rc=$?
assert_eq "exit status of daemon b" "$rc" 0
assert_eq "daemon b's row stopped" "$(pq 'SELECT stopped IS NOT NULL FROM daemons WHERE shard = 1')" t
before=$(pq 'SELECT max(id) FROM rankings WHERE shard = 0')
wait_for 30 sh -c "[ \"\$(psql '$URI' -qAt -c 'SELECT max(id) FROM rankings WHERE shard = 0')\" -gt $before ]"
LB2=$(free_listen)
run b2 "$(config 1 2 "$LB2")"
wait_for 30 curl -fsS -o /dev/null "http://$LB2/healthz"
assert_eq "shard 1's daemon" "$(pq 'SELECT listen FROM daemons WHERE shard = 1 AND stopped IS NULL')" "$LB2"

echo "== a daemon killed with -9 takes its shard back at once on this host"
kill -KILL "$a_pid"
wait "$a_pid" 2>/dev/null || true
run a2 "$(config 0 2 "$LA")"
wait_for 30 curl -fsS -o /dev/null "http://$LA/healthz"
kill -0 "$a2_pid" || fail "the restarted daemon exited: $(tail -n 20 a2.log)"
assert_eq "shard 0's pid" "$(pq 'SELECT pid FROM daemons WHERE shard = 0')" "$a2_pid"
before=$(pq 'SELECT max(id) FROM scrapes')
wait_for 30 sh -c "[ \"\$(psql '$URI' -qAt -c \"SELECT count(*) FROM scrapes s JOIN targets t ON t.id = s.target_id WHERE t.shard = 0 AND s.id > $before\")\" -gt 2 ]"
grep -h "error" a.log b.log a2.log b2.log | grep -v "level=\|cannot write\|another daemon" | head -n 5 || true
kill -TERM "$a2_pid" "$b2_pid"
wait "$a2_pid" || fail "daemon a2 exited with an error"
wait "$b2_pid" || fail "daemon b2 exited with an error"
assert_eq "daemons left running" "$(pq 'SELECT count(*) FROM daemons WHERE stopped IS NULL')" 0
echo "ok"
