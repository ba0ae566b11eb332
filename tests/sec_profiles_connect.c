/*
 * sec_profiles_connect PORT NAME: connects a TLS socket to 127.0.0.1:PORT verifying NAME and
 * exchanges a line ("reply: ..." or "connect: EPROTO: <TLS_ERROR>").  The suite
 * tests/suites.d/sec-profiles.sh runs a setuid-root and a setgid copy of it as an unprivileged
 * user whose environment names a policy and a daemon of its own: libssa must not hear it.  It
 * is linked with the build's libssa by an absolute run path, since the dynamic linker ignores
 * LD_LIBRARY_PATH in a setuid program.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ssa/in_tls.h>

static const char *errname(int e)
{
	return e == EPROTO ? "EPROTO" : e == ECONNRESET ? "ECONNRESET" : strerror(e);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char why[256] = "", buf[256];
	socklen_t len = sizeof(why);
	ssize_t n;
	int fd;

	if (argc != 3)
		return 2;
	printf("uid %d euid %d egid %d\n", (int)getuid(), (int)geteuid(), (int)getegid());
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	if (fd < 0 || setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, argv[2],
				 strlen(argv[2]) + 1) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;

		if (fd >= 0)
			getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len);
		printf("connect: %s: %s\n", errname(e), why);
		return 1;
	}
	if (write(fd, "hello\n", 6) != 6 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0) {
		printf("exchange: %s\n", errname(errno));
		return 1;
	}
	printf("reply: %.*s\n", (int)strcspn(buf, "\n") < n ? (int)strcspn(buf, "\n") : (int)n,
	       buf);
	close(fd);
	return 0;
}
