/*
 * tls_serve PORT COUNT [reuseport] [alpn=LIST]: an SSA server for the shell suites.  Takes its
 * certificate from the policy, accepts COUNT connections one after the other, prints one line
 * per connection ("conn N alpn=P resumed=R"), answers each read with "ok\n", and exits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ssa/in_tls.h>

static int listen_on(int port, int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "reuseport") == 0)
			setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		else if (strncmp(argv[i], "alpn=", 5) == 0)
			setsockopt(fd, IPPROTO_TLS, TLS_ALPN, argv[i] + 5, strlen(argv[i] + 5) + 1);
	}
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0) {
		char why[256] = "";
		socklen_t len = sizeof(why);

		getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len);
		fprintf(stderr, "tls_serve: %s (%s)\n", strerror(errno), why);
		return -1;
	}
	return fd;
}

static void serve(int c, int n)
{
	char alpn[256] = "", buf[1024];
	socklen_t len = sizeof(alpn);
	int resumed = -1;
	socklen_t ilen = sizeof(resumed);

	getsockopt(c, IPPROTO_TLS, TLS_ALPN, alpn, &len);
	int early = -1;

	getsockopt(c, IPPROTO_TLS, TLS_RESUMED_SESSION, &resumed, &ilen);
	ilen = sizeof(early);
	getsockopt(c, IPPROTO_TLS, TLS_EARLY_DATA_RECEIVED, &early, &ilen);
	printf("conn %d alpn=%s resumed=%d early=%d\n", n, alpn, resumed, early);
	fflush(stdout);
	if (read(c, buf, sizeof(buf)) > 0 && write(c, "ok\n", 3) != 3)
		perror("tls_serve: write");
	close(c);
}

int main(int argc, char **argv)
{
	int fd, count;

	if (argc < 3)
		return 2;
	count = atoi(argv[2]);
	if ((fd = listen_on(atoi(argv[1]), argc, argv)) < 0)
		return 1;
	printf("listening\n");
	fflush(stdout);
	for (int n = 1; n <= count; n++) {
		int c = accept(fd, NULL, NULL);

		if (c >= 0)
			serve(c, n);
	}
	close(fd);
	return 0;
}
