/* base/url.h: the one set of rules for the URLs and addresses leakprofd is given (targets in the
 * configuration, in file_sd files and on the command line, webhook URLs, the listen address): a
 * scheme of http:// or https:// (either case), a host, an optional port of 1 to 65535, no spaces or
 * control characters anywhere. */
#ifndef URL_H
#define URL_H

#include <stdbool.h>
#include <stddef.h>

/* The length of the "http://" or "https://" prefix of 's' (case-insensitive): 7, 8, or 0 for any
 * other. */
size_t url_scheme_len(const char *s);
/* NULL when 's' is an http(s) URL with a host (and a valid port if any), else why not (a static
 * string such as "missing host" or "invalid port"). */
const char *url_problem(const char *s);
/* NULL when 's' is host:port or [v6]:port (port 0: any free port), else why not (a static string).
 */
const char *url_listen_problem(const char *s);
/* Does 's' hold a space, a control character or DEL? */
bool url_has_ctl_or_space(const char *s);
/* Does the http(s) URL 's' have a path other than "/"? Then it names a profile, not a base URL. */
bool url_has_path(const char *s);

#endif
