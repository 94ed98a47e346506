/* daemon/membership.h: this daemon's place among the daemons sharing its database
 * (storage/fleet.h).
 *
 * At start it claims the configured shard, or refuses to run (another daemon runs the shard, or
 * one runs another shard.count). A thread of its own, on a connection of its own, keeps the claim
 * by a heartbeat: a database that is down only delays it, and a daemon cut off longer than the
 * lease may find its shard taken when the database answers again, which membership_lost() then
 * says (the daemon exits: its writes already fail). A stop marks the shard free at once. */
#ifndef MEMBERSHIP_H
#define MEMBERSHIP_H

#include <stdbool.h>

#include "base/config.h"

struct membership; /* opaque */

/* Claim cfg's shard on cfg->database and start beating. NULL when refused or on error (logged,
 * saying why and, when refused, which daemon holds it). */
struct membership *membership_start(const struct config *cfg);
/* The daemon's fleet id (storage/fleet.h): store_set_shard()'s and alert_start()'s owner.
 * Borrowed. */
const char *membership_owner(const struct membership *m);
/* True once another daemon took the shard (logged when found). */
bool membership_lost(struct membership *m);
/* Stop beating, mark the shard free (unless lost), close. NULL: no-op. */
void membership_stop(struct membership *m);

#endif
