/*
 * The engine's side of the API: ssa_api_X() is X() with TLS semantics for IPPROTO_TLS sockets,
 * and the system call itself for any other descriptor.  libssa's face reaches these through
 * the module's table (ssa_module.c); ssad calls them directly.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ssa_internal.h"

/* net_fd: the TCP socket an application made with its own rights (ssad), or -1 to make one. */
static int create_tls_socket(int domain, int type, int net_fd)
{
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct ssa_sock *s;
	int app_fd = -1;

	if (domain != AF_INET && domain != AF_INET6)
		return errno = EAFNOSUPPORT, -1;
	if (base != SOCK_STREAM)
		return errno = EPROTONOSUPPORT, -1;
	s = ssa_library_init() == 0 ? ssa_sock_new(domain) : NULL;
	if (s == NULL) {
		int err = errno ? errno : ENOMEM;

		if (net_fd >= 0)
			sys_close(net_fd);
		return errno = err, -1;
	}
	if (net_fd >= 0)
		ssa_fd_own(net_fd); /* from here on s holds it, and frees it with itself */
	s->generation = ssa_engine_generation();
	s->engine = ssa_engine_pick();
	s->net_fd = net_fd >= 0 ? net_fd
				: ssa_fd_socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
						IPPROTO_TCP);
	if (s->engine == NULL || s->net_fd < 0)
		goto fail;
	if (net_fd < 0)
		ssa_fd_own(s->net_fd);
	/* ssad passes A on to its caller: there it is the library's until then. */
	if (ssa_app_end_pair(type, !ssa_serving_daemon, &app_fd, &s->engine_fd) < 0 ||
	    ssa_app_end_identify(s, app_fd) < 0)
		goto fail;
	if (ssa_policy_error() != NULL) {
		/* The socket exists so that TLS_ERROR can say why nothing works on it. */
		s->state = SSA_FAILED;
		s->result_error = EPROTO;
		s->keep_registered = true;
		ssa_fail(s, SSA_E_POLICY_BROKEN, "%s", ssa_policy_error());
	}
	if (ssa_table_insert(s, app_fd) < 0 || ssa_engine_submit(s, SSA_CMD_WATCH) < 0)
		goto fail;
	ssa_sock_unref(s); /* the registry and the engine hold it now */
	return app_fd;
fail : {
	int err = errno ? errno : ENOMEM;

	ssa_table_remove(s);
	if (app_fd >= 0)
		sys_close(app_fd);
	ssa_sock_unref(s);
	errno = err;
	return -1;
}
}

int ssa_api_socket(int domain, int type, int protocol)
{
	if (protocol != IPPROTO_TLS)
		return sys_socket(domain, type, protocol);
	if (ssa_daemon_backend_active())
		return ssa_remote_socket(domain, type);
	return create_tls_socket(domain, type, -1);
}

/* ssad: a TLS socket around the caller's TCP socket, which it owns from now on, even on failure. */
int ssa_socket_adopt(int domain, int type, int net_fd)
{
	if ((domain != AF_INET && domain != AF_INET6) ||
	    (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM) {
		sys_close(net_fd);
		return errno = EINVAL, -1;
	}
	return create_tls_socket(domain, type, net_fd);
}

int ssa_api_is_tls(int fd)
{
	struct ssa_sock *s = ssa_table_get(fd);

	if (s == NULL)
		return 0;
	ssa_sock_unref(s);
	return 1;
}

char *ssa_api_last_error(int fd, char *buf, size_t size)
{
	struct ssa_sock *s = ssa_table_get(fd);

	socklen_t len = (socklen_t)size;

	if (s == NULL)
		return errno = ENOTSOCK, NULL;
	if (s->remote && ssa_remote_getsockopt(s, fd, IPPROTO_TLS, TLS_ERROR, buf, &len) == 0) {
		ssa_sock_unref(s);
		return buf;
	}
	pthread_mutex_lock(&s->lock);
	snprintf(buf, size, "%s", s->error);
	pthread_mutex_unlock(&s->lock);
	ssa_sock_unref(s);
	return buf;
}

/*
 * A call that acts starts with an empty TLS_ERROR, so a failure the kernel reports (say
 * EADDRINUSE) never shows an older reason.  Reading calls leave it alone.
 */
void ssa_begin_call(struct ssa_sock *s)
{
	if (ssa_policy_error() != NULL || s->state == SSA_FAILED)
		return; /* that reason stays: it still explains every call */
	pthread_mutex_lock(&s->lock);
	s->error[0] = '\0';
	pthread_mutex_unlock(&s->lock);
}

int ssa_api_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct ssa_sock *s = ssa_table_get(fd);
	int saved = errno, rc;

	if (s == NULL)
		return sys_connect(fd, addr, len);
	ssa_begin_call(s);
	rc = s->remote ? ssa_remote_connect(s, fd, addr, len) : ssa_connect_tls(s, fd, addr, len);
	if (rc == 0)
		errno = saved; /* a success leaves errno as it was, as the system call does */
	ssa_sock_unref(s);
	return rc;
}

int ssa_api_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct ssa_sock *s = ssa_table_get(fd);
	int rc;

	if (s == NULL)
		return sys_bind(fd, addr, len);
	ssa_begin_call(s);
	if (s->remote)
		rc = ssa_remote_bind(s, fd, addr, len);
	else if (ssa_policy_error() != NULL)
		rc = ssa_fail(s, SSA_E_POLICY_BROKEN, "%s", ssa_policy_error());
	else if (s->state != SSA_NEW)
		rc = ssa_fail(s, SSA_E_OPTION_VALUE, "bind() after connect() or listen()");
	else if (addr != NULL && len >= sizeof(sa_family_t) && addr->sa_family != s->family)
		rc = ssa_fail(s, SSA_E_FAMILY, "address family %d", addr->sa_family);
	else if ((rc = sys_bind(s->net_fd, addr, len)) == 0)
		ssa_note_local_address(s);
	ssa_sock_unref(s);
	return rc;
}

int ssa_api_listen(int fd, int backlog)
{
	struct ssa_sock *s = ssa_table_get(fd);
	int rc;

	if (s == NULL)
		return sys_listen(fd, backlog);
	ssa_begin_call(s);
	rc = s->remote ? ssa_remote_listen(s, fd, backlog) : ssa_listen_tls(s, backlog);
	if (rc == 0 && !s->remote)
		ssa_note_local_address(s);
	ssa_sock_unref(s);
	return rc;
}

int ssa_api_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct ssa_sock *s = ssa_table_get(fd);
	int rc;

	if (s == NULL)
		return sys_accept4(fd, addr, len, flags);
	ssa_begin_call(s);
	rc = ssa_accept_tls(s, fd, addr, len, flags);
	ssa_sock_unref(s);
	return rc;
}

/*
 * Options of other levels act on the network connection T, except those that govern the
 * application's own calls on A (timeouts and buffer sizes).
 */
static bool acts_on_app_end(int level, int name)
{
	return level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO ||
				       name == SO_RCVBUF || name == SO_SNDBUF);
}

/*
 * While the handshake runs, A's send buffer is held at its minimum (ssa_connect.c): an
 * SO_SNDBUF set then is what the engine restores when it ends.
 */
static bool deferred_sndbuf(struct ssa_sock *s, const void *val, socklen_t len)
{
	bool deferred = false;
	unsigned v;

	if (val == NULL || len < sizeof(int))
		return false;
	memcpy(&v, val, sizeof(v));
	if (v > INT_MAX / 2) /* as the kernel reads it: unsigned, then doubled (socket(7)) */
		v = INT_MAX / 2;
	pthread_mutex_lock(&s->lock);
	if (s->sndbuf_held) {
		s->app_sndbuf = (int)v * 2;
		deferred = true;
	}
	pthread_mutex_unlock(&s->lock);
	return deferred;
}

/* STARTTLS on a TCP socket; a non-blocking one returns now and polls writable when done. */
static int upgrade(int fd, const void *val, socklen_t len)
{
	int rc = ssa_daemon_backend_active() ? ssa_remote_upgrade(fd, val, len)
					     : ssa_upgrade(fd, val, len);

	if (rc < 0 && errno == EINPROGRESS)
		rc = 0;
	return rc;
}

int ssa_api_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct ssa_sock *s = ssa_table_get(fd);
	int rc;

	if (s == NULL && level == IPPROTO_TCP && name == TCP_UPGRADE_TLS)
		return upgrade(fd, val, len);
	if (s == NULL && level == IPPROTO_TLS)
		s = ssa_remote_lookup(fd);
	if (s == NULL)
		return sys_setsockopt(fd, level, name, val, len);
	ssa_begin_call(s);
	if (s->remote)
		rc = ssa_remote_setsockopt(s, fd, level, name, val, len);
	else if (level == IPPROTO_TLS)
		rc = ssa_tls_setsockopt(s, name, val, len);
	else if (level == IPPROTO_TCP && name == TCP_UPGRADE_TLS)
		rc = ssa_fail(s, SSA_E_PHASE_WRONG, "already a TLS socket");
	else if (level == SOL_SOCKET && name == SO_SNDBUF && deferred_sndbuf(s, val, len))
		rc = 0;
	else if (acts_on_app_end(level, name))
		rc = sys_setsockopt(fd, level, name, val, len);
	else if (s->net_fd < 0)
		rc = 0; /* the connection is over and its TCP socket gone: nothing left to tune,
			 * as setting TCP_NODELAY on a TCP socket the peer closed succeeds */
	else
		rc = sys_setsockopt(s->net_fd, level, name, val, len);
	ssa_sock_unref(s);
	return rc;
}

static int put_int_opt(int v, void *val, socklen_t *len)
{
	if (val == NULL || len == NULL || *len < sizeof(int))
		return errno = EINVAL, -1;
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

/* SO_ERROR reports a non-blocking connect's outcome once, as for TCP. */
static int take_pending_error(struct ssa_sock *s)
{
	int err;

	pthread_mutex_lock(&s->lock);
	err = s->pending_error == EINPROGRESS ? 0 : s->pending_error;
	if (s->pending_error != EINPROGRESS)
		s->pending_error = 0;
	pthread_mutex_unlock(&s->lock);
	return err;
}

static int socket_level_get(struct ssa_sock *s, int fd, int name, void *val, socklen_t *len)
{
	switch (name) {
	case SO_PROTOCOL:
		return put_int_opt(IPPROTO_TLS, val, len);
	case SO_DOMAIN:
		return put_int_opt(s->family, val, len);
	case SO_ERROR:
		return put_int_opt(take_pending_error(s), val, len);
	case SO_ACCEPTCONN:
		return put_int_opt(s->state == SSA_LISTENING, val, len);
	case SO_TYPE:
		return put_int_opt(SOCK_STREAM, val, len);
	case SO_SNDBUF: {
		int v = -1;

		pthread_mutex_lock(&s->lock);
		if (s->sndbuf_held)
			v = s->app_sndbuf;
		pthread_mutex_unlock(&s->lock);
		if (v >= 0)
			return put_int_opt(v, val, len);
		return sys_getsockopt(fd, SOL_SOCKET, name, val, len);
	}
	default:
		if (acts_on_app_end(SOL_SOCKET, name) || s->net_fd < 0)
			return sys_getsockopt(fd, SOL_SOCKET, name, val, len);
		return sys_getsockopt(s->net_fd, SOL_SOCKET, name, val, len);
	}
}

int ssa_api_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct ssa_sock *s = ssa_table_get(fd);
	int rc;

	if (s == NULL && level == IPPROTO_TLS)
		s = ssa_remote_lookup(fd);
	if (s == NULL)
		return sys_getsockopt(fd, level, name, val, len);
	if (s->remote)
		rc = ssa_remote_getsockopt(s, fd, level, name, val, len);
	else if (level == IPPROTO_TLS)
		rc = ssa_tls_getsockopt(s, name, val, len);
	else if (level == SOL_SOCKET)
		rc = socket_level_get(s, fd, name, val, len);
	else if (s->net_fd < 0)
		rc = ssa_fail(s, SSA_E_NOT_CONNECTED, "the connection is closed");
	else
		rc = sys_getsockopt(s->net_fd, level, name, val, len);
	ssa_sock_unref(s);
	return rc;
}

static int copy_address(const struct sockaddr_storage *ss, socklen_t n, struct sockaddr *addr,
			socklen_t *len)
{
	if (addr == NULL || len == NULL)
		return errno = EFAULT, -1;
	memcpy(addr, ss, *len < n ? *len : n);
	*len = n;
	return 0;
}

/* Whether T is this process's: in a forked child its number may be anything by now. */
static bool net_fd_ours(const struct ssa_sock *s)
{
	return s->net_fd >= 0 && s->generation == ssa_engine_generation();
}

/*
 * T's local address, kept for getsockname() after T is gone (a failed connect) or in a forked
 * child: after bind(), listen(), and once TCP is connected (the engine).
 */
void ssa_note_local_address(struct ssa_sock *s)
{
	struct sockaddr_storage ss;
	socklen_t n = sizeof(ss);

	if (!net_fd_ours(s) || sys_getsockname(s->net_fd, (struct sockaddr *)&ss, &n) < 0)
		return;
	pthread_mutex_lock(&s->lock);
	s->known_local = ss;
	s->known_local_len = n;
	pthread_mutex_unlock(&s->lock);
}

/*
 * Before the handshake, as TCP answers: T's address, else the last one known, else the
 * unspecified address and port 0 of a socket never bound.  Called with s->lock held.
 */
static void local_before_handshake(struct ssa_sock *s, struct sockaddr_storage *ss, socklen_t *n)
{
	if (net_fd_ours(s) && sys_getsockname(s->net_fd, (struct sockaddr *)ss, n) == 0) {
		s->known_local = *ss;
		s->known_local_len = *n;
		return;
	}
	if (s->known_local_len > 0) {
		*ss = s->known_local;
		*n = s->known_local_len;
		return;
	}
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)s->family;
	*n = s->family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* The real TCP addresses: from the handshake's snapshot, or from T before it. */
static int tls_name(int fd, struct sockaddr *addr, socklen_t *len, bool peer)
{
	struct ssa_sock *s = ssa_table_get(fd);
	struct sockaddr_storage ss;
	socklen_t n = sizeof(ss);
	int rc;

	if (s == NULL)
		return peer ? sys_getpeername(fd, addr, len) : sys_getsockname(fd, addr, len);
	if (s->remote) {
		rc = ssa_remote_name(s, fd, addr, len, peer);
		ssa_sock_unref(s);
		return rc;
	}
	pthread_mutex_lock(&s->lock);
	if (s->handshake_done) {
		ss = peer ? s->info.peer : s->info.local;
		n = peer ? s->info.peer_len : s->info.local_len;
		rc = 0;
	} else if (peer) {
		rc = -1;
	} else {
		local_before_handshake(s, &ss, &n);
		rc = 0;
	}
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		errno = ENOTCONN; /* a query: TLS_ERROR keeps the reason of the last failure */
	else
		rc = copy_address(&ss, n, addr, len);
	ssa_sock_unref(s);
	return rc;
}

int ssa_api_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return tls_name(fd, addr, len, false);
}

int ssa_api_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return tls_name(fd, addr, len, true);
}

ssize_t ssa_api_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
		       socklen_t addrlen)
{
	struct ssa_sock *s = (flags & MSG_FASTOPEN) ? ssa_table_get(fd) : NULL;
	ssize_t rc;

	if (s == NULL)
		return sys_sendto(fd, buf, len, flags, addr, addrlen);
	ssa_begin_call(s);
	rc = s->remote ? ssa_remote_sendto(s, fd, buf, len, addr, addrlen)
		       : ssa_sendto_tls(s, fd, buf, len, addr, addrlen);
	ssa_sock_unref(s);
	return rc;
}

/* The program ends its stream (ssa_end.c): what E reads next is no vanished program. */
static int shutdown_app_end(struct ssa_sock *s, int fd, int how)
{
	if (how == SHUT_WR || how == SHUT_RDWR)
		ssa_app_ended(s);
	return sys_shutdown(fd, how);
}

/* shutdown() on A itself: the engine sees it as EOF (SHUT_WR) and turns it into close_notify. */
int ssa_api_shutdown(int fd, int how)
{
	struct ssa_sock *s = ssa_table_get(fd);
	int rc;

	if (s == NULL)
		return sys_shutdown(fd, how);
	ssa_begin_call(s);
	if (s->remote)
		rc = ssa_remote_shutdown(s, fd, how);
	else if (!s->handshake_done)
		rc = ssa_fail(s, SSA_E_NOT_CONNECTED, NULL);
	else
		rc = shutdown_app_end(s, fd, how);
	ssa_sock_unref(s);
	return rc;
}

static void release_listening_port(struct ssa_sock *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->listener != NULL && s->net_fd >= 0)
		sys_shutdown(s->net_fd, SHUT_RDWR); /* leaves LISTEN now; the engine closes it */
	pthread_mutex_unlock(&s->lock);
}

/*
 * close() only forgets the descriptor number: the engine learns that the application has no
 * descriptor of A left from E (HUP), which also covers dup(), fork() and exit.  Through ssad
 * a close() must also say that it was one (ssa_end.c), whatever the descriptor's number: a
 * dup() of A is found by its inode.
 */
int ssa_api_close(int fd)
{
	struct ssa_sock *s;
	int rc;

	if (!ssa_table_maybe_tls(fd) && !ssa_remote_in_use())
		return sys_close(fd);
	s = ssa_table_get(fd);
	if (s != NULL && s->remote) {
		rc = ssa_remote_close(s, fd);
		ssa_sock_unref(s);
		return rc;
	}
	ssa_table_forget_fd(fd);
	rc = sys_close(fd);
	if (s != NULL) {
		/*
		 * The last descriptor of A anywhere: the registry forgets the socket (the engine
		 * keeps its own reference while the connection flushes), and a listener's port is
		 * free when close() returns, as with TCP.  dup()s and forked children keep it.
		 */
		if (!ssa_app_end_open(s)) {
			release_listening_port(s);
			ssa_table_remove(s);
		}
		ssa_sock_unref(s);
	}
	return rc;
}
