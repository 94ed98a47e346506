#!/bin/sh
# tests/integration/test_web_recompute.sh: rankings recomputed over ?window= are shared and bounded, against the
# real daemon and a database big enough that a recompute takes seconds (tests/bench/web_gendb.sh: 200 targets ×
# 24 h). Counted by /metrics' leakprofd_ranking_recomputes_total:
#   - many concurrent requests for one window and service, each with junk arguments of its own, API and Suspects
#     page mixed, run one recompute and all get its answer;
#   - asking again while that answer is fresh runs none; the detector's own window is the stored ranking;
#   - requests for more distinct windows at once than the bound start no more recomputes than the bound: the rest
#     are refused at once with 503, a JSON error and Retry-After.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
for t in curl jq sqlite3; do command -v $t >/dev/null || skip "$t is not installed"; done

DB=$TEST_TMP/web.db
sh "$root/tests/bench/web_gendb.sh" "$DB" 200 24 60
start_go zoo zoo -benign pool -pool-size 50
cat >"$TEST_TMP/leakprofd.yaml" <<YAML
listen: 127.0.0.1:0
database: $DB
scrape_interval: 5s
scrape_timeout: 2s
services:
  - name: zoo
    targets: ["http://127.0.0.1:$zoo_port"]
detector:
  window: 10m
YAML
start_daemon --config "$TEST_TMP/leakprofd.yaml"
wait_for 20 grep -q "web: listening on" "$TEST_TMP/daemon.log"
base=http://127.0.0.1:$(sed -n 's/.*web: listening on .* (port \([0-9]*\),.*/\1/p' "$TEST_TMP/daemon.log" | head -n 1)
wait_for 20 curl -sf -o /dev/null "$base/healthz"

# recomputes: the daemon's count of recomputes run so far.
recomputes() {
	curl -sf "$base/metrics" | sed -n 's/^leakprofd_ranking_recomputes_total \([0-9]*\)$/\1/p'
}
refused() {
	curl -sf "$base/metrics" | sed -n 's/^leakprofd_ranking_recomputes_refused_total \([0-9]*\)$/\1/p'
}
r0=$(recomputes)
[ -n "$r0" ] || fail "/metrics has no leakprofd_ranking_recomputes_total"

echo "== one recompute for many concurrent requests with junk arguments"
n=12
t0=$(date +%s%N)
i=0
pids=""
while [ $i -lt $n ]; do
	if [ $((i % 3)) = 2 ]; then
		url="$base/?window=12h&nocache=$i&_=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"
	else
		url="$base/api/v1/suspects?window=12h&limit=$((i + 1))&junk$i=x&cachebust=$i"
	fi
	curl -s -o "$TEST_TMP/same.$i" -w '%{http_code}\n' --max-time 60 "$url" >"$TEST_TMP/same.$i.code" &
	pids="$pids $!"
	i=$((i + 1))
done
wait $pids
took_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
r1=$(recomputes)
echo "$n requests answered in $took_ms ms; recomputes $r0 -> $r1"
i=0
while [ $i -lt $n ]; do
	assert_eq "status of request $i" "$(cat "$TEST_TMP/same.$i.code")" 200
	i=$((i + 1))
done
assert_eq "recomputes run for $n concurrent requests of one window" "$((r1 - r0))" 1
# The API answers share one ranking (one generated_at), each cut to its own limit.
i=0
while [ $i -lt $n ]; do
	if [ $((i % 3)) != 2 ]; then
		jq -e --argjson l $((i + 1)) '.window_seconds == 43200 and (.suspects | length) <= $l' \
			"$TEST_TMP/same.$i" >/dev/null || fail "answer $i: $(head -c 300 "$TEST_TMP/same.$i")"
		jq -r .generated_at "$TEST_TMP/same.$i"
	else
		grep -q "growth over the last 12h · computed" "$TEST_TMP/same.$i" || fail "page $i is not the 12 h ranking"
	fi
	i=$((i + 1))
done | sort -u >"$TEST_TMP/generated"
assert_eq "distinct generated_at among the answers" "$(wc -l <"$TEST_TMP/generated")" 1
# The synthetic services' targets are in no configuration: only live instances count, so a recompute over them
# ranks nothing, after reading all their samples.
[ "$(jq '.window_seconds' "$TEST_TMP/same.10")" -eq 43200 ] || fail "the answer is not the 12 h ranking"

echo "== a fresh answer is served again; the detector's window is the stored ranking"
code=$(curl -s -o "$TEST_TMP/again" -w '%{http_code}' "$base/api/v1/suspects?window=12h&other=junk")
assert_eq "status" "$code" 200
jq -r .generated_at "$TEST_TMP/again" | cmp -s - "$TEST_TMP/generated" || fail "the fresh answer was not reused"
# same_as_stored: ?window=10m (the detector's) answers what the stored ranking does (retried: the detector may
# store a new ranking between the two requests).
same_as_stored() {
	curl -sf -o "$TEST_TMP/stored" "$base/api/v1/suspects?window=10m&x=1" &&
		curl -sf -o "$TEST_TMP/plain" "$base/api/v1/suspects" &&
		[ "$(jq -c '[.generated_at, .window_seconds]' "$TEST_TMP/stored")" = \
			"$(jq -c '[.generated_at, .window_seconds]' "$TEST_TMP/plain")" ] &&
		jq -e '.window_seconds == 600' "$TEST_TMP/stored"
}
wait_for 20 same_as_stored
curl -sf -o /dev/null "$base/?window=10m"
assert_eq "recomputes after a fresh and a stored answer" "$(recomputes)" "$r1"

echo "== requests for more windows than the bound start no more recomputes"
f0=$(refused)
pids=""
for h in 13 14 15 16 17 18; do
	curl -s -o "$TEST_TMP/win.$h" -D "$TEST_TMP/win.$h.headers" -w '%{http_code}\n' --max-time 60 \
		"$base/api/v1/suspects?window=${h}h" >"$TEST_TMP/win.$h.code" &
	pids="$pids $!"
done
wait $pids
r2=$(recomputes)
f1=$(refused)
ok=0 busy=0
for h in 13 14 15 16 17 18; do
	case $(cat "$TEST_TMP/win.$h.code") in
	200) ok=$((ok + 1)) ;;
	503)
		busy=$((busy + 1))
		tr -d '\r' <"$TEST_TMP/win.$h.headers" | grep -qi '^retry-after: [1-9][0-9]*$' ||
			fail "503 for ${h}h without Retry-After: $(cat "$TEST_TMP/win.$h.headers")"
		jq -e '.error | test("busy")' "$TEST_TMP/win.$h" >/dev/null || fail "503 body: $(cat "$TEST_TMP/win.$h")"
		;;
	*) fail "window ${h}h: status $(cat "$TEST_TMP/win.$h.code")" ;;
	esac
done
echo "6 distinct windows: $ok computed, $busy refused; recomputes $r1 -> $r2, refused $f0 -> $f1"
[ $((r2 - r1)) -le 2 ] || fail "$((r2 - r1)) recomputes ran at once, the bound is 2"
assert_eq "recomputes started" "$((r2 - r1))" "$ok"
assert_eq "refusals counted" "$((f1 - f0))" "$busy"
[ "$busy" -ge 4 ] || fail "only $busy of 6 requests were refused"
daemon_alive
stop_daemon TERM
echo "ok"
