/* daemon/alert.h: webhook alerting. Its own thread and its own SQLite connection: after each stored ranking it
 * moves alerts through pending → firing → resolved (persisted), queues notifications in the persisted outbox and
 * delivers them with retries, so a slow or dead receiver never blocks scraping. */
#ifndef ALERT_H
#define ALERT_H

#include <stdint.h>

#include "daemon/config.h"

struct alerter;                                 /* opaque */

/* Start the alerting thread for cfg->alerting on database cfg->database. With no webhooks configured it still
 * tracks alert state (the dashboard shows it). NULL on error (logged). */
struct alerter *alert_start(const struct config *cfg);
/* Apply a reloaded config (rules, webhooks). */
void alert_reload(struct alerter *a, const struct config *cfg);
/* Wake the thread: a new ranking was stored. */
void alert_kick(struct alerter *a);
/* Stop: finish or abandon the delivery in flight (it stays pending in the outbox), join, free. NULL: no-op. */
void alert_stop(struct alerter *a);

#endif
