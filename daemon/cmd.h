/* daemon/cmd.h: leakprofd's subcommands, dispatched by main.c. Each returns the process exit
 * status: 0 success, 1 runtime or input error (message on stderr), 2 usage. argv[0] is the
 * subcommand name. */
#ifndef CMD_H
#define CMD_H

/* Every command parses its options with usage_getopt() and prints its usage with usage_print(). */
#include "daemon/usage.h"

/* The configuration of the packaged service: test-webhook's default. */
#define CMD_DEFAULT_CONFIG "/etc/leakprofd/leakprofd.yaml"

int cmd_parse(int argc, char **argv);        /* daemon/cmd_parse.c */
int cmd_scrape(int argc, char **argv);       /* daemon/cmd_scrape.c */
int cmd_run(int argc, char **argv);          /* daemon/daemon.c */
int cmd_check_config(int argc, char **argv); /* daemon/cmd_config.c */
int cmd_suspects(int argc, char **argv);     /* daemon/cmd_suspects.c */
int cmd_test_webhook(int argc, char **argv); /* daemon/cmd_webhook.c */
int cmd_migrate_db(int argc, char **argv);   /* daemon/cmd_migrate.c */

#endif
