/* base/secret.h: the one rule for reading a secret from a file (bearer tokens, basic-auth
 * passwords, webhook URLs and HMAC keys, for scraped services and for the dashboard alike): the
 * whole file, at most SECRET_MAX_BYTES; white space at either end (spaces, tabs, CR and LF: what
 * editors and `echo` leave) is not part of the secret, as Prometheus reads its *_file settings; a
 * larger file, a NUL byte or nothing left is an error, never a silently cut or empty secret.
 * leakprofd.yaml(5) documents it. */
#ifndef SECRET_H
#define SECRET_H

#include <stddef.h>

#define SECRET_MAX_BYTES (64u << 10)

/* Read the secret in 'path'. The secret, NUL-terminated (caller owns, free() it; clear it first if
 * it matters), or NULL with 'err' set to a message naming the file and the reason. */
char *secret_read(const char *path, char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
