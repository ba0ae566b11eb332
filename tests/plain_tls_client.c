/*
 * A program that knows nothing of libssa: it is built without it and asks for protocol 205 by
 * number.  Under ssa-run it must make a verified TLS connection; without it, socket() fails.
 *
 *   plain_tls_client HOST PORT CAFILE MESSAGE
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	char buf[4096], why[256] = "";
	socklen_t len = sizeof(why);
	ssize_t n;
	int fd;

	if (argc != 5)
		return 2;
	fd = socket(AF_INET, SOCK_STREAM, 205);
	if (fd < 0) {
		printf("socket: %s\n", strerror(errno));
		return 1;
	}
	addr.sin_port = htons((unsigned short)atoi(argv[2]));
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	if (setsockopt(fd, 205, 85, argv[1], (socklen_t)strlen(argv[1]) + 1) < 0 ||
	    setsockopt(fd, 205, 87, argv[3], (socklen_t)strlen(argv[3]) + 1) < 0 ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		getsockopt(fd, 205, 100, why, &len);
		printf("connect: %s (%s)\n", strerror(errno), why);
		return 1;
	}
	if (write(fd, argv[4], strlen(argv[4])) < 0)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	printf("reply: %.*s\n", n > 0 ? (int)n : 0, buf);
	close(fd);
	return n > 0 ? 0 : 1;
}
