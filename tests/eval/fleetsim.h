/* tests/eval/fleetsim.h: simulated fleets in simulated time, for the detector's evaluation.
 *
 * A scenario is a fleet of services, each with instances (targets) that start, leak or not, crash
 * and restart, get replaced by deploys on new addresses, scale with a daily traffic cycle, and are
 * scraped every interval. Every scrape is written as Go prints it (debug=1 counts, debug=2 detail
 * dumps with goroutine ids), parsed by the real parser and stored through the daemon's own ingest
 * queue (daemon/ingest.c, store_add_scrape()) with the simulated time as the clock, with what a
 * real restart shows: counts reset, pools refill, a new connection, goroutine ids starting again,
 * failed scrapes while no process listens. The real detector ranks at checkpoints; a leak must
 * rank while it leaks (recall), nothing else may (precision), and a fixed leak must leave the
 * ranking, and its alert (the real alerter) resolve. Everything is seeded: a run is repeatable. */
#ifndef FLEETSIM_H
#define FLEETSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What one simulated location does. */
enum fleet_kind {
	FK_LEAK,    /* grows with traffic in leaking instances (a: per instance-hour at the peak) */
	FK_POOL,    /* an idle pool of a (now and then one busy) */
	FK_SWELL,   /* an elastic pool's idle workers: swells and drains with the daily traffic
	               (a: requests in flight at the peak) */
	FK_BURST,   /* slow requests piling up for a few scrapes, then released (a: height, b: per
	               instance-hour) */
	FK_OUTAGE,  /* one of three handlers a downstream outage blocks together, in every instance
	               at once, released together (a: height, b: outages per day) */
	FK_JITTER,  /* a level of a that jitters by ±1 */
	FK_FEW,     /* a constant few (a) */
	FK_ONCE,    /* one goroutine per process start, kept on purpose */
	FK_STARTUP, /* a pool that fills over b minutes after a start, then stays at a */
	FK_LONGPOLL, /* long-poll clients: about a at the peak, with noise */
	FK_IO,       /* connections in IO wait (about a at the peak): never a suspect */
	FK_SLEEP,    /* sleeping tickers (a): never a suspect */
};

struct fleet_loc {
	enum fleet_kind kind;
	double a, b;
};

/* How the scraper's connections to a service behave. */
enum fleet_conn {
	FC_KEEPALIVE, /* kept alive between scrapes: a restart closes it */
	FC_EVICTED,   /* never kept (a large fleet's cache evicts it): every scrape connects anew */
};

#define FLEET_MAX_LOCS 12

struct fleet_service {
	const char *name;
	int instances;         /* at the start; with autoscaling, at the traffic's low */
	int max_instances;     /* autoscaling: at the traffic's peak; 0: a fixed size */
	double deploy_every_h; /* deploys that replace every instance on new addresses; 0: none */
	bool deploy_in_place;  /* deploys restart the processes on their addresses instead */
	double crash_per_day;  /* crash restarts per instance and day */
	int downtime_s;        /* how long a restart leaves the address without a process */
	enum fleet_conn conn;
	int detail_every;   /* a debug=2 detail scrape after every Nth scrape; 0: never */
	double leak_share;  /* share of instances whose build leaks at the FK_LEAK location */
	double leak_from_h; /* the leaking build is deployed then (0: from the start) */
	double fix_at_h;    /* a deploy of the fixed build; 0: never */
	struct fleet_loc locs[FLEET_MAX_LOCS];
	size_t nlocs;
};

#define FLEET_MAX_SERVICES 6

struct fleet_scenario {
	char name[48];
	const char *family;
	uint64_t seed;
	double hours;
	bool asserted; /* in the subset `make check` asserts */
	struct fleet_service services[FLEET_MAX_SERVICES];
	size_t nservices;
};

/* What a run measured. */
struct fleet_result {
	unsigned leaks;          /* leaking (service, location) pairs */
	unsigned detected;       /* of which ranked at a checkpoint while leaking */
	unsigned due;            /* checkpoints at which a leak was due to be ranked */
	unsigned dropouts;       /* of which it was not */
	unsigned tp, fp;         /* suspects at checkpoints: leaking, not */
	unsigned false_suspects; /* distinct (service, location) ranked while not leaking */
	char false_names[256];   /* the first few of them, with the checkpoint */
	int first_rank1;         /* scrape rounds from a leak's start until #1 in its service (the
	                            slowest leak); -1: never */
	int fix_rounds;          /* scrape rounds from a fix until its suspect left; -1: none */
	int alert;               /* 1: fired before the fix and resolved after; 0: not checked;
	                            -1: failed */
	uint64_t scrapes;        /* scrapes stored */
	unsigned restarts;       /* successful scrapes that followed a restart of their process */
	unsigned restarts_found; /* of which the ingest stored as starting a new lifetime */
	unsigned restarts_false; /* lifetimes stored where the process had not restarted */
	double rank_ms;          /* mean time of one checkpoint ranking */
	unsigned window_checks;  /* checkpoints ranked from the window kept between them too */
	unsigned window_mismatches; /* of which the two rankings differed */
	double cpu_s;            /* CPU of the run */
};

/* The full set of scenarios, generated (deterministically) once. Borrowed. */
size_t fleet_scenarios(const struct fleet_scenario **out);

/* Run 'sc' in a new database under 'dir' (removed afterwards); with 'alerts', run the real
 * alerter and check that a fixed leak's alert fires, then resolves. 0, or -1 on a setup failure
 * (logged). */
int fleet_run(const struct fleet_scenario *sc, const char *dir, bool alerts,
              struct fleet_result *res);

#endif
