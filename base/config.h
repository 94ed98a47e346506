/* base/config.h: leakprofd's configuration: the schema, defaults, and the YAML/JSON loader.
 *
 * One struct config holds everything the daemon, collector, detector, web server and alerting read.
 * It is loaded whole and validated whole: a reload builds a new struct and swaps it in only when it
 * is valid. Every error names the file, the line and the key. Durations are seconds and sizes are
 * bytes, spelled as base/units.h says ("30s", "1h30m", "2d", "64MiB"). */
#ifndef CONFIG_H
#define CONFIG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/format.h"

struct config_kv {
	char *key;
	char *value;
};

struct config_tls {
	char *ca_file;   /* NULL: system CAs */
	char *cert_file; /* client certificate, NULL: none */
	char *key_file;
	bool insecure_skip_verify;
};

struct config_basic_auth {
	char *username; /* NULL: no basic auth */
	char *password_file;
};

/* What a service's targets are sharded by (key "shard_by"). */
/* The goroutine leak profile a service's targets are also asked for (key "leak_profile"), next to
 * the profile they are scraped for: Go 1.26 built with GOEXPERIMENT=goroutineleakprofile and Go
 * 1.27 serve it. Each fetch runs a garbage collection cycle in the target that looks for goroutines
 * blocked forever, so it runs at its own, much longer interval. */
struct config_leak_profile {
	bool enabled;      /* default true; ignored when 'profile' is goroutineleak already */
	uint64_t interval; /* seconds, default CONFIG_LEAK_INTERVAL_DEFAULT */
	char *path;        /* NULL: "/debug/pprof/goroutineleak" */
};

/* The default leak_profile.interval, and its minimum (seconds). */
#define CONFIG_LEAK_INTERVAL_DEFAULT 3600
#define CONFIG_LEAK_INTERVAL_MIN 60
/* max_body_bytes when the configuration does not set it, and what `leakprofd scrape` and
 * `leakprofd parse` apply. */
#define CONFIG_MAX_BODY_DEFAULT (64ull << 20)

/* Where a service's source code lives (key "source"): links from each file:line of its stacks to
 * the code at the version that runs (base/srclink.h). Unset (url NULL): no links. */
struct config_source {
	char *url;           /* template with {path}, {line}, {version}; NULL: no links */
	char *strip_prefix;  /* removed from the start of a file name; a file outside it gets no
	                        link;  NULL: every file, whole */
	char *version_label; /* the target label naming the running version; NULL: none */
};

enum config_shard_by {
	CONFIG_SHARD_BY_SERVICE = 0, /* "service" (default): every instance on one daemon */
	CONFIG_SHARD_BY_TARGET,      /* "target": split the service by base URL */
};

struct config_service {
	char *name;
	char **targets; /* base URLs, "http://127.0.0.1:6060" */
	size_t ntargets;
	char *profile;                  /* "goroutine" (default) | "goroutineleak" */
	char *path;                     /* default "/debug/pprof/<profile>" */
	enum profile_format format;     /* default proto (base/format.h) */
	unsigned detail_every;          /* default 10; 0 = never fetch debug=2 detail */
	uint64_t detail_max_goroutines; /* default 10000 */
	struct config_kv *labels;
	size_t nlabels;
	struct config_kv *headers;
	size_t nheaders;
	char *bearer_token_file; /* NULL: none */
	struct config_basic_auth basic_auth;
	struct config_tls tls;
	unsigned shard_by; /* enum config_shard_by */
	struct config_leak_profile leak_profile;
	struct config_source source;
};

/* A Prometheus http_sd source: a URL answering the file_sd JSON, fetched every refresh_interval. */
struct config_http_sd {
	char *url;
	uint64_t refresh_interval; /* seconds, default 60 */
	uint64_t timeout;          /* seconds, default the shorter of 10s and refresh_interval */
	struct config_kv *headers;
	size_t nheaders;
	char *bearer_token_file; /* NULL: none */
	struct config_basic_auth basic_auth;
	struct config_tls tls;
};

/* The records a dns_sd source asks for (key "type"). */
enum config_dns_type {
	CONFIG_DNS_SRV = 0, /* "SRV" (default): host and port from each record */
	CONFIG_DNS_A,       /* "A": each IPv4 address with 'port' */
	CONFIG_DNS_AAAA,    /* "AAAA": each IPv6 address with 'port' */
};

/* The scheme of discovered targets given as host:port (key "scheme"). */
enum config_scheme {
	CONFIG_SCHEME_HTTP = 0, /* "http" (default) */
	CONFIG_SCHEME_HTTPS,    /* "https" */
};

/* A DNS service discovery source, as Prometheus's dns_sd_configs: 'names' looked up every
 * refresh_interval; the targets belong to 'service'. */
struct config_dns_sd {
	char **names;
	size_t nnames;
	unsigned type;             /* enum config_dns_type */
	unsigned port;             /* A and AAAA: required; SRV: 0 */
	uint64_t refresh_interval; /* seconds, default 30 */
	char *server;              /* "IPv4[:port]" as written; NULL: the system's resolv.conf */
	uint32_t server_addr;      /* of 'server': IPv4 address in network byte order */
	uint16_t server_port;      /* of 'server': port in host byte order, default 53 */
	char *service;             /* required */
	unsigned scheme;           /* enum config_scheme */
	struct config_kv *labels;  /* added to every target, after "service" */
	size_t nlabels;
};

/* An ignore rule: every field that is set must match (AND); unset fields (NULL) match anything. */
struct config_ignore {
	char *function;     /* exact name of the attributed (top user) frame's function */
	char *any_function; /* exact name of a function anywhere in the stack */
	char *file;         /* fnmatch(3) glob on the attributed frame's file */
	char *service;      /* exact service name */
};

struct config_detector {
	uint64_t window;      /* seconds, default 6h */
	unsigned min_scrapes; /* default 4: growth seen over at least this many scrapes */
	uint64_t min_count;   /* default 10: at least this many goroutines in one instance */
	/* pprof label sets kept per location and scrape, the most goroutines first (default 5, at
	 * most CONFIG_MAX_LABEL_SETS; 0: labels are not stored) */
	unsigned max_label_sets;
	/* bytes the window kept between rankings may hold (detect/window.h), default
	 * CONFIG_WINDOW_MEMORY_DEFAULT; past it, rankings read the store; 0: never keep one */
	uint64_t window_memory;
	struct config_ignore *ignore;
	size_t nignore;
};

#define CONFIG_WINDOW_MEMORY_DEFAULT (512ULL << 20)

/* detector.max_label_sets: its default and its maximum (the sets a parse keeps per location,
 * PROFILE_MAX_LABEL_SETS) */
#define CONFIG_LABEL_SETS_DEFAULT 5
#define CONFIG_MAX_LABEL_SETS 32

struct config_web {
	char *bearer_token_file;             /* web.auth.bearer_token_file; NULL: none */
	struct config_basic_auth basic_auth; /* web.auth.basic_auth */
	char *tls_cert_file;                 /* web.tls.cert_file; NULL: plain HTTP */
	char *tls_key_file;
	unsigned max_connections; /* default 64 */
	uint64_t request_timeout; /* seconds, default 30 */
};

struct config_metrics {
	/* /metrics lists a series per target (leakprofd_target_up, ..._scrape_duration_seconds)
	 * while at most this many targets are active; past it, per-service summaries only.
	 * Default 1000; 0: never per target. */
	unsigned per_target_max;
};

/* How the daemon rides out a database that refuses writes (PostgreSQL restarting or unreachable, a
 * full disk, a lock held): finished scrapes wait in memory, in order, while fewer than
 * buffer_scrapes wait and the oldest waited less than buffer_duration; newer ones are dropped. The
 * same bound is what a kill -9 of the daemon can lose (daemon/ingest.h). */
struct config_ingest {
	uint64_t buffer_scrapes;  /* default CONFIG_INGEST_BUFFER_SCRAPES_DEFAULT */
	uint64_t buffer_duration; /* seconds, default CONFIG_INGEST_BUFFER_DURATION_DEFAULT */
};

/* ingest.buffer_scrapes and ingest.buffer_duration when unset: ten minutes of 400 scrapes a minute
 * (400 targets at the default interval), about 256 MiB at 64 KiB per queued parsed profile. */
#define CONFIG_INGEST_BUFFER_SCRAPES_DEFAULT 4096
#define CONFIG_INGEST_BUFFER_DURATION_DEFAULT 600
/* Their bounds: a buffer too short to outlast a PostgreSQL restart, or too large to fit memory. */
#define CONFIG_INGEST_BUFFER_SCRAPES_MIN 16
#define CONFIG_INGEST_BUFFER_SCRAPES_MAX 1000000
#define CONFIG_INGEST_BUFFER_DURATION_MIN 10
#define CONFIG_INGEST_BUFFER_DURATION_MAX 86400

enum webhook_format {
	WEBHOOK_FORMAT_JSON = 0,
	WEBHOOK_FORMAT_SLACK,
	WEBHOOK_FORMAT_ALERTMANAGER,
};

struct config_webhook {
	char *name;
	char *url; /* url or url_file (read at load time into url) */
	char *url_file;
	enum webhook_format format; /* default json */
	char *secret_file;          /* HMAC-SHA256 key; NULL: unsigned */
	char **services;            /* NULL/0: all services */
	size_t nservices;
	uint64_t timeout; /* seconds, default 10 */
};

struct config_alerting {
	double min_score;         /* default 0.8 */
	uint64_t min_count;       /* default 100 */
	uint64_t for_duration;    /* key "for", seconds, default 10m */
	uint64_t repeat_interval; /* seconds, default 24h */
	uint64_t
	    max_age; /* seconds, default 24h: undelivered notifications are dropped after this */
	struct config_webhook *webhooks;
	size_t nwebhooks;
};

/* A loaded configuration is an immutable snapshot shared by reference: a reload builds and
 * validates a new one and swaps the pointer (struct config_slot); each thread or request holds a
 * reference (config_ref) for as long as it works with a snapshot and drops it with config_unref, so
 * no lock is held while it works. */
struct config {
	atomic_uint refs;   /* the one mutable field: references held, see config_ref() */
	char *source;       /* file the config came from, "(default)" for the embedded one */
	char *listen;       /* default "127.0.0.1:8080" */
	char *database;     /* default "/var/lib/leakprofd/leakprofd.db" in files, "./leakprofd.db"
	                       embedded */
	char *log_level;    /* "debug" | "info" (default) | "notice" | "warning" | "error" */
	char *external_url; /* base URL of the dashboard for links in alerts; NULL: derived from
	                       listen */
	uint64_t scrape_interval;        /* seconds, default 60 */
	uint64_t scrape_timeout;         /* seconds, at most scrape_interval; default the smaller of
	                                    10 and scrape_interval */
	bool scrape_timeout_set;         /* scrape_timeout was written, not defaulted */
	uint64_t max_body_bytes;         /* default CONFIG_MAX_BODY_DEFAULT */
	unsigned max_concurrent_scrapes; /* default 64 */
	uint64_t retention_raw;          /* seconds, default 48h */
	uint64_t retention_rollup;       /* seconds, default 30d */
	struct config_service *services;
	size_t nservices;
	char **target_files; /* globs of Prometheus file_sd files */
	size_t ntarget_files;
	struct config_http_sd *http_sd;
	size_t nhttp_sd;
	struct config_dns_sd *dns_sd;
	size_t ndns_sd;
	unsigned shard_index; /* default 0 */
	unsigned shard_count; /* default 1 */
	struct config_detector detector;
	struct config_web web;
	struct config_metrics metrics;
	struct config_ingest ingest;
	struct config_alerting alerting;
};

/* Every error found while loading, in file order: "FILE:LINE: KEY: message". */
struct config_errors {
	char **msgs;
	size_t n;
};

/* The embedded default: listen loopback, database ./leakprofd.db, no services. Caller owns; NULL on
 * ENOMEM. */
struct config *config_default(void);

/* Load and validate 'path' (YAML, or JSON, detected from content). On success returns a config the
 * caller owns; on failure NULL with every problem appended to 'errs' (never stops at the first). */
struct config *config_load(const char *path, struct config_errors *errs);

/* Same from memory; 'name' is used in error messages in place of the file name. */
struct config *config_load_buffer(const char *name, const char *buf, size_t len,
                                  struct config_errors *errs);

/* Add a service "cli" with target 'url' (the `run --target URL` flag). 0, or -1 on a bad URL
 * (message in errs). */
int config_add_target(struct config *cfg, const char *url, struct config_errors *errs)
    __attribute__((warn_unused_result));

/* Set scrape_interval to 'secs' (> 0) on a loaded config, as the `run --interval` flag does, by the
 * loader's rule: a defaulted scrape_timeout becomes the smaller of 10 s and 'secs'; a written one
 * is cut to 'secs' if longer. Only before the config is shared. */
void config_set_scrape_interval(struct config *cfg, uint64_t secs);

/* For every key that takes effect only at start (marked in base/config.c's key table: listen,
 * database, max_concurrent_scrapes, web.max_connections, web.request_timeout, web.tls.*) whose
 * value differs between 'old' and 'next', log the warning "config: KEY changed: takes effect after
 * restart". A reload calls it with the running config and the new one, both borrowed. */
void config_log_restart_changes(const struct config *old, const struct config *next);

/* Take another reference to 'cfg' (NULL: NULL) and return it. Thread-safe. */
struct config *config_ref(const struct config *cfg);
/* Drop a reference; the last one frees the snapshot. NULL does nothing. Thread-safe. */
void config_unref(const struct config *cfg);

/* The current snapshot, swapped whole on reload. The lock is held only to copy the pointer and
 * count a reference, never across I/O, a request or a ranking. */
struct config_slot {
	pthread_mutex_t mu;
	struct config *cfg; /* a reference of its own */
};

/* Start holding 'cfg' (steals the caller's reference). */
void config_slot_init(struct config_slot *s, struct config *cfg);
/* A new reference to the current snapshot; the caller drops it with config_unref(). */
struct config *config_slot_get(struct config_slot *s);
/* Make 'cfg' current (the slot takes a reference of its own); the old snapshot lives on in its
 * other holders. */
void config_slot_set(struct config_slot *s, struct config *cfg);
/* Drop the slot's reference and its lock. */
void config_slot_release(struct config_slot *s);
void config_errors_release(struct config_errors *errs);

#endif
