/*
 * sec_revocation_upgrade HOST PORT NAME: a TCP connection upgraded at once with
 * setsockopt(TCP_UPGRADE_TLS, NAME) (STARTTLS with no plaintext before it), so that the
 * revocation checks of an upgrade can be seen against openssl s_server -rev.  Prints
 * "upgraded" then "reply: TEXT" (a line sent and its reply), or "upgrade: ERRNO: TLS_ERROR";
 * exit 0 or 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ssa/in_tls.h>

static const char *errno_name(int e)
{
	return e == EPROTO ? "EPROTO" : e == ETIMEDOUT ? "ETIMEDOUT" : strerror(e);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	char why[256] = "", line[256];
	socklen_t len = sizeof(why);
	ssize_t n;
	int fd;

	if (argc != 4 || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1)
		return 2;
	addr.sin_port = htons((unsigned short)atoi(argv[2]));
	fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		printf("tcp connect: %s\n", strerror(errno));
		return 1;
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_UPGRADE_TLS, argv[3], (socklen_t)strlen(argv[3]) + 1) <
	    0) {
		int err = errno;

		getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len);
		printf("upgrade: %s: %s\n", errno_name(err), why);
		return 1;
	}
	printf("upgraded\n");
	if (write(fd, "hello\n", 6) != 6) {
		printf("write: %s\n", strerror(errno));
		return 1;
	}
	n = read(fd, line, sizeof(line) - 1);
	printf("reply: %.*s\n", n > 0 ? (int)strcspn(line, "\n") : 0, line);
	close(fd);
	return n > 0 ? 0 : 1;
}
