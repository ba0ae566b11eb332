/*
 * STARTTLS: setsockopt(fd, IPPROTO_TCP, TCP_UPGRADE_TLS, name, len) turns a connected TCP
 * socket into a TLS socket after its plaintext exchange: a client that verifies `name`, or with
 * an empty value a server with the policy's certificates.
 *
 * The TCP connection becomes the engine's T (a dup, so bytes already queued by the kernel, say
 * the peer's ClientHello, are not lost) and the descriptor number is given A with dup3().  So
 * the number stays, but the open file changes: an epoll set holding fd must remove and re-add
 * it (ssa(7), BUGS).  A blocking socket returns when the handshake has ended; a non-blocking
 * one returns at once and polls writable then, with SO_ERROR telling the outcome, as connect().
 */
/* dup3(2) */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ssa_internal.h"

static int tcp_family(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int proto = 0, type = 0;
	socklen_t l1 = sizeof(proto), l2 = sizeof(type);

	if (sys_getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l1) < 0 ||
	    sys_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) < 0)
		return -1;
	if (proto != IPPROTO_TCP || type != SOCK_STREAM)
		return errno = EOPNOTSUPP, -1;
	if (sys_getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1; /* ENOTCONN: STARTTLS needs the connection */
	return ss.ss_family;
}

/* The server side takes the policy's certificates, like a listener without options. */
static int prepare_server(struct ssa_sock *s, char *why, size_t n)
{
	const struct ssa_policy *p = ssa_current_policy();

	for (unsigned i = 0; i < p->ncerts && s->opts.nchains < SSA_MAX_CHAINS; i++) {
		struct ssa_chain *c = &s->opts.chains[s->opts.nchains];

		if (ssa_chain_load(c, p->certs[i].chain, why, n) < 0)
			return -1;
		s->opts.nchains++;
		if (ssa_key_load(c, p->certs[i].key, why, n) != 0)
			return -1;
	}
	if (s->opts.nchains == 0) {
		snprintf(why, n, "a server needs server-certificates in the policy");
		return -1;
	}
	s->own_ctx = ssa_server_ctx_new(s, why, n);
	return s->own_ctx != NULL ? 0 : -1;
}

/* fd's open file becomes A; the TCP connection moves to T.  Returns A's flags kept. */
static int swap_in_app_end(struct ssa_sock *s, int fd)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD), app, eng;

	if (fl < 0 || fdfl < 0 || (s->net_fd = ssa_fd_dup(fd)) < 0)
		return -1;
	ssa_fd_own(s->net_fd);
	if (fcntl(s->net_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    ssa_app_end_pair((fl & O_NONBLOCK ? SOCK_NONBLOCK : 0) |
				 (fdfl & FD_CLOEXEC ? SOCK_CLOEXEC : 0),
			     false, &app, &eng) < 0)
		return -1;
	s->engine_fd = eng;
	if (ssa_app_end_identify(s, app) < 0 ||
	    dup3(app, fd, fdfl & FD_CLOEXEC ? O_CLOEXEC : 0) < 0) {
		sys_close(app);
		return -1;
	}
	sys_close(app);
	return 0;
}

int ssa_upgrade(int fd, const void *val, socklen_t len)
{
	char name[SSA_HOSTNAME_MAX + 1] = "", why[SSA_ERROR_MAX];
	int family = tcp_family(fd), rc;
	struct ssa_sock *s;

	if (family < 0)
		return -1;
	if (ssa_library_init() < 0 || (s = ssa_sock_new(family)) == NULL)
		return -1;
	s->generation = ssa_engine_generation();
	s->engine = ssa_engine_pick();
	s->upgrade = true;
	s->role = len > 0 && val != NULL && *(const char *)val != '\0' ? SSA_CLIENT : SSA_SERVER;
	rc = -1;
	if (s->role == SSA_CLIENT && (ssa_opt_string(s, val, len, name, SSA_HOSTNAME_MAX) < 0 ||
				      !ssa_valid_hostname(name))) {
		errno = EINVAL;
		goto out;
	}
	snprintf(s->opts.hostname, sizeof(s->opts.hostname), "%s", name);
	if (s->role == SSA_SERVER && prepare_server(s, why, sizeof(why)) < 0) {
		fprintf(stderr, "ssa: TCP_UPGRADE_TLS: %s\n", why);
		errno = EPROTO;
		goto out;
	}
	if (s->engine == NULL || swap_in_app_end(s, fd) < 0 || ssa_table_insert(s, fd) < 0 ||
	    ssa_engine_submit(s, SSA_CMD_WATCH) < 0)
		goto out;
	rc = ssa_connect_tls(s, fd, NULL, 0);
out:
	ssa_sock_unref(s);
	return rc;
}
