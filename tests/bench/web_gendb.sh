#!/bin/sh
# tests/bench/web_gendb.sh DB TARGETS HOURS [INTERVAL_S]: write a synthetic leakprofd database for the web
# benchmark and the API tests, fast, with plain SQL: TARGETS targets in services of 20, one scrape per target every
# INTERVAL_S seconds (default 60) for the last HOURS hours, four locations per service (a leak that grows and
# restarts every 12 h, a flat worker pool, a bursty handler, and in the first service a location whose function
# name is an XSS probe), and a stored ranking with the leaks. The schema is the one leakprofd compiles in
# (storage/schema.sql, user_version 1). Needs the sqlite3 command-line shell.
set -eu
db=$1 targets=$2 hours=$3 interval=${4:-60}
here=$(cd "$(dirname "$0")/../.." && pwd)
now=$(( $(date +%s) * 1000 ))
per=20
services=$(( (targets + per - 1) / per ))
steps=$(( hours * 3600 / interval ))
rm -f "$db" "$db-wal" "$db-shm"
{
	echo "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;"
	cat "$here/storage/schema.sql"
	echo "PRAGMA user_version = 1;"
	# Build with the secondary indexes dropped, then recreate them: sorted bulk index builds are much faster.
	echo "DROP INDEX samples_location; DROP INDEX scrapes_target_ts; DROP INDEX scrapes_ts;"
	cat <<SQL
BEGIN;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $services)
INSERT INTO services (id, name, labels) SELECT i, printf('svc-%03d', i), '{"team":"bench"}' FROM s;
WITH RECURSIVE t(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM t WHERE i < $targets)
INSERT INTO targets (id, service_id, url, first_seen, active, last_scrape, last_success, last_duration_ms,
	last_bytes, last_status, last_goroutines, consecutive_failures)
SELECT i, (i - 1) / $per + 1, printf('http://10.%d.%d.%d:6060', i / 65536, (i / 256) % 256, i % 256),
	$now - $hours * 3600000, 1, $now - 5000, CASE WHEN i % 37 = 0 THEN $now - 3600000 ELSE $now - 5000 END,
	20 + i % 30, 40000, CASE WHEN i % 37 = 0 THEN 'connect refused' ELSE 'ok' END, 1300,
	CASE WHEN i % 37 = 0 THEN 60 ELSE 0 END FROM t;
INSERT INTO stacks (id, hash, frames) VALUES
	(1, 1, '[{"function":"runtime.gopark","file":"/usr/lib/go/src/runtime/proc.go","line":364},{"function":"main.leakyWorker","file":"/src/app/worker.go","line":42},{"function":"main.handle","file":"/src/app/server.go","line":88}]'),
	(2, 2, '[{"function":"runtime.gopark","file":"/usr/lib/go/src/runtime/proc.go","line":364},{"function":"<script>alert(1)</script>","file":"/src/app/\"><img src=x onerror=alert(2)>.go","line":7}]');
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $services)
INSERT INTO locations (id, function, file, line, op, stack_id, first_seen, last_seen)
SELECT (i - 1) * 4 + 1, CASE WHEN i = 1 THEN '<script>alert(1)</script>' ELSE printf('main.leakyWorker%d', i) END,
	CASE WHEN i = 1 THEN '/src/app/"><img src=x onerror=alert(2)>.go' ELSE '/src/app/worker.go' END,
	42 + i, 'chan send', CASE WHEN i = 1 THEN 2 ELSE 1 END, $now - $hours * 3600000, $now FROM s
UNION ALL SELECT (i - 1) * 4 + 2, printf('main.poolWorker%d', i), '/src/app/pool.go', 17, 'chan receive', NULL,
	$now - $hours * 3600000, $now FROM s
UNION ALL SELECT (i - 1) * 4 + 3, printf('main.slowHandler%d', i), '/src/app/handler.go', 99, 'select', NULL,
	$now - $hours * 3600000, $now FROM s
UNION ALL SELECT (i - 1) * 4 + 4, printf('main.lockedCache%d', i), '/src/app/cache.go', 61, 'sync.Mutex.Lock', NULL,
	$now - $hours * 3600000, $now FROM s;
-- Scrape ids grow with time (id = step * TARGETS + target), like a running daemon's.
WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < $steps - 1),
	t(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM t WHERE j < $targets)
INSERT INTO scrapes (id, target_id, ts, duration_ms, bytes, status, format, kind, detail, total_goroutines)
SELECT i * $targets + j, j, $now - ($steps - i) * $interval * 1000 + j * 7, 20 + j % 30, 40000,
	CASE WHEN j % 37 = 0 AND i > $steps - 60 THEN 'connect refused' ELSE 'ok' END, 'proto', 'goroutine', 0,
	1054 + (i % 720) * 2 FROM k, t ORDER BY 1;
INSERT INTO samples (scrape_id, location_id, count, leaked)
SELECT sc.id, ((sc.target_id - 1) / $per) * 4 + l.n,
	CASE l.n WHEN 1 THEN 1 + ((sc.id / $targets) % 720) * 2 WHEN 2 THEN 1000 WHEN 3 THEN (sc.id * 7) % 50
	ELSE 3 END, 0
FROM scrapes sc, (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) l
WHERE sc.status = 'ok' ORDER BY 1, 2;
INSERT INTO rankings (id, generated_at, window_seconds, duration_ms) VALUES (1, $now - 2000, 21600, 180);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $services),
	p(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM p WHERE x < 59)
INSERT INTO suspects (ranking_id, rank, service_id, location_id, score, confirmed, current_count,
	max_instance_count, instances_growing, instances_total, growth_per_hour, monotonicity, fit,
	oldest_wait_minutes, median_wait_minutes, first_seen, explanation, sparkline)
SELECT 1, i, i, (i - 1) * 4 + 1, round(0.99 - i * 0.01, 2), i % 5 = 1, 20 * 700, 700, 20, 20, 2400, 0.99,
	0.98, CASE WHEN i % 2 = 1 THEN 340 ELSE NULL END, 120, $now - $hours * 3600000,
	printf('grew 12 → 14,000 in 6 h on 20/20 instances (+2.4k/h, 99%% of steps up)'),
	(SELECT json_group_array(x * 200 + i) FROM p) FROM s;
COMMIT;
CREATE INDEX samples_location ON samples (location_id, scrape_id);
CREATE INDEX scrapes_target_ts ON scrapes (target_id, ts);
CREATE INDEX scrapes_ts ON scrapes (ts);
ANALYZE;
SQL
} | sqlite3 "$db" >/dev/null
