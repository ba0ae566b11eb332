/*
 * A TLS echo server through the SSA: it answers each line, and closes after "bye".  It names no
 * certificate: the administrator's policy (SSA_CONFIG or /etc/ssa/ssa.conf, server-certificates)
 * provides it.  Compared with a TCP echo server, the only change is the protocol argument of
 * socket().
 *
 *   tls_echo_server PORT [COUNT]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ssa/in_tls.h>

static void serve(int conn)
{
	char buf[4096], name[256] = "";
	socklen_t len = sizeof(name);
	ssize_t n;

	getsockopt(conn, IPPROTO_TLS, TLS_HOSTNAME, name, &len);
	printf("server: client asked for \"%s\"\n", name);
	while ((n = read(conn, buf, sizeof(buf))) > 0) {
		if (write(conn, buf, (size_t)n) != n)
			break;
		if (n >= 4 && memcmp(buf + n - 4, "bye\n", 4) == 0)
			break;
	}
	close(conn);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	int count = argc > 2 ? atoi(argv[2]) : -1, one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);

	if (argc < 2 || fd < 0) {
		fprintf(stderr, argc < 2 ? "usage: tls_echo_server PORT [COUNT]\n" : "socket: %s\n",
			strerror(errno));
		return 1;
	}
	addr.sin_port = htons((unsigned short)atoi(argv[1]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0) {
		char why[256] = "";
		socklen_t len = sizeof(why);

		getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len);
		fprintf(stderr, "server: %s (%s)\n", strerror(errno), why);
		return 1;
	}
	printf("server: listening on 127.0.0.1:%s\n", argv[1]);
	fflush(stdout);
	while (count-- != 0) {
		int conn = accept(fd, NULL, NULL);

		if (conn >= 0)
			serve(conn);
	}
	close(fd);
	return 0;
}
