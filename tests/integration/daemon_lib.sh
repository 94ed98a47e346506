# tests/integration/daemon_lib.sh: helpers shared by the test_daemon_*.sh tests (sourced after tests/lib.sh):
# start real Go services and the real daemon, and read its SQLite database with the sqlite3 CLI.

# sq SQL...: run SQL on $DB (read-only use; waits for the daemon's write lock instead of failing).
sq() {
	sqlite3 -batch -noheader -cmd ".timeout 10000" "$DB" "$@"
}

# sql_quote TEXT: TEXT as an SQL string literal.
sql_quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
}

# start_go NAME PROG ARGS...: start build/go/PROG with -addr 127.0.0.1:0 -portfile, wait for its port and
# set NAME_port and NAME_pid.
start_go() {
	_name=$1 _prog=$2
	shift 2
	rm -f "$TEST_TMP/$_name.port"
	bg "$LEAKPROFD_GO_BIN/$_prog" -addr 127.0.0.1:0 -portfile "$TEST_TMP/$_name.port" "$@"
	eval "${_name}_pid=$BG_PID"
	wait_for 20 test -s "$TEST_TMP/$_name.port"
	eval "${_name}_port=$(cat "$TEST_TMP/$_name.port")"
}

# start_daemon ARGS...: start `leakprofd run ARGS` logging to $TEST_TMP/daemon.log (appended), set DAEMON_PID.
start_daemon() {
	bg "$LEAKPROFD_BIN" run --log-level debug "$@" >>"$TEST_TMP/daemon.log" 2>&1
	DAEMON_PID=$BG_PID
}

# stop_daemon [SIGNAL]: signal the daemon (TERM by default), wait for it, and check it exited 0.
stop_daemon() {
	kill -"${1:-TERM}" "$DAEMON_PID"
	_rc=0
	wait "$DAEMON_PID" || _rc=$?
	[ "$_rc" = 0 ] || { tail -n 40 "$TEST_TMP/daemon.log" >&2; fail "daemon exited with status $_rc"; }
}

# daemon_alive: fail unless the daemon still runs.
daemon_alive() {
	kill -0 "$DAEMON_PID" 2>/dev/null || { tail -n 40 "$TEST_TMP/daemon.log" >&2; fail "the daemon died"; }
}

# ok_scrapes URL_LIKE: successful regular scrapes of targets whose url matches the LIKE pattern.
ok_scrapes() {
	sq "SELECT count(*) FROM scrapes s JOIN targets t ON t.id = s.target_id
	    WHERE t.url LIKE $(sql_quote "$1") AND s.status = 'ok' AND s.detail = 0" 2>/dev/null || echo 0
}

# has_ok_scrapes URL_LIKE N: true when at least N successful regular scrapes of the target are stored.
has_ok_scrapes() {
	[ "$(ok_scrapes "$1")" -ge "$2" ]
}

# free_listen: a loopback address for the daemon's web server.
free_listen() {
	echo "127.0.0.1:$(free_port)"
}
