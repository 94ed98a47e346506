#!/bin/sh
# tests/pg/with_pg.sh STATES COMMAND...: run COMMAND with LEAKPROFD_PG_URI naming a PostgreSQL server of
# its own (pg_start.sh before, pg_stop.sh after, also when interrupted), its state in STATES/<pid of this
# script>: runs side by side each have their own, and a server whose run is gone (killed) is stopped and
# removed by the next run. When the caller has set LEAKPROFD_PG_URI, COMMAND runs against that server and
# none is started; LEAKPROFD_PG=off runs it with no server at all (the tests then leave PostgreSQL out,
# and say so). Exits with COMMAND's status.
set -u
[ $# -ge 2 ] || { echo "usage: tests/pg/with_pg.sh STATES COMMAND..." >&2; exit 2; }
states=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
if [ "${LEAKPROFD_PG:-}" = off ] || [ -n "${LEAKPROFD_PG_URI:-}" ]; then
	exec "$@"
fi
# A run is alive while its with_pg.sh is (not a zombie: a container's first process may reap none).
alive() {
	case $(ps -o stat=,args= -p "$1" 2>/dev/null) in
	Z*) return 1 ;;
	*with_pg.sh*) return 0 ;;
	*) return 1 ;;
	esac
}
mkdir -p "$states"
for old in "$states"/*; do
	[ -d "$old" ] || continue
	alive "$(basename "$old")" && continue
	sh "$here/pg_stop.sh" "$old"
	rmdir "$old" 2>/dev/null
done
state=$states/$$
trap 'sh "$here/pg_stop.sh" "$state"; rmdir "$state" 2>/dev/null' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start=$(date +%s.%N)
LEAKPROFD_PG_URI=$(sh "$here/pg_start.sh" "$state") || exit 1
export LEAKPROFD_PG_URI
echo "pg: test server $LEAKPROFD_PG_URI, started in $(awk -v a="$start" -v b="$(date +%s.%N)" \
	'BEGIN { printf "%.1f", b - a }') s"
"$@"
