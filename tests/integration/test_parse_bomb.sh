#!/bin/sh
# test_parse_bomb.sh: a target answering /debug/pprof/goroutine with a ~100 KB gzip body that inflates to 100 MB
# of empty Function entries (2 bytes each in the stream, 24 in a table) next to a healthy Go service. At the
# default max_body_bytes (64 MiB) the parser stops at its 64 MiB memory budget: the daemon's peak RSS stays under
# 200 MB (it passed 1.2 GB before the budget), the bomb target shows the budget's parse error scrape after
# scrape (retried with backoff), and the healthy target keeps being scraped every second. `leakprofd parse`
# stops it the same way.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
DB=$TEST_TMP/leakprofd.db
BOMB=$TEST_TMP/bomb.pb.gz
MAX_HWM_KIB=204800
WANT="proto: profile tables need more than 64 MiB (the limit for a max_body_bytes of 64 MiB) at byte "

[ -x "$LEAKPROFD_GO_BIN/faultsrv" ] || skip "build/go/faultsrv is not built (make go)"
# 50,000,000 empty Function entries: key 0x2a ('*': field 5, wire type 2), length 0
yes '*' | tr '\n' '\000' | head -c 100000000 | gzip -9 >"$BOMB"
size=$(wc -c <"$BOMB")
echo "bomb: $size bytes of gzip"
[ "$size" -lt 150000 ] || fail "the bomb is $size bytes, want about 100 KB"

# The command line: the same default bound, the same error.
if "$LEAKPROFD_BIN" parse "$BOMB" >"$TEST_TMP/out" 2>"$TEST_TMP/err"; then rc=0; else rc=$?; fi
assert_eq "parse of the bomb: exit status" "$rc" 1
grep -qF "$WANT" "$TEST_TMP/err" || fail "parse of the bomb: stderr '$(cat "$TEST_TMP/err")' lacks '$WANT'"
echo "parse: $(cat "$TEST_TMP/err")"

start_go f faultsrv -profile "$BOMB"
start_go z zoo -leak early_return=3 -benign pool -pool-size 20
bomb_url=http://127.0.0.1:$f_port/ok/debug/pprof/goroutine
healthy_url=http://127.0.0.1:$z_port

cat >"$TEST_TMP/leakprofd.yaml" <<EOF
listen: $(free_listen)
database: $DB
scrape_interval: 1s
scrape_timeout: 1s
services:
  - name: healthy
    targets: ["$healthy_url"]
    detail_every: 0
  - name: bomb
    targets: ["$bomb_url"]
    detail_every: 0
EOF

start_daemon --config "$TEST_TMP/leakprofd.yaml"
wait_for 20 has_ok_scrapes "$healthy_url" 2
t0=$(date +%s)
sleep 10
daemon_alive

# The bomb target: a parse error naming the budget, on every scrape.
status=$(sq "SELECT last_status FROM targets WHERE url = $(sql_quote "$bomb_url")")
echo "bomb target: $status"
case $status in
"parse error: $WANT"*) ;;
*) fail "bomb target: status '$status', want 'parse error: $WANT...'" ;;
esac
fails=$(sq "SELECT consecutive_failures FROM targets WHERE url = $(sql_quote "$bomb_url")")
# (a failing target is retried after 1, 2, 4 ... intervals)
[ "$fails" -ge 3 ] || fail "bomb target: only $fails consecutive failures in 10 s"
assert_eq "ok scrapes of the bomb target" "$(ok_scrapes "$bomb_url")" 0

# The healthy target was scraped every second throughout.
n=$(sq "SELECT count(*) FROM scrapes s JOIN targets t ON t.id = s.target_id
    WHERE t.url = $(sql_quote "$healthy_url") AND s.status = 'ok' AND s.ts >= $(( t0 * 1000 ))")
gap=$(sq "SELECT max(gap) FROM (SELECT s.ts - lag(s.ts) OVER (ORDER BY s.ts) AS gap FROM scrapes s
    JOIN targets t ON t.id = s.target_id WHERE t.url = $(sql_quote "$healthy_url") AND s.detail = 0)")
echo "healthy target: $n ok scrapes in 10 s, largest gap $gap ms"
[ "$n" -ge 8 ] || fail "healthy target: only $n ok scrapes in 10 s"
[ "$gap" -le 2500 ] || fail "healthy target: a gap of $gap ms between scrapes"

# Several bombs later, the daemon never grew past the bound.
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$DAEMON_PID/status")
echo "daemon peak RSS: $hwm KiB (bound $MAX_HWM_KIB KiB)"
[ "$hwm" -lt "$MAX_HWM_KIB" ] || fail "daemon peak RSS $hwm KiB, want < $MAX_HWM_KIB KiB"
grep -qF "$WANT" "$TEST_TMP/daemon.log" || fail "the daemon did not log the bomb's parse error"
stop_daemon TERM
echo "ok"
