/*
 * Servers: listen() and accept().
 *
 * The engine accepts on T, handshakes each connection (spread over the engines), and only
 * then passes the new connection's A to the listener's pair, one fixed-size record with the
 * descriptor attached (SCM_RIGHTS).  So the listening fd is readable exactly when a handshaken
 * connection waits, and failed handshakes never reach accept().  Records are read whole: a
 * stream read stops after a message carrying descriptors, and each record is one message.
 *
 * What waits for accept() is bounded as the kernel bounds a TCP listener's queue: by the
 * backlog (struct ssa_listener).  A program that never accepts holds at most that many
 * connections, and a queued connection whose peer went away leaves the queue at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ssa_internal.h"

#define SSA_ACCEPTS_PER_WAKE 32

/* listen()'s backlog as the bound of what waits: the kernel's cap, and a floor for handshakes. */
static unsigned pending_bound(int backlog)
{
	return backlog > SSA_MIN_PENDING ? (unsigned)backlog : SSA_MIN_PENDING;
}

/*
 * Records sent on the listener's E wait in A until accept() takes them, each holding a
 * connection.  A send buffer of a few records bounds them (the kernel counts at least a
 * record's length for each, and doubles the value set); E still polls writable again once
 * accept() has taken them.
 */
static void bound_records_in_flight(int engine_fd)
{
	int bytes = (int)(SSA_RECORDS_IN_FLIGHT * sizeof(struct ssa_accept_record));

	if (setsockopt(engine_fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)) < 0) {
		/* the default buffer only allows more of them in flight */
	}
}

static bool chains_complete(struct ssa_sock *s)
{
	for (unsigned i = 0; i < s->opts.nchains; i++)
		if (s->opts.chains[i].key == NULL)
			return false;
	return s->opts.nchains > 0;
}

/* The policy's certificates serve a program that set none of its own (the "one line" server). */
static int load_policy_certificates(struct ssa_sock *s)
{
	const struct ssa_policy *p = ssa_current_policy();
	char why[SSA_ERROR_MAX];

	for (unsigned i = 0; i < p->ncerts && s->opts.nchains < SSA_MAX_CHAINS; i++) {
		struct ssa_chain *c = &s->opts.chains[s->opts.nchains];
		int r;

		if (ssa_chain_load(c, p->certs[i].chain, why, sizeof(why)) < 0)
			return ssa_fail(s, SSA_E_FILE, "policy server certificate %s", why);
		s->opts.nchains++;
		r = ssa_key_load(c, p->certs[i].key, why, sizeof(why));
		if (r != 0)
			return ssa_fail(s, r < 0 ? SSA_E_FILE : SSA_E_KEY_MISMATCH,
					"policy server key %s", r < 0 ? why : p->certs[i].key);
	}
	return 0;
}

static int listen_setup(struct ssa_sock *s, int backlog)
{
	char why[SSA_ERROR_MAX];
	struct ssa_listener *l;

	if (ssa_policy_error() != NULL)
		return ssa_fail(s, SSA_E_POLICY_BROKEN, "%s", ssa_policy_error());
	if (s->state == SSA_NEW && s->opts.nchains == 0 && load_policy_certificates(s) < 0)
		return -1;
	if (s->state == SSA_LISTENING) {
		if (sys_listen(s->net_fd, backlog) < 0)
			return -1;
		pthread_mutex_lock(&s->lock);
		s->listener->max_pending = pending_bound(backlog);
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (s->state != SSA_NEW)
		return ssa_fail(s, SSA_E_PHASE_WRONG, "listen() on a connected socket");
	if (s->generation != ssa_engine_generation())
		return ssa_fail(s, SSA_E_INHERITED, NULL);
	if (!chains_complete(s))
		return ssa_fail(s, SSA_E_NO_CERTIFICATE,
				s->opts.nchains ? "a certificate chain has no private key"
						: "set TLS_CERTIFICATE_CHAIN and TLS_PRIVATE_KEY "
						  "before listen(), or give the policy server "
						  "certificates");
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return ssa_fail(s, SSA_E_RESOURCES, NULL);
	l->max_pending = pending_bound(backlog);
	l->ctx = ssa_server_ctx_new(s, why, sizeof(why));
	if (l->ctx == NULL) {
		free(l);
		return ssa_fail(s, SSA_E_POLICY_BROKEN, "cannot serve: %s", why);
	}
	if (sys_listen(s->net_fd, backlog) < 0) {
		int err = errno;

		ssa_listener_free(l);
		return ssa_fail_errno(s, SSA_E_NETWORK, err, "listen: %s", strerror(err));
	}
	bound_records_in_flight(s->engine_fd);
	pthread_mutex_lock(&s->lock);
	s->listener = l;
	s->state = SSA_LISTENING;
	s->role = SSA_SERVER;
	pthread_mutex_unlock(&s->lock);
	if (ssa_engine_submit(s, SSA_CMD_LISTEN) < 0)
		return ssa_fail(s, SSA_E_ENGINE, NULL);
	return 0;
}

/* One listener per socket, whatever threads call listen() or connect() at once. */
int ssa_listen_tls(struct ssa_sock *s, int backlog)
{
	bool taken = ssa_setup_begin(s);
	int rc = listen_setup(s, backlog);

	ssa_setup_end(s, taken);
	return rc;
}

void ssa_listener_free(struct ssa_listener *l)
{
	while (l->backlog_head != NULL) {
		struct ssa_sock *c = l->backlog_head;

		l->backlog_head = c->backlog_next;
		l->queued--;
		c->queued = false;
		ssa_fd_close_owned(c->app_dup); /* its engine sees HUP and lets it go */
		c->app_dup = -1;
		ssa_sock_unref(c);
	}
	SSL_CTX_free(l->ctx);
	free(l);
}

/*
 * Takes c, whose peer went away, out of s's backlog (s->lock held): the caller closes its A
 * and drops the backlog's reference.  The kernel would keep a reset connection queued for
 * accept() to find; here it would keep three descriptors of ssad's, and a peer could fill the
 * backlog with them.  False if c is not queued.
 */
bool ssa_listen_unqueue(struct ssa_sock *s, struct ssa_sock *c)
{
	struct ssa_listener *l = s->listener;
	struct ssa_sock *prev = NULL;

	if (!c->queued || l == NULL)
		return false;
	for (struct ssa_sock *at = l->backlog_head; at != NULL; prev = at, at = at->backlog_next) {
		if (at != c)
			continue;
		if (prev != NULL)
			prev->backlog_next = c->backlog_next;
		else
			l->backlog_head = c->backlog_next;
		if (l->backlog_tail == c)
			l->backlog_tail = prev;
		c->backlog_next = NULL;
		c->queued = false;
		l->queued--;
		return true;
	}
	return false;
}

/* --- engine side --- */

static bool room_locked(struct ssa_listener *l) /* under the listener's lock */
{
	return l->handshaking + l->queued < l->max_pending;
}

static void update_listener_interest(struct ssa_sock *s)
{
	struct ssa_listener *l = s->listener;
	bool room, queued;

	pthread_mutex_lock(&s->lock);
	room = room_locked(l);
	queued = l->backlog_head != NULL;
	pthread_mutex_unlock(&s->lock);
	ssa_engine_set_events(s, room ? EPOLLIN : 0, queued ? EPOLLOUT : 0);
}

void ssa_listen_start(struct ssa_sock *s)
{
	update_listener_interest(s);
}

static struct ssa_sock *adopt_tcp(struct ssa_sock *s, int tcp_fd)
{
	struct ssa_sock *c = ssa_sock_new(s->family);
	int app_fd;

	if (c == NULL)
		return NULL;
	c->owner_uid = s->owner_uid;
	c->policy = s->policy;
	/* In ssad the connection is its owner's socket from now on, counted as theirs. */
	if (ssa_sock_admit_hook != NULL && !ssa_sock_admit_hook(c))
		goto fail;
	c->role = SSA_SERVER;
	c->state = SSA_CONNECTING;
	c->generation = s->generation;
	if (ssa_app_end_pair(SOCK_CLOEXEC, false, &app_fd, &c->engine_fd) < 0)
		goto fail;
	c->app_dup = app_fd; /* the A to hand over; owned by us until accept() takes it */
	ssa_fd_own(app_fd);
	if (ssa_app_end_identify(c, app_fd) < 0)
		goto fail;
	c->net_fd = tcp_fd; /* only now: on failure the caller closes it, and only the caller */
	ssa_fd_own(tcp_fd);
	ssa_sock_ref(s);
	c->parent = s;
	c->engine = ssa_engine_pick();
	return c;
fail:
	ssa_sock_unref(c);
	return NULL;
}

/* The TCP connection, in the library's range of descriptors (ssa_fdset.c). */
static int accept_tcp(struct ssa_sock *s)
{
	int fd;

	ssa_fd_room_enter();
	fd = ssa_fd_lift(sys_accept4(s->net_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
	ssa_fd_room_leave();
	return fd;
}

void ssa_listen_net_ready(struct ssa_sock *s)
{
	struct ssa_listener *l = s->listener;

	for (int i = 0; i < SSA_ACCEPTS_PER_WAKE; i++) {
		struct ssa_sock *c;
		bool room;
		int fd;

		pthread_mutex_lock(&s->lock);
		room = room_locked(l);
		pthread_mutex_unlock(&s->lock);
		if (!room)
			break; /* the rest waits in the kernel's backlog, or is refused there */
		fd = accept_tcp(s);
		if (fd < 0)
			break;
		c = adopt_tcp(s, fd);
		if (c == NULL || ssa_handshake_begin(c) < 0) {
			if (c != NULL)
				ssa_sock_unref(c);
			else
				sys_close(fd);
			continue;
		}
		pthread_mutex_lock(&s->lock);
		l->handshaking++;
		pthread_mutex_unlock(&s->lock);
		if (ssa_engine_submit(c, SSA_CMD_ADOPT) < 0)
			ssa_accepted_done(c, false);
		ssa_sock_unref(c);
	}
	update_listener_interest(s);
}

static bool send_record(struct ssa_sock *s, struct ssa_sock *c)
{
	struct ssa_accept_record rec = {.id = c->id, .info = c->info};
	char control[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {.iov_base = &rec, .iov_len = sizeof(rec)};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control,
			     .msg_controllen = sizeof(control)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &c->app_dup, sizeof(int));
	if (sendmsg(s->engine_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(rec))
		return true;
	int err = errno;

	ssa_debug(c, "cannot hand over: %s", strerror(err));
	errno = err;
	return false;
}

/* Listener's engine: hands queued connections to accept(), as far as A has room. */
static void deliver_backlog(struct ssa_sock *s)
{
	struct ssa_listener *l = s->listener;
	struct ssa_sock *gone = NULL;

	pthread_mutex_lock(&s->lock);
	while (l->backlog_head != NULL) {
		struct ssa_sock *c = l->backlog_head;

		/* Only a full A waits; a record that can never go must not block those behind. */
		if (!send_record(s, c) && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		ssa_debug(c, "left the backlog");
		l->backlog_head = c->backlog_next;
		if (l->backlog_head == NULL)
			l->backlog_tail = NULL;
		l->queued--;
		c->queued = false;
		ssa_fd_close_owned(c->app_dup);
		c->app_dup = -1;
		c->backlog_next = gone;
		gone = c;
	}
	pthread_mutex_unlock(&s->lock);
	while (gone != NULL) { /* outside the lock: a last reference frees c, which takes it */
		struct ssa_sock *c = gone;

		gone = c->backlog_next;
		ssa_sock_unref(c);
	}
	update_listener_interest(s);
}

/*
 * Any engine: c, alone in the backlog, goes to accept() without a wake-up of the listener's
 * engine.  Anything else (a queue, A full, the listener closing) is left to that engine.
 */
static bool deliver_alone(struct ssa_sock *s, struct ssa_sock *c)
{
	struct ssa_listener *l = s->listener;
	bool sent = false;

	pthread_mutex_lock(&s->lock);
	if (s->state == SSA_LISTENING && l->backlog_head == c && c->backlog_next == NULL &&
	    send_record(s, c)) {
		ssa_debug(c, "handed to accept()");
		l->backlog_head = l->backlog_tail = NULL;
		l->queued--;
		c->queued = false;
		ssa_fd_close_owned(c->app_dup);
		c->app_dup = -1;
		ssa_sock_unref(c); /* not the last: c's engine, running this, holds one */
		sent = true;
	}
	pthread_mutex_unlock(&s->lock);
	return sent;
}

/* The application closed the listener: the port goes now, queued connections with it. */
static void close_listener(struct ssa_sock *s)
{
	struct ssa_listener *l = s->listener;
	struct ssa_sock *gone;

	pthread_mutex_lock(&s->lock);
	s->state = SSA_FAILED;
	gone = l->backlog_head;
	for (struct ssa_sock *c = gone; c != NULL; c = c->backlog_next) {
		c->queued = false;
		ssa_fd_close_owned(c->app_dup);
		c->app_dup = -1;
	}
	l->backlog_head = l->backlog_tail = NULL;
	l->queued = 0;
	pthread_mutex_unlock(&s->lock);
	while (gone != NULL) { /* outside the lock, as in deliver_backlog() */
		struct ssa_sock *c = gone;

		gone = c->backlog_next;
		ssa_sock_unref(c);
	}
	ssa_engine_release(s);
	pthread_mutex_lock(&s->lock);
	sys_shutdown(s->net_fd, SHUT_RDWR);
	ssa_fd_close_owned(s->net_fd);
	s->net_fd = -1;
	pthread_mutex_unlock(&s->lock);
}

void ssa_listen_app_ready(struct ssa_sock *s, uint32_t events)
{
	if (events & (EPOLLHUP | EPOLLERR)) {
		close_listener(s);
		return;
	}
	if (events & EPOLLOUT)
		deliver_backlog(s);
}

void ssa_accepted_handshake_ready(struct ssa_sock *s)
{
	int r = ssa_handshake_step(s);

	if (r != 0)
		ssa_accepted_done(s, r > 0);
}

/* The connection's engine: queue it on the listener, whose engine delivers it. */
void ssa_accepted_done(struct ssa_sock *c, bool ok)
{
	ssa_debug(c, "accepted handshake %s", ok ? "ok" : "failed");
	ssa_log_connection(c, ok);
	struct ssa_sock *s = c->parent;
	struct ssa_listener *l = s->listener;
	bool was_full;

	ssa_engine_timer_set(c, 0);
	pthread_mutex_lock(&s->lock);
	was_full = !room_locked(l);
	l->handshaking--;
	/* A listener closed meanwhile takes nothing more: the connection goes as a failed one. */
	ok = ok && s->state == SSA_LISTENING;
	if (ok) {
		ssa_sock_ref(c);
		c->backlog_next = NULL;
		c->queued = true;
		l->queued++;
		if (l->backlog_tail)
			l->backlog_tail->backlog_next = c;
		else
			l->backlog_head = c;
		l->backlog_tail = c;
	}
	pthread_mutex_unlock(&s->lock);
	if (!ok) {
		ssa_engine_release(c);
		ssa_fd_close_owned(c->app_dup);
		c->app_dup = -1;
	} else {
		pthread_mutex_lock(&c->lock);
		c->state = SSA_CONNECTED;
		c->handshake_done = true;
		pthread_mutex_unlock(&c->lock);
		if (ssa_table_insert(c, -1) < 0) {
			/* without memory the connection still works; only getsockopt misses it */
		}
		ssa_relay_start(c);
		if (!was_full && deliver_alone(s, c))
			return;
	}
	ssa_debug(c, "queued for delivery");
	if (ssa_engine_submit(s, SSA_CMD_DELIVER) < 0) {
		/* the listener's next wake-up delivers it */
	}
}

void ssa_listen_deliver(struct ssa_sock *s)
{
	ssa_debug(s, "deliver (state %d closing %d)", s->state, s->closing);
	if (s->state == SSA_LISTENING && !s->closing)
		deliver_backlog(s);
}

/* --- application side of accept() --- */

static int receive_record(int fd, struct ssa_accept_record *rec, int flags)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = rec, .iov_len = sizeof(*rec)};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control,
			     .msg_controllen = sizeof(control)};
	struct cmsghdr *cm;
	ssize_t n = recvmsg(fd, &msg, (flags & SOCK_CLOEXEC) ? MSG_CMSG_CLOEXEC : 0);
	int conn_fd = -1;

	if (n < 0)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&conn_fd, CMSG_DATA(cm), sizeof(int));
	if (n != (ssize_t)sizeof(*rec) || conn_fd < 0) {
		if (conn_fd >= 0)
			sys_close(conn_fd);
		errno = n == 0 ? EINVAL : ECONNABORTED;
		return -1;
	}
	return conn_fd;
}

/*
 * The connection object lives in this process unless accept() runs in a child forked after
 * listen(): then a copy is made from the record, without an engine of its own.
 */
static struct ssa_sock *accepted_object(const struct ssa_accept_record *rec, int fd,
					const struct ssa_sock *listener)
{
	int family = listener->family;
	struct ssa_sock *c = ssa_table_get_id(rec->id);

	if (c != NULL) {
		if (ssa_table_insert(c, fd) < 0) {
			/* the fd hint is an optimisation; the inode still finds c */
		}
		return c;
	}
	c = ssa_sock_new(family);
	if (c == NULL)
		return NULL;
	if (ssa_app_end_identify(c, fd) < 0) {
		ssa_sock_unref(c);
		return NULL;
	}
	c->id = rec->id;
	c->remote = listener->remote; /* its engine is ssad's, as the listener's */
	c->info = rec->info;
	c->role = SSA_SERVER;
	c->state = SSA_CONNECTED;
	c->handshake_done = true;
	c->generation = ssa_engine_generation() - 1; /* no engine here */
	if (ssa_table_insert(c, fd) < 0) {
		/* as above */
	}
	return c;
}

int ssa_accept_tls(struct ssa_sock *s, int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct ssa_accept_record rec;
	struct ssa_sock *c;
	int conn_fd;

	if (s->state != SSA_LISTENING)
		return ssa_fail(s, SSA_E_OPTION_VALUE,
				"accept() on a socket that is not listening");
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return ssa_fail(s, SSA_E_OPTION_VALUE, "unknown accept4() flags 0x%x", flags);
	if (s->service_gone)
		return ssa_remote_listener_gone(s, fd);
	/* Out of descriptors, the connection stays queued (EMFILE), as TCP's does. */
	if (ssa_fd_program_room(fd) < 0)
		return -1;
	if ((conn_fd = receive_record(fd, &rec, flags)) < 0) {
		/* The other end of the pair is gone: for ssad's listener, ssad is (ssa_remote.c).
		 */
		if (s->remote && (errno == ECONNRESET || errno == EPIPE || errno == EINVAL))
			return ssa_remote_listener_gone(s, fd);
		return -1;
	}
	if ((flags & SOCK_NONBLOCK) && fcntl(conn_fd, F_SETFL, O_NONBLOCK) < 0) {
		sys_close(conn_fd);
		return -1;
	}
	c = accepted_object(&rec, conn_fd, s);
	if (c != NULL)
		ssa_sock_unref(c);
	if (addr != NULL && len != NULL) {
		memcpy(addr, &rec.info.peer, *len < rec.info.peer_len ? *len : rec.info.peer_len);
		*len = rec.info.peer_len;
	}
	return conn_fd;
}
