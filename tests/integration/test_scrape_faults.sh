#!/bin/sh
# tests/integration/test_scrape_faults.sh: `leakprofd scrape` against hostile targets (build/go/faultsrv) and a
# port nobody listens on: each gives its own status on stderr and exit 1, quickly; a real profile prints.
. "$(dirname "$0")/../lib.sh"
bin=$LEAKPROFD_BIN
fs=$LEAKPROFD_GO_BIN/faultsrv
[ -x "$fs" ] || skip "build/go/faultsrv is not built (make go)"
out=$TEST_TMP/out
err=$TEST_TMP/err

bg "$fs" -addr 127.0.0.1:0 -portfile "$TEST_TMP/port"
wait_for 20 test -s "$TEST_TMP/port"
port=$(cat "$TEST_TMP/port")
base=http://127.0.0.1:$port

# expect_fail MAX_SECONDS STATUS ARGS...: scrape fails with exit 1 within MAX_SECONDS and stderr names the URL
# and STATUS.
expect_fail() {
	max=$1
	want=$2
	shift 2
	start=$(date +%s)
	if "$bin" scrape "$@" >"$out" 2>"$err"; then rc=0; else rc=$?; fi
	secs=$(( $(date +%s) - start ))
	[ "$rc" = 1 ] || { cat "$out" "$err" >&2; fail "scrape $*: exit $rc, want 1"; }
	grep -q "^leakprofd: scrape: 'http://[^']*': $want" "$err" ||
		{ cat "$err" >&2; fail "scrape $*: stderr lacks '$want'"; }
	[ "$secs" -le "$max" ] || fail "scrape $*: took $secs s, want <= $max s"
	[ ! -s "$out" ] || { cat "$out" >&2; fail "scrape $*: printed a profile on failure"; }
	echo "ok: $* -> $(cat "$err")"
}

dead=$(free_port)
expect_fail 3 "connect refused" "http://127.0.0.1:$dead"
expect_fail 5 "timeout after 2000 ms" --timeout 2s "$base/slow"
expect_fail 5 "timeout after 1500 ms" --timeout 1500ms "$base/stall"
expect_fail 10 "body too large (more than 8388608 bytes)" --max-body 8MiB "$base/huge"
expect_fail 5 "body too large" --max-body 8MiB "$base/huge-length"
expect_fail 5 "http 500" "$base/500"
expect_fail 5 "http 404" "$base/nothing-here"
expect_fail 5 "parse error: " "$base/garbage"
expect_fail 5 "html page, not a profile" "$base/html"
# Content-Encoding: gzip on a text format is decoded by curl and stops at the cap; without it (or for proto,
# which is gzip itself) the parser's own inflation cap stops it.
expect_fail 10 "body too large" --max-body 8MiB --format debug=1 "$base/gzipbomb-encoded"
expect_fail 30 "parse error: " "$base/gzipbomb"

# The real thing: faultsrv's own goroutine profile (its listener parks in net.(*netFD).accept), in each format:
# proto by default, --format debug=1, and a URL that names debug=2 itself.
for args in "$base/ok/debug/pprof/goroutine proto" "--format debug=1 $base/ok/debug/pprof/goroutine debug=1" \
	"$base/ok/debug/pprof/goroutine?debug=2 debug=2"; do
	fmt=${args##* }
	args=${args% *}
	# The scrape's own connection wakes the listener: on a busy machine its goroutine may not have parked
	# again when the profile is written, so a few tries are allowed.
	for try in 1 2 3 4 5; do
		# shellcheck disable=SC2086
		"$bin" scrape --all $args >"$out" 2>"$err" || { cat "$err" >&2; fail "scrape $args failed"; }
		grep -q "^goroutine profile ($fmt): " "$out" || { cat "$out" >&2; fail "scrape $args: no $fmt header"; }
		grep -q 'IO wait  *net\.(\*netFD)\.accept ' "$out" && break
		[ "$try" -lt 5 ] || { cat "$out" >&2; fail "scrape $args: the listener's IO wait is missing"; }
		sleep 0.2
	done
	[ ! -s "$err" ] || { cat "$err" >&2; fail "scrape $args: stderr not empty"; }
	echo "ok: $args -> $(head -n 1 "$out")"
done
"$bin" scrape --json "$base/ok/debug/pprof/goroutine" >"$out" 2>"$err" || { cat "$err" >&2; fail "scrape --json"; }
assert_eq "scrape --json format" "$(jq -r .format "$out")" proto
[ "$(jq -r .total_goroutines "$out")" -ge 2 ] || fail "scrape --json: total_goroutines < 2"

# Credentials and headers reach the target (hookrecv records what it gets; its answer is no profile).
hr=$LEAKPROFD_GO_BIN/hookrecv
if [ -x "$hr" ]; then
	bg "$hr" -addr 127.0.0.1:0 -portfile "$TEST_TMP/hport" -out "$TEST_TMP/hooks.jsonl"
	wait_for 20 test -s "$TEST_TMP/hport"
	printf 's3cret-token\n' >"$TEST_TMP/token"
	if "$bin" scrape --bearer-token-file "$TEST_TMP/token" --header 'X-Scope: payments' \
		"http://127.0.0.1:$(cat "$TEST_TMP/hport")" >"$out" 2>"$err"; then rc=0; else rc=$?; fi
	assert_eq "scrape of a non-profile" "$rc" 1
	grep -q "parse error: " "$err" || { cat "$err" >&2; fail "hookrecv answer: no parse error"; }
	assert_eq "path asked" "$(jq -r .path "$TEST_TMP/hooks.jsonl")" /debug/pprof/goroutine
	assert_eq "bearer token sent" "$(jq -r .headers.Authorization "$TEST_TMP/hooks.jsonl")" \
		"Bearer s3cret-token"
	assert_eq "header sent" "$(jq -r '.headers["X-Scope"]' "$TEST_TMP/hooks.jsonl")" payments
	echo "ok: bearer token and header sent"
fi

# Usage errors exit 2.
if "$bin" scrape >/dev/null 2>&1; then rc=0; else rc=$?; fi
assert_eq "scrape without URL" "$rc" 2
if "$bin" scrape --timeout soon "$base/" >/dev/null 2>&1; then rc=0; else rc=$?; fi
assert_eq "scrape --timeout soon" "$rc" 2
if "$bin" scrape "ftp://127.0.0.1:$port/" >/dev/null 2>&1; then rc=0; else rc=$?; fi
assert_eq "scrape ftp://" "$rc" 2
if "$bin" scrape --bearer-token-file "$TEST_TMP/missing" "$base/" >/dev/null 2>"$err"; then rc=0; else rc=$?; fi
assert_eq "scrape with a missing token file" "$rc" 1
grep -q "bearer token file '$TEST_TMP/missing': No such file" "$err" || fail "missing token file message"
echo "all scrape faults behave"
