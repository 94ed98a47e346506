/* tests/eval/fleet_eval.c: `make eval`'s table of the detector on simulated fleets: every
 * scenario of tests/eval/fleetsim.c (or those whose name contains an argument), one line each,
 * then per family: precision (suspects at checkpoints that were leaking), recall (leaks ranked),
 * due checkpoints a leak missed, scrape rounds until a leak first ranked #1 in its service, rounds
 * until a fixed leak left, alerts that fired and resolved, distinct false suspects, and the
 * restarts the ingest found (of the scrapes that followed a restart of their process; "+N": the
 * lifetimes it stored where no process had restarted). FLEET_VERBOSE=1 names each false suspect,
 * missed restart and false restart on stderr. Exit 1 unless precision and recall are 100% with no
 * checkpoint missed and every fixed leak's alert resolved. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "tests/eval/fleetsim.h"

struct family {
	const char *name;
	unsigned scenarios, leaks, detected, due, dropouts, tp, fp, false_suspects, alerts_ok,
	    alerts, restarts, restarts_found, restarts_false, window_checks, window_mismatches;
	int rank1_max, fix_max;
	double cpu;
};

static bool
wanted(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}

int
main(int argc, char **argv)
{
	const struct fleet_scenario *v;
	size_t n = fleet_scenarios(&v), nf = 0;
	struct family fam[32] = {0}, all = {.name = "all", .rank1_max = -1, .fix_max = -1};
	char dir[] = "/tmp/fleet_eval.XXXXXX";
	bool ok = true;

	log_set_level(LOG_LEVEL_WARNING);
	if (!mkdtemp(dir)) {
		perror("fleet_eval: mkdtemp");
		return 1;
	}
	printf("%-12s %4s %5s %7s %14s %6s %8s %6s %6s %6s %6s %6s\n", "scenario", "svcs", "insts",
	       "scrapes", "restarts found", "leaks", "missed", "#1 at", "fixed", "alert", "false",
	       "cpu s");
	for (size_t i = 0; i < n; i++) {
		const struct fleet_scenario *sc = &v[i];
		struct fleet_result r;
		struct family *f = NULL;
		bool fix = false;
		int insts = 0;

		if (!wanted(sc->name, argc, argv))
			continue;
		for (size_t k = 0; k < sc->nservices; k++) {
			fix |= sc->services[k].fix_at_h > 0;
			insts += sc->services[k].max_instances > sc->services[k].instances
			             ? sc->services[k].max_instances
			             : sc->services[k].instances;
		}
		if (fleet_run(sc, dir, fix, &r) != 0) {
			fprintf(stderr, "fleet_eval: %s: the run failed\n", sc->name);
			ok = false;
			continue;
		}
		printf("%-12s %4zu %5d %7llu %5u/%-5u+%-2u %2u/%-3u %3u/%-4u %6d %6d %6s %6u "
		       "%6.1f%s%s\n",
		       sc->name, sc->nservices, insts, (unsigned long long)r.scrapes,
		       r.restarts_found, r.restarts, r.restarts_false, r.detected, r.leaks,
		       r.dropouts, r.due, r.first_rank1, r.fix_rounds,
		       r.alert == 1   ? "ok"
		       : r.alert == 0 ? "-"
		                      : "FAIL",
		       r.false_suspects, r.cpu_s, r.false_suspects ? "  " : "", r.false_names);
		fflush(stdout);
		for (size_t k = 0; k < nf && !f; k++)
			if (strcmp(fam[k].name, sc->family) == 0)
				f = &fam[k];
		if (!f) {
			f = &fam[nf++];
			*f = (struct family){.name = sc->family, .rank1_max = -1, .fix_max = -1};
		}
		for (struct family *a = f; a; a = a == f ? &all : NULL) {
			a->scenarios++;
			a->leaks += r.leaks;
			a->detected += r.detected;
			a->due += r.due;
			a->dropouts += r.dropouts;
			a->tp += r.tp;
			a->fp += r.fp;
			a->false_suspects += r.false_suspects;
			a->restarts += r.restarts;
			a->restarts_found += r.restarts_found;
			a->restarts_false += r.restarts_false;
			a->window_checks += r.window_checks;
			a->window_mismatches += r.window_mismatches;
			a->alerts += fix;
			a->alerts_ok += fix && r.alert == 1;
			if (r.first_rank1 > a->rank1_max)
				a->rank1_max = r.first_rank1;
			if (r.fix_rounds > a->fix_max)
				a->fix_max = r.fix_rounds;
			a->cpu += r.cpu_s;
		}
		ok &= r.detected == r.leaks && r.dropouts == 0 && r.false_suspects == 0 &&
		      r.window_mismatches == 0 && (!fix || r.alert == 1) &&
		      (r.leaks == 0 || r.first_rank1 >= 0);
	}
	printf("\n%-10s %4s %9s %7s %11s %9s %11s %7s %6s %15s %7s\n", "family", "runs",
	       "precision", "recall", "missed/due", "#1 after", "fix left in", "alerts", "false",
	       "restarts found", "cpu s");
	for (size_t k = 0; k <= nf; k++) {
		const struct family *f = k < nf ? &fam[k] : &all;
		double prec = f->tp + f->fp ? 100.0 * f->tp / (f->tp + f->fp) : 100.0;
		double rec = f->leaks ? 100.0 * f->detected / f->leaks : 100.0;
		char rank1[16] = "-", fix[16] = "-", alerts[16] = "-";

		if (f->rank1_max >= 0)
			snprintf(rank1, sizeof(rank1), "<= %d", f->rank1_max);
		if (f->fix_max >= 0)
			snprintf(fix, sizeof(fix), "<= %d", f->fix_max);
		if (f->alerts)
			snprintf(alerts, sizeof(alerts), "%u/%u", f->alerts_ok, f->alerts);
		printf(
		    "%-10s %4u %8.1f%% %6.1f%% %5u/%-5u %9s %11s %7s %6u %5.1f%% (+%-4u) %7.1f\n",
		    f->name, f->scenarios, prec, rec, f->dropouts, f->due, rank1, fix, alerts,
		    f->false_suspects,
		    f->restarts ? 100.0 * f->restarts_found / f->restarts : 100.0,
		    f->restarts_false, f->cpu);
	}
	/* every checkpoint is also ranked from the window kept between checkpoints */
	printf(
	    "\nthe ranking from the window kept between checkpoints equals the store's at %u of %u "
	    "checkpoints\n",
	    all.window_checks - all.window_mismatches, all.window_checks);
	rmdir(dir);
	printf("\n%s\n", ok ? "fleet_eval: ok" : "fleet_eval: FAILED");
	return ok ? 0 : 1;
}
