/*
 * bench_server -- the server side of the SSA benchmark.
 *
 *   bench_server --transport tcp|openssl|ssa [--cert chain.pem --key key.pem]
 *                [--host 127.0.0.1] [--port 0] [--max-conns N | --once]
 *
 * Prints "PORT n" on stdout once it listens, then serves every scenario of bench_client on
 * the same port (the client's first byte says which; see bench_common.h) until killed, or
 * until N connections have been served.
 *
 * Concurrency model: one detached thread per accepted connection.  For openssl the TLS
 * handshake runs in that thread, so K concurrent clients get K concurrent handshakes on the
 * server as well; for ssa, accept() already returns handshaken connections and the library
 * decides how handshakes run in parallel.  Thread per connection is the simplest model that
 * does not serialise handshakes.  Idle connections (thousands of them) do not keep their
 * thread: once acknowledged they are parked in one epoll thread, so that what they cost is the
 * connection state and not a thread stack.
 */
#define _POSIX_C_SOURCE 200809L

#include "bench_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#ifdef WITH_SSA
#include <ssa/in_tls.h>
#endif

#define MAX_PINGPONG_SIZE (64u << 20) /* refuse absurd sizes rather than malloc them */

struct server_opts {
	enum transport transport;
	const char *cert;
	const char *key;
	const char *host;
	int port;
	long max_conns; /* 0: serve forever */
};

/* What a worker thread needs; freed by the worker. */
struct job {
	int fd;
	SSL_CTX *ctx; /* NULL unless openssl */
};

/* Live worker count, so that --max-conns exits only after the last connection is served. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t live_zero = PTHREAD_COND_INITIALIZER;
static long live_workers;

static void usage(void)
{
	fprintf(stderr, "usage: bench_server --transport tcp|openssl|ssa [--cert FILE --key FILE]\n"
			"                    [--host ADDR] [--port N] [--max-conns N | --once]\n");
	exit(2);
}

static struct server_opts parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"transport", required_argument, NULL, 't'}, {"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},       {"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'p'},      {"max-conns", required_argument, NULL, 'm'},
		{"once", no_argument, NULL, '1'},            {NULL, 0, NULL, 0}};
	struct server_opts o = {.transport = T_TCP, .host = "127.0.0.1"};
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 't': o.transport = parse_transport(optarg); break;
		case 'c': o.cert = optarg; break;
		case 'k': o.key = optarg; break;
		case 'H': o.host = optarg; break;
		case 'p': o.port = (int)parse_size("--port", optarg); break;
		case 'm': o.max_conns = (long)parse_size("--max-conns", optarg); break;
		case '1': o.max_conns = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	require_transport_built(o.transport);
	if (o.transport != T_TCP && (!o.cert || !o.key)) {
		fprintf(stderr, "bench_server: --cert and --key are needed for %s\n",
			transport_name(o.transport));
		exit(2);
	}
	return o;
}

/* One context for the whole process: loading the key per connection would be a bug. */
static SSL_CTX *make_server_ctx(const struct server_opts *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		die_ssl("SSL_CTX_new");
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1)
		die_ssl("loading --cert");
	if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1)
		die_ssl("loading --key");
	if (SSL_CTX_check_private_key(ctx) != 1)
		die_ssl("--key does not match --cert");
	return ctx;
}

static struct sockaddr_in make_addr(const struct server_opts *o)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
	if (inet_pton(AF_INET, o->host, &sa.sin_addr) != 1) {
		fprintf(stderr, "bench_server: --host must be an IPv4 address\n");
		exit(2);
	}
	return sa;
}

/* The SSA listener takes its certificate through options, before listen(). */
static int make_socket(const struct server_opts *o)
{
	if (o->transport != T_SSA) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		return fd;
	}
#ifdef WITH_SSA
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	if (fd < 0)
		die("socket(IPPROTO_TLS)");
	if (setsockopt(fd, IPPROTO_TLS, TLS_CERTIFICATE_CHAIN, o->cert,
		       (socklen_t)strlen(o->cert) + 1) < 0) {
		print_ssa_error(fd, "setsockopt(TLS_CERTIFICATE_CHAIN)");
		exit(1);
	}
	if (setsockopt(fd, IPPROTO_TLS, TLS_PRIVATE_KEY, o->key, (socklen_t)strlen(o->key) + 1) < 0) {
		print_ssa_error(fd, "setsockopt(TLS_PRIVATE_KEY)");
		exit(1);
	}
	return fd;
#else
	abort(); /* unreachable: require_transport_built() refused ssa */
#endif
}

static int make_listener(const struct server_opts *o)
{
	int fd = make_socket(o);
	int one = 1;
	struct sockaddr_in sa = make_addr(o);
	socklen_t len = sizeof sa;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		die("setsockopt(SO_REUSEADDR)");
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	if (listen(fd, 1024) < 0) {
#ifdef WITH_SSA
		if (o->transport == T_SSA)
			print_ssa_error(fd, "listen");
#endif
		die("listen");
	}
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		die("getsockname");
	printf("PORT %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	return fd;
}

/* Wait for the client's close (EOF or error) so that it, not us, closes first. */
static void drain_until_eof(struct conn *c, char *buf, size_t size)
{
	while (conn_read_some(c, buf, size) > 0)
		;
}

static void serve_handshake(struct conn *c)
{
	char b = OP_HANDSHAKE;
	if (conn_write_all(c, &b, 1) == 0)
		drain_until_eof(c, &b, 1);
}

static uint64_t read_be(struct conn *c, size_t width, int *err)
{
	unsigned char b[8];
	uint64_t v = 0;
	if (conn_read_all(c, b, width) < 0) {
		*err = 1;
		return 0;
	}
	for (size_t i = 0; i < width; i++)
		v = v << 8 | b[i];
	return v;
}

static void serve_bulk(struct conn *c)
{
	int err = 0;
	uint64_t left = read_be(c, 8, &err);
	char *buf = malloc(BULK_CHUNK);
	if (err || !buf)
		goto out;
	while (left > 0) {
		long n = conn_read_some(c, buf, left < BULK_CHUNK ? (size_t)left : BULK_CHUNK);
		if (n <= 0) {
			fprintf(stderr, "bench_server: bulk stream ended early\n");
			goto out;
		}
		left -= (uint64_t)n;
	}
	buf[0] = OP_BULK;
	if (conn_write_all(c, buf, 1) == 0)
		drain_until_eof(c, buf, BULK_CHUNK);
out:
	free(buf);
}

static void serve_pingpong(struct conn *c)
{
	int err = 0;
	uint64_t size = read_be(c, 4, &err);
	char *buf = NULL;
	if (err || size == 0 || size > MAX_PINGPONG_SIZE || !(buf = malloc(size)))
		goto out;
	for (;;) {
		long n = conn_read_some(c, buf, size); /* 0 here is the client's orderly end */
		if (n <= 0)
			break;
		if ((uint64_t)n < size && conn_read_all(c, buf + n, size - (uint64_t)n) < 0)
			break;
		if (conn_write_all(c, buf, size) < 0)
			break;
	}
out:
	free(buf);
}

/* Parked idle connections: one epoll set, one thread, started on first use. */
static int park_epfd = -1;
static pthread_once_t park_once = PTHREAD_ONCE_INIT;

/* Read what a parked connection has; 1 while it stays open, 0 once it ended. */
static int drain_parked(struct conn *c)
{
	char buf[4096];
	for (;;) {
		if (c->ssl) {
			int n = SSL_read(c->ssl, buf, sizeof buf);
			if (n > 0)
				continue;
			int e = SSL_get_error(c->ssl, n);
			ERR_clear_error();
			return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
		}
		ssize_t n = recv(c->fd, buf, sizeof buf, 0);
		if (n > 0)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
	}
}

static void *parker(void *arg)
{
	struct epoll_event ev[64];
	(void)arg;
	for (;;) {
		int n = epoll_wait(park_epfd, ev, 64, -1);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct conn *c = ev[i].data.ptr;
			if (drain_parked(c))
				continue;
			epoll_ctl(park_epfd, EPOLL_CTL_DEL, c->fd, NULL);
			conn_close(c);
			free(c);
		}
	}
	return NULL;
}

static void start_parker(void)
{
	pthread_t tid;
	park_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (park_epfd < 0)
		die("epoll_create1");
	if ((errno = pthread_create(&tid, NULL, parker, NULL)) != 0)
		die("pthread_create(parker)");
	pthread_detach(tid);
}

/* Acknowledge, then hand the connection to the parker; 1 if it took it. */
static int serve_idle(struct conn *c)
{
	char b = OP_IDLE;
	struct conn *kept = malloc(sizeof *kept);
	int flags = fcntl(c->fd, F_GETFL);
	pthread_once(&park_once, start_parker);
	if (!kept || flags < 0 || fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		fprintf(stderr, "bench_server: cannot park an idle connection: %s\n", strerror(errno));
		free(kept);
		return 0;
	}
	*kept = *c;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = kept};
	if (epoll_ctl(park_epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		fprintf(stderr, "bench_server: epoll_ctl: %s\n", strerror(errno));
		free(kept);
		return 0;
	}
	/*
	 * The byte goes out after the connection is in the set: from here on the parker owns it
	 * and may close it at any moment, so our copy in *c must not be touched again.  A
	 * non-blocking write of one byte on a fresh connection cannot find a full buffer.
	 */
	if (conn_write_all(kept, &b, 1) < 0)
		fprintf(stderr, "bench_server: idle acknowledgement failed\n");
	return 1;
}

/* 1 if the connection now belongs to someone else (parked), 0 if the caller closes it. */
static int serve(struct conn *c)
{
	char op;
	if (conn_read_all(c, &op, 1) < 0)
		return 0;
	switch (op) {
	case OP_HANDSHAKE: serve_handshake(c); break;
	case OP_BULK: serve_bulk(c); break;
	case OP_PINGPONG: serve_pingpong(c); break;
	case OP_IDLE: return serve_idle(c);
	default: fprintf(stderr, "bench_server: unknown scenario byte %d\n", op);
	}
	return 0;
}

static void *worker(void *arg)
{
	struct job *job = arg;
	struct conn c = {.fd = job->fd};
	set_nodelay(c.fd); /* replies are small: never let Nagle hold them */
	if (job->ctx) {
		c.ssl = SSL_new(job->ctx);
		if (!c.ssl || SSL_set_fd(c.ssl, c.fd) != 1 || SSL_accept(c.ssl) != 1) {
			fprintf(stderr, "bench_server: TLS handshake failed\n");
			ERR_print_errors_fp(stderr);
			goto done;
		}
	}
	if (serve(&c))
		goto parked;
done:
	ERR_clear_error();
	conn_close(&c);
parked:
	free(job);
	pthread_mutex_lock(&live_lock);
	if (--live_workers == 0)
		pthread_cond_signal(&live_zero);
	pthread_mutex_unlock(&live_lock);
	return NULL;
}

static void start_worker(int fd, SSL_CTX *ctx)
{
	pthread_t tid;
	pthread_attr_t attr;
	struct job *job = malloc(sizeof *job);
	if (!job)
		die("malloc");
	*job = (struct job){.fd = fd, .ctx = ctx};
	pthread_mutex_lock(&live_lock);
	live_workers++;
	pthread_mutex_unlock(&live_lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	errno = pthread_create(&tid, &attr, worker, job);
	if (errno)
		die("pthread_create");
	pthread_attr_destroy(&attr);
}

static void accept_loop(int lfd, const struct server_opts *o, SSL_CTX *ctx)
{
	for (long served = 0; o->max_conns == 0 || served < o->max_conns; served++) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) {
				served--; /* a connection that never reached us does not count */
				continue;
			}
			die("accept");
		}
		start_worker(fd, ctx);
	}
}

int main(int argc, char **argv)
{
	struct server_opts o = parse_args(argc, argv);
	SSL_CTX *ctx = NULL;
	signal(SIGPIPE, SIG_IGN); /* a client that leaves early must not kill the server */
	if (o.transport == T_OPENSSL)
		ctx = make_server_ctx(&o);
	int lfd = make_listener(&o);
	accept_loop(lfd, &o, ctx);
	close(lfd);
	pthread_mutex_lock(&live_lock);
	while (live_workers > 0)
		pthread_cond_wait(&live_zero, &live_lock);
	pthread_mutex_unlock(&live_lock);
	SSL_CTX_free(ctx);
	return 0;
}
