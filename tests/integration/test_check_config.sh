#!/bin/sh
# tests/integration/test_check_config.sh: `leakprofd check-config` on the shipped example, on good fixtures and on
# broken files: exit codes (0 OK, 1 invalid, 2 usage), "configuration OK" on stdout, every error on stderr with
# file, line and key.
. "$(dirname "$0")/../lib.sh"
cd "$(dirname "$0")/.."         # tests/: the fixtures' file paths are relative to it
bin=$LEAKPROFD_BIN
out=$TEST_TMP/out
err=$TEST_TMP/err

# run_cc WANT_RC ARGS...: run check-config, require the exit status, keep stdout/stderr in $out/$err.
run_cc() {
	want=$1
	shift
	if "$bin" check-config "$@" >"$out" 2>"$err"; then rc=0; else rc=$?; fi
	[ "$rc" = "$want" ] || { cat "$out" "$err" >&2; fail "check-config $*: exit $rc, want $want"; }
}

expect_ok() {
	run_cc 0 "$1"
	assert_eq "stdout for $1" "$(cat "$out")" "configuration OK"
	[ ! -s "$err" ] || { cat "$err" >&2; fail "$1: stderr not empty"; }
}

# expect_line LINE: stderr holds exactly this line.
expect_line() {
	grep -qxF -- "$1" "$err" || { cat "$err" >&2; fail "missing error line: $1"; }
}

# The shipped example, documented defaults and all.
expect_ok ../deploy/leakprofd.yaml
expect_ok fixtures/config/full.yaml
expect_ok fixtures/config/full.json
expect_ok fixtures/config/minimal.yaml
expect_ok fixtures/config/empty.yaml

# The example with every commented optional key block enabled still parses (only files it names are missing).
sed -e 's/^services: \[\]$//' -e '/^# services:/,/^$/s/^#   \(- \|  \)/  \1/' -e 's/^# services:/services:/' \
	../deploy/leakprofd.yaml > "$TEST_TMP/example-services.yaml"
grep -q '^  - name: payments' "$TEST_TMP/example-services.yaml" || fail "could not enable the example services"
run_cc 1 "$TEST_TMP/example-services.yaml"
n=$(wc -l < "$err")
grep -q "services\[0\].bearer_token_file: cannot read '/etc/leakprofd/payments.token'" "$err" ||
	{ cat "$err" >&2; fail "example services: expected only unreadable-file errors"; }
if grep -v "cannot read '/etc/leakprofd/" "$err" | grep -v 'bearer_token_file and basic_auth' | grep -q .; then
	cat "$err" >&2
	fail "example services: errors other than missing files"
fi
[ "$n" -ge 1 ] || fail "no errors for missing files"

# Every error of a broken file, in file order, nothing on stdout.
run_cc 1 fixtures/config/bad-values.yaml
[ ! -s "$out" ] || fail "stdout not empty on error"
assert_eq "error count for bad-values.yaml" "$(wc -l < "$err" | tr -d ' ')" 37
expect_line "fixtures/config/bad-values.yaml:6: scrape_timeout: invalid duration 'ten seconds' (use e.g. 30s, 5m, 2h)"
expect_line "fixtures/config/bad-values.yaml:12: services[0].targets[0]: invalid URL '127.0.0.1:6060': the scheme must be http:// or https://"
expect_line "fixtures/config/bad-values.yaml:32: alerting.webhooks[0].format: unknown format 'xml' (use json, slack or alertmanager)"
assert_eq "errors in file order" "$(cut -d: -f2 "$err" | sort -n -c 2>&1 && echo sorted)" sorted

run_cc 1 fixtures/config/bad-keys.yaml
expect_line "fixtures/config/bad-keys.yaml:6: services[0].scrape_interval: unknown key"
run_cc 1 fixtures/config/bad-rules.yaml
expect_line "fixtures/config/bad-rules.yaml:2: scrape_timeout: scrape_timeout (10s) must not exceed scrape_interval (5s)"
run_cc 1 fixtures/config/bad-files.yaml
expect_line "fixtures/config/bad-files.yaml:10: alerting.webhooks[0].url_file: cannot read 'fixtures/config/files/missing.url': No such file or directory"
run_cc 1 fixtures/config/bad-types.yaml
expect_line "fixtures/config/bad-types.yaml:4: services: expected a list, got a mapping"
run_cc 1 fixtures/config/bad-syntax.yaml
expect_line "fixtures/config/bad-syntax.yaml:5: syntax error: did not find expected ',' or ']' (while parsing a flow sequence started at line 4)"
run_cc 1 fixtures/config/bad-json.json
expect_line "fixtures/config/bad-json.json:8: services[0].scrape_interval: unknown key"

# An absolute path is named as given, at the line of the mistake.
cat > "$TEST_TMP/leakprofd.yaml" <<'YAML'
listen: 127.0.0.1:8080
database: /var/lib/leakprofd/leakprofd.db
scrape_interval: 60s
scrape_timeout: 10s
max_body_bytes: 64MiB
max_concurrent_scrapes: 64
retention: {raw: 48h, rollup: 30d}
services:
  - name: payments
    targets: ["http://127.0.0.1:6060"]
    profile: goroutine
    scrape_interval: 5s
YAML
run_cc 1 "$TEST_TMP/leakprofd.yaml"
assert_eq "one error" "$(cat "$err")" "$TEST_TMP/leakprofd.yaml:12: services[0].scrape_interval: unknown key"

# A short interval alone is valid: the unwritten timeout is the shorter of 10s and the interval.
printf 'scrape_interval: 1s\nservices: [{name: a, targets: ["http://127.0.0.1:6060"]}]\n' \
	> "$TEST_TMP/short.yaml"
expect_ok "$TEST_TMP/short.yaml"

# A secret file that exists but cannot be read by the user checking (as root, check as nobody: root reads
# anything).
pd=$TEST_TMP/perm
mkdir -p "$pd"
chmod 755 "$TEST_TMP" "$pd"
printf 'k\n' > "$pd/hook.key"
chmod 600 "$pd/hook.key"
printf 'alerting:\n  webhooks:\n    - {name: a, url: "http://127.0.0.1:1/", secret_file: %s}\n' "$pd/hook.key" \
	> "$pd/perm.yaml"
chmod 644 "$pd/perm.yaml"
as_other=""
if [ "$(id -u)" != 0 ]; then
	chmod 000 "$pd/hook.key"
elif command -v setpriv >/dev/null; then
	as_other="setpriv --reuid=65534 --regid=65534 --clear-groups"
	$as_other "$bin" check-config --help >/dev/null 2>&1 || as_other=""     # nobody may not reach the binary
fi
if [ "$(id -u)" != 0 ] || [ -n "$as_other" ]; then
	if $as_other "$bin" check-config "$pd/perm.yaml" >"$out" 2>"$err"; then fail "unreadable secret accepted"; fi
	expect_line "$pd/perm.yaml:3: alerting.webhooks[0].secret_file: cannot read '$pd/hook.key': Permission denied"
else
	echo "note: root, and user nobody cannot run $bin: unreadable-file case not exercised"
fi

# Standard input.
if printf 'listen: 127.0.0.1:9\n' | "$bin" check-config - >"$out" 2>"$err"; then :; else fail "stdin: exit $?"; fi
assert_eq "stdin ok" "$(cat "$out")" "configuration OK"
if printf 'listen: nope\n' | "$bin" check-config - >"$out" 2>"$err"; then fail "stdin: bad config accepted"; fi
expect_line "<stdin>:1: listen: invalid address 'nope': missing port (use host:port or [addr]:port)"

# A missing file, and usage errors.
run_cc 1 "$TEST_TMP/nonexistent.yaml"
expect_line "$TEST_TMP/nonexistent.yaml: cannot open: No such file or directory"
run_cc 2
grep -q '^usage: leakprofd check-config' "$err" || fail "no usage on stderr"
run_cc 2 a.yaml b.yaml
run_cc 2 --bogus a.yaml
run_cc 0 --help
grep -q '^usage: leakprofd check-config' "$out" || fail "--help: no usage on stdout"
echo "check-config: all cases passed"
