#!/bin/sh
# tests/bench/bench_web.sh: the web server under load, inside the real daemon, against a database of 1,000 targets
# × 2 days (tests/bench/web_gendb.sh: 2.9 M scrapes, 11.5 M samples, a stored ranking of 50 suspects), while the
# daemon keeps scraping a real zoo service every second.
#
# It measures, with tests/bench/webload.c (libcurl multi, one keep-alive connection per client):
#   - the baseline: BENCH_CLIENTS clients on /healthz for BENCH_BASE_SECONDS (the server's own floor: routing,
#     headers, a stat of the database and a trivial query);
#   - the load: BENCH_CLIENTS clients for BENCH_SECONDS on a mix of API calls (suspects four times as often as each
#     of services, a service's suspects, a location, its series and the 1,000 targets), p50/p99 per call and as a
#     ratio to the baseline's p50/p99 (the target: p99 < 50 ms for the suspects);
#   - each call's cost uncached (one client, every answer computed), since the load is mostly served from the
#     web's caches (the stored ranking's answers until the next ranking, other API answers for a second);
#   - the collector's scrape lag: the gaps between consecutive scrapes of the zoo during the baseline and during
#     the load (it must not grow: the web never blocks the collector).
# It fails on any HTTP error or when the worst gap under load exceeds 3 intervals. The daemon scrapes every 2 s and
# ranks over 1 h (the detector reranks the whole database after every round; at the default 60 s and 6 h its
# share of the CPU is the same).
#
# Environment: LEAKPROFD_BIN, LEAKPROFD_GO_BIN, BENCH_CLIENTS (200), BENCH_SECONDS (30), BENCH_BASE_SECONDS (10),
# BENCH_TARGETS (1000; at least 21), BENCH_HOURS (48), BENCH_OUT (directory for the database and logs,
# default build/bench).
set -eu
cd "$(dirname "$0")/../.."
bin=${LEAKPROFD_BIN:-$(pwd)/build/leakprofd}
gobin=${LEAKPROFD_GO_BIN:-$(pwd)/build/go}
clients=${BENCH_CLIENTS:-200}
seconds=${BENCH_SECONDS:-30}
base_seconds=${BENCH_BASE_SECONDS:-10}
targets=${BENCH_TARGETS:-1000}
hours=${BENCH_HOURS:-48}
out=${BENCH_OUT:-$(pwd)/build/bench}/web
mkdir -p "$out"
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM   # dash would run the handler and carry on
die() {
	echo "bench_web: $*" >&2
	exit 1
}
wait_until() {   # wait_until SECONDS CMD...
	_n=$(( $1 * 10 ))
	shift
	until "$@" >/dev/null 2>&1; do
		_n=$((_n - 1))
		[ $_n -gt 0 ] || die "timed out waiting for: $*"
		sleep 0.1
	done
}
sq() {
	sqlite3 -batch -noheader -cmd ".timeout 20000" "$db" "$1"
}
[ "$targets" -ge 21 ] || die "BENCH_TARGETS must be at least 21: the load asks for the second service, svc-002"
for t in curl jq sqlite3; do command -v $t >/dev/null || die "$t is not installed"; done
[ -x "$gobin/zoo" ] || die "$gobin/zoo is missing: make go"

cc -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -o "$out/webload" tests/bench/webload.c \
	$(pkg-config --cflags --libs libcurl)
db=$out/web.db
start=$(date +%s)
sh tests/bench/web_gendb.sh "$db" "$targets" "$hours" 60
echo "database: $targets targets × $hours h, $(sq 'SELECT count(*) FROM scrapes') scrapes," \
	"$(sq 'SELECT count(*) FROM samples') samples, $(( $(stat -c %s "$db") >> 20 )) MiB," \
	"written in $(( $(date +%s) - start )) s"

rm -f "$out/zoo.port"
"$gobin/zoo" -addr 127.0.0.1:0 -portfile "$out/zoo.port" -leak early_return -leak-rate 2 -benign pool \
	-pool-size 500 >"$out/zoo.log" 2>&1 &
pids="$pids $!"
wait_until 20 test -s "$out/zoo.port"
zoo=http://127.0.0.1:$(cat "$out/zoo.port")
cat >"$out/leakprofd.yaml" <<YAML
listen: 127.0.0.1:0
database: $db
scrape_interval: 2s
scrape_timeout: 1s
services:
  - name: zoo
    targets: ["$zoo"]
detector:
  window: 1h
web:
  max_connections: $((clients + 56))
YAML
"$bin" run --config "$out/leakprofd.yaml" --log-level info >"$out/daemon.log" 2>&1 &
daemon=$!
pids="$pids $daemon"
wait_until 30 grep -q "web: listening on" "$out/daemon.log"
base=http://127.0.0.1:$(sed -n 's/.*web: listening on .* (port \([0-9]*\),.*/\1/p' "$out/daemon.log" | head -n 1)
wait_until 30 curl -sf -o /dev/null "$base/healthz"
# Let the first scrape rounds and rankings land before measuring.
wait_until 60 sh -c "[ \$(sqlite3 -cmd '.timeout 5000' '$db' \"SELECT count(*) FROM scrapes s JOIN targets t ON \
t.id = s.target_id WHERE t.url = '$zoo'\") -ge 5 ]"

# scrape_gaps FROM_MS TO_MS: "p50 max count" of the gaps (ms) between consecutive zoo scrapes in the range
# ("- - 0" when there are fewer than two scrapes).
scrape_gaps() {
	sq "WITH z AS (SELECT s.ts, lag(s.ts) OVER (ORDER BY s.ts) AS prev FROM scrapes s JOIN targets t
	    ON t.id = s.target_id WHERE t.url = '$zoo' AND s.detail = 0 AND s.ts >= $1 AND s.ts < $2),
	    g AS (SELECT ts - prev AS gap FROM z WHERE prev IS NOT NULL)
	    SELECT coalesce((SELECT gap FROM g ORDER BY gap LIMIT 1 OFFSET (SELECT count(*) / 2 FROM g)), '-'),
	    coalesce((SELECT max(gap) FROM g), '-'), (SELECT count(*) FROM g)" | tr '|' ' '
}
now_ms() {
	echo $(( $(date +%s%N) / 1000000 ))
}

t0=$(now_ms)
"$out/webload" -c "$clients" -d "$base_seconds" "$base/healthz" >"$out/baseline.json"
t1=$(now_ms)
"$out/webload" -c "$clients" -d "$seconds" \
	"$base/api/v1/suspects" "$base/api/v1/suspects" "$base/api/v1/suspects" "$base/api/v1/suspects" \
	"$base/api/v1/services" "$base/api/v1/suspects?service=svc-002" "$base/api/v1/locations/5" \
	"$base/api/v1/locations/5/series?window=6h" "$base/api/v1/targets" >"$out/load.json"
t2=$(now_ms)
sleep 1
kill -0 "$daemon" 2>/dev/null || die "the daemon died under load (see $out/daemon.log)"

# The same calls uncached: one client, each URL made unique by its '@' replaced with 1..21 (an argument the API
# ignores, or a distinct limit for the stored ranking), so every answer is computed (the load above is mostly
# served from the web's caches, as a polled dashboard would be).
uncached() {   # uncached TEMPLATE: median ms of 21 computed answers
	for i in $(seq 1 21); do
		curl -s -o /dev/null -w '%{time_total}\n' "$base$(echo "$1" | sed "s/@/$i/")"
	done | sort -n | sed -n 11p | awk '{ printf "%.2f", $1 * 1000 }'
}
echo "uncached, one client (median of 21, ms):"
for p in "/healthz?bench=@" "/api/v1/suspects?limit=10@" "/api/v1/suspects?service=svc-002&limit=10@" \
	"/api/v1/services?bench=@" "/api/v1/locations/5?bench=@" "/api/v1/locations/5/series?window=6h&bench=@" \
	"/api/v1/targets?bench=@" "/api/v1/suspects?window=1h&service=svc-002&bench=@" "/metrics?bench=@" \
	"/?bench=@" "/locations/5?bench=@" "/targets?bench=@"; do
	printf '  %-52s %8s\n' "$(echo "$p" | sed 's/[?&]bench=@//; s/10@/10N/')" "$(uncached "$p")"
done

bp50=$(jq -r .p50_ms "$out/baseline.json")
bp99=$(jq -r .p99_ms "$out/baseline.json")
echo
printf '%-44s %9s %7s %8s %9s %9s %10s %10s\n' "$clients clients" requests errors req/s p50_ms p99_ms p50/base p99/base
jq -rs --argjson b50 "$bp50" --argjson b99 "$bp99" --arg base "$base" '
	group_by(.url) | map({url: (.[0].url | ltrimstr($base)), requests: (map(.requests) | add),
	errors: (map(.errors) | add), rps: (map(.rps) | add), p50_ms: (map(.p50_ms) | max), p99_ms: (map(.p99_ms) | max)})
	| .[] | [.url, .requests, .errors, .rps, .p50_ms, .p99_ms,
	(if $b50 > 0 then .p50_ms / $b50 else 0 end), (if $b99 > 0 then .p99_ms / $b99 else 0 end)] | @tsv' \
	"$out/baseline.json" "$out/load.json" |
	awk -F '\t' '{ printf "%-44s %9d %7d %8.0f %9.2f %9.2f %10.2f %10.2f\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
errors=$(jq -s 'map(.errors) | add' "$out/baseline.json" "$out/load.json")
sp99=$(jq -s 'map(select(.url | endswith("/api/v1/suspects"))) | map(.p99_ms) | max' "$out/load.json")
set -- $(scrape_gaps "$t0" "$t1")
idle_p50=$1 idle_max=$2 idle_n=$3
set -- $(scrape_gaps "$t1" "$t2")
load_p50=$1 load_max=$2 load_n=$3
echo
echo "suspects p99: $sp99 ms (target < 50 ms: $(awk -v p="$sp99" 'BEGIN { print (p < 50) ? "met" : "missed" }'))"
echo "scrape gaps of the zoo (interval 2000 ms): baseline p50 $idle_p50 ms, max $idle_max ms over $idle_n;" \
	"under load p50 $load_p50 ms, max $load_max ms over $load_n"
echo "ranking duration: $(curl -s "$base/metrics" | sed -n 's/^leakprofd_ranking_duration_seconds //p') s"
[ "$errors" = 0 ] || die "$errors requests failed"
[ "$load_max" != - ] && [ "$load_max" -le 6000 ] || die "the collector fell behind under load: a gap of $load_max ms"
echo "bench_web: ok"
