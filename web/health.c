/* web/health.c: the checks of GET /healthz and its reply (see health.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <jansson.h>

#include "detect/detect.h"
#include "storage/db.h"
#include "web/api.h"
#include "web/health.h"

int64_t
health_collector_limit_ms(const struct config *cfg)
{
	return 3 * (int64_t)(cfg->scrape_interval ? cfg->scrape_interval : 60) * 1000;
}

int64_t
health_detector_limit_ms(const struct config *cfg, int64_t pace_ms)
{
	return health_collector_limit_ms(cfg) + 2 * (pace_ms > 0 ? pace_ms : 0);
}

int64_t
health_database_limit_ms(const struct config *cfg)
{
	int64_t limit = health_collector_limit_ms(cfg);

	return limit < 10000 ? 10000 : limit > 30000 ? 30000 : limit;
}

const char *
health_check_writes(const char *path, const struct web_ingest *ing, int64_t now_ms,
                    int64_t limit_ms, char *buf, size_t n)
{
	int64_t since = ing->refused_since_ms;
	int64_t refused_ms = since > 0 && now_ms > since ? now_ms - since : 0;
	char when[32];

	if (refused_ms <= 0 || refused_ms <= limit_ms)
		return NULL;
	web_fmt_time(since, when, sizeof(when));
	snprintf(
	    buf, n,
	    "writes to database '%s' refused for %lld s, since %s (see the daemon's log): %llu "
	    "finished scrapes wait in memory, at most %llu for %lld s; %llu dropped",
	    path, (long long)(refused_ms / 1000), when, (unsigned long long)ing->queued,
	    (unsigned long long)ing->queued_max, (long long)(ing->queued_max_ms / 1000),
	    (unsigned long long)ing->dropped);
	return buf;
}

const char *
health_check_database(const char *path, struct store *st, char *buf, size_t n,
                      unsigned long long *free_bytes)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct statvfs vfs;

	*free_bytes = 0;
	/* PostgreSQL: the server keeps the files and their space; whether it answers is the check
	 */
	if (db_target_is_postgres(path))
		goto out_read;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash == path ? 1 : slash - path), path);
	if (access(path, W_OK) != 0) {
		snprintf(buf, n, "database file not writable: %s", strerror(errno));
		return buf;
	}
	if (access(dir, W_OK) != 0) {
		snprintf(buf, n, "database directory not writable: %s", strerror(errno));
		return buf;
	}
	if (statvfs(dir, &vfs) != 0) {
		snprintf(buf, n, "statvfs: %s", strerror(errno));
		return buf;
	}
	*free_bytes = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	if (*free_bytes < HEALTH_MIN_FREE_BYTES) {
		snprintf(buf, n, "file system full: %llu bytes free", *free_bytes);
		return buf;
	}
out_read:
	if (!st || store_db_size(st) < 0) {
		snprintf(buf, n, "database not readable: %s",
		         st ? store_errmsg(st) : "cannot open");
		return buf;
	}
	return NULL;
}

/* A wall time as JSON: RFC 3339 text (detect_time_json), null for 0. */
static json_t *
time_json(int64_t ms)
{
	return ms > 0 ? detect_time_json(ms) : json_null();
}

/* {"ok": every source's latest attempt went well, "sources": [...], "total": n}. */
static json_t *
sources_json(const struct health_input *in)
{
	json_t *arr = json_array();
	bool ok = true;

	for (size_t i = 0; i < in->nsources; i++) {
		const struct targets_source_state *s = &in->sources[i];

		ok = ok && s->error[0] == '\0';
		json_array_append_new(arr,
		                      json_pack("{s:o, s:o, s:I, s:o, s:o, s:o, s:b}", "kind",
		                                api_string(s->kind), "name", api_string(s->name),
		                                "targets", (json_int_t)s->targets, "last_refresh",
		                                time_json(s->last_refresh_ms), "last_success",
		                                time_json(s->last_success_ms), "error",
		                                s->error[0] ? api_string(s->error) : json_null(),
		                                "last_good_list_in_use", s->last_good));
	}
	return json_pack("{s:b, s:I, s:o}", "ok", ok, "total", (json_int_t)in->sources_total,
	                 "sources", arr);
}

void
health_reply(const struct health_input *in, struct web_reply *r)
{
	bool db_ok = in->db_error == NULL;
	bool collector_ok = in->heartbeat_age_ms <= in->heartbeat_limit_ms;
	bool detector_ok = !in->detector || in->detector_waiting_ms <= in->detector_limit_ms;
	bool ok = db_ok && collector_ok && detector_ok;
	json_t *o = json_pack(
	    "{s:s, s:{s:b, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:o}, s:{s:b, s:I, s:I}, "
	    "s:{s:b, s:I, s:I}}",
	    "status", ok ? "ok" : "unhealthy", "database", "ok", db_ok, "free_bytes",
	    (json_int_t)in->free_bytes, "writes_refused_ms", (json_int_t)in->db_refused_ms,
	    "writes_refused_since", time_json(in->ingest.refused_since_ms), "scrapes_queued",
	    (json_int_t)in->ingest.queued, "scrapes_queued_max", (json_int_t)in->ingest.queued_max,
	    "scrapes_dropped", (json_int_t)in->ingest.dropped, "limit_ms",
	    (json_int_t)in->db_refused_limit_ms, "error",
	    db_ok ? json_null() : api_string(in->db_error), "collector", "ok", collector_ok,
	    "last_heartbeat_age_ms", (json_int_t)in->heartbeat_age_ms, "limit_ms",
	    (json_int_t)in->heartbeat_limit_ms, "detector", "ok", detector_ok, "waiting_ms",
	    (json_int_t)(in->detector ? in->detector_waiting_ms : 0), "limit_ms",
	    (json_int_t)in->detector_limit_ms);
	char *text;

	if (o)
		json_object_set_new(o, "discovery", sources_json(in));
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	size_t len;

	json_decref(o);
	if (!text) {
		web_reply_text(r, 500, "out of memory\n");
		return;
	}
	len = strlen(text);
	web_reply_release(r);
	r->status = ok ? 200 : 503;
	r->content_type = "application/json";
	/* one line, as before: a trailing newline for people using curl */
	r->body = realloc(text, len + 2);
	if (!r->body) {
		free(text);
		web_reply_text(r, 500, "out of memory\n");
		return;
	}
	r->body[len] = '\n';
	r->body[len + 1] = '\0';
	r->len = len + 1;
}
