/*
 * sec_sessions_serve SPEC...: one SSA program with several listeners on 127.0.0.1, for
 * tests/suites.d/sec-sessions.sh (resumption must not cross listeners whose settings differ).
 * Each SPEC is a comma-separated list of settings of one listener:
 *   auth=N         TLS_REQUEST_PEER_AUTH (0 none, 1 require, 2 request)
 *   trust=FILE     TLS_TRUSTED_PEER_CERTIFICATES
 *   chain=FILE     TLS_CERTIFICATE_CHAIN (else the policy's server certificates serve)
 *   key=FILE       TLS_PRIVATE_KEY
 * Prints "listening I PORT" for each listener (I counts from 0), then "ready PID" (its own
 * process id, for the suite to stop it: it runs under runuser), then serves until killed, or
 * until accept() fails for good (ssad gone): one line per accepted connection,
 * "conn I resumed=R peer=IDENTITY" (IDENTITY empty without a client certificate), and answers
 * the connection's first read with "ok\n".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ssa/in_tls.h>

#define MAX_LISTENERS 8

static int set_str(int fd, int opt, const char *value)
{
	return setsockopt(fd, IPPROTO_TLS, opt, value, (socklen_t)strlen(value) + 1);
}

static int configure(int fd, char *spec)
{
	for (char *save = NULL, *kv = strtok_r(spec, ",", &save); kv != NULL;
	     kv = strtok_r(NULL, ",", &save)) {
		int mode;

		if (strncmp(kv, "auth=", 5) == 0) {
			mode = atoi(kv + 5);
			if (setsockopt(fd, IPPROTO_TLS, TLS_REQUEST_PEER_AUTH, &mode,
				       sizeof(mode)) < 0)
				return -1;
		} else if (strncmp(kv, "trust=", 6) == 0) {
			if (set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, kv + 6) < 0)
				return -1;
		} else if (strncmp(kv, "chain=", 6) == 0) {
			if (set_str(fd, TLS_CERTIFICATE_CHAIN, kv + 6) < 0)
				return -1;
		} else if (strncmp(kv, "key=", 4) == 0) {
			if (set_str(fd, TLS_PRIVATE_KEY, kv + 4) < 0)
				return -1;
		} else if (strcmp(kv, "plain") != 0) {
			errno = EINVAL;
			return -1;
		}
	}
	return 0;
}

static int listen_one(char *spec, int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || configure(fd, spec) < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 16) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		char why[256] = "";
		socklen_t wlen = sizeof(why);

		if (fd >= 0)
			getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &wlen);
		fprintf(stderr, "sec_sessions_serve: %s: %s (%s)\n", spec, strerror(errno), why);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static void serve(int c, int i)
{
	char peer[512] = "", buf[1024];
	socklen_t len = sizeof(peer);
	int resumed = -1;
	socklen_t ilen = sizeof(resumed);

	if (getsockopt(c, IPPROTO_TLS, TLS_PEER_IDENTITY, peer, &len) < 0)
		peer[0] = '\0';
	getsockopt(c, IPPROTO_TLS, TLS_RESUMED_SESSION, &resumed, &ilen);
	printf("conn %d resumed=%d peer=%s\n", i, resumed, peer);
	fflush(stdout);
	if (read(c, buf, sizeof(buf)) > 0 && write(c, "ok\n", 3) != 3)
		perror("sec_sessions_serve: write");
	close(c);
}

int main(int argc, char **argv)
{
	struct pollfd fds[MAX_LISTENERS];
	int n = argc - 1;

	if (n < 1 || n > MAX_LISTENERS)
		return 2;
	for (int i = 0; i < n; i++) {
		int port;

		if ((fds[i].fd = listen_one(argv[i + 1], &port)) < 0)
			return 1;
		fds[i].events = POLLIN;
		printf("listening %d %d\n", i, port);
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	for (;;) {
		if (poll(fds, (nfds_t)n, -1) < 0 && errno != EINTR)
			return 1;
		for (int i = 0; i < n; i++) {
			int c;

			if (!(fds[i].revents & POLLIN))
				continue;
			if ((c = accept(fds[i].fd, NULL, NULL)) >= 0)
				serve(c, i);
			else if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
				return 1; /* never spin on a listener that cannot accept */
		}
	}
}
