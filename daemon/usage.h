/* daemon/usage.h: the subcommand table: each command's entry point and its one usage text
 * (synopsis, one-line summary, options), printed by `leakprofd --help`, `leakprofd COMMAND --help`
 * and every usage error; and the getopt_long() loop step every command parses its options with,
 * which reports usage errors the same way everywhere. */
#ifndef USAGE_H
#define USAGE_H

#include <getopt.h>
#include <stdio.h>

struct usage_command {
	const char *name;                  /* "check-config" */
	int (*run)(int argc, char **argv); /* a cmd_*() of daemon/cmd.h */
	const char *synopsis;              /* after "leakprofd NAME"; wrapped when printed */
	const char *summary;               /* one line for the overview */
	const char *help;                  /* what follows the synopsis in COMMAND --help */
};

/* The command called 'name', or NULL. Borrowed (static). */
const struct usage_command *usage_find(const char *name);

/* The overview of `leakprofd --help`: every command's synopsis and summary. */
void usage_overview(FILE *f);

/* "usage: leakprofd CMD SYNOPSIS" and the command's help text; 'cmd' is a name of the table. */
void usage_print(FILE *f, const char *cmd);

/* A usage error of 'cmd': "leakprofd CMD: MESSAGE" on one line, then the command's usage, on
 * stderr. Returns 2, the exit status of a usage error. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One step of the option loop of 'cmd': getopt_long() over 'opts' (a table ending in a zero entry;
 * 'val' is the short option's letter where one exists, else a value above 255), with the short
 * options taken from that table. `--opt value` and `--opt=value` both work; names are not
 * abbreviated; argv is permuted so that the operands end up at argv[optind..argc-1]. Returns the
 * option's val, -1 when no option is left, or '?' after a usage error (an unknown option, a missing
 * value, a value given to an option that takes none): the message naming the option and the usage
 * are printed on stderr, and the caller exits 2. Set optind = 0 before the first call of a loop. */
int usage_getopt(const char *cmd, int argc, char **argv, const struct option *opts)
    __attribute__((warn_unused_result));

#endif
