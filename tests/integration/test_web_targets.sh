#!/bin/sh
# suite: long
# tests/integration/test_web_targets.sh: the target lists page through a fleet instead of listing every target
# ever seen, and /metrics stays bounded. A real daemon scrapes 250 file_sd targets (3 real Go services, the rest
# closed ports on 127.0.0.x) of two services:
# - /api/v1/targets answers 100 at a time; following "next" walks every active target once, in id order, and a
#   target added to the file between two pages shows on a later one without shifting the others;
# - ?service=, ?status= (up, down, a status prefix), ?inactive=1 (targets retired from the file) filter, and bad
#   parameters are 400s naming them;
# - /targets shows the failing targets first, a page of all, and a link to the next page, which serves the next;
# - /metrics has no per-target series past metrics.per_target_max (and says so), and has them again once a
#   reload raises the bound.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
for t in curl jq sqlite3; do command -v $t >/dev/null || skip "$t is not installed"; done

DB=$TEST_TMP/leakprofd.db
CFG=$TEST_TMP/leakprofd.yaml
listen=$(free_listen)
base=http://$listen
closed=$(free_port)
mkdir -p "$TEST_TMP/sd"
start_go z1 zoo -benign pool -pool-size 20
start_go z2 zoo -benign pool -pool-size 20
start_go z3 zoo -benign pool -pool-size 20

# write_targets FIRST LAST: the target file: the 3 Go services in svc-a, then closed ports 127.0.0.I for I in
# FIRST..LAST, odd I in svc-a, even I in svc-b (written through a rename, as tools write them).
write_targets() {
	{
		printf '[{"labels": {"service": "svc-a"}, "targets": ["127.0.0.1:%s", "127.0.0.1:%s", "127.0.0.1:%s"' \
			"$z1_port" "$z2_port" "$z3_port"
		i=$1
		while [ "$i" -le "$2" ]; do
			[ $((i % 2)) = 1 ] && printf ', "127.0.%d.%d:%s"' $((i / 250)) $((i % 250 + 2)) "$closed"
			i=$((i + 1))
		done
		printf ']}, {"labels": {"service": "svc-b"}, "targets": ["127.9.9.9:%s"' "$closed"
		i=$1
		while [ "$i" -le "$2" ]; do
			[ $((i % 2)) = 0 ] && printf ', "127.0.%d.%d:%s"' $((i / 250)) $((i % 250 + 2)) "$closed"
			i=$((i + 1))
		done
		printf ']}]\n'
	} >"$TEST_TMP/sd/targets.json.tmp"
	mv "$TEST_TMP/sd/targets.json.tmp" "$TEST_TMP/sd/targets.json"
}
# write_config PER_TARGET_MAX
write_config() {
	cat >"$CFG.tmp" <<YAML
listen: $listen
database: $DB
scrape_interval: 2s
scrape_timeout: 1s
target_files: ["$TEST_TMP/sd/*.json"]
metrics:
  per_target_max: $1
YAML
	mv "$CFG.tmp" "$CFG"
}
# 3 + 246 + 1 = 250 targets.
write_targets 1 246
write_config 100
start_daemon --config "$CFG"
wait_for 20 curl -sf -o /dev/null "$base/healthz"

# get PATH: the body to $TEST_TMP/body, prints the status code.
get() {
	curl -s -o "$TEST_TMP/body" -w '%{http_code}' "$base$1"
}
# expect PATH JQ: GET PATH answers 200 and JQ is true of its body.
expect() {
	_code=$(get "$1")
	[ "$_code" = 200 ] || fail "GET $1: status $_code: $(head -c 300 "$TEST_TMP/body")"
	jq -e "$2" "$TEST_TMP/body" >/dev/null || fail "GET $1: '$2' is not true of: $(head -c 600 "$TEST_TMP/body")"
}
# count PATH: how many targets one page of PATH lists.
count() {
	get "$1" >/dev/null
	jq '.targets | length' "$TEST_TMP/body"
}
# walk QUERY: follow "next" from the first page of /api/v1/targets?QUERY; every listed id to $TEST_TMP/ids, one a
# line, and the number of pages to $TEST_TMP/pages.
walk() {
	: >"$TEST_TMP/ids"
	_after= _pages=0
	while :; do
		expect "/api/v1/targets?$1$_after" '.targets | type == "array"'
		jq -r '.targets[].id' "$TEST_TMP/body" >>"$TEST_TMP/ids"
		_pages=$((_pages + 1))
		_next=$(jq -r '.next' "$TEST_TMP/body")
		[ "$_next" != null ] || break
		[ "$_next" = "$(jq -r '.targets[-1].id' "$TEST_TMP/body")" ] || fail "next $_next is not the page's last id"
		_after="&after=$_next"
	done
	echo "$_pages" >"$TEST_TMP/pages"
}
# in_order: the ids walked are increasing, each once.
in_order() {
	sort -n -u "$TEST_TMP/ids" | cmp -s - "$TEST_TMP/ids" || fail "the pages repeat or reorder targets"
}
all_scraped() {
	[ "$(count '/api/v1/targets?status=unknown&limit=1000')" = 0 ] &&
		[ "$(count '/api/v1/targets?limit=1000')" = 250 ]
}
wait_for 60 all_scraped

echo "== pages of /api/v1/targets"
expect /api/v1/targets '(.targets | length) == 100 and (.next | type) == "number"'
expect /api/v1/targets 'all(.targets[]; has("service") and has("url") and has("active") and has("up") and
	has("status") and has("error") and has("last_scrape") and has("last_success") and has("duration_ms") and
	has("bytes") and has("goroutines") and has("consecutive_failures"))'
walk "limit=100"
assert_eq "targets walked" "$(wc -l <"$TEST_TMP/ids")" 250
assert_eq "pages" "$(cat "$TEST_TMP/pages")" 3
in_order
walk "limit=7"
assert_eq "targets walked 7 at a time" "$(wc -l <"$TEST_TMP/ids")" 250
assert_eq "pages of 7" "$(cat "$TEST_TMP/pages")" 36
in_order

echo "== filters"
assert_eq "up" "$(count '/api/v1/targets?status=up')" 3
expect "/api/v1/targets?status=up" "[.targets[].url] | sort == ([\"http://127.0.0.1:$z1_port\",
	\"http://127.0.0.1:$z2_port\", \"http://127.0.0.1:$z3_port\"] | sort)"
walk "status=down&limit=100"
assert_eq "down" "$(wc -l <"$TEST_TMP/ids")" 247
walk "status=connect%20ref&limit=100"
assert_eq "failing with 'connect ref...'" "$(wc -l <"$TEST_TMP/ids")" 247
assert_eq "failing with 'http'" "$(count '/api/v1/targets?status=http')" 0
expect "/api/v1/targets?service=svc-b&limit=1000" '(.targets | length) == 124 and all(.targets[]; .service == "svc-b")'
assert_eq "svc-a up" "$(count '/api/v1/targets?service=svc-a&status=up')" 3
for bad in "limit=0:limit" "limit=1001:limit" "after=-3:after" "inactive=yes:inactive"; do
	code=$(get "/api/v1/targets?${bad%%:*}")
	assert_eq "GET ?${bad%%:*}" "$code" 400
	jq -e --arg p "${bad#*:}:" '.error | startswith($p)' "$TEST_TMP/body" >/dev/null ||
		fail "?${bad%%:*}: the error does not name ${bad#*:}: $(cat "$TEST_TMP/body")"
done
assert_eq "unknown service" "$(get '/api/v1/targets?service=nosuch')" 404

echo "== a target added between two pages"
expect "/api/v1/targets?limit=100" '.targets | length == 100'
first=$(jq -r '.targets[].id' "$TEST_TMP/body")
after=$(jq -r '.next' "$TEST_TMP/body")
write_targets 1 256
wait_for 30 sh -c "[ \"\$(curl -s '$base/api/v1/targets?limit=1000' | jq '.targets | length')\" = 260 ]"
printf '%s\n' "$first" >"$TEST_TMP/ids"
_after="&after=$after"
while :; do
	expect "/api/v1/targets?limit=100$_after" '.targets | type == "array"'
	jq -r '.targets[].id' "$TEST_TMP/body" >>"$TEST_TMP/ids"
	_next=$(jq -r '.next' "$TEST_TMP/body")
	[ "$_next" != null ] || break
	_after="&after=$_next"
done
assert_eq "targets over the pages" "$(wc -l <"$TEST_TMP/ids")" 260
in_order

echo "== retired targets"
write_targets 21 256
wait_for 30 sh -c "[ \"\$(curl -s '$base/api/v1/targets?limit=1000' | jq '.targets | length')\" = 240 ]"
expect "/api/v1/targets?inactive=1" '(.targets | length) == 20 and all(.targets[]; .active == false)'
expect "/api/v1/targets?inactive=1&service=svc-b" '(.targets | length) == 10'

echo "== the targets page"
curl -sf -o "$TEST_TMP/targets.html" "$base/targets" || fail "GET /targets failed"
grep -q '<h2>Failing</h2>' "$TEST_TMP/targets.html" || fail "no failing targets listed first"
grep -q 'the first 20; all of them' "$TEST_TMP/targets.html" || fail "no link to all the failing targets"
rows=$(grep -c '<tr class="[a-z]*"><td><span class="dot' "$TEST_TMP/targets.html")
assert_eq "rows: 20 failing and a page of 100" "$rows" 120
href=$(sed -n 's/.*<a rel="next" href="\([^"]*\)">.*/\1/p' "$TEST_TMP/targets.html" | sed 's/&amp;/\&/g')
case $href in /targets\?after=[0-9]*) ;; *) fail "no link to the next page: '$href'";; esac
curl -sf -o "$TEST_TMP/targets2.html" "$base$href" || fail "GET $href failed"
grep -q '← first page' "$TEST_TMP/targets2.html" || fail "page 2 has no link back to the first"
! grep -q '<h2>Failing</h2>' "$TEST_TMP/targets2.html" || fail "page 2 lists the failing targets again"
grep -o 'class="mono">[^<]*<' "$TEST_TMP/targets.html" | tail -n 100 >"$TEST_TMP/p1"
grep -o 'class="mono">[^<]*<' "$TEST_TMP/targets2.html" >"$TEST_TMP/p2"
assert_eq "page 2 rows" "$(wc -l <"$TEST_TMP/p2")" 100
[ -z "$(sort "$TEST_TMP/p1" "$TEST_TMP/p2" | uniq -d)" ] || fail "page 2 repeats targets of page 1"
curl -sf -o "$TEST_TMP/svc.html" "$base/targets?service=svc-b&status=up" || fail "GET /targets?service= failed"
grep -q 'No targets match.' "$TEST_TMP/svc.html" || fail "svc-b has no target up, the page lists some"
assert_eq "GET /targets?limit=5000" "$(curl -s -o /dev/null -w '%{http_code}' "$base/targets?limit=5000")" 400

echo "== /metrics past metrics.per_target_max"
curl -sf -o "$TEST_TMP/metrics" "$base/metrics" || fail "GET /metrics failed"
grep -q '^leakprofd_target_series_suppressed 1$' "$TEST_TMP/metrics" || fail "no suppression gauge at 240 > 100"
! grep -q '^leakprofd_target_up{' "$TEST_TMP/metrics" || fail "per-target series past the bound"
grep -q '^leakprofd_targets{service="svc-a",state="up"} 3$' "$TEST_TMP/metrics" || fail "no per-service summary"
write_config 1000
kill -HUP "$DAEMON_PID"
has_target_series() {
	curl -sf -o "$TEST_TMP/metrics" "$base/metrics" && grep -q '^leakprofd_target_series_suppressed 0$' "$TEST_TMP/metrics"
}
wait_for 20 has_target_series
assert_eq "leakprofd_target_up series" "$(grep -c '^leakprofd_target_up{' "$TEST_TMP/metrics")" 240
assert_eq "targets up" "$(grep -c '^leakprofd_target_up{.*} 1$' "$TEST_TMP/metrics")" 3
daemon_alive
stop_daemon TERM
echo "ok"
