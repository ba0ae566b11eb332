/*
 * fuzz_protocol.c -- libFuzzer target for ssad's control protocol (core/ssa_proto.h).
 *
 * Each input is a conversation of a hostile caller with ssad: a sequence of requests written to
 * one end of an AF_UNIX stream pair whose other end this thread serves with
 * ssad_serve_connection(), as one of ssad's connection threads does.  A writer thread sends the
 * requests, a reader thread takes the replies (so the server never blocks on a full buffer),
 * checks them and keeps the descriptors they carry, which later requests may send back.
 *
 * A request is built from the input: its op, its header fields (sensible for the op or raw),
 * its data (addresses, option values, names) and file content (fuzz bytes or a PEM file of the
 * test PKI), the descriptors attached (from a menu: fresh TCP sockets of either family, A or T
 * from an earlier reply, a connected or listening TCP socket, a regular file, a pipe, /dev/null,
 * a UDP socket, the control connection itself...), where they are attached (header, split
 * header, data), and whether the lengths declared match the bytes sent.  Between requests the
 * caller may also act on what it holds: close it, write to it, read from it (and so take the
 * connections a listener accepted), shut it down.
 *
 * Nothing may reach the network: every AF_INET/AF_INET6 address is rewritten to 127.0.0.1/::1
 * and a port of this process (a silent listener, a closed port, or a socket the input made),
 * AF_HOSTNAME names become "localhost" or a name under ".invalid", AF_UNIX paths a file in the
 * scratch directory, and getaddrinfo() (replaced by fuzz_common.h) answers loopback
 * names only.  Every TCP socket handed to ssad is bound to loopback first, so that a listen()
 * never takes all interfaces.
 *
 * Invariants checked beyond "no crash": every reply is well-formed (magic, data_len within the
 * limits of its request, at most one descriptor and only for the ops that return one, an errno
 * with every failure); a reply is never cut short; a well-formed request is answered within
 * REPLY_WAIT_MS; once the input's descriptors are closed and the engine has had time, the
 * process holds exactly the descriptors it held before (unless FUZZ_IGNORE_FD_LEAKS is set);
 * and after every input a well-formed SOCKET request on a fresh connection, from the same user,
 * still succeeds: a hostile caller never stops the service.  ssad's policy here allows a user
 * 16 sockets, so that sockets kept after their caller closed them show within a few inputs
 * (FUZZ_IGNORE_SOCKET_LEAKS=1 lifts the limit, to look past such a bug for others).
 *
 * Build: tests/fuzz.sh BUILD_DIR SECONDS.  With -DFUZZ_STANDALONE it gets a main() that runs
 * the target over the files named on the command line (no libFuzzer needed).  FUZZ_VERBOSE=1
 * shows ssad's log lines, FUZZ_TRACE=1 each request and reply.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ssa/in_tls.h>
#include <ssa/ssa.h>

#include "fuzz_common.h"

#include "ssa_proto.h"
#include "ssad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSGS      24
#define MAX_MSG_FDS   12 /* more than SSA_PROTO_MAX_FDS, to be refused */
#define POOL_MAX      64
#define OWN_MAX       (MAX_MSGS * MAX_MSG_FDS + 16)
#define FRESH_MAX     32
#define MAX_DATA_GEN  2048
#define REPLY_WAIT_MS 10000 /* a well-formed request unanswered for this long: a hang */
#define QUIET_WAIT_MS 10000 /* for the engine to free an input's sockets (timeouts are 1 s) */
#define FAKE_UID      4242  /* a second user, who must never see the first one's sessions */

/* ---- What ssad.c would provide ----------------------------------------------------------- */

struct ssad_config ssad_config;

void ssad_log(int priority, const char *fmt, ...)
{
	static int verbose = -1;
	va_list ap;

	(void)priority;
	if (verbose < 0)
		verbose = getenv("FUZZ_VERBOSE") != NULL;
	if (!verbose)
		return;
	va_start(ap, fmt);
	fputs("ssad: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static bool tracing; /* FUZZ_TRACE=1: each request and reply on stderr */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_protocol: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* n bytes of input (zeros where it ends) appended to buf at *len; buf holds MAX_DATA_GEN. */
static void take_into(struct input *in, uint8_t *buf, size_t *len, size_t n)
{
	size_t k;

	if (n > MAX_DATA_GEN - *len)
		n = MAX_DATA_GEN - *len;
	k = n < in->n ? n : in->n;
	memcpy(buf + *len, in->p, k);
	memset(buf + *len + k, 0, n - k);
	in->p += k;
	in->n -= k;
	*len += n;
}

/* ---- Process-wide setup ------------------------------------------------------------------- */

static int listen4 = -1, listen6 = -1, closed4 = -1, closed6 = -1;
static uint16_t silent_port, closed_port; /* on 127.0.0.1 and ::1 alike */
static char scratch[256], sink_path[300];
static struct ssad_caller caller_self, caller_other;

/* PEM files of the test PKI, for the file content of the certificate options. */
static const char *const pki_names[] = {
    "ca.pem",         "localhost-chain.pem", "localhost.key", "example.key",          "garbage.pem",
    "deep-chain.pem", "mismatch.key",        "rsa2048.key",   "selfsigned-chain.pem", "client.key"};
#define NPKI (sizeof(pki_names) / sizeof(pki_names[0]))
static struct {
	uint8_t *data;
	size_t len;
} pki_files[NPKI];

static void raw_close(int fd)
{
	/* The caller is another process: its close() is the system's, never the library's. */
	if (fd >= 0)
		sys_close(fd);
}

static int loopback_bind(int fd, int family, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_addr = in6addr_loopback;
		len = sizeof(*s);
	}
	if (sys_bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    sys_getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (port != NULL)
		*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/*
 * A TCP port of ours on both loopback addresses: one socket bound to 127.0.0.1:P, one to
 * [::1]:P.  Whatever family an address ends up with, and whichever a name resolves to, port P
 * reaches this process and nothing else on the machine.  Without IPv6, the first alone.
 */
static int port_pair(int *fd4, int *fd6, uint16_t *port)
{
	for (int tries = 0; tries < 64; tries++) {
		struct sockaddr_in6 s6 = {.sin6_family = AF_INET6,
					  .sin6_addr = IN6ADDR_LOOPBACK_INIT};
		int a =
		    sys_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
		int b, one = 1, err;

		if (a < 0 || loopback_bind(a, AF_INET, port) < 0) {
			raw_close(a);
			return -1;
		}
		*fd4 = a;
		*fd6 = -1;
		b = sys_socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
		if (b < 0)
			return 0;
		sys_setsockopt(b, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		s6.sin6_port = htons(*port);
		if (sys_bind(b, (struct sockaddr *)&s6, sizeof(s6)) == 0) {
			*fd6 = b;
			return 0;
		}
		err = errno;
		raw_close(b);
		if (err != EADDRINUSE)
			return 0; /* no ::1 */
		raw_close(a);     /* someone else's port on ::1: another one */
	}
	return -1;
}

/* Connections to the silent listeners are accepted and dropped, so their queues never fill. */
static void drain_listeners(void)
{
	int fds[2] = {listen4, listen6};

	for (int i = 0; i < 2; i++) {
		int c;

		while (fds[i] >= 0 && (c = sys_accept4(fds[i], NULL, NULL, SOCK_CLOEXEC)) >= 0)
			raw_close(c);
	}
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char path[300], target[512];
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		if (strncmp(target, "socket:", 7) == 0) {
			int fd = atoi(de->d_name), dom = -1, type = -1;
			socklen_t l = sizeof(int);

			getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l);
			l = sizeof(int);
			getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l);
			fprintf(stderr, "  fd %s -> %s (domain %d, type %d)\n", de->d_name, target,
				dom, type);
			continue;
		}
		fprintf(stderr, "  fd %s -> %s\n", de->d_name, target);
	}
	if (d != NULL)
		closedir(d);
}

static void load_pki(const char *pki)
{
	for (size_t i = 0; i < NPKI && pki != NULL; i++) {
		char path[600];
		FILE *f;
		long n;

		snprintf(path, sizeof(path), "%s/%s", pki, pki_names[i]);
		f = fopen(path, "rb");
		if (f == NULL)
			continue;
		if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < 65536) {
			rewind(f);
			pki_files[i].data = malloc((size_t)n);
			if (pki_files[i].data != NULL &&
			    fread(pki_files[i].data, 1, (size_t)n, f) == (size_t)n)
				pki_files[i].len = (size_t)n;
		}
		fclose(f);
	}
}

/*
 * ssad's policy: short timeouts so that no socket outlives its input for long, a small
 * user-sockets limit so that a leak in the per-user accounting shows within a few inputs, and
 * the test PKI for listeners, upgrades to server and the trust of the in-process handshakes.
 */
static void write_policy(const char *pki)
{
	static char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ssad.conf", scratch);
	f = fopen(path, "w");
	if (f == NULL)
		fail("%s: %s", path, strerror(errno));
	/* FUZZ_IGNORE_SOCKET_LEAKS=1: no limit, to look past a leak of the count for others. */
	fprintf(f,
		"default = {\n  handshake-timeout = 1.0;\n  linger-timeout = 1.0;\n"
		"  user-sockets = %d;\n",
		getenv("FUZZ_IGNORE_SOCKET_LEAKS") ? 0 : 16);
	if (pki != NULL && access(pki, R_OK) == 0)
		fprintf(f,
			"  trust-file = \"%s/ca.pem\";\n"
			"  server-certificates = ( { chain = \"%s/localhost-chain.pem\"; "
			"key = \"%s/localhost.key\"; } );\n",
			pki, pki, pki);
	fprintf(f, "};\n");
	fclose(f);
	ssad_config.config_path = path;
	setenv("SSA_CONFIG", path, 1); /* as ssad's configure_library() */
}

static void make_caller(struct ssad_caller *c, uid_t uid)
{
	struct ssa_policy_caller who = {.exe = c->exe, .ids_known = true, .uid = uid, .gid = getgid()};
	char why[512];

	c->pid = getpid();
	c->uid = uid;
	c->gid = getgid();
	snprintf(c->exe, sizeof(c->exe), "/usr/bin/fuzz-caller");
	c->exe_here = true;
	c->policy = ssad_profile_for(&who, why, sizeof(why));
	if (c->policy == NULL)
		fail("no profile: %s", why);
}

static void probe_service(const struct ssad_caller *caller, const char *when);

static void setup_once(void)
{
	static int done;
	const char *base = getenv("TMPDIR"), *pki = getenv("SSA_TEST_PKI");

	if (done)
		return;
	done = 1;
	signal(SIGPIPE, SIG_IGN); /* as ssad */
	tracing = getenv("FUZZ_TRACE") != NULL;
	/* OCSP and CRL fetches would go through a proxy named here: none. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("SSA_BACKEND");
	snprintf(scratch, sizeof(scratch), "%s/ssa-fuzzp-XXXXXX", base && *base ? base : "/tmp");
	if (mkdtemp(scratch) == NULL)
		fail("mkdtemp %s: %s", scratch, strerror(errno));
	snprintf(sink_path, sizeof(sink_path), "%s/sink", scratch);
	/* The silent listeners, and a port bound but not listening: connections are refused,
	 * and no other program can take it meanwhile. */
	if (port_pair(&listen4, &listen6, &silent_port) < 0 || sys_listen(listen4, 512) < 0 ||
	    (listen6 >= 0 && sys_listen(listen6, 512) < 0) ||
	    port_pair(&closed4, &closed6, &closed_port) < 0)
		fail("no loopback port: %s", strerror(errno));
	load_pki(pki);
	write_policy(pki);

	ssa_serving_daemon = true;
	ssa_sock_free_hook = ssad_sock_freed;
	if (ssa_library_init() < 0 || ssa_policy_error() != NULL)
		fail("cannot start the TLS engine: %s",
		     ssa_policy_error() ? ssa_policy_error() : strerror(errno));
	make_caller(&caller_self, getuid());
	make_caller(&caller_other, FAKE_UID);
	/* The engine threads and everything else started lazily exist from here on. */
	probe_service(&caller_self, "at start-up");
	probe_service(&caller_other, "at start-up");
	drain_listeners();
}

/* ---- One conversation -------------------------------------------------------------------- */

/* What a reply must look like, when the framing so far lets us know its request. */
struct expect {
	uint32_t op;
	int32_t a, b, c;
};

struct run {
	int cl, sv; /* the caller's end, ssad's end */
	struct input in;

	pthread_mutex_t lock; /* the fields below, up to the writer's own */
	pthread_cond_t cond;
	int pool[POOL_MAX]; /* descriptors the caller holds from replies and accepts */
	unsigned npool;
	unsigned replies;
	struct expect expected[MAX_MSGS];
	unsigned nexpected;
	bool synced; /* every request so far framed as declared: replies pair with requests */
	bool eof;    /* ssad closed the connection */

	/* The writer's own. */
	int own[OWN_MAX]; /* descriptors it made; sent copies are ssad's */
	unsigned nown;
	uint16_t fresh[FRESH_MAX]; /* the loopback ports of the TCP sockets it made */
	unsigned nfresh;
	bool dead; /* the server is known to have stopped reading */
};

static int own(struct run *r, int fd)
{
	if (fd < 0)
		return -1;
	if (r->nown == OWN_MAX) {
		raw_close(fd);
		return -1;
	}
	r->own[r->nown++] = fd;
	return fd;
}

static void pool_add(struct run *r, int fd) /* under lock */
{
	if (r->npool < POOL_MAX)
		r->pool[r->npool++] = fd;
	else
		raw_close(fd);
}

/* Waits until every request sent so far is answered, so that the pool is what it will be. */
static void wait_replies(struct run *r)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += REPLY_WAIT_MS / 1000;
	pthread_mutex_lock(&r->lock);
	while (r->synced && r->replies < r->nexpected && !r->eof && rc == 0)
		rc = pthread_cond_timedwait(&r->cond, &r->lock, &until);
	if (rc != 0 && r->replies < r->nexpected && !r->eof)
		fail("request %u (op %u) is well-formed and got no reply within %d ms", r->replies,
		     r->expected[r->replies].op, REPLY_WAIT_MS);
	pthread_mutex_unlock(&r->lock);
}

static int pool_pick(struct run *r, uint8_t k)
{
	int fd = -1;

	wait_replies(r);
	pthread_mutex_lock(&r->lock);
	if (r->npool > 0)
		fd = r->pool[k % r->npool];
	pthread_mutex_unlock(&r->lock);
	return fd;
}

/* A TCP socket as a caller's library makes it, but bound to loopback, on a port of ours. */
static int fresh_tcp(struct run *r, int family)
{
	uint16_t p;
	int fd4, fd6;

	if (r->nfresh == FRESH_MAX || port_pair(&fd4, &fd6, &p) < 0)
		return -1;
	r->fresh[r->nfresh++] = p;
	own(r, fd4);
	own(r, fd6);
	return family == AF_INET6 && fd6 >= 0 ? fd6 : fd4;
}

/* A TCP connection to a silent listener: what STARTTLS upgrades. */
static int connected_tcp(struct run *r, int family)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = fresh_tcp(r, family);

	if (fd < 0 || sys_getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return fd;
	if (ss.ss_family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_port = htons(silent_port);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(silent_port);
	}
	/* Non-blocking: on loopback the connection is up at once, or in a moment. */
	if (sys_connect(fd, (struct sockaddr *)&ss, len) < 0 && errno == EINPROGRESS) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};

		poll(&p, 1, 1000);
	}
	return fd;
}

/* One descriptor from the menu: anything a caller could hold. */
static int menu_fd(struct run *r, uint8_t pick, uint8_t k)
{
	int p[2], fd;

	switch (pick % 20) {
	case 0:
	case 1:
	case 2:
		return fresh_tcp(r, AF_INET);
	case 3:
	case 4:
		return fresh_tcp(r, AF_INET6);
	case 5:
	case 6:
	case 7:
	case 8:
		fd = pool_pick(r, k);
		return fd >= 0 ? fd : fresh_tcp(r, AF_INET);
	case 9:
		return connected_tcp(r, AF_INET);
	case 10:
		return connected_tcp(r, AF_INET6);
	case 11:
		fd = fresh_tcp(r, k & 1 ? AF_INET6 : AF_INET);
		if (fd >= 0)
			sys_listen(fd, 4);
		return fd;
	case 12: {
		char path[300];

		snprintf(path, sizeof(path), "%s/regular", scratch);
		return own(r, open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
	}
	case 13:
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		own(r, p[k & 1]);
		return own(r, p[!(k & 1)]);
	case 14:
		return own(r, open("/dev/null", O_RDWR | O_CLOEXEC));
	case 15:
		fd = own(r, sys_socket(k & 1 ? AF_INET6 : AF_INET,
				       SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
		if (fd >= 0)
			loopback_bind(fd, k & 1 ? AF_INET6 : AF_INET, NULL);
		return fd;
	case 16:
		if (socketpair(AF_UNIX, k & 1 ? SOCK_DGRAM : SOCK_STREAM, 0, p) < 0)
			return -1;
		own(r, p[1]);
		return own(r, p[0]);
	case 17:
		return r->cl; /* the control connection itself */
	case 18:
		/* Fresh but shut down (an unbound one is never sent: listen() would take every
		 * interface). */
		fd = fresh_tcp(r, AF_INET);
		if (fd >= 0)
			sys_shutdown(fd, SHUT_RDWR);
		return fd;
	default:
		return own(r, open(scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	}
}

/* ---- Addresses ---------------------------------------------------------------------------- */

static uint16_t pick_port(struct run *r, struct input *in)
{
	uint8_t m = u8(in);

	switch (m % 4) {
	case 0:
		return htons(silent_port);
	case 1:
		return htons(closed_port);
	case 2:
		return 0;
	default:
		/* A socket of this input: maybe listening with TLS, so a whole handshake runs. */
		return htons(r->nfresh > 0 ? r->fresh[(m >> 2) % r->nfresh] : silent_port);
	}
}

/*
 * Makes the len bytes at addr point at this machine whatever they are: the family is often
 * chosen from a menu first.  Families other than these four cannot reach anything through a
 * TCP socket, and the menu holds no other kind of socket that takes addresses.
 */
static void rewrite_address(struct run *r, struct input *in, uint8_t *addr, size_t len, int family)
{
	static const int families[] = {AF_HOSTNAME, AF_INET, AF_INET6, AF_HOSTNAME, AF_UNIX};
	uint8_t f = u8(in);
	sa_family_t sf = 0;
	uint16_t port;

	if (f < 128 && len >= 2) {
		sf = (sa_family_t)(f % 2 ? family : families[(f >> 1) % 5]);
		memcpy(addr, &sf, 2);
	}
	if (len >= 2)
		memcpy(&sf, addr, 2);
	if (sf == AF_INET || sf == AF_INET6) {
		port = pick_port(r, in);
		if (len >= 4)
			memcpy(addr + 2, &port, 2);
	}
	if (sf == AF_INET && len >= 4) {
		uint32_t lo = htonl(INADDR_LOOPBACK);

		memcpy(addr + 4, &lo, len >= 8 ? 4 : len - 4);
	} else if (sf == AF_INET6 && len >= 8) {
		size_t n = len >= 24 ? 16 : len - 8;

		memcpy(addr + 8, &in6addr_loopback, n);
		if (len >= 28)
			memset(addr + 24, 0, 4); /* scope id */
	} else if (sf == AF_HOSTNAME && len > offsetof(struct sockaddr_host, sin_addr)) {
		port = pick_port(r, in);
		memcpy(addr + 2, &port, 2);
		rewrite_host_name(addr, len, in);
	} else if (sf == AF_UNIX && len > 2) {
		/* A datagram socket ssad would send on names a file of ours, or nothing. */
		size_t room = len - 2;

		memset(addr + 2, 0, room);
		memcpy(addr + 2, sink_path,
		       strlen(sink_path) < room ? strlen(sink_path) : room - 1);
	} else if (len >= 2 && sf != AF_INET && sf != AF_INET6 && sf != AF_HOSTNAME &&
		   sf != AF_UNIX) {
		/* Any other family: made AF_UNSPEC, which no socket of ours can send to. */
		memset(addr, 0, 2);
	}
}

/* ---- Requests ----------------------------------------------------------------------------- */

struct opt {
	int level, name;
};

static struct opt pick_option(struct input *in)
{
	static const struct opt others[] = {
	    {SOL_SOCKET, SO_SNDBUF},   {SOL_SOCKET, SO_RCVBUF},        {SOL_SOCKET, SO_RCVTIMEO},
	    {SOL_SOCKET, SO_SNDTIMEO}, {IPPROTO_TCP, TCP_UPGRADE_TLS}, {SOL_SOCKET, SO_KEEPALIVE},
	    {SOL_SOCKET, SO_ERROR},    {SOL_SOCKET, SO_PEERCRED},      {IPPROTO_TCP, TCP_NODELAY},
	    {SOL_SOCKET, SO_LINGER},   {IPPROTO_IP, IP_TOS},           {999, 1},
	};
	uint8_t sel = u8(in);
	struct opt o;

	if (sel < 200) {
		uint8_t n = u8(in);

		o.level = IPPROTO_TLS;
		o.name = n < 240 ? 80 + n % 54 : (int)u32(in);
	} else {
		o = others[sel % (sizeof(others) / sizeof(others[0]))];
	}
	return o;
}

static bool names_file(struct opt o)
{
	return o.level == IPPROTO_TLS &&
	       (o.name == TLS_TRUSTED_PEER_CERTIFICATES || o.name == TLS_CERTIFICATE_CHAIN ||
		o.name == TLS_PRIVATE_KEY);
}

static bool string_option(int level, int name)
{
	if (level != IPPROTO_TLS)
		return false;
	switch (name) {
	case TLS_REMOTE_HOSTNAME:
	case TLS_HOSTNAME:
	case TLS_ALPN:
	case TLS_PEER_IDENTITY:
	case TLS_PEER_CERTIFICATE_CHAIN:
	case TLS_TRUSTED_CIPHERS:
	case TLS_CHOSEN_CIPHER:
	case TLS_ERROR:
		return true;
	default:
		return false;
	}
}

static void put_string(uint8_t *buf, size_t *len, const char *s)
{
	size_t n = strlen(s) + 1;

	memcpy(buf + *len, s, n);
	*len += n;
}

/* An option value: an int, a string the option expects, or raw bytes. */
static void option_value(struct input *in, struct opt o, uint8_t *buf, size_t *len)
{
	static const char *const strings[] = {"localhost",
					      "example.test",
					      "h2,http/1.1",
					      "",
					      "TLS_AES_128_GCM_SHA256",
					      "ECDHE-ECDSA-AES128-GCM-SHA256",
					      "x.invalid",
					      "http/1.1",
					      "NULL",
					      "a,,b"};
	uint8_t mode = u8(in);
	int32_t v;

	if (mode < 96) {
		static const int32_t ints[] = {0, 1, 2, -1, TLS_1_2, TLS_1_3, 65536, 0x7fffffff};

		v = mode < 64 ? ints[mode % 8] : (int32_t)u32(in);
		memcpy(buf, &v, 4);
		*len = mode & 1 ? 4 : 8; /* and sometimes a uint64 */
		if (*len == 8)
			memset(buf + 4, 0, 4);
	} else if (mode < 160 && o.level == IPPROTO_TLS) {
		put_string(buf, len, strings[mode % 10]);
		if (mode & 1) /* without its NUL */
			(*len)--;
	} else {
		take_into(in, buf, len, u16(in) % 512);
	}
}

/* The file content sent with a certificate option: PKI PEM, fuzz bytes, or both. */
static void file_content(struct input *in, uint8_t *buf, size_t *len)
{
	uint8_t mode = u8(in);

	if (mode < 128 && pki_files[mode % NPKI].data != NULL) {
		size_t n = pki_files[mode % NPKI].len;

		if (n > MAX_DATA_GEN - *len)
			n = MAX_DATA_GEN - *len;
		memcpy(buf + *len, pki_files[mode % NPKI].data, n);
		*len += n;
		if (mode & 1) /* a directory's files, one after the other; or a damaged one */
			take_into(in, buf, len, u8(in));
	} else {
		take_into(in, buf, len, u16(in) % 1024);
	}
}

struct msg {
	struct ssa_request h;
	uint8_t data[MAX_DATA_GEN], file[MAX_DATA_GEN];
	size_t data_n, file_n; /* bytes actually sent */
	int fds[MAX_MSG_FDS];
	int nfds;
	uint8_t place; /* 0 header, 1 header in two writes, 2 the data, 3 header and data at once */
};

/* The descriptors a well-behaved library would attach to this op. */
static void natural_fds(struct run *r, struct msg *m, struct input *in)
{
	uint8_t k = u8(in);

	switch (m->h.op) {
	case SSA_OP_SOCKET:
		m->fds[m->nfds++] = fresh_tcp(r, m->h.a == AF_INET6 ? AF_INET6 : AF_INET);
		break;
	case SSA_OP_UPGRADE:
		m->fds[m->nfds++] = connected_tcp(r, k & 1 ? AF_INET6 : AF_INET);
		break;
	case SSA_OP_CONNECT:
		m->fds[m->nfds++] = menu_fd(r, 5, k);
		for (int i = 0; i < (k >> 6); i++) /* spares for the later addresses of a name */
			m->fds[m->nfds++] = fresh_tcp(r, k & 1 ? AF_INET6 : AF_INET);
		break;
	default:
		m->fds[m->nfds++] = menu_fd(r, 5, k);
		break;
	}
}

/* The c of GETSOCKOPT: the caller's buffer, and sizes ssad must refuse. */
static const int32_t getsockopt_rooms[12] = {
    0, 1, 4, 8, 64, 255, 256, 4096, -1, SSA_PROTO_MAX_DATA, 8192, SSA_PROTO_MAX_DATA + 1};

static void build_request(struct run *r, struct msg *m, struct input *in, uint8_t sel)
{
	static const uint32_t odd_ops[] = {0,   SSA_OP_MAX,  SSA_OP_MAX + 1,
					   255, 0x80000001u, 0xffffffffu};
	uint8_t fmode, fdmode, framing;
	struct opt o = {0, 0};

	memset(&m->h, 0, sizeof(m->h));
	m->data_n = m->file_n = 0;
	m->nfds = 0;
	m->h.magic = SSA_PROTO_MAGIC;
	if (sel < 216)
		m->h.op = 1 + sel % (SSA_OP_MAX - 1);
	else if (sel < 240)
		m->h.op = odd_ops[sel % 6];
	else
		m->h.op = u32(in);

	fmode = u8(in);
	if (fmode >= 224) {
		m->h.a = (int32_t)u32(in);
		m->h.b = (int32_t)u32(in);
		m->h.c = (int32_t)u32(in);
		m->h.file_err = (int32_t)u32(in);
		take_into(in, m->data, &m->data_n, u16(in) % 512);
	} else {
		switch (m->h.op) {
		case SSA_OP_SOCKET: {
			static const int32_t types[] = {SOCK_STREAM, SOCK_STREAM | SOCK_NONBLOCK,
							SOCK_STREAM | SOCK_CLOEXEC, SOCK_DGRAM,
							SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC};
			m->h.a = fmode % 8 < 4 ? AF_INET : fmode % 8 < 7 ? AF_INET6 : AF_UNIX;
			m->h.b = types[(fmode >> 3) % 5];
			break;
		}
		case SSA_OP_SETSOCKOPT:
			o = pick_option(in);
			m->h.a = o.level;
			m->h.b = o.name;
			if (names_file(o) && fmode < 192) {
				/* The path the caller named, then its content (or why it has none).
				 */
				put_string(m->data, &m->data_n,
					   fmode & 1 ? "/etc/ssl/x.pem" : "dir");
				m->h.c =
				    fmode % 8 < 5 ? SSA_FILE_CONTENT : (int32_t)(fmode % 8 - 4);
				m->h.file_err =
				    m->h.c == SSA_FILE_ERROR ? (fmode & 16 ? ENOENT : -5) : 0;
				if (m->h.c == SSA_FILE_CONTENT || m->h.c == SSA_FILE_DIRECTORY)
					file_content(in, m->file, &m->file_n);
			} else {
				option_value(in, o, m->data, &m->data_n);
			}
			break;
		case SSA_OP_GETSOCKOPT:
			o = pick_option(in);
			m->h.a = o.level;
			m->h.b = o.name;
			m->h.c = getsockopt_rooms[fmode % 12];
			break;
		case SSA_OP_NET_FD:
		case SSA_OP_NAME:
			m->h.a = fmode % 4 == 3 ? (int32_t)u32(in) : fmode % 4;
			break;
		case SSA_OP_LISTEN:
		case SSA_OP_SHUTDOWN:
			m->h.a = (int8_t)fmode % 8;
			break;
		case SSA_OP_CONNECT: {
			size_t len = fmode < 160 ? (fmode % 2 ? sizeof(struct sockaddr_host)
							      : sizeof(struct sockaddr_in6))
						 : u16(in) % (sizeof(struct sockaddr_host) + 16);
			take_into(in, m->data, &m->data_n, len);
			rewrite_address(r, in, m->data, m->data_n, fmode & 4 ? AF_INET6 : AF_INET);
			break;
		}
		case SSA_OP_SENDTO: {
			size_t alen = fmode < 128 ? sizeof(struct sockaddr_in6)
						  : u8(in) % (sizeof(struct sockaddr_host) + 8);

			take_into(in, m->data, &m->data_n, alen);
			rewrite_address(r, in, m->data, m->data_n, fmode & 4 ? AF_INET6 : AF_INET);
			m->h.a = fmode % 16 == 15 ? (int32_t)u32(in) : (int32_t)alen;
			take_into(in, m->data, &m->data_n, u16(in) % 1024); /* the bytes sent */
			break;
		}
		case SSA_OP_UPGRADE:
			if (fmode < 64)
				put_string(m->data, &m->data_n, "localhost");
			else if (fmode < 96)
				; /* empty: the server side */
			else if (fmode < 128)
				put_string(m->data, &m->data_n, "x.invalid");
			else
				take_into(in, m->data, &m->data_n, u8(in));
			break;
		default:
			break;
		}
	}

	fdmode = u8(in);
	if (fdmode < 160) {
		natural_fds(r, m, in);
		if (fdmode % 8 == 7) /* and something else too */
			m->fds[m->nfds++] = menu_fd(r, u8(in), u8(in));
	} else {
		int n = fdmode % (MAX_MSG_FDS + 1);

		for (int i = 0; i < n; i++)
			m->fds[m->nfds++] = menu_fd(r, u8(in), u8(in));
	}
	/* A descriptor the menu could not make is left out. */
	for (int i = 0; i < m->nfds; i++)
		if (m->fds[i] < 0) {
			memmove(&m->fds[i], &m->fds[i + 1],
				sizeof(int) * (size_t)(m->nfds - i - 1));
			m->nfds--;
			i--;
		}
	m->place = m->nfds > 0 ? u8(in) % 4 : 0;

	/* The lengths declared: those sent, mostly. */
	m->h.data_len = (uint32_t)m->data_n;
	m->h.file_len = (uint32_t)m->file_n;
	framing = u8(in);
	if (framing >= 200) {
		uint8_t d = (uint8_t)(1 + framing % 16);

		switch ((framing - 200) / 8) {
		case 0:
		case 1:
			m->h.data_len += d; /* the next request becomes this one's data */
			break;
		case 2:
			m->h.data_len = m->data_n >= d ? (uint32_t)(m->data_n - d) : 0;
			break;
		case 3:
			m->h.data_len = SSA_PROTO_MAX_DATA + d;
			break;
		case 4:
			m->h.file_len = framing & 1 ? m->h.file_len + d : SSA_PROTO_MAX_FILE + d;
			break;
		case 5:
			m->h.magic ^= 1u << (framing % 32);
			break;
		default:
			m->h.data_len = framing & 1 ? SSA_PROTO_MAX_DATA : u32(in);
			break;
		}
	}
}

/* Not ssa_proto_send(): a conversation may pass more descriptors than it allows. */
static int send_chunk(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	char control[CMSG_SPACE(sizeof(int) * MAX_MSG_FDS)];
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	memset(control, 0, sizeof(control));
	if (nfds > 0) {
		struct cmsghdr *cm;

		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	while (iov.iov_len > 0) {
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		iov.iov_base = (char *)iov.iov_base + n;
		iov.iov_len -= (size_t)n;
	}
	return 0;
}

/* ---- The byte stream, as ssad will read it ------------------------------------------------ */

/*
 * Once a length is declared wrong, or raw bytes go out, ssad reads headers where the input
 * put data, and data where it put headers: any bytes may then become the address of a
 * CONNECT or SENDTO, on any descriptor sent (a UDP socket would send anywhere).  So every byte
 * goes through this copy of ssad's framing first, and the address of each CONNECT and SENDTO
 * ssad will see is made safe before the bytes leave; the bytes of an address not yet complete
 * are held back until it is (or to the end, when ssad will never read it whole).
 */
static bool our_port(const struct run *r, uint16_t net_port)
{
	uint16_t p = ntohs(net_port);

	if (p == 0 || p == silent_port || p == closed_port)
		return true;
	for (unsigned i = 0; i < r->nfresh; i++)
		if (p == r->fresh[i])
			return true;
	return false;
}

static void make_safe(const struct run *r, uint8_t *a, size_t len)
{
	static const uint8_t lo4[4] = {127, 0, 0, 1};
	sa_family_t f;
	uint16_t port;

	if (len < 2)
		return;
	memcpy(&f, a, 2);
	if (f == AF_UNIX) {
		size_t n = strlen(sink_path) < len - 2 ? strlen(sink_path) : len - 3;

		memset(a + 2, 0, len - 2);
		if (len > 2)
			memcpy(a + 2, sink_path, n);
		return;
	}
	if (len >= 4) {
		memcpy(&port, a + 2, 2);
		if (!our_port(r, port)) {
			port = htons(closed_port);
			memcpy(a + 2, &port, 2);
		}
	}
	if (f == AF_HOSTNAME)
		return; /* the name goes through getaddrinfo(), ours */
	/* AF_INET, AF_INET6, and any other family (UDP reads AF_UNSPEC as AF_INET): loopback
	 * wherever either family keeps its address. */
	if (f != AF_INET6 && len > 4)
		memcpy(a + 4, lo4, len >= 8 ? 4 : len - 4);
	if (f != AF_INET && len > 8)
		memcpy(a + 8, &in6addr_loopback, len >= 24 ? 16 : len - 8);
	if (f != AF_INET && len > 24)
		memset(a + 24, 0, len >= 28 ? 4 : len - 24);
}

struct chunk {
	size_t off, len;
	int fds[MAX_MSG_FDS];
	int nfds;
};

#define CHUNKS_MAX (MAX_MSGS * 4 + 8)

struct wire {
	uint8_t *buf;
	size_t len, cap;
	struct chunk chunks[CHUNKS_MAX];
	unsigned nchunks, next; /* chunks[next] is the first not sent */
	size_t pos;             /* where ssad will read its next header */
	size_t limit;           /* bytes before it may be sent */
	bool stopped;           /* ssad will read no header after pos */
};

static void wire_parse(const struct run *r, struct wire *w)
{
	while (!w->stopped) {
		struct ssa_request h;
		size_t data, end;

		if (w->len - w->pos < sizeof(h)) {
			w->limit = w->len;
			return;
		}
		memcpy(&h, w->buf + w->pos, sizeof(h));
		if (h.magic != SSA_PROTO_MAGIC || h.data_len > SSA_PROTO_MAX_DATA ||
		    h.file_len > SSA_PROTO_MAX_FILE) {
			w->stopped = true; /* ssad disconnects there */
			w->limit = SIZE_MAX;
			return;
		}
		data = w->pos + sizeof(h);
		if (data + h.data_len > w->len) {
			bool address = h.op == SSA_OP_CONNECT || h.op == SSA_OP_SENDTO;

			w->limit = address ? data : w->len;
			return;
		}
		if (h.op == SSA_OP_CONNECT)
			make_safe(r, w->buf + data, h.data_len);
		else if (h.op == SSA_OP_SENDTO && h.a >= 0 && (uint32_t)h.a <= h.data_len)
			make_safe(r, w->buf + data, (size_t)h.a);
		end = data + h.data_len + h.file_len;
		if (end > w->len) {
			w->limit = w->len; /* make_safe() again next time does nothing more */
			return;
		}
		w->pos = end;
	}
}

static void wire_append(struct wire *w, const void *bytes, size_t len, const int *fds, int nfds)
{
	struct chunk *c;

	if (len == 0 || w->nchunks == CHUNKS_MAX)
		return;
	if (w->len + len > w->cap) {
		size_t cap = (w->len + len) * 2;
		uint8_t *grown = realloc(w->buf, cap);

		if (grown == NULL)
			fail("out of memory");
		w->buf = grown;
		w->cap = cap;
	}
	c = &w->chunks[w->nchunks++];
	c->off = w->len;
	c->len = len;
	c->nfds = nfds;
	if (nfds > 0)
		memcpy(c->fds, fds, sizeof(int) * (size_t)nfds);
	memcpy(w->buf + w->len, bytes, len);
	w->len += len;
}

/* Sends what may go; everything when all is written.  -1 when ssad no longer reads. */
static int wire_flush(const struct run *r, struct wire *w, bool all)
{
	wire_parse(r, w);
	while (w->next < w->nchunks) {
		struct chunk *c = &w->chunks[w->next];

		if (!all && c->off + c->len > w->limit)
			break;
		w->next++;
		if (send_chunk(r->cl, w->buf + c->off, c->len, c->fds, c->nfds) < 0)
			return -1;
	}
	return 0;
}

/* Whether ssad will answer this request, reading it as one, or stop (or lose the framing). */
enum framing { FRAMED, DISCONNECTS, DESYNCS };

static enum framing framing_of(const struct msg *m)
{
	if (m->h.magic != SSA_PROTO_MAGIC || m->h.data_len > SSA_PROTO_MAX_DATA ||
	    m->h.file_len > SSA_PROTO_MAX_FILE || m->nfds > SSA_PROTO_MAX_FDS)
		return DISCONNECTS; /* more descriptors than its buffer holds: MSG_CTRUNC */
	if (m->h.data_len != m->data_n || m->h.file_len != m->file_n)
		return DESYNCS;
	return FRAMED;
}

static int send_request(struct run *r, struct wire *w, struct msg *m)
{
	const uint8_t *h = (const uint8_t *)&m->h;
	enum framing f = framing_of(m);
	bool fds_on_data = m->place == 2 && m->data_n > 0;

	pthread_mutex_lock(&r->lock);
	if (r->synced && f == FRAMED && r->nexpected < MAX_MSGS)
		r->expected[r->nexpected++] =
		    (struct expect){.op = m->h.op, .a = m->h.a, .b = m->h.b, .c = m->h.c};
	else
		r->synced = false;
	pthread_mutex_unlock(&r->lock);
	if (f == DISCONNECTS)
		r->dead = true;
	if (tracing)
		fprintf(stderr,
			"> op %u a %d b %d c %d data_len %u (%zu sent) file_len %u (%zu sent) "
			"magic %s, %d fds at %u%s\n",
			m->h.op, m->h.a, m->h.b, m->h.c, m->h.data_len, m->data_n, m->h.file_len,
			m->file_n, m->h.magic == SSA_PROTO_MAGIC ? "ok" : "bad", m->nfds, m->place,
			f == FRAMED    ? ""
			: f == DESYNCS ? ", framing lost"
				       : ", ssad will disconnect");

	if (m->place == 3) {
		uint8_t buf[sizeof(m->h) + MAX_DATA_GEN];

		memcpy(buf, h, sizeof(m->h));
		memcpy(buf + sizeof(m->h), m->data, m->data_n);
		wire_append(w, buf, sizeof(m->h) + m->data_n, m->fds, m->nfds);
	} else {
		if (m->place == 1) {
			wire_append(w, h, 5, NULL, 0);
			wire_append(w, h + 5, sizeof(m->h) - 5, m->fds, m->nfds);
		} else {
			wire_append(w, h, sizeof(m->h), fds_on_data ? NULL : m->fds,
				    fds_on_data ? 0 : m->nfds);
		}
		wire_append(w, m->data, m->data_n, fds_on_data ? m->fds : NULL,
			    fds_on_data ? m->nfds : 0);
	}
	wire_append(w, m->file, m->file_n, NULL, 0);
	return wire_flush(r, w, false);
}

/* Between requests, the caller acts on what it holds. */
static void caller_action(struct run *r, struct wire *w, struct input *in, uint8_t sel)
{
	uint8_t k = u8(in);
	int fd = (sel & 7) < 5 ? pool_pick(r, k) : -1;
	char buf[4096];

	switch (sel & 7) {
	case 0:
		/* Closes A: ssad sees the hang-up, maybe while a request still carries A. */
		pthread_mutex_lock(&r->lock);
		if (r->npool > 0) {
			unsigned i = k % r->npool;

			raw_close(r->pool[i]);
			r->pool[i] = r->pool[--r->npool];
		}
		pthread_mutex_unlock(&r->lock);
		break;
	case 1: {
		size_t n = 0;

		take_into(in, (uint8_t *)buf, &n, u8(in));
		if (fd >= 0)
			(void)!send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	}
	case 2:
		/* Reads, and takes any descriptors: a listener's A delivers accepted ones so. */
		if (fd >= 0) {
			char control[CMSG_SPACE(sizeof(int) * 8)];
			struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
			struct msghdr mh = {.msg_iov = &iov,
					    .msg_iovlen = 1,
					    .msg_control = control,
					    .msg_controllen = sizeof(control)};
			struct pollfd p = {.fd = fd, .events = POLLIN};

			if (k >= 128) /* a loopback handshake takes a few ms, more under load */
				poll(&p, 1, k - 128);
			if (recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
				break;
			pthread_mutex_lock(&r->lock);
			for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
				if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
					for (size_t i = 0;
					     i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
						int got;

						memcpy(&got, CMSG_DATA(cm) + i * sizeof(int),
						       sizeof(int));
						pool_add(r, got);
					}
			pthread_mutex_unlock(&r->lock);
		}
		break;
	case 3:
		if (fd >= 0)
			sys_shutdown(fd, k % 3);
		break;
	case 4:
		if (fd >= 0)
			fcntl(fd, F_SETFL, k & 1 ? O_NONBLOCK : 0);
		break;
	default: {
		/* Raw bytes on the control connection: whatever the server makes of them. */
		size_t n = 0;

		take_into(in, (uint8_t *)buf, &n, u8(in) % 64);
		pthread_mutex_lock(&r->lock);
		r->synced = false;
		pthread_mutex_unlock(&r->lock);
		wire_append(w, buf, n, NULL, 0);
		if (wire_flush(r, w, false) < 0)
			r->dead = true;
		break;
	}
	}
}

static void *writer_main(void *arg)
{
	struct run *r = arg;
	struct msg *m = malloc(sizeof(*m));
	struct wire *w = calloc(1, sizeof(*w));

	if (m == NULL || w == NULL)
		fail("out of memory");
	for (int i = 0; i < MAX_MSGS && r->in.n > 0 && !r->dead; i++) {
		uint8_t sel = u8(&r->in);

		if (sel >= 248) {
			caller_action(r, w, &r->in, sel);
			continue;
		}
		build_request(r, m, &r->in, sel);
		if (send_request(r, w, m) < 0)
			r->dead = true; /* ssad closed the connection */
	}
	/* What was held back: an address ssad will never read whole (it gets EOF first). */
	wire_flush(r, w, true);
	free(w->buf);
	free(w);
	free(m);
	sys_shutdown(r->cl, SHUT_WR); /* the end of the requests */
	return NULL;
}

/* ---- Replies ------------------------------------------------------------------------------ */

/* Reads exactly len bytes with what descriptors come along.  1, or 0 at EOF before the first. */
static int recv_exact(int fd, void *buf, size_t len, int *fds, int max, int *nfds)
{
	size_t got = 0;

	while (got < len) {
		char control[CMSG_SPACE(sizeof(int) * 16)];
		struct iovec iov = {.iov_base = (char *)buf + got, .iov_len = len - got};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = control,
				    .msg_controllen = sizeof(control)};
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 && got == 0)
			return 0;
		if (n <= 0)
			return -1;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int d;

				memcpy(&d, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (*nfds < max)
					fds[(*nfds)++] = d;
				else
					raw_close(d);
			}
		}
		if (mh.msg_flags & MSG_CTRUNC)
			fail("a reply carries more descriptors than 16");
		got += (size_t)n;
	}
	return 1;
}

static bool returns_fd(uint32_t op)
{
	return op == SSA_OP_SOCKET || op == SSA_OP_NET_FD || op == SSA_OP_UPGRADE;
}

/* What any reply must be; and, when its request is known, what that request allows. */
static void check_reply(const struct ssa_reply *rep, const unsigned char *data, int nfds,
			const struct expect *e, unsigned index)
{
	const char *op = e ? "" : " (request unknown: framing lost)";

	if (rep->magic != SSA_PROTO_MAGIC)
		fail("reply %u%s: magic %#x", index, op, rep->magic);
	if (rep->data_len > SSA_PROTO_MAX_DATA)
		fail("reply %u%s: data_len %u over the limit", index, op, rep->data_len);
	if (nfds > 1)
		fail("reply %u%s: %d descriptors", index, op, nfds);
	if (rep->rc < -1)
		fail("reply %u%s: rc %d", index, op, rep->rc);
	if (rep->rc == -1 && (rep->err <= 0 || rep->err >= 4096))
		fail("reply %u%s: failure with errno %d", index, op, rep->err);
	if (e == NULL)
		return;
	if (e->op == SSA_OP_GETSOCKOPT) {
		if (rep->data_len > (uint32_t)(e->c > 0 ? e->c : 0))
			fail("reply %u (GETSOCKOPT %d/%d, room %d): %u bytes", index, e->a, e->b,
			     e->c, rep->data_len);
		if (rep->rc == 0 && e->c > 0 && rep->a > e->c)
			fail("reply %u (GETSOCKOPT %d/%d, room %d): optlen %d on success", index,
			     e->a, e->b, e->c, rep->a);
		if (rep->rc == 0 && string_option(e->a, e->b) && rep->data_len > 0 &&
		    rep->data_len == (uint32_t)rep->a && data[rep->data_len - 1] != '\0')
			fail("reply %u (GETSOCKOPT TLS/%d): string of %u bytes not NUL-terminated",
			     index, e->b, rep->data_len);
	} else if (e->op == SSA_OP_NAME) {
		if (rep->data_len > sizeof(struct sockaddr_storage))
			fail("reply %u (NAME): %u bytes", index, rep->data_len);
	} else if (rep->data_len != 0) {
		fail("reply %u (op %u): %u bytes of data", index, e->op, rep->data_len);
	}
	if (nfds > 0 && !returns_fd(e->op))
		fail("reply %u (op %u): a descriptor", index, e->op);
	if (e->op == SSA_OP_SOCKET && rep->rc == 0 && (nfds != 1 || rep->id == 0))
		fail("reply %u (SOCKET): success with %d descriptors, id %llu", index, nfds,
		     (unsigned long long)rep->id);
	if (e->op == SSA_OP_SOCKET && rep->rc < 0 && nfds != 0)
		fail("reply %u (SOCKET): failure with a descriptor", index);
}

static void *reader_main(void *arg)
{
	struct run *r = arg;
	unsigned char *data = malloc(SSA_PROTO_MAX_DATA);

	if (data == NULL)
		fail("out of memory");
	for (unsigned index = 0;; index++) {
		struct ssa_reply rep;
		struct expect e;
		bool known;
		int fds[16], nfds = 0, none = 0, rc;

		rc = recv_exact(r->cl, &rep, sizeof(rep), fds, 16, &nfds);
		if (rc == 0)
			break;
		if (rc < 0)
			fail("reply %u cut short in its header", index);
		if (rep.data_len > SSA_PROTO_MAX_DATA)
			fail("reply %u: data_len %u over the limit", index, rep.data_len);
		if (rep.data_len > 0 &&
		    recv_exact(r->cl, data, rep.data_len, fds + nfds, 16 - nfds, &none) != 1)
			fail("reply %u cut short in its %u bytes of data", index, rep.data_len);
		pthread_mutex_lock(&r->lock);
		known = index < r->nexpected;
		if (known)
			e = r->expected[index];
		pthread_mutex_unlock(&r->lock);
		if (tracing)
			fprintf(stderr,
				"< rc %d err %d a %d data_len %u state %d id %#llx, %d fds\n",
				rep.rc, rep.err, rep.a, rep.data_len, rep.state,
				(unsigned long long)rep.id, nfds + none);
		check_reply(&rep, data, nfds + none, known ? &e : NULL, index);
		pthread_mutex_lock(&r->lock);
		for (int i = 0; i < nfds + none; i++)
			pool_add(r, fds[i]);
		r->replies++;
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->lock);
	}
	free(data);
	pthread_mutex_lock(&r->lock);
	r->eof = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* ---- After each input --------------------------------------------------------------------- */

/*
 * A fresh connection, a well-formed SOCKET request: ssad must still answer with a TLS socket.
 * The request fits the socket buffer, so it is written whole before the connection is served
 * here, and the reply read after.  Sockets of the input may take a moment to be freed (and
 * counted out of user-sockets): EMFILE is retried for that long.
 */
static void probe_service(const struct ssad_caller *caller, const char *when)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct ssa_request req = {.magic = SSA_PROTO_MAGIC, .op = SSA_OP_SOCKET};
		struct iovec iov = {&req, sizeof(req)};
		struct ssa_reply rep;
		int sp[2], tcp, fds[16], nfds = 0, got;

		req.a = AF_INET;
		req.b = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
			fail("socketpair: %s", strerror(errno));
		tcp = sys_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
		if (tcp < 0 || loopback_bind(tcp, AF_INET, NULL) < 0)
			fail("socket: %s", strerror(errno));
		if (send_chunk(sp[0], iov.iov_base, iov.iov_len, &tcp, 1) < 0)
			fail("probe: send: %s", strerror(errno));
		raw_close(tcp);
		sys_shutdown(sp[0], SHUT_WR);
		ssad_serve_connection(sp[1], caller);
		raw_close(sp[1]);
		got = recv_exact(sp[0], &rep, sizeof(rep), fds, 16, &nfds);
		raw_close(sp[0]);
		for (int i = 0; i < nfds; i++)
			raw_close(fds[i]);
		if (got == 1 && rep.magic == SSA_PROTO_MAGIC && rep.rc == 0 && nfds == 1 &&
		    rep.id != 0)
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (got == 1 && rep.rc < 0 && rep.err == EMFILE && now.tv_sec - start.tv_sec < 5) {
			drain_listeners();
			usleep(2000);
			continue;
		}
		fail("%s, ssad no longer serves uid %u: a well-formed SOCKET request got %s rc %d "
		     "errno %d (%s), %d descriptors (EMFILE: sockets of earlier inputs may still "
		     "count; run an input 17 times to tell)",
		     when, caller->uid, got == 1 ? "a reply" : "no reply", got == 1 ? rep.rc : 0,
		     got == 1 ? rep.err : 0, got == 1 ? strerror(rep.err) : "-", nfds);
	}
}

/*
 * Once the engine has freed the input's sockets, the process holds what it held before the
 * input.  Before it, not at start-up: between inputs libFuzzer may start llvm-symbolizer and
 * keep its pipes.
 */
static void check_fd_leak(int before)
{
	struct timespec start, now;
	int n;

	if (getenv("FUZZ_IGNORE_FD_LEAKS") != NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned wait_us = 20;; wait_us = wait_us < 5000 ? wait_us * 2 : wait_us) {
		drain_listeners();
		n = count_fds();
		if (n <= before)
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >
		    QUIET_WAIT_MS)
			break;
		usleep(wait_us);
	}
	fprintf(stderr, "fuzz_protocol: %d descriptors open %d ms after the input, %d before:\n", n,
		QUIET_WAIT_MS, before);
	list_fds();
	fail("descriptor leak");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run *r;
	const struct ssad_caller *caller;
	pthread_t writer, reader;
	int sp[2], before;
	uint8_t flags;

	setup_once();
	if (size == 0)
		return 0;
	before = count_fds();
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		fail("out of memory");
	r->in = (struct input){data, size};
	flags = u8(&r->in);
	caller = flags & 1 ? &caller_other : &caller_self;
	r->synced = true;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		fail("socketpair: %s", strerror(errno));
	r->cl = sp[0];
	r->sv = sp[1];
	if (pthread_create(&reader, NULL, reader_main, r) != 0 ||
	    pthread_create(&writer, NULL, writer_main, r) != 0)
		fail("pthread_create failed");

	/* This thread is ssad's thread for the connection. */
	ssad_serve_connection(r->sv, caller);
	/* Done serving: the writer's sends fail from here, the reader sees the end. */
	raw_close(r->sv);
	pthread_join(writer, NULL);
	pthread_join(reader, NULL);

	raw_close(r->cl);
	for (unsigned i = 0; i < r->npool; i++)
		raw_close(r->pool[i]);
	for (unsigned i = 0; i < r->nown; i++)
		raw_close(r->own[i]);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r);

	drain_listeners();
	check_fd_leak(before);
	probe_service(caller, "after the input");
	return 0;
}
