#!/bin/sh
# tests/integration/test_api.sh: the web server's JSON API, /metrics, /healthz, methods, auth (bearer and basic,
# applied by a SIGHUP reload) and TLS, against the real daemon.
#
# Phase 1 serves a database written by tests/bench/web_gendb.sh (known contents: 2 services, 40 targets, 13 h of
# scrapes with one restart, a stored ranking, and a location whose function is "<script>alert(1)</script>" and whose file name
# breaks out of an attribute) with no target configured, so that no scrape round replaces the stored ranking (the
# daemon would rank the synthetic services no more: their targets are not in its configuration). A reload then
# adds a real zoo service the daemon scrapes every second; phase 2 waits for the daemon's own ranking of the
# zoo's leak and checks it against the zoo's /expected.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
for t in curl jq sqlite3; do command -v $t >/dev/null || skip "$t is not installed"; done

DB=$TEST_TMP/web.db
sh "$root/tests/bench/web_gendb.sh" "$DB" 40 13 60
start_go zoo zoo -leak early_return -leak-count 5 -leak-rate 4 -benign pool -pool-size 200

# start_web CONFIG: start the daemon on CONFIG (which listens on port 0) and set $listen to the address its web
# server bound, read from its log line "web: listening on ... (port N, ...".
start_web() {
	_before=$(grep -c "web: listening on" "$TEST_TMP/daemon.log" 2>/dev/null || true)
	start_daemon --config "$1"
	wait_for 20 sh -c "[ \"\$(grep -c 'web: listening on' $TEST_TMP/daemon.log)\" -gt ${_before:-0} ]"
	listen=127.0.0.1:$(sed -n 's/.*web: listening on .* (port \([0-9]*\),.*/\1/p' "$TEST_TMP/daemon.log" | tail -n 1)
}
cat >"$TEST_TMP/leakprofd.yaml" <<YAML
listen: 127.0.0.1:0
database: $DB
scrape_interval: 1s
scrape_timeout: 1s
detector:
  window: 6h
  min_scrapes: 4
YAML
start_web "$TEST_TMP/leakprofd.yaml"
base=http://$listen
wait_for 20 curl -s -o /dev/null "$base/healthz"

# get PATH [CURL ARGS...]: body to $TEST_TMP/body, headers to $TEST_TMP/headers, prints the status code.
get() {
	_p=$1
	shift
	curl -s -o "$TEST_TMP/body" -D "$TEST_TMP/headers" -w '%{http_code}' "$@" "$base$_p"
}
# expect_status WANT PATH [CURL ARGS...]
expect_status() {
	_want=$1
	shift
	_got=$(get "$@")
	[ "$_got" = "$_want" ] || fail "GET $1: status $_got, want $_want; body: $(head -c 300 "$TEST_TMP/body")"
}
# jqt FILTER: fail unless FILTER is true for the last body.
jqt() {
	jq -e "$1" "$TEST_TMP/body" >/dev/null || fail "jq '$1' is not true for: $(head -c 600 "$TEST_TMP/body")"
}
header() {
	tr -d '\r' <"$TEST_TMP/headers" | grep -i "^$1:" | head -n 1 | cut -d' ' -f2-
}
# expect_error STATUS PATH WORD: a JSON {"error"} reply with STATUS that mentions WORD.
expect_error() {
	expect_status "$1" "$2"
	jqt '.error | type == "string"'
	jq -r .error "$TEST_TMP/body" | grep -qi -- "$3" || fail "GET $2: error does not name '$3': $(cat "$TEST_TMP/body")"
	case $(header content-type) in application/json*) ;; *) fail "GET $2: error is not JSON";; esac
}

probe='<script>alert(1)</script>'
probe_file='/src/app/"><img src=x onerror=alert(2)>.go'

echo "== health"
wait_for 10 curl -sf "$base/healthz"
expect_status 200 /healthz
jqt '.status == "ok" and .database.ok and .collector.ok'

echo "== suspects: schema of leakprofd suspects --json plus location_id"
expect_status 200 /api/v1/suspects
case $(header content-type) in application/json*) ;; *) fail "suspects: content type $(header content-type)";; esac
[ "$(header x-content-type-options)" = nosniff ] || fail "no X-Content-Type-Options: nosniff"
header content-security-policy | grep -q "default-src 'none'" || fail "no restrictive Content-Security-Policy"
jqt '(.generated_at | type == "string") and (.window_seconds | type == "number") and (.suspects | type == "array")'
jqt '.suspects | length >= 2'
jqt 'all(.suspects[]; (.rank | type == "number") and (.location_id | type == "number") and
	(.service | type == "string") and (.function | type == "string") and (.file | type == "string") and
	(.line | type == "number") and (.op | type == "string") and .score >= 0 and .score <= 1 and
	(.confirmed | type == "boolean") and (.current_count | type == "number") and
	(.max_instance_count | type == "number") and (.instances_growing | type == "number") and
	(.instances_total | type == "number") and (.growth_per_hour | type == "number") and
	.monotonicity >= 0 and .monotonicity <= 1 and
	(.oldest_wait_minutes == null or (.oldest_wait_minutes | type == "number")) and
	(.first_seen | type == "string") and (.explanation | type == "string") and (.stack | type == "array"))'
jqt '[.suspects[].rank] == ([.suspects[].rank] | sort)'
# The hostile names come back as the same strings, JSON-escaped, never altered.
jq -e --arg p "$probe" --arg f "$probe_file" 'any(.suspects[]; .function == $p and .file == $f)' \
	"$TEST_TMP/body" >/dev/null || fail "the XSS probe location is not in the suspects"
hostile=$(jq --arg p "$probe" '[.suspects[] | select(.function == $p)][0].location_id' "$TEST_TMP/body")

echo "== suspects: parameters"
expect_status 200 "/api/v1/suspects?service=svc-002"
jqt '(.suspects | length) >= 1 and all(.suspects[]; .service == "svc-002")'
expect_status 200 "/api/v1/suspects?limit=1"
jqt '.suspects | length == 1'
expect_error 404 "/api/v1/suspects?service=no-such-service" service
# A NUL byte cannot cut a parameter short ("x%00" must not read as "x", nor "%00x" as no filter at all).
expect_error 404 "/api/v1/suspects?service=%00x" service
expect_error 400 "/api/v1/suspects?window=1h%00x" window
# A window holding no scrape at all ranks nothing (and must not trip the detector over empty arrays).
expect_status 200 "/api/v1/suspects?window=1"
jqt '.window_seconds == 1 and (.suspects | length) == 0'
expect_error 400 "/api/v1/suspects?limit=0" limit
expect_error 400 "/api/v1/suspects?limit=ten" limit
expect_error 400 "/api/v1/suspects?window=6hours" window
expect_error 400 "/api/v1/suspects?window=999d" window
# A window other than the detector's (6 h: the stored ranking) recomputes the ranking over the stored samples,
# where only live instances count: the synthetic services' targets are not in this daemon's configuration, so
# their leaks rank no more (the location pages below still show them).
expect_status 200 "/api/v1/suspects?window=5h&service=svc-002"
jqt '.window_seconds == 18000 and (.suspects | length) == 0'

echo "== locations"
expect_status 200 "/api/v1/locations/$hostile"
jq -e --arg p "$probe" '.function == $p and .op == "chan send" and (.stack | length) == 2 and
	(.instances | length) == 20 and all(.instances[]; .count > 0 and (.target | startswith("http://")))
	and (.first_seen | type == "string") and (.last_seen | type == "string")' "$TEST_TMP/body" >/dev/null ||
	fail "location $hostile: $(head -c 600 "$TEST_TMP/body")"
jqt 'any(.suspects[]; .rank >= 1)'
expect_error 404 /api/v1/locations/999999 "not found"
expect_error 404 /api/v1/locations/abc location
expect_error 404 /api/v1/locations/1/nope "not found"

echo "== series"
expect_status 200 "/api/v1/locations/$hostile/series?window=1h&step=1m"
jqt '.step_seconds == 60 and (.timestamps | length) == 60 and (.total | length) == 60'
jqt 'all(.instances[]; (.values | length) == 60) and (.instances | length) == 20'
jqt '[.total[] | select(. != null)] | length >= 55'
jqt '.timestamps == (.timestamps | sort) and (.timestamps[1] - .timestamps[0]) == 60000'
expect_status 200 "/api/v1/locations/$hostile/series?window=2d"
jqt '(.timestamps | length) <= 240 and (.restarts | length) > 0'
expect_status 200 "/api/v1/locations/$hostile/series?service=svc-002"
jqt '.instances | length == 0'
expect_error 400 "/api/v1/locations/$hostile/series?window=30d&step=1s" step
expect_error 400 "/api/v1/locations/$hostile/series?step=-5" step
expect_error 400 "/api/v1/locations/$hostile/series?window=forever" window
expect_error 404 "/api/v1/locations/999999/series" "not found"

echo "== unknown paths and methods"
expect_error 404 /api/v1/nope "not found"
expect_error 404 /api/v2/suspects "not found"
for m in POST PUT DELETE PATCH; do
	expect_status 405 /api/v1/suspects -X "$m"
	header allow | grep -q "GET, HEAD" || fail "$m: no Allow: GET, HEAD"
	jqt '.error | test("method")'
done
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data 'x=1' "$base/")" = 405 ] || fail "POST / is not 405"
[ "$(curl -s -I -o /dev/null -w '%{http_code}' "$base/api/v1/suspects")" = 200 ] || fail "HEAD is not 200"
[ -z "$(curl -s -I "$base/api/v1/suspects" | tr -d '\r' | sed '1,/^$/d')" ] || fail "HEAD returned a body"
expect_status 404 /nope

echo "== HTML escaping"
expect_status 200 /
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$TEST_TMP/body" || fail "the probe is not escaped on /"
! grep -q '<script>alert' "$TEST_TMP/body" || fail "a raw <script> from the data reached /"
! grep -q '<img src=x' "$TEST_TMP/body" || fail "the file name broke out on /"
expect_status 200 "/locations/$hostile"
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$TEST_TMP/body" || fail "the probe is not escaped on the location page"
! grep -q '<script>alert\|<img src=x' "$TEST_TMP/body" || fail "raw markup from the data reached the location page"
expect_status 404 "/?service=%22%3E%3Cscript%3Ealert(3)%3C/script%3E&window=1h"
! grep -q '<script>alert(3)' "$TEST_TMP/body" || fail "a query parameter was reflected unescaped"

echo "== /metrics"
expect_status 200 /metrics
case $(header content-type) in text/plain*version=0.0.4*) ;; *) fail "metrics content type: $(header content-type)";; esac
grep -qF 'leakprofd_blocked_goroutines{service="svc-001",function="<script>alert(1)</script>",file="/src/app/\"><img src=x onerror=alert(2)>.go",line="43",op="chan send"}' \
	"$TEST_TMP/body" || fail "the probe's label values are not escaped per the text format"
for m in leakprofd_suspect_score leakprofd_scrapes_total leakprofd_scrape_duration_seconds \
	leakprofd_targets leakprofd_database_size_bytes leakprofd_ranking_duration_seconds; do
	grep -q "^# TYPE $m " "$TEST_TMP/body" || fail "/metrics has no $m"
done
# Every sample line is NAME{labels} VALUE with labels in the escaped form.
bad=$(grep -v '^#' "$TEST_TMP/body" |
	grep -Ev '^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$' || true)
[ -z "$bad" ] || fail "malformed /metrics lines: $bad"
# The database's services are in no configuration: no series of theirs (only services with a target in
# the configuration or target files are listed, so that /metrics stays bounded as fleets churn).
! grep -q '^leakprofd_targets{service="svc-001"' "$TEST_TMP/body" || fail "/metrics lists svc-001, a service no configuration names"

echo "== a reload adds the zoo"
cat >>"$TEST_TMP/leakprofd.yaml" <<YAML
services:
  - name: zoo
    targets: ["http://127.0.0.1:$zoo_port"]
YAML
kill -HUP "$DAEMON_PID"
zoo_up() {
	curl -sf "$base/api/v1/services" >"$TEST_TMP/body" &&
		jq -e '(.services[] | select(.name == "zoo") | .targets == 1 and .targets_up == 1)' "$TEST_TMP/body"
}
wait_for 20 zoo_up

echo "== services and targets"
expect_status 200 /api/v1/services
jqt '(.services | map(.name) | index("zoo")) != null'
jqt 'all(.services[]; (.targets | type == "number") and (.targets_up | type == "number") and
	(.labels | type == "object"))'
# The daemon marks the database's targets that are not in its config inactive: they no longer count, and
# a service left with none is no longer listed.
jqt '(.services | map(.name) | index("svc-001")) == null'
jqt '(.services[] | select(.name == "zoo") | .targets == 1 and .targets_up == 1)'
expect_status 200 /api/v1/targets
jqt 'all(.targets[]; (.service | type == "string") and (.url | type == "string") and (.up | type == "boolean")
	and (.consecutive_failures | type == "number"))'
# Only the targets of the current configuration, unless ?inactive=1 asks for those no longer in it.
jqt '(.targets | length) == 1 and .targets[0].active and .next == null'
expect_status 200 "/api/v1/targets?inactive=1"
jqt '(.targets | length) == 40 and all(.targets[]; .active | not)'

expect_status 200 /metrics
grep -q '^leakprofd_target_up' "$TEST_TMP/body" || fail "/metrics has no leakprofd_target_up"
s1=$(grep '^leakprofd_scrapes_total{service="zoo",result="success"}' "$TEST_TMP/body" | cut -d' ' -f2)
sleep 2.5
expect_status 200 /metrics
s2=$(grep '^leakprofd_scrapes_total{service="zoo",result="success"}' "$TEST_TMP/body" | cut -d' ' -f2)
[ "${s2:-0}" -gt "${s1:-0}" ] || fail "scrape counter of zoo did not grow: $s1 -> $s2"

echo "== phase 2: the daemon's own ranking of the zoo's leak"
curl -sf "http://127.0.0.1:$zoo_port/expected" >"$TEST_TMP/expected"
leakfn=$(jq -r '[.locations[] | select(.pattern == "early_return")][0].function' "$TEST_TMP/expected")
leakline=$(jq -r '[.locations[] | select(.pattern == "early_return")][0].line' "$TEST_TMP/expected")
zoo_ranked() {
	curl -sf "$base/api/v1/suspects?service=zoo" >"$TEST_TMP/body" &&
		jq -e --arg f "$leakfn" 'any(.suspects[]; .function == $f)' "$TEST_TMP/body"
}
wait_for 40 zoo_ranked
jq -e --arg f "$leakfn" --argjson l "$leakline" '.suspects[0].function == $f and .suspects[0].line == $l' \
	"$TEST_TMP/body" >/dev/null || fail "the zoo's leak is not #1 in its service: $(head -c 600 "$TEST_TMP/body")"
zid=$(jq '.suspects[0].location_id' "$TEST_TMP/body")
expect_status 200 "/api/v1/locations/$zid/series?window=5m&step=1s"
jqt '(.instances | length) == 1 and ([.total[] | select(. != null and . > 0)] | length) >= 4'
expect_status 200 "/api/v1/locations/$zid"
jqt '(.instances | length) == 1 and .instances[0].count > 0'
# A recomputed window ranks the live zoo's leak the same way.
expect_status 200 "/api/v1/suspects?window=5h&service=zoo"
jq -e --arg f "$leakfn" 'any(.suspects[]; .function == $f)' "$TEST_TMP/body" >/dev/null ||
	fail "the recomputed ranking lost the zoo's leak: $(head -c 600 "$TEST_TMP/body")"

echo "== auth, applied by a reload"
printf 's3cret-token\n' >"$TEST_TMP/token"
printf 'pa:ss word\n' >"$TEST_TMP/password"
cat >>"$TEST_TMP/leakprofd.yaml" <<YAML
web:
  auth:
    bearer_token_file: $TEST_TMP/token
    basic_auth:
      username: admin
      password_file: $TEST_TMP/password
YAML
kill -HUP "$DAEMON_PID"
wait_for 10 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $base/api/v1/suspects)\" = 401 ]"
expect_error 401 /api/v1/suspects authentication
header www-authenticate | grep -q Bearer || fail "401 without a Bearer challenge"
tr -d '\r' <"$TEST_TMP/headers" | grep -qi '^www-authenticate: basic' || fail "401 without a Basic challenge"
expect_status 401 / -H "Authorization: Bearer wrong"
expect_status 401 /metrics -H "Authorization: Bearer s3cret-tokenX"
expect_status 401 / -u "admin:wrong"
expect_status 401 / -u "root:pa:ss word"
expect_status 200 /api/v1/suspects -H "Authorization: Bearer s3cret-token"
expect_status 200 /metrics -H "Authorization: Bearer s3cret-token"
expect_status 200 / -u "admin:pa:ss word"
expect_status 200 /healthz
daemon_alive
stop_daemon

echo "== TLS"
command -v openssl >/dev/null || skip "openssl is not installed (every other check passed)"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$TEST_TMP/key.pem" -out "$TEST_TMP/cert.pem" 2>/dev/null
cat >"$TEST_TMP/tls.yaml" <<YAML
listen: 127.0.0.1:0
database: $DB
scrape_interval: 1s
scrape_timeout: 1s
web:
  tls:
    cert_file: $TEST_TMP/cert.pem
    key_file: $TEST_TMP/key.pem
YAML
start_web "$TEST_TMP/tls.yaml"
wait_for 20 curl -sk -o /dev/null "https://$listen/healthz"
[ "$(curl -s --cacert "$TEST_TMP/cert.pem" -o /dev/null -w '%{http_code}' "https://$listen/api/v1/suspects")" = 200 ] ||
	fail "no 200 over TLS"
! curl -s -o /dev/null "http://$listen/healthz" || fail "plain HTTP answered on the TLS port"
stop_daemon

echo "== connection limit and idle timeout"
cat >"$TEST_TMP/limits.yaml" <<YAML
listen: 127.0.0.1:0
database: $DB
scrape_interval: 1s
scrape_timeout: 1s
web:
  max_connections: 4
  request_timeout: 2s
YAML
start_web "$TEST_TMP/limits.yaml"
wait_for 20 curl -s -o /dev/null "http://$listen/healthz"
# Four clients connect and send nothing: they hold every connection until the idle timeout closes them.
holders=""
for i in 1 2 3 4; do
	bg sh -c "sleep 30 | curl -s telnet://$listen >/dev/null 2>&1"
	holders="$holders $BG_PID"
done
sleep 0.7
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$listen/healthz" || true)
[ "$code" != 200 ] || fail "a fifth connection was served over max_connections 4"
# The idle ones are closed after request_timeout (2 s), and the server answers again.
wait_for 6 curl -sf -o /dev/null --max-time 1 "http://$listen/healthz"
stop_daemon
echo "ok"
