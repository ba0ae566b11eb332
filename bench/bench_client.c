/*
 * bench_client -- the client side of the SSA benchmark.  See usage() for the options.
 *
 * Each run prints exactly one line on stdout, "RESULT key=value ...", built only from what
 * this run measured.  Diagnostics go to stderr.  The exit status is 0 only if every
 * connection of the run succeeded.
 */
#define _POSIX_C_SOURCE 200809L

#include "bench_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#ifdef WITH_SSA
#include <ssa/in_tls.h>
#endif

enum scenario { S_BULK, S_PINGPONG, S_HANDSHAKE, S_IDLE };

struct client_opts {
	enum transport transport;
	enum scenario scenario;
	const char *host;
	int port;
	const char *servername; /* name verified in the server's certificate */
	const char *ca;         /* trust anchors (PEM) */
	uint64_t bytes;         /* bulk */
	uint64_t size;          /* pingpong message size */
	uint64_t count;         /* pingpong round trips measured */
	uint64_t warmup;        /* pingpong round trips not measured */
	uint64_t conns;         /* handshake: total connections (count mode) */
	uint64_t concurrency;   /* handshake: client threads */
	double duration;        /* handshake: seconds (duration mode) if > 0 */
	int resume;             /* handshake: resume sessions instead of full handshakes */
	int active;             /* idle: time round trips on one more connection */
	const char *watch;      /* idle: "role:pid,..." whose memory is measured with ours */
	const char *go_file;    /* idle: wait for this file before the timed round trips */
	const char *release;    /* idle: hold the connections until this file exists */
};

/* Everything a connection needs; shared read-only by the handshake threads. */
struct client_env {
	struct client_opts o;
	struct sockaddr_in addr;
	SSL_CTX *ctx; /* openssl only, one per process */
};

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_client --transport tcp|openssl|ssa --port N [--host ADDR]\n"
		"         [--ca FILE] [--servername NAME] --scenario bulk|pingpong|handshake\n"
		"  bulk:      [--bytes N]          (default 1G; K/M/G suffixes are binary)\n"
		"  pingpong:  [--size S] [--count C] [--warmup W]   (defaults 64, 10000, 100)\n"
		"  handshake: [--conns C | --duration SECONDS] [--concurrency K] [--resume]  (2000, 4)\n"
		"  idle:      [--conns N] [--concurrency K] [--watch ROLE:PID,...] [--active\n"
		"             [--size S] [--count C]] [--go-file F] [--release-file F]\n");
	exit(2);
}

static enum scenario parse_scenario(const char *name)
{
	if (strcmp(name, "bulk") == 0)
		return S_BULK;
	if (strcmp(name, "pingpong") == 0)
		return S_PINGPONG;
	if (strcmp(name, "handshake") == 0)
		return S_HANDSHAKE;
	if (strcmp(name, "idle") == 0)
		return S_IDLE;
	fprintf(stderr, "bench_client: unknown scenario '%s'\n", name);
	exit(2);
}

static void check_opts(const struct client_opts *o)
{
	require_transport_built(o->transport);
	if (o->port <= 0 || o->port > 65535)
		usage();
	if (o->transport == T_OPENSSL && !o->ca) {
		fprintf(stderr, "bench_client: --ca is needed for openssl (verification stays on)\n");
		exit(2);
	}
	if (o->size == 0 || o->size > (64u << 20) || o->count == 0 || o->concurrency == 0 ||
	    (o->conns == 0 && o->duration <= 0)) {
		fprintf(stderr, "bench_client: sizes and counts must be positive (size <= 64M)\n");
		exit(2);
	}
}

static struct client_opts parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"transport", required_argument, NULL, 't'},  {"scenario", required_argument, NULL, 's'},
		{"host", required_argument, NULL, 'H'},       {"port", required_argument, NULL, 'p'},
		{"servername", required_argument, NULL, 'n'}, {"ca", required_argument, NULL, 'a'},
		{"bytes", required_argument, NULL, 'b'},      {"size", required_argument, NULL, 'z'},
		{"count", required_argument, NULL, 'c'},      {"warmup", required_argument, NULL, 'w'},
		{"conns", required_argument, NULL, 'C'},      {"concurrency", required_argument, NULL, 'k'},
		{"duration", required_argument, NULL, 'd'},   {"resume", no_argument, NULL, 'r'},
		{"active", no_argument, NULL, 'A'},           {"watch", required_argument, NULL, 'W'},
		{"go-file", required_argument, NULL, 'g'},    {"release-file", required_argument, NULL, 'R'},
		{NULL, 0, NULL, 0}};
	struct client_opts o = {.host = "127.0.0.1", .servername = "localhost", .bytes = 1u << 30,
				.size = 64, .count = 10000, .warmup = 100, .conns = 2000,
				.concurrency = 4, .scenario = S_BULK};
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 't': o.transport = parse_transport(optarg); break;
		case 's': o.scenario = parse_scenario(optarg); break;
		case 'H': o.host = optarg; break;
		case 'p': o.port = (int)parse_size("--port", optarg); break;
		case 'n': o.servername = optarg; break;
		case 'a': o.ca = optarg; break;
		case 'b': o.bytes = parse_size("--bytes", optarg); break;
		case 'z': o.size = parse_size("--size", optarg); break;
		case 'c': o.count = parse_size("--count", optarg); break;
		case 'w': o.warmup = parse_size("--warmup", optarg); break;
		case 'C': o.conns = parse_size("--conns", optarg); break;
		case 'k': o.concurrency = parse_size("--concurrency", optarg); break;
		case 'd': o.duration = atof(optarg); break;
		case 'r': o.resume = 1; break;
		case 'A': o.active = 1; break;
		case 'W': o.watch = optarg; break;
		case 'g': o.go_file = optarg; break;
		case 'R': o.release = optarg; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	check_opts(&o);
	return o;
}

/*
 * --resume with OpenSSL: sessions from the server's tickets, each used once (as TLS 1.3
 * asks), shared by the client threads through a stack deep enough for 256 threads that each
 * get two tickets per connection.
 */
#define MAX_SESSIONS 1024
static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_SESSION *sessions[MAX_SESSIONS];
static int nsessions;

static int keep_session(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	pthread_mutex_lock(&sessions_lock);
	if (nsessions == MAX_SESSIONS) {
		SSL_SESSION_free(sessions[0]);
		memmove(sessions, sessions + 1, (MAX_SESSIONS - 1) * sizeof sessions[0]);
		nsessions--;
	}
	sessions[nsessions++] = sess;
	pthread_mutex_unlock(&sessions_lock);
	return 1; /* the reference is ours */
}

static SSL_SESSION *take_session(void)
{
	SSL_SESSION *sess = NULL;
	pthread_mutex_lock(&sessions_lock);
	if (nsessions > 0)
		sess = sessions[--nsessions];
	pthread_mutex_unlock(&sessions_lock);
	return sess;
}

/*
 * Client context as a careful OpenSSL user writes it: verify the chain against --ca; no
 * session tickets or client-side cache (every handshake full) unless --resume.
 */
static SSL_CTX *make_client_ctx(const struct client_opts *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		die_ssl("SSL_CTX_new");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1)
		die_ssl("loading --ca");
	if (o->resume) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
							    SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, keep_session);
		return ctx;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

/* TLS on top of a connected TCP socket: SNI and host name check are both the servername. */
static int openssl_handshake(const struct client_env *env, struct conn *c)
{
	c->ssl = SSL_new(env->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_set_tlsext_host_name(c->ssl, env->o.servername) != 1 ||
	    SSL_set1_host(c->ssl, env->o.servername) != 1)
		return -1;
	if (env->o.resume) {
		SSL_SESSION *sess = take_session();
		if (sess) {
			SSL_set_session(c->ssl, sess);
			SSL_SESSION_free(sess);
		}
	}
	if (SSL_connect(c->ssl) != 1) {
		long v = SSL_get_verify_result(c->ssl);
		if (v != X509_V_OK)
			fprintf(stderr, "bench_client: verification: %s\n",
				X509_verify_cert_error_string(v));
		return -1;
	}
	return 0;
}

#ifdef WITH_SSA
/* The whole SSA client: a protocol number and two options; connect() does the rest. */
static int open_ssa_socket(const struct client_opts *o)
{
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	if (fd < 0) {
		perror("bench_client: socket(IPPROTO_TLS)");
		return -1;
	}
	if (setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, o->servername,
		       (socklen_t)strlen(o->servername) + 1) < 0) {
		print_ssa_error(fd, "setsockopt(TLS_REMOTE_HOSTNAME)");
		close(fd);
		return -1;
	}
	/* Full handshakes unless --resume, like the openssl transport. */
	int reuse = o->resume;
	if (setsockopt(fd, IPPROTO_TLS, TLS_SESSION_REUSE, &reuse, sizeof reuse) < 0) {
		print_ssa_error(fd, "setsockopt(TLS_SESSION_REUSE)");
		close(fd);
		return -1;
	}
	/* The benchmark's throwaway CA is in no system store: name it for this socket. */
	if (o->ca && setsockopt(fd, IPPROTO_TLS, TLS_TRUSTED_PEER_CERTIFICATES, o->ca,
				(socklen_t)strlen(o->ca) + 1) < 0) {
		print_ssa_error(fd, "setsockopt(TLS_TRUSTED_PEER_CERTIFICATES)");
		close(fd);
		return -1;
	}
	return fd;
}
#endif

/* A socket for the transport, or -1 after saying why. */
static int make_socket(const struct client_opts *o)
{
#ifdef WITH_SSA
	if (o->transport == T_SSA)
		return open_ssa_socket(o);
#endif
	(void)o;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		perror("bench_client: socket");
	return fd;
}

/* Connect and, for TLS, complete the handshake.  Prints why on failure. */
static int open_conn(const struct client_env *env, int nodelay, struct conn *c)
{
	*c = (struct conn){.fd = make_socket(&env->o)};
	if (c->fd < 0)
		return -1;
	if (nodelay)
		set_nodelay(c->fd);
	if (connect(c->fd, (const struct sockaddr *)&env->addr, sizeof env->addr) < 0) {
#ifdef WITH_SSA
		if (env->o.transport == T_SSA)
			print_ssa_error(c->fd, "connect");
		else
#endif
			perror("bench_client: connect");
		conn_close(c);
		return -1;
	}
	if (env->ctx && openssl_handshake(env, c) < 0) {
		fprintf(stderr, "bench_client: TLS handshake failed\n");
		ERR_print_errors_fp(stderr);
		conn_close(c);
		return -1;
	}
	return 0;
}

static const char *version_name(int v)
{
	return v == TLS1_3_VERSION ? "1.3" : v == TLS1_2_VERSION ? "1.2" : "other";
}

/*
 * "tls=1.3 cipher=TLS_AES_256_GCM_SHA384" (IANA names for both TLS transports), so that a
 * difference in throughput can be told from a difference in what was negotiated.
 */
static void describe_tls(const struct client_env *env, const struct conn *c, char *out, size_t n)
{
	if (c->ssl) {
		snprintf(out, n, "tls=%s cipher=%s", version_name(SSL_version(c->ssl)),
			 SSL_CIPHER_standard_name(SSL_get_current_cipher(c->ssl)));
		return;
	}
	snprintf(out, n, "tls=none cipher=none");
#ifdef WITH_SSA
	if (env->o.transport == T_SSA) {
		int version = 0;
		char cipher[128] = "unknown";
		socklen_t vlen = sizeof version, clen = sizeof cipher;
		if (getsockopt(c->fd, IPPROTO_TLS, TLS_CHOSEN_CIPHER, cipher, &clen) < 0)
			snprintf(cipher, sizeof cipher, "unknown");
		cipher[sizeof cipher - 1] = '\0';
		int have_version = getsockopt(c->fd, IPPROTO_TLS, TLS_VERSION_CONN, &version, &vlen) == 0;
		snprintf(out, n, "tls=%s cipher=%s", have_version ? version_name(version) : "unknown",
			 cipher);
	}
#else
	(void)env;
#endif
}

static void write_header(struct conn *c, char op, uint64_t value, size_t width)
{
	unsigned char h[9] = {(unsigned char)op};
	for (size_t i = 0; i < width; i++)
		h[1 + i] = (unsigned char)(value >> (8 * (width - 1 - i)));
	if (conn_write_all(c, h, 1 + width) < 0)
		die_conn(c, "sending scenario header");
}

/* Bulk: the clock runs from the first data byte to the server's one-byte receipt. */
static int run_bulk(const struct client_env *env)
{
	struct conn c;
	char *buf = malloc(BULK_CHUNK);
	if (!buf || open_conn(env, 0, &c) < 0)
		return 1;
	memset(buf, 0xA5, BULK_CHUNK);
	write_header(&c, OP_BULK, env->o.bytes, 8);
	uint64_t t0 = now_ns();
	for (uint64_t left = env->o.bytes; left > 0;) {
		size_t n = left < BULK_CHUNK ? (size_t)left : BULK_CHUNK;
		if (conn_write_all(&c, buf, n) < 0)
			die_conn(&c, "bulk write");
		left -= n;
	}
	if (conn_read_all(&c, buf, 1) < 0)
		die_conn(&c, "reading bulk receipt");
	double secs = (double)(now_ns() - t0) / 1e9;
	char tls[200];
	describe_tls(env, &c, tls, sizeof tls);
	conn_close(&c);
	free(buf);
	printf("RESULT transport=%s scenario=bulk bytes=%llu seconds=%.6f mibps=%.1f %s\n",
	       transport_name(env->o.transport), (unsigned long long)env->o.bytes, secs,
	       (double)env->o.bytes / (1024.0 * 1024.0) / secs, tls);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* One request/response; returns its duration in ns. */
static uint64_t round_trip(struct conn *c, char *buf, size_t size)
{
	uint64_t t0 = now_ns();
	if (conn_write_all(c, buf, size) < 0 || conn_read_all(c, buf, size) < 0)
		die_conn(c, "pingpong round trip");
	return now_ns() - t0;
}

/* Median (mean of the middle two for an even count) and p99 by nearest rank, in µs. */
static void rtt_stats(uint64_t *rtt, uint64_t n, double *median_us, double *p99_us)
{
	qsort(rtt, n, sizeof *rtt, cmp_u64);
	double median = n % 2 ? (double)rtt[n / 2] : ((double)rtt[n / 2 - 1] + rtt[n / 2]) / 2;
	uint64_t rank = (99 * n + 99) / 100; /* ceil(0.99 n), 1-based */
	*median_us = median / 1e3;
	*p99_us = (double)rtt[rank - 1] / 1e3;
}

static void report_pingpong(const struct client_opts *o, uint64_t *rtt, uint64_t n,
			    const char *tls)
{
	double median, p99;
	rtt_stats(rtt, n, &median, &p99);
	printf("RESULT transport=%s scenario=pingpong size=%llu count=%llu median_us=%.2f "
	       "p99_us=%.2f %s\n",
	       transport_name(o->transport), (unsigned long long)o->size,
	       (unsigned long long)n, median, p99, tls);
}

static int run_pingpong(const struct client_env *env)
{
	const struct client_opts *o = &env->o;
	struct conn c;
	char *buf = malloc(o->size);
	uint64_t *rtt = malloc(o->count * sizeof *rtt);
	if (!buf || !rtt || open_conn(env, 1, &c) < 0)
		return 1;
	memset(buf, 0x5A, o->size);
	write_header(&c, OP_PINGPONG, o->size, 4);
	for (uint64_t i = 0; i < o->warmup; i++) /* first trips pay page faults and cold caches */
		round_trip(&c, buf, o->size);
	for (uint64_t i = 0; i < o->count; i++)
		rtt[i] = round_trip(&c, buf, o->size);
	char tls[200];
	describe_tls(env, &c, tls, sizeof tls);
	conn_close(&c);
	report_pingpong(o, rtt, o->count, tls);
	free(rtt);
	free(buf);
	return 0;
}

/* Shared by the handshake threads. */
struct hs_state {
	const struct client_env *env;
	pthread_barrier_t warm, start;
	uint64_t deadline_ns; /* duration mode; 0 in count mode */
	atomic_uint_fast64_t next, ok, failed, resumed, resumed_unknown;
	atomic_bool stop; /* set by the first failure: the run is invalid, do not pile up more */
};

static int take_work(struct hs_state *st)
{
	if (atomic_load(&st->stop))
		return 0;
	if (st->deadline_ns)
		return now_ns() < st->deadline_ns;
	return atomic_fetch_add(&st->next, 1) < st->env->o.conns;
}

/* Whether the connection was resumed: 1, 0, or -1 if the transport cannot say. */
static int was_resumed(const struct client_env *env, const struct conn *c)
{
	if (c->ssl)
		return SSL_session_reused(c->ssl);
#ifdef WITH_SSA
	if (env->o.transport == T_SSA) {
		int v = 0;
		socklen_t len = sizeof v;
		if (getsockopt(c->fd, IPPROTO_TLS, TLS_RESUMED_SESSION, &v, &len) < 0)
			return -1;
		return v != 0;
	}
#endif
	(void)env;
	return 0;
}

/* connect + full handshake + 1-byte exchange + close. */
static int one_handshake(struct hs_state *st)
{
	struct conn c;
	char b = OP_HANDSHAKE;
	if (open_conn(st->env, 1, &c) < 0)
		return -1;
	int r = conn_write_all(&c, &b, 1) == 0 && conn_read_all(&c, &b, 1) == 0 ? 0 : -1;
	if (r == 0) {
		int res = was_resumed(st->env, &c);
		if (res < 0)
			atomic_fetch_add(&st->resumed_unknown, 1);
		else if (res)
			atomic_fetch_add(&st->resumed, 1);
	}
	conn_close(&c);
	return r;
}

static void *handshake_thread(void *arg)
{
	struct hs_state *st = arg;
	/*
	 * One untimed handshake per thread first: thread start-up stays out of the figure, and
	 * with --resume every thread has a session to offer from the first timed handshake on.
	 */
	if (one_handshake(st) < 0) {
		atomic_fetch_add(&st->failed, 1);
		atomic_store(&st->stop, true);
		ERR_clear_error();
	}
	pthread_barrier_wait(&st->warm);
	pthread_barrier_wait(&st->start);
	while (take_work(st)) {
		if (one_handshake(st) == 0) {
			atomic_fetch_add(&st->ok, 1);
		} else {
			atomic_fetch_add(&st->failed, 1);
			atomic_store(&st->stop, true);
			ERR_clear_error();
		}
	}
	return NULL;
}

static void report_handshake(const struct client_opts *o, struct hs_state *st, double secs)
{
	unsigned long long ok = st->ok, unknown = st->resumed_unknown;
	char resumed[32];
	if (unknown)
		snprintf(resumed, sizeof resumed, "unknown");
	else
		snprintf(resumed, sizeof resumed, "%llu", (unsigned long long)st->resumed);
	printf("RESULT transport=%s scenario=handshake conns=%llu concurrency=%llu failed=%llu "
	       "resumed=%s seconds=%.6f hps=%.1f\n",
	       transport_name(o->transport), ok, (unsigned long long)o->concurrency,
	       (unsigned long long)st->failed, resumed, secs, (double)ok / secs);
}

static int run_handshake(const struct client_env *env)
{
	const struct client_opts *o = &env->o;
	struct hs_state *st = calloc(1, sizeof *st);
	pthread_t *tids = calloc(o->concurrency, sizeof *tids);
	if (!st || !tids)
		die("calloc");
	st->env = env;
	pthread_barrier_init(&st->warm, NULL, (unsigned)o->concurrency + 1);
	pthread_barrier_init(&st->start, NULL, (unsigned)o->concurrency + 1);
	for (uint64_t i = 0; i < o->concurrency; i++)
		if ((errno = pthread_create(&tids[i], NULL, handshake_thread, st)) != 0)
			die("pthread_create");
	pthread_barrier_wait(&st->warm);
	atomic_store(&st->resumed, 0); /* the warm-up handshakes are not counted */
	atomic_store(&st->resumed_unknown, 0);
	uint64_t t0 = now_ns();
	if (o->duration > 0)
		st->deadline_ns = t0 + (uint64_t)(o->duration * 1e9);
	pthread_barrier_wait(&st->start); /* threads read deadline_ns only after this */
	for (uint64_t i = 0; i < o->concurrency; i++)
		pthread_join(tids[i], NULL);
	double secs = (double)(now_ns() - t0) / 1e9;
	report_handshake(o, st, secs);
	int rc = st->failed ? 1 : 0;
	pthread_barrier_destroy(&st->warm);
	pthread_barrier_destroy(&st->start);
	free(tids);
	free(st);
	return rc;
}

/*
 * Idle connections: memory of every process that holds a part of them (this client, the
 * server, relays or a daemon, named by --watch), read from /proc/PID/smaps_rollup before and
 * after N connections are opened and acknowledged by the server.  The active connection, if
 * any, is opened and warmed up before the first reading so that the difference is N idle
 * connections and nothing else.
 */
#define MAX_WATCH 64

struct watched {
	char role[16];
	int pid;
	long rss[2], pss[2]; /* KiB before and after */
};

/* Rss and Pss of one process in KiB; -1 if it cannot be read. */
static int read_mem(int pid, long *rss, long *pss)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	*rss = *pss = -1;
	while (fgets(line, sizeof line, f)) {
		long v;
		if (sscanf(line, "Rss: %ld kB", &v) == 1)
			*rss = v;
		else if (sscanf(line, "Pss: %ld kB", &v) == 1)
			*pss = v;
	}
	fclose(f);
	return *rss < 0 || *pss < 0 ? -1 : 0;
}

/* "client" (ourselves) plus "role:pid,role:pid..." from --watch; exits on a malformed list. */
static int parse_watch(const char *spec, struct watched *w)
{
	int n = 0;
	snprintf(w[n].role, sizeof w[n].role, "client");
	w[n++].pid = (int)getpid();
	if (!spec || !*spec)
		return n;
	char *copy = strdup(spec), *save = NULL;
	if (!copy)
		die("strdup");
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(item, ':'), *end;
		long pid = colon ? strtol(colon + 1, &end, 10) : 0;
		if (!colon || colon == item || (size_t)(colon - item) >= sizeof w[0].role ||
		    pid <= 0 || *end != '\0' || n == MAX_WATCH) {
			fprintf(stderr, "bench_client: bad --watch item '%s' (ROLE:PID, at most %d)\n",
				item, MAX_WATCH - 1);
			exit(2);
		}
		*colon = '\0';
		snprintf(w[n].role, sizeof w[n].role, "%s", item);
		w[n++].pid = (int)pid;
	}
	free(copy);
	return n;
}

static void measure(struct watched *w, int n, int when)
{
	for (int i = 0; i < n; i++) {
		if (read_mem(w[i].pid, &w[i].rss[when], &w[i].pss[when]) < 0) {
			fprintf(stderr, "bench_client: cannot read memory of %s pid %d: %s\n",
				w[i].role, w[i].pid, strerror(errno));
			exit(1);
		}
	}
}

/* Bounded wait for a file the harness creates; -1 after timeout_s. */
static int wait_for_file(const char *path, double timeout_s)
{
	uint64_t end = now_ns() + (uint64_t)(timeout_s * 1e9);
	struct stat sb;
	struct timespec tick = {0, 10 * 1000 * 1000};
	while (stat(path, &sb) != 0) {
		if (now_ns() > end) {
			fprintf(stderr, "bench_client: %s did not appear within %.0f s\n", path,
				timeout_s);
			return -1;
		}
		nanosleep(&tick, NULL);
	}
	return 0;
}

struct idle_state {
	const struct client_env *env;
	struct conn *conns;
	atomic_uint_fast64_t next, ok;
	atomic_bool stop;
};

/* Each thread opens connections until N are open; the server's byte says it holds them. */
static void *idle_opener(void *arg)
{
	struct idle_state *st = arg;
	while (!atomic_load(&st->stop)) {
		uint64_t i = atomic_fetch_add(&st->next, 1);
		if (i >= st->env->o.conns)
			break;
		struct conn *c = &st->conns[i];
		char b = OP_IDLE;
		if (open_conn(st->env, 0, c) < 0) {
			c->fd = -1;
			atomic_store(&st->stop, true);
			break;
		}
		if (conn_write_all(c, &b, 1) < 0 || conn_read_all(c, &b, 1) < 0) {
			fprintf(stderr, "bench_client: idle connection %llu not acknowledged: %s\n",
				(unsigned long long)i, strerror(errno));
			ERR_print_errors_fp(stderr);
			conn_close(c);
			atomic_store(&st->stop, true);
			break;
		}
		atomic_fetch_add(&st->ok, 1);
	}
	return NULL;
}

/* " rss_kib.ROLE=D pss_kib.ROLE=D" per role, D = after - before summed over its processes. */
static void print_mem(const struct watched *w, int n)
{
	for (int i = 0; i < n; i++) {
		int first = 1;
		for (int j = 0; j < i; j++)
			first &= strcmp(w[i].role, w[j].role) != 0;
		if (!first)
			continue;
		long rss = 0, pss = 0;
		for (int j = i; j < n; j++) {
			if (strcmp(w[i].role, w[j].role) == 0) {
				rss += w[j].rss[1] - w[j].rss[0];
				pss += w[j].pss[1] - w[j].pss[0];
			}
		}
		printf(" rss_kib.%s=%ld pss_kib.%s=%ld", w[i].role, rss, w[i].role, pss);
	}
}

static int run_idle(const struct client_env *env)
{
	const struct client_opts *o = &env->o;
	struct watched w[MAX_WATCH];
	int nw = parse_watch(o->watch, w);
	struct idle_state st = {.env = env, .conns = malloc(o->conns * sizeof(struct conn))};
	pthread_t *tids = calloc(o->concurrency, sizeof *tids);
	uint64_t *rtt = o->active ? malloc(o->count * sizeof *rtt) : NULL;
	char *buf = o->active ? malloc(o->size) : NULL;
	struct conn active = {.fd = -1};
	if (!st.conns || !tids || (o->active && (!rtt || !buf)))
		die("malloc");
	for (uint64_t i = 0; i < o->conns; i++)
		st.conns[i] = (struct conn){.fd = -1};
	if (o->active) {
		if (open_conn(env, 1, &active) < 0)
			return 1;
		memset(buf, 0x5A, o->size);
		write_header(&active, OP_PINGPONG, o->size, 4);
		for (uint64_t i = 0; i < o->warmup; i++)
			round_trip(&active, buf, o->size);
	}
	measure(w, nw, 0);
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < o->concurrency; i++)
		if ((errno = pthread_create(&tids[i], NULL, idle_opener, &st)) != 0)
			die("pthread_create");
	for (uint64_t i = 0; i < o->concurrency; i++)
		pthread_join(tids[i], NULL);
	double open_secs = (double)(now_ns() - t0) / 1e9;
	int rc = st.ok == o->conns ? 0 : 1;
	if (rc == 0) {
		measure(w, nw, 1);
		printf("OPENED %llu\n", (unsigned long long)st.ok);
		fflush(stdout);
		if (o->go_file && wait_for_file(o->go_file, 1800) < 0)
			rc = 1;
	}
	if (rc == 0) {
		printf("RESULT transport=%s scenario=idle conns=%llu open_seconds=%.3f",
		       transport_name(o->transport), (unsigned long long)st.ok, open_secs);
		print_mem(w, nw);
		if (o->active) {
			double median, p99;
			for (uint64_t i = 0; i < o->count; i++)
				rtt[i] = round_trip(&active, buf, o->size);
			rtt_stats(rtt, o->count, &median, &p99);
			printf(" size=%llu count=%llu median_us=%.2f p99_us=%.2f",
			       (unsigned long long)o->size, (unsigned long long)o->count, median, p99);
		}
		printf("\n");
		fflush(stdout);
		if (o->release && wait_for_file(o->release, 1800) < 0)
			rc = 1;
	} else {
		fprintf(stderr, "bench_client: opened %llu of %llu idle connections\n",
			(unsigned long long)st.ok, (unsigned long long)o->conns);
	}
	for (uint64_t i = 0; i < o->conns; i++)
		if (st.conns[i].fd >= 0)
			conn_close(&st.conns[i]);
	if (active.fd >= 0)
		conn_close(&active);
	free(st.conns);
	free(tids);
	free(rtt);
	free(buf);
	return rc;
}

int main(int argc, char **argv)
{
	struct client_env env = {.o = parse_args(argc, argv)};
	signal(SIGPIPE, SIG_IGN); /* a server that closes early gives EPIPE, not a silent death */
	env.addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)env.o.port)};
	if (inet_pton(AF_INET, env.o.host, &env.addr.sin_addr) != 1) {
		fprintf(stderr, "bench_client: --host must be an IPv4 address\n");
		return 2;
	}
	if (env.o.transport == T_OPENSSL)
		env.ctx = make_client_ctx(&env.o);
	int rc = 2;
	switch (env.o.scenario) {
	case S_BULK: rc = run_bulk(&env); break;
	case S_PINGPONG: rc = run_pingpong(&env); break;
	case S_HANDSHAKE: rc = run_handshake(&env); break;
	case S_IDLE: rc = run_idle(&env); break;
	}
	SSL_CTX_free(env.ctx);
	return rc;
}
