/* storage/alertstore.h: persisted alert state and the notification outbox (tables alerts and
 * outbox).
 *
 * The alerting thread moves alerts through pending → firing → resolved and queues notifications in
 * the outbox in the same transaction, so a restart neither forgets an alert nor repeats a delivered
 * notification. The outbox is delivered in id order per webhook; a row stays 'pending' until a
 * receiver accepted it (at least once). */
#ifndef ALERTSTORE_H
#define ALERTSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

/* One alert. alertstore_get() fills it (release with alert_row_release()); alertstore_update()
 * borrows it. */
struct alert_row {
	int64_t service_id;
	int64_t location_id;
	char state[12];        /* "pending" | "firing" | "resolved" */
	int64_t pending_since; /* ms, 0: never */
	int64_t firing_since;
	int64_t resolved_at;
	int64_t last_notified;
	/* Written only when the alert changes (state, notification, a new peak), never on an
	 * evaluation that changes nothing: last_score is the suspect's score at the last such
	 * write, not the latest (the ranking has that). */
	double last_score;
	int64_t last_count; /* the peak: the highest current count seen while pending or firing */
	/* The json-format event of the latest firing notification, NULL: none. The resolved
	 * notification is made from it, so it lives with the alert and not only in the outbox,
	 * whose delivered rows retention deletes. */
	char *firing_payload;
	/* The service's name as read (alertstore_get(), alertstore_each_active()); not written. */
	char *service;
};

/* A notification to queue. Strings borrowed. */
struct outbox_new {
	const char *event_id;
	const char *webhook;
	const char *status;  /* "firing" | "resolved" */
	const char *payload; /* the json-format event */
};

struct outbox_row {
	int64_t id;
	char *event_id;
	char *webhook;
	char *status;
	int64_t service_id;
	int64_t location_id;
	char *payload;
	int64_t created;
	int64_t next_attempt;
	int attempts;
	char *last_error;     /* NULL: none */
	char *state;          /* "pending" | "delivered" | "dropped" | "failed" */
	int64_t delivered_at; /* 0: not delivered */
};

/* The alert of (service, location): 0 found (release *out with alert_row_release()), 1 none, -1
 * error (logged). */
int alertstore_get(struct store *st, int64_t service_id, int64_t location_id,
                   struct alert_row *out);
/* Every pending or firing alert, to 'cb' (the row is borrowed for the call; a non-zero return
 * stops and is returned). -1 on error. */
int alertstore_each_active(struct store *st, int (*cb)(const struct alert_row *row, void *arg),
                           void *arg);
/* Write 'row' (insert or replace) and queue 'nout' notifications, in one transaction. 'now' stamps
 * them. 0, or -1 (logged; nothing written). */
int alertstore_update(struct store *st, const struct alert_row *row, const struct outbox_new *out,
                      size_t nout, int64_t now) __attribute__((warn_unused_result));
/* Forget the alert of (service, location) (a pending alert whose suspect went away before firing).
 * 0, or -1. */
int alertstore_delete(struct store *st, int64_t service_id, int64_t location_id)
    __attribute__((warn_unused_result));

/* Free what 'row' owns (its firing_payload) and clear it. NULL: no-op. */
void alert_row_release(struct alert_row *row);

/* The oldest pending notification of 'webhook': 0 found, 1 none, -1 error. Release with
 * outbox_row_release. */
int alertstore_outbox_head(struct store *st, const char *webhook, struct outbox_row *out);
/* Several daemons on one database deliver the one outbox: before an attempt, a daemon claims the
 * notification (outbox.claimed_by, claim_until) for this connection's owner (store_set_shard())
 * until 'until' (ms), at 'now', so that no other attempts it meanwhile; the attempt's outcome
 * (delivered, retry, fail, drop) ends the claim. A claim past its 'until' (its daemon was killed
 * or lost the database mid-attempt) is anyone's: a notification goes out at least once, and once
 * unless a daemon dies between a receiver's answer and its record. 0 claimed (always, with no
 * owner: one daemon alone); 1 not claimed: another daemon's claim holds it until *held_until (ms;
 * 0: it is no longer pending); -1 error (logged). */
int alertstore_outbox_claim(struct store *st, int64_t id, int64_t now, int64_t until,
                            int64_t *held_until) __attribute__((warn_unused_result));
int alertstore_outbox_delivered(struct store *st, int64_t id, int64_t now)
    __attribute__((warn_unused_result));
/* A failed attempt: attempts + 1, the error, and when to try next. */
int alertstore_outbox_retry(struct store *st, int64_t id, int64_t next_attempt, const char *error)
    __attribute__((warn_unused_result));
/* Give up on one notification (logged by the caller). */
int alertstore_outbox_drop(struct store *st, int64_t id, const char *error)
    __attribute__((warn_unused_result));
/* The receiver's answer said no retry would help (detect/alert.c): attempts + 1, the error, and
 * state 'failed'; never tried again. */
int alertstore_outbox_fail(struct store *st, int64_t id, const char *error)
    __attribute__((warn_unused_result));
/* How many 'failed' notifications the outbox holds per webhook (retention deletes them after
 * retention.raw), to 'cb' in webhook order ('webhook' borrowed for the call; a non-zero return
 * stops and is returned). 0, or -1 (logged). */
int alertstore_outbox_failed(struct store *st, int (*cb)(const char *webhook, int64_t n, void *arg),
                             void *arg);
/* Every pending notification created before 'cutoff' → dropped; each dropped one goes to 'cb' first
 * (for the log). Returns how many were dropped, or -1. */
int alertstore_outbox_expire(struct store *st, int64_t cutoff,
                             void (*cb)(const struct outbox_row *row, void *arg), void *arg);
void outbox_row_release(struct outbox_row *row);

#endif
