/*
 * sec_revocation_resume HOST PORT NAME GATE [OPTION=INT...]: two TLS connections to HOST:PORT through the SSA,
 * verified as NAME, in one process (so the second may resume the first's session).  Between
 * them it prints "waiting" and waits (up to 60 s) for the file GATE to exist, so that the test
 * can change a certificate's status.  OPTION=INT sets an int TLS option (104=1: TLS_OCSP) on
 * each socket.  Each prints "N: connected resumed=R" or
 * "N: connect: ERRNO: TLS_ERROR".  Exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ssa/in_tls.h>

static char **options;

static void once(int n, const char *host, int port, const char *name)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS), resumed = -1;
	char why[512] = "", line[64];
	socklen_t len = sizeof(why), ilen = sizeof(resumed);

	if (fd < 0 || inet_pton(AF_INET, host, &addr.sin_addr) != 1 ||
	    setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, name, strlen(name) + 1) < 0) {
		printf("%d: setup: %s\n", n, strerror(errno));
		exit(1);
	}
	for (char **o = options; *o != NULL; o++) {
		int v = atoi(strchr(*o, '=') ? strchr(*o, '=') + 1 : "1");

		if (setsockopt(fd, IPPROTO_TLS, atoi(*o), &v, sizeof(v)) < 0) {
			printf("%d: option %s: %s\n", n, *o, strerror(errno));
			exit(1);
		}
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = errno;

		getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len);
		printf("%d: connect: %s: %s\n", n, err == EPROTO ? "EPROTO" : strerror(err), why);
	} else {
		/* One exchange, so that the TLS 1.3 tickets after the handshake are read. */
		if (write(fd, "x\n", 2) == 2 && read(fd, line, sizeof(line)) > 0)
			getsockopt(fd, IPPROTO_TLS, TLS_RESUMED_SESSION, &resumed, &ilen);
		printf("%d: connected resumed=%d\n", n, resumed);
	}
	fflush(stdout);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	options = argv + 5;
	once(1, argv[1], atoi(argv[2]), argv[3]);
	printf("waiting\n");
	fflush(stdout);
	for (int i = 0; i < 3000 && access(argv[4], F_OK) != 0; i++)
		usleep(20000);
	once(2, argv[1], atoi(argv[2]), argv[3]);
	return 0;
}
