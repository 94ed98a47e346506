#!/bin/sh
# tests/demo.sh: what `make run` runs: the bundled demo service (build/go/demo, a Go program that leaks slowly
# next to healthy goroutines) and leakprofd scraping it every 5 s into ./leakprofd.db, both on 127.0.0.1.
# Ctrl-C (or SIGTERM) stops both. Environment: LEAKPROFD_BIN, LEAKPROFD_GO_BIN (set by the Makefile),
# DEMO_DB (default ./leakprofd.db), DEMO_INTERVAL (default 5s), DEMO_PORT and DEMO_WEB_PORT (the preferred ports,
# default 6060 and 8080; a busy one is replaced by a free one; DEMO_PORT=0 lets the demo service pick).
set -eu
cd "$(dirname "$0")/.."
bin=${LEAKPROFD_BIN:-build/leakprofd}
gobin=${LEAKPROFD_GO_BIN:-build/go}
db=${DEMO_DB:-./leakprofd.db}
interval=${DEMO_INTERVAL:-5s}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/leakprofd-demo.XXXXXX")
demo_pid= daemon_pid=

stop() {
	trap - INT TERM EXIT
	[ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null || true
	[ -n "$daemon_pid" ] && wait "$daemon_pid" 2>/dev/null || true
	[ -n "$demo_pid" ] && kill -TERM "$demo_pid" 2>/dev/null || true
	[ -n "$demo_pid" ] && wait "$demo_pid" 2>/dev/null || true
	rm -rf "$tmp"
	echo "demo: stopped; the data stays in $db"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

# True when something accepts connections on 127.0.0.1:PORT (curl exits 7 when refused; sh has no /dev/tcp).
port_open() {
	rc=0
	curl -s -o /dev/null --max-time 0.3 "telnet://127.0.0.1:$1" </dev/null || rc=$?
	[ "$rc" != 7 ]
}

# A port on 127.0.0.1 that nothing listens on, trying PREFERRED first (0 stays 0: the program picks).
pick_port() {
	p=$1
	while [ "$p" != 0 ] && port_open "$p"; do
		p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 ))
	done
	echo "$p"
}

[ -x "$bin" ] || { echo "demo: $bin is missing: run 'make'" >&2; exit 1; }
[ -x "$gobin/demo" ] || { echo "demo: $gobin/demo is missing: run 'make go'" >&2; exit 1; }

demo_port=$(pick_port "${DEMO_PORT:-6060}")
"$gobin/demo" -addr "127.0.0.1:$demo_port" -portfile "$tmp/demo.port" &
demo_pid=$!
i=0
while [ ! -s "$tmp/demo.port" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "demo: the demo service did not start" >&2; exit 1; }
	kill -0 "$demo_pid" 2>/dev/null || { echo "demo: the demo service exited" >&2; demo_pid=; exit 1; }
	sleep 0.1
done
demo_port=$(cat "$tmp/demo.port")

web_port=$(pick_port "${DEMO_WEB_PORT:-8080}")
echo "demo: demo service on http://127.0.0.1:$demo_port/ (leaks slowly: main.handleLookup, main.fetchWithTimeout)"
echo "demo: leakprofd scrapes it every $interval into $db"
echo "demo: dashboard on http://127.0.0.1:$web_port/   (Ctrl-C stops both)"
# A non-interactive shell starts background jobs with SIGINT ignored, so Ctrl-C reaches this script only:
# stop() then ends the daemon and the demo service with SIGTERM and waits for both.
"$bin" run --target "http://127.0.0.1:$demo_port" --interval "$interval" --database "$db" \
	--listen "127.0.0.1:$web_port" &
daemon_pid=$!
# wait returns early when a trapped signal arrives; loop until the daemon is gone.
while kill -0 "$daemon_pid" 2>/dev/null; do
	wait "$daemon_pid" 2>/dev/null || true
done
rc=0
wait "$daemon_pid" 2>/dev/null || rc=$?
daemon_pid=
echo "demo: leakprofd exited (status $rc)" >&2
exit "$rc"
