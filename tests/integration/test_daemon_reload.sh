#!/bin/sh
# SIGHUP: a valid new config is applied (targets added and removed, the database marks removed ones inactive);
# a broken one is refused with every error logged (file, line, key) and the daemon keeps scraping on the old
# one; target files are picked up, re-read when they change, and a broken one keeps its previous targets; a key
# that takes effect only at start is named when a reload changes it, and the running value stays.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
DB=$TEST_TMP/leakprofd.db
CFG=$TEST_TMP/leakprofd.yaml
LISTEN=$(free_listen)

start_go a zoo -leak early_return=2
start_go b zoo -leak waitgroup=3
start_go c zoo -leak mutex=4
A=http://127.0.0.1:$a_port B=http://127.0.0.1:$b_port C=http://127.0.0.1:$c_port

write_config() {    # write_config SERVICES_YAML [EXTRA_YAML]
	printf 'listen: %s\ndatabase: %s\nscrape_interval: 1s\nscrape_timeout: 1s\n%s\nservices:\n%s\n' \
	    "$LISTEN" "$DB" "${2:-}" "$1" >"$CFG.tmp"
	mv "$CFG.tmp" "$CFG"
}
logged() {
	grep -q "$1" "$TEST_TMP/daemon.log"
}

write_config "  - {name: a, targets: [\"$A\"], detail_every: 0}"
start_daemon --config "$CFG"
wait_for 20 has_ok_scrapes "$A" 2
assert_eq "b before reload" "$(ok_scrapes "$B")" 0

# A valid config: b added, and c through a target file.
echo "[{\"targets\": [\"127.0.0.1:$c_port\"], \"labels\": {\"service\": \"c\", \"team\": \"sd\"}}]" \
	>"$TEST_TMP/targets.json"
write_config "  - {name: a, targets: [\"$A\"], detail_every: 0}
  - {name: b, targets: [\"$B\"], detail_every: 0}" "target_files: [\"$TEST_TMP/*.json\"]"
kill -HUP "$DAEMON_PID"
wait_for 20 has_ok_scrapes "$B" 2
wait_for 20 has_ok_scrapes "$C" 2
wait_for 5 logged "configuration '$CFG' loaded: 3 targets"
assert_eq "c labels" "$(sq "SELECT labels FROM services WHERE name = 'c'")" '{"service":"c","team":"sd"}'

# A broken config: two errors, both logged with their line; the old config stays in force.
write_config "  - {name: a, targets: [\"$A\"], detail_every: 0, colour: blue}
  - {name: b, targets: [\"$B\"], detail_every: 0}" "scrape_timeout: soon"
na=$(ok_scrapes "$A")
nb=$(ok_scrapes "$B")
kill -HUP "$DAEMON_PID"
wait_for 10 logged "keeping the running one"
logged "$CFG:[0-9]*: .*colour" || fail "the unknown key was not logged with its line"
logged "$CFG:[0-9]*: .*scrape_timeout" || fail "the bad duration was not logged with its line"
wait_for 20 has_ok_scrapes "$A" $((na + 3))
wait_for 20 has_ok_scrapes "$B" $((nb + 3))
daemon_alive

# A broken target file keeps its targets; the daemon keeps scraping c.
echo '[{"targets": ["127.0.0.1:1"' >"$TEST_TMP/targets.json"
nc=$(ok_scrapes "$C")
wait_for 15 logged "targets:.*targets.json"
wait_for 20 has_ok_scrapes "$C" $((nc + 3))

# A config without b and without target files: b and c become inactive, no longer scraped.
write_config "  - {name: a, targets: [\"$A\"], detail_every: 0}"
kill -HUP "$DAEMON_PID"
wait_for 10 logged "configuration '$CFG' loaded: 1 targets"
assert_eq "active targets" "$(sq "SELECT group_concat(url) FROM targets WHERE active = 1")" "$A"
sleep 2
nb=$(ok_scrapes "$B")
sleep 2
assert_eq "b after removal" "$(ok_scrapes "$B")" "$nb"
# Keys that take effect only at start: named in the log, the running value kept (the same listener answers).
write_config "  - {name: a, targets: [\"$A\"], detail_every: 0}" "max_concurrent_scrapes: 7"
sed -i "s|^listen: .*|listen: 127.0.0.1:1|" "$CFG"
kill -HUP "$DAEMON_PID"
wait_for 10 logged "config: listen changed: takes effect after restart"
logged "config: max_concurrent_scrapes changed: takes effect after restart" ||
	fail "a changed max_concurrent_scrapes was not named"
logged "config: scrape_interval changed" && fail "a reloadable key was named as needing a restart"
curl -sf -o /dev/null "http://$LISTEN/healthz" || fail "the running listener stopped answering after the reload"
stop_daemon INT
assert_eq "integrity" "$(sq 'PRAGMA integrity_check')" ok
echo "ok"
