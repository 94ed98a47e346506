/* base/secret.c: reading secret files, one rule for all of them (see secret.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/secret.h"
#include "base/xalloc.h"

char *
secret_read(const char *path, char *err, size_t errlen)
{
	char *buf;
	size_t len = 0, start = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "'%s': %s", path, strerror(errno));
		return NULL;
	}
	buf = xmalloc(SECRET_MAX_BYTES + 2);
	while ((n = read(fd, buf + len, SECRET_MAX_BYTES + 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "'%s': %s", path, strerror(errno));
			goto out_free;
		}
		len += (size_t)n;
		if (len > SECRET_MAX_BYTES) {
			snprintf(err, errlen, "'%s': larger than %u bytes", path, SECRET_MAX_BYTES);
			goto out_free;
		}
	}
	close(fd);
	fd = -1;
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "'%s': contains a NUL byte", path);
		goto out_free;
	}
	while (len > 0 && strchr(" \t\r\n", buf[len - 1]) != NULL)
		len--;
	while (start < len && strchr(" \t\r\n", buf[start]) != NULL)
		start++;
	memmove(buf, buf + start, len - start);
	len -= start;
	buf[len] = '\0';
	if (len == 0) {
		snprintf(err, errlen, "'%s': empty", path);
		goto out_free;
	}
	return buf;
out_free:
	if (fd >= 0)
		close(fd);
	explicit_bzero(buf, SECRET_MAX_BYTES + 2);
	free(buf);
	return NULL;
}
