/*
 * A TLS client through the SSA: socket() with IPPROTO_TLS, the host name to verify, connect(),
 * then plain write() and read().  No TLS library, no certificate code.
 *
 *   tls_client HOST PORT MESSAGE
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ssa/in_tls.h>

int main(int argc, char **argv)
{
	struct sockaddr_host addr = {.sin_family = AF_HOSTNAME};
	char reply[4096], why[256] = "";
	socklen_t len = sizeof(why);
	ssize_t n;
	int fd;

	if (argc != 4 || strlen(argv[1]) >= sizeof(addr.sin_addr.name)) {
		fprintf(stderr, "usage: tls_client HOST PORT MESSAGE\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	addr.sin_port = htons((unsigned short)atoi(argv[2]));
	memcpy(addr.sin_addr.name, argv[1], strlen(argv[1]) + 1);
	/* AF_HOSTNAME: resolves the name, and makes it the name the certificate must match. */
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len);
		fprintf(stderr, "client: connect: %s (%s)\n", strerror(errno), why);
		return 1;
	}
	len = sizeof(why);
	getsockopt(fd, IPPROTO_TLS, TLS_PEER_IDENTITY, why, &len);
	printf("client: connected to %s, verified: %s\n", argv[1], why);
	if (write(fd, argv[3], strlen(argv[3])) < 0 || shutdown(fd, SHUT_WR) < 0)
		return 1;
	while ((n = read(fd, reply, sizeof(reply))) > 0)
		printf("client: received \"%.*s\"\n", (int)n, reply);
	close(fd);
	return n < 0;
}
