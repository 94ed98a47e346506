/* daemon/usage.c: the subcommand table and each command's one usage text, and the option loop step
 * the commands share. The synopses keep the spellings of README.md's "Command line" block, and
 * name the same options as the SYNOPSIS of deploy/leakprofd.8 (tests/integration/test_usage.sh
 * compares the three). */
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "daemon/cmd.h"
#include "daemon/usage.h"

#define USAGE_WIDTH 80 /* a synopsis is wrapped to this many columns */

static const struct usage_command commands[] = {
    {
        .name = "run",
        .run = cmd_run,
        .synopsis = "[--config FILE] [--target URL]... [--log-level LEVEL] [--interval DUR] "
                    "[--listen ADDR] [--database FILE]",
        .summary = "scrape, store, rank, serve and alert, in the foreground",
        .help =
            "  --config FILE      configuration (YAML or JSON); default: the embedded one\n"
            "                     (listen 127.0.0.1:8080, database ./leakprofd.db, no targets)\n"
            "  --target URL       scrape URL too (service \"cli\"); repeatable\n"
            "  --log-level LEVEL  error, warning, notice, info or debug; overrides log_level\n"
            "  --interval DUR     overrides scrape_interval (e.g. 5s)\n"
            "  --listen ADDR      overrides listen\n"
            "  --database FILE    overrides database\n"
            "Signals: SIGHUP reloads the configuration and target files, SIGTERM/SIGINT stop.\n",
    },
    {
        .name = "parse",
        .run = cmd_parse,
        .synopsis = "[--json] [--all] FILE|-",
        .summary = "print the blocked locations of a goroutine profile",
        .help = "  --json  print JSON instead of a table\n"
                "  --all   include goroutines that cannot leak (running, IO wait, sleep, ...)\n",
    },
    {
        .name = "scrape",
        .run = cmd_scrape,
        .synopsis = "[--json] [--all] [--timeout DUR] [--max-body SIZE] "
                    "[--format proto|debug=1|debug=2] [--profile goroutine|goroutineleak] "
                    "[--header 'K: V']... [--bearer-token-file F] [--ca-file F] [--insecure] URL",
        .summary = "fetch one profile and print it as parse does",
        .help =
            "\n"
            "Fetch one goroutine profile and print its blocked locations as `leakprofd parse`\n"
            "does. URL is a base URL (http://host:port, then /debug/pprof/<profile>?debug=N is\n"
            "appended) or, with any other path, the profile URL (kept as written unless\n"
            "--format is given). Defaults: --timeout 10s, --max-body 64MiB, --format proto\n"
            "(debug=0, cheap on the target). Exit status: 0 printed, 1 the scrape or the parse\n"
            "failed (the status on stderr), 2 usage.\n",
    },
    {
        .name = "suspects",
        .run = cmd_suspects,
        .synopsis = "[--config FILE | --db FILE] [--service S] [--label KEY=VALUE] [--window 6h] "
                    "[--at MS] [--json] [--limit N]",
        .summary = "the leak suspects, best first",
        .help = "\n"
                "Print the locations whose blocked goroutine counts keep growing, best first.\n"
                "  --config FILE  use the database and detector settings of this configuration\n"
                "  --db FILE      use this database with default detector settings\n"
                "                 (default ./leakprofd.db)\n"
                "  --service S    only this service (ranks are then within the service)\n"
                "  --label K=V    only the suspects whose goroutines carry pprof label K=V\n"
                "                 at the end of the window\n"
                "  --window DUR   compute the ranking now over this window (e.g. 30m, 6h)\n"
                "                 instead of printing the ranking the daemon stored\n"
                "  --at MS        compute the ranking as it was at this Unix time in\n"
                "                 milliseconds (for evaluations)\n"
                "  --json         print JSON\n"
                "  --limit N      print at most N suspects\n"
                "Each suspect shows its top pprof label sets (detector.max_label_sets) and\n"
                "how many goroutines each gained over the window.\n"
                "Exit status: 0 success (with or without suspects), 1 error, 2 usage.\n",
    },
    {
        .name = "check-config",
        .run = cmd_check_config,
        .synopsis = "FILE|-",
        .summary = "validate a configuration",
        .help = "Validate a configuration file (YAML or JSON; '-' reads standard input).\n"
                "Prints 'configuration OK' and exits 0, or prints every error and exits 1.\n",
    },
    {
        .name = "test-webhook",
        .run = cmd_test_webhook,
        .synopsis = "[--config FILE] NAME",
        .summary = "send a sample notification",
        .help = "Send a sample notification to the webhook NAME of the configuration\n"
                "(default " CMD_DEFAULT_CONFIG ").\n",
    },
    {
        .name = "migrate-db",
        .run = cmd_migrate_db,
        .synopsis = "--from FILE --to URI [--batch N]",
        .summary = "copy a SQLite database into PostgreSQL",
        .help = "\n"
                "Copy the SQLite database FILE (read-only) into the PostgreSQL database URI\n"
                "(postgres://... or key=value), keeping every id, then compare the row counts\n"
                "of every table. Run it again after an interruption: it goes on where it\n"
                "stopped. A database that holds other data is refused.\n"
                "  --from FILE  the SQLite database (stop the daemon writing it first)\n"
                "  --to URI     the PostgreSQL database\n"
                "  --batch N    rows per INSERT (default 500)\n"
                "Exit status: 0 copied and verified, 1 error or a table differs, 2 usage.\n",
    },
};

const struct usage_command *
usage_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	}
	return NULL;
}

/* The length of the synopsis item at 's': up to the next space outside brackets and quotes, so that
 * "[--config FILE | --db FILE]" and "[--header 'K: V']..." stay on one line. */
static size_t
item_len(const char *s)
{
	bool quoted = false;
	int depth = 0;
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		if (s[n] == '\'')
			quoted = !quoted;
		else if (quoted)
			continue;
		else if (s[n] == '[')
			depth++;
		else if (s[n] == ']')
			depth--;
		else if (s[n] == ' ' && depth == 0)
			break;
	}
	return n;
}

/* 'lead' ("usage: leakprofd ", "  leakprofd "), the command's name and its synopsis, wrapped to
 * USAGE_WIDTH with the continuation lines aligned under the first item. */
static void
print_synopsis(FILE *f, const char *lead, const struct usage_command *c)
{
	size_t indent = strlen(lead) + strlen(c->name) + 1, col = indent;
	const char *s = c->synopsis;

	fprintf(f, "%s%s", lead, c->name);
	while (*s != '\0') {
		size_t n = item_len(s);

		if (col > indent && col + 1 + n > USAGE_WIDTH) {
			fprintf(f, "\n%*s", (int)indent, "");
			col = indent;
		} else {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)n, s);
		col += n;
		s += n;
		while (*s == ' ')
			s++;
	}
	fputc('\n', f);
}

void
usage_overview(FILE *f)
{
	fprintf(f, "usage: leakprofd COMMAND [OPTIONS]\n\n"
	           "leakprofd finds goroutine leaks in running Go services: it scrapes goroutine\n"
	           "profiles, stores blocked counts per source location over time, and ranks the\n"
	           "locations whose counts keep growing.\n\n"
	           "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		print_synopsis(f, "  leakprofd ", &commands[i]);
		fprintf(f, "      %s\n", commands[i].summary);
	}
	fprintf(f, "\n  leakprofd COMMAND --help      the command's own options\n"
	           "  leakprofd --help | --version\n\nSee leakprofd(8) and leakprofd.yaml(5).\n");
}

void
usage_print(FILE *f, const char *cmd)
{
	const struct usage_command *c = usage_find(cmd);

	if (c == NULL)
		return;
	print_synopsis(f, "usage: leakprofd ", c);
	fputs(c->help, f);
}

int
usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "leakprofd %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage_print(stderr, cmd);
	return 2;
}

/* The name of the long option 'arg' ("--db=x" → "db"): its length. */
static int
name_len(const char *arg)
{
	return (int)strcspn(arg, "=");
}

/* Is 'arg' "--NAME=VALUE" for the option of 'opts' whose val is 'val'? getopt_long() refuses it
 * with optopt = val when that option takes no value. */
static bool
is_flag_with_value(const char *arg, const struct option *opts, int val)
{
	if (strncmp(arg, "--", 2) != 0 || strchr(arg, '=') == NULL)
		return false;
	for (const struct option *o = opts; o->name != NULL; o++) {
		if (o->val == val && (size_t)name_len(arg + 2) == strlen(o->name) &&
		    strncmp(arg + 2, o->name, strlen(o->name)) == 0)
			return true;
	}
	return false;
}

int
usage_getopt(const char *cmd, int argc, char **argv, const struct option *opts)
{
	char shortopts[32] = ":"; /* ':' first: a missing value returns ':', not '?' */
	const char *arg;
	size_t n = 1;
	int c, longindex = -1;

	for (const struct option *o = opts; o->name != NULL; o++) {
		if (o->flag != NULL || o->val <= 0 || o->val > 255 || n + 3 > sizeof(shortopts))
			continue;
		shortopts[n++] = (char)o->val;
		if (o->has_arg == required_argument)
			shortopts[n++] = ':';
	}
	shortopts[n] = '\0';
	opterr = 0; /* the messages below name the command */
	c = getopt_long(argc, argv, shortopts, opts, &longindex);
	switch (c) {
	case -1:
		return -1;
	case ':':
		arg = argv[optind - 1];
		usage_error(cmd, "option '%.*s' needs a value", name_len(arg), arg);
		return '?';
	case '?':
		arg = argv[optind - 1];
		if (optopt == 0) /* an unknown long option, at argv[optind - 1] */
			usage_error(cmd, "unknown option '%.*s'", name_len(arg), arg);
		else if (is_flag_with_value(arg, opts, optopt))
			usage_error(cmd, "option '%.*s' takes no value", name_len(arg), arg);
		else /* maybe inside a cluster that optind has not left yet: name it by optopt */
			usage_error(cmd, "unknown option '-%c'", optopt);
		return '?';
	default:
		break;
	}
	if (longindex >= 0) {
		/* getopt_long() takes any unambiguous prefix of a name; take the names as
		 * written, so that a new option never makes an old abbreviation ambiguous. The
		 * option is before its value when that came as the next argument. */
		arg = optarg != NULL && optarg == argv[optind - 1] ? argv[optind - 2]
		                                                   : argv[optind - 1];
		if ((size_t)name_len(arg + 2) != strlen(opts[longindex].name)) {
			usage_error(cmd, "unknown option '%.*s'", name_len(arg), arg);
			return '?';
		}
	}
	return c;
}
