#!/bin/sh
# Webhook alerting end to end (issue 6): a real daemon scrapes real leaking Go services and notifies a real
# HTTP receiver (build/go/hookrecv) that records every delivery and verifies its HMAC signature.
#  1. a leaking service fires exactly one alert naming the leak's function and file:line, signed, with the
#     event id in the payload and in X-Leakprofd-Event-Id;
#  2. restarting the service in its fixed mode resolves the alert;
#  3. with the receiver down, a second leak fires; once the receiver is back it gets everything, once, in order;
#  4. a slow receiver never delays scraping;
#  5. the daemon killed with -9 mid-delivery and restarted loses nothing: the only repeat allowed is the
#     delivery in flight at the kill, with the same event id.
. "$(dirname "$0")/../lib.sh"
cd "$TEST_TMP"

zoo_start() {   # zoo_start NAME PORT ARGS...: a zoo on a fixed port (so restarts keep the target URL)
	_name=$1 _port=$2
	shift 2
	rm -f "$_name.port"
	bg "$LEAKPROFD_GO_BIN/zoo" -addr "127.0.0.1:$_port" -portfile "$_name.port" "$@"
	eval "${_name}_pid=$BG_PID"
	wait_for 20 test -s "$_name.port"
}

hook_start() {  # hook_start ARGS...
	rm -f hook.port
	bg "$LEAKPROFD_GO_BIN/hookrecv" -addr "127.0.0.1:$HOOK_PORT" -portfile hook.port -out "$DELIVERIES" \
		-secret-file hook.key "$@"
	hook_pid=$BG_PID
	wait_for 20 test -s hook.port
}

daemon_start() {
	bg "$LEAKPROFD_BIN" run --config leakprofd.yaml --log-level debug
	daemon_pid=$BG_PID
}

# deliveries FILTER: the bodies recorded in $DELIVERIES matching a jq filter, one per line.
DELIVERIES=deliveries.jsonl
deliveries() {
	[ -f "$DELIVERIES" ] || return 0
	jq -c "select(.method == \"POST\") | .body | select($1)" "$DELIVERIES"
}

count_deliveries() {
	deliveries "$1" | wc -l | tr -d ' '
}

# has_deliveries FILTER N: at least N deliveries match (re-evaluated on every wait_for retry).
has_deliveries() {
	[ "$(count_deliveries "$1")" -ge "$2" ]
}

ZOO_A=$(free_port)
ZOO_B=$(free_port)
HOOK_PORT=$(free_port)
WEB_PORT=$(free_port)
printf 'a-shared-secret\n' > hook.key

cat > leakprofd.yaml <<EOF
listen: 127.0.0.1:$WEB_PORT
database: $TEST_TMP/leakprofd.db
scrape_interval: 1s
scrape_timeout: 1s
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
      format: json
      secret_file: $TEST_TMP/hook.key
      timeout: 10s
services:
  - name: leaky
    targets: ["http://127.0.0.1:$ZOO_A"]
    detail_every: 0
  - name: second
    targets: ["http://127.0.0.1:$ZOO_B"]
    detail_every: 0
EOF
"$LEAKPROFD_BIN" check-config leakprofd.yaml

# --- 1. one firing alert, signed, naming the leak ---
zoo_start zooa "$ZOO_A" -leak early_return -leak-rate 5 -benign pool -pool-size 200
zoo_start zoob "$ZOO_B" -benign pool,sleep -pool-size 300
hook_start
daemon_start

expected=$(curl -fsS "http://127.0.0.1:$ZOO_A/expected")
func=$(echo "$expected" | jq -r '.locations[] | select(.pattern == "early_return") | .function')
file=$(echo "$expected" | jq -r '.locations[] | select(.pattern == "early_return") | .file')
line=$(echo "$expected" | jq -r '.locations[] | select(.pattern == "early_return") | .line')
echo "the leak: $func at $file:$line"

firing_a='.status == "firing" and .service == "leaky"'
wait_for 60 has_deliveries "$firing_a" 1
sleep 4         # any repeat would show within a few evaluation passes
assert_eq "firing notifications for the leak" "$(count_deliveries "$firing_a")" 1
ev=$(deliveries "$firing_a")
assert_eq "function" "$(echo "$ev" | jq -r .function)" "$func"
assert_eq "file" "$(echo "$ev" | jq -r .file)" "$file"
assert_eq "line" "$(echo "$ev" | jq -r .line)" "$line"
assert_eq "op" "$(echo "$ev" | jq -r .op)" "chan send"
echo "$ev" | jq -e '.score >= 0.5 and .current_count >= 20 and .growth_per_hour > 0 and
	(.stack | length) > 0 and (.explanation | length) > 0 and (.url | test("/locations/[0-9]+$"))' >/dev/null ||
	fail "payload lacks facts: $ev"
jq -e 'select(.method == "POST" and .body.status == "firing") |
	.signature_ok == true and .headers["X-Leakprofd-Event-Id"] == .body.event_id' deliveries.jsonl >/dev/null ||
	fail "signature or event id header wrong: $(cat deliveries.jsonl)"
# Nothing fired for the healthy service.
assert_eq "notifications for the healthy service" "$(count_deliveries '.service == "second"')" 0

# --- 2. fixing the service resolves the alert ---
kill "$zooa_pid"; wait "$zooa_pid" 2>/dev/null || true
zoo_start zooa "$ZOO_A" -leak early_return -leak-rate 5 -fixed -benign pool -pool-size 200
wait_for 90 has_deliveries '.status == "resolved" and .service == "leaky"' 1
res=$(deliveries '.status == "resolved" and .service == "leaky"')
assert_eq "resolved location" "$(echo "$res" | jq -r '"\(.function) \(.file):\(.line)"')" "$func $file:$line"
[ "$(echo "$res" | jq -r .event_id)" != "$(echo "$ev" | jq -r .event_id)" ] || fail "resolved reused the event id"

# --- 3. receiver down: everything arrives once it is back, once, in order ---
kill "$hook_pid"; wait "$hook_pid" 2>/dev/null || true
kill "$zoob_pid"; wait "$zoob_pid" 2>/dev/null || true
zoo_start zoob "$ZOO_B" -leak timeout -leak-rate 5 -benign pool,sleep -pool-size 300
# The alert fires while nobody listens: the outbox holds it and retries.
wait_for 60 sh -c "sqlite3 '$TEST_TMP/leakprofd.db' \"SELECT count(*) FROM outbox WHERE state = 'pending' AND attempts > 0\" | grep -qv '^0$'"
sleep 3
hook_start
wait_for 60 has_deliveries '.status == "firing" and .service == "second"' 1
sleep 3
assert_eq "firing notifications for the second leak" \
	"$(count_deliveries '.status == "firing" and .service == "second"')" 1
dups=$(deliveries 'true' | jq -r .event_id | sort | uniq -d)
assert_eq "event ids delivered twice" "$dups" ""
# In order: the deliveries' outbox order matches the order they were recorded in.
order=$(deliveries 'true' | jq -r .event_id | while read -r id; do
	sqlite3 "$TEST_TMP/leakprofd.db" "SELECT id FROM outbox WHERE event_id = '$id'"; done | tr '\n' ' ')
sorted=$(echo "$order" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')
assert_eq "delivery order" "$order" "$sorted"

# --- 4. a slow receiver never delays scraping ---
kill "$hook_pid"; wait "$hook_pid" 2>/dev/null || true
hook_start -delay 6s
before=$(sqlite3 leakprofd.db "SELECT count(*) FROM scrapes")
# Force a notification: restart the first zoo leaking again so the resolved alert fires anew.
kill "$zooa_pid"; wait "$zooa_pid" 2>/dev/null || true
zoo_start zooa "$ZOO_A" -leak early_return -leak-rate 5 -benign pool -pool-size 200
wait_for 60 has_deliveries "$firing_a" 2
t0=$(date +%s)
before=$(sqlite3 leakprofd.db "SELECT count(*) FROM scrapes")
sleep 5         # the receiver is holding a delivery for 6 s now
after=$(sqlite3 leakprofd.db "SELECT count(*) FROM scrapes")
elapsed=$(( $(date +%s) - t0 ))
# Two targets at 1 s: at least 2 scrapes a second minus slack, however slow the receiver.
[ $((after - before)) -ge $(( elapsed * 2 - 3 )) ] ||
	fail "scraping slowed while the receiver was slow: $((after - before)) scrapes in $elapsed s"

# --- 5. kill -9 mid-delivery, restart: nothing lost, the repeat carries the same id ---
# Taking the slow receiver down may itself cut a delivery short (then legitimately sent again): record this part
# in a file of its own, so its only allowed repeat is the one in flight at the daemon's kill.
kill "$hook_pid"; wait "$hook_pid" 2>/dev/null || true
DELIVERIES=deliveries-kill.jsonl
hook_start -delay 4s
kill "$zoob_pid"; wait "$zoob_pid" 2>/dev/null || true
zoo_start zoob "$ZOO_B" -leak timeout -leak-rate 5 -fixed -benign pool,sleep -pool-size 300
# The resolved notification of the second service goes out; kill the daemon while the receiver holds it.
wait_for 90 has_deliveries '.status == "resolved" and .service == "second"' 1
kill -9 "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true
inflight=$(deliveries '.status == "resolved" and .service == "second"' | jq -r .event_id | tail -n 1)
daemon_start
wait_for 60 sh -c "sqlite3 '$TEST_TMP/leakprofd.db' \"SELECT state FROM outbox WHERE event_id = '$inflight'\" | grep -q delivered"
sleep 2
dups=$(deliveries 'true' | jq -r .event_id | sort | uniq -d | tr '\n' ' ')
case "$dups" in
"" | "$inflight ") ;;
*) fail "delivered twice besides the one in flight ($inflight): $dups" ;;
esac
pending=$(sqlite3 leakprofd.db "SELECT count(*) FROM outbox WHERE state = 'pending'")
wait_for 30 sh -c "[ \$(sqlite3 '$TEST_TMP/leakprofd.db' \"SELECT count(*) FROM outbox WHERE state = 'pending'\") = 0 ]"
# Every queued notification was delivered at least once.
cat deliveries.jsonl deliveries-kill.jsonl > all.jsonl
for id in $(sqlite3 leakprofd.db "SELECT event_id FROM outbox"); do
	[ "$(DELIVERIES=all.jsonl deliveries "true" | jq -r .event_id | grep -c "^$id\$")" -ge 1 ] ||
		fail "notification $id never arrived"
done
# A clean stop exits 0 (under the sanitizers, also: nothing leaked, no memory error on the way out).
kill "$daemon_pid"
rc=0
wait "$daemon_pid" || rc=$?
[ "$rc" = 0 ] || fail "the daemon exited with status $rc on SIGTERM"
echo "pending after restart: $pending; deliveries: $(wc -l < all.jsonl)"
cp all.jsonl "$LEAKPROFD_TEST_OUT/alerts-deliveries.jsonl" 2>/dev/null || true
echo ok
