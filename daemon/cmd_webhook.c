/* daemon/cmd_webhook.c: `leakprofd test-webhook [--config FILE] NAME`: send a sample notification
 * to one configured webhook, in its format and signed as the daemon would, and print the receiver's
 * answer. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "detect/alert.h"
#include "daemon/cmd.h"
#include "base/config.h"
#include "daemon/usage.h"

static const char *
webhook_format_name(enum webhook_format f)
{
	switch (f) {
	case WEBHOOK_FORMAT_SLACK:
		return "slack";
	case WEBHOOK_FORMAT_ALERTMANAGER:
		return "alertmanager";
	case WEBHOOK_FORMAT_JSON:
		break;
	}
	return "json";
}

int
cmd_test_webhook(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = CMD_DEFAULT_CONFIG, *name;
	const struct config_webhook *wh = NULL;
	struct config_errors errs = {0};
	struct config *cfg;
	char event_id[64], answer[4096], err[512] = "";
	char *payload = NULL, *body = NULL;
	long code = 0;
	int c, ret = 1;

	optind = 0;
	while ((c = usage_getopt("test-webhook", argc, argv, opts)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage_print(stdout, "test-webhook");
			return 0;
		default:
			return 2;
		}
	}
	if (optind == argc)
		return usage_error("test-webhook", "no webhook NAME");
	if (argc - optind > 1)
		return usage_error("test-webhook", "one webhook at a time ('%s' and '%s')",
		                   argv[optind], argv[optind + 1]);
	name = argv[optind];
	cfg = config_load(path, &errs);
	if (cfg == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		config_errors_release(&errs);
		return 1;
	}
	for (size_t i = 0; i < cfg->alerting.nwebhooks; i++) {
		if (strcmp(cfg->alerting.webhooks[i].name, name) == 0)
			wh = &cfg->alerting.webhooks[i];
	}
	if (wh == NULL) {
		fprintf(stderr, "leakprofd: %s: no webhook named '%s' (alerting.webhooks)\n", path,
		        name);
		goto out;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(event_id, sizeof(event_id), "test-%" PRId64, (int64_t)time(NULL));
	payload = alert_sample_payload(cfg, event_id);
	body = payload != NULL ? alert_render(cfg, wh, payload) : NULL;
	if (body == NULL) {
		fprintf(stderr, "leakprofd: cannot build the sample notification\n");
		goto out_curl;
	}
	printf("sending %s notification '%s' to webhook '%s' (%s)\n",
	       webhook_format_name(wh->format), event_id, wh->name, wh->url);
	if (alert_post(wh, event_id, body, NULL, &code, answer, sizeof(answer), err, sizeof(err)) !=
	    0) {
		if (code != 0)
			printf("HTTP %ld\n%s\n", code, answer);
		fprintf(stderr, "leakprofd: webhook '%s': %s\n", wh->name, err);
		goto out_curl;
	}
	printf("HTTP %ld\n%s%s", code, answer,
	       answer[0] != '\0' && answer[strlen(answer) - 1] != '\n' ? "\n" : "");
	ret = 0;
out_curl:
	curl_global_cleanup();
out:
	free(payload);
	free(body);
	config_unref(cfg);
	return ret;
}
