#!/bin/sh
# tests/browser/test_dashboard.sh: the dashboard in real headless Chromium, against the real daemon serving the
# synthetic database of tests/bench/web_gendb.sh (which holds a location whose function is
# "<script>alert(1)</script>" and whose file name tries to break out of an attribute; its stored ranking is served
# while no target is configured, as the daemon would not rank the synthetic services it does not scrape), then,
# after a reload, scraping a leaking zoo next to it.
# Each page is loaded twice: --dump-dom (the DOM after app.js ran) for the assertions, --screenshot at 1280×800
# for review, saved under $LEAKPROFD_TEST_OUT/screenshots/.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../integration/daemon_lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
for t in curl jq sqlite3; do command -v $t >/dev/null || skip "$t is not installed"; done
chrome=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chrome" ] || skip "chromium is not installed"
shots=$LEAKPROFD_TEST_OUT/screenshots
mkdir -p "$shots"

DB=$TEST_TMP/web.db
sh "$root/tests/bench/web_gendb.sh" "$DB" 40 13 60
start_go zoo zoo -leak early_return,timeout -leak-count 5 -leak-rate 4 -benign pool,ticker_select -pool-size 300
cat >"$TEST_TMP/leakprofd.yaml" <<YAML
listen: 127.0.0.1:0
database: $DB
scrape_interval: 1s
scrape_timeout: 1s
YAML
start_daemon --config "$TEST_TMP/leakprofd.yaml"
wait_for 20 grep -q "web: listening on" "$TEST_TMP/daemon.log"
base=http://127.0.0.1:$(sed -n 's/.*web: listening on .* (port \([0-9]*\),.*/\1/p' "$TEST_TMP/daemon.log" | tail -n 1)
wait_for 20 curl -sf -o /dev/null "$base/healthz"

# browse NAME PATH [EXTRA CHROMIUM FLAGS]: screenshot to $shots/NAME.png and the DOM to $TEST_TMP/NAME.html.
browse() {
	_name=$1 _path=$2
	shift 2
	set -- --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
		--disable-component-update --disable-sync --user-data-dir="$TEST_TMP/chrome-$_name" \
		--window-size=1280,800 --hide-scrollbars "$@"
	timeout 60 "$chrome" "$@" --dump-dom "$base$_path" >"$TEST_TMP/$_name.html" 2>"$TEST_TMP/chrome.log" ||
		fail "chromium could not load $_path: $(tail -n 5 "$TEST_TMP/chrome.log")"
	rm -f "$shots/$_name.png"
	timeout 60 "$chrome" "$@" --screenshot="$shots/$_name.png" "$base$_path" >/dev/null 2>>"$TEST_TMP/chrome.log" ||
		fail "chromium could not screenshot $_path"
	[ -s "$shots/$_name.png" ] || fail "no screenshot of $_path"
	# app.js ran (the CSP allowed it) and marked the document.
	grep -q 'data-js="ready"' "$TEST_TMP/$_name.html" || fail "$_path: app.js did not run"
}
# no_injection NAME: the only script element is app.js and the probe's <img onerror> never became an element.
no_injection() {
	n=$(grep -o '<script' "$TEST_TMP/$1.html" | wc -l)
	[ "$n" = 1 ] || fail "$1: $n script elements in the DOM"
	! grep -q '<img src="x"' "$TEST_TMP/$1.html" || fail "$1: the file name injected an element"
}

echo "== the stored ranking, with the probe"
hostile=$(curl -sf "$base/api/v1/suspects" | jq '[.suspects[] | select(.function == "<script>alert(1)</script>")][0].location_id')
[ "$hostile" != null ] || fail "the probe location is not ranked"
browse suspects-probe /
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$TEST_TMP/suspects-probe.html" || fail "the probe is not shown as text"
no_injection suspects-probe
browse location-probe "/locations/$hostile?window=2d"
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$TEST_TMP/location-probe.html" || fail "the probe is not text"
grep -q '<line class="restart"' "$TEST_TMP/location-probe.html" || fail "restarts are not marked"
no_injection location-probe

echo "== a reload adds the zoo"
cat >>"$TEST_TMP/leakprofd.yaml" <<YAML
services:
  - name: zoo
    targets: ["http://127.0.0.1:$zoo_port"]
  - name: gone
    targets: ["http://127.0.0.1:$(free_port)"]
YAML
kill -HUP "$DAEMON_PID"
# Wait for the daemon's own ranking to put the zoo's leaks on top.
curl -sf "http://127.0.0.1:$zoo_port/expected" >"$TEST_TMP/expected"
file=$(jq -r '[.locations[] | select(.pattern == "early_return")][0].file' "$TEST_TMP/expected")
line=$(jq -r '[.locations[] | select(.pattern == "early_return")][0].line' "$TEST_TMP/expected")
fn=$(jq -r '[.locations[] | select(.pattern == "early_return")][0].function' "$TEST_TMP/expected")
ranked() {
	curl -sf "$base/api/v1/suspects?service=zoo" >"$TEST_TMP/s.json" &&
		jq -e --arg f "$fn" 'any(.suspects[]; .function == $f)' "$TEST_TMP/s.json"
}
wait_for 40 ranked
zid=$(jq --arg f "$fn" '[.suspects[] | select(.function == $f)][0].location_id' "$TEST_TMP/s.json")

echo "== suspects page"
browse suspects /
# The leak's row: its file:line, a link to its location page and a drawn sparkline.
row=$(grep -F "$file:$line" "$TEST_TMP/suspects.html" || true)
[ -n "$row" ] || fail "the leak's $file:$line is not in the suspects table"
echo "$row" | grep -q "href=\"/locations/$zid?service=zoo\"" || fail "the leak's row does not link to its location"
echo "$row" | grep -Eq '<svg class="spark"[^>]*><path d="M[0-9.]+ [0-9.]+(L[0-9.]+ [0-9.]+)+"' ||
	fail "the leak's row has no sparkline: $row"
no_injection suspects
browse suspects-zoo "/?service=zoo&window=1h"
grep -qF "$file:$line" "$TEST_TMP/suspects-zoo.html" || fail "the recomputed ranking lost the leak"
grep -q '<option value="1h" selected' "$TEST_TMP/suspects-zoo.html" || fail "the window picker lost its value"
browse suspects-dark / --force-dark-mode --blink-settings=preferredColorScheme=0

echo "== location pages"
browse location "/locations/$zid?service=zoo&window=5m"
grep -q '<svg class="chart"' "$TEST_TMP/location.html" || fail "no chart on the location page"
grep -Eq '<path class="total" d="M[0-9.]+ [0-9.]+(L[0-9.]+ [0-9.]+){3,}' "$TEST_TMP/location.html" ||
	fail "the chart's total line is not drawn"
grep -Eq '<path class="inst c0" d="M' "$TEST_TMP/location.html" || fail "the chart has no instance line"
grep -qF "$fn" "$TEST_TMP/location.html" || fail "the location page does not name the function"
grep -q 'id="issue-text"' "$TEST_TMP/location.html" || fail "no issue text block"
grep -qF "$file:$line" "$TEST_TMP/location.html" || fail "the issue text lacks file:line"

echo "== targets and alerts"
browse targets /targets
grep -q "127.0.0.1:$zoo_port" "$TEST_TMP/targets.html" || fail "the zoo target is not listed"
# Failing targets come first: the first row of the targets table is a failing one.
first=$(grep -o '<tr class="[a-z]*"><td><span class="dot [a-z]*">' "$TEST_TMP/targets.html" | head -n 1)
echo "$first" | grep -q 'failing' || fail "failing targets are not listed first: $first"
browse alerts /alerts
grep -q '<h1>Alerts</h1>' "$TEST_TMP/alerts.html" || fail "no alerts page"
browse notfound /locations/999999
grep -q 'No such location' "$TEST_TMP/notfound.html" || fail "no 404 page"

daemon_alive
stop_daemon
echo "ok: screenshots in $shots"
