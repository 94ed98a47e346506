# tests/lib.sh: helpers for the shell integration and browser tests. Source it: . "$(dirname "$0")/../lib.sh"
# Environment (set by the Makefile): LEAKPROFD_BIN, LEAKPROFD_GO_BIN, LEAKPROFD_TEST_OUT, TEST_TMP.
# Every server a test starts listens on 127.0.0.1 only, and is killed on exit.
set -eu
: "${LEAKPROFD_BIN:=$(pwd)/build/leakprofd}"
: "${LEAKPROFD_GO_BIN:=$(pwd)/build/go}"
: "${LEAKPROFD_TEST_OUT:=$(pwd)/build/test-output}"
: "${TEST_TMP:=$(mktemp -d)}"
export LEAKPROFD_BIN LEAKPROFD_GO_BIN LEAKPROFD_TEST_OUT TEST_TMP
_bg_pids=""

# Kill everything bg started, on any exit.
cleanup_bg() {
	for p in $_bg_pids; do kill "$p" 2>/dev/null || true; done
	for p in $_bg_pids; do wait "$p" 2>/dev/null || true; done
	_bg_pids=""
}
trap cleanup_bg EXIT INT TERM

# bg CMD...: start CMD in the background, remember its pid in $BG_PID.
bg() {
	"$@" &
	BG_PID=$!
	_bg_pids="$_bg_pids $BG_PID"
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

skip() {
	echo "skipped: $*"
	exit 77
}

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT (curl's exit 7 is "refused";
# the tests run under sh, which has no /dev/tcp).
port_open() {
	_rc=0
	curl -s -o /dev/null --max-time 0.3 "telnet://127.0.0.1:$1" </dev/null || _rc=$?
	[ "$_rc" != 7 ]
}

# free_port: print a TCP port on 127.0.0.1 that nothing listens on now. It is taken below the kernel's
# ephemeral range (ip_local_port_range), which the outgoing connections and port-0 listeners of tests running
# side by side draw from: a port chosen here stays free for a process that binds it later, or binds it again.
free_port() {
	_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "${_low:-0}" -gt 12000 ] 2>/dev/null || _low=32768
	while :; do
		p=$(( 10000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % (_low - 10000) ))
		if ! port_open "$p"; then
			echo "$p"
			return 0
		fi
	done
}

# wait_port PORT [SECONDS]: wait until something accepts on 127.0.0.1:PORT.
wait_port() {
	i=0
	while ! port_open "$1"; do
		i=$((i + 1))
		[ $i -lt $(( ${2:-20} * 10 )) ] || fail "nothing listens on 127.0.0.1:$1 after ${2:-20} s"
		sleep 0.1
	done
}

# wait_for SECONDS CMD...: retry CMD every 0.2 s until it succeeds.
wait_for() {
	_secs=$1
	shift
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt $(( _secs * 5 )) ] || fail "timed out after $_secs s waiting for: $*"
		sleep 0.2
	done
}

# assert_eq WHAT GOT WANT
assert_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}
