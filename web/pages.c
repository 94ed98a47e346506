/* web/pages.c: the dashboard's HTML, rendered on the server in one pass into a capped buffer.
 * Charts and sparklines are inline SVG paths computed here, so the pages work without JavaScript
 * and without the internet; app.js only adds sorting, auto-refresh and the copy button. Every
 * string that came from a profile, the database, the config or the request goes through sbuf_html
 * (text and quoted attributes) or sbuf_url. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/log.h"
#include "base/srclink.h"
#include "base/units.h"
#include "detect/detect.h"
#include "detect/suspect_labels.h"
#include "storage/fleet.h"
#include "storage/query.h"
#include "web/api.h"
#include "web/pages.h"

#ifndef LEAKPROFD_VERSION
#define LEAKPROFD_VERSION "0.1.0"
#endif

#define SPARK_MAX 512
#define CHART_W 1160
#define CHART_H 300
#define CHART_LEFT 56
#define CHART_RIGHT 16
#define CHART_TOP 14
#define CHART_BOTTOM 28
#define CHART_MAX_LINES 8 /* instances drawn individually; the total is always drawn */

static const char *const windows[] = {"1h", "6h", "24h", "2d", "7d", "30d"};

/* ---- small formatting helpers ---- */

void
pages_fmt_count(double v, char *buf, size_t n)
{
	double a = fabs(v);

	if (isnan(v))
		snprintf(buf, n, "—");
	else if (a >= 1e9)
		snprintf(buf, n, "%.1fG", v / 1e9);
	else if (a >= 1e6)
		snprintf(buf, n, "%.1fM", v / 1e6);
	else if (a >= 1e4)
		snprintf(buf, n, "%.1fk", v / 1e3);
	else if (a >= 100 || v == floor(v))
		snprintf(buf, n, "%.0f", v);
	else
		snprintf(buf, n, "%.1f", v);
}

static void
fmt_ago(int64_t now, int64_t ms, char *buf, size_t n)
{
	int64_t s = (now - ms) / 1000;

	if (ms <= 0)
		snprintf(buf, n, "never");
	else if (s < 0)
		snprintf(buf, n, "just now");
	else if (s < 90)
		snprintf(buf, n, "%llds ago", (long long)s);
	else if (s < 90 * 60)
		snprintf(buf, n, "%lld min ago", (long long)(s / 60));
	else if (s < 48 * 3600)
		snprintf(buf, n, "%.1f h ago", (double)s / 3600);
	else
		snprintf(buf, n, "%lld days ago", (long long)(s / 86400));
}

static void
put_time(struct sbuf *b, int64_t now, int64_t ms)
{
	char iso[32], ago[32];

	web_fmt_time(ms, iso, sizeof(iso));
	fmt_ago(now, ms, ago, sizeof(ago));
	if (ms <= 0)
		sbuf_puts(b, "<span class=\"muted\">never</span>");
	else
		sbuf_addf(b, "<time datetime=\"%s\" title=\"%s\">%s</time>", iso, iso, ago);
}

static void
put_count(struct sbuf *b, double v)
{
	char buf[32];

	pages_fmt_count(v, buf, sizeof(buf));
	sbuf_puts(b, buf);
}

/* ---- page frame ---- */

static void
page_begin(struct sbuf *b, const char *title, const char *nav)
{
	static const struct {
		const char *key, *href, *label;
	} items[] = {
	    {"suspects", "/", "Suspects"},
	    {"targets", "/targets", "Targets"},
	    {"alerts", "/alerts", "Alerts"},
	};

	sbuf_puts(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	             "<meta name=\"color-scheme\" content=\"light dark\"><title>");
	sbuf_html(b, title);
	sbuf_puts(b, " · leakprofd</title><link rel=\"stylesheet\" "
	             "href=\"/static/app.css?v=" LEAKPROFD_VERSION "\">"
	             "<link rel=\"icon\" href=\"/static/favicon.svg\" type=\"image/svg+xml\">"
	             "<script src=\"/static/app.js?v=" LEAKPROFD_VERSION
	             "\" defer></script></head>\n<body><header class=\"top\">"
	             "<a class=\"brand\" href=\"/\"><img src=\"/static/favicon.svg\" alt=\"\" "
	             "width=\"20\" height=\"20\">"
	             "leakprofd</a><nav>");
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		sbuf_addf(b, "<a href=\"%s\"%s>%s</a>", items[i].href,
		          strcmp(items[i].key, nav) == 0 ? " class=\"on\" aria-current=\"page\""
		                                         : "",
		          items[i].label);
	}
	sbuf_puts(b, "<a href=\"/metrics\">Metrics</a></nav>"
	             "<label class=\"refresh\"><input type=\"checkbox\" id=\"autorefresh\"> "
	             "auto-refresh</label>"
	             "</header>\n<main>");
}

static void
page_end(struct sbuf *b, const struct web_ctx *c, const char *api_path)
{
	char iso[32];

	web_fmt_time(c->now_ms, iso, sizeof(iso));
	sbuf_puts(b, "</main>\n<footer>leakprofd " LEAKPROFD_VERSION " · rendered ");
	sbuf_puts(b, iso);
	if (api_path) {
		sbuf_puts(b, " · JSON: <a href=\"");
		sbuf_html(b, api_path);
		sbuf_puts(b, "\">");
		sbuf_html(b, api_path);
		sbuf_puts(b, "</a>");
	}
	sbuf_puts(b, "</footer></body></html>\n");
}

static void
page_error(const struct web_ctx *c, struct web_reply *r, unsigned status, const char *msg)
{
	struct sbuf b = {0};
	char title[32];

	snprintf(title, sizeof(title), "Error %u", status);
	page_begin(&b, title, "");
	sbuf_addf(&b, "<h1>%s</h1><p class=\"error-box\">", title);
	sbuf_html(&b, msg);
	sbuf_puts(&b, "</p><p><a href=\"/\">Back to the suspects</a></p>");
	page_end(&b, c, NULL);
	web_reply_take(r, status, "text/html; charset=utf-8", &b);
}

/* ---- SVG ---- */

size_t
pages_parse_numbers(const char *json, double *out, size_t max)
{
	json_t *a = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL;
	size_t n = 0;

	if (json_is_array(a)) {
		for (size_t i = 0; i < json_array_size(a) && n < max; i++) {
			json_t *v = json_array_get(a, i);

			out[n++] = json_is_number(v) ? json_number_value(v) : NAN;
		}
	}
	json_decref(a);
	return n;
}

/* Append an SVG path "d" for values v[0..n) mapped into the box. NaN (no scrape in that bucket) is
 * skipped and the line bridges it: a target scraped less often than the bucket step still draws one
 * line. */
static void
svg_path_d(struct sbuf *b, const double *v, size_t n, double x0, double y0, double w, double h,
           double vmax)
{
	bool pen = false;

	for (size_t i = 0; i < n; i++) {
		double x, y;

		if (isnan(v[i]))
			continue;
		x = x0 + (n > 1 ? w * (double)i / (double)(n - 1) : w / 2);
		y = y0 + h - (vmax > 0 ? h * v[i] / vmax : 0);
		sbuf_addf(b, "%c%.1f %.1f", pen ? 'L' : 'M', x, y);
		pen = true;
	}
}

void
pages_sparkline(struct sbuf *b, const double *v, size_t n, unsigned w, unsigned h)
{
	double vmax = 0;
	size_t valid = 0;

	for (size_t i = 0; i < n; i++) {
		if (!isnan(v[i])) {
			valid++;
			if (v[i] > vmax)
				vmax = v[i];
		}
	}
	sbuf_addf(
	    b,
	    "<svg class=\"spark\" viewBox=\"0 0 %u %u\" width=\"%u\" height=\"%u\" role=\"img\" "
	    "aria-label=\"blocked goroutines over the window\">",
	    w, h, w, h);
	if (valid) {
		sbuf_puts(b, "<path d=\"");
		svg_path_d(b, v, n, 1, 2, w - 2, h - 4, vmax);
		sbuf_puts(b, "\"/>");
	}
	sbuf_puts(b, "</svg>");
}

/* The largest "nice" number (1, 2, 5 × 10^k) step giving about 'ticks' steps up to vmax. */
static double
nice_step(double vmax, int ticks)
{
	double raw = vmax / ticks, mag, f;

	if (raw <= 0)
		return 1;
	mag = pow(10, floor(log10(raw)));
	f = raw / mag;
	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* True when some bucket has a total (from raw samples or the hourly rollups). */
static bool
series_has_total(const struct query_series *q)
{
	for (size_t i = 0; i < q->nbuckets; i++)
		if (!isnan(q->total[i]))
			return true;
	return false;
}

static void
chart(struct sbuf *b, const struct query_series *q, const struct web_ctx *c)
{
	static const int64_t tsteps[] = {60,       300,      900,       1800,  3600,
	                                 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400};
	const double pw = CHART_W - CHART_LEFT - CHART_RIGHT,
	             ph = CHART_H - CHART_TOP - CHART_BOTTOM;
	double vmax = 0, ystep;
	int64_t span = (int64_t)q->nbuckets * q->step / 1000, tstep = tsteps[0];
	size_t drawn = q->ninst < CHART_MAX_LINES ? q->ninst : CHART_MAX_LINES;

	(void)c;
	for (size_t i = 0; i < q->nbuckets; i++) {
		if (!isnan(q->total[i]) && q->total[i] > vmax)
			vmax = q->total[i];
	}
	ystep = nice_step(vmax > 0 ? vmax : 1, 4);
	vmax = ceil((vmax > 0 ? vmax : 1) / ystep) * ystep;
	for (size_t i = 0; i < sizeof(tsteps) / sizeof(tsteps[0]); i++) {
		tstep = tsteps[i];
		if (span / tstep <= 8)
			break;
	}
	sbuf_addf(b,
	          "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"blocked "
	          "goroutines over "
	          "time, total and per instance\" preserveAspectRatio=\"none\">",
	          CHART_W, CHART_H);
	/* Horizontal grid with count labels. */
	for (double y = 0; y <= vmax + ystep / 2; y += ystep) {
		double py = CHART_TOP + ph - ph * y / vmax;
		char lbl[32];

		pages_fmt_count(y, lbl, sizeof(lbl));
		sbuf_addf(b,
		          "<line class=\"grid\" x1=\"%d\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/>"
		          "<text class=\"axis\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
		          CHART_LEFT, CHART_LEFT + pw, py, py, CHART_LEFT - 6, py + 4, lbl);
	}
	/* Time ticks on whole multiples of the tick step, labelled in UTC. */
	if (q->nbuckets > 1) {
		int64_t t0 = q->from / 1000, t1 = t0 + (int64_t)(q->nbuckets - 1) * q->step / 1000;

		for (int64_t t = (t0 / tstep + 1) * tstep; t <= t1; t += tstep) {
			double px = CHART_LEFT + pw * (double)(t - t0) / (double)(t1 - t0);
			char iso[32];

			web_fmt_time(t * 1000, iso, sizeof(iso));
			sbuf_addf(
			    b,
			    "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.0f\"/>"
			    "<text class=\"axis\" x=\"%.1f\" y=\"%d\" "
			    "text-anchor=\"middle\">%.*s</text>",
			    px, px, CHART_TOP, CHART_TOP + ph, px, CHART_H - 8,
			    tstep >= 86400 ? 10 : 5, tstep >= 86400 ? iso + 0 : iso + 11);
		}
		/* Restarts: a dashed marker where an instance's goroutines collapsed. */
		for (size_t i = 0; i < q->nrestarts; i++) {
			double px = CHART_LEFT + pw * (double)(q->restarts[i].ts / 1000 - t0) /
			                             (double)(t1 - t0);

			if (px < CHART_LEFT || px > CHART_LEFT + pw)
				continue;
			sbuf_addf(
			    b,
			    "<line class=\"restart\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.0f\">"
			    "<title>restart</title></line>",
			    px, px, CHART_TOP, CHART_TOP + ph);
		}
	}
	for (size_t i = 0; i < drawn; i++) {
		sbuf_addf(b, "<path class=\"inst c%zu\" d=\"", i);
		svg_path_d(b, q->inst[i].values, q->nbuckets, CHART_LEFT, CHART_TOP, pw, ph, vmax);
		sbuf_puts(b, "\"><title>");
		sbuf_html(b, q->inst[i].target);
		sbuf_puts(b, "</title></path>");
	}
	/* Before this line the raw samples are gone: hourly means from the rollups. */
	if (q->hourly_until > q->from && q->nbuckets > 1) {
		double px = CHART_LEFT + pw * (double)(q->hourly_until - q->from) /
		                             (double)((int64_t)(q->nbuckets - 1) * q->step);

		if (px <= CHART_LEFT + pw)
			sbuf_addf(
			    b,
			    "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" "
			    "y2=\"%.0f\"><title>hourly means before, raw samples after</title>"
			    "</line>",
			    px, px, CHART_TOP, CHART_TOP + ph);
	}
	sbuf_puts(b, "<path class=\"total\" d=\"");
	svg_path_d(b, q->total, q->nbuckets, CHART_LEFT, CHART_TOP, pw, ph, vmax);
	sbuf_puts(b, "\"><title>total over instances</title></path></svg>");
	/* Legend. */
	sbuf_puts(b, "<ul class=\"legend\"><li><span class=\"sw total\"></span>total</li>");
	for (size_t i = 0; i < drawn; i++) {
		sbuf_addf(b, "<li><span class=\"sw c%zu\"></span>", i);
		sbuf_html(b, q->inst[i].target);
		sbuf_puts(b, "</li>");
	}
	if (q->ninst > drawn)
		sbuf_addf(b, "<li class=\"muted\">+%zu more instances in the total</li>",
		          q->ninst - drawn);
	if (q->nrestarts)
		sbuf_addf(b, "<li><span class=\"sw restart\"></span>restart (%zu)</li>",
		          q->nrestarts);
	if (q->hourly_until > q->from) {
		char iso[32];

		web_fmt_time(q->hourly_until, iso, sizeof(iso));
		sbuf_addf(b,
		          "<li class=\"muted\">before %s: hourly mean of the total (raw samples "
		          "are kept for retention.raw)</li>",
		          iso);
	}
	sbuf_puts(b, "</ul>");
}

/* ---- shared bits ---- */

static void
put_op(struct sbuf *b, const char *op)
{
	sbuf_puts(b, "<span class=\"op\">");
	sbuf_html(b, op);
	sbuf_puts(b, "</span>");
}

static void
put_location_link(struct sbuf *b, int64_t id, const char *service)
{
	sbuf_addf(b, "/locations/%lld", (long long)id);
	if (service) {
		sbuf_puts(b, "?service=");
		sbuf_url(b, service);
	}
}

/* Alert state of (service, location), or NULL. */
static const struct query_alert *
find_alert(const struct query_alert *a, size_t n, int64_t service_id, int64_t location_id)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].service_id == service_id && a[i].location_id == location_id)
			return &a[i];
	}
	return NULL;
}

static void
put_alert_badge(struct sbuf *b, const struct query_alert *a)
{
	if (!a)
		return;
	sbuf_addf(b, " <span class=\"badge alert-%s\" title=\"alert %s\">%s</span>", a->state,
	          a->state,
	          strcmp(a->state, "firing") == 0    ? "alert firing"
	          : strcmp(a->state, "pending") == 0 ? "alert pending"
	                                             : "alert resolved");
}

/* Only the windows that retention.rollup ('kept' seconds) keeps data for are offered. */
static void
window_select(struct sbuf *b, const char *current, uint64_t stored_window, uint64_t kept)
{
	char stored[16];

	units_fmt_duration(stored_window, stored, sizeof(stored));
	sbuf_puts(b, "<label>Window <select name=\"window\" class=\"autosubmit\">");
	sbuf_addf(b, "<option value=\"\"%s>latest ranking (%s)</option>",
	          current ? "" : " selected", stored);
	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
		uint64_t ws = 0;

		if (web_parse_duration(windows[i], API_MAX_WINDOW, &ws) < 0 || ws > kept)
			continue;
		sbuf_addf(b, "<option value=\"%s\"%s>last %s</option>", windows[i],
		          current && strcmp(current, windows[i]) == 0 ? " selected" : "",
		          windows[i]);
	}
	if (current) {
		bool listed = false;

		for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++)
			listed |= strcmp(current, windows[i]) == 0;
		if (!listed) {
			sbuf_puts(b, "<option selected value=\"");
			sbuf_html(b, current);
			sbuf_puts(b, "\">last ");
			sbuf_html(b, current);
			sbuf_puts(b, "</option>");
		}
	}
	sbuf_puts(b, "</select></label>");
}

/* ---- Suspects ---- */

static void
page_suspects(const struct web_ctx *c, struct web_reply *r)
{
	struct api_ranking ar;
	char err[300], buf[64];
	unsigned status = api_load_ranking(c, &ar, err, sizeof(err));
	const struct ranking *rk = ar.rk;
	const char *service = web_arg(c, "service");
	struct query_service *sv = NULL;
	struct query_alert *alerts = NULL;
	size_t nsv = 0, nalerts = 0;
	struct sbuf b = {0};

	if (status != 200) {
		page_error(c, r, status, err);
		return;
	}
	if (query_services(c->st, &sv, &nsv) < 0)
		nsv = 0;
	if (query_alerts(c->st, c->now_ms, 86400 * 1000, &alerts, &nalerts) < 0)
		nalerts = 0;
	page_begin(&b, "Suspects", "suspects");
	sbuf_puts(&b, "<div class=\"head\"><h1>Leak suspects</h1><p class=\"sub\">");
	if (rk->generated_at == 0) {
		sbuf_puts(&b, "No ranking yet: the detector ranks after the first scrape rounds.");
	} else {
		sbuf_addf(&b, "%zu suspect%s", ar.n, ar.n == 1 ? "" : "s");
		if (service) {
			sbuf_puts(&b, " in <b>");
			sbuf_html(&b, service);
			sbuf_puts(&b, "</b>");
		}
		units_fmt_duration(rk->window_seconds, buf, sizeof(buf));
		sbuf_addf(&b, " · growth over the last %s · %s ", buf,
		          ar.window ? "computed" : "ranked");
		put_time(&b, c->now_ms, rk->generated_at);
		if (!ar.window)
			sbuf_addf(&b, " in %u ms", rk->duration_ms);
	}
	sbuf_puts(&b, "</p></div>");

	/* Filters: plain GET form, so the page works without JavaScript. */
	sbuf_puts(&b, "<form class=\"filters\" method=\"get\" action=\"/\"><label>Service "
	              "<select name=\"service\" class=\"autosubmit\"><option value=\"\">all "
	              "services</option>");
	for (size_t i = 0; i < nsv; i++) {
		sbuf_puts(&b, "<option value=\"");
		sbuf_html(&b, sv[i].name);
		sbuf_puts(&b, service && strcmp(service, sv[i].name) == 0 ? "\" selected>" : "\">");
		sbuf_html(&b, sv[i].name);
		sbuf_puts(&b, "</option>");
	}
	sbuf_puts(&b, "</select></label>");
	window_select(&b, web_arg(c, "window"), c->cfg->detector.window, c->cfg->retention_rollup);
	/* ?label=KEY=VALUE: the suspects whose goroutines carry that pprof label */
	sbuf_puts(&b, "<label>Label <input type=\"text\" name=\"label\" "
	              "placeholder=\"key=value\" size=\"18\" value=\"");
	sbuf_html(&b, web_arg(c, "label") ? web_arg(c, "label") : "");
	sbuf_puts(&b, "\"></label>");
	sbuf_puts(&b, "<noscript><button type=\"submit\">Apply</button></noscript></form>");

	if (ar.n == 0) {
		sbuf_puts(&b, "<div class=\"empty\"><p><b>No suspects.</b></p><p>A location "
		              "becomes a suspect when its "
		              "blocked goroutine count keeps growing over several scrapes between "
		              "restarts. Healthy pools stay "
		              "flat and never rank.</p><p>See the <a href=\"/targets\">targets</a> "
		              "to check that scraping "
		              "works.</p></div>");
	} else {
		sbuf_puts(
		    &b, "<div class=\"tablewrap\"><table class=\"suspects sortable\"><thead><tr>"
		        "<th data-sort=\"num\" class=\"num\">#</th><th data-sort=\"num\" "
		        "class=\"num\">Score</th>"
		        "<th data-sort=\"text\">Service</th><th data-sort=\"text\">Op</th>"
		        "<th data-sort=\"text\">Location</th><th data-sort=\"num\" "
		        "class=\"num\">Blocked</th>"
		        "<th data-sort=\"num\" class=\"num\">Growth/h</th><th data-sort=\"num\" "
		        "class=\"num\">Growing</th>"
		        "<th data-sort=\"num\" "
		        "class=\"num\">Oldest</th><th>Trend</th><th>Why</th></tr></thead><tbody>");
	}
	for (size_t i = 0; i < ar.n; i++) {
		const struct suspect *s = ar.shown[i];
		double spark[SPARK_MAX];
		size_t nspark = pages_parse_numbers(s->sparkline_json, spark, SPARK_MAX);

		sbuf_addf(&b, "<tr%s><td class=\"num\" data-v=\"%d\">%d</td>",
		          s->confirmed ? " class=\"confirmed\"" : "", s->rank, s->rank);
		sbuf_addf(&b,
		          "<td class=\"num\" data-v=\"%.4f\"><span class=\"score\" "
		          "data-level=\"%d\">%.2f</span>",
		          s->score,
		          s->score >= 0.8   ? 3
		          : s->score >= 0.5 ? 2
		                            : 1,
		          s->score);
		if (s->confirmed)
			sbuf_puts(&b, "<br><span class=\"badge confirmed\" title=\"proven by a "
			              "goroutineleak profile\">"
			              "confirmed</span>");
		sbuf_puts(&b, "</td><td>");
		sbuf_html(&b, s->service);
		sbuf_puts(&b, "</td><td>");
		put_op(&b, s->op);
		sbuf_puts(&b, "</td><td class=\"loc\"><a class=\"fn\" href=\"");
		put_location_link(&b, s->location_id, s->service);
		sbuf_puts(&b, "\">");
		sbuf_html(&b, s->function);
		sbuf_puts(&b, "</a>");
		put_alert_badge(&b, find_alert(alerts, nalerts, s->service_id, s->location_id));
		sbuf_puts(&b, "<div class=\"file\">");
		sbuf_html(&b, s->file);
		sbuf_addf(&b, ":%u</div></td>", s->line);
		sbuf_addf(&b,
		          "<td class=\"num\" data-v=\"%llu\" title=\"max %llu in one instance\">",
		          (unsigned long long)s->current_count,
		          (unsigned long long)s->max_instance_count);
		put_count(&b, (double)s->current_count);
		sbuf_addf(&b, "</td><td class=\"num\" data-v=\"%.3f\">%s", s->growth_per_hour,
		          s->growth_per_hour > 0 ? "+" : "");
		put_count(&b, s->growth_per_hour);
		sbuf_addf(&b, "</td><td class=\"num\" data-v=\"%u\">%u/%u</td>",
		          s->instances_growing, s->instances_growing, s->instances_total);
		if (s->oldest_wait_minutes >= 0)
			sbuf_addf(&b, "<td class=\"num\" data-v=\"%d\">%d min</td>",
			          s->oldest_wait_minutes, s->oldest_wait_minutes);
		else
			sbuf_puts(&b, "<td class=\"num muted\" data-v=\"-1\">—</td>");
		sbuf_puts(&b, "<td>");
		pages_sparkline(&b, spark, nspark, 100, 28);
		sbuf_puts(&b, "</td><td class=\"why\">");
		sbuf_html(&b, s->explanation);
		sbuf_puts(&b, "</td></tr>\n");
	}
	if (ar.n)
		sbuf_puts(&b, "</tbody></table></div>");
	page_end(&b, c, "/api/v1/suspects");
	api_ranking_release(&ar);
	query_services_free(sv, nsv);
	query_alerts_free(alerts, nalerts);
	web_reply_take(r, 200, "text/html; charset=utf-8", &b);
}

/* ---- Location ---- */

/* "file:line", a link to the code where the service's source settings give one. */
static void
put_file_line(struct sbuf *b, const struct api_source *ps, const char *file, long long line)
{
	struct sbuf url = {.max = 16 * 1024};
	bool linked = line > 0 && api_source_url(ps, file, line, &url) == 0;

	if (linked) {
		sbuf_puts(b, "<a class=\"src\" rel=\"noreferrer\" href=\"");
		sbuf_html(b, url.p);
		sbuf_puts(b, "\">");
	}
	sbuf_html(b, file);
	sbuf_addf(b, ":%lld", line);
	if (linked)
		sbuf_puts(b, "</a>");
	sbuf_release(&url);
}

/* The plain-text block for a bug report: location, evidence, stack. */
static void
issue_text(struct sbuf *t, const struct web_ctx *c, const struct store_location *loc,
           const struct suspect *s, const json_t *stack, const struct api_source *ps)
{
	char iso[32];
	size_t i;
	json_t *f;

	sbuf_addf(t, "Goroutine leak suspect: %s (%s:%u)\n", loc->function, loc->file, loc->line);
	if (s) {
		sbuf_addf(t, "Service: %s\n", s->service);
	}
	sbuf_addf(t, "Blocked in: %s\n", loc->op);
	if (s) {
		sbuf_addf(t, "Evidence: %s\n", s->explanation);
		sbuf_addf(t,
		          "Score: %.2f%s; %llu goroutines blocked now (max %llu in one instance); "
		          "growing on %u of %u "
		          "instances, %+.1f/h\n",
		          s->score, s->confirmed ? " (confirmed leak)" : "",
		          (unsigned long long)s->current_count,
		          (unsigned long long)s->max_instance_count, s->instances_growing,
		          s->instances_total, s->growth_per_hour);
	}
	web_fmt_time(loc->first_seen, iso, sizeof(iso));
	sbuf_addf(t, "First seen: %s\n", iso);
	sbuf_addf(t, "Dashboard: %s/locations/%lld\n", c->base_url ? c->base_url : "",
	          (long long)loc->id);
	if (ps->src != NULL) {
		struct sbuf url = {.max = 16 * 1024};

		if (srclink_expand(ps->src, loc->file, loc->line, ps->version, &url) == 0 &&
		    !url.failed)
			sbuf_addf(t, "Source: %s\n", url.p);
		sbuf_release(&url);
	}
	sbuf_puts(t, "\nStack (innermost first):\n");
	json_array_foreach(stack, i, f)
	{
		const char *fn = json_string_value(json_object_get(f, "function"));
		const char *file = json_string_value(json_object_get(f, "file"));

		sbuf_addf(t, "  %s\n      %s:%lld\n", fn ? fn : "?", file ? file : "?",
		          (long long)json_integer_value(json_object_get(f, "line")));
	}
}

static void
fact(struct sbuf *b, const char *label)
{
	sbuf_puts(b, "<div class=\"fact\"><span class=\"label\">");
	sbuf_puts(b, label);
	sbuf_puts(b, "</span><span class=\"value\">");
}

/* The pprof label sets of the location in one service over a window ending at 'until': the top
 * detector.max_label_sets by goroutines now, each with its growth over the window, growing ones
 * marked; nothing when no label is stored. */
static void
labels_card(struct sbuf *b, const struct web_ctx *c, const struct suspect *s, int64_t until,
            uint64_t window)
{
	struct store_labels lb;

	if (c->cfg->detector.max_label_sets == 0 ||
	    suspect_labels_load(c->st, s, until, window, c->cfg->detector.max_label_sets, &lb) < 0)
		return;
	if (lb.n == 0 && lb.other == 0) {
		store_labels_release(&lb);
		return;
	}
	sbuf_puts(b, "<section class=\"card labels\"><h2>Labels <span class=\"muted\">(pprof "
	             "label sets in ");
	sbuf_html(b, s->service);
	sbuf_puts(b, ")</span></h2>");
	/* which label values grow: summed over the sets holding each */
	{
		struct suspect_label_value *v;
		size_t nv = suspect_label_values(&lb, &v), shown = 0;

		for (size_t i = 0; i < nv && shown < 5 && v[i].growth > 0; i++, shown++) {
			struct sbuf kv = {0};

			/* each links to the suspects of the service that carry it */
			sbuf_puts(&kv, v[i].key);
			sbuf_puts(&kv, "=");
			sbuf_puts(&kv, v[i].value);
			sbuf_puts(b, shown ? ", " : "<p class=\"grows\">Growing: ");
			sbuf_puts(b, "<a class=\"mono\" href=\"/?service=");
			sbuf_url(b, s->service);
			sbuf_puts(b, "&amp;label=");
			sbuf_url(b, kv.p != NULL ? kv.p : "");
			sbuf_puts(b, "\">");
			sbuf_html(b, kv.p != NULL ? kv.p : "");
			sbuf_addf(b, "</a> +%lld", (long long)v[i].growth);
			sbuf_release(&kv);
		}
		if (shown > 0)
			sbuf_puts(b, "</p>");
		suspect_label_values_free(v, nv);
	}
	sbuf_puts(b, "<table class=\"sortable compact\"><thead><tr><th "
	             "data-sort=\"text\">Labels</th><th data-sort=\"num\" class=\"num\">Blocked "
	             "now</th><th data-sort=\"num\" class=\"num\">Growth</th></tr></thead><tbody>");
	for (size_t i = 0; i <= lb.n; i++) {
		struct sbuf t = {0};
		uint64_t count = i < lb.n ? lb.sets[i].count : lb.other;
		uint64_t first = i < lb.n ? lb.sets[i].first : lb.other_first;
		long long growth = (long long)count - (long long)first;

		if (i == lb.n && lb.other == 0 && lb.other_first == 0)
			break;
		if (i < lb.n)
			suspect_labels_text(&t, lb.sets[i].set, 400);
		sbuf_puts(b, growth > 0 ? "<tr class=\"growing\"><td class=\"mono\">"
		                        : "<tr><td class=\"mono\">");
		if (i < lb.n)
			sbuf_html(b, t.p != NULL ? t.p : "");
		else
			sbuf_puts(b, "<span class=\"muted\">other sets</span>");
		sbuf_release(&t);
		sbuf_addf(b, "</td><td class=\"num\" data-v=\"%llu\">", (unsigned long long)count);
		put_count(b, (double)count);
		sbuf_addf(b, "</td><td class=\"num\" data-v=\"%lld\">%s%lld</td></tr>", growth,
		          growth > 0 ? "+" : "", growth);
	}
	sbuf_puts(b, "</tbody></table></section>");
	store_labels_release(&lb);
}

/* The location's call sites in one service over the window: per kept stack the frame that calls
 * the location (its frames when opened), its count at the window's start and now, the change,
 * and a sparkline; the one the ranking names is marked as the one that grows. */
static void
call_sites_card(struct sbuf *b, const struct store_location *loc, const char *service,
                const struct query_call_sites *cs, const struct suspect *s,
                const struct api_source *ps)
{
	sbuf_puts(b, "<section class=\"card\" id=\"call-sites\"><h2>Call sites");
	if (service != NULL) {
		sbuf_puts(b, " <span class=\"muted\">in ");
		sbuf_html(b, service);
		sbuf_puts(b, "</span>");
	}
	sbuf_puts(b, "</h2>");
	if (cs->n == 0) {
		sbuf_puts(b, "<p class=\"muted\">No call sites of this location in the window.</p>"
		             "</section>");
		return;
	}
	if (cs->nstacks > cs->n)
		sbuf_addf(b, "<p class=\"muted\">The %zu largest of %zu call stacks.</p>", cs->n,
		          cs->nstacks);
	sbuf_puts(b, "<table class=\"sortable compact callsites\"><thead><tr>"
	             "<th data-sort=\"text\">Called from</th>"
	             "<th data-sort=\"num\" class=\"num\">At start</th>"
	             "<th data-sort=\"num\" class=\"num\">Now</th>"
	             "<th data-sort=\"num\" class=\"num\">Change</th>"
	             "<th>Over the window</th></tr></thead><tbody>");
	for (size_t i = 0; i < cs->n; i++) {
		const struct query_call_site *k = &cs->v[i];
		char *caller = detect_caller_of(k->frames_json, loc->function, loc->line);
		json_t *frames = json_loads(k->frames_json, 0, NULL), *f;
		int64_t change = (int64_t)k->last - (int64_t)k->first;
		bool ranked = api_call_site_ranked(s, k);
		double v[QUERY_CALL_SITES_POINTS];
		size_t nv =
		    k->npoints < QUERY_CALL_SITES_POINTS ? k->npoints : QUERY_CALL_SITES_POINTS;
		size_t j, from;

		sbuf_addf(b, "<tr%s data-stack=\"%lld\"><td><details><summary><span class=\"fn\">",
		          ranked ? " class=\"ranked\"" : "", (long long)k->stack_id);
		sbuf_html(b, caller ? caller : "(no caller frame)");
		sbuf_puts(b, "</span>");
		if (ranked)
			sbuf_puts(b, " <span class=\"badge\">grows: the ranked call site</span>");
		sbuf_puts(b, "</summary><ol class=\"stack\">");
		/* The path that leads to the location: the frames after its own (all of them when
		 * it has none), innermost first. */
		from = 0;
		json_array_foreach(frames, j, f)
		{
			const char *fn = json_string_value(json_object_get(f, "function"));

			if (fn && strcmp(fn, loc->function) == 0 &&
			    json_integer_value(json_object_get(f, "line")) ==
			        (json_int_t)loc->line) {
				from = j + 1;
				break;
			}
		}
		json_array_foreach(frames, j, f)
		{
			const char *fn = json_string_value(json_object_get(f, "function"));
			const char *file = json_string_value(json_object_get(f, "file"));
			json_int_t line = json_integer_value(json_object_get(f, "line"));

			if (j < from)
				continue;
			sbuf_puts(b, "<li><span class=\"fn\">");
			sbuf_html(b, fn ? fn : "?");
			sbuf_puts(b, "</span><span class=\"file\">");
			put_file_line(b, file ? ps : &(struct api_source){0}, file ? file : "?",
			              (long long)line);
			sbuf_puts(b, "</span></li>");
		}
		json_decref(frames);
		free(caller);
		sbuf_addf(b, "</ol></details></td><td class=\"num\" data-v=\"%llu\">",
		          (unsigned long long)k->first);
		put_count(b, (double)k->first);
		sbuf_addf(b, "</td><td class=\"num\" data-v=\"%llu\">",
		          (unsigned long long)k->last);
		put_count(b, (double)k->last);
		sbuf_addf(b, "</td><td class=\"num\" data-v=\"%lld\">%s", (long long)change,
		          change > 0   ? "+"
		          : change < 0 ? "−"
		                       : "");
		put_count(b, (double)(change < 0 ? -change : change));
		sbuf_puts(b, "</td><td>");
		for (size_t p = 0; p < nv; p++)
			v[p] = (double)k->count[p];
		pages_sparkline(b, v, nv, 120, 24);
		sbuf_puts(b, "</td></tr>");
	}
	sbuf_puts(b, "</tbody></table></section>");
}

static void
page_location(const struct web_ctx *c, int64_t id, struct web_reply *r)
{
	const char *service = web_arg(c, "service");
	const char *wtext = web_arg(c, "window");
	const char *cs_service;
	struct store_location loc;
	struct query_instance *inst = NULL;
	struct query_series q = {0};
	struct query_call_sites cs = {0};
	struct ranking rk = {0};
	const struct suspect *s = NULL;
	struct sbuf b = {0}, t = {.max = 1u << 20};
	uint64_t window = c->cfg->detector.window, step;
	char err[128];
	int32_t max_wait, median_wait;
	size_t ninst = 0;
	json_t *stack;
	struct api_source ps;
	int64_t from, to, lookback;
	size_t i;
	json_t *f;
	int rc;

	if (wtext && web_parse_duration(wtext, API_MAX_WINDOW, &window) < 0) {
		page_error(c, r, 400,
		           "window: expected a duration like 30m, 6h or 2d, at most 30d");
		return;
	}
	if (api_window_kept(c->cfg, window, err, sizeof(err)) < 0) {
		page_error(c, r, 400, err);
		return;
	}
	rc = store_location_get(c->st, id, &loc);
	if (rc == 1) {
		page_error(c, r, 404, "No such location.");
		return;
	}
	step = 0;
	api_series_range(c->cfg, window, &step, c->now_ms, &from, &to, &lookback);
	if (rc < 0 ||
	    query_location_instances(c->st, id, api_recent(c->cfg, loc.last_seen), &inst, &ninst) <
	        0 ||
	    query_location_ages(c->st, id, loc.last_seen - 3600 * 1000, &max_wait, &median_wait) <
	        0 ||
	    store_ranking_load(c->st, NULL, 0, &rk) < 0 ||
	    query_location_series(c->st, id, service, from, to, (int64_t)step * 1000, lookback,
	                          &q) < 0) {
		if (rc == 0)
			store_location_release(&loc);
		query_instances_free(inst, ninst);
		ranking_release(&rk);
		page_error(c, r, 500, "Reading the location failed (see the daemon log).");
		return;
	}
	for (size_t k = 0; k < rk.n && !s; k++) {
		if (rk.suspects[k].location_id == id &&
		    (!service || strcmp(rk.suspects[k].service, service) == 0))
			s = &rk.suspects[k];
	}
	/* A suspect's stack is its service's own call site (the one that grows); the location's
	 * stack is only the first seen, of any service. */
	stack = json_loads(s && s->stack_json ? s->stack_json
	                   : loc.stack_json   ? loc.stack_json
	                                      : "[]",
	                   0, NULL);
	if (!json_is_array(stack)) {
		json_decref(stack);
		stack = json_array();
	}
	cs_service = service ? service : s ? s->service : ninst > 0 ? inst[0].service : NULL;
	if (api_call_sites(c, id, cs_service, window, s ? s->stack_id : 0, &cs) < 0) {
		json_decref(stack);
		store_location_release(&loc);
		query_instances_free(inst, ninst);
		query_series_release(&q);
		ranking_release(&rk);
		page_error(c, r, 500, "Reading the location failed (see the daemon log).");
		return;
	}
	api_source_init(&ps, c, cs_service);

	page_begin(&b, loc.function, "suspects");
	sbuf_puts(&b, "<p class=\"crumbs\"><a href=\"/");
	if (service) {
		sbuf_puts(&b, "?service=");
		sbuf_url(&b, service);
	}
	sbuf_puts(&b, "\">← Suspects</a></p><div class=\"head\"><h1 class=\"fn\">");
	sbuf_html(&b, loc.function);
	sbuf_puts(&b, "</h1><p class=\"sub\"><span class=\"file\">");
	put_file_line(&b, &ps, loc.file, loc.line);
	sbuf_puts(&b, "</span> ");
	put_op(&b, loc.op);
	if (s && s->confirmed)
		sbuf_puts(&b, " <span class=\"badge confirmed\">confirmed leak</span>");
	if (service) {
		sbuf_puts(&b, " <span class=\"badge\">service ");
		sbuf_html(&b, service);
		sbuf_puts(&b, "</span>");
	}
	sbuf_puts(&b, "</p></div>");
	if (s) {
		sbuf_addf(
		    &b, "<p class=\"verdict\"><span class=\"score\" data-level=\"%d\">%.2f</span> ",
		    s->score >= 0.8   ? 3
		    : s->score >= 0.5 ? 2
		                      : 1,
		    s->score);
		sbuf_addf(&b, "Suspect #%d in ", s->rank);
		sbuf_html(&b, s->service);
		sbuf_puts(&b, ": ");
		sbuf_html(&b, s->explanation);
		sbuf_puts(&b, "</p>");
	} else {
		sbuf_puts(&b, "<p class=\"verdict muted\">Not in the current ranking.</p>");
	}

	sbuf_puts(&b, "<section class=\"facts\">");
	{
		uint64_t sum = 0, mx = 0;

		for (size_t k = 0; k < ninst; k++) {
			if (!service || strcmp(inst[k].service, service) == 0) {
				sum += inst[k].count;
				if (inst[k].count > mx)
					mx = inst[k].count;
			}
		}
		fact(&b, "Blocked now");
		put_count(&b, (double)sum);
		sbuf_puts(&b, "</span></div>");
		fact(&b, "Max in one instance");
		put_count(&b, (double)mx);
		sbuf_puts(&b, "</span></div>");
	}
	if (s) {
		fact(&b, "Growth");
		sbuf_puts(&b, s->growth_per_hour > 0 ? "+" : "");
		put_count(&b, s->growth_per_hour);
		sbuf_addf(&b, "/h</span></div>");
		fact(&b, "Instances growing");
		sbuf_addf(&b, "%u of %u</span></div>", s->instances_growing, s->instances_total);
		fact(&b, "Steps up");
		sbuf_addf(&b, "%.0f%%</span></div>", s->monotonicity * 100);
	}
	fact(&b, "Oldest wait");
	if (max_wait >= 0 || (s && s->oldest_wait_minutes >= 0))
		sbuf_addf(&b, "%d min", max_wait >= 0 ? max_wait : s->oldest_wait_minutes);
	else
		sbuf_puts(&b, "<span class=\"muted\">unknown</span>");
	sbuf_puts(&b, "</span></div>");
	fact(&b, "Median wait");
	if (median_wait >= 0)
		sbuf_addf(&b, "%d min", median_wait);
	else
		sbuf_puts(&b, "<span class=\"muted\">unknown</span>");
	sbuf_puts(&b, "</span></div>");
	fact(&b, "First seen");
	put_time(&b, c->now_ms, loc.first_seen);
	sbuf_puts(&b, "</span></div>");
	fact(&b, "Last seen");
	put_time(&b, c->now_ms, loc.last_seen);
	sbuf_puts(&b, "</span></div></section>");

	/* Chart with its window picker. */
	sbuf_puts(&b, "<section class=\"card\"><div class=\"cardhead\"><h2>Blocked "
	              "goroutines</h2><nav class=\"windows\">");
	for (size_t k = 0; k < sizeof(windows) / sizeof(windows[0]); k++) {
		uint64_t ws = 0;

		if (web_parse_duration(windows[k], API_MAX_WINDOW, &ws) < 0 ||
		    ws > c->cfg->retention_rollup)
			continue;
		sbuf_addf(&b, "<a href=\"/locations/%lld?window=%s", (long long)id, windows[k]);
		if (service) {
			sbuf_puts(&b, "&amp;service=");
			sbuf_url(&b, service);
		}
		sbuf_addf(&b, "\"%s>%s</a>", ws == window ? " class=\"on\"" : "", windows[k]);
	}
	sbuf_puts(&b, "</nav></div>");
	if (q.ninst == 0 && !series_has_total(&q))
		sbuf_puts(&b, "<p class=\"muted\">No samples of this location in the window.</p>");
	else
		chart(&b, &q, c);
	sbuf_puts(&b, "</section>");

	call_sites_card(&b, &loc, cs_service, &cs, s, &ps);

	/* Instances. */
	sbuf_puts(&b, "<div class=\"cols\"><section class=\"card\"><h2>Instances now</h2>");
	if (ninst == 0) {
		sbuf_puts(
		    &b,
		    "<p class=\"muted\">No instance has this location in its latest scrape.</p>");
	} else {
		sbuf_puts(&b, "<table class=\"sortable compact\"><thead><tr><th "
		              "data-sort=\"text\">Service</th>"
		              "<th data-sort=\"text\">Target</th><th data-sort=\"num\" "
		              "class=\"num\">Blocked</th>"
		              "<th data-sort=\"num\" "
		              "class=\"num\">Goroutines</th><th>Scraped</th></tr></thead><tbody>");
		for (size_t k = 0; k < ninst; k++) {
			sbuf_puts(&b, "<tr><td>");
			sbuf_html(&b, inst[k].service);
			sbuf_puts(&b, "</td><td class=\"mono\">");
			sbuf_html(&b, inst[k].target);
			sbuf_addf(&b, "</td><td class=\"num\" data-v=\"%llu\">",
			          (unsigned long long)inst[k].count);
			put_count(&b, (double)inst[k].count);
			sbuf_addf(&b, "</td><td class=\"num\" data-v=\"%lld\">",
			          (long long)inst[k].total_goroutines);
			put_count(&b, inst[k].total_goroutines >= 0
			                  ? (double)inst[k].total_goroutines
			                  : NAN);
			sbuf_puts(&b, "</td><td>");
			put_time(&b, c->now_ms, inst[k].ts);
			sbuf_puts(&b, "</td></tr>");
		}
		sbuf_puts(&b, "</tbody></table>");
	}
	sbuf_puts(&b, "</section>");

	/* Stack. */
	sbuf_puts(&b, "<section class=\"card\"><h2>Stack <span class=\"muted\">(innermost first");
	if (s != NULL) {
		sbuf_puts(&b, "; the call site ranked in ");
		sbuf_html(&b, s->service);
	}
	sbuf_puts(&b, ")</span></h2><ol class=\"stack\">");
	json_array_foreach(stack, i, f)
	{
		const char *fn = json_string_value(json_object_get(f, "function"));
		const char *file = json_string_value(json_object_get(f, "file"));
		json_int_t line = json_integer_value(json_object_get(f, "line"));
		bool here = fn && file && strcmp(fn, loc.function) == 0 &&
		            strcmp(file, loc.file) == 0 && line == (json_int_t)loc.line;

		sbuf_puts(&b, here ? "<li class=\"here\"><span class=\"fn\">"
		                   : "<li><span class=\"fn\">");
		sbuf_html(&b, fn ? fn : "?");
		sbuf_puts(&b, "</span><span class=\"file\">");
		put_file_line(&b, file ? &ps : &(struct api_source){0}, file ? file : "?",
		              (long long)line);
		sbuf_puts(&b, "</span></li>");
	}
	sbuf_puts(&b, "</ol></section></div>");

	/* Labels: the suspect's over its ranking's window. */
	if (s != NULL)
		labels_card(&b, c, s, rk.generated_at, rk.window_seconds);

	/* Copy as issue text. */
	issue_text(&t, c, &loc, s, stack, &ps);
	sbuf_puts(
	    &b,
	    "<section class=\"card\"><div class=\"cardhead\"><h2>Copy as issue text</h2>"
	    "<button type=\"button\" class=\"copy\" data-target=\"issue-text\">Copy</button></div>"
	    "<textarea id=\"issue-text\" class=\"issue\" readonly rows=\"12\" "
	    "spellcheck=\"false\">");
	sbuf_html(&b, t.p ? t.p : "");
	sbuf_puts(&b, "</textarea></section>");
	sbuf_release(&t);
	{
		char api[64];

		snprintf(api, sizeof(api), "/api/v1/locations/%lld", (long long)id);
		page_end(&b, c, api);
	}
	json_decref(stack);
	api_source_release(&ps);
	store_location_release(&loc);
	query_instances_free(inst, ninst);
	query_series_release(&q);
	query_call_sites_release(&cs);
	ranking_release(&rk);
	web_reply_take(r, 200, "text/html; charset=utf-8", &b);
}

/* ---- Targets ---- */

#define FAILING_SHOWN 20 /* failing targets listed above the first page of all of them */

/* One row of a targets table. */
static void
target_row(struct sbuf *b, const struct web_ctx *c, const struct target_health *h)
{
	bool up = h->last_status && strcmp(h->last_status, "ok") == 0;

	sbuf_addf(b, "<tr class=\"%s\"><td><span class=\"dot %s\"></span>",
	          !h->active ? "inactive"
	          : up       ? ""
	                     : "failing",
	          up               ? "up"
	          : h->last_status ? "down"
	                           : "unknown");
	if (!h->active)
		sbuf_puts(b, "<span class=\"muted\">inactive</span> ");
	if (up) {
		sbuf_puts(b, "up");
	} else if (!h->last_status) {
		sbuf_puts(b, "<span class=\"muted\">not scraped yet</span>");
	} else {
		sbuf_puts(b, "<span class=\"err\">");
		sbuf_html(b, h->last_status);
		sbuf_puts(b, "</span>");
	}
	sbuf_puts(b, "</td><td>");
	sbuf_html(b, h->service);
	sbuf_puts(b, "</td><td class=\"mono\">");
	sbuf_html(b, h->url);
	sbuf_puts(b, "</td><td>");
	put_time(b, c->now_ms, h->last_scrape);
	sbuf_puts(b, "</td><td>");
	put_time(b, c->now_ms, h->last_success);
	sbuf_addf(b,
	          "</td><td class=\"num\" data-v=\"%u\">%u ms</td><td class=\"num\" "
	          "data-v=\"%lld\">",
	          h->last_duration_ms, h->last_duration_ms, (long long)h->last_goroutines);
	put_count(b, h->last_goroutines >= 0 ? (double)h->last_goroutines : NAN);
	sbuf_addf(b, "</td><td class=\"num\" data-v=\"%u\">%u</td></tr>\n", h->consecutive_failures,
	          h->consecutive_failures);
}

static void
targets_table(struct sbuf *b, const struct web_ctx *c, const struct target_health *h, size_t n)
{
	sbuf_puts(b, "<table class=\"sortable compact targets\"><thead><tr><th "
	             "data-sort=\"text\">Status</th><th data-sort=\"text\">Service</th>"
	             "<th data-sort=\"text\">Target</th><th>Last scrape</th><th>Last success</th>"
	             "<th data-sort=\"num\" class=\"num\">Duration</th><th data-sort=\"num\" "
	             "class=\"num\">Goroutines</th><th data-sort=\"num\" "
	             "class=\"num\">Failures</th></tr></thead><tbody>");
	for (size_t i = 0; i < n; i++)
		target_row(b, c, &h[i]);
	sbuf_puts(b, "</tbody></table>");
}

/* The query of a target list with the request's filters (?service=, ?status=, ?inactive=,
 * ?limit=), 'status' in place of the request's unless NULL, and ?after='after' unless 0; the
 * arguments separated by 'amp' ("&amp;" in an attribute). */
static void
targets_query(struct sbuf *b, const struct web_ctx *c, const char *status, int64_t after,
              const char *amp)
{
	static const char *const args[] = {"service", "status", "inactive", "limit"};
	const char *sep = "?";

	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		const char *v = i == 1 && status ? status : web_arg(c, args[i]);

		if (!v)
			continue;
		sbuf_addf(b, "%s%s=", sep, args[i]);
		sbuf_url(b, v);
		sep = amp;
	}
	if (after > 0)
		sbuf_addf(b, "%safter=%lld", sep, (long long)after);
}

/* A link to /targets (see targets_query), as an attribute value. */
static void
targets_href(struct sbuf *b, const struct web_ctx *c, const char *status, int64_t after)
{
	sbuf_puts(b, "/targets");
	targets_query(b, c, status, after, "&amp;");
}

/* The filters as a plain GET form, so the page works without JavaScript. */
static void
targets_form(struct sbuf *b, const struct web_ctx *c, const struct query_service *sv, size_t nsv)
{
	static const struct {
		const char *value, *label;
	} states[] = {
	    {"", "any state"}, {"up", "up"}, {"down", "down"}, {"unknown", "not scraped yet"}};
	const char *service = web_arg(c, "service"), *status = web_arg(c, "status");
	const char *limit = web_arg(c, "limit");
	bool inactive = web_arg(c, "inactive") && strcmp(web_arg(c, "inactive"), "1") == 0;
	bool listed = !status;

	sbuf_puts(b, "<form class=\"filters\" method=\"get\" action=\"/targets\"><label>Service "
	             "<select name=\"service\" class=\"autosubmit\"><option value=\"\">all "
	             "services</option>");
	for (size_t i = 0; i < nsv; i++) {
		sbuf_puts(b, "<option value=\"");
		sbuf_html(b, sv[i].name);
		sbuf_puts(b, service && strcmp(service, sv[i].name) == 0 ? "\" selected>" : "\">");
		sbuf_html(b, sv[i].name);
		sbuf_puts(b, "</option>");
	}
	sbuf_puts(b, "</select></label><label>Status <select name=\"status\" "
	             "class=\"autosubmit\">");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		bool on = status ? strcmp(status, states[i].value) == 0 : !*states[i].value;

		listed |= on && status;
		sbuf_addf(b, "<option value=\"%s\"%s>%s</option>", states[i].value,
		          on ? " selected" : "", states[i].label);
	}
	if (!listed) {
		/* A status prefix from a link (?status=timeout): kept, and shown as such. */
		sbuf_puts(b, "<option selected value=\"");
		sbuf_html(b, status);
		sbuf_puts(b, "\">failing with ");
		sbuf_html(b, status);
		sbuf_puts(b, "…</option>");
	}
	sbuf_addf(b,
	          "</select></label><label>Targets <select name=\"inactive\" "
	          "class=\"autosubmit\"><option value=\"\"%s>in the configuration</option>"
	          "<option value=\"1\"%s>retired (no longer configured)</option></select></label>",
	          inactive ? "" : " selected", inactive ? " selected" : "");
	if (limit) {
		sbuf_puts(b, "<input type=\"hidden\" name=\"limit\" value=\"");
		sbuf_html(b, limit);
		sbuf_puts(b, "\">");
	}
	sbuf_puts(b, "<noscript><button type=\"submit\">Apply</button></noscript></form>");
}

/* The sources of targets (target files, http_sd, dns_sd): how many targets each gives, its last
 * attempt and good list, and why it fails, with whether its last good list is still in use. */
static void
sources_card(struct sbuf *b, const struct web_ctx *c)
{
	sbuf_puts(b, "<section class=\"card\" id=\"sources\"><h2>Sources of targets</h2>"
	             "<table class=\"compact\"><thead><tr><th>Source</th><th class=\"num\">"
	             "Targets</th><th>Last refresh</th><th>Last good list</th><th>State</th>"
	             "</tr></thead><tbody>");
	for (size_t i = 0; i < c->nsources; i++) {
		const struct targets_source_state *s = &c->sources[i];
		bool ok = s->error[0] == '\0';

		sbuf_addf(b, "<tr><td><span class=\"dot %s\"></span>", ok ? "up" : "down");
		sbuf_html(b, s->kind);
		sbuf_puts(b, " <code>");
		sbuf_html(b, s->name);
		sbuf_addf(b, "</code></td><td class=\"num\">%zu</td><td>", s->targets);
		put_time(b, c->now_ms, s->last_refresh_ms);
		sbuf_puts(b, "</td><td>");
		put_time(b, c->now_ms, s->last_success_ms);
		if (ok) {
			sbuf_puts(b, "</td><td class=\"good\">ok</td></tr>");
			continue;
		}
		sbuf_puts(b, "</td><td class=\"err\">");
		sbuf_puts(b, s->last_good ? "failing, its last good list in use: "
		                          : "failing, no list yet: ");
		sbuf_html(b, s->error);
		sbuf_puts(b, "</td></tr>");
	}
	sbuf_puts(b, "</tbody></table>");
	if (c->sources_total > c->nsources)
		sbuf_addf(b, "<p class=\"muted\">The first %zu of %zu sources.</p>", c->nsources,
		          c->sources_total);
	sbuf_puts(b, "</section>");
}

/* The daemons sharing the database, when there are several (storage/fleet.h): which shard each
 * runs, from where, and whether it beats. A database of one daemon shows nothing. */
static void
daemons_card(struct sbuf *b, const struct web_ctx *c)
{
	struct fleet_daemon *d;
	size_t n;

	if (fleet_list(c->st, c->now_ms, &d, &n) < 0) {
		log_err("web: daemons: %s", store_errmsg(c->st));
		return;
	}
	if (n > 1 || (n == 1 && d[0].shards > 1)) {
		sbuf_puts(b, "<section class=\"card\" id=\"daemons\"><h2>Daemons</h2>"
		             "<table class=\"compact\"><thead><tr><th>Shard</th><th>Host</th>"
		             "<th>Listen</th><th>Version</th><th>Started</th><th>Heartbeat</th>"
		             "<th>State</th></tr></thead><tbody>");
		for (size_t i = 0; i < n; i++) {
			sbuf_addf(b, "<tr><td><span class=\"dot %s\"></span>%u of %u</td><td>",
			          d[i].live ? "up" : "down", d[i].shard, d[i].shards);
			sbuf_html(b, d[i].host);
			sbuf_addf(b, " <span class=\"muted\">pid %lld</span></td><td><code>",
			          (long long)d[i].pid);
			sbuf_html(b, d[i].listen);
			sbuf_puts(b, "</code></td><td>");
			sbuf_html(b, d[i].version);
			sbuf_puts(b, "</td><td>");
			put_time(b, c->now_ms, d[i].started);
			sbuf_puts(b, "</td><td>");
			put_time(b, c->now_ms, d[i].heartbeat);
			sbuf_puts(b, d[i].live ? "</td><td class=\"good\">running</td></tr>"
			             : d[i].stopped != 0
			                 ? "</td><td class=\"muted\">stopped</td></tr>"
			                 : "</td><td class=\"err\">no heartbeat</td></tr>");
		}
		sbuf_puts(b, "</tbody></table><p class=\"muted\">Every daemon shows the whole "
		             "fleet: each ranks its shard's services, and the suspects are every "
		             "shard's newest ranking, merged.</p></section>");
	}
	fleet_list_free(d, n);
}

/* The database refusing the daemon's writes: since when, the finished scrapes waiting in memory,
 * the bound past which they are dropped, and how many were. Nothing while it takes them. */
static void
ingest_banner(struct sbuf *b, const struct web_ctx *c)
{
	const struct web_ingest *in = c->ingest;

	if (in == NULL || in->refused_since_ms <= 0)
		return;
	sbuf_puts(b, "<p class=\"error-box\" id=\"writes-refused\" role=\"alert\">The database "
	             "refuses the daemon's writes since ");
	put_time(b, c->now_ms, in->refused_since_ms);
	sbuf_addf(b,
	          ": scraping goes on, and %llu finished scrapes wait in memory to be stored once "
	          "it takes writes again (at most %llu, for %lld s; newer ones are dropped",
	          (unsigned long long)in->queued, (unsigned long long)in->queued_max,
	          (long long)(in->queued_max_ms / 1000));
	if (in->dropped > 0)
		sbuf_addf(b, ": <b>%llu dropped</b>", (unsigned long long)in->dropped);
	sbuf_puts(b, "). See the daemon's log.</p>");
}

/* The targets page when the database cannot be read: the daemon's own state, and why. */
static void
page_targets_unreadable(const struct web_ctx *c, struct web_reply *r)
{
	struct sbuf b = {0};

	page_begin(&b, "Targets", "targets");
	sbuf_puts(&b, "<div class=\"head\"><h1>Targets</h1></div>");
	ingest_banner(&b, c);
	sbuf_puts(&b, "<p class=\"error-box\">Reading target health failed: the database cannot be "
	              "read now (see the daemon log).</p>");
	page_end(&b, c, NULL);
	web_reply_take(r, 503, "text/html; charset=utf-8", &b);
}

static void
page_targets(const struct web_ctx *c, struct web_reply *r)
{
	struct query_targets_filter f, ff;
	struct target_health *h = NULL, *hf = NULL;
	struct query_service *sv = NULL;
	size_t n = 0, nf = 0, nsv = 0;
	uint64_t active = 0, up = 0;
	int64_t next = 0, next_failing = 0;
	struct sbuf b = {0}, api = {0};
	char err[300];
	int rc;

	if (api_targets_filter(c, &f, err, sizeof(err)) != 200) {
		page_error(c, r, 400, err);
		return;
	}
	if (c->st == NULL || query_services(c->st, &sv, &nsv) < 0) {
		page_targets_unreadable(c, r);
		return;
	}
	rc = query_targets(c->st, &f, &h, &n, &next);
	if (rc == 1) {
		snprintf(err, sizeof(err), "service: no service named '%.200s'", f.service);
		query_services_free(sv, nsv);
		page_error(c, r, 404, err);
		return;
	}
	for (size_t i = 0; i < nsv; i++) {
		if (f.service && strcmp(f.service, sv[i].name) != 0)
			continue;
		active += sv[i].targets;
		up += sv[i].targets_up;
	}
	/* Unfiltered, the first page starts with the failing targets, as many as fit. */
	ff = (struct query_targets_filter){
	    .service = f.service, .state = QUERY_TARGETS_DOWN, .limit = FAILING_SHOWN};
	if (rc == 0 && f.state == QUERY_TARGETS_ANY && !f.inactive && f.after == 0 && up < active)
		rc = query_targets(c->st, &ff, &hf, &nf, &next_failing);
	if (rc != 0) {
		log_err("web: targets: %s", store_errmsg(c->st));
		target_health_free(h, n);
		query_services_free(sv, nsv);
		page_error(c, r, 500, "Reading target health failed (see the daemon log).");
		return;
	}

	page_begin(&b, "Targets", "targets");
	sbuf_addf(&b,
	          "<div class=\"head\"><h1>Targets</h1><p class=\"sub\">%zu service%s · %llu "
	          "active target%s",
	          nsv, nsv == 1 ? "" : "s", (unsigned long long)active, active == 1 ? "" : "s");
	if (f.service) {
		sbuf_puts(&b, " in <b>");
		sbuf_html(&b, f.service);
		sbuf_puts(&b, "</b>");
	}
	sbuf_puts(&b, " · ");
	if (up < active) {
		sbuf_puts(&b, "<a class=\"bad\" href=\"");
		targets_href(&b, c, "down", 0);
		sbuf_addf(&b, "\"><b>%llu not up</b></a>", (unsigned long long)(active - up));
	} else {
		sbuf_puts(&b, "<span class=\"good\">all up</span>");
	}
	sbuf_puts(&b, "</p></div>");
	ingest_banner(&b, c);
	targets_form(&b, c, sv, nsv);

	if (!f.service) {
		sbuf_puts(&b,
		          "<section class=\"card\"><h2>Services</h2><table class=\"sortable "
		          "compact\"><thead><tr><th data-sort=\"text\">Service</th><th "
		          "data-sort=\"num\" class=\"num\">Up</th><th data-sort=\"num\" "
		          "class=\"num\">Goroutines</th><th>Last scrape</th></tr></thead><tbody>");
		for (size_t i = 0; i < nsv; i++) {
			bool ok = sv[i].targets_up == sv[i].targets;

			/* A service whose targets all left the config has no health to show. */
			sbuf_addf(&b, "<tr><td><span class=\"dot %s\"></span><a href=\"/?service=",
			          sv[i].targets == 0 ? "unknown"
			          : ok               ? "up"
			                             : "down");
			sbuf_url(&b, sv[i].name);
			sbuf_puts(&b, "\">");
			sbuf_html(&b, sv[i].name);
			sbuf_addf(&b,
			          "</a></td><td class=\"num\" data-v=\"%u\">%u/%u</td><td "
			          "class=\"num\" data-v=\"%lld\">",
			          sv[i].targets_up, sv[i].targets_up, sv[i].targets,
			          (long long)sv[i].goroutines);
			put_count(&b, sv[i].goroutines >= 0 ? (double)sv[i].goroutines : NAN);
			sbuf_puts(&b, "</td><td>");
			put_time(&b, c->now_ms, sv[i].last_scrape);
			sbuf_puts(&b, "</td></tr>");
		}
		sbuf_puts(&b, "</tbody></table></section>");
	}

	if (!f.service && c->nsources > 0)
		sources_card(&b, c);
	if (!f.service && !f.inactive && f.after == 0)
		daemons_card(&b, c);

	if (nf > 0) {
		sbuf_puts(&b, "<section class=\"card\"><div class=\"cardhead\"><h2>Failing</h2>");
		if (next_failing) {
			sbuf_addf(&b, "<a href=\"");
			targets_href(&b, c, "down", 0);
			sbuf_addf(&b, "\">the first %zu; all of them →</a>", nf);
		}
		sbuf_puts(&b, "</div>");
		targets_table(&b, c, hf, nf);
		sbuf_puts(&b, "</section>");
	}

	sbuf_puts(&b, "<section class=\"card\"><div class=\"cardhead\"><h2>");
	sbuf_puts(&b, f.inactive ? "Retired targets" : "Targets");
	sbuf_puts(&b, " <span class=\"muted\">(in the order first seen)</span></h2>");
	if (f.after > 0) {
		sbuf_puts(&b, "<a href=\"");
		targets_href(&b, c, NULL, 0);
		sbuf_puts(&b, "\">← first page</a>");
	}
	sbuf_puts(&b, "</div>");
	if (n == 0)
		sbuf_puts(&b, "<p class=\"muted\">No targets match.</p>");
	else
		targets_table(&b, c, h, n);
	if (next) {
		sbuf_puts(&b, "<nav class=\"pager\"><a rel=\"next\" href=\"");
		targets_href(&b, c, NULL, next);
		sbuf_puts(&b, "\">next page →</a></nav>");
	}
	sbuf_puts(&b, "</section>");
	/* The JSON of this very page. */
	api.max = 4096;
	sbuf_puts(&api, "/api/v1/targets");
	targets_query(&api, c, NULL, f.after, "&");
	page_end(&b, c, api.p ? api.p : "/api/v1/targets");
	sbuf_release(&api);
	target_health_free(h, n);
	target_health_free(hf, nf);
	query_services_free(sv, nsv);
	web_reply_take(r, 200, "text/html; charset=utf-8", &b);
}

/* ---- Alerts: state per suspect and the outbox (written by alerting) ---- */

static void
page_alerts(const struct web_ctx *c, struct web_reply *r)
{
	struct query_alert *a = NULL;
	struct query_outbox *o = NULL;
	size_t na = 0, no = 0;
	struct sbuf b = {0};

	if (query_alerts(c->st, c->now_ms, 7 * 86400 * 1000LL, &a, &na) < 0 ||
	    query_outbox(c->st, 200, &o, &no) < 0) {
		query_alerts_free(a, na);
		query_outbox_free(o, no);
		page_error(c, r, 500, "Reading alerts failed (see the daemon log).");
		return;
	}
	page_begin(&b, "Alerts", "alerts");
	sbuf_addf(&b,
	          "<div class=\"head\"><h1>Alerts</h1><p class=\"sub\">%zu alert%s (pending, "
	          "firing, or resolved "
	          "in the last 7 days) · %zu notification%s waiting or dropped</p></div>",
	          na, na == 1 ? "" : "s", no, no == 1 ? "" : "s");
	sbuf_puts(&b, "<section class=\"card\"><h2>Alert state</h2>");
	if (na == 0) {
		sbuf_puts(&b, "<p class=\"muted\">No alerts.</p>");
	} else {
		sbuf_puts(
		    &b,
		    "<table class=\"sortable compact\"><thead><tr><th data-sort=\"text\">State</th>"
		    "<th data-sort=\"text\">Service</th><th>Location</th><th>Since</th><th>Last "
		    "notified</th>"
		    "</tr></thead><tbody>");
		for (size_t i = 0; i < na; i++) {
			const char *svc = a[i].service != NULL ? a[i].service : "?";
			struct store_location loc;
			int rc = store_location_get(c->st, a[i].location_id, &loc);

			sbuf_addf(&b, "<tr><td><span class=\"badge alert-%s\">%s</span></td><td>",
			          a[i].state, a[i].state);
			sbuf_html(&b, svc);
			sbuf_puts(&b, "</td><td class=\"loc\"><a class=\"fn\" href=\"");
			put_location_link(&b, a[i].location_id, svc);
			sbuf_puts(&b, "\">");
			sbuf_html(&b, rc == 0 ? loc.function : "?");
			sbuf_puts(&b, "</a>");
			if (rc == 0) {
				sbuf_puts(&b, "<div class=\"file\">");
				sbuf_html(&b, loc.file);
				sbuf_addf(&b, ":%u</div>", loc.line);
				store_location_release(&loc);
			}
			sbuf_puts(&b, "</td><td>");
			put_time(&b, c->now_ms, a[i].since);
			sbuf_puts(&b, "</td><td>");
			put_time(&b, c->now_ms, a[i].last_notified);
			sbuf_puts(&b, "</td></tr>");
		}
		sbuf_puts(&b, "</tbody></table>");
	}
	sbuf_puts(&b, "</section><section class=\"card\"><h2>Outbox</h2>");
	if (no == 0) {
		sbuf_puts(&b, "<p class=\"muted\">Every notification was delivered.</p>");
	} else {
		sbuf_puts(
		    &b,
		    "<table "
		    "class=\"compact\"><thead><tr><th>Delivery</th><th>Webhook</th><th>Event</th>"
		    "<th>Service</th><th>Function</th><th>Created</th><th "
		    "class=\"num\">Attempts</th>"
		    "<th>Last error</th></tr></thead><tbody>");
		for (size_t i = 0; i < no; i++) {
			sbuf_puts(&b, "<tr><td><span class=\"badge ");
			sbuf_puts(&b, strcmp(o[i].state, "pending") != 0 ? "alert-firing\">"
			                                                 : "alert-pending\">");
			sbuf_html(&b, o[i].state);
			sbuf_puts(&b, "</span></td><td>");
			sbuf_html(&b, o[i].webhook);
			sbuf_puts(&b, "</td><td>");
			sbuf_html(&b, o[i].status);
			sbuf_puts(&b, " <span class=\"muted mono\">");
			sbuf_html(&b, o[i].event_id);
			sbuf_puts(&b, "</span></td><td>");
			sbuf_html(&b, o[i].service);
			sbuf_puts(&b, "</td><td class=\"mono\">");
			sbuf_html(&b, o[i].function);
			sbuf_puts(&b, "</td><td>");
			put_time(&b, c->now_ms, o[i].created);
			sbuf_addf(&b, "</td><td class=\"num\">%u</td><td class=\"err\">",
			          o[i].attempts);
			sbuf_html(&b, o[i].last_error ? o[i].last_error : "");
			sbuf_puts(&b, "</td></tr>");
		}
		sbuf_puts(&b, "</tbody></table>");
	}
	sbuf_puts(&b, "</section>");
	page_end(&b, c, NULL);
	query_alerts_free(a, na);
	query_outbox_free(o, no);
	web_reply_take(r, 200, "text/html; charset=utf-8", &b);
}

void
pages_handle(const struct web_ctx *c, struct web_reply *r)
{
	if (strcmp(c->path, "/") == 0) {
		page_suspects(c, r);
	} else if (strcmp(c->path, "/targets") == 0) {
		page_targets(c, r);
	} else if (strcmp(c->path, "/alerts") == 0) {
		page_alerts(c, r);
	} else if (strncmp(c->path, "/locations/", 11) == 0) {
		const char *p = c->path + 11;
		char *end;
		long long id;

		errno = 0;
		id = strtoll(p, &end, 10);
		if (*p < '0' || *p > '9' || errno || *end || id <= 0)
			page_error(c, r, 404, "No such location.");
		else
			page_location(c, id, r);
	} else {
		page_error(c, r, 404, "No such page.");
	}
}
