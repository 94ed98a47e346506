/* storage/db_pg.c: the PostgreSQL driver of db.h (libpq), see db_driver.h.
 *
 * DESIGN. A statement is prepared on the server (PQprepare) the first time it runs on a
 * connection, with the parameter types of that run's bindings (bigint, double precision, bytea; a
 * text or NULL parameter untyped), and again when a later run binds a type it was not prepared
 * with or the connection was made again. A run is sent with PQsendQueryPrepared in single-row
 * mode: each step reads one row (a PGresult of one tuple), so a result of any size holds one row
 * in the client. libpq allows one query in flight per connection: when another statement, a
 * db_exec() or a transaction command needs the connection, the streaming statement's remaining
 * results are read into its queue first (detach()) and its later steps take them from there.
 * Results come in text format; bytea columns are decoded from hex when read.
 *
 * A failure whose connection is gone (PQstatus CONNECTION_BAD) is reported as a lost connection;
 * the next run or exec connects again (PQreset) unless the connection was lost inside a
 * transaction: then everything fails until db_rollback(), so that the statements after the loss
 * cannot run, each committed alone, outside the transaction they belong to. A connection the
 * server ended while it was idle (a restart, pg_terminate_backend()) is noticed before the next
 * command is sent, so that the command goes to a new connection instead of failing.
 *
 * Bounded waits. A connection string that does not say otherwise (nor PGCONNECT_TIMEOUT, nor a
 * service file) gets connect_timeout 10 s, TCP keepalives after 15 s idle every 5 s (3 probes) and
 * a tcp_user_timeout of 30 s, so that a server that stops answering (a network cut, a host gone)
 * fails the statement waiting on it within about 30 s, not after the kernel's two hours of
 * keepalive or fifteen minutes of retransmissions; and each session gets a lock_timeout of 5 s
 * unless the server's configuration, the role, the database or the connection's options set one,
 * so that a write queued behind another session's lock (a migration, a manual LOCK, a long
 * transaction) fails with SQLSTATE 55P03, a refusal the writer retries, instead of holding the
 * writer, and every reader queued behind it, for as long as the lock lasts. There is no
 * statement_timeout: retention and migrations may legitimately run long, and a reader is
 * cancelled by its own deadline (db_set_interrupt()). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "base/sbuf.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "storage/db.h"
#include "storage/db_driver.h"

/* Type OIDs (pg_type.h; stable since they are compiled into every client). */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25
#define OID_FLOAT8 701

#define MAX_PARAMS 32766 /* SQLite's own limit, so that a text runs on both */

/* ---- Errors and the connection ---- */

/* libpq's message on one line: its line breaks (and the tabs after them) as one space each, none at
 * the end. */
static void
one_line(char *s)
{
	char *r = s, *w = s;

	while (*r != '\0') {
		if (*r == '\n' || *r == '\r') {
			r += strspn(r, "\r\n\t ");
			if (*r != '\0' && w > s)
				*w++ = ' ';
			continue;
		}
		*w++ = *r++;
	}
	while (w > s && w[-1] == ' ')
		w--;
	*w = '\0';
}

/* What the last command left of the transaction: db->in_tx. */
static void
note_tx(struct db *db)
{
	PGTransactionStatusType ts = PQtransactionStatus(db->pg);

	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
		db->in_tx = true;
	else if (ts == PQTRANS_IDLE)
		db->in_tx = false;
}

/* After a failure: when the connection is gone, say so, and remember a transaction lost with it. */
static bool
check_lost(struct db *db)
{
	if (PQstatus(db->pg) != CONNECTION_BAD)
		return false;
	if (db->in_tx) {
		db->tx_lost = true;
		db->in_tx = false;
	}
	db->active = NULL;
	return true;
}

/* Keep the failure of 'res' (NULL: the connection's own message) as db_errmsg(). */
static void
save_error(struct db *db, const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	bool lost = check_lost(db);
	char conn[512], code[32];

	snprintf(conn, sizeof(conn), "%s", PQerrorMessage(db->pg));
	one_line(conn);
	if (state != NULL)
		snprintf(code, sizeof(code), " (SQLSTATE %s)", state);
	else
		code[0] = '\0';
	if (primary != NULL)
		db_set_error(db, state, "%s%s%s%s%s", lost ? "connection to the server lost: " : "",
		             primary, detail != NULL && !lost ? ": " : "",
		             detail != NULL && !lost ? detail : "", code);
	else if (lost)
		db_set_error(db, state, "connection to the server lost: %s",
		             conn[0] != '\0' ? conn : "no connection");
	else
		db_set_error(db, state, "%s", conn[0] != '\0' ? conn : "unknown error");
}

/* Server notices (a WARNING such as "there is no transaction in progress") go to the log, not to
 * stderr as libpq would print them. */
static void
notice(void *arg, const PGresult *res)
{
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	(void)arg;
	if (sev != NULL && strcmp(sev, "WARNING") == 0)
		log_warn("db: postgresql: %s", msg != NULL ? msg : "");
	else
		log_debug("db: postgresql: %s: %s", sev != NULL ? sev : "NOTICE",
		          msg != NULL ? msg : "");
}

bool
dbpg_is_target(const char *target)
{
	PQconninfoOption *opts, *o;
	const char *p = target;
	size_t n;
	bool found = false;

	/* "keyword =": the keyword one of libpq's own */
	while (*p == ' ' || *p == '\t')
		p++;
	n = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
	if (n == 0 || p[n + strspn(p + n, " \t")] != '=')
		return false;
	opts = PQconndefaults();
	if (opts == NULL)
		return false;
	for (o = opts; o->keyword != NULL; o++) {
		if (strlen(o->keyword) == n && strncmp(o->keyword, p, n) == 0) {
			found = true;
			break;
		}
	}
	PQconninfoFree(opts);
	return found;
}

/* The lock_timeout a session gets when nothing else set one (see DESIGN). */
#define LOCK_TIMEOUT "5s"

/* The connection options a target leaves unset get these (see DESIGN). */
static const struct {
	const char *key, *value;
} conn_defaults[] = {
    {"connect_timeout", "10"},    {"keepalives", "1"},       {"keepalives_idle", "15"},
    {"keepalives_interval", "5"}, {"keepalives_count", "3"}, {"tcp_user_timeout", "30000"},
};
#define NCONN_DEFAULTS (sizeof(conn_defaults) / sizeof(conn_defaults[0]))

/* Whether conn_defaults[] may be given for 'target': not when it names a service (PGSERVICE or its
 * service option), whose file may set them and is read only for what the parameters leave unset. */
static bool
conn_defaults_apply(const char *target)
{
	PQconninfoOption *opts, *o;
	bool service = getenv("PGSERVICE") != NULL;

	opts = PQconninfoParse(target, NULL);
	for (o = opts; o != NULL && o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "service") == 0 && o->val != NULL)
			service = true;
	}
	PQconninfoFree(opts);
	return !service;
}

/* What a new connection is set up with: the lock_timeout nothing else set, and DB_READONLY's
 * read-only transactions. 0, or -1 with the server's message in 'msg'. */
static int
session_setup(struct db *db, char *msg, size_t msglen)
{
	PGresult *res;
	int rc = 0;

	/* 'default' only: a value from postgresql.conf, ALTER ROLE/DATABASE ... SET, or the
	 * connection's options (-c lock_timeout=...) stays */
	res = PQexec(db->pg, "SELECT set_config(name, '" LOCK_TIMEOUT "', false) FROM pg_settings"
	                     " WHERE name = 'lock_timeout' AND source = 'default'");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(msg, msglen, "setting lock_timeout: %s", PQerrorMessage(db->pg));
		one_line(msg);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if ((db->flags & DB_READONLY) == 0)
		return 0;
	res = PQexec(db->pg, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(msg, msglen, "making the session read-only: %s", PQerrorMessage(db->pg));
		one_line(msg);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

int
dbpg_open(struct db *db, const char *target, char *err, size_t errlen)
{
	/* the target's own options come after these, and win */
	const char *keys[3 + NCONN_DEFAULTS + 1], *values[3 + NCONN_DEFAULTS + 1];
	size_t n = 0;
	bool defaults = conn_defaults_apply(target);
	char msg[512];

	keys[n] = "client_encoding";
	values[n++] = "UTF8";
	keys[n] = "fallback_application_name";
	values[n++] = "leakprofd";
	for (size_t i = 0; i < NCONN_DEFAULTS && defaults; i++) {
		/* an environment variable (PGCONNECT_TIMEOUT) would lose to a parameter */
		if (strcmp(conn_defaults[i].key, "connect_timeout") == 0 &&
		    getenv("PGCONNECT_TIMEOUT") != NULL)
			continue;
		keys[n] = conn_defaults[i].key;
		values[n++] = conn_defaults[i].value;
	}
	keys[n] = "dbname";
	values[n++] = target;
	keys[n] = NULL;
	values[n] = NULL;
	db->pg = PQconnectdbParams(keys, values, 1);
	if (db->pg == NULL) {
		snprintf(err, errlen, "postgresql: out of memory");
		return -1;
	}
	if (PQstatus(db->pg) != CONNECTION_OK) {
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(db->pg));
		one_line(msg);
		snprintf(err, errlen, "postgresql: %s", msg);
		return -1;
	}
	PQsetNoticeReceiver(db->pg, notice, NULL);
	if (session_setup(db, msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "postgresql: %s", msg);
		return -1;
	}
	db->gen = 1;
	return 0;
}

void
dbpg_close(struct db *db)
{
	PQfinish(db->pg);
	db->pg = NULL;
}

int
dbpg_reconnect(struct db *db)
{
	char msg[512];

	/* a statement streaming on the old connection ends at its next step, with an error */
	if (db->active != NULL) {
		db->active->run = DB_RUN_BUFFERED;
		db->active = NULL;
	}
	db->in_tx = false;
	db->tx_lost = false;
	PQreset(db->pg);
	/* statements prepared on the old connection are prepared again */
	db->gen++;
	if (PQstatus(db->pg) != CONNECTION_OK) {
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(db->pg));
		one_line(msg);
		db_set_error(db, NULL, "connecting again: %s", msg);
		return -1;
	}
	if (session_setup(db, msg, sizeof(msg)) < 0) {
		db_set_error(db, NULL, "connecting again: %s", msg);
		return -1;
	}
	return 0;
}

/* Before a command: the connection usable (made again when it was lost outside a transaction),
 * and no statement streaming on it. 0, or -1 (db_errmsg()). */
static void detach(struct db *db);
static int
ready(struct db *db)
{
	struct pollfd pfd = {.fd = PQsocket(db->pg), .events = POLLIN};

	/* Idle, nothing is due from the server: anything to read is its notice that it ended the
	 * connection (a restart, an administrator), and reading it to the end marks the connection
	 * lost, to be made again below rather than failing the command sent on it. */
	if (PQstatus(db->pg) == CONNECTION_OK && db->active == NULL && !db->in_tx && pfd.fd >= 0) {
		while (poll(&pfd, 1, 0) > 0 && PQconsumeInput(db->pg) &&
		       PQstatus(db->pg) == CONNECTION_OK)
			;
	}
	if (db->tx_lost) {
		db_set_error(
		    db, NULL,
		    "the connection to the server was lost inside a transaction: roll it back");
		return -1;
	}
	if (PQstatus(db->pg) == CONNECTION_BAD && dbpg_reconnect(db) < 0)
		return -1;
	if (db->active != NULL)
		detach(db);
	return 0;
}

/* The rows changed, when 'res' is the completion of an INSERT, UPDATE, DELETE or MERGE. */
static void
note_changes(struct db *db, PGresult *res)
{
	const char *status = PQcmdStatus(res);
	const char *n;

	if (strncmp(status, "INSERT ", 7) != 0 && strncmp(status, "UPDATE ", 7) != 0 &&
	    strncmp(status, "DELETE ", 7) != 0 && strncmp(status, "MERGE ", 6) != 0)
		return;
	n = PQcmdTuples(res);
	db->changes = strtoll(n, NULL, 10);
}

int
dbpg_exec(struct db *db, const char *sql)
{
	PGresult *res;
	ExecStatusType st;

	if (ready(db) < 0)
		return -1;
	res = PQexec(db->pg, sql);
	st = PQresultStatus(res);
	if (res == NULL || (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)) {
		save_error(db, res);
		PQclear(res);
		note_tx(db);
		return -1;
	}
	note_changes(db, res);
	PQclear(res);
	note_tx(db);
	return 0;
}

int
dbpg_commit(struct db *db)
{
	PGresult *res;
	int rc = 0;

	if (ready(db) < 0)
		return -1;
	if (PQtransactionStatus(db->pg) == PQTRANS_IDLE) {
		db_set_error(db, NULL, "committing: no transaction is open");
		return -1;
	}
	res = PQexec(db->pg, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		save_error(db, res);
		rc = -1;
	} else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		/* a transaction an error aborted: COMMIT rolls it back, and "succeeds" */
		db_set_error(db, "25P02",
		             "committing: an earlier error aborted the transaction: rolled back");
		rc = -1;
	}
	PQclear(res);
	note_tx(db);
	return rc;
}

int
dbpg_rollback(struct db *db)
{
	if (db->tx_lost) {
		/* the server ended the transaction with the connection */
		db->tx_lost = false;
		return 0;
	}
	if (PQstatus(db->pg) == CONNECTION_BAD || PQtransactionStatus(db->pg) == PQTRANS_IDLE) {
		db->in_tx = false;
		return 0;
	}
	if (dbpg_exec(db, "ROLLBACK") == 0)
		return 0;
	if (PQstatus(db->pg) == CONNECTION_BAD) {
		/* lost on the way: the server rolled back as it ended the connection */
		db->tx_lost = false;
		db->in_tx = false;
		return 0;
	}
	return -1;
}

bool
dbpg_in_transaction(const struct db *db)
{
	return db->in_tx || db->tx_lost;
}

/* ---- Placeholders ---- */

static bool
ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

/* The end of a dollar-quoted string starting at 's' ("$tag$...$tag$"), or NULL when 's' does not
 * start one. */
static const char *
dollar_end(const char *s)
{
	const char *p = s + 1, *end;
	size_t taglen;

	if (isdigit((unsigned char)*p))
		return NULL; /* $1: a parameter */
	while (isalnum((unsigned char)*p) || *p == '_' || (unsigned char)*p >= 0x80)
		p++;
	if (*p != '$')
		return NULL;
	taglen = (size_t)(p - s) + 1;
	for (end = p + 1; *end != '\0'; end++) {
		if (*end == '$' && strncmp(end, s, taglen) == 0)
			return end + taglen;
	}
	return end;
}

char *
dbpg_translate(struct db *db, const char *sql, int *nparams, bool **used)
{
	size_t len = strlen(sql), cap = len * 2 + 16, o = 0, ucap = 0;
	char *out = xmalloc(cap);
	const char *p = sql, *q;
	int maxn = 0;
	bool *u = NULL;

	while (*p != '\0') {
		char c = *p;

		if (o + 16 > cap) {
			cap *= 2;
			out = xrealloc(out, cap);
		}
		if (c == '\'' || c == '"') {
			/* a literal or a quoted identifier (E'': with escapes) */
			bool esc = c == '\'' && p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
			           (p - 1 == sql || !ident_char(p[-2]));

			for (q = p + 1; *q != '\0'; q++) {
				if (esc && *q == '\\' && q[1] != '\0')
					q++;
				else if (*q == c && q[1] == c)
					q++;
				else if (*q == c)
					break;
			}
			q = *q != '\0' ? q + 1 : q;
		} else if (c == '-' && p[1] == '-') {
			q = p + strcspn(p, "\n");
		} else if (c == '/' && p[1] == '*') {
			int depth = 0; /* PostgreSQL nests them */

			for (q = p; *q != '\0'; q++) {
				if (q[0] == '/' && q[1] == '*') {
					depth++;
					q++;
				} else if (q[0] == '*' && q[1] == '/') {
					q++;
					if (--depth == 0) {
						q++;
						break;
					}
				}
			}
		} else if (c == '$' && (p == sql || !ident_char(p[-1])) && dollar_end(p) != NULL) {
			q = dollar_end(p);
		} else if (c == '?' || (c == '$' && isdigit((unsigned char)p[1]) &&
		                        (p == sql || !ident_char(p[-1])))) {
			long n;

			q = p + 1;
			if (isdigit((unsigned char)*q)) {
				char *end;

				errno = 0;
				n = strtol(q, &end, 10);
				if (errno != 0 || n < 1 || n > MAX_PARAMS) {
					db_set_error(db, NULL,
					             "parameter '%.*s' out of range (1 to %d)",
					             (int)(end - p), p, MAX_PARAMS);
					free(out);
					free(u);
					return NULL;
				}
				q = end;
			} else if (maxn == MAX_PARAMS) {
				db_set_error(db, NULL, "more than %d parameters", MAX_PARAMS);
				free(out);
				free(u);
				return NULL;
			} else {
				n = maxn + 1; /* a bare '?': the next number, as in SQLite */
			}
			if (n > maxn)
				maxn = (int)n;
			if ((size_t)n > ucap) {
				size_t grown = ucap ? ucap : 8;

				while (grown < (size_t)n)
					grown *= 2;
				u = xrealloc(u, grown * sizeof(*u));
				memset(u + ucap, 0, (grown - ucap) * sizeof(*u));
				ucap = grown;
			}
			u[n - 1] = true;
			o += (size_t)snprintf(out + o, cap - o, "$%ld", n);
			p = q;
			continue;
		} else {
			out[o++] = c;
			p++;
			continue;
		}
		/* copy the literal, identifier or comment [p, q) as it is */
		while ((size_t)(q - p) + o + 16 > cap) {
			cap *= 2;
			out = xrealloc(out, cap);
		}
		memcpy(out + o, p, (size_t)(q - p));
		o += (size_t)(q - p);
		p = q;
	}
	out[o] = '\0';
	*nparams = maxn;
	if (used != NULL)
		*used = u;
	else
		free(u);
	return out;
}

/* ---- Statements ---- */

int
dbpg_prepare(struct db_stmt *stmt)
{
	struct db *db = stmt->db;

	stmt->pg_sql = dbpg_translate(db, stmt->sql, &stmt->nparams, &stmt->used);
	if (stmt->pg_sql == NULL)
		return -1;
	snprintf(stmt->name, sizeof(stmt->name), "leakprofd_%u", ++db->next_name);
	stmt->params = xcalloc((size_t)stmt->nparams + 1, sizeof(*stmt->params));
	stmt->oids = xcalloc((size_t)stmt->nparams + 1, sizeof(*stmt->oids));
	for (int i = 0; i < stmt->nparams; i++)
		stmt->params[i].null = true;
	return 0;
}

/* Free the current row and its decoded columns. */
static void
drop_row(struct db_stmt *stmt)
{
	int i;

	for (i = 0; i < stmt->nbytes; i++)
		free(stmt->bytes[i].p);
	free(stmt->bytes);
	stmt->bytes = NULL;
	stmt->nbytes = 0;
	PQclear(stmt->row);
	stmt->row = NULL;
}

static void
queue_push(struct db_stmt *stmt, PGresult *res)
{
	if (stmt->qhead + stmt->qlen == stmt->qcap) {
		if (stmt->qhead > 0) {
			memmove(stmt->queue, stmt->queue + stmt->qhead,
			        stmt->qlen * sizeof(*stmt->queue));
			stmt->qhead = 0;
		}
		if (stmt->qlen == stmt->qcap) {
			stmt->qcap = stmt->qcap ? stmt->qcap * 2 : 64;
			stmt->queue = xrealloc(stmt->queue, stmt->qcap * sizeof(*stmt->queue));
		}
	}
	stmt->queue[stmt->qhead + stmt->qlen++] = res;
}

/* The streaming statement's remaining results into its queue: the connection is needed. */
static void
detach(struct db *db)
{
	struct db_stmt *stmt = db->active;
	PGresult *res;

	db->active = NULL;
	stmt->run = DB_RUN_BUFFERED;
	while ((res = PQgetResult(db->pg)) != NULL)
		queue_push(stmt, res);
}

void
dbpg_end(struct db_stmt *stmt)
{
	struct db *db = stmt->db;
	PGresult *res;

	drop_row(stmt);
	if (stmt->run == DB_RUN_STREAMING && db->active == stmt) {
		/* the rest of the rows are read and dropped: the server sends them all anyway,
		 * and a cancel would abort the transaction around them (closing: they go with the
		 * connection) */
		while (!db->closing && (res = PQgetResult(db->pg)) != NULL) {
			if (PQresultStatus(res) == PGRES_TUPLES_OK ||
			    PQresultStatus(res) == PGRES_COMMAND_OK)
				note_changes(db, res);
			PQclear(res);
		}
		db->active = NULL;
		note_tx(db);
	}
	while (stmt->qlen > 0) {
		PQclear(stmt->queue[stmt->qhead++]);
		stmt->qlen--;
	}
	stmt->qhead = 0;
	stmt->run = DB_RUN_IDLE;
}

void
dbpg_clear(struct db_stmt *stmt)
{
	int i;

	for (i = 0; i < stmt->nparams; i++)
		stmt->params[i].null = true;
}

void
dbpg_finalize(struct db_stmt *stmt)
{
	struct db *db = stmt->db;
	int i;

	dbpg_end(stmt);
	/* a statement left prepared on the server is freed with its connection; one finalized
	 * while the connection lives is deallocated there */
	if (stmt->gen == db->gen && stmt->gen != 0 && !db->closing &&
	    PQstatus(db->pg) == CONNECTION_OK && !db->tx_lost) {
		char sql[64];
		PGresult *res;

		if (db->active != NULL)
			detach(db);
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", stmt->name);
		res = PQexec(db->pg, sql);
		PQclear(res);
		note_tx(db);
	}
	for (i = 0; i < stmt->nparams; i++)
		free(stmt->params[i].buf);
	free(stmt->params);
	free(stmt->oids);
	free(stmt->used);
	free(stmt->queue);
	free(stmt->pg_sql);
}

/* Copy 'n' bytes into the parameter's own buffer. */
static void
param_set(struct db_param *prm, const void *p, size_t n)
{
	if (n + 1 > prm->cap) {
		prm->cap = n + 1 > 64 ? n + 1 : 64;
		free(prm->buf);
		prm->buf = xmalloc(prm->cap);
	}
	memcpy(prm->buf, p, n);
	prm->buf[n] = '\0';
	prm->len = (int)n;
}

int
dbpg_bind(struct db_stmt *stmt, int i, const struct db_value *v)
{
	struct db_param *prm = &stmt->params[i - 1];
	char num[64];
	int n;

	if (stmt->run != DB_RUN_IDLE)
		dbpg_end(stmt);
	prm->null = false;
	prm->format = 0;
	prm->oid = 0;
	switch (v->type) {
	case DB_TYPE_NULL:
		prm->null = true;
		break;
	case DB_TYPE_INT64:
		n = snprintf(num, sizeof(num), "%" PRId64, v->i);
		param_set(prm, num, (size_t)n);
		prm->oid = OID_INT8;
		break;
	case DB_TYPE_DOUBLE:
		if (isnan(v->d))
			n = snprintf(num, sizeof(num), "NaN");
		else if (isinf(v->d))
			n = snprintf(num, sizeof(num), "%sInfinity", v->d < 0 ? "-" : "");
		else
			n = snprintf(num, sizeof(num), "%.17g", v->d);
		param_set(prm, num, (size_t)n);
		prm->oid = OID_FLOAT8;
		break;
	case DB_TYPE_TEXT:
		if (v->n > INT_MAX - 1 || memchr(v->p, '\0', v->n) != NULL) {
			db_set_error(stmt->db, NULL, "binding parameter %d: text too long", i);
			prm->null = true;
			return -1;
		}
		param_set(prm, v->p, v->n);
		break;
	case DB_TYPE_BLOB:
		if (v->n > INT_MAX - 1) {
			db_set_error(stmt->db, NULL, "binding parameter %d: blob too long", i);
			prm->null = true;
			return -1;
		}
		param_set(prm, v->p, v->n);
		prm->format = 1;
		prm->oid = OID_BYTEA;
		break;
	}
	return 0;
}

/* Prepare 'stmt' on this connection with its bindings' types, unless it already is. 0, or -1. */
static int
server_prepare(struct db_stmt *stmt)
{
	struct db *db = stmt->db;
	PGresult *res;
	bool same = stmt->gen == db->gen;
	int i;

	/* a NULL fits any type; text was prepared untyped; a number the text skips is text */
	for (i = 0; same && i < stmt->nparams; i++) {
		if (stmt->used[i] && !stmt->params[i].null && stmt->params[i].oid != stmt->oids[i])
			same = false;
	}
	if (same)
		return 0;
	if (stmt->gen == db->gen) {
		/* prepared with other types: the old one goes, its name is used again */
		char sql[64];

		snprintf(sql, sizeof(sql), "DEALLOCATE %s", stmt->name);
		res = PQexec(db->pg, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			save_error(db, res);
			PQclear(res);
			note_tx(db);
			return -1;
		}
		PQclear(res);
		stmt->gen = 0;
	}
	for (i = 0; i < stmt->nparams; i++)
		stmt->oids[i] = !stmt->used[i]         ? OID_TEXT
		                : stmt->params[i].null ? 0
		                                       : stmt->params[i].oid;
	res = PQprepare(db->pg, stmt->name, stmt->pg_sql, stmt->nparams, stmt->oids);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		save_error(db, res);
		PQclear(res);
		note_tx(db);
		return -1;
	}
	PQclear(res);
	stmt->gen = db->gen;
	return 0;
}

/* Send a run of 'stmt' in single-row mode. 0, or -1. */
static int
start_run(struct db_stmt *stmt)
{
	struct db *db = stmt->db;
	const char **values = NULL;
	int *lengths = NULL, *formats = NULL;
	int i, rc = -1;

	if (ready(db) < 0)
		return -1;
	if (server_prepare(stmt) < 0)
		return -1;
	if (stmt->nparams > 0) {
		values = xcalloc((size_t)stmt->nparams, sizeof(*values));
		lengths = xcalloc((size_t)stmt->nparams, sizeof(*lengths));
		formats = xcalloc((size_t)stmt->nparams, sizeof(*formats));
	}
	for (i = 0; i < stmt->nparams; i++) {
		const struct db_param *prm = &stmt->params[i];

		values[i] = prm->null || !stmt->used[i] ? NULL : prm->buf;
		lengths[i] = prm->len;
		formats[i] = prm->format;
	}
	if (!PQsendQueryPrepared(db->pg, stmt->name, stmt->nparams, values, lengths, formats, 0)) {
		save_error(db, NULL);
		goto out_free;
	}
	if (!PQsetSingleRowMode(db->pg)) {
		/* only fails right after a send that failed */
		save_error(db, NULL);
		goto out_free;
	}
	stmt->run = DB_RUN_STREAMING;
	db->active = stmt;
	rc = 0;
out_free:
	free(values);
	free(lengths);
	free(formats);
	return rc;
}

/* The run's next result: from the connection, or from the queue detach() filled. */
static PGresult *
next_result(struct db_stmt *stmt)
{
	PGresult *res;

	if (stmt->run == DB_RUN_BUFFERED) {
		if (stmt->qlen == 0)
			return NULL;
		res = stmt->queue[stmt->qhead++];
		stmt->qlen--;
		return res;
	}
	return PQgetResult(stmt->db->pg);
}

/* Ask the server to cancel the statement running on the connection: it ends with SQLSTATE 57014
 * (one the server has finished already is not touched). */
static void
send_cancel(struct db *db)
{
	PGcancel *c = PQgetCancel(db->pg);
	char msg[256];

	if (c == NULL)
		return;
	if (!PQcancel(c, msg, sizeof(msg)))
		log_debug("db: postgresql: cancelling a statement: %s", msg);
	PQfreeCancel(c);
}

/* Before a step of the statement streaming on the connection: ask db->interrupt now, then every
 * DB_INTERRUPT_MS until the server's next result is in. True when it asked to stop (the server
 * was asked to cancel the statement). */
static bool
interrupted(struct db *db)
{
	if (db->interrupt == NULL)
		return false;
	for (;;) {
		struct pollfd pfd = {.fd = PQsocket(db->pg), .events = POLLIN};
		int rc;

		if (db->interrupt(db->interrupt_arg) != 0) {
			send_cancel(db);
			return true;
		}
		if (!PQisBusy(db->pg) || pfd.fd < 0)
			return false;
		rc = poll(&pfd, 1, DB_INTERRUPT_MS);
		/* a failure to read shows at PQgetResult() */
		if ((rc < 0 && errno != EINTR) || (rc > 0 && !PQconsumeInput(db->pg)))
			return false;
	}
}

enum db_step_result
dbpg_step(struct db_stmt *stmt)
{
	struct db *db = stmt->db;
	PGresult *res;
	ExecStatusType st;

	drop_row(stmt);
	if (stmt->run == DB_RUN_IDLE && start_run(stmt) < 0)
		return DB_ERROR;
	if (stmt->run == DB_RUN_STREAMING && interrupted(db)) {
		/* the rest of the run, cut short by the cancel, is read and dropped */
		dbpg_end(stmt);
		db_set_error(db, "57014", "interrupted: the statement was cancelled");
		note_tx(db);
		return DB_ERROR;
	}
	res = next_result(stmt);
	st = PQresultStatus(res);
	if (res != NULL && st == PGRES_SINGLE_TUPLE) {
		stmt->row = res;
		return DB_ROW;
	}
	if (res != NULL && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)) {
		note_changes(db, res);
		PQclear(res);
		dbpg_end(stmt); /* the NULL that ends the run */
		note_tx(db);
		return DB_DONE;
	}
	/* the rest of the run first: the end of a connection the server closed shows there */
	dbpg_end(stmt);
	if (res == NULL)
		db_set_error(db, NULL,
		             "the run ended without a result: the connection to the server "
		             "was made again during it");
	else
		save_error(db, res);
	PQclear(res);
	note_tx(db);
	return DB_ERROR;
}

/* ---- Columns ---- */

int
dbpg_column_count(struct db_stmt *stmt)
{
	return stmt->row != NULL ? PQnfields(stmt->row) : 0;
}

bool
dbpg_column_is_null(struct db_stmt *stmt, int col)
{
	return PQgetisnull(stmt->row, 0, col) != 0;
}

/* A bytea column's bytes, decoded once per row (NUL-terminated). */
static struct db_bytes *
bytea(struct db_stmt *stmt, int col)
{
	const char *s = PQgetvalue(stmt->row, 0, col);
	size_t n = (size_t)PQgetlength(stmt->row, 0, col), i;
	struct db_bytes *b;

	if (stmt->bytes == NULL) {
		stmt->nbytes = PQnfields(stmt->row);
		stmt->bytes = xcalloc((size_t)stmt->nbytes, sizeof(*stmt->bytes));
	}
	b = &stmt->bytes[col];
	if (b->done)
		return b;
	b->done = true;
	if (n >= 2 && s[0] == '\\' && s[1] == 'x') {
		b->p = malloc((n - 2) / 2 + 1);
		if (b->p == NULL) {
			log_err("db: out of memory");
			abort();
		}
		for (i = 2; i + 1 < n; i += 2) {
			int hi = sbuf_hexval((unsigned char)s[i]),
			    lo = sbuf_hexval((unsigned char)s[i + 1]);

			if (hi < 0 || lo < 0)
				break;
			b->p[b->len++] = (unsigned char)(hi << 4 | lo);
		}
		b->p[b->len] = '\0';
		return b;
	}
	/* the old escape format (bytea_output = escape) */
	{
		unsigned char *raw = PQunescapeBytea((const unsigned char *)s, &b->len);
		unsigned char *p;

		if (raw == NULL) {
			log_err("db: out of memory");
			abort();
		}
		p = malloc(b->len + 1);
		if (p == NULL) {
			log_err("db: out of memory");
			abort();
		}
		memcpy(p, raw, b->len);
		p[b->len] = '\0';
		PQfreemem(raw);
		b->p = p;
	}
	return b;
}

int64_t
dbpg_column_int64(struct db_stmt *stmt, int col)
{
	const char *s;
	char *end;
	long long v;

	if (PQgetisnull(stmt->row, 0, col))
		return 0;
	s = PQgetvalue(stmt->row, 0, col);
	if (PQftype(stmt->row, col) == OID_BOOL)
		return s[0] == 't';
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end == '.' || *end == 'e' || *end == 'E' || end == s) {
		/* a real (or numeric, or "Infinity"): truncated, and clamped */
		double d = strtod(s, NULL);

		if (isnan(d))
			return 0;
		if (d >= 9223372036854775807.0)
			return INT64_MAX;
		if (d <= -9223372036854775808.0)
			return INT64_MIN;
		return (int64_t)d;
	}
	return v;
}

double
dbpg_column_double(struct db_stmt *stmt, int col)
{
	const char *s;

	if (PQgetisnull(stmt->row, 0, col))
		return 0.0;
	s = PQgetvalue(stmt->row, 0, col);
	if (PQftype(stmt->row, col) == OID_BOOL)
		return s[0] == 't' ? 1.0 : 0.0;
	return strtod(s, NULL);
}

const char *
dbpg_column_text(struct db_stmt *stmt, int col)
{
	if (PQgetisnull(stmt->row, 0, col))
		return NULL;
	if (PQftype(stmt->row, col) == OID_BYTEA)
		return (const char *)bytea(stmt, col)->p;
	/* as SQLite, which has no booleans, writes them */
	if (PQftype(stmt->row, col) == OID_BOOL)
		return PQgetvalue(stmt->row, 0, col)[0] == 't' ? "1" : "0";
	return PQgetvalue(stmt->row, 0, col);
}

const void *
dbpg_column_blob(struct db_stmt *stmt, int col)
{
	const void *p = dbpg_column_text(stmt, col);

	return p != NULL && dbpg_column_bytes(stmt, col) > 0 ? p : NULL;
}

size_t
dbpg_column_bytes(struct db_stmt *stmt, int col)
{
	if (PQgetisnull(stmt->row, 0, col))
		return 0;
	if (PQftype(stmt->row, col) == OID_BYTEA)
		return bytea(stmt, col)->len;
	if (PQftype(stmt->row, col) == OID_BOOL)
		return 1;
	return (size_t)PQgetlength(stmt->row, 0, col);
}
