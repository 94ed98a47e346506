/* tests/check_alert.c: alerting: payloads and their slack/alertmanager forms, the outbox in a real
 * SQLite file, and delivery to a real HTTP receiver (libmicrohttpd on 127.0.0.1) that checks the
 * HMAC signature. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "detect/alert.h"
#include "base/config.h"
#include "storage/alertstore.h"
#include "storage/store.h"
#include "storage/store_internal.h"

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

START_TEST(test_outbox)
{
	char path[] = "/tmp/check_alert_XXXXXX";
	int fd = mkstemp(path);
	struct store *st;
	struct alert_row row = {.service_id = 0}, got;
	struct outbox_new out[2] = {
	    {.event_id = "e1", .webhook = "a", .status = "firing", .payload = "{\"n\":1}"},
	    {.event_id = "e1", .webhook = "b", .status = "firing", .payload = "{\"n\":1}"},
	};
	struct outbox_row head;
	char *payload;
	int64_t sid;

	ck_assert_int_ge(fd, 0);
	close(fd);
	unlink(path);
	st = store_open(path, 0);
	ck_assert_ptr_nonnull(st);
	/* alerts reference a service and a location. */
	ck_assert_int_gt(store_target_upsert(st, "svc", NULL, "http://127.0.0.1:1"), 0);
	ck_assert_int_eq(store_service_id(st, "svc", &sid), 0);
	ck_assert_int_eq(
	    sqlite3_exec(
	        store_db(st),
	        "INSERT INTO locations (id, function, file, line, op, "
	        "first_seen, last_seen) VALUES (1, 'main.f', '/x.go', 3, 'chan send', 0, 0)",
	        NULL, NULL, NULL),
	    SQLITE_OK);
	row.service_id = sid;
	row.location_id = 1;
	snprintf(row.state, sizeof(row.state), "firing");
	row.firing_since = 1000;
	row.last_count = 50;
	ck_assert_int_eq(alertstore_update(st, &row, out, 2, 1000), 0);
	/* The same event id queued again (a retried transaction) is not duplicated. */
	ck_assert_int_eq(alertstore_update(st, &row, out, 1, 1001), 0);
	ck_assert_int_eq(alertstore_get(st, sid, 1, &got), 0);
	ck_assert_str_eq(got.state, "firing");
	ck_assert_int_eq(got.last_count, 50);
	ck_assert_int_eq(alertstore_get(st, sid, 2, &got), 1);

	out[0].event_id = "e2";
	out[0].payload = "{\"n\":2}";
	ck_assert_int_eq(alertstore_update(st, &row, out, 1, 2000), 0);
	ck_assert_int_eq(alertstore_last_firing_payload(st, sid, 1, &payload), 0);
	ck_assert_str_eq(payload, "{\"n\":2}");
	free(payload);

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

	ck_assert_int_eq(alertstore_delete(st, sid, 1), 0);
	ck_assert_int_eq(alertstore_get(st, sid, 1, &got), 1);
	store_free(st);
	unlink(path);
}
END_TEST

/* ---- A real receiver ---- */

struct receiver {
	unsigned status;
	char signature[128];
	char event_id[128];
	char body[8192];
	size_t len;
};

static enum MHD_Result
receive(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
        const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct receiver *r = cls;
	struct MHD_Response *resp;
	const char *v;
	enum MHD_Result ret;
	static const char answer[] = "thanks";

	(void)url;
	(void)method;
	(void)version;
	if (*con_cls == NULL) {
		*con_cls = r;
		r->len = 0;
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
	resp = MHD_create_response_from_buffer(sizeof(answer) - 1, (void *)answer,
	                                       MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

START_TEST(test_post_signed)
{
	struct receiver r = {.status = 200};
	struct MHD_Daemon *d;
	char url[128], err[256], answer[64], keyfile[] = "/tmp/check_alert_key_XXXXXX", want[128];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	struct config_webhook wh = {.name = (char *)"hook", .timeout = 5};
	const char *body = "{\"event_id\":\"e9\"}";
	const union MHD_DaemonInfo *info;
	long code;
	int fd;

	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, receive, &r,
	                     MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
	ck_assert_ptr_nonnull(d);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/hook", info->port);
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

Suite *
alert_suite(void)
{
	Suite *s = suite_create("alert");
	TCase *tc = tcase_create("alert");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_sample_payload);
	tcase_add_test(tc, test_render_formats);
	tcase_add_test(tc, test_outbox);
	tcase_add_test(tc, test_post_signed);
	suite_add_tcase(s, tc);
	return s;
}
