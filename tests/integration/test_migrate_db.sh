#!/bin/sh
# tests/integration/test_migrate_db.sh: `leakprofd migrate-db` with the real binary, from a database the daemon
# wrote while scraping a real Go service into a real PostgreSQL server (LEAKPROFD_PG_URI, as make integration
# names it through tests/pg/with_pg.sh; without it the test starts a server of its own with tests/pg/pg_start.sh).
# - Every table's row count and a few values are the same in both (read with sqlite3 and psql); the run says so
#   on stderr, table by table; run again, it copies nothing and verifies again.
# - A copy killed with SIGKILL part-way through a larger history, or whose server connection is ended, goes on
#   where it stopped when run again, and ends with every row once.
# - A target holding another file's copy, or a daemon's own rows, is refused (exit 1, the reason named); so is a
#   missing file.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$LEAKPROFD_BIN
[ "${LEAKPROFD_PG:-}" = off ] && skip "LEAKPROFD_PG=off leaves PostgreSQL out"
[ -x "$LEAKPROFD_GO_BIN/zoo" ] || skip "build/go/zoo is not built (make go)"
for t in sqlite3 psql; do command -v $t >/dev/null || skip "$t is not installed"; done

if [ -z "${LEAKPROFD_PG_URI:-}" ]; then
	pgstate=$TEST_TMP/pg
	trap 'cleanup_bg; sh "$root/tests/pg/pg_stop.sh" "$pgstate"' EXIT
	LEAKPROFD_PG_URI=$(sh "$root/tests/pg/pg_start.sh" "$pgstate") || fail "no PostgreSQL server started"
fi
base=${LEAKPROFD_PG_URI%/*}
dbs=""

# newdb NAME: create database NAME (dropped at the end) and print its URI.
newdb() {
	psql "$LEAKPROFD_PG_URI" -qAt -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1" \
		-c "CREATE DATABASE $1" >/dev/null
	dbs="$dbs $1"
	echo "$base/$1"
}
dropdbs() {
	for d in $dbs; do psql "$LEAKPROFD_PG_URI" -qAt -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" || true; done
}
[ -n "${pgstate:-}" ] || trap 'cleanup_bg; dropdbs' EXIT

# pq URI SQL: one value from PostgreSQL.
pq() {
	psql "$1" -qAt -c "$2"
}

tables="services targets scrapes stacks locations samples rollups rollup_hours rollup_stacks rankings suspects
	alerts outbox labelsets label_samples sample_stacks restart_moves daemons"

# same_counts URI: every table has as many rows in $DB as at URI; prints them.
same_counts() {
	for t in $tables; do
		a=$(sq "SELECT count(*) FROM $t")
		b=$(pq "$1" "SELECT count(*) FROM $t")
		echo "  $t: $a / $b"
		[ "$a" = "$b" ] || fail "table $t: $a rows in $DB, $b in $1"
	done
}

echo "== a daemon's history copied"
start_go zoo zoo -leak early_return -leak-count 20 -leak-rate 10 -benign pool -pool-size 20
url=http://127.0.0.1:$zoo_port
DB=$TEST_TMP/leakprofd.db
start_daemon --database "$DB" --listen 127.0.0.1:0 --interval 1s --target "$url"
wait_for 40 has_ok_scrapes "$url%" 8
stop_daemon
to=$(newdb "migrate_$$_a")
"$bin" migrate-db --from "$DB" --to "$to" 2>"$TEST_TMP/copy.err" || { cat "$TEST_TMP/copy.err"; fail "migrate-db: exit $?"; }
cat "$TEST_TMP/copy.err"
grep -q "^migrate-db: scrapes: [0-9]* rows copied in" "$TEST_TMP/copy.err" || fail "no progress of table scrapes"
grep -q "^migrate-db: verify samples: [0-9]* rows in both" "$TEST_TMP/copy.err" || fail "no verification of samples"
grep -q "^migrate-db: done: [0-9]* rows copied" "$TEST_TMP/copy.err" || fail "no summary"
same_counts "$to"
[ "$(sq "SELECT count(*) FROM scrapes WHERE status = 'ok'")" -ge 8 ] || fail "too few scrapes to copy"
for q in "SELECT max(id) FROM scrapes" "SELECT sum(count) FROM samples" "SELECT url FROM targets WHERE id = 1" \
	"SELECT count(*) FROM scrapes WHERE format IS NULL"; do
	assert_eq "$q" "$(pq "$to" "$q")" "$(sq "$q")"
done
assert_eq "samples whose scrape_ts is their scrape's ts" \
	"$(pq "$to" "SELECT count(*) FROM samples x JOIN scrapes s ON s.id = x.scrape_id AND s.ts = x.scrape_ts")" \
	"$(sq "SELECT count(*) FROM samples")"

echo "== run again: nothing copied, verified again"
"$bin" migrate-db --from "$DB" --to="$to" --batch 10 2>"$TEST_TMP/again.err" ||
	{ cat "$TEST_TMP/again.err"; fail "migrate-db again: exit $?"; }
grep -q "already holds a verified copy" "$TEST_TMP/again.err" || fail "the second run did not see the copy"
grep -q "^migrate-db: done: 0 rows copied" "$TEST_TMP/again.err" || { cat "$TEST_TMP/again.err"; fail "copied again"; }
same_counts "$to" >/dev/null

echo "== refusals"
rc=0
"$bin" migrate-db --from "$TEST_TMP/missing.db" --to "$to" 2>"$TEST_TMP/err" || rc=$?
assert_eq "missing file: exit" "$rc" 1
grep -q "'$TEST_TMP/missing.db': cannot open: No such file" "$TEST_TMP/err" || { cat "$TEST_TMP/err"; fail "missing"; }
cp "$DB" "$TEST_TMP/other.db"
rc=0
"$bin" migrate-db --from "$TEST_TMP/other.db" --to "$to" 2>"$TEST_TMP/err" || rc=$?
assert_eq "another file's copy: exit" "$rc" 1
grep -q "holds a copy of '$DB'" "$TEST_TMP/err" || { cat "$TEST_TMP/err"; fail "another file's copy not refused"; }
# leakprofd data with no record of a copy, as a daemon writing to PostgreSQL leaves it
daemon_db=$(newdb "migrate_$$_d")
"$bin" migrate-db --from "$DB" --to "$daemon_db" 2>"$TEST_TMP/err" || { cat "$TEST_TMP/err"; fail "migrate-db"; }
pq "$daemon_db" "DROP TABLE leakprofd_migration"
rc=0
"$bin" migrate-db --from "$DB" --to "$daemon_db" 2>"$TEST_TMP/err" || rc=$?
assert_eq "a daemon's database: exit" "$rc" 1
grep -q "already holds leakprofd data (table 'services' has rows)" "$TEST_TMP/err" ||
	{ cat "$TEST_TMP/err"; fail "a daemon's database not refused"; }

echo "== killed part-way, run again"
# A larger history: the daemon's scrapes (and their samples) 1,000 times over, later in time.
big=$TEST_TMP/big.db
cp "$DB" "$big"
sqlite3 -batch "$big" <<SQL
PRAGMA foreign_keys = ON;
CREATE TEMP TABLE k AS WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 1000) SELECT n FROM k;
CREATE TEMP TABLE span AS SELECT max(id) AS ids, max(ts) - min(ts) + 1000 AS ms FROM scrapes;
INSERT INTO scrapes (id, target_id, ts, duration_ms, bytes, status, format, kind, detail, total_goroutines, rolled,
                     restart)
	SELECT s.id + k.n * span.ids, target_id, ts + k.n * span.ms, duration_ms, bytes, status, format, kind, detail,
	       total_goroutines, rolled, restart
	FROM scrapes s, k, span;
INSERT INTO samples (scrape_id, location_id, count, leaked, max_wait, min_wait, median_wait)
	SELECT x.scrape_id + k.n * span.ids, location_id, count, leaked, max_wait, min_wait, median_wait
	FROM samples x, k, span WHERE x.scrape_id <= span.ids;
SQL
n=$(sqlite3 "$big" "SELECT count(*) FROM samples")
echo "big: $n samples, $(sqlite3 "$big" "SELECT count(*) FROM scrapes") scrapes"
[ "$n" -ge 10000 ] || fail "the larger history has only $n samples"
DB=$big

# interrupt HOW NAME: copy $big into a new database NAME, interrupt the copy once samples are coming (HOW: kill, the
# copy killed with SIGKILL; lose, its server connection ended by the server), then run it again to the end.
interrupt() {
	to=$(newdb "$2")
	rc=0
	bg "$bin" migrate-db --from "$big" --to "$to" --batch 10 2>"$TEST_TMP/$1.err"
	pid=$BG_PID
	i=0
	until [ "$(pq "$to" "SELECT count(*) FROM samples" 2>/dev/null || echo 0)" -gt 0 ]; do
		kill -0 "$pid" 2>/dev/null || { cat "$TEST_TMP/$1.err"; fail "$1: migrate-db ended before it was stopped"; }
		i=$((i + 1))
		[ $i -lt 600 ] || fail "$1: no samples copied after 60 s"
		sleep 0.1
	done
	if [ "$1" = kill ]; then
		kill -9 "$pid"
	else
		pq "$to" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()" >/dev/null
	fi
	wait "$pid" 2>/dev/null || rc=$?
	part=$(pq "$to" "SELECT count(*) FROM samples")
	echo "$1: exit $rc with $part of $n samples copied"
	[ "$part" -lt "$n" ] || fail "$1: the copy had finished before ($part of $n): make the history larger"
	if [ "$1" = lose ]; then
		assert_eq "$1: exit" "$rc" 1
		grep "leakprofd migrate-db: .*table '[a-z_]*'" "$TEST_TMP/$1.err" || { cat "$TEST_TMP/$1.err"; fail "$1: no reason"; }
	fi
	"$bin" migrate-db --from "$big" --to "$to" --batch 10 2>"$TEST_TMP/resume.err" ||
		{ cat "$TEST_TMP/resume.err"; fail "$1: migrate-db run again: exit $?"; }
	grep "samples: .* rows copied" "$TEST_TMP/resume.err"
	copied=$(sed -n 's/^migrate-db: samples: \([0-9]*\) rows copied.*/\1/p' "$TEST_TMP/resume.err")
	assert_eq "$1: samples copied by the second run" "$copied" $((n - part))
	same_counts "$to" >/dev/null
	assert_eq "$1: distinct samples" \
		"$(pq "$to" "SELECT count(DISTINCT (scrape_id, location_id)) FROM samples")" "$n"
}
interrupt kill "migrate_$$_b"
echo "== the server connection lost part-way, run again"
interrupt lose "migrate_$$_c"
echo "ok"
