#!/bin/sh
# tests/pg/pg_stop.sh STATE: stop the server pg_start.sh STATE started (a fast shutdown: connections
# are ended) and remove its temporary directory. Does nothing when none was started; a server that will
# not stop within 10 s is killed.
set -u
[ $# = 1 ] || { echo "usage: tests/pg/pg_stop.sh STATE" >&2; exit 2; }
state=$1
[ -f "$state/dir" ] || exit 0
dir=$(cat "$state/dir")
PG_BIN=$(cat "$state/bin" 2>/dev/null || echo /usr/lib/postgresql/15/bin)
case $dir in
*/leakprofd-pg.*) ;;
*) echo "pg_stop: '$state/dir' names '$dir', not a test server's directory" >&2; exit 1 ;;
esac
# kill -9 only the server of this directory: a stale pid file may name a process that is not
postmaster_alive() {
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$dir/data"
}
if [ -f "$dir/data/postmaster.pid" ]; then
	pid=$(head -n 1 "$dir/data/postmaster.pid")
	owner=$(stat -c %U "$dir/data")
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$owner" -- "$PG_BIN/pg_ctl" stop --pgdata="$dir/data" --mode=fast --wait \
			--timeout=10 --silent >/dev/null 2>&1
	else
		"$PG_BIN/pg_ctl" stop --pgdata="$dir/data" --mode=fast --wait --timeout=10 --silent \
			>/dev/null 2>&1
	fi
	postmaster_alive "$pid" && kill -9 "$pid" 2>/dev/null
fi
rm -rf "$dir"
rm -f "$state/dir" "$state/uri" "$state/bin"
exit 0
