/* detect/alert.h: webhook alerting. Its own thread and its own SQLite connection: after each stored
 * ranking it moves alerts through pending → firing → resolved (persisted), queues notifications in
 * the persisted outbox and delivers them with retries, so a slow or dead receiver never blocks
 * scraping. */
#ifndef ALERT_H
#define ALERT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"

struct alerter; /* opaque */

/* Start the alerting thread for cfg->alerting on database cfg->database (read here only). The
 * thread takes a reference of its own to 'cfg'. With no webhooks configured it still tracks alert
 * state (the dashboard shows it). Of several daemons on one database (cfg's shard.count > 1), it
 * moves the alerts of its shard's services only, and claims each notification it delivers in the
 * name of 'owner', the daemon's fleet id (storage/fleet.h; NULL: a daemon alone, no claims). NULL
 * on error (logged). */
struct alerter *alert_start(const struct config *cfg, const char *owner);
/* Apply a reloaded config (rules, webhooks, external_url): takes a reference of its own to 'cfg'
 * and returns at once; the thread switches to it before its next pass (the pass in flight
 * finishes on its snapshot). */
void alert_reload(struct alerter *a, const struct config *cfg);
/* Wake the thread: a new ranking was stored. */
void alert_kick(struct alerter *a);
/* Stop: finish or abandon the delivery in flight (it stays pending in the outbox), join, free.
 * NULL: no-op. */
void alert_stop(struct alerter *a);

/* ---- The same work, one pass at a time, on the caller's thread (tests, tools) ---- */

/* An alerter without a thread of its own: its own connection to cfg->database and a reference of
 * its own to 'cfg'. alert_reload() applies at the next pass. NULL on error (logged). Free with
 * alert_free(), or alert_stop(). */
struct alerter *alert_open(const struct config *cfg, const char *owner);
/* One pass, exactly what the thread does on each tick, at 'now' (Unix ms): move alerts along
 * the latest stored ranking, drop notifications older than alerting.max_age, deliver what is due
 * (blocking on the receivers). Returns when the next delivery retry is due (ms), or 0. */
int64_t alert_pass(struct alerter *a, int64_t now);
/* Close and free an alerter from alert_open(). NULL: no-op. */
void alert_free(struct alerter *a);

/* ---- One-shot delivery (test-webhook, tests) ---- */

/* POST 'body' to webhook 'wh' with the event id header and, with a secret_file, the HMAC signature
 * header "X-Leakprofd-Signature: sha256=<hex HMAC-SHA256 of the body>". 'stop' (may be NULL) aborts
 * the transfer when set. 0 on a 2xx answer; -1 otherwise with 'err' set. The HTTP status goes to
 * *http_code (0: none) and the start of the receiver's answer to 'answer' (may be NULL). */
int alert_post(const struct config_webhook *wh, const char *event_id, const char *body,
               const atomic_bool *stop, long *http_code, char *answer, size_t answer_len, char *err,
               size_t errlen);
/* A sample json-format event (a made-up leak in service "example"). Caller owns; NULL on failure.
 */
char *alert_sample_payload(const struct config *cfg, const char *event_id);
/* The request body 'wh' sends for a json-format event: the event itself, or its slack or
 * alertmanager form. Caller owns; NULL when 'payload' is not a JSON object. */
char *alert_render(const struct config *cfg, const struct config_webhook *wh, const char *payload);

#endif
