/* base/srclink.h: links from a frame's file:line to the service's source code at the version that
 * runs, from a service's `source` settings (base/config.h). The one rule for the dashboard and the
 * alert payloads: a URL template with the placeholders {path}, {line} and {version}, http(s) only.
 */
#ifndef SRCLINK_H
#define SRCLINK_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"
#include "base/sbuf.h"

/* NULL when 'tmpl' is a usable template: only the placeholders {path}, {line} and {version}, {path}
 * among them, and an http:// or https:// URL with a host once they are filled in. Else why not, in
 * 'buf' (of 'len' bytes), which is returned: "unknown placeholder '{commit}' (use {path}, {line}
 * and {version})". */
const char *srclink_template_problem(const char *tmpl, char *buf, size_t len);

/* Does 'tmpl' (a valid template) use {version}? */
bool srclink_needs_version(const char *tmpl);

/* The running version a service's target labels name: the value of src->version_label in
 * 'labels_json' (a JSON object text, as stored with the service; may be NULL). NULL when there is
 * none (no version_label, no such label, an empty value). Caller owns. */
char *srclink_version(const struct config_source *src, const char *labels_json);

/* Append to 'out' the link of 'file':'line' at 'version' (NULL: unknown): the template with {path}
 * the file with src->strip_prefix removed (and any leading '/'), percent-encoded but for '/' and
 * the unreserved characters, {line} the line, {version} the version encoded the same way. 0 with
 * the link appended; 1 with 'out' untouched when the frame has no link: no template, a file outside
 * strip_prefix (the Go toolchain's, a dependency's), an empty path, a line of 0, {version}
 * unknown, or a path or version with a "." or ".." segment (it would name another page). 'out'
 * failing is the caller's to check. */
int srclink_expand(const struct config_source *src, const char *file, unsigned long line,
                   const char *version, struct sbuf *out);

#endif
