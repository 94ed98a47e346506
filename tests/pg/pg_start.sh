#!/bin/sh
# tests/pg/pg_start.sh STATE: start a PostgreSQL server of its own for the tests and write its connection
# URI to STATE/uri (STATE is a directory the caller names, e.g. build/test-pg; STATE/dir names the server's
# temporary data directory, for pg_stop.sh). Prints the URI.
#
# The server is Debian's postgresql package (PG_BIN: /usr/lib/postgresql/15/bin, Debian 12's, or else
# the newest /usr/lib/postgresql/*/bin), a fresh initdb in a temporary directory, owned by an unprivileged
# user: initdb and the server refuse root, so as root they run as the package's 'postgres' system user (or
# one created for the tests when there is none). It listens on 127.0.0.1 only, on a free port, its unix
# socket in that directory, with fsync off; the superuser is 'leakprofd' (trust on 127.0.0.1) and the
# database 'leakprofd'; members of the role 'leakprofd_password' sign in with a password (scram-sha-256),
# for the tests of password files. The package's cluster service (pg_ctlcluster) is neither needed nor
# touched. A server that an interrupted run left behind under the same STATE is stopped and removed first.
# PG_OPTS adds server settings after these ("-c name=value ..."; a later one wins), e.g. a benchmark's
# durable, production-sized server.
set -eu
[ $# = 1 ] || { echo "usage: tests/pg/pg_start.sh STATE" >&2; exit 2; }
state=$1
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${PG_BIN:-}" ]; then
	PG_BIN=/usr/lib/postgresql/15/bin
	[ -x "$PG_BIN/initdb" ] ||
		PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
[ -x "$PG_BIN/initdb" ] || { echo "pg_start: no PostgreSQL server at '$PG_BIN' (install Debian's" \
	"postgresql, or name its bin directory with PG_BIN=)" >&2; exit 1; }
mkdir -p "$state"
state=$(cd "$state" && pwd)
[ -f "$state/dir" ] && sh "$here/pg_stop.sh" "$state"
rm -f "$state/uri" "$state/dir" "$state/bin"

# Who runs the server: the caller, or an unprivileged system user when the caller is root.
if [ "$(id -u)" = 0 ]; then
	owner=postgres
	if ! id -u "$owner" >/dev/null 2>&1; then
		owner=leakprofd-pgtest
		id -u "$owner" >/dev/null 2>&1 ||
			useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$owner"
	fi
	as_owner() { runuser -u "$owner" -- "$@"; }
else
	owner=$(id -un)
	as_owner() { "$@"; }
fi

# As root, in /tmp: a TMPDIR of root's own may be closed to the server's user.
if [ "$(id -u)" = 0 ]; then
	dir=$(mktemp -d /tmp/leakprofd-pg.XXXXXX)
else
	dir=$(mktemp -d "${TMPDIR:-/tmp}/leakprofd-pg.XXXXXX")
fi
echo "$dir" >"$state/dir"
echo "$PG_BIN" >"$state/bin"
chmod 700 "$dir"
[ "$(id -u)" = 0 ] && chown "$owner" "$dir"
cd "$dir"
as_owner "$PG_BIN/initdb" --pgdata="$dir/data" --username=leakprofd --auth=trust --encoding=UTF8 \
	--locale=C --no-sync >"$dir/initdb.log" 2>&1 || {
	cat "$dir/initdb.log" >&2
	echo "pg_start: initdb into '$dir/data' failed" >&2
	exit 1
}

# Members of leakprofd_password give a password; everyone else is trusted (127.0.0.1 only).
{ echo "host all +leakprofd_password 127.0.0.1/32 scram-sha-256"; cat "$dir/data/pg_hba.conf"; } \
	>"$dir/pg_hba.conf"
cat "$dir/pg_hba.conf" >"$dir/data/pg_hba.conf"

# A port nobody listens on (/proc/net/tcp*, state 0A); another program may take it before the server
# does, so a start that fails is retried on another port.
port_free() {
	hex=$(printf '%04X' "$1")
	! grep -qs ":$hex [0-9A-F:]* 0A " /proc/net/tcp /proc/net/tcp6
}
tries=0
while :; do
	tries=$((tries + 1))
	port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
	port_free "$port" || continue
	if as_owner "$PG_BIN/pg_ctl" start --pgdata="$dir/data" --wait --timeout=30 --silent \
		--log="$dir/server.log" -o "-c listen_addresses=127.0.0.1 -c port=$port \
		-c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off \
		-c full_page_writes=off -c max_connections=40 -c shared_buffers=16MB ${PG_OPTS:-}" >/dev/null 2>&1; then
		break
	fi
	if [ $tries -ge 5 ]; then
		tail -n 20 "$dir/server.log" >&2
		echo "pg_start: the server in '$dir' did not start" >&2
		exit 1
	fi
done
"$PG_BIN/createdb" --host="$dir" --port="$port" --username=leakprofd leakprofd
"$PG_BIN/psql" --host="$dir" --port="$port" --username=leakprofd --quiet --no-psqlrc \
	--command="CREATE ROLE leakprofd_password NOLOGIN" leakprofd
uri="postgres://leakprofd@127.0.0.1:$port/leakprofd"
echo "$uri" >"$state/uri"
echo "$uri"
