/*
 * bench_common.c -- helpers shared by bench_server and bench_client.  See bench_common.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "bench_common.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#ifdef WITH_SSA
#include <ssa/in_tls.h>
#endif

enum transport parse_transport(const char *name)
{
	if (strcmp(name, "tcp") == 0)
		return T_TCP;
	if (strcmp(name, "openssl") == 0)
		return T_OPENSSL;
	if (strcmp(name, "ssa") == 0)
		return T_SSA;
	fprintf(stderr, "bench: unknown transport '%s' (tcp, openssl, ssa)\n", name);
	exit(2);
}

const char *transport_name(enum transport t)
{
	static const char *const names[] = {"tcp", "openssl", "ssa"};
	return names[t];
}

void require_transport_built(enum transport t)
{
#ifndef WITH_SSA
	if (t == T_SSA) {
		fprintf(stderr, "bench: this binary was built without the ssa transport; "
				"use the *_ssa binary from 'make ssa'\n");
		exit(2);
	}
#else
	(void)t;
#endif
}

uint64_t parse_size(const char *opt, const char *text)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	unsigned shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (errno || end == text || *end != '\0' || text[0] == '-' || (v >> (64 - shift - 1)) != 0) {
		fprintf(stderr, "bench: bad value '%s' for %s\n", text, opt);
		exit(2);
	}
	return (uint64_t)v << shift;
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void die(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

void die_ssl(const char *what)
{
	fprintf(stderr, "bench: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

void die_conn(const struct conn *c, const char *what)
{
	if (c->ssl)
		die_ssl(what);
#ifdef WITH_SSA
	char text[512] = "";
	socklen_t len = sizeof text;
	int saved = errno;
	if (getsockopt(c->fd, IPPROTO_TLS, TLS_ERROR, text, &len) == 0 && len > 0 && text[0]) {
		text[sizeof text - 1] = '\0';
		fprintf(stderr, "bench: TLS_ERROR: %s\n", text);
	}
	errno = saved;
#endif
	die(what);
}

/* Blocking sockets: a short count only happens on signals or, for TCP, partial writes. */
int conn_write_all(struct conn *c, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		long n;
		if (c->ssl) {
			int chunk = len > INT32_MAX ? INT32_MAX : (int)len;
			n = SSL_write(c->ssl, p, chunk);
		} else {
			n = send(c->fd, p, len, MSG_NOSIGNAL);
		}
		if (n <= 0) {
			if (!c->ssl && n < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

long conn_read_some(struct conn *c, void *buf, size_t len)
{
	if (c->ssl) {
		int chunk = len > INT32_MAX ? INT32_MAX : (int)len;
		int n = SSL_read(c->ssl, buf, chunk);
		if (n > 0)
			return n;
		return SSL_get_error(c->ssl, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
	}
	for (;;) {
		ssize_t n = recv(c->fd, buf, len, 0);
		if (n >= 0 || errno != EINTR)
			return n;
	}
}

int conn_read_all(struct conn *c, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		long n = conn_read_some(c, p, len);
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET; /* EOF in the middle of a message */
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * One SSL_shutdown sends our close_notify; we do not wait for the peer's, as a client that
 * is done reading has no use for it (and waiting would add a round trip to every handshake).
 */
void conn_close(struct conn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

void set_nodelay(int fd)
{
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
		die("setsockopt(TCP_NODELAY)");
}

#ifdef WITH_SSA
void print_ssa_error(int fd, const char *what)
{
	int saved = errno;
	char text[512] = "";
	socklen_t len = sizeof text;
	if (getsockopt(fd, IPPROTO_TLS, TLS_ERROR, text, &len) < 0 || len == 0)
		snprintf(text, sizeof text, "(no TLS_ERROR)");
	text[sizeof text - 1] = '\0';
	fprintf(stderr, "bench: %s: %s; TLS_ERROR: %s\n", what, strerror(saved), text);
}
#endif
