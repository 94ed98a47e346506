#!/bin/sh
# suite: long
# tests/integration/test_web_healthz.sh: every way /healthz answers 503, made to happen for real in the running
# daemon, and the 200 that follows once the cause is gone:
#   - the detector stalled: its rankings cannot be stored (a trigger refuses them, the way a damaged table
#     would) while scrapes keep being stored, so the rounds wait for a ranking past three intervals plus its pace;
#   - the database locked: another sqlite3 process holds its write lock (BEGIN EXCLUSIVE) past the bound;
#   - the database unwritable: the database file made immutable (chattr +i, which stops root too), then its file
#     system (a 40 MiB tmpfs) filled to the last byte;
#   - the collector loop stalled: the daemon's log is a pipe nobody reads (a stalled journald), so the loop
#     blocks writing a log line and stops reporting, while the web server's own threads keep answering.
# Needs root for the tmpfs and chattr.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
for t in curl jq sqlite3 chattr mkfifo; do command -v $t >/dev/null || skip "$t is not installed"; done
[ "$(id -u)" = 0 ] || skip "needs root to mount a tmpfs and make a file immutable"

dir=$TEST_TMP/db
mkdir -p "$dir"
mounted=""
locker=""
cleanup() {
	chattr -i "$dir/leakprofd.db" 2>/dev/null || true
	touch "$TEST_TMP/drain" "$TEST_TMP/unlock" 2>/dev/null || true
	[ -z "$locker" ] || sleep 1 # the locking sqlite3 sees the unlock and closes the database
	cleanup_bg
	[ -z "$mounted" ] || umount "$dir" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
mount -t tmpfs -o size=40m tmpfs "$dir" || skip "cannot mount a tmpfs"
mounted=1
DB=$dir/leakprofd.db

start_go zoo zoo -leak early_return -leak-rate 4 -benign pool -pool-size 50
listen=$(free_listen)
base=http://$listen
cat >"$TEST_TMP/leakprofd.yaml" <<YAML
listen: $listen
database: $DB
scrape_interval: 1s
scrape_timeout: 1s
services:
  - name: zoo
    targets: ["http://127.0.0.1:$zoo_port"]
detector:
  window: 10m
YAML
start_daemon --config "$TEST_TMP/leakprofd.yaml"

# health: GET /healthz into $TEST_TMP/health; prints the status code.
health() {
	curl -s -o "$TEST_TMP/health" -w '%{http_code}' --max-time 5 "$base/healthz" || echo 000
}
# healthy: /healthz answers 200 with every check ok.
healthy() {
	[ "$(health)" = 200 ] &&
		jq -e '.status == "ok" and .database.ok and .collector.ok and .detector.ok' "$TEST_TMP/health"
}
# unhealthy CHECK: /healthz answers 503 naming CHECK (database, collector or detector) as failing.
unhealthy() {
	[ "$(health)" = 503 ] && jq -e --arg c "$1" '.status == "unhealthy" and (.[$c].ok | not)' "$TEST_TMP/health"
}
show() {
	echo "$1: $(cat "$TEST_TMP/health")"
}
wait_for 20 healthy
wait_for 20 sh -c "[ \$(sqlite3 -cmd '.timeout 5000' '$DB' 'SELECT count(*) FROM rankings') -ge 1 ]"
show "healthy"

echo "== the detector stalled: its rankings cannot be stored"
sq "CREATE TRIGGER refuse_rankings BEFORE INSERT ON rankings BEGIN SELECT RAISE(ABORT, 'rankings refused'); END;"
scrapes0=$(sq "SELECT count(*) FROM scrapes")
wait_for 30 unhealthy detector
show "detector stalled"
jq -e '.database.ok and .collector.ok and .detector.waiting_ms > .detector.limit_ms' "$TEST_TMP/health" >/dev/null ||
	fail "only the detector should fail: $(cat "$TEST_TMP/health")"
grep -q "rankings refused" "$TEST_TMP/daemon.log" || fail "the refused ranking is not in the log"
[ "$(sq "SELECT count(*) FROM scrapes")" -gt "$scrapes0" ] || fail "scrapes stopped being stored"
sq "DROP TRIGGER refuse_rankings;"
wait_for 30 healthy
show "rankings stored again"

echo "== the database locked: another process holds its write lock"
# The lock outlasts the bound (10 s at a 1 s interval) by the ingest's busy timeout and a retry at most.
bg sh -c 'u=$1/unlock; { echo "BEGIN EXCLUSIVE;"; while [ ! -e "$u" ]; do sleep 0.2; done; echo "COMMIT;"; } |
	sqlite3 -batch -cmd ".timeout 10000" "$2"' sh "$TEST_TMP" "$DB"
locker=$BG_PID
wait_for 30 unhealthy database
show "locked"
jq -e --arg db "$DB" '.collector.ok and .database.writes_refused_ms > .database.limit_ms and
	(.database.error | startswith("writes to database '"'"'" + $db + "'"'"' refused for"))' "$TEST_TMP/health" \
	>/dev/null || fail "the error does not name the locked database: $(cat "$TEST_TMP/health")"
touch "$TEST_TMP/unlock"
wait "$locker" || fail "the locking sqlite3 failed"
locker=""
wait_for 30 healthy
show "unlocked"

echo "== the database unwritable: the file immutable"
chattr +i "$DB"
wait_for 10 unhealthy database
show "immutable"
jq -e '.collector.ok and (.database.error | test("database file not writable: Operation not permitted"))' \
	"$TEST_TMP/health" >/dev/null || fail "the error does not say why: $(cat "$TEST_TMP/health")"
chattr -i "$DB"
wait_for 30 healthy

echo "== the database unwritable: its file system full"
dd if=/dev/zero of="$dir/filler" bs=64k 2>/dev/null || true
wait_for 10 unhealthy database
show "full"
jq -e '.database.error | test("file system full")' "$TEST_TMP/health" >/dev/null ||
	fail "the error does not say the file system is full: $(cat "$TEST_TMP/health")"
wait_for 20 grep -q "cannot write to database '$DB'" "$TEST_TMP/daemon.log"
rm -f "$dir/filler"
wait_for 30 healthy
show "room again"
stop_daemon TERM

echo "== the collector loop stalled: its log is a pipe nobody reads"
# 200 targets refusing connections make the loop log a line per failed scrape at debug level: the pipe fills
# within seconds. The reader copies nothing until $TEST_TMP/drain exists.
fifo=$TEST_TMP/log.fifo
mkfifo "$fifo"
{
	echo "listen: $listen"
	echo "database: $TEST_TMP/stall.db"
	echo "scrape_interval: 1s"
	echo "scrape_timeout: 1s"
	echo "services:"
	echo "  - name: dead"
	echo "    targets:"
	i=0
	while [ $i -lt 200 ]; do
		echo "      - http://127.0.0.1:1/dead$i"
		i=$((i + 1))
	done
} >"$TEST_TMP/stall.yaml"
# Both open the FIFO in their own process: an open that waits for the other end must not block this shell.
bg sh -c 'exec <"$1"; while [ ! -e "$2" ]; do sleep 0.2; done; exec cat >"$3"' sh "$fifo" "$TEST_TMP/drain" \
	"$TEST_TMP/stall.log"
bg sh -c 'exec "$0" run --log-level debug --config "$1" 2>"$2" >/dev/null' "$LEAKPROFD_BIN" "$TEST_TMP/stall.yaml" \
	"$fifo"
DAEMON_PID=$BG_PID
wait_for 20 curl -sf -o /dev/null "$base/healthz"
wait_for 60 unhealthy collector
show "collector stalled"
jq -e '.database.ok and .collector.last_heartbeat_age_ms > .collector.limit_ms' "$TEST_TMP/health" >/dev/null ||
	fail "only the collector should fail: $(cat "$TEST_TMP/health")"
daemon_alive
touch "$TEST_TMP/drain"
wait_for 30 healthy
show "log read again"
grep -q "failures in a row" "$TEST_TMP/stall.log" || fail "the log did not come through"
kill -TERM "$DAEMON_PID"
rc=0
wait "$DAEMON_PID" || rc=$?
assert_eq "exit status" "$rc" 0
echo "ok"
