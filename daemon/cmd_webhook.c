/* daemon/cmd_webhook.c: PLACEHOLDER during development; replaced by the real implementation of 'test-webhook'. */
#include <stdio.h>

#include "daemon/cmd.h"

int
cmd_test_webhook(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "leakprofd: 'test-webhook' is not built yet\n");
	return 1;
}
