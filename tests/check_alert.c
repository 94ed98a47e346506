/* tests/check_alert.c: alerting: payloads and their slack/alertmanager forms, the outbox in a real
 * SQLite file, and delivery to a real HTTP receiver (libmicrohttpd on 127.0.0.1) that checks the
 * HMAC signature. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/sbuf.h"
#include "collector/profile.h"
#include "detect/alert.h"
#include "detect/detect.h"
#include "storage/alertstore.h"
#include "storage/store.h"
#include "storage/store_internal.h"
#include "testutil.h"

static json_t *
parse_json(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);

	ck_assert_msg(j != NULL, "not JSON (%s): %s", jerr.text, text);
	return j;
}

START_TEST(test_sample_payload)
{
	struct config *cfg = config_default();
	char *p = alert_sample_payload(cfg, "ev-1");
	json_t *j = parse_json(p);

	ck_assert_str_eq(json_string_value(json_object_get(j, "event_id")), "ev-1");
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "firing");
	ck_assert_str_eq(json_string_value(json_object_get(j, "op")), "chan send");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "line")), 42);
	ck_assert(json_array_size(json_object_get(j, "stack")) == 2);
	/* the sample's label sets, as a real alert carries its suspect's */
	ck_assert_uint_eq(json_array_size(json_object_get(j, "labels")), 2);
	ck_assert_str_eq(
	    json_string_value(json_object_get(
	        json_object_get(json_array_get(json_object_get(j, "labels"), 0), "set"), "tenant")),
	    "acme");
	ck_assert_int_eq(json_integer_value(json_object_get(
	                     json_array_get(json_object_get(j, "labels"), 0), "growth")),
	                 3890);
	/* The dashboard link is derived from listen when external_url is not set. */
	ck_assert_str_eq(json_string_value(json_object_get(j, "url")),
	                 "http://127.0.0.1:8080/locations/0");
	json_decref(j);
	free(p);
	config_unref(cfg);
}
END_TEST

static const char hostile_event[] =
    "{\"event_id\":\"e1\",\"status\":\"firing\",\"service\":\"svc\",\"function\":\"<script>alert(1)"
    "</script>\","
    "\"file\":\"/a&b/x.go\",\"line\":7,\"op\":\"select\",\"explanation\":\"grew 1 → 90\","
    "\"firing_since\":\"2026-01-01T00:00:00Z\",\"resolved_at\":null,\"location_id\":12,"
    "\"url\":\"http://x/locations/"
    "12\",\"stack\":[{\"function\":\"<b>\",\"file\":\"f.go\",\"line\":1}]}";

START_TEST(test_render_formats)
{
	struct config *cfg = config_default();
	struct config_webhook wh = {.name = (char *)"hook", .format = WEBHOOK_FORMAT_JSON};
	char *body;
	json_t *j, *alert;
	const char *text;

	body = alert_render(cfg, &wh, hostile_event);
	ck_assert_str_eq(body, hostile_event);
	free(body);

	wh.format = WEBHOOK_FORMAT_SLACK;
	body = alert_render(cfg, &wh, hostile_event);
	j = parse_json(body);
	text = json_string_value(json_object_get(j, "text"));
	ck_assert_ptr_nonnull(strstr(text, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	ck_assert_ptr_null(strstr(text, "<script>"));
	ck_assert_ptr_nonnull(strstr(text, "/a&amp;b/x.go:7"));
	ck_assert_ptr_nonnull(strstr(text, "<http://x/locations/12|Open in leakprofd>"));
	ck_assert(json_array_size(json_object_get(j, "blocks")) == 2);
	json_decref(j);
	free(body);

	wh.format = WEBHOOK_FORMAT_ALERTMANAGER;
	body = alert_render(cfg, &wh, hostile_event);
	j = parse_json(body);
	ck_assert_str_eq(json_string_value(json_object_get(j, "version")), "4");
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "firing");
	ck_assert_str_eq(json_string_value(json_object_get(j, "receiver")), "hook");
	alert = json_array_get(json_object_get(j, "alerts"), 0);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(alert, "labels"), "alertname")),
	    "GoroutineLeak");
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(alert, "labels"), "line")), "7");
	ck_assert_str_eq(json_string_value(json_object_get(alert, "startsAt")),
	                 "2026-01-01T00:00:00Z");
	ck_assert_str_eq(json_string_value(json_object_get(alert, "endsAt")),
	                 "0001-01-01T00:00:00Z");
	json_decref(j);
	free(body);

	ck_assert_ptr_null(alert_render(cfg, &wh, "not json"));
	config_unref(cfg);
}
END_TEST

static const char *slack_refuses(json_t *msg);

/* An event's pprof label sets: a Slack section of their own, escaped; an Alertmanager annotation
 * (never labels: their values would split the alert); both bounded. */
START_TEST(test_render_labels)
{
	static const char event[] =
	    "{\"event_id\":\"e1\",\"status\":\"firing\",\"service\":\"svc\",\"function\":\"f\","
	    "\"file\":\"/x.go\",\"line\":7,\"op\":\"select\",\"explanation\":\"grew\","
	    "\"firing_since\":\"2026-01-01T00:00:00Z\",\"resolved_at\":null,\"location_id\":12,"
	    "\"url\":\"http://x/locations/12\",\"stack\":[],\"labels\":[{\"set\":{\"tenant\":"
	    "\"<b>&\",\"job\":\"j1\"},\"count\":5,\"growth\":3},{\"set\":null,\"count\":2,"
	    "\"growth\":-1}]}";
	struct config *cfg = config_default();
	struct config_webhook wh = {.name = (char *)"hook", .format = WEBHOOK_FORMAT_SLACK};
	struct sbuf big = {0};
	char *body;
	json_t *j, *blocks, *alert;
	const char *text;

	body = alert_render(cfg, &wh, event);
	j = parse_json(body);
	blocks = json_object_get(j, "blocks");
	ck_assert_uint_eq(json_array_size(blocks), 2); /* the facts, the labels (no stack) */
	text = json_string_value(
	    json_object_get(json_object_get(json_array_get(blocks, 1), "text"), "text"));
	ck_assert_str_eq(text,
	                 "*Labels*: tenant=&lt;b&gt;&amp;, job=j1: 5 (+3); other sets: 2 (-1)");
	ck_assert_ptr_null(slack_refuses(j));
	json_decref(j);
	free(body);

	wh.format = WEBHOOK_FORMAT_ALERTMANAGER;
	body = alert_render(cfg, &wh, event);
	j = parse_json(body);
	alert = json_array_get(json_object_get(j, "alerts"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(alert, "annotations"),
	                                                   "pprof_labels")),
	                 "tenant=<b>&, job=j1: 5 (+3); other sets: 2 (-1)");
	ck_assert_ptr_null(json_object_get(json_object_get(alert, "labels"), "tenant"));
	json_decref(j);
	free(body);

	/* 200 sets of 400 bytes: whole sets while they fit, then "…" */
	sbuf_puts(&big,
	          "{\"event_id\":\"e1\",\"status\":\"firing\",\"service\":\"s\",\"labels\":[");
	for (int i = 0; i < 200; i++) {
		sbuf_addf(&big, "%s{\"set\":{\"k\":\"%0400d\"},\"count\":1,\"growth\":1}",
		          i ? "," : "", i);
	}
	sbuf_puts(&big, "]}");
	body = alert_render(cfg, &wh, big.p);
	j = parse_json(body);
	alert = json_array_get(json_object_get(j, "alerts"), 0);
	text = json_string_value(
	    json_object_get(json_object_get(alert, "annotations"), "pprof_labels"));
	ck_assert_uint_le(strlen(text), 2048);
	ck_assert(strcmp(text + strlen(text) - 3, "\xe2\x80\xa6") == 0);
	json_decref(j);
	free(body);
	wh.format = WEBHOOK_FORMAT_SLACK;
	body = alert_render(cfg, &wh, big.p);
	j = parse_json(body);
	ck_assert_ptr_null(slack_refuses(j));
	json_decref(j);
	free(body);
	sbuf_release(&big);
	config_unref(cfg);
}
END_TEST

START_TEST(test_outbox)
{
	char dir[64], path[1100];
	struct store *st;
	struct alert_row row = {.service_id = 0}, got;
	struct outbox_new out[2] = {
	    {.event_id = "e1", .webhook = "a", .status = "firing", .payload = "{\"n\":1}"},
	    {.event_id = "e1", .webhook = "b", .status = "firing", .payload = "{\"n\":1}"},
	};
	struct outbox_row head;
	int64_t sid;

	testutil_mkdtemp(dir, sizeof(dir), "check_alert");
	testutil_store_target(path, sizeof(path), dir, "outbox.db");
	st = store_open(path, 0);
	ck_assert_ptr_nonnull(st);
	/* alerts reference a service and a location. */
	ck_assert_int_gt(store_target_upsert(st, "svc", NULL, "http://127.0.0.1:1"), 0);
	ck_assert_int_eq(store_service_id(st, "svc", &sid), 0);
	testutil_db_exec(store_dbh(st), "INSERT INTO locations (id, function, file, line, op,"
	                                " first_seen, last_seen)"
	                                " VALUES (1, 'main.f', '/x.go', 3, 'chan send', 0, 0)");
	row.service_id = sid;
	row.location_id = 1;
	snprintf(row.state, sizeof(row.state), "firing");
	row.firing_since = 1000;
	row.last_count = 50;
	row.firing_payload = (char *)"{\"n\":1}";
	ck_assert_int_eq(alertstore_update(st, &row, out, 2, 1000), 0);
	/* The same event id queued again (a retried transaction) is not duplicated. */
	ck_assert_int_eq(alertstore_update(st, &row, out, 1, 1001), 0);
	ck_assert_int_eq(alertstore_get(st, sid, 1, &got), 0);
	ck_assert_str_eq(got.state, "firing");
	ck_assert_int_eq(got.last_count, 50);
	ck_assert_str_eq(got.firing_payload, "{\"n\":1}");
	alert_row_release(&got);
	ck_assert_int_eq(alertstore_get(st, sid, 2, &got), 1);

	/* The alert keeps the payload it is given, the latest; NULL stores none. */
	out[0].event_id = "e2";
	out[0].payload = "{\"n\":2}";
	row.firing_payload = (char *)"{\"n\":2}";
	ck_assert_int_eq(alertstore_update(st, &row, out, 1, 2000), 0);
	ck_assert_int_eq(alertstore_get(st, sid, 1, &got), 0);
	ck_assert_str_eq(got.firing_payload, "{\"n\":2}");
	alert_row_release(&got);
	ck_assert_ptr_null(got.firing_payload);

	/* In order per webhook: e1 then e2; a retry keeps the head in place. */
	ck_assert_int_eq(alertstore_outbox_head(st, "a", &head), 0);
	ck_assert_str_eq(head.event_id, "e1");
	ck_assert_int_eq(alertstore_outbox_retry(st, head.id, 5000, "http 500"), 0);
	outbox_row_release(&head);
	ck_assert_int_eq(alertstore_outbox_head(st, "a", &head), 0);
	ck_assert_str_eq(head.event_id, "e1");
	ck_assert_int_eq(head.attempts, 1);
	ck_assert_int_eq(head.next_attempt, 5000);
	ck_assert_str_eq(head.last_error, "http 500");
	ck_assert_int_eq(alertstore_outbox_delivered(st, head.id, 6000), 0);
	outbox_row_release(&head);
	ck_assert_int_eq(alertstore_outbox_head(st, "a", &head), 0);
	ck_assert_str_eq(head.event_id, "e2");
	outbox_row_release(&head);

	/* Expiry drops what is older than the cutoff, nothing else. */
	ck_assert_int_eq(alertstore_outbox_expire(st, 1500, NULL, NULL), 1); /* e1 at b */
	ck_assert_int_eq(alertstore_outbox_head(st, "b", &head), 1);
	ck_assert_int_eq(alertstore_outbox_head(st, "a", &head), 0);
	outbox_row_release(&head);

	row.firing_payload = NULL;
	ck_assert_int_eq(alertstore_update(st, &row, NULL, 0, 7000), 0);
	ck_assert_int_eq(alertstore_get(st, sid, 1, &got), 0);
	ck_assert_ptr_null(got.firing_payload);
	alert_row_release(&got);

	ck_assert_int_eq(alertstore_delete(st, sid, 1), 0);
	ck_assert_int_eq(alertstore_get(st, sid, 1, &got), 1);
	store_free(st);
	testutil_rmtree(dir);
}
END_TEST

/* ---- A real receiver ---- */

struct receiver {
	unsigned status;
	bool slack; /* answer as Slack does: 400 without a text, or with a block over its limit */
	const char *answer;      /* the body of a non-2xx answer, NULL: "thanks" */
	const char *retry_after; /* a Retry-After header on a non-2xx answer, NULL: none */
	char signature[128];
	char event_id[128];
	char body[256 * 1024];
	size_t len;
	json_t *accepted; /* the bodies answered 2xx, in order */
	unsigned rejected;
};

/* Characters (not bytes) of a UTF-8 string. */
static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* What Slack's incoming webhooks refuse (https://api.slack.com/messaging/webhooks,
 * https://api.slack.com/reference/block-kit/blocks#section): a message without a text ("no_text"),
 * a section whose text is over 3000 characters ("invalid_blocks"). NULL: accepted. */
static const char *
slack_refuses(json_t *msg)
{
	const char *text = json_string_value(json_object_get(msg, "text"));
	json_t *block;
	size_t i;

	if (text == NULL || text[0] == '\0')
		return "no_text";
	json_array_foreach(json_object_get(msg, "blocks"), i, block)
	{
		const char *t =
		    json_string_value(json_object_get(json_object_get(block, "text"), "text"));

		if (t == NULL || t[0] == '\0' || utf8_chars(t) > 3000)
			return "invalid_blocks";
	}
	return NULL;
}

static enum MHD_Result
receive(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
        const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct receiver *r = cls;
	struct MHD_Response *resp;
	const char *v, *answer = "thanks", *refused = NULL;
	unsigned status = r->status;
	enum MHD_Result ret;
	json_t *j;

	(void)url;
	(void)method;
	(void)version;
	if (*con_cls == NULL) {
		*con_cls = r;
		r->len = 0;
		r->body[0] = '\0';
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size < sizeof(r->body) - 1 - r->len
		               ? *upload_size
		               : sizeof(r->body) - 1 - r->len;

		memcpy(r->body + r->len, upload, n);
		r->len += n;
		r->body[r->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Leakprofd-Signature");
	snprintf(r->signature, sizeof(r->signature), "%s", v != NULL ? v : "");
	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Leakprofd-Event-Id");
	snprintf(r->event_id, sizeof(r->event_id), "%s", v != NULL ? v : "");
	j = json_loads(r->body, 0, NULL);
	if (r->slack && status / 100 == 2)
		refused = j != NULL ? slack_refuses(j) : "invalid_payload";
	if (refused != NULL) {
		status = 400;
		answer = refused;
	} else if (status / 100 != 2 && r->answer != NULL) {
		answer = r->answer;
	}
	if (status / 100 == 2 && j != NULL && r->accepted != NULL)
		json_array_append(r->accepted, j);
	else if (status / 100 != 2)
		r->rejected++;
	json_decref(j);
	resp =
	    MHD_create_response_from_buffer(strlen(answer), (void *)answer, MHD_RESPMEM_PERSISTENT);
	if (status / 100 != 2 && r->retry_after != NULL)
		MHD_add_response_header(resp, "Retry-After", r->retry_after);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static struct MHD_Daemon *
receiver_start(struct receiver *r, char *url, size_t urllen)
{
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
	                                        receive, r, MHD_OPTION_END);
	const union MHD_DaemonInfo *info;

	ck_assert_ptr_nonnull(d);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(url, urllen, "http://127.0.0.1:%u/hook", info->port);
	return d;
}

START_TEST(test_post_signed)
{
	static struct receiver r = {.status = 200};
	struct MHD_Daemon *d;
	char url[128], err[256], answer[64], keyfile[] = "/tmp/check_alert_key_XXXXXX", want[128];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	struct config_webhook wh = {.name = (char *)"hook", .timeout = 5};
	const char *body = "{\"event_id\":\"e9\"}";
	long code;
	int fd;

	d = receiver_start(&r, url, sizeof(url));
	fd = mkstemp(keyfile);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "k3y\n", 4), 4);
	close(fd);
	wh.url = url;
	wh.secret_file = keyfile;

	ck_assert_int_eq(
	    alert_post(&wh, "e9", body, NULL, &code, answer, sizeof(answer), err, sizeof(err)), 0);
	ck_assert_int_eq(code, 200);
	ck_assert_str_eq(answer, "thanks");
	ck_assert_str_eq(r.body, body);
	ck_assert_str_eq(r.event_id, "e9");
	/* The key is the file without its trailing newline. */
	HMAC(EVP_sha256(), "k3y", 3, (const unsigned char *)body, strlen(body), md, &mdlen);
	snprintf(want, sizeof(want), "sha256=");
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(want + 7 + 2 * i, sizeof(want) - 7 - 2 * i, "%02x", md[i]);
	ck_assert_str_eq(r.signature, want);

	r.status = 500;
	ck_assert_int_eq(alert_post(&wh, "e9", body, NULL, &code, NULL, 0, err, sizeof(err)), -1);
	ck_assert_int_eq(code, 500);
	ck_assert_str_eq(err, "http 500");

	wh.secret_file = (char *)"/nonexistent/key";
	ck_assert_int_eq(alert_post(&wh, "e9", body, NULL, &code, NULL, 0, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/key"));
	MHD_stop_daemon(d);

	/* Nobody listens any more: a clear connection error. */
	wh.secret_file = NULL;
	ck_assert_int_eq(alert_post(&wh, "e9", body, NULL, &code, NULL, 0, err, sizeof(err)), -1);
	ck_assert_int_eq(code, 0);
	ck_assert(err[0] != '\0');
	unlink(keyfile);
}
END_TEST

/* ---- The state machine: a real alerter, one pass at a time, on a real SQLite file ---- */

#define MIN_MS (60 * 1000LL)
#define HOUR_MS (60 * MIN_MS)

/* One service with one leaking location, an alerter notifying a real receiver, and the
 * detector's part played by hand: each step stores a ranking, then runs one alerter pass at a
 * chosen time. With 'restart', every pass runs in a new alerter on a freshly opened store, as after
 * a restart of the daemon. */
struct world {
	char dir[64];
	char db[1100]; /* the store: testutil_store_target() */
	struct config *cfg;
	struct store *st; /* the detector's connection: stores rankings, reads the alert state */
	/* SQLite: open throughout, sees every commit of the others (data_version); NULL on
	 * PostgreSQL */
	sqlite3 *observer;
	struct alerter *a;
	bool restart;
	struct receiver *r;
	struct MHD_Daemon *d;
	int64_t sid, loc, t0;
	const char *function;
};

static const char leak_function[] = "main.fetch.func1";

static void
world_open(struct world *w, bool restart, const char *format, const char *function)
{
	char url[128], yaml[2048];
	struct config_errors errs = {0};
	struct db_stmt *stmt;
	json_t *frames;
	char *frames_text;

	memset(w, 0, sizeof(*w));
	w->restart = restart;
	w->function = function != NULL ? function : leak_function;
	testutil_mkdtemp(w->dir, sizeof(w->dir), "check_alert");
	w->r = calloc(1, sizeof(*w->r));
	ck_assert_ptr_nonnull(w->r);
	w->r->status = 200;
	w->r->slack = strcmp(format, "slack") == 0;
	w->r->accepted = json_array();
	w->d = receiver_start(w->r, url, sizeof(url));
	testutil_store_target(w->db, sizeof(w->db), w->dir, "leakprofd.db");
	snprintf(yaml, sizeof(yaml),
	         "database: %s\n"
	         "retention: {raw: 48h, rollup: 30d}\n"
	         "alerting:\n"
	         "  min_score: 0.8\n"
	         "  min_count: 100\n"
	         "  for: 10m\n"
	         "  repeat_interval: 1h\n"
	         "  max_age: 24h\n"
	         "  webhooks:\n"
	         "    - name: hook\n"
	         "      url: %s\n"
	         "      format: %s\n"
	         "      timeout: 5s\n",
	         w->db, url, format);
	w->cfg = config_load_buffer("alert.yaml", yaml, strlen(yaml), &errs);
	ck_assert_msg(w->cfg != NULL, "config: %s", errs.n ? errs.msgs[0] : "?");
	config_errors_release(&errs);
	w->st = store_open(w->db, 0);
	ck_assert_ptr_nonnull(w->st);
	if (!testutil_backend_pg())
		ck_assert_int_eq(sqlite3_open(w->db, &w->observer), SQLITE_OK);
	ck_assert_int_gt(store_target_upsert(w->st, "payments", NULL, "http://127.0.0.1:1"), 0);
	ck_assert_int_eq(store_service_id(w->st, "payments", &w->sid), 0);
	w->t0 = clock_wall_ms();
	frames = json_pack("[{s:s, s:s, s:i}, {s:s, s:s, s:i}]", "function", w->function, "file",
	                   "/src/app/fetch.go", "line", 42, "function", "main.fetch", "file",
	                   "/src/app/fetch.go", "line", 38);
	ck_assert_ptr_nonnull(frames);
	frames_text = json_dumps(frames, JSON_COMPACT);
	json_decref(frames);
	stmt = testutil_db_prepare(store_dbh(w->st),
	                           "INSERT INTO stacks (id, hash, frames) VALUES (1, 1, ?1)");
	db_bind_text(stmt, 1, frames_text);
	ck_assert_int_eq(db_step(stmt), DB_DONE);
	db_finalize(stmt);
	free(frames_text);
	stmt = testutil_db_prepare(store_dbh(w->st),
	                           "INSERT INTO locations (id, function, file, line, op, stack_id, "
	                           "first_seen, last_seen) VALUES (1, ?1, '/src/app/fetch.go', 42, "
	                           "'chan send', 1, ?2, ?2)");
	db_bind_text(stmt, 1, w->function);
	db_bind_int64(stmt, 2, w->t0);
	ck_assert_int_eq(db_step(stmt), DB_DONE);
	db_finalize(stmt);
	/* PostgreSQL's identity sequences past the ids given here, as the ingest takes its own */
	if (testutil_backend_pg())
		testutil_db_exec(store_dbh(w->st),
		                 "SELECT setval(pg_get_serial_sequence('stacks', 'id'), 1),"
		                 " setval(pg_get_serial_sequence('locations', 'id'), 1)");
	w->loc = 1;
}

static void
world_close(struct world *w)
{
	alert_free(w->a);
	store_free(w->st);
	sqlite3_close(w->observer);
	MHD_stop_daemon(w->d);
	json_decref(w->r->accepted);
	free(w->r);
	config_unref(w->cfg);
	testutil_rmtree(w->dir);
}

/* Store a ranking as the detector would: the location ranked with 'score' and 'count' goroutines
 * (in one instance), or, with count 0, not ranked at all. */
static void
world_rank(struct world *w, int64_t at, double score, uint64_t count, double growth)
{
	struct suspect sus = {
	    .rank = 1,
	    .service_id = w->sid,
	    .location_id = w->loc,
	    .score = score,
	    .current_count = count,
	    .max_instance_count = count,
	    .instances_growing = growth > 0 ? 1 : 0,
	    .instances_total = 1,
	    .growth_per_hour = growth,
	    .monotonicity = 0.99,
	    .fit = 0.98,
	    .oldest_wait_minutes = 30,
	    .median_wait_minutes = 10,
	    .first_seen = w->t0,
	    .explanation = (char *)"grew 12 → many in 1 h on 1/1 instances",
	};
	struct ranking r = {.generated_at = at, .window_seconds = 3600, .suspects = &sus};

	r.n = count > 0 ? 1 : 0;
	ck_assert_int_eq(store_ranking_save(w->st, &r), 0);
}

/* A number that changes whenever the alerter commits a write: SQLite's observer's PRAGMA
 * data_version (any other connection's commit); on PostgreSQL, what the rows of the alerter's
 * tables hold of the transactions that wrote them (a row written has a new xmin) and their
 * number (a row deleted). */
static int64_t
data_version(struct world *w)
{
	sqlite3_stmt *stmt;
	int64_t v;

	if (w->observer == NULL)
		return testutil_db_int(
		    store_dbh(w->st),
		    "SELECT (SELECT coalesce(sum(CAST(CAST(xmin AS TEXT) AS BIGINT)), 0) + count(*)"
		    " FROM alerts) + (SELECT coalesce(sum(CAST(CAST(xmin AS TEXT) AS BIGINT)), 0)"
		    " + count(*) FROM outbox)");
	ck_assert_int_eq(sqlite3_prepare_v2(w->observer, "PRAGMA data_version", -1, &stmt, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/* One alerter pass at t0 + 'at' ms; with w->restart, in a new alerter on a reopened store. Returns
 * whether the pass committed anything to the database. */
static bool
world_pass(struct world *w, int64_t at)
{
	int64_t v;

	if (w->restart || w->a == NULL) {
		alert_free(w->a);
		store_free(w->st);
		w->st = store_open(w->db, 0);
		ck_assert_ptr_nonnull(w->st);
		w->a = alert_open(w->cfg, NULL);
		ck_assert_ptr_nonnull(w->a);
	}
	v = data_version(w);
	(void)alert_pass(w->a, w->t0 + at);
	return data_version(w) != v;
}

/* The alert's state ("" when there is none), and its row in *row when not NULL (without its
 * firing_payload). */
static const char *
world_state(struct world *w, struct alert_row *row)
{
	static char state[16];
	struct alert_row got;
	int rc = alertstore_get(w->st, w->sid, w->loc, &got);

	ck_assert_int_ge(rc, 0);
	snprintf(state, sizeof(state), "%s", rc == 0 ? got.state : "");
	if (row != NULL && rc == 0) {
		*row = got;
		row->firing_payload = NULL;
	}
	if (rc == 0)
		alert_row_release(&got);
	return state;
}

/* How many notifications of 'status' the receiver accepted. */
static size_t
delivered(struct world *w, const char *status)
{
	size_t i, n = 0;
	json_t *ev;

	json_array_foreach(w->r->accepted, i, ev)
	{
		if (strcmp(json_string_value(json_object_get(ev, "status")), status) == 0)
			n++;
	}
	return n;
}

/* The last notification the receiver accepted. Borrowed. */
static json_t *
last_delivered(struct world *w)
{
	size_t n = json_array_size(w->r->accepted);

	ck_assert_uint_gt(n, 0);
	return json_array_get(w->r->accepted, n - 1);
}

/* The one integer 'sql' answers. */
static int64_t
world_count(struct world *w, const char *sql)
{
	return testutil_db_int(store_dbh(w->st), sql);
}

/* A firing alert is re-notified every repeat_interval, not more often, with a new event id and
 * the same firing_since. Run with and without a restart before every pass. */
START_TEST(test_repeat_interval)
{
	struct world w;
	char first_id[128], first_since[64];

	world_open(&w, _i == 1, "json", NULL);
	world_rank(&w, 0, 0.9, 500, 300);
	world_pass(&w, 0);
	ck_assert_str_eq(world_state(&w, NULL), "pending");
	world_pass(&w, 9 * MIN_MS);
	ck_assert_str_eq(world_state(&w, NULL), "pending");
	ck_assert_uint_eq(json_array_size(w.r->accepted), 0);
	world_pass(&w, 10 * MIN_MS);
	ck_assert_str_eq(world_state(&w, NULL), "firing");
	ck_assert_uint_eq(delivered(&w, "firing"), 1);
	snprintf(first_id, sizeof(first_id), "%s",
	         json_string_value(json_object_get(last_delivered(&w), "event_id")));
	snprintf(first_since, sizeof(first_since), "%s",
	         json_string_value(json_object_get(last_delivered(&w), "firing_since")));
	/* Just under repeat_interval: nothing new. */
	world_pass(&w, 10 * MIN_MS + HOUR_MS - 1000);
	ck_assert_uint_eq(delivered(&w, "firing"), 1);
	/* At repeat_interval: the same alert again, a new event. */
	world_pass(&w, 10 * MIN_MS + HOUR_MS);
	ck_assert_uint_eq(delivered(&w, "firing"), 2);
	ck_assert_str_ne(json_string_value(json_object_get(last_delivered(&w), "event_id")),
	                 first_id);
	ck_assert_str_eq(json_string_value(json_object_get(last_delivered(&w), "firing_since")),
	                 first_since);
	world_pass(&w, 10 * MIN_MS + HOUR_MS + 30 * MIN_MS);
	ck_assert_uint_eq(delivered(&w, "firing"), 2);
	/* The next repeat counts from the last notification. */
	world_pass(&w, 10 * MIN_MS + 2 * HOUR_MS);
	ck_assert_uint_eq(delivered(&w, "firing"), 3);
	ck_assert_str_eq(world_state(&w, NULL), "firing");
	ck_assert_uint_eq(w.r->rejected, 0);
	world_close(&w);
}
END_TEST

/* A firing notification carries its suspect's label sets over the detector's window, as stored
 * from the scrapes, each with its growth. */
START_TEST(test_firing_carries_labels)
{
	struct world w;
	struct prof_labelset first[] = {{"{\"tenant\":\"acme\"}", 100}};
	struct prof_labelset later[] = {{"{\"tenant\":\"acme\"}", 480}, {"{\"tenant\":\"b\"}", 20}};
	struct prof_location l = {.loc = {leak_function, "/src/app/fetch.go", 42},
	                          .op = "chan send",
	                          .op_class = OP_CLASS_CHAN,
	                          .count = 100,
	                          .max_wait_minutes = -1,
	                          .min_wait_minutes = -1,
	                          .median_wait_minutes = -1,
	                          .labels = first,
	                          .nlabels = 1};
	struct profile p = {.format = PROFILE_FORMAT_PROTO,
	                    .kind = PROFILE_KIND_GOROUTINE,
	                    .locations = &l,
	                    .nlocations = 1,
	                    .total_goroutines = 100};
	json_t *labels;
	int64_t t;

	world_open(&w, false, "json", NULL);
	t = store_target_upsert(w.st, "payments", NULL, "http://127.0.0.1:1");
	ck_assert_int_eq(store_add_scrape(w.st, &(struct scrape_record){.target_id = t,
	                                                                .ts = w.t0 - HOUR_MS,
	                                                                .status = "ok",
	                                                                .profile = &p}),
	                 0);
	l.labels = later;
	l.nlabels = 2;
	l.count = 500;
	ck_assert_int_eq(store_add_scrape(w.st, &(struct scrape_record){.target_id = t,
	                                                                .ts = w.t0 + MIN_MS,
	                                                                .status = "ok",
	                                                                .profile = &p}),
	                 0);
	ck_assert_int_eq(world_count(&w, "SELECT count(DISTINCT location_id) FROM label_samples"),
	                 1);
	world_rank(&w, 0, 0.9, 500, 300);
	world_pass(&w, 0);
	world_pass(&w, 10 * MIN_MS);
	ck_assert_uint_eq(delivered(&w, "firing"), 1);
	labels = json_object_get(last_delivered(&w), "labels");
	ck_assert_uint_eq(json_array_size(labels), 2);
	ck_assert_str_eq(json_string_value(json_object_get(
	                     json_object_get(json_array_get(labels, 0), "set"), "tenant")),
	                 "acme");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(labels, 0), "count")),
	                 480);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(labels, 0), "growth")),
	                 380);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(labels, 1), "growth")),
	                 20);
	world_close(&w);
}
END_TEST

/* A pending alert whose suspect stops qualifying before 'for' is forgotten without a notification;
 * when it qualifies again, 'for' counts from then. */
START_TEST(test_pending_cancelled)
{
	struct world w;
	struct alert_row row;

	world_open(&w, _i == 1, "json", NULL);
	world_rank(&w, 0, 0.9, 500, 300);
	world_pass(&w, 0);
	ck_assert_str_eq(world_state(&w, NULL), "pending");
	/* Under min_score: cancelled. */
	world_rank(&w, 5 * MIN_MS, 0.5, 500, 300);
	world_pass(&w, 5 * MIN_MS);
	ck_assert_str_eq(world_state(&w, NULL), "");
	/* Back over it: pending anew, 'for' from now, not from the first time. */
	world_rank(&w, 12 * MIN_MS, 0.9, 500, 300);
	world_pass(&w, 12 * MIN_MS);
	ck_assert_str_eq(world_state(&w, &row), "pending");
	ck_assert_int_eq(row.pending_since, w.t0 + 12 * MIN_MS);
	world_pass(&w, 21 * MIN_MS);
	ck_assert_str_eq(world_state(&w, NULL), "pending");
	/* Not ranked any more: cancelled too. */
	world_rank(&w, 21 * MIN_MS + 1000, 0, 0, 0);
	world_pass(&w, 21 * MIN_MS + 1000);
	ck_assert_str_eq(world_state(&w, NULL), "");
	/* Under min_count (in one instance): cancelled as well. */
	world_rank(&w, 23 * MIN_MS, 0.9, 500, 300);
	world_pass(&w, 23 * MIN_MS);
	ck_assert_str_eq(world_state(&w, NULL), "pending");
	world_rank(&w, 24 * MIN_MS, 0.9, 50, 300);
	world_pass(&w, 24 * MIN_MS);
	ck_assert_str_eq(world_state(&w, NULL), "");
	ck_assert_uint_eq(json_array_size(w.r->accepted), 0);
	/* And one that stays over both fires 'for' after its own start. */
	world_rank(&w, 30 * MIN_MS, 0.9, 500, 300);
	world_pass(&w, 30 * MIN_MS);
	world_pass(&w, 39 * MIN_MS);
	ck_assert_str_eq(world_state(&w, NULL), "pending");
	world_pass(&w, 40 * MIN_MS);
	ck_assert_str_eq(world_state(&w, &row), "firing");
	ck_assert_int_eq(row.firing_since, w.t0 + 40 * MIN_MS);
	ck_assert_uint_eq(delivered(&w, "firing"), 1);
	world_close(&w);
}
END_TEST

/* A firing alert whose suspect dips under min_score and comes back neither resolves nor notifies
 * again (no flapping); a fall in the count resolves it. */
START_TEST(test_dip_under_min_score)
{
	struct world w;
	struct alert_row row;

	world_open(&w, _i == 1, "json", NULL);
	world_rank(&w, 0, 0.9, 500, 300);
	world_pass(&w, 0);
	world_pass(&w, 10 * MIN_MS);
	ck_assert_str_eq(world_state(&w, NULL), "firing");
	ck_assert_uint_eq(delivered(&w, "firing"), 1);
	world_rank(&w, 15 * MIN_MS, 0.5, 520, 300);
	world_pass(&w, 15 * MIN_MS);
	world_pass(&w, 20 * MIN_MS);
	ck_assert_str_eq(world_state(&w, NULL), "firing");
	world_rank(&w, 25 * MIN_MS, 0.9, 540, 300);
	world_pass(&w, 25 * MIN_MS);
	ck_assert_str_eq(world_state(&w, &row), "firing");
	ck_assert_int_eq(row.firing_since, w.t0 + 10 * MIN_MS);
	ck_assert_int_eq(row.pending_since, w.t0);
	ck_assert_uint_eq(json_array_size(w.r->accepted), 1);
	/* Over half its peak, still not growing: still firing. */
	world_rank(&w, 30 * MIN_MS, 0.5, 300, 0);
	world_pass(&w, 30 * MIN_MS);
	ck_assert_str_eq(world_state(&w, NULL), "firing");
	/* Under half its peak (540) and not growing: the leak was fixed. */
	world_rank(&w, 31 * MIN_MS, 0.5, 260, 0);
	world_pass(&w, 31 * MIN_MS);
	ck_assert_str_eq(world_state(&w, &row), "resolved");
	ck_assert_int_eq(row.resolved_at, w.t0 + 31 * MIN_MS);
	ck_assert_uint_eq(delivered(&w, "resolved"), 1);
	ck_assert_uint_eq(delivered(&w, "firing"), 1);
	world_close(&w);
}
END_TEST

/* Retention deletes delivered notifications after retention.raw. An alert firing for longer than
 * that without a repeat still resolves with a notification, made from what the alert itself
 * keeps. */
START_TEST(test_resolved_after_outbox_pruned)
{
	struct world w;
	json_t *firing, *resolved;
	int64_t day = 24 * HOUR_MS;
	int rc;

	world_open(&w, _i == 1, "json", NULL);
	world_rank(&w, 0, 0.9, 500, 300);
	world_pass(&w, 0);
	world_pass(&w, 10 * MIN_MS);
	ck_assert_uint_eq(delivered(&w, "firing"), 1);
	firing = json_incref(last_delivered(&w));
	/* Three days on, retention (raw 48h) has deleted the delivered notification. */
	do {
		rc = store_retention_step(w.st, w.t0 + 3 * day, 2 * day, 30 * day, 1000);
		ck_assert_int_ge(rc, 0);
	} while (rc == 1);
	ck_assert_int_eq(world_count(&w, "SELECT count(*) FROM outbox"), 0);
	/* The leak is fixed: no longer ranked. */
	world_rank(&w, 3 * day, 0, 0, 0);
	world_pass(&w, 3 * day);
	ck_assert_str_eq(world_state(&w, NULL), "resolved");
	ck_assert_uint_eq(delivered(&w, "resolved"), 1);
	resolved = last_delivered(&w);
	ck_assert_str_eq(json_string_value(json_object_get(resolved, "function")), w.function);
	ck_assert_str_eq(json_string_value(json_object_get(resolved, "file")), "/src/app/fetch.go");
	ck_assert_int_eq(json_integer_value(json_object_get(resolved, "line")), 42);
	ck_assert_str_eq(json_string_value(json_object_get(resolved, "service")), "payments");
	ck_assert_str_eq(json_string_value(json_object_get(resolved, "firing_since")),
	                 json_string_value(json_object_get(firing, "firing_since")));
	ck_assert(json_is_string(json_object_get(resolved, "resolved_at")));
	ck_assert_str_ne(json_string_value(json_object_get(resolved, "event_id")),
	                 json_string_value(json_object_get(firing, "event_id")));
	json_decref(firing);
	world_close(&w);
}
END_TEST

/* A database from before alerts kept their firing payload: its firing alerts take theirs from
 * the outbox when it is migrated. (The emulated old database is the current one without the
 * column, at version 2, the one before that migration: the later migrations run again too, so
 * what they add that cannot be added twice, scrapes.restart and the call sites' tables and
 * columns, is dropped as well.) */
START_TEST(test_migration_keeps_firing_payload)
{
	struct world w;
	struct alert_row row;
	int64_t version;
	char sql[1024];

	if (testutil_sqlite_only("test_migration_keeps_firing_payload",
	                         "SQLite's migrations (PostgreSQL's: check_schema)"))
		return;
	world_open(&w, false, "json", NULL);
	version = world_count(&w, "PRAGMA user_version");
	ck_assert_int_ge(version, 3);
	snprintf(sql, sizeof(sql),
	         "ALTER TABLE alerts DROP COLUMN firing_payload; ALTER TABLE scrapes DROP COLUMN "
	         "restart; DROP TABLE sample_stacks; DROP INDEX stacks_last_seen;"
	         " DROP INDEX suspects_stack; ALTER TABLE stacks DROP COLUMN last_seen;"
	         " ALTER TABLE suspects DROP COLUMN stack_id;" TESTUTIL_DROP_SHARDS
	         " PRAGMA user_version = %" PRId64 ";"
	         "INSERT INTO locations (id, function, file, line, op, first_seen, last_seen)"
	         " VALUES (2, 'main.other', '/o.go', 7, 'select', 0, 0);"
	         "INSERT INTO alerts (service_id, location_id, state, pending_since, firing_since,"
	         " last_notified, last_score, last_count, updated)"
	         " VALUES (%" PRId64 ", 1, 'firing', 1, 2, 2, 0.9, 500, 2),"
	         " (%" PRId64 ", 2, 'pending', 1, NULL, NULL, 0.9, 500, 1);",
	         (int64_t)2, w.sid, w.sid);
	ck_assert_int_eq(sqlite3_exec(store_db(w.st), sql, NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(
	    sqlite3_exec(
	        store_db(w.st),
	        "INSERT INTO outbox (event_id, webhook, status, service_id, location_id,"
	        " payload, created, next_attempt, state) VALUES"
	        " ('e1', 'hook', 'firing', (SELECT id FROM services), 1, '{\"n\":1}', 2, 2,"
	        " 'delivered'),"
	        " ('e2', 'hook', 'firing', (SELECT id FROM services), 1, '{\"n\":2}', 3, 3,"
	        " 'delivered'),"
	        " ('e3', 'hook', 'firing', (SELECT id FROM services), 2, '{\"n\":3}', 3, 3,"
	        " 'delivered')",
	        NULL, NULL, NULL),
	    SQLITE_OK);
	store_free(w.st);
	w.st = store_open(w.db, 0);
	ck_assert_ptr_nonnull(w.st);
	ck_assert_int_eq(world_count(&w, "PRAGMA user_version"), version);
	ck_assert_int_eq(alertstore_get(w.st, w.sid, 1, &row), 0);
	ck_assert_str_eq(row.firing_payload, "{\"n\":2}"); /* the latest */
	alert_row_release(&row);
	ck_assert_int_eq(alertstore_get(w.st, w.sid, 2, &row), 0);
	ck_assert_ptr_null(row.firing_payload); /* pending: nothing to resolve yet */
	alert_row_release(&row);
	world_close(&w);
}
END_TEST

/* The alerter writes only when an alert changes: passes over an unchanged ranking commit nothing
 * (no write lock taken from the ingest, no WAL growth). A new peak count is a change (it decides
 * the resolution) and is written once. */
START_TEST(test_writes_only_changes)
{
	struct world w;
	struct alert_row row;
	int writes;

	world_open(&w, _i == 1, "json", NULL);
	world_rank(&w, 0, 0.9, 500, 300);
	ck_assert(world_pass(&w, 0));
	ck_assert_str_eq(world_state(&w, NULL), "pending");
	/* Pending, one pass a second, nothing changes: nothing is written. */
	writes = 0;
	for (int i = 1; i <= 30; i++)
		writes += world_pass(&w, i * 1000);
	ck_assert_int_eq(writes, 0);
	/* A different score is no change of state either. */
	world_rank(&w, 31 * 1000, 0.95, 500, 300);
	for (int i = 31; i <= 40; i++)
		writes += world_pass(&w, i * 1000);
	ck_assert_int_eq(writes, 0);
	/* Firing is. */
	ck_assert(world_pass(&w, 10 * MIN_MS));
	ck_assert_str_eq(world_state(&w, NULL), "firing");
	for (int i = 1; i <= 30; i++)
		writes += world_pass(&w, 10 * MIN_MS + i * 1000);
	ck_assert_int_eq(writes, 0);
	if (!w.restart && w.observer != NULL) {
		/* While another connection holds SQLite's write lock (retention, the ingest), a
		 * pass with nothing to write neither waits for it nor fails. */
		int64_t t = clock_mono_ms();

		ck_assert_int_eq(sqlite3_exec(w.observer, "BEGIN IMMEDIATE", NULL, NULL, NULL),
		                 SQLITE_OK);
		for (int i = 31; i <= 33; i++)
			(void)alert_pass(w.a, w.t0 + 10 * MIN_MS + i * 1000);
		ck_assert_int_eq(sqlite3_exec(w.observer, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
		ck_assert_int_lt(clock_mono_ms() - t, 1000);
	}
	/* A new peak is written, once. */
	world_rank(&w, 11 * MIN_MS, 0.95, 800, 300);
	ck_assert(world_pass(&w, 11 * MIN_MS));
	ck_assert_str_eq(world_state(&w, &row), "firing");
	ck_assert_int_eq(row.last_count, 800);
	ck_assert_double_eq_tol(row.last_score, 0.95, 1e-9);
	for (int i = 1; i <= 10; i++)
		writes += world_pass(&w, 11 * MIN_MS + i * 1000);
	ck_assert_int_eq(writes, 0);
	/* A lower count is not: the peak stays. */
	world_rank(&w, 12 * MIN_MS, 0.95, 600, 300);
	for (int i = 0; i < 10; i++)
		writes += world_pass(&w, 12 * MIN_MS + i * 1000);
	ck_assert_int_eq(writes, 0);
	ck_assert_str_eq(world_state(&w, &row), "firing");
	ck_assert_int_eq(row.last_count, 800);
	/* Under half the stored peak and not growing: resolved. */
	world_rank(&w, 13 * MIN_MS, 0.5, 390, 0);
	ck_assert(world_pass(&w, 13 * MIN_MS));
	ck_assert_str_eq(world_state(&w, NULL), "resolved");
	ck_assert_uint_eq(delivered(&w, "firing"), 1);
	ck_assert_uint_eq(delivered(&w, "resolved"), 1);
	/* Resolved and unranked: nothing more to write. */
	world_rank(&w, 14 * MIN_MS, 0, 0, 0);
	for (int i = 0; i < 10; i++)
		writes += world_pass(&w, 14 * MIN_MS + i * 1000);
	ck_assert_int_eq(writes, 0);
	world_close(&w);
}
END_TEST

/* ---- Names cut to fit, on character boundaries ---- */

/* A Go function name of 'bytes' bytes: "main." and 'pad' ASCII letters, then a 3-byte letter
 * (U+51E6, 処) repeated, so that each alignment of a fixed cut falls inside a character. Caller
 * frees. */
static char *
unicode_name(size_t pad, size_t bytes)
{
	char *s = malloc(bytes + 4);
	size_t o;

	ck_assert_ptr_nonnull(s);
	o = (size_t)snprintf(s, bytes + 4, "main.%.*s", (int)pad, "xyzw");
	while (o + 3 <= bytes) {
		memcpy(s + o, "\xe5\x87\xa6", 3);
		o += 3;
	}
	s[o] = '\0';
	return s;
}

/* True when 'text' holds the first 'n' bytes of 'name'. */
static bool
has_prefix_of(const char *text, const char *name, size_t n)
{
	char *want = strndup(name, n);
	bool found;

	ck_assert_ptr_nonnull(want);
	found = strstr(text, want) != NULL;
	free(want);
	return found;
}

/* Every form of an event whose names are long and Unicode: each fixed-size cut falls on a
 * character boundary, so no string of the message is lost (jansson refuses a cut UTF-8 sequence)
 * and Slack's limits hold. */
START_TEST(test_render_cuts_on_characters)
{
	struct config *cfg = config_default();
	struct config_webhook wh = {.name = (char *)"hook"};

	for (size_t pad = 0; pad < 4; pad++) {
		char *fn = unicode_name(pad, 1800), *file = unicode_name(3 - pad, 1500);
		json_t *ev = json_pack(
		    "{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:n, s:i, s:s, s:[{s:s, s:s, "
		    "s:i}, {s:s, s:s, s:i}, {s:s, s:s, s:i}]}",
		    "event_id", "e1", "status", "firing", "service", "payments", "function", fn,
		    "file", file, "line", 42, "op", "chan send", "explanation", fn, "firing_since",
		    "2026-01-01T00:00:00Z", "resolved_at", "location_id", 12, "url",
		    "http://x/locations/12", "stack", "function", fn, "file", file, "line", 42,
		    "function", fn, "file", file, "line", 38, "function", "main.main", "file", file,
		    "line", 9);
		char *event, *body;
		json_t *j, *block, *alert;
		const char *text;
		size_t i;

		ck_assert_ptr_nonnull(ev);
		event = json_dumps(ev, JSON_COMPACT);
		json_decref(ev);

		wh.format = WEBHOOK_FORMAT_SLACK;
		body = alert_render(cfg, &wh, event);
		ck_assert_ptr_nonnull(body);
		j = parse_json(body);
		ck_assert_msg(slack_refuses(j) == NULL, "slack refuses (%s): %s", slack_refuses(j),
		              body);
		text = json_string_value(json_object_get(j, "text"));
		ck_assert_msg(has_prefix_of(text, fn, 300), "the function is missing: %s", text);
		ck_assert_msg(has_prefix_of(text, file, 300), "the file is missing: %s", text);
		ck_assert_ptr_nonnull(strstr(text, "<http://x/locations/12|Open in leakprofd>"));
		/* A cut name says so. */
		ck_assert_ptr_nonnull(strstr(text, "\xe2\x80\xa6` at `"));
		ck_assert_uint_eq(json_array_size(json_object_get(j, "blocks")), 2);
		block = json_array_get(json_object_get(j, "blocks"), 1);
		text = json_string_value(json_object_get(json_object_get(block, "text"), "text"));
		ck_assert_ptr_nonnull(text);
		ck_assert(has_prefix_of(text, fn, 300));
		/* Whole frames only: each one ends with its line. */
		ck_assert_ptr_nonnull(strstr(text, ":42\n"));
		ck_assert(strlen(text) > 4 && strcmp(text + strlen(text) - 4, "\n```") == 0);
		json_decref(j);
		free(body);

		wh.format = WEBHOOK_FORMAT_ALERTMANAGER;
		body = alert_render(cfg, &wh, event);
		ck_assert_ptr_nonnull(body);
		j = parse_json(body);
		alert = json_array_get(json_object_get(j, "alerts"), 0);
		ck_assert_str_eq(json_string_value(
		                     json_object_get(json_object_get(alert, "labels"), "function")),
		                 fn);
		text = json_string_value(
		    json_object_get(json_object_get(alert, "annotations"), "summary"));
		ck_assert_ptr_nonnull(text);
		ck_assert(has_prefix_of(text, file, 300));
		text = json_string_value(
		    json_object_get(json_object_get(alert, "annotations"), "stack"));
		ck_assert_ptr_nonnull(text);
		ck_assert(has_prefix_of(text, fn, 300));
		ck_assert_ptr_nonnull(json_object_get(j, "commonAnnotations"));
		ck_assert_ptr_nonnull(json_object_get(j, "commonLabels"));
		json_array_foreach(json_object_get(j, "alerts"), i, alert)
		    ck_assert_ptr_nonnull(json_object_get(alert, "annotations"));
		json_decref(j);
		free(body);
		free(event);
		free(fn);
		free(file);
	}
	config_unref(cfg);
}
END_TEST

/* End to end: a leak in a function whose long Unicode name the slack format must cut reaches a
 * real receiver that answers as Slack does, once, with its text. */
START_TEST(test_slack_unicode_name_delivered)
{
	struct world w;
	char *fn = unicode_name(1, 2000);
	const char *text;

	world_open(&w, false, "slack", fn);
	world_rank(&w, 0, 0.9, 500, 300);
	world_pass(&w, 0);
	world_pass(&w, 10 * MIN_MS);
	ck_assert_str_eq(world_state(&w, NULL), "firing");
	ck_assert_uint_eq(w.r->rejected, 0);
	ck_assert_uint_eq(json_array_size(w.r->accepted), 1);
	ck_assert_int_eq(world_count(&w, "SELECT count(*) FROM outbox WHERE state = 'delivered'"),
	                 1);
	text = json_string_value(json_object_get(last_delivered(&w), "text"));
	ck_assert(has_prefix_of(text, fn, 300));
	ck_assert_ptr_nonnull(
	    strstr(text, ":rotating_light: *Goroutine leak firing* in *payments*"));
	/* The resolution goes out the same way. */
	world_rank(&w, 20 * MIN_MS, 0, 0, 0);
	world_pass(&w, 20 * MIN_MS);
	ck_assert_uint_eq(w.r->rejected, 0);
	ck_assert_uint_eq(json_array_size(w.r->accepted), 2);
	text = json_string_value(json_object_get(last_delivered(&w), "text"));
	ck_assert_ptr_nonnull(strstr(text, "*Goroutine leak resolved*"));
	ck_assert(has_prefix_of(text, fn, 300));
	world_close(&w);
	free(fn);
}
END_TEST

/* Switch the world to a configuration with 'services' (YAML, a list under "services:") in place of
 * none: the alerter is made anew on it at the next pass. */
static void
world_services(struct world *w, const char *services)
{
	char yaml[4096];
	struct config_errors errs = {0};
	const struct config_webhook *wh = &w->cfg->alerting.webhooks[0];

	snprintf(yaml, sizeof(yaml),
	         "database: %s\n"
	         "retention: {raw: 48h, rollup: 30d}\n"
	         "services:\n%s"
	         "alerting:\n"
	         "  min_score: 0.8\n"
	         "  min_count: 100\n"
	         "  for: 10m\n"
	         "  repeat_interval: 1h\n"
	         "  max_age: 24h\n"
	         "  webhooks:\n"
	         "    - {name: hook, url: \"%s\", format: json, timeout: 5s}\n",
	         w->db, services, wh->url);
	config_unref(w->cfg);
	w->cfg = config_load_buffer("alert.yaml", yaml, strlen(yaml), &errs);
	ck_assert_msg(w->cfg != NULL, "config: %s", errs.n ? errs.msgs[0] : "?");
	config_errors_release(&errs);
	alert_free(w->a);
	w->a = NULL;
}

/* A service with a source key gets links to the code at its running version (its targets'
 * version label) in every payload: "source_url" on the event and on each frame of its stack in
 * the json form, kept in the resolved notification; a "View the code" link in the slack form; a
 * source_url annotation in the alertmanager form. Without the key the payload has none. */
START_TEST(test_payload_source_links)
{
	static const char want[] = "https://git.example/payments/blob/v2.0.1/app/fetch.go#L42";
	struct config_webhook slack = {.name = (char *)"s", .format = WEBHOOK_FORMAT_SLACK};
	struct config_webhook am = {.name = (char *)"am", .format = WEBHOOK_FORMAT_ALERTMANAGER};
	struct world w;
	json_t *ev, *j, *stack;
	char *firing, *body;

	/* Without the key: nothing new in the event. */
	world_open(&w, false, "json", NULL);
	world_rank(&w, 0, 0.9, 500, 300);
	world_pass(&w, 0);
	world_pass(&w, 10 * MIN_MS);
	ck_assert_uint_eq(delivered(&w, "firing"), 1);
	ev = last_delivered(&w);
	ck_assert_ptr_null(json_object_get(ev, "source_url"));
	ck_assert_ptr_null(
	    json_object_get(json_array_get(json_object_get(ev, "stack"), 0), "source_url"));
	world_close(&w);

	world_open(&w, false, "json", NULL);
	world_services(&w,
	               "  - name: payments\n"
	               "    targets: [\"http://127.0.0.1:1\"]\n"
	               "    source:\n"
	               "      url: \"https://git.example/payments/blob/{version}/{path}#L{line}\"\n"
	               "      strip_prefix: /src/\n"
	               "      version_label: version\n");
	ck_assert_int_gt(
	    store_target_upsert(w.st, "payments", "{\"version\":\"v2.0.1\"}", "http://127.0.0.1:1"),
	    0);
	world_rank(&w, 0, 0.9, 500, 300);
	world_pass(&w, 0);
	world_pass(&w, 10 * MIN_MS);
	ck_assert_uint_eq(delivered(&w, "firing"), 1);
	ev = last_delivered(&w);
	ck_assert_str_eq(json_string_value(json_object_get(ev, "source_url")), want);
	stack = json_object_get(ev, "stack");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(stack, 0), "source_url")),
	                 want);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(stack, 1), "source_url")),
	                 "https://git.example/payments/blob/v2.0.1/app/fetch.go#L38");
	firing = json_dumps(ev, JSON_COMPACT);
	ck_assert_ptr_nonnull(firing);

	body = alert_render(w.cfg, &slack, firing);
	ck_assert_ptr_nonnull(body);
	j = parse_json(body);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "text")),
	                             "|Open in leakprofd> · "
	                             "<https://git.example/payments/blob/v2.0.1/app/"
	                             "fetch.go#L42|View the code>"));
	json_decref(j);
	free(body);
	body = alert_render(w.cfg, &am, firing);
	ck_assert_ptr_nonnull(body);
	j = parse_json(body);
	ck_assert_str_eq(
	    json_string_value(json_object_get(
	        json_object_get(json_array_get(json_object_get(j, "alerts"), 0), "annotations"),
	        "source_url")),
	    want);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "commonAnnotations"),
	                                                   "source_url")),
	                 want);
	json_decref(j);
	free(body);
	free(firing);

	/* The resolution carries the same links. */
	world_rank(&w, 20 * MIN_MS, 0, 0, 0);
	world_pass(&w, 20 * MIN_MS);
	ck_assert_uint_eq(delivered(&w, "resolved"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(last_delivered(&w), "source_url")),
	                 want);
	ck_assert_uint_eq(w.r->rejected, 0);
	world_close(&w);
}
END_TEST

/* The outbox row of the one notification: its state, attempts, next attempt and last error. */
static void
world_outbox(struct world *w, char *state, size_t statelen, int *attempts, int64_t *next_attempt,
             char *error, size_t errorlen)
{
	struct db_stmt *stmt = testutil_db_prepare(
	    store_dbh(w->st), "SELECT state, attempts, next_attempt, coalesce(last_error, '')"
	                      " FROM outbox ORDER BY id LIMIT 1");

	ck_assert_int_eq(db_step(stmt), DB_ROW);
	snprintf(state, statelen, "%s", db_column_text(stmt, 0));
	*attempts = db_column_int(stmt, 1);
	*next_attempt = db_column_int64(stmt, 2);
	snprintf(error, errorlen, "%s", db_column_text(stmt, 3));
	db_finalize(stmt);
}

static int
count_failed(const char *webhook, int64_t n, void *arg)
{
	ck_assert_str_eq(webhook, "hook");
	*(int64_t *)arg += n;
	return 0;
}

/* A 4xx that no retry changes (Slack's 400 invalid_payload, 403, 404 no_service) is tried once:
 * the row is failed with the start of the answer, escaped, it is never sent again, and the
 * webhook's next notification goes out behind it. */
START_TEST(test_refused_for_good)
{
	static const unsigned statuses[] = {400, 403, 404};
	char state[16], error[600];
	struct world w;
	int64_t next, failed = 0;
	int attempts;

	world_open(&w, false, "json", NULL);
	w.r->status = statuses[_i];
	w.r->answer = "invalid_payload\n\033[31mforged line";
	world_rank(&w, 0, 0.9, 500, 300);
	world_pass(&w, 0);
	world_pass(&w, 10 * MIN_MS);
	ck_assert_str_eq(world_state(&w, NULL), "firing");
	ck_assert_uint_eq(w.r->rejected, 1);
	world_outbox(&w, state, sizeof(state), &attempts, &next, error, sizeof(error));
	ck_assert_str_eq(state, "failed");
	ck_assert_int_eq(attempts, 1);
	ck_assert_msg(strstr(error, "not retried: invalid_payload\\x0a\\x1b[31mforged line") !=
	                  NULL,
	              "last_error: %s", error);
	ck_assert_int_eq(alertstore_outbox_failed(w.st, count_failed, &failed), 0);
	ck_assert_int_eq(failed, 1);
	/* Not tried again, however long the alert fires (max_age is 24 h). */
	world_pass(&w, 11 * MIN_MS);
	world_pass(&w, 40 * MIN_MS);
	ck_assert_uint_eq(w.r->rejected, 1);
	/* The resolution, accepted, is not held behind it. */
	w.r->status = 200;
	world_rank(&w, 50 * MIN_MS, 0, 0, 0);
	world_pass(&w, 50 * MIN_MS);
	ck_assert_uint_eq(delivered(&w, "resolved"), 1);
	ck_assert_uint_eq(w.r->rejected, 1);
	world_close(&w);
}
END_TEST

/* ---- A confirmed leak end to end: stored profiles, the real detector, the alerter ---- */

/* Store one successful profile of 'n' goroutines blocked at main.fetch.func1 (/src/app/fetch.go:42,
 * called from main.fetch) in target 'tid' at 'ts', as Go writes it at debug=1: a goroutine profile
 * scrape (with the goroutine writing it), or a goroutineleak fetch, which the collector stores as a
 * detail scrape. */
static void
world_scrape(struct world *w, int64_t tid, int64_t ts, uint64_t n, bool leakprofile)
{
	char text[1024];
	struct profile p;
	struct parse_error e;
	int len;
	struct scrape_record rec = {
	    .target_id = tid, .ts = ts, .duration_ms = 5, .status = "ok", .detail = leakprofile};

	len = snprintf(text, sizeof(text),
	               "%s profile: total %llu\n%s"
	               "%llu @ 0x43b296 0x600000 0x600008 0x46b281\n"
	               "#\t0x600000\tmain.fetch.func1+0x24\t/src/app/fetch.go:42\n"
	               "#\t0x600008\tmain.fetch+0x24\t/src/app/fetch.go:38\n\n",
	               leakprofile ? "goroutineleak" : "goroutine",
	               (unsigned long long)(leakprofile ? n : n + 1),
	               leakprofile ? ""
	                           : "1 @ 0x43b296 0x46b281\n"
	                             "#\t0x43b295\tmain.main+0x24\t/src/app/main.go:30\n\n",
	               (unsigned long long)n);
	ck_assert(len > 0 && (size_t)len < sizeof(text));
	ck_assert_msg(profile_parse(text, (size_t)len, &p, &e) == 0, "parse: line %zu: %s", e.line,
	              e.msg);
	rec.bytes = (uint64_t)len;
	rec.profile = &p;
	ck_assert_int_eq(store_add_scrape(w->st, &rec), 0);
	profile_release(&p);
}

/* The leak profile's count of a confirmed leak can differ by one between consecutive fetches
 * (the runtime's leak detection is not exact): a flicker around the minimums (detector.min_count
 * and alerting.min_count, 100 here), down to 99 and back, is not a new alert and not a
 * resolution. Once with the goroutine profile holding
 * the true count (100) while only the leak profile flickers, once with both flickering (a goroutine
 * passing through the same line now and then). Scraped every minute, the leak profile fetched every
 * five, ranked by the real detector and alerted on after each scrape, for 65 minutes (within
 * repeat_interval of the firing): exactly one firing notification, no resolution. */
START_TEST(test_confirmed_flicker)
{
	static const uint64_t flicker[] = {100, 99, 100, 101, 100, 99, 100, 101, 102, 101, 100, 99};
	const size_t nf = sizeof(flicker) / sizeof(flicker[0]);
	struct world w;
	struct ranking r;
	int64_t tid;
	bool seen = false;

	world_open(&w, false, "json", NULL);
	/* The detector's minimum too: a location ranks on min_count proven leaks. */
	w.cfg->detector.min_count = 100;
	tid = store_target_upsert(w.st, "payments", NULL, "http://127.0.0.1:1");
	ck_assert_int_gt(tid, 0);
	for (int m = 0; m < 65; m++) {
		int64_t at = m * MIN_MS;
		uint64_t confirmed = flicker[(size_t)(m / 5) % nf];

		world_scrape(&w, tid, w.t0 + at, _i == 0 ? 100 : confirmed, false);
		if (m % 5 == 0)
			world_scrape(&w, tid, w.t0 + at + 2000, confirmed, true);
		ck_assert_int_eq(detect_run(w.st, w.cfg, NULL, w.t0 + at + 3000), 0);
		ck_assert_int_eq(store_ranking_load(w.st, NULL, 0, &r), 0);
		if (m >= 0) {
			ck_assert_msg(r.n == 1, "minute %d: %zu suspects", m, r.n);
			ck_assert_msg(r.suspects[0].confirmed, "minute %d: not confirmed", m);
			w.loc = r.suspects[0].location_id;
			seen = true;
		}
		ranking_release(&r);
		world_pass(&w, at + 3000);
		ck_assert_msg(delivered(&w, "resolved") == 0, "minute %d: resolved", m);
		if (m >= 30)
			ck_assert_msg(strcmp(world_state(&w, NULL), "firing") == 0,
			              "minute %d: the alert is '%s'", m, world_state(&w, NULL));
	}
	ck_assert(seen);
	ck_assert_uint_eq(delivered(&w, "firing"), 1);
	ck_assert_uint_eq(delivered(&w, "resolved"), 0);
	ck_assert_uint_eq(w.r->rejected, 0);
	world_close(&w);
}
END_TEST

/* 5xx, 408, 425, 429 are retried; a Retry-After is honoured up to the backoff's bound (5 min), and
 * the notification goes out once the receiver takes it. */
START_TEST(test_retried_answers)
{
	static const struct {
		unsigned status;
		const char *retry_after;
		int64_t min_ms, max_ms; /* when the next attempt is due, after the answer */
	} cases[] = {
	    {429, "120", 119000, 121000},  /* as asked */
	    {503, "3600", 299000, 301000}, /* at most 5 min */
	    {408, NULL, 700, 1300},        /* the backoff's first step, ±20% */
	    {500, NULL, 700, 1300},        {425, "0", 700, 1300}, /* no pause asked: the backoff */
	};
	char state[16], error[600];
	struct world w;
	int64_t next, before, after;
	int attempts;

	world_open(&w, false, "json", NULL);
	w.r->status = cases[_i].status;
	w.r->retry_after = cases[_i].retry_after;
	world_rank(&w, 0, 0.9, 500, 300);
	world_pass(&w, 0);
	before = clock_wall_ms();
	world_pass(&w, 10 * MIN_MS);
	after = clock_wall_ms();
	ck_assert_uint_eq(w.r->rejected, 1);
	world_outbox(&w, state, sizeof(state), &attempts, &next, error, sizeof(error));
	ck_assert_str_eq(state, "pending");
	ck_assert_int_eq(attempts, 1);
	ck_assert_msg(next >= before + cases[_i].min_ms && next <= after + cases[_i].max_ms,
	              "http %u: next attempt in %" PRId64 " ms", cases[_i].status, next - after);
	w.r->status = 200;
	world_pass(&w, 20 * MIN_MS);
	ck_assert_uint_eq(delivered(&w, "firing"), 1);
	world_outbox(&w, state, sizeof(state), &attempts, &next, error, sizeof(error));
	ck_assert_str_eq(state, "delivered");
	ck_assert_int_eq(attempts, 2);
	world_close(&w);
}
END_TEST

Suite *
alert_suite(void)
{
	Suite *s = suite_create("alert");
	TCase *tc = tcase_create("alert");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_sample_payload);
	tcase_add_test(tc, test_render_labels);
	tcase_add_test(tc, test_firing_carries_labels);
	tcase_add_test(tc, test_render_formats);
	tcase_add_test(tc, test_outbox);
	tcase_add_test(tc, test_post_signed);
	tcase_add_loop_test(tc, test_repeat_interval, 0, 2);
	tcase_add_loop_test(tc, test_pending_cancelled, 0, 2);
	tcase_add_loop_test(tc, test_dip_under_min_score, 0, 2);
	tcase_add_loop_test(tc, test_resolved_after_outbox_pruned, 0, 2);
	tcase_add_test(tc, test_migration_keeps_firing_payload);
	tcase_add_loop_test(tc, test_writes_only_changes, 0, 2);
	tcase_add_test(tc, test_render_cuts_on_characters);
	tcase_add_test(tc, test_slack_unicode_name_delivered);
	tcase_add_loop_test(tc, test_confirmed_flicker, 0, 2);
	tcase_add_test(tc, test_payload_source_links);
	tcase_add_loop_test(tc, test_refused_for_good, 0, 3);
	tcase_add_loop_test(tc, test_retried_answers, 0, 5);
	suite_add_tcase(s, tc);
	return s;
}
