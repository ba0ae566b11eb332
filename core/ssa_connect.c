/*
 * connect(): TCP, the TLS handshake and verification, before the application may write.
 *
 * Until the handshake ends, A must not poll writable (SPEC section 8): we shrink A's send
 * buffer and fill it, so poll, select and epoll in any mode see no POLLOUT.  The engine drains
 * the filler when the handshake ends, and POLLOUT fires.  A blocking connect() waits for that
 * same POLLOUT, so both kinds of socket follow one path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ssa_internal.h"

static void take_early_writes(struct ssa_sock *s);

static int check_family(struct ssa_sock *s, const struct sockaddr *addr, socklen_t len)
{
	socklen_t need =
	    s->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);

	if (addr == NULL || len < sizeof(sa_family_t))
		return ssa_fail(s, SSA_E_ADDRESS, "no address");
	if (addr->sa_family != s->family)
		return ssa_fail(s, SSA_E_FAMILY, "address family %d on an %s socket",
				addr->sa_family, s->family == AF_INET ? "AF_INET" : "AF_INET6");
	if (len < need)
		return ssa_fail(s, SSA_E_ADDRESS, "address length %u is too short", len);
	return 0;
}

/* An AF_HOSTNAME destination, to be resolved now or by a resolver thread. */
struct lookup {
	struct ssa_sock *s; /* referenced while a resolver thread has it */
	char name[SSA_HOSTNAME_MAX + 1];
	char port[8];
};

/*
 * The name's addresses into s, up to eight; on failure the reason into s->resolve_why, for
 * TLS_ERROR.  Touches nothing the engine uses until the engine is told.
 */
static int lookup_addresses(struct ssa_sock *s, const struct lookup *l)
{
	struct addrinfo hints = {.ai_family = s->family, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res, *ai;
	int rc = getaddrinfo(l->name, l->port, &hints, &res);

	s->naddrs = 0;
	if (rc != 0) {
		snprintf(s->resolve_why, sizeof(s->resolve_why), "%s: %s", l->name,
			 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	s->resolve_why[0] = '\0';
	for (ai = res; ai != NULL && s->naddrs < 8; ai = ai->ai_next) {
		memcpy(&s->connect_addrs[s->naddrs], ai->ai_addr, ai->ai_addrlen);
		s->connect_lens[s->naddrs++] = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	return 0;
}

/* AF_HOSTNAME: the name becomes the name verified, and each of its addresses is tried. */
static int parse_hostname(struct ssa_sock *s, const struct sockaddr *addr, socklen_t len,
			  struct lookup *l)
{
	const struct sockaddr_host *h = (const struct sockaddr_host *)addr;
	size_t max = len - offsetof(struct sockaddr_host, sin_addr);

	if (len <= offsetof(struct sockaddr_host, sin_addr))
		return ssa_fail(s, SSA_E_ADDRESS, "sockaddr_host too short");
	if (max > sizeof(h->sin_addr.name))
		max = sizeof(h->sin_addr.name);
	if (memchr(h->sin_addr.name, '\0', max) == NULL)
		return ssa_fail(s, SSA_E_ADDRESS,
				"host name is not NUL-terminated within %zu bytes", max);
	snprintf(l->name, sizeof(l->name), "%s", (const char *)h->sin_addr.name);
	if (!ssa_valid_hostname(l->name))
		return ssa_fail(s, SSA_E_ADDRESS, "\"%.64s\" is not a host name", l->name);
	snprintf(l->port, sizeof(l->port), "%u", ntohs(h->sin_port));
	if (s->opts.hostname[0] == '\0')
		snprintf(s->opts.hostname, sizeof(s->opts.hostname), "%s", l->name);
	return 0;
}

/*
 * The destinations of connect().  A name is resolved here, in the caller's thread, only when
 * the caller waits anyway (a blocking socket): otherwise *later gets the lookup to hand to a
 * resolver thread, so that connect() returns EINPROGRESS at once.
 */
static int set_destinations(struct ssa_sock *s, const struct sockaddr *addr, socklen_t len,
			    bool nonblocking, struct lookup **later)
{
	int rc;

	*later = NULL;
	if (addr != NULL && len >= sizeof(sa_family_t) && addr->sa_family == AF_HOSTNAME) {
		struct lookup *l = calloc(1, sizeof(*l));

		if (l == NULL)
			return ssa_fail(s, SSA_E_RESOURCES, NULL);
		if (parse_hostname(s, addr, len, l) < 0) {
			free(l);
			return -1;
		}
		if (nonblocking) {
			*later = l;
			return 0;
		}
		rc = lookup_addresses(s, l) < 0 ? ssa_fail(s, SSA_E_RESOLVE, "%s", s->resolve_why)
						: 0;
		s->resolve_why[0] = '\0'; /* told: a connect() to an address may follow */
		free(l);
		return rc;
	}
	if (check_family(s, addr, len) < 0)
		return -1;
	memcpy(&s->connect_addrs[0], addr,
	       len > sizeof(s->connect_addrs[0]) ? sizeof(s->connect_addrs[0]) : len);
	s->connect_lens[0] = len;
	s->naddrs = 1;
	return 0;
}

static void *resolver_main(void *arg)
{
	struct lookup *l = arg;

	(void)lookup_addresses(l->s, l); /* a failure goes to the engine in resolve_why */
	if (ssa_engine_submit(l->s, SSA_CMD_CONNECT) < 0)
		ssa_debug(l->s, "connect: the engine cannot take the resolved name");
	ssa_sock_unref(l->s);
	free(l);
	return NULL;
}

/*
 * The engine starts the connection: at once, or once a resolver thread has the name's
 * addresses (or knows it has none), so that no program thread waits for the name service.
 * Without a thread to spare the name is resolved here after all.
 */
static int begin_connect(struct ssa_sock *s, struct lookup *later)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t tid;
	int rc = -1;

	if (later == NULL)
		return ssa_engine_submit(s, SSA_CMD_CONNECT);
	later->s = s;
	ssa_sock_ref(s);
	sigfillset(&all); /* the program's signals are for the program's threads */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_attr_init(&attr) == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&tid, &attr, resolver_main, later);
		pthread_attr_destroy(&attr);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0)
		return 0;
	ssa_sock_unref(s);
	(void)lookup_addresses(s, later);
	free(later);
	return ssa_engine_submit(s, SSA_CMD_CONNECT);
}

/*
 * Holds off POLLOUT on A: minimum send buffer, filled.  Anything the application wrote before
 * connect() is discarded, as TCP would have refused it.
 */
static int hold_writability(struct ssa_sock *s, int app_fd)
{
	static const char zeros[16384];
	socklen_t optlen = sizeof(s->app_sndbuf);
	int minimum = 1;
	ssize_t n;

	char sink[4096];

	while (recv(s->engine_fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
	if (ssa_guard_plant(app_fd, s->engine_fd) < 0)
		return -1;
	if (sys_getsockopt(app_fd, SOL_SOCKET, SO_SNDBUF, &s->app_sndbuf, &optlen) < 0 ||
	    sys_setsockopt(app_fd, SOL_SOCKET, SO_SNDBUF, &minimum, sizeof(minimum)) < 0)
		return -1;
	pthread_mutex_lock(&s->lock);
	s->sndbuf_held = true;
	pthread_mutex_unlock(&s->lock);
	s->filler_len = 0;
	while ((n = send(app_fd, zeros, sizeof(zeros), MSG_DONTWAIT | MSG_NOSIGNAL)) > 0)
		s->filler_len += (size_t)n;
	return n < 0 && errno != EAGAIN ? -1 : 0;
}

/*
 * Engine: A gets back the send buffer the application had, or set while the handshake ran
 * (ssa_api.c keeps that value while sndbuf_held).
 */
static void restore_sndbuf(struct ssa_sock *s)
{
	int size;

	pthread_mutex_lock(&s->lock);
	size = s->app_sndbuf / 2; /* the kernel doubles what it is given (socket(7)) */
	if (s->app_dup >= 0 &&
	    sys_setsockopt(s->app_dup, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		sys_setsockopt(s->app_dup, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	s->sndbuf_held = false;
	pthread_mutex_unlock(&s->lock);
}

/* Engine: the handshake succeeded; the filler goes and POLLOUT fires on A. */
static void drain_filler(struct ssa_sock *s)
{
	char sink[4096];

	while (s->filler_len > 0) {
		ssize_t n =
		    recv(s->engine_fd, sink,
			 s->filler_len < sizeof(sink) ? s->filler_len : sizeof(sink), MSG_DONTWAIT);

		if (n <= 0)
			break;
		s->filler_len -= (size_t)n;
	}
	ssa_guard_restore(s->engine_fd); /* the last byte of the filler is the guard now */
}

/* How the handshake went, once: as a blocking connect() returns it.  EINPROGRESS: not over. */
int ssa_connect_outcome(struct ssa_sock *s)
{
	int err;

	pthread_mutex_lock(&s->lock);
	if (s->state == SSA_CONNECTING)
		err = EINPROGRESS;
	else
		err = s->state == SSA_CONNECTED ? 0 : s->result_error;
	if (s->state == SSA_CONNECTED || s->state == SSA_FAILED)
		s->pending_error = 0;
	pthread_mutex_unlock(&s->lock);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

static int wait_for_handshake(struct ssa_sock *s, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int rc;

	do {
		/* On EINTR the connection goes on in the background, as TCP's does (connect(2)). */
		if (poll(&p, 1, -1) < 0)
			return -1;
		rc = ssa_connect_outcome(s);
	} while (rc < 0 && errno == EINPROGRESS);
	return rc;
}

static int connect_refused_by_state(struct ssa_sock *s)
{
	switch (s->state) {
	case SSA_CONNECTING:
		return ssa_fail(s, SSA_E_ALREADY, NULL);
	case SSA_CONNECTED:
		return ssa_fail(s, SSA_E_ISCONN, NULL);
	case SSA_LISTENING:
		return ssa_fail(s, SSA_E_PHASE_WRONG, "the socket is listening");
	case SSA_FAILED:
		errno = s->result_error;
		return -1;
	default:
		return 0;
	}
}

/*
 * TLS_EARLY_DATA: like TCP_FASTOPEN_CONNECT, connect() succeeds at once and A is writable; the
 * engine takes what the application wrote by the time TCP is up as early data.
 */
static int connect_now_handshake_later(struct ssa_sock *s, struct lookup *later)
{
	if (s->app_dup >= 0)
		ssa_fd_own(s->app_dup); /* A stays open (no HUP) until the handshake is over */
	pthread_mutex_lock(&s->lock);
	s->state = SSA_CONNECTING;
	s->role = SSA_CLIENT;
	s->pending_error = EINPROGRESS;
	pthread_mutex_unlock(&s->lock);
	if (begin_connect(s, later) < 0)
		return ssa_fail(s, SSA_E_ENGINE, NULL);
	return 0;
}

/*
 * Under setup_lock: the engine has the connection (1: connect() has succeeded already, as with
 * early data; 0: the handshake runs), or -1 and errno with the socket still SSA_NEW.
 */
static int connect_setup(struct ssa_sock *s, int fd, const struct sockaddr *addr, socklen_t len,
			 bool nonblocking)
{
	struct lookup *later = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = s->state == SSA_NEW ? 0 : -1;
	if (rc == 0)
		ssa_revocation_take_sockets(s); /* ssad: the caller's, for its checks */
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		return connect_refused_by_state(s);
	if (s->generation != ssa_engine_generation())
		return ssa_fail(s, SSA_E_INHERITED, NULL);
	if (!s->upgrade && set_destinations(s, addr, len, nonblocking, &later) < 0)
		return -1;
	s->app_dup = ssa_fd_dup(fd);
	ssa_debug(s, "connect: called");
	if (s->opts.early_data && !s->upgrade)
		return connect_now_handshake_later(s, later) < 0 ? -1 : 1;
	if (s->app_dup < 0 || hold_writability(s, fd) < 0) {
		int err = errno;

		if (s->app_dup >= 0) /* our copy of A would keep it open for ever */
			sys_close(s->app_dup);
		s->app_dup = -1;
		free(later);
		if (err == EMFILE || err == ENFILE)
			return ssa_fail(s, SSA_E_DESCRIPTORS, "%s", strerror(err));
		return ssa_fail_errno(s, SSA_E_RESOURCES, err, "cannot prepare the socket: %s",
				      strerror(err));
	}
	ssa_fd_own(s->app_dup);
	pthread_mutex_lock(&s->lock);
	s->state = SSA_CONNECTING;
	if (!s->upgrade)
		s->role = SSA_CLIENT;
	s->pending_error = EINPROGRESS;
	pthread_mutex_unlock(&s->lock);
	if (begin_connect(s, later) < 0)
		return ssa_fail(s, SSA_E_ENGINE, NULL);
	return 0;
}

/*
 * Two threads calling connect() at once: one sets the socket up, the other finds it
 * SSA_CONNECTING (EALREADY) or done (EISCONN), as with TCP.  Set up twice, the second dup of
 * A overwrote the first, which then held A open for ever: in ssad a socket and its
 * descriptors per race, counted against the user's user-sockets.
 */
int ssa_connect_tls(struct ssa_sock *s, int fd, const struct sockaddr *addr, socklen_t len)
{
	/* ssad never waits: the application's library does, on its own descriptor. */
	bool nonblocking = ssa_serving_daemon || (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
	bool taken = ssa_setup_begin(s);
	int rc = connect_setup(s, fd, addr, len, nonblocking);

	ssa_setup_end(s, taken);
	if (rc != 0)
		return rc > 0 ? 0 : -1;
	if (nonblocking) {
		errno = EINPROGRESS;
		return -1;
	}
	return wait_for_handshake(s, fd);
}

/* Engine: a later address needs a fresh TCP socket; the options set on the old one follow. */
static int renew_net_socket(struct ssa_sock *s)
{
	static const int copied[][2] = {{SOL_SOCKET, SO_KEEPALIVE},
					{IPPROTO_TCP, TCP_NODELAY},
					{SOL_SOCKET, SO_REUSEADDR},
					{SOL_SOCKET, SO_PRIORITY}};
	int fd;

	/* ssad makes no socket for a caller: it uses the spares the caller made itself. */
	if (ssa_serving_daemon)
		fd = s->nspares > 0 ? s->spare_fds[--s->nspares] : (errno = ENETUNREACH, -1);
	else
		fd = ssa_fd_socket(s->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (ssa_serving_daemon)
		ssa_fd_disown(fd); /* owned again below, as net_fd */
	for (unsigned i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
		int v;
		socklen_t l = sizeof(v);

		if (sys_getsockopt(s->net_fd, copied[i][0], copied[i][1], &v, &l) == 0)
			sys_setsockopt(fd, copied[i][0], copied[i][1], &v, l);
	}
	if (s->net_registered)
		epoll_ctl(ssa_engine_epoll_fd(s), EPOLL_CTL_DEL, s->net_fd, NULL);
	s->net_registered = false;
	ssa_fd_close_owned(s->net_fd);
	s->net_fd = fd;
	ssa_fd_own(fd);
	return 0;
}

static void try_next_address(struct ssa_sock *s, int last_err)
{
	while (s->next_addr < s->naddrs) {
		unsigned i = s->next_addr++;

		if (i > 0 && renew_net_socket(s) < 0) {
			last_err = errno;
			break;
		}
		if (sys_connect(s->net_fd, (struct sockaddr *)&s->connect_addrs[i],
				s->connect_lens[i]) == 0 ||
		    errno == EINPROGRESS) {
			ssa_engine_set_events(s, EPOLLOUT, 0);
			return;
		}
		last_err = errno;
	}
	ssa_fail_errno(s, SSA_E_NETWORK, last_err, "%s", strerror(last_err));
	ssa_connect_done(s, last_err);
}

void ssa_connect_start(struct ssa_sock *s)
{
	ssa_debug(s, "connect: engine starts");
	if (s->resolve_why[0] != '\0') { /* a resolver thread found no address */
		ssa_fail(s, SSA_E_RESOLVE, "%s", s->resolve_why);
		ssa_connect_done(s, EHOSTUNREACH);
		return;
	}
	if (s->upgrade) { /* T is connected: the handshake starts when it polls writable */
		ssa_engine_timer_set(s, ssa_now_ms() + ssa_current_policy()->handshake_timeout_ms);
		ssa_engine_set_events(s, EPOLLOUT, 0);
		return;
	}
	if (s->opts.early_data) {
		/*
		 * As TCP Fast Open waits for the first write: the connection starts with the
		 * application's first data (it rides in the ClientHello), or after a short wait
		 * for a program that reads first.
		 */
		s->early_wait = true;
		ssa_engine_timer_set(s, ssa_now_ms() + SSA_EARLY_WAIT_MS);
		ssa_engine_set_events(s, 0, EPOLLIN);
		return;
	}
	ssa_engine_timer_set(s, ssa_now_ms() + ssa_current_policy()->handshake_timeout_ms);
	try_next_address(s, ECONNREFUSED);
}

/* Engine: the first write came (or the wait ended): now the TCP connect and handshake. */
void ssa_connect_early_go(struct ssa_sock *s)
{
	s->early_wait = false;
	take_early_writes(s);
	ssa_engine_set_events(s, 0, 0);
	ssa_engine_timer_set(s, ssa_now_ms() + ssa_current_policy()->handshake_timeout_ms);
	try_next_address(s, ECONNREFUSED);
}

/* What the application wrote after an early-data connect() rides in the ClientHello. */
static void take_early_writes(struct ssa_sock *s)
{
	unsigned char buf[16384];
	ssize_t n = ssa_app_read(s, buf, sizeof(buf));

	if (n > 0 && ssa_buf_append(&s->early, buf, (size_t)n) < 0)
		ssa_debug(s, "early data kept for after the handshake: out of memory");
}

void ssa_connect_net_ready(struct ssa_sock *s, uint32_t events)
{
	int r;

	(void)events;
	if (s->ssl == NULL) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (sys_getsockopt(s->net_fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
			err = errno;
		if (err != 0) {
			try_next_address(s, err);
			return;
		}
		ssa_debug(s, "connect: TCP connected");
		ssa_note_local_address(s);
		if (ssa_handshake_begin(s) < 0) {
			ssa_connect_done(s, s->error_errno ? s->error_errno : EPROTO);
			return;
		}
	}
	r = ssa_handshake_step(s);
	if (r < 0) {
		ssa_connect_done(s, s->error_errno ? s->error_errno : EPROTO);
		return;
	}
	if (r == 0)
		return;
	r = ssa_revocation_start(s);
	if (r == 0) {
		ssa_engine_set_events(s, 0, 0); /* nothing moves until the verdict is in */
		return;
	}
	ssa_connect_done(s, r < 0 || ssa_revocation_verdict(s) < 0 ? EPROTO : 0);
}

/* Engine: a worker's verdict on a connection that may have timed out meanwhile. */
void ssa_connect_revocation_done(struct ssa_sock *s)
{
	if (s->state != SSA_CONNECTING || s->closing)
		return;
	ssa_connect_done(s, ssa_revocation_verdict(s) < 0 ? EPROTO : 0);
}

void ssa_connect_timeout(struct ssa_sock *s)
{
	const char *name = s->opts.hostname[0] ? s->opts.hostname : "the peer";

	ssa_fail(s, SSA_E_TIMEOUT, "no answer from %s within %d ms", name,
		 ssa_current_policy()->handshake_timeout_ms);
	ssa_connect_done(s, ETIMEDOUT);
}

/* Engine: the outcome is published before POLLOUT wakes the application. */
void ssa_connect_done(struct ssa_sock *s, int err)
{
	ssa_debug(s, "connect done: %s", err ? strerror(err) : "ok");
	ssa_note_local_address(s); /* T may go now: getsockname() answers as TCP's would */
	ssa_engine_timer_set(s, 0);
	while (s->nspares >
	       0) /* the caller's spare TCP sockets (ssad): no address is left to try */
		ssa_fd_close_owned(s->spare_fds[--s->nspares]);
	ssa_revocation_drop_sockets(s); /* and those for fetches, when no check took them */
	ssa_log_connection(s, err == 0);
	pthread_mutex_lock(&s->lock);
	if (err == 0) {
		s->state = SSA_CONNECTED;
		s->handshake_done = true;
		s->error[0] = '\0';
	} else {
		s->state = SSA_FAILED;
		s->result_error = err;
		s->keep_registered = true;
	}
	s->pending_error = err;
	pthread_mutex_unlock(&s->lock);
	/* Only now may A poll writable: growing its buffer alone would wake the application. */
	if (err == 0) {
		restore_sndbuf(s);
		drain_filler(s);
		ssa_fd_close_owned(s->app_dup);
		s->app_dup = -1;
		ssa_relay_start(s);
		return;
	}
	/*
	 * Failure: E closes with the filler unread, so A polls writable and its first read
	 * already gives ECONNRESET (never an EAGAIN, never an EOF that would look clean).
	 */
	ssa_relay_cut(s);
	restore_sndbuf(s);
	ssa_fd_close_owned(s->app_dup);
	s->app_dup = -1;
}
