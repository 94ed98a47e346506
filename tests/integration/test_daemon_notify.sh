#!/bin/sh
# systemd Type=notify: with NOTIFY_SOCKET pointing at a unix datagram socket this test listens on (a small C
# receiver, tests/integration/notifyrecv.c) and WATCHDOG_USEC=1 s, the daemon sends READY=1 once the database is
# open, STATUS= with its targets up and down, WATCHDOG=1 about every half second, and STOPPING=1 on SIGTERM.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
DB=$TEST_TMP/leakprofd.db
command -v cc >/dev/null || skip "no C compiler for the notification receiver"
cc -std=c17 -D_GNU_SOURCE -O1 -o "$TEST_TMP/notifyrecv" "$(dirname "$0")/notifyrecv.c" ||
	fail "cannot build notifyrecv"

start_go z zoo -leak early_return=2
sock=$TEST_TMP/notify.sock
out=$TEST_TMP/notify.out
bg sh -c "exec '$TEST_TMP/notifyrecv' '$sock' >'$out'"
wait_for 10 test -S "$sock"

NOTIFY_SOCKET=$sock WATCHDOG_USEC=1000000
export NOTIFY_SOCKET WATCHDOG_USEC
start_daemon --database "$DB" --listen "$(free_listen)" \
	--interval 1s --target "http://127.0.0.1:$z_port" --target "http://127.0.0.1:$(free_port)"
unset NOTIFY_SOCKET WATCHDOG_USEC
wait_for 20 grep -q '^READY=1$' "$out"
# READY=1 came once the database existed
test -s "$DB" || fail "READY=1 before the database was created"
wait_for 20 grep -q '^STATUS=2 targets: 1 up, 1 down' "$out"
sleep 3
w=$(grep -c '^WATCHDOG=1$' "$out")
echo "WATCHDOG=1 sent $w times"
[ "$w" -ge 5 ] || fail "WATCHDOG=1 only $w times in about 3 s with WATCHDOG_USEC=1000000"
grep -q '^STOPPING=1$' "$out" && fail "STOPPING=1 before any stop"
stop_daemon TERM
wait_for 5 grep -q '^STOPPING=1$' "$out"
cat "$out" | sort | uniq -c
echo "ok"
