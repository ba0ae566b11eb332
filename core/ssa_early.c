/*
 * TLS 1.3 early data (0-RTT, RFC 8446 section 2.3).
 *
 * Client: data given to sendto(..., MSG_FASTOPEN, addr) on an unconnected socket, or written
 * first after connect() with TLS_EARLY_DATA set, goes out with the ClientHello when a resumable
 * session allows it; if there is none, or the server refuses it, it is sent right after the
 * handshake instead, so the application never loses it.
 *
 * Server: a listener takes early data only when the policy says `early-data = true`.  OpenSSL
 * refuses a replayed ClientHello by using each session ticket once (its anti-replay needs the
 * server's session cache, which `session-cache-size = 0` turns off: then no early data).  What
 * arrived early is delivered first and TLS_EARLY_DATA_RECEIVED says how many bytes it was.
 *
 * Unsafe for anything not idempotent: early data can be replayed by an attacker to another
 * server of a fleet that does not share the replay state (RFC 8446 section 8).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include <openssl/err.h>

#include "ssa_internal.h"

#define SSA_MAX_EARLY 16384

void ssa_early_configure_server(SSL_CTX *ctx, const struct ssa_policy *p)
{
	bool on = p->early_data && p->session_cache_size > 0;

	SSL_CTX_set_max_early_data(ctx, on ? SSA_MAX_EARLY : 0);
	SSL_CTX_set_recv_max_early_data(ctx, on ? SSA_MAX_EARLY : 0);
}

/* Client: 1 when nothing (more) goes early, 0 to wait for T, -1 on failure. */
static int write_early(struct ssa_sock *s)
{
	SSL_SESSION *sess = SSL_get_session(s->ssl);
	size_t written;
	int r;

	if (s->early.len == 0 || s->early_done || sess == NULL ||
	    SSL_SESSION_get_max_early_data(sess) < s->early.len) {
		s->early_done = true;
		return 1;
	}
	r = SSL_write_early_data(s->ssl, s->early.data + s->early.off, s->early.len, &written);
	if (r != 1)
		return ssa_handshake_want(s, r);
	s->early_done = true;
	return 1;
}

/* Server: takes what the client sent early into to_app; 1 when done, 0 to wait, -1 failed. */
static int read_early(struct ssa_sock *s)
{
	unsigned char buf[SSA_MAX_EARLY];

	while (!s->early_done) {
		size_t got = 0;
		int r = SSL_read_early_data(s->ssl, buf, sizeof(buf), &got);

		if (r == SSL_READ_EARLY_DATA_ERROR)
			return ssa_handshake_want(s, 0);
		if (got > 0 && ssa_buf_append(&s->to_app, buf, got) < 0)
			return -1;
		s->early_received += got;
		if (r == SSL_READ_EARLY_DATA_FINISH)
			s->early_done = true;
	}
	return 1;
}

/* Before each SSL_do_handshake(): the early data of this side, if any. */
int ssa_early_step(struct ssa_sock *s)
{
	if (s->role == SSA_CLIENT)
		return write_early(s);
	if (SSL_get_max_early_data(s->ssl) == 0) {
		s->early_done = true;
		return 1;
	}
	return read_early(s);
}

/*
 * Client, handshake done: what the server did not take early is sent now, ahead of anything
 * the application writes next.
 */
void ssa_early_settle(struct ssa_sock *s)
{
	if (s->role != SSA_CLIENT || s->early.len == 0)
		return;
	if (SSL_get_early_data_status(s->ssl) == SSL_EARLY_DATA_ACCEPTED) {
		ssa_buf_free(&s->early);
		return;
	}
	ssa_buf_free(&s->to_net);
	s->to_net = s->early;
	memset(&s->early, 0, sizeof(s->early));
}

/*
 * sendto(MSG_FASTOPEN) on an unconnected TLS socket: connect with data for 0-RTT, as TCP Fast
 * Open does.  The data counts as sent (len) once handed over; a failed connect reports its
 * errno as connect() would.
 */
int ssa_sendto_tls(struct ssa_sock *s, int fd, const void *buf, size_t len,
		   const struct sockaddr *addr, socklen_t addrlen)
{
	int rc;

	if (s->state != SSA_NEW)
		return ssa_fail(s, SSA_E_ISCONN, "MSG_FASTOPEN on a socket already connecting");
	if (len > 0 && ssa_buf_append(&s->early, buf, len) < 0)
		return ssa_fail(s, SSA_E_RESOURCES, NULL);
	rc = ssa_connect_tls(s, fd, addr, addrlen);
	if (rc < 0 && errno == EINPROGRESS && ssa_serving_daemon)
		return -1; /* the caller's library waits if A blocks, and counts len sent */
	if (rc == 0 || errno == EINPROGRESS)
		return (int)len;
	return -1;
}
