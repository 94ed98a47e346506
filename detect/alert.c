/* detect/alert.c: webhook alerting, on a thread of its own with its own SQLite connection.
 *
 * Each pass reads the latest stored ranking and moves every (service, location) through pending →
 * firing → resolved: a suspect at or over alerting.min_score with at least alerting.min_count
 * goroutines in one instance becomes pending; after staying so for alerting.for it fires; while
 * firing it is re-notified every alerting.repeat_interval; it resolves when it is no longer ranked
 * or its count has fallen (below min_count, or under half its peak while not growing), as after a
 * fixed deploy. State changes and the notifications they cause are written in one transaction
 * (storage/alertstore.c), so a restart neither forgets nor repeats an alert; a pass that changes
 * nothing writes nothing, so the 1 s tick never contends with the ingest for the write lock.
 *
 * Delivery drains the outbox in order per webhook: at least once, with a stable event id in the
 * payload and in X-Leakprofd-Event-Id; a failed attempt is retried with exponential backoff and
 * jitter (or after the receiver's Retry-After, within the same bounds), the head of a webhook's
 * queue blocking the rest so receivers see events in order; notifications older than
 * alerting.max_age are dropped and logged. An answer no retry can change (a 4xx other than 408,
 * 425 and 429) marks the notification failed at once, logged with the start of the answer. A slow
 * or dead receiver only ever holds this thread. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "base/secret.h"
#include "base/srclink.h"
#include "base/xalloc.h"
#include "collector/targets.h"
#include "detect/alert.h"
#include "detect/suspect_labels.h"
#include "storage/alertstore.h"
#include "storage/query.h"
#include "storage/store.h"

#define ALERT_TICK_MS 1000 /* evaluation cadence: resolves alerting.for to about a second */
#define ALERT_RETRY_MIN_MS 1000
#define ALERT_RETRY_MAX_MS                                                                         \
	(5 * 60 * 1000)              /* a receiver back from an outage is served within 5 min */
#define ALERT_SEND_BUDGET 200        /* notifications sent per webhook per pass */
#define ALERT_ANSWER_MAX (64 * 1024) /* receiver answer kept for logs and test-webhook */
#define ALERT_ANSWER_LOGGED 200      /* bytes of a refusing receiver's answer quoted in the log */

/* What a pass works with: a configuration snapshot, shared by reference (immutable, so a reload
 * costs a reference, not a copy), and the dashboard's base URL made from it. */
struct alert_settings {
	struct config *cfg;                  /* a reference of its own */
	const struct config_alerting *rules; /* &cfg->alerting */
	char *external_url;
};

struct alerter {
	pthread_t thread;
	bool threaded; /* alert_start()ed: alert_stop() joins the thread */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool kicked;
	atomic_bool stop;
	struct config *next;       /* a reloaded snapshot (a reference) to take, under mu */
	struct alert_settings cur; /* the passes' own, swapped for 'next' between passes */
	struct store *st;
};

/* The dashboard's base URL for links: external_url, else derived from listen. Caller owns. */
static char *
dashboard_base(const struct config *cfg)
{
	const char *listen = cfg->listen != NULL ? cfg->listen : "127.0.0.1:8080";
	char *base;
	size_t len;

	/* Whole: a URL cut short is a wrong link (or, cut inside a character, no link at all). */
	if (cfg->external_url != NULL && cfg->external_url[0] != '\0') {
		base = xstrdup(cfg->external_url);
	} else {
		len = strlen("http://") + strlen(listen) + 1;
		base = xmalloc(len);
		snprintf(base, len, "http://%s", listen);
	}
	len = strlen(base);
	while (len > 0 && base[len - 1] == '/')
		base[--len] = '\0';
	return base;
}

/* Make 's' the settings of 'cfg' (steals the caller's reference). */
static void
settings_init(struct alert_settings *s, struct config *cfg)
{
	s->cfg = cfg;
	s->rules = &cfg->alerting;
	s->external_url = dashboard_base(cfg);
}

static void
settings_release(struct alert_settings *s)
{
	config_unref(s->cfg);
	free(s->external_url);
	*s = (struct alert_settings){0};
}

/* ---- Payloads ---- */

static void
set_time(json_t *obj, const char *key, int64_t ms)
{
	char buf[CLOCK_ISO8601_LEN];

	if (!clock_fmt_iso8601(ms, buf, sizeof(buf))) {
		json_object_set_new(obj, key, json_null());
		return;
	}
	json_object_set_new(obj, key, json_string(buf));
}

/* The link of 'file':'line' to the code, as a JSON string, or NULL when there is none. */
static json_t *
source_url(const struct config_source *src, const char *file, json_int_t line, const char *version)
{
	struct sbuf url = {.max = 16 * 1024};
	json_t *j = NULL;

	if (file != NULL && line > 0 &&
	    srclink_expand(src, file, (unsigned long)line, version, &url) == 0 && !url.failed)
		j = json_string(url.p);
	sbuf_release(&url);
	return j;
}

/* With a source key on the suspect's service: "source_url" on the event (its file:line) and on
 * each frame of 'stack' that has a link, at the version the service's version label names (read
 * from 'st', which may be NULL: version unknown). Without the key the event stays as it was. */
static void
add_source_links(json_t *obj, json_t *stack, const struct config *cfg, struct store *st,
                 const struct suspect *sus)
{
	const struct config_source *src = NULL;
	struct query_service *sv = NULL;
	char *version = NULL;
	size_t nsv = 0, i;
	json_t *fr, *u;

	for (i = 0; i < cfg->nservices; i++) {
		if (cfg->services[i].source.url != NULL &&
		    strcmp(cfg->services[i].name, sus->service) == 0)
			src = &cfg->services[i].source;
	}
	if (src == NULL)
		return;
	if (src->version_label != NULL && st != NULL && query_services(st, &sv, &nsv) == 0) {
		for (i = 0; i < nsv && version == NULL; i++) {
			if (sv[i].id == sus->service_id)
				version = srclink_version(src, sv[i].labels_json);
		}
		query_services_free(sv, nsv);
	}
	u = source_url(src, sus->file, sus->line, version);
	if (u != NULL)
		json_object_set_new(obj, "source_url", u);
	json_array_foreach(stack, i, fr)
	{
		u = source_url(src, json_string_value(json_object_get(fr, "file")),
		               json_integer_value(json_object_get(fr, "line")), version);
		if (u != NULL && json_is_object(fr))
			json_object_set_new(fr, "source_url", u);
		else
			json_decref(u);
	}
	free(version);
}

/* The json-format event for a firing suspect, with its top label sets 'labels' (NULL: none) and
 * source links where the service has them (the version read from 'st', may be NULL). Caller owns
 * the text. */
static char *
payload_firing(const struct alert_settings *s, const struct suspect *sus,
               const struct store_labels *labels, const char *event_id, int64_t firing_since,
               struct store *st)
{
	struct sbuf url = {0};
	json_t *obj = json_object(), *stack;
	char *text;

	sbuf_addf(&url, "%s/locations/%" PRId64, s->external_url, sus->location_id);
	stack = json_loads(sus->stack_json != NULL ? sus->stack_json : "[]", 0, NULL);
	if (stack == NULL)
		stack = json_array();
	json_object_set_new(obj, "version", json_integer(1));
	json_object_set_new(obj, "event_id", json_string(event_id));
	json_object_set_new(obj, "status", json_string("firing"));
	json_object_set_new(obj, "service", json_string(sus->service));
	json_object_set_new(obj, "function", json_string(sus->function));
	json_object_set_new(obj, "file", json_string(sus->file));
	json_object_set_new(obj, "line", json_integer(sus->line));
	json_object_set_new(obj, "op", json_string(sus->op));
	json_object_set_new(obj, "score", json_real(round(sus->score * 1000) / 1000));
	json_object_set_new(obj, "confirmed", json_boolean(sus->confirmed));
	json_object_set_new(obj, "current_count", json_integer((json_int_t)sus->current_count));
	json_object_set_new(obj, "max_instance_count",
	                    json_integer((json_int_t)sus->max_instance_count));
	json_object_set_new(obj, "growth_per_hour",
	                    json_real(round(sus->growth_per_hour * 10) / 10));
	json_object_set_new(obj, "instances_growing", json_integer(sus->instances_growing));
	json_object_set_new(obj, "instances_total", json_integer(sus->instances_total));
	json_object_set_new(obj, "explanation",
	                    json_string(sus->explanation != NULL ? sus->explanation : ""));
	set_time(obj, "first_seen", sus->first_seen);
	set_time(obj, "firing_since", firing_since);
	json_object_set_new(obj, "resolved_at", json_null());
	json_object_set_new(obj, "location_id", json_integer(sus->location_id));
	json_object_set_new(obj, "url", json_string(url.p != NULL ? url.p : ""));
	sbuf_release(&url);
	add_source_links(obj, stack, s->cfg, st, sus);
	json_object_set_new(obj, "stack", stack);
	json_object_set_new(obj, "labels", suspect_labels_json(labels));
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (text == NULL) {
		/* json_string() rejects invalid UTF-8: a hostile name can get here. */
		log_warn("alert: cannot encode the notification for '%s' at '%s:%" PRIu32 "'",
		         sus->service, sus->file, sus->line);
	}
	return text;
}

/* The resolved event: the last firing payload with a new id, status and resolution time. Caller
 * owns. */
static char *
payload_resolved(const char *firing_payload, const char *event_id, int64_t resolved_at)
{
	json_t *obj = json_loads(firing_payload, 0, NULL);
	char *text;

	if (obj == NULL || !json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	json_object_set_new(obj, "event_id", json_string(event_id));
	json_object_set_new(obj, "status", json_string("resolved"));
	set_time(obj, "resolved_at", resolved_at);
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	return text;
}

/* Stable and unique: the alert's identity, the event's kind and when it was decided. */
static void
make_event_id(char *buf, size_t len, int64_t service_id, int64_t location_id, const char *status,
              int64_t ms)
{
	snprintf(buf, len, "lpd-%" PRId64 "-%" PRId64 "-%s-%" PRId64, service_id, location_id,
	         status, ms);
}

static const char *
jstr(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "";
}

/* ---- Text cut to fit, on character boundaries ---- */

/* The piece of output for the character at 'p': the character itself, U+FFFD for an invalid byte,
 * or with 'mrkdwn' its Slack escape (&, < and > are control characters there). Sets *out and
 * *outlen, and returns how many input bytes it stands for. */
static size_t
text_piece(const unsigned char *p, bool mrkdwn, const char **out, size_t *outlen)
{
	size_t n = sbuf_utf8_seq(p);

	if (n == 0) {
		*out = "\xef\xbf\xbd";
		*outlen = 3;
		return 1;
	}
	*out = (const char *)p;
	*outlen = n;
	if (mrkdwn && *p == '&')
		*out = "&amp;";
	else if (mrkdwn && *p == '<')
		*out = "&lt;";
	else if (mrkdwn && *p == '>')
		*out = "&gt;";
	if (*out != (const char *)p)
		*outlen = strlen(*out);
	return n;
}

/* Append 's' to 'b' in at most 'max' bytes: whole when it fits, else cut on a character boundary
 * and ended with "…"; with 'mrkdwn', escaped for Slack (an escape is never cut). Every name the
 * formats bound goes through here: a cut inside a UTF-8 sequence would make the string invalid,
 * jansson refuses it, and the message would go out without it (Slack then refuses the message). */
static void
put_text(struct sbuf *b, const char *s, size_t max, bool mrkdwn)
{
	static const char ellipsis[] = "\xe2\x80\xa6";
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	const char *out;
	size_t outlen, used = 0, i;

	for (i = 0; p[i] != '\0' && used <= max;) {
		i += text_piece(p + i, mrkdwn, &out, &outlen);
		used += outlen;
	}
	if (used <= max) {
		max = SIZE_MAX; /* it fits whole */
	} else {
		if (max < sizeof(ellipsis) - 1)
			return;
		max -= sizeof(ellipsis) - 1;
	}
	for (i = 0, used = 0; p[i] != '\0';) {
		size_t n = text_piece(p + i, mrkdwn, &out, &outlen);

		if (used + outlen > max)
			break;
		sbuf_add(b, out, outlen);
		used += outlen;
		i += n;
	}
	if (p[i] != '\0')
		sbuf_add(b, ellipsis, sizeof(ellipsis) - 1);
}

/* The event's "labels" as text, "k=v, k2=v2: 40 (+24); ...", in at most 'max' bytes: whole sets
 * while they fit (names cut to 100 bytes each), then "…"; with 'mrkdwn', escaped for Slack. */
static void
labels_text(struct sbuf *b, json_t *labels, size_t max, bool mrkdwn)
{
	size_t start = b->len, i;
	json_t *e;

	json_array_foreach(labels, i, e)
	{
		json_t *set = json_object_get(e, "set"), *v;
		struct sbuf one = {0};
		const char *k;
		bool first = true;

		if (json_is_object(set)) {
			json_object_foreach(set, k, v)
			{
				if (!first)
					sbuf_puts(&one, ", ");
				first = false;
				put_text(&one, k, 100, mrkdwn);
				sbuf_puts(&one, "=");
				put_text(&one, json_string_value(v), 100, mrkdwn);
			}
		} else {
			sbuf_puts(&one, "other sets");
		}
		sbuf_addf(&one, ": %" JSON_INTEGER_FORMAT " (%+" JSON_INTEGER_FORMAT ")",
		          json_integer_value(json_object_get(e, "count")),
		          json_integer_value(json_object_get(e, "growth")));
		if (one.failed || b->len - start + one.len + 6 > max) {
			sbuf_release(&one);
			sbuf_puts(b, i > 0 ? "; \xe2\x80\xa6" : "\xe2\x80\xa6");
			break;
		}
		if (i > 0)
			sbuf_puts(b, "; ");
		sbuf_add(b, one.p, one.len);
		sbuf_release(&one);
	}
}

/* ---- Slack and Alertmanager forms ---- */

/* Slack refuses a section whose text is over 3000 characters; counted here in bytes, which are
 * never fewer. The message's text is the first section's. */
#define SLACK_SECTION_MAX 3000
#define SLACK_FRAMES 12

/* The JSON string of 'b' (valid UTF-8 by construction), or NULL when the buffer failed. */
static json_t *
text_json(const struct sbuf *b)
{
	if (b->failed)
		return NULL;
	return json_string(b->p != NULL ? b->p : "");
}

static char *
render_slack(json_t *ev)
{
	struct sbuf text = {0}, stack = {0}, code = {0}, labels = {0};
	bool firing = strcmp(jstr(ev, "status"), "firing") == 0;
	json_t *frames = json_object_get(ev, "stack"), *fr, *msg = NULL, *t1, *t2 = NULL,
	       *t3 = NULL;
	size_t i;
	char *body = NULL;

	/* The names' budgets and the rest add up to under SLACK_SECTION_MAX. */
	sbuf_addf(
	    &text, "%s *Goroutine leak %s* in *",
	    firing ? ":rotating_light:" : ":white_check_mark:", firing ? "firing" : "resolved");
	put_text(&text, jstr(ev, "service"), 200, true);
	sbuf_puts(&text, "*: `");
	put_text(&text, jstr(ev, "function"), 600, true);
	sbuf_puts(&text, "` at `");
	put_text(&text, jstr(ev, "file"), 500, true);
	sbuf_addf(&text, ":%" JSON_INTEGER_FORMAT "` (",
	          json_integer_value(json_object_get(ev, "line")));
	put_text(&text, jstr(ev, "op"), 100, true);
	sbuf_puts(&text, ")\n");
	put_text(&text, jstr(ev, "explanation"), 1000, true);
	sbuf_puts(&text, "\n<");
	put_text(&text, jstr(ev, "url"), 400, false);
	sbuf_puts(&text, "|Open in leakprofd>");
	/* The link to the code: whole, where it fits in the section, or not at all (a cut URL is a
	 * wrong link). */
	if (json_string_value(json_object_get(ev, "source_url")) != NULL &&
	    text.len + strlen(jstr(ev, "source_url")) + 32 <= SLACK_SECTION_MAX) {
		sbuf_puts(&text, " · <");
		sbuf_puts(&text, jstr(ev, "source_url"));
		sbuf_puts(&text, "|View the code>");
	}
	json_array_foreach(frames, i, fr)
	{
		struct sbuf f = {0};

		if (i >= SLACK_FRAMES)
			break;
		put_text(&f, jstr(fr, "function"), 400, true);
		sbuf_puts(&f, "\n    ");
		put_text(&f, jstr(fr, "file"), 400, true);
		sbuf_addf(&f, ":%" JSON_INTEGER_FORMAT "\n",
		          json_integer_value(json_object_get(fr, "line")));
		/* Whole frames only, inside the ``` fence. */
		if (f.failed || stack.len + f.len > SLACK_SECTION_MAX - 6) {
			sbuf_release(&f);
			break;
		}
		sbuf_add(&stack, f.p, f.len);
		sbuf_release(&f);
	}
	/* The label sets in a section of their own, within its limit. */
	if (json_array_size(json_object_get(ev, "labels")) > 0) {
		sbuf_puts(&labels, "*Labels*: ");
		labels_text(&labels, json_object_get(ev, "labels"), SLACK_SECTION_MAX - 20, true);
	}
	t1 = text_json(&text);
	if (t1 == NULL || text.len > SLACK_SECTION_MAX || stack.failed)
		goto out;
	msg = json_object();
	json_object_set(msg, "text", t1);
	if (stack.len > 0 || labels.len > 0) {
		json_t *blocks = json_array();

		json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:O}}", "type", "section",
		                                        "text", "type", "mrkdwn", "text", t1));
		if (stack.len > 0) {
			sbuf_addf(&code, "```%s```", stack.p);
			t2 = text_json(&code);
			if (t2 == NULL)
				goto out;
			json_array_append_new(blocks,
			                      json_pack("{s:s, s:{s:s, s:O}}", "type", "section",
			                                "text", "type", "mrkdwn", "text", t2));
		}
		if (labels.len > 0) {
			t3 = text_json(&labels);
			if (t3 == NULL)
				goto out;
			json_array_append_new(blocks,
			                      json_pack("{s:s, s:{s:s, s:O}}", "type", "section",
			                                "text", "type", "mrkdwn", "text", t3));
		}
		json_object_set_new(msg, "blocks", blocks);
	}
	body = json_dumps(msg, JSON_COMPACT);
out:
	json_decref(t1);
	json_decref(t2);
	json_decref(t3);
	json_decref(msg);
	sbuf_release(&text);
	sbuf_release(&stack);
	sbuf_release(&code);
	sbuf_release(&labels);
	return body;
}

/* The Alertmanager webhook payload (version 4), one alert per notification. Names go whole into
 * the labels and the summary; the stack annotation is bounded. */
#define ALERTMANAGER_STACK_MAX 4096
#define ALERTMANAGER_LABELS_MAX 2048 /* the pprof_labels annotation */

static char *
render_alertmanager(json_t *ev, const char *receiver, const char *external_url)
{
	json_t *msg = NULL, *labels = NULL, *annotations = NULL, *alert, *alerts,
	       *stack = json_object_get(ev, "stack"), *fr;
	struct sbuf summary = {0}, stack_text = {0}, group_key = {0}, labels_note = {0};
	char line[32], fingerprint[32];
	const char *status = jstr(ev, "status");
	size_t i;
	char *body = NULL;

	snprintf(line, sizeof(line), "%" JSON_INTEGER_FORMAT,
	         json_integer_value(json_object_get(ev, "line")));
	json_array_foreach(stack, i, fr)
	{
		struct sbuf f = {0};

		put_text(&f, jstr(fr, "function"), 1000, false);
		sbuf_puts(&f, "\n\t");
		put_text(&f, jstr(fr, "file"), 1000, false);
		sbuf_addf(&f, ":%" JSON_INTEGER_FORMAT "\n",
		          json_integer_value(json_object_get(fr, "line")));
		if (f.failed || stack_text.len + f.len > ALERTMANAGER_STACK_MAX) {
			sbuf_release(&f);
			break;
		}
		sbuf_add(&stack_text, f.p, f.len);
		sbuf_release(&f);
	}
	sbuf_addf(&summary, "Goroutine leak at %s:%s (%s) in %s", jstr(ev, "file"), line,
	          jstr(ev, "op"), jstr(ev, "service"));
	sbuf_addf(&group_key, "{}:{alertname=\"GoroutineLeak\", service=\"%s\"}",
	          jstr(ev, "service"));
	/* pprof label sets go to an annotation: as alert labels their values would split the alert
	 */
	labels_text(&labels_note, json_object_get(ev, "labels"), ALERTMANAGER_LABELS_MAX, false);
	if (summary.failed || stack_text.failed || group_key.failed || labels_note.failed)
		goto out;
	labels =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "alertname", "GoroutineLeak",
	              "service", jstr(ev, "service"), "function", jstr(ev, "function"), "file",
	              jstr(ev, "file"), "line", line, "op", jstr(ev, "op"), "severity", "warning");
	annotations = json_pack(
	    "{s:s, s:s, s:s, s:s}", "summary", summary.p, "description", jstr(ev, "explanation"),
	    "stack", stack_text.p != NULL ? stack_text.p : "", "event_id", jstr(ev, "event_id"));
	if (labels == NULL || annotations == NULL)
		goto out;
	if (json_string_value(json_object_get(ev, "source_url")) != NULL)
		json_object_set(annotations, "source_url", json_object_get(ev, "source_url"));
	if (labels_note.len > 0)
		json_object_set_new(annotations, "pprof_labels", json_string(labels_note.p));
	alert = json_object();
	json_object_set_new(alert, "status", json_string(status));
	json_object_set(alert, "labels", labels);
	json_object_set(alert, "annotations", annotations);
	json_object_set(alert, "startsAt", json_object_get(ev, "firing_since"));
	if (strcmp(status, "resolved") == 0)
		json_object_set(alert, "endsAt", json_object_get(ev, "resolved_at"));
	else
		json_object_set_new(alert, "endsAt", json_string("0001-01-01T00:00:00Z"));
	json_object_set(alert, "generatorURL", json_object_get(ev, "url"));
	snprintf(fingerprint, sizeof(fingerprint), "%016" PRIx64,
	         (uint64_t)json_integer_value(json_object_get(ev, "location_id")));
	json_object_set_new(alert, "fingerprint", json_string(fingerprint));
	alerts = json_array();
	json_array_append_new(alerts, alert);
	msg = json_object();
	json_object_set_new(msg, "version", json_string("4"));
	json_object_set_new(msg, "groupKey", json_string(group_key.p));
	json_object_set_new(msg, "truncatedAlerts", json_integer(0));
	json_object_set_new(msg, "status", json_string(status));
	json_object_set_new(msg, "receiver", json_string(receiver));
	json_object_set_new(
	    msg, "groupLabels",
	    json_pack("{s:s, s:s}", "alertname", "GoroutineLeak", "service", jstr(ev, "service")));
	json_object_set(msg, "commonLabels", labels);
	json_object_set(msg, "commonAnnotations", annotations);
	json_object_set_new(msg, "externalURL", json_string(external_url));
	json_object_set_new(msg, "alerts", alerts);
	body = json_dumps(msg, JSON_COMPACT);
out:
	json_decref(labels);
	json_decref(annotations);
	json_decref(msg);
	sbuf_release(&summary);
	sbuf_release(&stack_text);
	sbuf_release(&group_key);
	sbuf_release(&labels_note);
	return body;
}

/* The request body for 'wh' from a stored json event. Caller owns; NULL if the event is not valid
 * JSON. */
static char *
render(const struct config_webhook *wh, const char *payload, const char *external_url)
{
	json_t *ev;
	char *body;

	if (wh->format == WEBHOOK_FORMAT_JSON)
		return xstrdup(payload);
	ev = json_loads(payload, 0, NULL);
	if (ev == NULL)
		return NULL;
	if (wh->format == WEBHOOK_FORMAT_SLACK)
		body = render_slack(ev);
	else
		body = render_alertmanager(ev, wh->name, external_url);
	json_decref(ev);
	return body;
}

/* ---- Delivery ---- */

struct answer {
	char buf[ALERT_ANSWER_MAX];
	size_t len;
};

static size_t
answer_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nmemb, room = sizeof(a->buf) - 1 - a->len;

	memcpy(a->buf + a->len, ptr, n < room ? n : room);
	a->len += n < room ? n : room;
	a->buf[a->len] = '\0';
	return n; /* keep reading (and discarding) past the cap */
}

static int
abort_on_stop(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	const atomic_bool *stop = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return stop != NULL && atomic_load(stop) ? 1 : 0;
}

/* alert_post(), and the answer's Retry-After in *retry_after_ms (0: none). */
static int
post(const struct config_webhook *wh, const char *event_id, const char *body,
     const atomic_bool *stop, long *http_code, char *answer_out, size_t answer_len,
     int64_t *retry_after_ms, char *err, size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE] = "", hdr[600];
	struct curl_slist *headers = NULL;
	struct answer *ans;
	CURL *curl;
	CURLcode rc;
	int ret = -1;

	*http_code = 0;
	*retry_after_ms = 0;
	if (answer_out != NULL && answer_len > 0)
		answer_out[0] = '\0';
	if (wh->url == NULL || wh->url[0] == '\0') {
		snprintf(err, errlen, "webhook '%s' has no url", wh->name);
		return -1;
	}
	ans = calloc(1, sizeof(*ans));
	curl = curl_easy_init();
	if (ans == NULL || curl == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "User-Agent: leakprofd/" LEAKPROFD_VERSION);
	snprintf(hdr, sizeof(hdr), "X-Leakprofd-Event-Id: %s", event_id);
	headers = curl_slist_append(headers, hdr);
	if (wh->secret_file != NULL) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		char why[512], *key = secret_read(wh->secret_file, why, sizeof(why));
		size_t o;
		bool signed_ok;

		if (key == NULL) {
			snprintf(err, errlen, "secret_file %s", why);
			goto out;
		}
		signed_ok = HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)body,
		                 strlen(body), md, &mdlen) != NULL;
		explicit_bzero(key, strlen(key));
		free(key);
		if (!signed_ok) {
			snprintf(err, errlen, "HMAC-SHA256 failed");
			goto out;
		}
		o = (size_t)snprintf(hdr, sizeof(hdr), "X-Leakprofd-Signature: sha256=");
		for (unsigned int i = 0; i < mdlen && o + 3 < sizeof(hdr); i++)
			o += (size_t)snprintf(hdr + o, sizeof(hdr) - o, "%02x", md[i]);
		headers = curl_slist_append(headers, hdr);
	}
	curl_easy_setopt(curl, CURLOPT_URL, wh->url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_POST, 1L);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
	                 (long)(wh->timeout > 0 ? wh->timeout * 1000 : 10000));
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)(wh->timeout > 0 ? wh->timeout * 1000 : 10000));
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, answer_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, ans);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)stop);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, http_code);
	{
		/* seconds, or an HTTP date made relative by libcurl; 0 when absent or unreadable */
		curl_off_t after = 0;

		if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
			*retry_after_ms =
			    after < INT64_MAX / 1000 ? (int64_t)after * 1000 : INT64_MAX;
	}
	if (answer_out != NULL && answer_len > 0)
		snprintf(answer_out, answer_len, "%s", ans->buf);
	if (*http_code < 200 || *http_code > 299) {
		snprintf(err, errlen, "http %ld", *http_code);
		goto out;
	}
	ret = 0;
out:
	curl_slist_free_all(headers);
	if (curl != NULL)
		curl_easy_cleanup(curl);
	free(ans);
	return ret;
}

int
alert_post(const struct config_webhook *wh, const char *event_id, const char *body,
           const atomic_bool *stop, long *http_code, char *answer_out, size_t answer_len, char *err,
           size_t errlen)
{
	int64_t retry_after_ms;

	return post(wh, event_id, body, stop, http_code, answer_out, answer_len, &retry_after_ms,
	            err, errlen);
}

/* An answer that no retry can change: a 4xx other than 408 Request Timeout, 425 Too Early and 429
 * Too Many Requests (Slack's 400 invalid_payload, 403 action_prohibited, 404 no_service...). 5xx,
 * these three and no answer at all (a network error: code 0) are worth retrying. */
static bool
refused_for_good(long code)
{
	return code >= 400 && code <= 499 && code != 408 && code != 425 && code != 429;
}

/* The start of a receiver's answer 'in' as one printable line for the log: at most
 * ALERT_ANSWER_LOGGED bytes, each byte outside printable ASCII (and the backslash) written \xNN,
 * "..." when cut. Network text: a receiver cannot forge log lines or terminal sequences with it. */
static void
quote_answer(const char *in, char *out, size_t outlen)
{
	size_t o = 0, i;

	for (i = 0; in[i] != '\0' && i < ALERT_ANSWER_LOGGED && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
	}
	if (in[i] != '\0' && o + 4 <= outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static int64_t
retry_delay_ms(int attempts)
{
	int64_t d = ALERT_RETRY_MIN_MS;

	for (int i = 0; i < attempts && d < ALERT_RETRY_MAX_MS; i++)
		d *= 2;
	if (d > ALERT_RETRY_MAX_MS)
		d = ALERT_RETRY_MAX_MS;
	/* ±20% jitter, so receivers coming back are not hit by every sender at once. */
	return d - d / 5 + (int64_t)(random() % (d * 2 / 5 + 1));
}

/* Deliver the due head of each webhook's queue, in order. Returns the earliest next attempt (ms),
 * or 0. */
static int64_t
deliver(struct alerter *a, int64_t now)
{
	const struct alert_settings *s = &a->cur;
	int64_t next_wake = 0;

	for (size_t i = 0; i < s->rules->nwebhooks && !atomic_load(&a->stop); i++) {
		const struct config_webhook *wh = &s->rules->webhooks[i];

		for (int sent = 0; sent < ALERT_SEND_BUDGET && !atomic_load(&a->stop); sent++) {
			struct outbox_row row;
			char err[512] = "", answer[ALERT_ANSWER_LOGGED + 1];
			char quoted[4 * ALERT_ANSWER_LOGGED + 8];
			int64_t retry_after_ms = 0, held;
			long code = 0;
			char *body;
			int rc = alertstore_outbox_head(a->st, wh->name, &row);

			if (rc != 0)
				break;
			if (row.next_attempt > now) {
				if (next_wake == 0 || row.next_attempt < next_wake)
					next_wake = row.next_attempt;
				outbox_row_release(&row);
				break;
			}
			/* Of several daemons, one attempts it; the others wait for the outcome
			 * (the webhook's order holds: nothing behind it goes first). The claim
			 * outlasts the attempt's timeout with room to record its outcome. */
			rc = alertstore_outbox_claim(a->st, row.id, now,
			                             now + ((int64_t)wh->timeout * 2 + 30) * 1000,
			                             &held);
			if (rc != 0) {
				if (rc > 0 && held > now && (next_wake == 0 || held < next_wake))
					next_wake = held;
				outbox_row_release(&row);
				break;
			}
			body = render(wh, row.payload, s->external_url);
			if (body == NULL) {
				log_err("alert: notification '%s' for webhook '%s' cannot be "
				        "rendered; dropped",
				        row.event_id, wh->name);
				if (alertstore_outbox_drop(a->st, row.id, "cannot be rendered") !=
				    0) {
					outbox_row_release(&row);
					break;
				}
				outbox_row_release(&row);
				continue;
			}
			rc = post(wh, row.event_id, body, &a->stop, &code, answer, sizeof(answer),
			          &retry_after_ms, err, sizeof(err));
			free(body);
			now = clock_wall_ms();
			if (rc == 0) {
				log_info("alert: delivered %s notification '%s' to webhook '%s'",
				         row.status, row.event_id, wh->name);
				rc = alertstore_outbox_delivered(a->st, row.id, now);
				outbox_row_release(&row);
				if (rc != 0)
					break;
				continue;
			}
			if (atomic_load(&a->stop)) {
				/* Abandoned at shutdown: it stays pending and goes out after the
				 * restart. */
				outbox_row_release(&row);
				break;
			}
			if (refused_for_good(code)) {
				/* Retrying sends the same body to the same answer until max_age:
				 * say so once, keep it as failed, and go on with the next one. */
				quote_answer(answer, quoted, sizeof(quoted));
				log_err(
				    "alert: webhook '%s' refused %s notification '%s' with http "
				    "%ld, which a retry cannot change; not retried: \"%s\"",
				    wh->name, row.status, row.event_id, code, quoted);
				snprintf(err, sizeof(err), "http %ld, not retried: %.400s", code,
				         quoted);
				rc = alertstore_outbox_fail(a->st, row.id, err);
				outbox_row_release(&row);
				if (rc != 0)
					break;
				continue;
			}
			{
				/* A receiver asking for a pause (429, 503 with Retry-After) gets
				 * it, within the backoff's own bounds. */
				int64_t delay = retry_after_ms, at;

				if (delay <= 0)
					delay = retry_delay_ms(row.attempts);
				else if (delay < ALERT_RETRY_MIN_MS)
					delay = ALERT_RETRY_MIN_MS;
				else if (delay > ALERT_RETRY_MAX_MS)
					delay = ALERT_RETRY_MAX_MS;
				at = now + delay;

				log_warn("alert: webhook '%s': delivering '%s' failed (attempt "
				         "%d): %s; retrying in %" PRId64 " s",
				         wh->name, row.event_id, row.attempts + 1, err,
				         (at - now + 999) / 1000);
				if (alertstore_outbox_retry(a->st, row.id, at, err) == 0 &&
				    (next_wake == 0 || at < next_wake))
					next_wake = at;
			}
			outbox_row_release(&row);
			break;
		}
	}
	return next_wake;
}

static void
log_expired(const struct outbox_row *row, void *arg)
{
	(void)arg;
	log_err("alert: dropping %s notification '%s' for webhook '%s': not delivered in %d "
	        "attempts within "
	        "alerting.max_age (last error: %s)",
	        row->status, row->event_id, row->webhook, row->attempts,
	        row->last_error != NULL ? row->last_error : "none");
}

/* ---- Evaluation ---- */

static bool
routed(const struct config_webhook *wh, const char *service)
{
	if (wh->nservices == 0)
		return true;
	for (size_t i = 0; i < wh->nservices; i++) {
		if (strcmp(wh->services[i], service) == 0)
			return true;
	}
	return false;
}

/* Queue 'payload' (json event) for every webhook routed to 'service' together with the new state of
 * 'row'. */
static int
transition(struct alerter *a, const struct alert_row *row, const char *service,
           const char *event_id, const char *status, const char *payload, int64_t now)
{
	const struct alert_settings *s = &a->cur;
	struct outbox_new *out = NULL;
	size_t n = 0;
	int rc;

	if (payload != NULL && s->rules->nwebhooks > 0) {
		out = calloc(s->rules->nwebhooks, sizeof(*out));
		if (out == NULL)
			return -1;
		for (size_t i = 0; i < s->rules->nwebhooks; i++) {
			if (service != NULL && !routed(&s->rules->webhooks[i], service))
				continue;
			out[n].event_id = event_id;
			out[n].webhook = s->rules->webhooks[i].name;
			out[n].status = status;
			out[n].payload = payload;
			n++;
		}
	}
	rc = alertstore_update(a->st, row, out, n, now);
	free(out);
	return rc;
}

static bool
qualifies(const struct alert_settings *s, const struct suspect *sus)
{
	return sus->score >= s->rules->min_score && sus->max_instance_count >= s->rules->min_count;
}

static const struct suspect *
find_suspect(const struct ranking *r, int64_t service_id, int64_t location_id)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->suspects[i].service_id == service_id &&
		    r->suspects[i].location_id == location_id)
			return &r->suspects[i];
	}
	return NULL;
}

/* Of several daemons on one database, each moves the alerts of the services whose name falls in
 * its shard (the rule that shards services, whatever a service's shard_by), on the fleet's
 * ranking: every alert has one daemon, and a service split by target is judged on all its parts.
 * One daemon owns every alert. An alert whose service is gone (NULL) is shard 0's. */
static bool
alert_owns(struct alerter *a, const char *service)
{
	unsigned shard, shards;

	store_shard(a->st, &shard, &shards);
	return service != NULL ? targets_shard_keep(service, shard, shards) : shard == 0;
}

static void
evaluate_suspect(struct alerter *a, const struct suspect *sus, int64_t now)
{
	const struct alert_settings *s = &a->cur;
	struct alert_row row = {0};
	struct store_labels labels = {0};
	char event_id[128];
	char *payload;
	bool peak;
	int rc = alertstore_get(a->st, sus->service_id, sus->location_id, &row);

	if (rc < 0)
		return;
	if (!qualifies(s, sus))
		goto out_release; /* handled by evaluate_active() */
	if (rc == 1 || strcmp(row.state, "resolved") == 0) {
		alert_row_release(&row);
		row.service_id = sus->service_id;
		row.location_id = sus->location_id;
		snprintf(row.state, sizeof(row.state), "pending");
		row.pending_since = now;
		row.last_score = sus->score;
		row.last_count = (int64_t)sus->current_count;
		log_info("alert: '%s' %s at %s:%" PRIu32 " (%s) is pending", sus->service,
		         sus->function, sus->file, sus->line, sus->op);
		if (transition(a, &row, NULL, NULL, NULL, NULL, now) != 0)
			log_err("alert: cannot store alert state");
		goto out_release;
	}
	/* Written on a change only: a pass over an unchanged ranking must not take the write lock
	 * from the ingest and retention every second. The peak count is a change (the resolution
	 * is decided from it); the score alone is not, last_score is the one of the last write. */
	peak = (int64_t)sus->current_count > row.last_count;
	if (peak)
		row.last_count = (int64_t)sus->current_count;
	row.last_score = sus->score;
	if (strcmp(row.state, "pending") == 0 &&
	    now - row.pending_since >= (int64_t)s->rules->for_duration * 1000) {
		snprintf(row.state, sizeof(row.state), "firing");
		row.firing_since = now;
		row.last_notified = now;
	} else if (strcmp(row.state, "firing") == 0 &&
	           now - row.last_notified >= (int64_t)s->rules->repeat_interval * 1000) {
		row.last_notified = now;
	} else {
		if (peak && transition(a, &row, NULL, NULL, NULL, NULL, now) != 0)
			log_err("alert: cannot store alert state");
		goto out_release;
	}
	make_event_id(event_id, sizeof(event_id), row.service_id, row.location_id, "firing", now);
	/* its label sets over the detector's window (none on a read error: logged) */
	if (s->cfg->detector.max_label_sets > 0 &&
	    suspect_labels_load(a->st, sus, now, s->cfg->detector.window,
	                        s->cfg->detector.max_label_sets, &labels) < 0)
		labels = (struct store_labels){0};
	payload = payload_firing(s, sus, &labels, event_id, row.firing_since, a->st);
	store_labels_release(&labels);
	if (payload != NULL) {
		/* Kept with the alert: its resolved notification is made from it. */
		free(row.firing_payload);
		row.firing_payload = payload;
	}
	log_notice("alert: FIRING '%s' %s at %s:%" PRIu32 " (%s): %s", sus->service, sus->function,
	           sus->file, sus->line, sus->op, sus->explanation != NULL ? sus->explanation : "");
	if (transition(a, &row, sus->service, event_id, "firing", payload, now) != 0)
		log_err("alert: cannot store the firing alert of '%s' at %s:%" PRIu32, sus->service,
		        sus->file, sus->line);
out_release:
	alert_row_release(&row);
}

struct active_ctx {
	struct alerter *a;
	const struct ranking *r;
	int64_t now;
};

/* Pending and firing alerts whose suspect no longer qualifies: cancel or resolve them. */
static int
evaluate_active(const struct alert_row *cur, void *arg)
{
	struct active_ctx *ctx = arg;
	const struct alert_settings *s = &ctx->a->cur;
	const struct suspect *sus = find_suspect(ctx->r, cur->service_id, cur->location_id);
	struct alert_row row = *cur; /* its firing_payload stays borrowed */
	char event_id[128];
	char *payload = NULL;
	bool gone;

	if (!alert_owns(ctx->a, cur->service))
		return 0;
	if (sus != NULL && qualifies(s, sus))
		return 0;
	if (strcmp(row.state, "pending") == 0) {
		if (alertstore_delete(ctx->a->st, row.service_id, row.location_id) != 0)
			log_err("alert: cannot store alert state");
		return 0;
	}
	/* Firing: a dip under min_score alone does not resolve (no flapping); a fall in the count
	 * does. */
	gone = sus == NULL || sus->max_instance_count < s->rules->min_count ||
	       (sus->growth_per_hour <= 0 && (int64_t)sus->current_count * 2 < row.last_count);
	if (!gone)
		return 0;
	snprintf(row.state, sizeof(row.state), "resolved");
	row.resolved_at = ctx->now;
	make_event_id(event_id, sizeof(event_id), row.service_id, row.location_id, "resolved",
	              ctx->now);
	if (row.firing_payload != NULL)
		payload = payload_resolved(row.firing_payload, event_id, ctx->now);
	if (payload != NULL) {
		json_t *ev = json_loads(payload, 0, NULL);

		log_notice("alert: RESOLVED '%s' %s at %s:%" JSON_INTEGER_FORMAT,
		           jstr(ev, "service"), jstr(ev, "function"), jstr(ev, "file"),
		           json_integer_value(json_object_get(ev, "line")));
		if (transition(ctx->a, &row, jstr(ev, "service"), event_id, "resolved", payload,
		               ctx->now) != 0)
			log_err("alert: cannot store a resolved alert");
		json_decref(ev);
	} else {
		log_warn("alert: the alert of service id %" PRId64 " at location id %" PRId64
		         " resolved without a notification: it has no firing notification to "
		         "resolve",
		         row.service_id, row.location_id);
		if (transition(ctx->a, &row, NULL, NULL, NULL, NULL, ctx->now) != 0)
			log_err("alert: cannot store a resolved alert");
	}
	free(payload);
	return 0;
}

static void
evaluate(struct alerter *a, int64_t now)
{
	struct ranking r;
	struct active_ctx ctx = {.a = a, .r = &r, .now = now};
	int rc = store_ranking_load(a->st, NULL, 0, &r);

	if (rc != 0)
		return; /* no ranking yet (1) or an error already logged (-1) */
	for (size_t i = 0; i < r.n; i++)
		if (alert_owns(a, r.suspects[i].service))
			evaluate_suspect(a, &r.suspects[i], now);
	(void)alertstore_each_active(a->st, evaluate_active, &ctx);
	ranking_release(&r);
}

/* ---- One pass, and the thread that runs them ---- */

int64_t
alert_pass(struct alerter *a, int64_t now)
{
	struct config *next;

	/* Between passes: a pass works with one snapshot from start to end. */
	pthread_mutex_lock(&a->mu);
	next = a->next;
	a->next = NULL;
	pthread_mutex_unlock(&a->mu);
	if (next != NULL) {
		settings_release(&a->cur);
		settings_init(&a->cur, next);
	}
	evaluate(a, now);
	(void)alertstore_outbox_expire(a->st, now - (int64_t)a->cur.rules->max_age * 1000,
	                               log_expired, NULL);
	return deliver(a, now);
}

static void *
alert_main(void *arg)
{
	struct alerter *a = arg;
	int64_t next_wake = 0;

	for (;;) {
		struct timespec until;
		int64_t now = clock_wall_ms(), wake = now + ALERT_TICK_MS;

		if (next_wake > now && next_wake < wake)
			wake = next_wake;
		until.tv_sec = wake / 1000;
		until.tv_nsec = (wake % 1000) * 1000000;
		pthread_mutex_lock(&a->mu);
		while (!a->kicked && !atomic_load(&a->stop) && a->next == NULL) {
			if (pthread_cond_timedwait(&a->cond, &a->mu, &until) == ETIMEDOUT)
				break;
		}
		a->kicked = false;
		pthread_mutex_unlock(&a->mu);
		if (atomic_load(&a->stop))
			break;
		next_wake = alert_pass(a, clock_wall_ms());
	}
	return NULL;
}

struct alerter *
alert_open(const struct config *cfg, const char *owner)
{
	struct alerter *a = calloc(1, sizeof(*a));

	if (a == NULL) {
		log_err("alert: out of memory");
		return NULL;
	}
	a->st = store_open(cfg->database, 0);
	if (a->st == NULL) {
		free(a);
		return NULL; /* logged by store_open */
	}
	store_set_shard(a->st, cfg->shard_index, cfg->shard_count, owner);
	settings_init(&a->cur, config_ref(cfg));
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cond, NULL);
	return a;
}

void
alert_free(struct alerter *a)
{
	if (a == NULL)
		return;
	settings_release(&a->cur);
	config_unref(a->next);
	store_free(a->st);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

struct alerter *
alert_start(const struct config *cfg, const char *owner)
{
	struct alerter *a = alert_open(cfg, owner);
	sigset_t all, old;
	int rc;

	if (a == NULL)
		return NULL;
	srandom((unsigned)clock_wall_ms());
	/* Signals belong to the main loop's signalfd: the thread must never take one. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&a->thread, NULL, alert_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_err("alert: cannot start the alerting thread: %s", strerror(rc));
		alert_free(a);
		return NULL;
	}
	a->threaded = true;
	log_info("alert: alerting on suspects with score >= %.2f and >= %" PRIu64
	         " goroutines for %" PRIu64 " s, %zu webhook(s)",
	         cfg->alerting.min_score, cfg->alerting.min_count, cfg->alerting.for_duration,
	         cfg->alerting.nwebhooks);
	return a;
}

void
alert_reload(struct alerter *a, const struct config *cfg)
{
	struct config *old;

	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	old = a->next;
	a->next = config_ref(cfg);
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->mu);
	config_unref(old); /* a reload the thread never took */
}

void
alert_kick(struct alerter *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->kicked = true;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->mu);
}

void
alert_stop(struct alerter *a)
{
	if (a == NULL)
		return;
	if (a->threaded) {
		pthread_mutex_lock(&a->mu);
		atomic_store(&a->stop, true);
		pthread_cond_signal(&a->cond);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
	}
	alert_free(a);
}

char *
alert_sample_payload(const struct config *cfg, const char *event_id)
{
	static const char stack[] =
	    "[{\"function\":\"main.fetch.func1\",\"file\":\"/src/app/fetch.go\",\"line\":42},"
	    "{\"function\":\"main.fetch\",\"file\":\"/src/app/fetch.go\",\"line\":38}]";
	struct alert_settings s;
	struct suspect sus = {
	    .rank = 1,
	    .service_id = 0,
	    .location_id = 0,
	    .service = (char *)"example",
	    .function = (char *)"main.fetch.func1",
	    .file = (char *)"/src/app/fetch.go",
	    .line = 42,
	    .op = (char *)"chan send",
	    .score = 0.97,
	    .confirmed = false,
	    .current_count = 4210,
	    .max_instance_count = 1400,
	    .instances_growing = 3,
	    .instances_total = 3,
	    .growth_per_hour = 820,
	    .monotonicity = 0.99,
	    .fit = 0.98,
	    .oldest_wait_minutes = 340,
	    .median_wait_minutes = 120,
	    .first_seen = clock_wall_ms() - 6 * 3600 * 1000,
	    .explanation =
	        (char *)"test notification from leakprofd test-webhook: grew 12 → 4,210 in 6 h on "
	                "3/3 instances (+820/h, 99% of steps up), oldest blocked 340 min",
	    .stack_json = (char *)stack,
	};
	struct store_labelset sets[] = {
	    {.set = (char *)"{\"handler\":\"GET /fetch\",\"tenant\":\"acme\"}",
	     .count = 3900,
	     .first = 10},
	    {.set = (char *)"{\"handler\":\"GET /fetch\",\"tenant\":\"globex\"}",
	     .count = 310,
	     .first = 2},
	};
	struct store_labels labels = {.sets = sets, .n = 2};
	char *p;

	settings_init(&s, config_ref(cfg));
	p = payload_firing(&s, &sus, &labels, event_id, clock_wall_ms(), NULL);
	settings_release(&s);
	return p;
}

char *
alert_render(const struct config *cfg, const struct config_webhook *wh, const char *payload)
{
	char *base = dashboard_base(cfg);
	char *body = render(wh, payload, base);

	free(base);
	return body;
}
