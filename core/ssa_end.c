/*
 * How the program ends its stream in ssad: orderly (close_notify) or a cut (SPEC section 5: a
 * stream ends cleanly only when the program closed it; a vanished program is a cut).
 *
 * In-process the question does not arise: a program that dies takes its engine with it, and
 * the peer sees TCP's FIN without close_notify.  ssad outlives the program and sees the same
 * thing either way: E reads EOF once the last descriptor of A is gone, by close() or by the
 * kernel cleaning up after a killed process.  So the program's library says which it was:
 *
 * - shutdown(SHUT_WR or SHUT_RDWR) is a request (SSA_OP_SHUTDOWN): the stream is marked as
 *   ended (ssa_app_ended) before ssad shuts A itself.
 * - close() of a connection is announced (SSA_OP_CLOSE), done, and then said to have returned,
 *   on the same connection to ssad.  Only after it has returned can anyone tell whether it
 *   closed the last descriptor of A (a dup, a forked child, a descriptor passed on may keep A
 *   open): the engine weighs that word against E, which says HUP once A is closed everywhere.
 * - exit() closes the program's TLS descriptors that way (ssa_remote_exit), as the in-process
 *   engine flushes at exit.
 *
 * EOF on E with none of these is a program that vanished: killed, _exit() without closing,
 * or a raw close() the library never saw.  The connection is cut: TCP's FIN without
 * close_notify, which the peer reports as truncation.  While an announced close() has not
 * said it returned, the verdict waits: the word comes at once, or the caller's death closes
 * its connection to ssad, which says it too (ssad_serve.c).  EOF while A is still open is a
 * shutdown(SHUT_WR) made without us (a raw system call of a live program): orderly, since no
 * vanished program leaves A open.
 */
#include <poll.h>
#include <sys/epoll.h>

#include "ssa_internal.h"

/* Is every descriptor of A gone?  Engine thread: E is ours to poll. */
static bool app_end_hung_up(struct ssa_sock *s)
{
	struct pollfd p = {.fd = s->engine_fd};

	if (s->engine_fd < 0)
		return true;
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLHUP))
		return false;
	/* Once we shut E ourselves (the peer's close_notify), a mere shutdown of A also hangs up.
	 */
	return !s->app_end_shut || ssa_app_end_closed_everywhere(s);
}

/* close() calls that returned meanwhile: one of them closed A's last descriptor if E hung up. */
static void weigh_closes_locked(struct ssa_sock *s, bool hung_up)
{
	if (s->closes_done > 0 && hung_up)
		s->app_ended = true;
	s->closes_done = 0;
}

/* Engine thread, E at EOF (ssad): how the program ended its stream. */
enum ssa_app_end ssa_app_end_verdict(struct ssa_sock *s)
{
	enum ssa_app_end v;
	bool hung_up;

	if (!ssa_serving_daemon)
		return SSA_END_ORDERLY; /* the program is alive: we run inside it */
	hung_up = app_end_hung_up(s);
	pthread_mutex_lock(&s->lock);
	weigh_closes_locked(s, hung_up);
	if (s->app_ended || !hung_up)
		v = SSA_END_ORDERLY;
	else if (s->closes_pending > 0)
		v = SSA_END_WAIT;
	else
		v = SSA_END_VANISHED;
	s->end_waiting = v == SSA_END_WAIT;
	pthread_mutex_unlock(&s->lock);
	return v;
}

/* shutdown(SHUT_WR or SHUT_RDWR), before A is shut: what E reads next is an orderly end. */
void ssa_app_ended(struct ssa_sock *s)
{
	pthread_mutex_lock(&s->lock);
	s->app_ended = true;
	pthread_mutex_unlock(&s->lock);
}

/* ssad: a close() of A is about to happen (SSA_OP_CLOSE). */
void ssa_app_close_announced(struct ssa_sock *s)
{
	pthread_mutex_lock(&s->lock);
	s->closes_pending++;
	pthread_mutex_unlock(&s->lock);
}

/*
 * ssad: that close() returned (or its caller died before saying so: returned is false).  The
 * engine weighs it now, while whatever else holds A is most likely as it was.
 */
void ssa_app_close_returned(struct ssa_sock *s, bool returned)
{
	pthread_mutex_lock(&s->lock);
	if (s->closes_pending > 0)
		s->closes_pending--;
	if (returned)
		s->closes_done++;
	pthread_mutex_unlock(&s->lock);
	if (ssa_engine_submit(s, SSA_CMD_APP_END) < 0) {
		/* out of memory: the verdict waits for the next event of E */
	}
}

/* Engine thread (SSA_CMD_APP_END): weigh returned close() calls; an EOF waiting on them goes on. */
void ssa_app_end_weigh(struct ssa_sock *s)
{
	bool relaying =
	    !s->closing && !s->lingering && s->handshake_done && !s->app_eof && s->engine_fd >= 0;
	bool hung_up = relaying && app_end_hung_up(s), waiting;

	pthread_mutex_lock(&s->lock);
	waiting = s->end_waiting;
	if (!waiting)
		weigh_closes_locked(s, hung_up);
	pthread_mutex_unlock(&s->lock);
	if (waiting && relaying)
		ssa_relay_app_ready(s, EPOLLIN); /* reads the EOF again, for the verdict */
}
