/* collector/discovery_parse.c: the pure halves of discovery (see discovery.h): an http_sd answer
 * (status, Content-Type, file_sd JSON) into entries, and a DNS answer into "host:port" targets.
 *
 * DNS messages are read with the resolver library's own parser (ns_initparse, ns_parserr,
 * dn_expand), which bounds every read by the message and follows name compression; this file
 * only decides which records count and how a target is written. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collector/discovery.h"

/* "application/json", in any letter case, alone or followed by parameters ("; charset=utf-8"). */
static bool
is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* A Content-Type for a message: printable ASCII, cut at 64 bytes. */
static void
shown(const char *s, char *buf, size_t sz)
{
	size_t i = 0;

	for (; s[i] != '\0' && i + 1 < sz; i++)
		buf[i] = (s[i] < 0x20 || s[i] > 0x7e) ? '?' : s[i];
	buf[i] = '\0';
}

int
discovery_parse_http(const char *name, long status, const char *content_type, const char *body,
                     size_t len, struct targets_entry **out, size_t *nout,
                     struct targets_errors *errs)
{
	char ct[65];

	if (status != 200) {
		targets_errors_add(errs, "%s: HTTP status %ld (want 200)", name, status);
		return -1;
	}
	if (content_type == NULL) {
		targets_errors_add(errs, "%s: no Content-Type (want application/json)", name);
		return -1;
	}
	if (!is_json_type(content_type)) {
		shown(content_type, ct, sizeof(ct));
		targets_errors_add(errs, "%s: Content-Type '%s' (want application/json)", name, ct);
		return -1;
	}
	return targets_parse_json_sd(name, body, len, out, nout, errs);
}

/* A host name as an SRV record may name it, after dn_expand(): letters, digits, '-', '_' and
 * dots (dn_expand writes any other byte as a backslash escape, which no URL host takes). */
static bool
host_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	}
	return true;
}

static int
add_addr(char ***addrs, size_t *naddrs, const char *s)
{
	char **na = realloc(*addrs, (*naddrs + 1) * sizeof(*na));

	if (na == NULL)
		return -1;
	*addrs = na;
	na[*naddrs] = strdup(s);
	if (na[*naddrs] == NULL)
		return -1;
	(*naddrs)++;
	return 0;
}

int
discovery_parse_dns(const unsigned char *msg, size_t len, unsigned type, unsigned port,
                    char ***addrs, size_t *naddrs, char *err, size_t errlen)
{
	int want = type == CONFIG_DNS_SRV ? ns_t_srv : type == CONFIG_DNS_A ? ns_t_a : ns_t_aaaa;
	size_t n0 = *naddrs;
	ns_msg h;
	int rcode, count;

	if (len > NS_MAXMSG || ns_initparse(msg, (int)len, &h) != 0) {
		snprintf(err, errlen, "malformed DNS message (%zu bytes)", len);
		return -1;
	}
	rcode = ns_msg_getflag(h, ns_f_rcode);
	if (rcode == ns_r_nxdomain)
		return 0; /* no such name: no targets, as a name whose service was removed */
	if (rcode != ns_r_noerror) {
		snprintf(err, errlen, "the server answered with error code %d", rcode);
		return -1;
	}
	count = ns_msg_count(h, ns_s_an);
	for (int i = 0; i < count; i++) {
		char host[NS_MAXDNAME], ip[INET6_ADDRSTRLEN], target[NS_MAXDNAME + 16];
		const unsigned char *rd;
		unsigned p;
		ns_rr rr;

		if (ns_parserr(&h, ns_s_an, i, &rr) != 0) {
			snprintf(err, errlen, "malformed DNS message (answer record %d)", i + 1);
			goto out_free;
		}
		if (ns_rr_class(rr) != ns_c_in || (int)ns_rr_type(rr) != want)
			continue;
		rd = ns_rr_rdata(rr);
		if (want == ns_t_srv) {
			if (ns_rr_rdlen(rr) < 7 || dn_expand(ns_msg_base(h), ns_msg_end(h), rd + 6,
			                                     host, sizeof(host)) < 0) {
				snprintf(err, errlen, "malformed SRV record (answer record %d)",
				         i + 1);
				goto out_free;
			}
			p = ns_get16(rd + 4);
			if (host[0] == '\0' || p == 0)
				continue; /* "." target: the service is decidedly not available
				             there */
			if (!host_ok(host)) {
				snprintf(err, errlen, "SRV record %d: target is not a host name",
				         i + 1);
				goto out_free;
			}
			snprintf(target, sizeof(target), "%s:%u", host, p);
		} else {
			size_t want_len = want == ns_t_a ? 4 : 16;

			if (ns_rr_rdlen(rr) != want_len ||
			    inet_ntop(want == ns_t_a ? AF_INET : AF_INET6, rd, ip, sizeof(ip)) ==
			        NULL) {
				snprintf(err, errlen, "malformed %s record (answer record %d)",
				         want == ns_t_a ? "A" : "AAAA", i + 1);
				goto out_free;
			}
			snprintf(target, sizeof(target), want == ns_t_a ? "%s:%u" : "[%s]:%u", ip,
			         port);
		}
		if (add_addr(addrs, naddrs, target) != 0) {
			snprintf(err, errlen, "out of memory");
			goto out_free;
		}
	}
	return 0;

out_free:
	while (*naddrs > n0)
		free((*addrs)[--*naddrs]);
	return -1;
}
