#!/bin/sh
# Database failures: a read-only database directory is a clear error at start (the path and SQLite's message,
# exit 1); a disk that fills up while the daemon runs is logged clearly, the daemon keeps scraping, and once there
# is room again it stores the scrapes it made meanwhile. Needs tmpfs mounts (root) or, for the read-only case
# as a normal user, a directory without write permission.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

start_go z zoo -leak early_return=3,waitgroup=2 -benign pool -pool-size 500
mounts=""
cleanup() {
	cleanup_bg
	for m in $mounts; do umount "$m" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

# --- read-only directory ---
ro=$TEST_TMP/ro
mkdir -p "$ro"
if [ "$(id -u)" = 0 ]; then
	mount -t tmpfs -o ro,size=1m tmpfs "$ro" || skip "cannot mount a read-only tmpfs (mount -t tmpfs -o ro failed)"
	mounts="$mounts $ro"
else
	chmod 555 "$ro"
fi
rc=0
timeout 20 "$LEAKPROFD_BIN" run --database "$ro/leakprofd.db" --listen "$(free_listen)" \
	--target "http://127.0.0.1:$z_port" >"$TEST_TMP/ro.log" 2>&1 || rc=$?
cat "$TEST_TMP/ro.log"
assert_eq "exit status with a read-only database directory" "$rc" 1
grep -q "$ro/leakprofd.db" "$TEST_TMP/ro.log" || fail "the error does not name the database path"
grep -qi "read-only\|readonly\|unable to open" "$TEST_TMP/ro.log" || fail "the error does not carry SQLite's message"

# --- full disk ---
[ "$(id -u)" = 0 ] || skip "the full-disk case needs root to mount a small tmpfs (read-only case passed)"
full=$TEST_TMP/full
mkdir -p "$full"
mount -t tmpfs -o size=4m tmpfs "$full" || skip "cannot mount a 4 MiB tmpfs for the full-disk case"
mounts="$mounts $full"
DB=$full/leakprofd.db
{
	echo "listen: $(free_listen)"
	echo "database: $DB"
	echo "scrape_interval: 1s"
	echo "scrape_timeout: 1s"
	echo "services:"
	for i in 1 2 3 4 5 6; do
		echo "  - {name: s$i, targets: [\"http://127.0.0.1:$z_port\"], format: debug=2, detail_every: 0}"
	done
} >"$TEST_TMP/leakprofd.yaml"
start_daemon --config "$TEST_TMP/leakprofd.yaml"
wait_for 20 has_ok_scrapes "http://127.0.0.1:$z_port" 6
# Fill the file system to the last byte.
dd if=/dev/zero of="$full/filler" bs=64k 2>/dev/null || true
df -k "$full"
wait_for 40 grep -q "cannot write to database '$DB'" "$TEST_TMP/daemon.log"
grep "cannot write to database" "$TEST_TMP/daemon.log" | head -n 1
grep -qi "full" "$TEST_TMP/daemon.log" || fail "SQLite's 'database or disk is full' is not in the log"
t_full=$(( $(date +%s) * 1000 ))
sleep 4
daemon_alive
# Room again: the scrapes made while the disk was full are stored.
rm -f "$full/filler"
wait_for 20 grep -q "takes writes again" "$TEST_TMP/daemon.log"
grep "takes writes again" "$TEST_TMP/daemon.log"
n=$(sq "SELECT count(*) FROM scrapes WHERE ts >= $t_full AND ts < $t_full + 4000 AND status = 'ok'")
[ "$n" -ge 6 ] || fail "only $n scrapes from the full-disk period were stored afterwards"
stop_daemon TERM
assert_eq "integrity" "$(sq 'PRAGMA integrity_check')" ok
echo "ok"
