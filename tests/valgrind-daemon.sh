#!/bin/sh
# tests/valgrind-daemon.sh: the daemon and the other commands under valgrind, against real Go services: a
# leaking zoo, a refused target and a webhook receiver; `run` scrapes, ranks, fires alerts, answers the web
# API, reloads on SIGHUP and stops on SIGTERM; then suspects, scrape, check-config and test-webhook. No invalid
# access, no use of uninitialised memory, no leak, and each command exits as it should. Run by `make valgrind`
# (which builds the Go services); uses $LEAKPROFD_BIN and $LEAKPROFD_GO_BIN.
cd "$(dirname "$0")/.."
. tests/lib.sh
bin=$LEAKPROFD_BIN
gobin=$LEAKPROFD_GO_BIN
[ -x "$gobin/zoo" ] && [ -x "$gobin/hookrecv" ] || fail "$gobin/zoo or hookrecv is missing: run 'make go'"
T=$TEST_TMP
fails=0 runs=0

VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
--log-file=$T/vg.%p"

# vg WANT ARGS...: run `leakprofd ARGS` under valgrind, count a failure unless it exits WANT.
vg() {
	want=$1
	shift
	rc=0
	$VG "$bin" "$@" >"$T/out" 2>"$T/err" || rc=$?
	runs=$((runs + 1))
	if [ "$rc" != "$want" ]; then
		echo "FAIL: leakprofd $*: exit $rc, want $want"
		sed 's/^/    /' "$T/err" | tail -n 20
		fails=$((fails + 1))
	fi
}

bg "$gobin/zoo" -addr 127.0.0.1:0 -portfile "$T/zoo.port" -leak early_return,timeout,mutex -leak-rate 5 \
	-benign pool,sleep -pool-size 200
wait_for 20 test -s "$T/zoo.port"
zoo=$(cat "$T/zoo.port")
hook=$(free_port)
web=$(free_port)
printf 'a-secret\n' >"$T/hook.key"
bg "$gobin/hookrecv" -addr "127.0.0.1:$hook" -portfile "$T/hook.port" -out "$T/deliveries.jsonl" \
	-secret-file "$T/hook.key"
wait_for 20 test -s "$T/hook.port"
cat >"$T/leakprofd.yaml" <<EOF
listen: 127.0.0.1:$web
database: $T/leakprofd.db
scrape_interval: 1s
scrape_timeout: 1s
detector:
  window: 10m
  min_scrapes: 3
  min_count: 5
alerting:
  min_score: 0.1
  min_count: 5
  for: 2s
  repeat_interval: 1h
  max_age: 1h
  webhooks:
    - name: json
      url: http://127.0.0.1:$hook/hook
      format: json
      secret_file: $T/hook.key
      timeout: 5s
    - name: slack
      url: http://127.0.0.1:$hook/slack
      format: slack
services:
  - name: zoo
    targets: ["http://127.0.0.1:$zoo"]
  - name: refused
    targets: ["http://127.0.0.1:1"]
EOF

vg 0 check-config "$T/leakprofd.yaml"

# The daemon: long enough for scrapes, a ranking and the alerts to go out, with the web API under use.
$VG "$bin" run --config "$T/leakprofd.yaml" --log-level debug >"$T/daemon.log" 2>&1 &
daemon=$!
_bg_pids="$_bg_pids $daemon"
wait_for 120 curl -sf "http://127.0.0.1:$web/healthz"
# the first firing notification delivered to the json webhook
fired() {
	jq -e -s 'any(.[]; .path == "/hook" and .body.status == "firing")' "$T/deliveries.jsonl"
}
wait_for 120 fired
for p in / /healthz /metrics /api/v1/suspects "/api/v1/suspects?limit=1" /api/v1/services /api/v1/targets \
	/api/v1/locations/1 "/api/v1/locations/1/series?window=1h&step=1m" /api/v1/locations/999999 /nope \
	"/api/v1/suspects?window=999d"; do
	curl -s -o /dev/null --max-time 30 "http://127.0.0.1:$web$p" || fail "GET $p: no answer"
done
kill -HUP "$daemon"
sleep 3
kill "$daemon"
rc=0
wait "$daemon" || rc=$?
runs=$((runs + 1))
if [ "$rc" != 0 ]; then
	echo "FAIL: leakprofd run: exit $rc on SIGTERM, want 0"
	tail -n 20 "$T/daemon.log" | sed 's/^/    /'
	fails=$((fails + 1))
fi

vg 0 suspects --config "$T/leakprofd.yaml" --json
vg 0 suspects --db "$T/leakprofd.db" --limit 2
vg 1 suspects --db "$T/no-such.db"
vg 0 scrape --json "http://127.0.0.1:$zoo"
vg 0 scrape --all --format debug=2 "http://127.0.0.1:$zoo"
vg 1 scrape "http://127.0.0.1:1"
vg 0 test-webhook --config "$T/leakprofd.yaml" json
vg 0 test-webhook --config "$T/leakprofd.yaml" slack
vg 1 test-webhook --config "$T/leakprofd.yaml" no-such-hook
printf 'listen: [\n' >"$T/broken.yaml"
vg 1 check-config "$T/broken.yaml"
printf 'services:\n  - name: a\n    targets: ["ftp://x"]\n  - name: a\nfoo: 1\nscrape_interval: -1s\n' \
	>"$T/invalid.yaml"
vg 1 check-config "$T/invalid.yaml"

for f in "$T"/vg.*; do
	[ -s "$f" ] || continue
	echo "FAIL: valgrind reported errors ($f):"
	sed 's/^/    /' "$f" | head -n 40
	fails=$((fails + 1))
done
echo "valgrind-daemon: $runs runs, $fails failed"
[ "$fails" = 0 ] || { echo "kept for inspection: $T"; exit 1; }
cleanup_bg
rm -rf "$T"
