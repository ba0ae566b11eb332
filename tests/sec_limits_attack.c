/*
 * Attacks on ssad's limits (issue 13, items 7, 9, 16), for tests/suites.d/sec-limits.sh.
 *
 *   listen BACKLOG               a TLS listener (through libssa) on 127.0.0.1 that never
 *                                accepts: prints "listening PORT", holds until stdin closes
 *   open N                       opens N TLS sockets: "opened K: ERR" (ERR of the first refusal)
 *   flood PORT N SECONDS         N TLS clients (OpenSSL, not libssa) at once; after SECONDS
 *                                prints "handshaken K of N", holds them until stdin closes,
 *                                then drops them all without close_notify
 *   stall SOCKET N SECONDS       N control connections to ssad, each announcing the largest
 *                                request and sending all of it but its last byte, as far as
 *                                ssad reads; prints "stalled N", then waits up to SECONDS for
 *                                ssad to close them: "closed K of N"
 *   idle SOCKET N                N control connections that send nothing: "held K of N",
 *                                then holds them until stdin closes
 *   knock SOCKET SECONDS         connects to ssad and closes, again and again, for SECONDS:
 *                                "knocked K"
 *   anchors FILE...              a TLS socket (through libssa) for each FILE, set as its
 *                                TLS_TRUSTED_PEER_CERTIFICATES: "FILE: OK" or "FILE: ERR: why"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <ssa/in_tls.h>

#include "ssa_proto.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Until stdin reaches EOF: the suite says when to let go. */
static void hold_until_stdin_closes(void)
{
	char sink[256];

	while (read(0, sink, sizeof(sink)) > 0)
		;
}

static int cmd_listen(int backlog)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		printf("listen: %s\n", strerror(errno));
		return 1;
	}
	printf("listening %d\n", ntohs(a.sin_port));
	fflush(stdout);
	hold_until_stdin_closes();
	return 0;
}

static int cmd_open(int n)
{
	int k = 0, err = 0;

	raise_fd_limit();
	while (k < n) {
		int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);

		if (fd < 0) {
			err = errno;
			break;
		}
		k++;
	}
	printf("opened %d: %s\n", k, err == 0 ? "OK" : err == EMFILE ? "EMFILE" : strerror(err));
	return 0;
}

/* --- flood: TLS clients that handshake and then never speak --- */

struct flooder {
	int fd;
	SSL *ssl;
	bool done, failed;
};

static int tcp_to(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One step of f's handshake; the events it waits for next, 0 when over. */
static short flood_step(struct flooder *f)
{
	int r = SSL_connect(f->ssl);

	if (r == 1) {
		f->done = true;
		return 0;
	}
	switch (SSL_get_error(f->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return POLLOUT;
	default:
		ERR_clear_error();
		f->failed = true;
		return 0;
	}
}

static int cmd_flood(int port, int n, double seconds)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct flooder *f = calloc((size_t)n, sizeof(*f));
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	double end = now_s() + seconds;
	int done = 0;

	raise_fd_limit();
	if (ctx == NULL || f == NULL || p == NULL)
		return 1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	for (int i = 0; i < n; i++) {
		f[i].fd = tcp_to(port);
		f[i].ssl = f[i].fd >= 0 ? SSL_new(ctx) : NULL;
		if (f[i].ssl == NULL) {
			f[i].failed = true;
			continue;
		}
		SSL_set_fd(f[i].ssl, f[i].fd);
		SSL_set_tlsext_host_name(f[i].ssl, "localhost");
	}
	while (now_s() < end) {
		int waiting = 0;

		for (int i = 0; i < n; i++) {
			p[i].fd = -1;
			if (f[i].done || f[i].failed)
				continue;
			p[i].fd = f[i].fd;
			p[i].events = flood_step(&f[i]);
			if (p[i].events == 0)
				p[i].fd = -1;
			else
				waiting++;
		}
		if (waiting == 0)
			break;
		poll(p, (nfds_t)n, 100);
	}
	for (int i = 0; i < n; i++)
		done += f[i].done;
	printf("handshaken %d of %d\n", done, n);
	fflush(stdout);
	hold_until_stdin_closes();
	for (int i = 0; i < n; i++)
		if (f[i].fd >= 0)
			close(f[i].fd); /* gone, without close_notify */
	printf("dropped\n");
	return 0;
}

/* --- control connections to ssad that stall, idle or knock --- */

static int dial(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether ssad closed c: EOF or a reset, as it drops a connection. */
static bool closed_by_peer(int c)
{
	char b;
	ssize_t n = recv(c, &b, 1, MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static int cmd_stall(const char *path, int n, double seconds)
{
	static unsigned char zeros[64 * 1024];
	const size_t whole = SSA_PROTO_MAX_DATA + SSA_PROTO_MAX_FILE - 1; /* all but the last */
	struct ssa_request req = {.magic = SSA_PROTO_MAGIC,
				  .op = SSA_OP_SETSOCKOPT,
				  .a = IPPROTO_TLS,
				  .b = TLS_TRUSTED_PEER_CERTIFICATES,
				  .c = SSA_FILE_CONTENT,
				  .data_len = SSA_PROTO_MAX_DATA,
				  .file_len = SSA_PROTO_MAX_FILE};
	int *c = calloc((size_t)n, sizeof(*c));
	size_t *sent = calloc((size_t)n, sizeof(*sent));
	double end;
	int closed = 0;

	raise_fd_limit();
	if (c == NULL || sent == NULL)
		return 1;
	for (int i = 0; i < n; i++) {
		c[i] = dial(path);
		if (c[i] >= 0 && send(c[i], &req, sizeof(req), MSG_NOSIGNAL) != sizeof(req)) {
			close(c[i]);
			c[i] = -1;
		}
		if (c[i] >= 0)
			fcntl(c[i], F_SETFL, O_NONBLOCK);
	}
	/* As much of each as ssad takes, round after round, until a few rounds move nothing. */
	for (int still = 0; still < 3;) {
		bool moved = false;

		for (int i = 0; i < n; i++) {
			size_t left = c[i] >= 0 ? whole - sent[i] : 0;
			ssize_t k = left == 0 ? 0
					      : send(c[i], zeros,
						     left < sizeof(zeros) ? left : sizeof(zeros),
						     MSG_NOSIGNAL);

			if (k > 0) {
				sent[i] += (size_t)k;
				moved = true;
			}
		}
		still = moved ? 0 : still + 1;
		if (!moved)
			usleep(100 * 1000); /* ssad may still be reading */
	}
	printf("stalled %d\n", n);
	fflush(stdout);
	end = now_s() + seconds;
	while (now_s() < end) {
		closed = 0;
		for (int i = 0; i < n; i++)
			closed += c[i] < 0 || closed_by_peer(c[i]);
		if (closed == n)
			break;
		usleep(100 * 1000);
	}
	printf("closed %d of %d\n", closed, n);
	return 0;
}

static int cmd_idle(const char *path, int n)
{
	int held = 0;

	raise_fd_limit();
	for (int i = 0; i < n; i++)
		held += dial(path) >= 0;
	printf("held %d of %d\n", held, n);
	fflush(stdout);
	hold_until_stdin_closes();
	return 0;
}

static int cmd_knock(const char *path, double seconds)
{
	double end = now_s() + seconds;
	long k = 0;

	while (now_s() < end) {
		int fd = dial(path);

		if (fd >= 0) {
			close(fd);
			k++;
		}
	}
	printf("knocked %ld\n", k);
	return 0;
}

static int cmd_anchors(int n, char **files)
{
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
		char why[256] = "";
		socklen_t len = sizeof(why);

		if (fd < 0)
			return 1;
		if (setsockopt(fd, IPPROTO_TLS, TLS_TRUSTED_PEER_CERTIFICATES, files[i],
			       (socklen_t)strlen(files[i]) + 1) == 0) {
			printf("%s: OK\n", files[i]);
		} else {
			int err = errno;

			getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len);
			printf("%s: %s: %s\n", files[i], err == EINVAL ? "EINVAL" : strerror(err),
			       why);
		}
		close(fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN); /* refused connections are closed under the flood's writes */
	if (argc == 3 && strcmp(argv[1], "listen") == 0)
		return cmd_listen(atoi(argv[2]));
	if (argc == 3 && strcmp(argv[1], "open") == 0)
		return cmd_open(atoi(argv[2]));
	if (argc == 5 && strcmp(argv[1], "flood") == 0)
		return cmd_flood(atoi(argv[2]), atoi(argv[3]), atof(argv[4]));
	if (argc == 5 && strcmp(argv[1], "stall") == 0)
		return cmd_stall(argv[2], atoi(argv[3]), atof(argv[4]));
	if (argc == 4 && strcmp(argv[1], "idle") == 0)
		return cmd_idle(argv[2], atoi(argv[3]));
	if (argc >= 3 && strcmp(argv[1], "anchors") == 0)
		return cmd_anchors(argc - 2, argv + 2);
	if (argc == 4 && strcmp(argv[1], "knock") == 0)
		return cmd_knock(argv[2], atof(argv[3]));
	fprintf(stderr, "usage: see the comment at the top of sec_limits_attack.c\n");
	return 2;
}
