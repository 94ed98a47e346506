/* tests/check_discovery.c: discovery's pure parsers: http_sd answers (status, Content-Type, the
 * file_sd JSON through the file_sd parser) and DNS answers (SRV, A, AAAA, compression, records to
 * skip, malformed messages), built byte by byte as RFC 1035 lays them out; and a DNS source's
 * group turned into entries as a file_sd group would be. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "collector/discovery.h"
#include "collector/scrape.h"
#include "collector/targets.h"

/* ---- A DNS message builder ---- */

struct msg {
	unsigned char b[4096];
	size_t n;
};

static void
put8(struct msg *m, unsigned v)
{
	ck_assert_uint_lt(m->n, sizeof(m->b));
	m->b[m->n++] = (unsigned char)v;
}

static void
put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}

static void
put32(struct msg *m, unsigned long v)
{
	put16(m, (unsigned)(v >> 16));
	put16(m, (unsigned)(v & 0xffff));
}

/* A name as labels ("a.example" → 1a7example0); "" is the root. */
static void
put_name(struct msg *m, const char *name)
{
	while (*name) {
		size_t l = strcspn(name, ".");

		put8(m, (unsigned)l);
		for (size_t i = 0; i < l; i++)
			put8(m, (unsigned char)name[i]);
		name += l;
		if (*name == '.')
			name++;
	}
	put8(m, 0);
}

/* Header with 'an' answers and one question for 'qname' of 'qtype'. */
static void
put_header(struct msg *m, unsigned rcode, unsigned an, const char *qname, unsigned qtype)
{
	m->n = 0;
	put16(m, 0x1234);         /* id */
	put16(m, 0x8180 | rcode); /* response, RD, RA */
	put16(m, 1);              /* questions */
	put16(m, an);
	put16(m, 0); /* authority */
	put16(m, 0); /* additional */
	put_name(m, qname);
	put16(m, qtype);
	put16(m, 1); /* IN */
}

/* A resource record's fixed part; the owner name is a pointer to the question's (offset 12). */
static void
put_rr(struct msg *m, unsigned type, unsigned rdlen)
{
	put16(m, 0xc00c);
	put16(m, type);
	put16(m, 1); /* IN */
	put32(m, 60);
	put16(m, rdlen);
}

static void
put_srv(struct msg *m, unsigned port, const char *target)
{
	size_t len = strlen(target) ? strlen(target) + 2 : 1;

	put_rr(m, 33, (unsigned)(6 + len));
	put16(m, 10); /* priority */
	put16(m, 5);  /* weight */
	put16(m, port);
	put_name(m, target);
}

static void
free_addrs(char **a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(a[i]);
	free(a);
}

/* Parse 'm' and require exactly 'want' (NULL-terminated), in order. */
static void
expect_addrs(const struct msg *m, unsigned type, unsigned port, const char *const *want)
{
	char **a = NULL, err[256] = "";
	size_t n = 0, w = 0;

	ck_assert_msg(discovery_parse_dns(m->b, m->n, type, port, &a, &n, err, sizeof(err)) == 0,
	              "parse failed: %s", err);
	while (want[w])
		w++;
	ck_assert_uint_eq(n, w);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(a[i], want[i]);
	free_addrs(a, n);
}

static void
expect_dns_error(const struct msg *m, unsigned type, const char *needle)
{
	char **a = NULL, err[256] = "";
	size_t n = 0;

	ck_assert_int_eq(discovery_parse_dns(m->b, m->n, type, 80, &a, &n, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, needle) != NULL, "error '%s' lacks '%s'", err, needle);
	ck_assert_uint_eq(n, 0);
	free(a);
}

START_TEST(test_dns_srv)
{
	struct msg m;
	size_t first;

	put_header(&m, 0, 5, "_pprof._tcp.example", 33);
	first = m.n;
	put_srv(&m, 6060, "a.example");
	/* a CNAME on the way is not a target */
	put_rr(&m, 5, 11);
	put_name(&m, "b.example");
	/* the second target's name is compressed: "b", then a pointer to the first one's "example"
	 * (its record: 12 bytes, 6 of SRV data, then 1a) */
	put_rr(&m, 33, 6 + 4);
	put16(&m, 10);
	put16(&m, 5);
	put16(&m, 6061);
	put8(&m, 1);
	put8(&m, 'b');
	put16(&m, 0xc000 | (unsigned)(first + 12 + 6 + 2));
	put_srv(&m, 6062, "");       /* "." : no service there */
	put_srv(&m, 0, "c.example"); /* port 0: skipped */
	expect_addrs(&m, CONFIG_DNS_SRV, 0,
	             (const char *const[]){"a.example:6060", "b.example:6061", NULL});
	/* the same records asked as A: none of them counts */
	expect_addrs(&m, CONFIG_DNS_A, 80, (const char *const[]){NULL});
}
END_TEST

START_TEST(test_dns_addresses)
{
	static const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
	                                     0,    0,    0,    0,    0, 0, 0, 5};
	struct msg m;

	put_header(&m, 0, 3, "web.example", 1);
	put_rr(&m, 1, 4);
	put32(&m, 0x0a000005UL);
	put_rr(&m, 1, 4);
	put32(&m, 0x0a000006UL);
	put_rr(&m, 28, 16); /* an AAAA record in an A answer is skipped */
	for (size_t i = 0; i < 16; i++)
		put8(&m, v6[i]);
	expect_addrs(&m, CONFIG_DNS_A, 6060,
	             (const char *const[]){"10.0.0.5:6060", "10.0.0.6:6060", NULL});
	expect_addrs(&m, CONFIG_DNS_AAAA, 6060, (const char *const[]){"[2001:db8::5]:6060", NULL});
	/* no such name: no targets, no error; a server failure is an error */
	put_header(&m, 3, 0, "web.example", 1);
	expect_addrs(&m, CONFIG_DNS_A, 6060, (const char *const[]){NULL});
	put_header(&m, 2, 0, "web.example", 1);
	expect_dns_error(&m, CONFIG_DNS_A, "error code 2");
}
END_TEST

START_TEST(test_dns_malformed)
{
	struct msg m;
	size_t full;

	/* an A record of 3 bytes */
	put_header(&m, 0, 1, "web.example", 1);
	put_rr(&m, 1, 3);
	put8(&m, 10);
	put16(&m, 5);
	expect_dns_error(&m, CONFIG_DNS_A, "malformed A record");
	/* an SRV record cut short */
	put_header(&m, 0, 1, "_x._tcp.example", 33);
	put_rr(&m, 33, 5);
	put16(&m, 1);
	put16(&m, 1);
	put8(&m, 0);
	expect_dns_error(&m, CONFIG_DNS_SRV, "malformed SRV record");
	/* a message that promises more than it holds */
	put_header(&m, 0, 2, "web.example", 1);
	put_rr(&m, 1, 4);
	put32(&m, 0x0a000005UL);
	expect_dns_error(&m, CONFIG_DNS_A, "malformed DNS message");
	/* every cut of a good message is refused or read within its bounds */
	put_header(&m, 0, 1, "_x._tcp.example", 33);
	put_srv(&m, 6060, "a.example");
	full = m.n;
	for (size_t cut = 0; cut < full; cut++) {
		char **a = NULL, err[256];
		size_t n = 0;

		m.n = cut;
		ck_assert_int_eq(
		    discovery_parse_dns(m.b, m.n, CONFIG_DNS_SRV, 0, &a, &n, err, sizeof(err)), -1);
		free(a);
	}
	/* a target name that is no host name (dn_expand escapes the space) */
	put_header(&m, 0, 1, "_x._tcp.example", 33);
	put_srv(&m, 6060, "a b.example");
	expect_dns_error(&m, CONFIG_DNS_SRV, "not a host name");
	/* a compression pointer that loops */
	put_header(&m, 0, 1, "_x._tcp.example", 33);
	put_rr(&m, 33, 8);
	put16(&m, 1);
	put16(&m, 1);
	put16(&m, 80);
	put16(&m, 0xc000 | (unsigned)m.n);
	expect_dns_error(&m, CONFIG_DNS_SRV, "malformed SRV record");
}
END_TEST

/* ---- http_sd answers ---- */

static bool
errs_contain(const struct targets_errors *e, const char *needle)
{
	for (size_t i = 0; i < e->n; i++)
		if (strstr(e->msgs[i], needle))
			return true;
	return false;
}

static void
expect_http_error(long status, const char *ct, const char *body, const char *needle)
{
	struct targets_entry *out = NULL;
	struct targets_errors errs = {0};
	size_t n = 0;

	ck_assert_int_eq(
	    discovery_parse_http("http_sd 'u'", status, ct, body, strlen(body), &out, &n, &errs),
	    -1);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(n, 0);
	if (!errs_contain(&errs, needle)) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "  got: %s\n", errs.msgs[i]);
		ck_abort_msg("no error containing '%s'", needle);
	}
	targets_errors_release(&errs);
}

START_TEST(test_http_answers)
{
	static const char good[] =
	    "[{\"targets\": [\"10.0.0.5:6060\", \"https://h:1/x\"],"
	    " \"labels\": {\"job\": \"pay\", \"team\": \"a\","
	    " \"__meta_datacenter\": \"x\"}},"
	    " {\"targets\": [\"10.0.0.6:6060\"],"
	    " \"labels\": {\"service\": \"search\", \"__scheme__\": \"https\"}}]";
	static const char *const types[] = {"application/json", "application/json; charset=utf-8",
	                                    "Application/JSON", "application/json ;charset=UTF-8"};
	struct targets_entry *out = NULL;
	struct targets_errors errs = {0};
	size_t n = 0;

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		ck_assert_int_eq(discovery_parse_http("http_sd 'u'", 200, types[t], good,
		                                      strlen(good), &out, &n, &errs),
		                 0);
		ck_assert_uint_eq(n, 3);
		ck_assert_str_eq(out[0].service, "pay");
		ck_assert_str_eq(out[0].base_url, "http://10.0.0.5:6060");
		ck_assert_str_eq(out[0].file, "http_sd 'u'");
		ck_assert_uint_eq(out[0].nlabels, 2); /* __meta_* dropped */
		ck_assert_str_eq(out[1].base_url, "https://h:1/x");
		ck_assert_str_eq(out[2].service, "search");
		ck_assert_str_eq(out[2].base_url, "https://10.0.0.6:6060");
		targets_entries_free(out, n);
		out = NULL;
		n = 0;
	}
	ck_assert_uint_eq(errs.n, 0);
	/* an empty list is a valid answer */
	ck_assert_int_eq(
	    discovery_parse_http("http_sd 'u'", 200, "application/json", "[]", 2, &out, &n, &errs),
	    0);
	ck_assert_uint_eq(n, 0);

	expect_http_error(500, "application/json", good, "http_sd 'u': HTTP status 500 (want 200)");
	expect_http_error(204, "application/json", "", "HTTP status 204");
	expect_http_error(200, "text/html", good,
	                  "Content-Type 'text/html' (want application/json)");
	expect_http_error(200, "application/jsonx", good, "Content-Type 'application/jsonx'");
	expect_http_error(200, "text/plain\x01", good, "Content-Type 'text/plain?'");
	expect_http_error(200, NULL, good, "no Content-Type");
	/* the body must be JSON: YAML and nothing are not */
	expect_http_error(200, "application/json", "- targets: [h:1]\n  labels: {job: a}\n",
	                  "http_sd 'u':1: invalid JSON");
	expect_http_error(200, "application/json", "", "invalid JSON");
	expect_http_error(200, "application/json", "{\"targets\": []}",
	                  "expected a JSON array of target groups");
	expect_http_error(200, "application/json", "[{\"targets\": [\"h:1\"]}]",
	                  "has neither a 'service' nor a 'job' label");
}
END_TEST

/* A source's state, as /healthz shows it without auth: the URL without its user information and
 * query, the error without the URL, when it last tried, and no list yet (a refused connection). */
START_TEST(test_source_state)
{
	static const char yaml[] = "http_sd:\n"
	                           "  - url: 'http://user:pw@127.0.0.1:1/sd?token=s3cret#x'\n"
	                           "    timeout: 1s\n";
	struct config_errors cerrs = {0};
	struct targets_errors errs = {0};
	struct config *cfg = config_load_buffer("d.yaml", yaml, strlen(yaml), &cerrs);
	struct targets_source_state st;
	struct discovery *d;

	ck_assert_msg(cfg != NULL, "config: %s", cerrs.n ? cerrs.msgs[0] : "?");
	ck_assert_int_eq(scrape_global_init(), 0);
	d = discovery_start(cfg, NULL, true);
	ck_assert_ptr_nonnull(d);
	(void)discovery_collect(d, &errs);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "s3cret")); /* the log names it all */
	targets_errors_release(&errs);
	ck_assert_uint_eq(discovery_count(d), 1);
	discovery_states(d, &st);
	ck_assert_str_eq(st.kind, "http_sd");
	ck_assert_str_eq(st.name, "http://127.0.0.1:1/sd");
	ck_assert_msg(strncmp(st.error, "cannot fetch: ", 14) == 0, "error: %s", st.error);
	ck_assert_ptr_null(strstr(st.error, "s3cret"));
	ck_assert_int_gt(st.last_refresh_ms, 0);
	ck_assert_int_eq(st.last_success_ms, 0);
	ck_assert(!st.last_good);
	ck_assert_uint_eq(st.targets, 0);
	discovery_stop(d);
	config_unref(cfg);
}
END_TEST

/* A DNS source's group: the same rules and the same entries as a file_sd group. */
START_TEST(test_group_entries)
{
	char service[] = "service", pay[] = "pay", team[] = "team", a[] = "a",
	     scheme[] = "__scheme__", https[] = "https", bad[] = "bad name";
	const struct targets_label labels[] = {{service, pay}, {team, a}, {scheme, https}};
	const struct targets_label badl[] = {{service, pay}, {bad, a}};
	const char *const addrs[] = {"h.example:6060", "[2001:db8::5]:6060"};
	const char *const bad_addr[] = {"h.example:6060/x"};
	struct targets_entry *out = NULL;
	struct targets_errors errs = {0};
	size_t n = 0;

	ck_assert_int_eq(targets_group_entries("dns_sd 'x'", addrs, 2, labels, 3, &out, &n, &errs),
	                 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(out[0].base_url, "https://h.example:6060");
	ck_assert_str_eq(out[1].base_url, "https://[2001:db8::5]:6060");
	ck_assert_str_eq(out[1].service, "pay");
	ck_assert_uint_eq(out[1].nlabels, 2);
	ck_assert_str_eq(out[1].file, "dns_sd 'x'");
	/* no addresses: no entries, and no service needed */
	ck_assert_int_eq(targets_group_entries("dns_sd 'x'", NULL, 0, NULL, 0, &out, &n, &errs), 0);
	ck_assert_uint_eq(n, 2);
	targets_entries_free(out, n);
	out = NULL;
	n = 0;
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_int_eq(
	    targets_group_entries("dns_sd 'x'", bad_addr, 1, labels, 1, &out, &n, &errs), -1);
	ck_assert(errs_contain(&errs, "dns_sd 'x': target 'h.example:6060/x' is not host:port"));
	ck_assert_int_eq(targets_group_entries("dns_sd 'x'", addrs, 1, badl, 2, &out, &n, &errs),
	                 -1);
	ck_assert(errs_contain(&errs, "invalid label name 'bad name'"));
	ck_assert_ptr_null(out);
	targets_errors_release(&errs);
}
END_TEST

Suite *discovery_suite(void);

Suite *
discovery_suite(void)
{
	Suite *s = suite_create("discovery");
	TCase *tc = tcase_create("discovery");

	tcase_add_test(tc, test_dns_srv);
	tcase_add_test(tc, test_dns_addresses);
	tcase_add_test(tc, test_dns_malformed);
	tcase_add_test(tc, test_http_answers);
	tcase_add_test(tc, test_group_entries);
	tcase_add_test(tc, test_source_state);
	suite_add_tcase(s, tc);
	return s;
}
