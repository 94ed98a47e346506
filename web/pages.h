/* web/pages.h: the dashboard's server-rendered HTML pages (Suspects, Location, Targets, Alerts)
 * with inline SVG sparklines and charts. Every string from a profile, the database or the config is
 * escaped for its context. */
#ifndef PAGES_H
#define PAGES_H

#include <stddef.h>

#include "web/web.h"

/* Answer a page request: "/", "/locations/{id}", "/targets", "/alerts"; 404 page otherwise. */
void pages_handle(const struct web_ctx *c, struct web_reply *r);

/* An inline SVG sparkline (a path) of 'n' values scaled into w × h; NaN values are skipped. */
void pages_sparkline(struct sbuf *b, const double *v, size_t n, unsigned w, unsigned h);
/* Parse a JSON array of numbers (a suspect's sparkline_json) into at most 'max' doubles; returns
 * the count. */
size_t pages_parse_numbers(const char *json, double *out, size_t max);
/* "12", "8.0k", "1.2M": a count shortened for a table cell. */
void pages_fmt_count(double v, char *buf, size_t n);

#endif
