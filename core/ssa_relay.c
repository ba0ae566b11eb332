/*
 * The data path: plaintext between the application's pair (E) and TLS records on T.
 *
 * Level-triggered: a direction whose destination would block stops watching its source and
 * watches the destination instead, so nothing is read that cannot be delivered, and the
 * kernel's buffers provide the back-pressure.  Data is copied once into a per-thread buffer
 * and only kept (in to_app/to_net) when a destination blocks part-way.
 *
 * End of stream (SPEC section 3): the peer's close_notify becomes EOF on A; a TCP EOF or error
 * without it becomes ECONNRESET on A after the data received.  The application's
 * shutdown(SHUT_WR) becomes close_notify and a FIN; its close() becomes the same after all it
 * wrote has been sent.  In ssad, EOF on E is that only if the program ended the stream; a
 * program that vanished is a cut (ssa_end.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <dirent.h>
#include <unistd.h>

#include <openssl/err.h>

#include "ssa_internal.h"

#define SSA_ROUNDS                                                                                 \
	16 /* chunks per wake-up and direction, so one busy socket cannot starve others */

void ssa_buf_free(struct ssa_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static int buf_keep(struct ssa_buf *b, const unsigned char *data, size_t len)
{
	if (b->cap < len) {
		unsigned char *n = realloc(b->data, len);

		if (n == NULL)
			return -1;
		b->data = n;
		b->cap = len;
	}
	memcpy(b->data, data, len);
	b->off = 0;
	b->len = len;
	return 0;
}

int ssa_buf_append(struct ssa_buf *b, const unsigned char *data, size_t len)
{
	if (b->off + b->len + len > b->cap) {
		unsigned char *n = realloc(b->data, b->off + b->len + len);

		if (n == NULL)
			return -1;
		b->data = n;
		b->cap = b->off + b->len + len;
	}
	memcpy(b->data + b->off + b->len, data, len);
	b->len += len;
	return 0;
}

/* Gives the buffer back once emptied: idle connections hold no plaintext buffers. */
static void buf_consumed(struct ssa_buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		ssa_buf_free(b);
}

static uint32_t net_interest(struct ssa_sock *s)
{
	uint32_t ev = 0;

	if (!s->net_eof && s->to_app.len == 0)
		ev |= EPOLLIN;
	if (s->to_net.len > 0 || (s->app_eof && !s->close_notify_sent))
		ev |= EPOLLOUT;
	if (s->lingering)
		ev = EPOLLIN;
	return ev;
}

/* No EPOLLRDHUP: level-triggered, it would fire forever after a half-close.  HUP always comes. */
static uint32_t app_interest(struct ssa_sock *s)
{
	uint32_t ev = 0;

	if (!s->app_eof && s->to_net.len == 0)
		ev |= EPOLLIN;
	if (s->to_app.len > 0)
		ev |= EPOLLOUT;
	return ev;
}

static void update_interest(struct ssa_sock *s)
{
	if (!s->closing)
		ssa_engine_set_events(s, net_interest(s), app_interest(s));
}

/*
 * A dup of A: the number we know first, then the process's table, where its inode finds the
 * candidates and its cookie decides (in ssad, numbers may hold any caller's descriptors).
 */
static int find_app_end(struct ssa_sock *s)
{
	char link[64], want[64];
	struct dirent *de;
	DIR *d;
	int fd = s->app_dup >= 0 ? fcntl(s->app_dup, F_DUPFD_CLOEXEC, 3) : -1;

	if (fd < 0 && s->app_fd >= 0)
		fd = fcntl(s->app_fd, F_DUPFD_CLOEXEC, 3);
	if (ssa_fd_is_app_end(s, fd))
		return fd;
	if (fd >= 0)
		sys_close(fd);
	snprintf(want, sizeof(want), "socket:[%lu]", (unsigned long)s->app_ino);
	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	fd = -1;
	while (fd < 0 && (de = readdir(d)) != NULL) {
		char path[300];
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0 && (link[n] = '\0', strcmp(link, want) == 0))
			fd = fcntl(atoi(de->d_name), F_DUPFD_CLOEXEC, 3);
		if (fd >= 0 && !ssa_fd_is_app_end(s, fd)) {
			sys_close(fd);
			fd = -1;
		}
	}
	closedir(d);
	return fd;
}

/*
 * Closing E while its receive queue holds unread bytes makes the kernel report ECONNRESET on A
 * once A's queued data has been read (af_unix: unix_release_sock).  One byte written through
 * A guarantees the queue is not empty.
 */
static void reset_app_end(struct ssa_sock *s)
{
	int unread = 0;

	if (s->engine_fd < 0)
		return;
	if (ioctl(s->engine_fd, FIONREAD, &unread) == 0 && unread == 0) {
		int a = find_app_end(s);

		if (a >= 0) {
			if (send(a, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				unread = -1;
			sys_close(a);
		}
	}
	ssa_fd_close_owned(s->engine_fd);
	s->engine_fd = -1;
}

/* The connection is broken: the application sees ECONNRESET after what it already has. */
void ssa_relay_cut(struct ssa_sock *s)
{
	ssa_pha_abort(s);
	if (s->handshake_done && !s->app_gone) {
		/* The application still holds A: TLS_ERROR must say what happened. */
		ssa_fail_errno(s, SSA_E_NETWORK, ECONNRESET, "%s",
			       s->cut_reason[0] ? s->cut_reason
						: "connection closed without close_notify");
		s->keep_registered = true;
	}
	ssa_debug(s, "cut (app_gone=%d app_eof=%d net_eof=%d)", s->app_gone, s->app_eof,
		  s->net_eof);
	if (s->to_app.len > 0) {
		/* Deliver what was decrypted before the break, as far as A has room. */
		ssize_t n = send(s->engine_fd, s->to_app.data + s->to_app.off, s->to_app.len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)n;
	}
	ssa_engine_release(s);
	reset_app_end(s);
}

/* Nothing more to read from A and nobody to write to: E goes, or its HUP would fire forever. */
static void drop_app_end(struct ssa_sock *s)
{
	if (s->engine_fd < 0)
		return;
	epoll_ctl(ssa_engine_epoll_fd(s), EPOLL_CTL_DEL, s->engine_fd, NULL);
	ssa_guard_remove(s->engine_fd);
	ssa_fd_close_owned(s->engine_fd);
	s->engine_fd = -1;
}

static void linger_or_release(struct ssa_sock *s)
{
	ssa_debug(s, "linger");
	/*
	 * Closing T with unread data would make the kernel send RST and drop what is still in
	 * flight, close_notify included.  So wait for the peer's FIN (or the linger timeout).
	 */
	s->lingering = true;
	s->net_eof = false;
	ssa_engine_timer_set(s, ssa_now_ms() + ssa_current_policy()->linger_timeout_ms);
	ssa_engine_set_events(s, EPOLLIN, 0);
}

static void send_close_notify(struct ssa_sock *s)
{
	int r = SSL_shutdown(s->ssl);

	if (r < 0 && SSL_get_error(s->ssl, r) == SSL_ERROR_WANT_WRITE)
		return; /* retried when T is writable */
	ERR_clear_error();
	ssa_debug(s, "close_notify sent");
	s->close_notify_sent = true;
	sys_shutdown(s->net_fd, SHUT_WR);
}

/*
 * Encrypts and sends; what T cannot take now stays in to_net, to be offered again unchanged
 * (SSL_write(3): a retry after WANT_WRITE must repeat the same data).  1 = all sent, 0 = kept,
 * -1 = broken.
 */
static int write_net(struct ssa_sock *s, const unsigned char *data, size_t len)
{
	size_t written;

	while (len > 0) {
		int r = SSL_write_ex(s->ssl, data, len, &written);
		int e;

		if (r == 1) {
			data += written;
			len -= written;
			continue;
		}
		e = SSL_get_error(s->ssl, r);
		if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
			return -1;
		if (data != s->to_net.data + s->to_net.off && buf_keep(&s->to_net, data, len) < 0)
			return -1;
		return 0;
	}
	return 1;
}

/* Application to network. Returns -1 when the connection was cut. */
static int pump_to_net(struct ssa_sock *s)
{
	unsigned char *chunk = ssa_engine_scratch(s);

	if (s->to_net.len > 0) {
		int r = write_net(s, s->to_net.data + s->to_net.off, s->to_net.len);

		if (r <= 0)
			return r;
		ssa_buf_free(&s->to_net);
	}
	/*
	 * At exit nothing may stay unread in E, and no event would come to say EAGAIN: read until
	 * E is empty (or T blocks) rather than for a fixed number of rounds.
	 */
	/* ssad watches E edge-triggered (ssa_sentinel.c): it reads until EAGAIN. */
	for (int round = 0;
	     (round < SSA_ROUNDS || s->exit_flush || ssa_serving_daemon) && !s->app_eof; round++) {
		ssize_t n = s->engine_fd < 0 ? 0 : ssa_app_read(s, chunk, SSA_SCRATCH_SIZE);
		int r;

		if (n < 0 && errno == EAGAIN && s->exit_flush) {
			s->app_eof = true; /* exiting: nothing more can come */
			break;
		}
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (n == 0) {
			enum ssa_app_end end = ssa_app_end_verdict(s);

			if (end == SSA_END_WAIT)
				return 0; /* a close() under way says how it went (ssa_end.c) */
			if (end == SSA_END_VANISHED) {
				s->app_gone = true;
				snprintf(s->cut_reason, sizeof(s->cut_reason),
					 "the program ended without closing the connection");
				return -1;
			}
			s->app_eof = true;
			break;
		}
		r = write_net(s, chunk, (size_t)n);
		if (r <= 0)
			return r;
		/*
		 * A short read emptied E's queue (a unix stream read takes every queued byte that
		 * fits): asking again would only return EAGAIN.  E is level-triggered, so what
		 * comes next wakes us.  Not in ssad, whose E is edge-triggered: an EOF that came
		 * with the data would never be seen.
		 */
		if ((size_t)n < SSA_SCRATCH_SIZE && !s->exit_flush && !ssa_serving_daemon)
			break;
	}
	if (s->app_eof && s->to_net.len == 0 && !s->close_notify_sent)
		send_close_notify(s);
	return 0;
}

static int deliver_to_app(struct ssa_sock *s, const unsigned char *data, size_t len)
{
	ssize_t n;

	if (s->app_gone)
		return 0; /* closed: what arrives now has no reader, as with TCP */
	n = send(s->engine_fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0) {
		if (errno == EPIPE)
			return 0; /* the application shut reading: data is dropped, as TCP does */
		if (errno != EAGAIN)
			return -1;
		n = 0;
	}
	if ((size_t)n < len && buf_keep(&s->to_app, data + n, len - (size_t)n) < 0)
		return -1;
	return 0;
}

static void note_cut_reason(struct ssa_sock *s, int r)
{
	unsigned long e = ERR_peek_last_error();
	int err = SSL_get_error(s->ssl, r);

	if (e != 0)
		snprintf(s->cut_reason, sizeof(s->cut_reason), "TLS error: %s",
			 ERR_reason_error_string(e) ?: "unknown");
	else if (err == SSL_ERROR_SYSCALL && errno != 0)
		snprintf(s->cut_reason, sizeof(s->cut_reason), "%s", strerror(errno));
	else
		snprintf(s->cut_reason, sizeof(s->cut_reason),
			 "the peer closed the connection without close_notify (truncation)");
	ERR_clear_error();
}

/*
 * Decrypts as many records as fit in the scratch buffer, then hands them to A in one send.
 * 1 = more may follow, 0 = nothing more now, -1 = broken, and net_eof on close_notify.
 * The peer's data always reaches A before its EOF or error does.
 */
static int read_net(struct ssa_sock *s, unsigned char *chunk, size_t *filled)
{
	while (*filled < SSA_SCRATCH_SIZE) {
		size_t got;
		int r = SSL_read_ex(s->ssl, chunk + *filled, SSA_SCRATCH_SIZE - *filled, &got);

		if (r == 1) {
			*filled += got;
			/*
			 * A record shorter than the maximum with nothing left inside OpenSSL: the
			 * peer paused (a request, a reply), and another read(2) of T would most
			 * likely fail with EAGAIN.  T is level-triggered, so more data wakes us;
			 * full records (a stream) go on being read in this round.
			 */
			if (got < SSL3_RT_MAX_PLAIN_LENGTH && !SSL_has_pending(s->ssl))
				return 0;
			continue;
		}
		switch (SSL_get_error(s->ssl, r)) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			return 0;
		case SSL_ERROR_ZERO_RETURN: /* close_notify: EOF for the application */
			ssa_debug(s, "close_notify received");
			s->net_eof = true;
			return 0;
		default: /* truncation (EOF without close_notify) or a TLS error */
			note_cut_reason(s, r);
			return -1;
		}
	}
	return 1;
}

/* Network to application.  Returns -1 when the connection was cut. */
static int pump_to_app(struct ssa_sock *s)
{
	unsigned char *chunk = ssa_engine_scratch(s);
	int more = 1;

	if (s->to_app.len > 0 && s->app_gone)
		ssa_buf_free(&s->to_app);
	if (s->to_app.len > 0) {
		ssize_t n = send(s->engine_fd, s->to_app.data + s->to_app.off, s->to_app.len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		buf_consumed(&s->to_app, (size_t)n);
		if (s->to_app.len > 0)
			return 0;
	}
	/*
	 * No round limit: records buffered inside OpenSSL (read-ahead) would not wake us again.
	 * A's buffer bounds the loop: when it is full, to_app keeps the rest.
	 */
	while (more > 0 && !s->net_eof && s->to_app.len == 0) {
		size_t filled = 0;

		more = read_net(s, chunk, &filled);
		if (filled > 0 && deliver_to_app(s, chunk, filled) < 0)
			return -1;
	}
	ssa_pha_check(s);
	if (more < 0)
		return -1;
	if (s->net_eof && s->to_app.len == 0 && s->engine_fd >= 0 && !s->app_end_shut) {
		sys_shutdown(s->engine_fd, SHUT_WR);
		s->app_end_shut = true;
	}
	return 0;
}

/*
 * What is left to do once the pumps have run: both directions closed (release), the
 * application gone while the peer may still send (linger), or more relaying.
 */
static void settle(struct ssa_sock *s)
{
	if (s->closing || s->lingering)
		return;
	if (s->app_eof && s->close_notify_sent && s->to_net.len == 0) {
		if (s->net_eof && s->to_app.len == 0) {
			/* A keeps what is queued on it, then reads EOF; TLS_ERROR stays readable.
			 */
			s->keep_registered = !s->app_gone;
			ssa_engine_release(s);
			return;
		}
		if (s->app_gone) {
			drop_app_end(s);
			linger_or_release(s);
			return;
		}
	}
	update_interest(s);
}

void ssa_relay_net_ready(struct ssa_sock *s, uint32_t events)
{
	if (s->lingering) {
		/* The peer's close_notify and its FIN often come together: read on to the FIN. */
		ssize_t n = 1;

		for (int round = 0; round < SSA_ROUNDS && n > 0; round++)
			n = recv(s->net_fd, ssa_engine_scratch(s), SSA_SCRATCH_SIZE, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			ssa_engine_release(s);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && pump_to_app(s) < 0) {
		ssa_relay_cut(s);
		return;
	}
	if ((events & EPOLLOUT) && pump_to_net(s) < 0) {
		ssa_relay_cut(s);
		return;
	}
	settle(s);
}

void ssa_relay_app_ready(struct ssa_sock *s, uint32_t events)
{
	/*
	 * HUP on E: A shut both ways.  Unless we shut our side ourselves (after the peer's
	 * close_notify), that means every descriptor of A is closed.
	 */
	if ((events & EPOLLHUP) && !s->app_end_shut)
		s->app_gone = true;
	if ((events & EPOLLOUT) && pump_to_app(s) < 0) {
		ssa_relay_cut(s);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && pump_to_net(s) < 0) {
		ssa_relay_cut(s);
		return;
	}
	settle(s);
}

/*
 * With read-ahead, the handshake's last read may have taken application data too: it waits
 * inside OpenSSL, and T will not poll readable for it.  So the first pump does not wait for T.
 */
void ssa_relay_start(struct ssa_sock *s)
{
	if (SSL_has_pending(s->ssl) && pump_to_app(s) < 0) {
		ssa_relay_cut(s);
		return;
	}
	settle(s);
}

/* At exit: send what the application wrote, then close_notify, as if it had closed A. */
void ssa_relay_finish(struct ssa_sock *s)
{
	s->exit_flush = true;
	s->app_gone = true;
	if (pump_to_net(s) < 0) {
		ssa_relay_cut(s);
		return;
	}
	settle(s);
}
