-- storage/schema.sql: leakprofd's SQLite schema, migration 1 (PRAGMA user_version = 1).
-- Compiled into the binary. Times are Unix milliseconds (INTEGER). Later schema changes are new migrations in
-- store.c, never edits of this file once released.

CREATE TABLE services (
	id      INTEGER PRIMARY KEY,
	name    TEXT NOT NULL UNIQUE,
	labels  TEXT NOT NULL DEFAULT '{}'              -- JSON object from the config
);

CREATE TABLE targets (
	id                   INTEGER PRIMARY KEY,
	service_id           INTEGER NOT NULL REFERENCES services(id),
	url                  TEXT NOT NULL,             -- base URL as configured
	first_seen           INTEGER NOT NULL,
	active               INTEGER NOT NULL DEFAULT 1, -- in the current config (an inactive target unseen for
	                                                -- retention.rollup is deleted: store_retention.c)
	last_scrape          INTEGER,                   -- start of the last attempt
	last_success         INTEGER,
	last_duration_ms     INTEGER,
	last_bytes           INTEGER,
	last_status          TEXT,                      -- 'ok', 'timeout', 'connect refused', 'http 404', 'parse error: ...'
	last_goroutines      INTEGER,
	consecutive_failures INTEGER NOT NULL DEFAULT 0,
	UNIQUE (service_id, url)
);

CREATE TABLE scrapes (
	id               INTEGER PRIMARY KEY,
	target_id        INTEGER NOT NULL REFERENCES targets(id),
	ts               INTEGER NOT NULL,              -- start of the scrape
	duration_ms      INTEGER NOT NULL,
	bytes            INTEGER NOT NULL,
	status           TEXT NOT NULL,
	format           TEXT,                          -- 'proto' | 'debug=1' | 'debug=2', NULL when not parsed
	kind             TEXT,                          -- 'goroutine' | 'goroutineleak'
	detail           INTEGER NOT NULL DEFAULT 0,    -- 1: a debug=2 detail scrape (wait ages), not a count sample
	total_goroutines INTEGER                        -- NULL unless status = 'ok'
);
CREATE INDEX scrapes_target_ts ON scrapes (target_id, ts);
CREATE INDEX scrapes_ts ON scrapes (ts);

-- Stacks are shared by every location and service that shows them. A later migration (store.c) adds
-- last_seen, and sample_stacks: per count scrape, the distinct stacks behind each location (its call
-- sites, per service), which the ranking shows and matches ignore rules against.
CREATE TABLE stacks (
	id     INTEGER PRIMARY KEY,
	hash   INTEGER NOT NULL UNIQUE,                 -- 64-bit hash of the frames
	frames TEXT NOT NULL                            -- JSON [{"function":..,"file":..,"line":N}, ...], leaf first
);

CREATE TABLE locations (
	id         INTEGER PRIMARY KEY,
	function   TEXT NOT NULL,
	file       TEXT NOT NULL,
	line       INTEGER NOT NULL,
	op         TEXT NOT NULL,
	stack_id   INTEGER REFERENCES stacks(id),       -- a representative stack (the first seen, of
	                                                -- any service; a suspect shows its own)
	first_seen INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	UNIQUE (function, file, line, op)
);
-- Retention forgets locations not seen for longer than the rollups are kept, and then their stacks.
CREATE INDEX locations_last_seen ON locations (last_seen);
CREATE INDEX locations_stack ON locations (stack_id);

-- Raw per-scrape counts; a location absent from a successful scrape had 0 goroutines.
CREATE TABLE samples (
	scrape_id   INTEGER NOT NULL REFERENCES scrapes(id) ON DELETE CASCADE,
	location_id INTEGER NOT NULL REFERENCES locations(id),
	count       INTEGER NOT NULL,
	leaked      INTEGER NOT NULL DEFAULT 0,
	max_wait    INTEGER,                            -- minutes, NULL unknown
	min_wait    INTEGER,
	median_wait INTEGER,
	PRIMARY KEY (scrape_id, location_id)
) WITHOUT ROWID;
CREATE INDEX samples_location ON samples (location_id, scrape_id);

-- Hourly rollups of raw samples: per service, location and hour. Since migration 2 every completed
-- hour is rolled up (raw rows are deleted at retention.raw, once rolled up), and the columns below
-- mean what follows; migration 2 adds rise (and rollup_hours, described in store.c).
CREATE TABLE rollups (
	service_id  INTEGER NOT NULL REFERENCES services(id),
	location_id INTEGER NOT NULL REFERENCES locations(id),
	hour        INTEGER NOT NULL,                   -- start of the hour
	max_count   INTEGER NOT NULL,                   -- max over instances and scrapes
	mean_count  REAL NOT NULL,                      -- mean over every count scrape of every
	                                                -- instance of the service (absent: 0)
	instances   INTEGER NOT NULL,                   -- instances seen with it in the hour
	scrapes     INTEGER NOT NULL,                   -- the service's count scrapes behind mean_count
	PRIMARY KEY (service_id, location_id, hour)
) WITHOUT ROWID;
CREATE INDEX rollups_hour ON rollups (hour);
CREATE INDEX rollups_location ON rollups (location_id);

-- The detector's latest rankings (one row per run; older runs are pruned).
CREATE TABLE rankings (
	id             INTEGER PRIMARY KEY,
	generated_at   INTEGER NOT NULL,
	window_seconds INTEGER NOT NULL,
	duration_ms    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE suspects (
	ranking_id          INTEGER NOT NULL REFERENCES rankings(id) ON DELETE CASCADE,
	rank                INTEGER NOT NULL,
	service_id          INTEGER NOT NULL REFERENCES services(id),
	location_id         INTEGER NOT NULL REFERENCES locations(id),
	score               REAL NOT NULL,
	confirmed           INTEGER NOT NULL,
	current_count       INTEGER NOT NULL,
	max_instance_count  INTEGER NOT NULL,
	instances_growing   INTEGER NOT NULL,
	instances_total     INTEGER NOT NULL,
	growth_per_hour     REAL NOT NULL,
	monotonicity        REAL NOT NULL,
	fit                 REAL NOT NULL,
	oldest_wait_minutes INTEGER,                    -- NULL unknown
	median_wait_minutes INTEGER,
	first_seen          INTEGER NOT NULL,
	explanation         TEXT NOT NULL,
	sparkline           TEXT NOT NULL DEFAULT '[]', -- JSON array of service-total counts over the window
	PRIMARY KEY (ranking_id, rank)
) WITHOUT ROWID;
CREATE INDEX suspects_location ON suspects (location_id);

-- Alert state per (service, location); the location carries the op. A later migration in storage/store.c adds
-- firing_payload, the latest firing event, which the resolved one is made from.
CREATE TABLE alerts (
	service_id    INTEGER NOT NULL REFERENCES services(id),
	location_id   INTEGER NOT NULL REFERENCES locations(id),
	state         TEXT NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
	pending_since INTEGER,
	firing_since  INTEGER,
	resolved_at   INTEGER,
	last_notified INTEGER,
	last_score    REAL,                             -- the score when the alert last changed
	last_count    INTEGER,                          -- the peak count while pending or firing
	updated       INTEGER NOT NULL,                 -- when the alert last changed
	PRIMARY KEY (service_id, location_id)
) WITHOUT ROWID;
CREATE INDEX alerts_location ON alerts (location_id);

-- Notifications to deliver, at least once, in order per webhook.
CREATE TABLE outbox (
	id           INTEGER PRIMARY KEY,               -- delivery order
	event_id     TEXT NOT NULL,                     -- stable across retries and restarts
	webhook      TEXT NOT NULL,                     -- config name of the webhook
	status       TEXT NOT NULL,                     -- 'firing' | 'resolved'
	service_id   INTEGER NOT NULL,
	location_id  INTEGER NOT NULL,
	payload      TEXT NOT NULL,                     -- the json-format event; other formats are rendered from it
	created      INTEGER NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL,
	last_error   TEXT,
	-- 'failed' (a receiver's answer no retry changes) is added by a later migration (store.c)
	state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dropped')),
	delivered_at INTEGER,
	UNIQUE (event_id, webhook)
);
CREATE INDEX outbox_pending ON outbox (state, webhook, id);
