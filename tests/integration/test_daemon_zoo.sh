#!/bin/sh
# The daemon scrapes several real Go services (build/go/zoo) every second into a real SQLite file: the database
# holds, per location, exactly the blocked counts each service reports at /expected (in the format each service
# is scraped with), series grow for rate-leaking locations and stay flat for an idle pool.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
DB=$TEST_TMP/leakprofd.db

# a: start counts only (exact once settled), scraped as proto (debug=0)
start_go a zoo -leak early_return=5,waitgroup=7,mutex=3,nil_recv=4 -benign pool -pool-size 50
# b: two patterns leaking 2 and 3 goroutines a second next to an idle pool of 100, proto
start_go b zoo -leak timeout=2,ncast=3 -leak-count 0 -leak-rate 2 -benign pool -pool-size 100
# c: start counts only, scraped as debug=2 (ops refined from the stack) and d the same as debug=1
start_go c zoo -leak select_forever=9,cond=2,range_unclosed=11,rwmutex=6
start_go d zoo -leak early_return=8,cond=5

cat >"$TEST_TMP/leakprofd.yaml" <<EOF
listen: $(free_listen)
database: $DB
scrape_interval: 1s
scrape_timeout: 1s
services:
  - name: alpha
    targets: ["http://127.0.0.1:$a_port"]
    labels: {team: a}
  - name: beta
    targets: ["http://127.0.0.1:$b_port"]
    detail_every: 0
  - name: gamma
    targets: ["http://127.0.0.1:$c_port"]
    format: debug=2
  - name: delta
    targets: ["http://127.0.0.1:$d_port"]
    format: debug=1
    detail_every: 0
EOF
wait_for 20 sh -c "curl -sf http://127.0.0.1:$a_port/expected | jq -e .settled"
wait_for 20 sh -c "curl -sf http://127.0.0.1:$c_port/expected | jq -e .settled"
wait_for 20 sh -c "curl -sf http://127.0.0.1:$d_port/expected | jq -e .settled"

start_daemon --config "$TEST_TMP/leakprofd.yaml"
for p in $a_port $b_port $c_port $d_port; do
	wait_for 30 has_ok_scrapes "http://127.0.0.1:$p" 6
done
daemon_alive

# check_exact NAME PORT OPFIELD: every location at /expected has exactly its count in the latest ok scrape.
check_exact() {
	curl -sf "http://127.0.0.1:$2/expected" >"$TEST_TMP/$1.expected"
	last=$(sq "SELECT max(s.id) FROM scrapes s JOIN targets t ON t.id = s.target_id
	    WHERE t.url = 'http://127.0.0.1:$2' AND s.status = 'ok' AND s.detail = 0")
	[ -n "$last" ] || fail "$1: no ok scrape stored"
	n=$(jq '.locations | length' "$TEST_TMP/$1.expected")
	[ "$n" -gt 0 ] || fail "$1: /expected lists no location"
	i=0
	while [ $i -lt "$n" ]; do
		fn=$(jq -r ".locations[$i].function" "$TEST_TMP/$1.expected")
		file=$(jq -r ".locations[$i].file" "$TEST_TMP/$1.expected")
		line=$(jq -r ".locations[$i].line" "$TEST_TMP/$1.expected")
		op=$(jq -r ".locations[$i].$3" "$TEST_TMP/$1.expected")
		want=$(jq -r ".locations[$i].count" "$TEST_TMP/$1.expected")
		got=$(sq "SELECT coalesce(sum(sa.count), 0) FROM samples sa JOIN locations l ON l.id = sa.location_id
		    WHERE sa.scrape_id = $last AND l.function = $(sql_quote "$fn") AND l.file = $(sql_quote "$file")
		    AND l.line = $line AND l.op = $(sql_quote "$op")")
		assert_eq "$1: $fn $file:$line [$op] in scrape $last" "$got" "$want"
		i=$((i + 1))
	done
	echo "$1: $n locations exact"
}
check_exact alpha "$a_port" op_proto
check_exact gamma "$c_port" op_debug2
check_exact delta "$d_port" op_debug1

# alpha's labels and the stored formats
assert_eq "alpha labels" "$(sq "SELECT labels FROM services WHERE name = 'alpha'")" '{"team":"a"}'
assert_eq "alpha format" "$(sq "SELECT DISTINCT format FROM scrapes s JOIN targets t ON t.id = s.target_id
    WHERE t.url = 'http://127.0.0.1:$a_port' AND s.status = 'ok' AND s.detail = 0")" proto
assert_eq "gamma format" "$(sq "SELECT DISTINCT format FROM scrapes s JOIN targets t ON t.id = s.target_id
    WHERE t.url = 'http://127.0.0.1:$c_port' AND s.status = 'ok'")" debug=2
assert_eq "delta format" "$(sq "SELECT DISTINCT format FROM scrapes s JOIN targets t ON t.id = s.target_id
    WHERE t.url = 'http://127.0.0.1:$d_port' AND s.status = 'ok'")" debug=1

# series of one location of beta, oldest first, one value per ok scrape (0 where absent)
series() {
	sq "SELECT coalesce((SELECT sa.count FROM samples sa JOIN locations l ON l.id = sa.location_id
	    WHERE sa.scrape_id = s.id AND l.function = $(sql_quote "$1")), 0)
	    FROM scrapes s JOIN targets t ON t.id = s.target_id
	    WHERE t.url = 'http://127.0.0.1:$b_port' AND s.status = 'ok' AND s.detail = 0 ORDER BY s.ts" | tr '\n' ' '
}
for fn in main.timeoutWorker main.ncastSender; do
	s=$(series "$fn")
	echo "beta $fn: $s"
	prev=-1 first= last=
	for v in $s; do
		[ "$v" -ge "$prev" ] || fail "beta $fn went down: $s"
		prev=$v
		[ -n "$first" ] || first=$v
		last=$v
	done
	[ "$last" -ge $((first + 8)) ] || fail "beta $fn did not grow by 8 or more: $s"
done
s=$(series main.poolWorker)
echo "beta main.poolWorker: $s"
for v in $s; do assert_eq "beta pool count" "$v" 100; done

# targets table: every target ok, never failing
assert_eq "targets not ok" "$(sq "SELECT count(*) FROM targets WHERE last_status <> 'ok' OR consecutive_failures <> 0")" 0
assert_eq "targets" "$(sq "SELECT count(*) FROM targets WHERE active = 1")" 4
stop_daemon TERM
grep -q "stopped" "$TEST_TMP/daemon.log" || fail "no 'stopped' line in the log"
assert_eq "integrity" "$(sq 'PRAGMA integrity_check')" ok
echo "ok"
