/* tests/integration/notifyrecv.c: a systemd notification socket for the sd_notify test.
 *
 * Binds a unix datagram socket at PATH (the test points NOTIFY_SOCKET at it) and prints every line
 * of every datagram received to stdout, one per line, flushed at once, until killed. Exits 1 if it
 * cannot bind. Usage: notifyrecv PATH */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[4096];
	int fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: notifyrecv PATH (shorter than %zu bytes)\n",
		        sizeof(sa.sun_path));
		return 2;
	}
	memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "notifyrecv: cannot bind '%s': %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "notifyrecv: recv: %s\n", strerror(errno));
			return 1;
		}
		buf[n] = '\0';
		/* one datagram may carry several assignments, one per line */
		fputs(buf, stdout);
		if (n == 0 || buf[n - 1] != '\n')
			fputc('\n', stdout);
		fflush(stdout);
	}
}
