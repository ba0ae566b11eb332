/*
 * The daemon backend's guard byte: how a cut connection reaches the application as
 * ECONNRESET even when ssad cannot act, as when it is killed.
 *
 * The kernel gives A a pending ECONNRESET (after the data queued on it) when E is closed while
 * E's receive queue still holds unread bytes (unix_release_sock).  In-process the engine can
 * write such a byte through its own descriptor of A just before it closes E; ssad holds no
 * descriptor of A (that would keep A open after the application closes it), and a killed ssad
 * does nothing at all.  So in ssad, E's receive queue always holds one byte that is never
 * relayed: a byte planted when the pair is made, then always the last byte already relayed.
 * E has SO_PEEK_OFF 1: the relay peeks past that byte and then consumes exactly as much as it
 * peeked, which leaves the newest relayed byte as the guard.  On a clean end the guard is
 * consumed before E is closed, so the application reads EOF.
 *
 * A queue that is never empty is always readable: ssad watches E edge-triggered
 * (ssa_engine.c) and reads it until EAGAIN.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "ssa_internal.h"

static void peek_past_guard(int engine_fd)
{
	int one = 1;

	sys_setsockopt(engine_fd, SOL_SOCKET, SO_PEEK_OFF, &one, sizeof(one));
}

int ssa_guard_plant(int app_fd, int engine_fd)
{
	if (!ssa_serving_daemon)
		return 0;
	if (send(app_fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
		return -1;
	peek_past_guard(engine_fd);
	return 0;
}

static pthread_key_t sink_key;
static pthread_once_t sink_once = PTHREAD_ONCE_INIT;

static void make_sink_key(void)
{
	pthread_key_create(&sink_key, free);
}

/* Where consumed bytes go: one buffer per engine thread, freed with the thread. */
static unsigned char *sink_buffer(void)
{
	unsigned char *sink;

	pthread_once(&sink_once, make_sink_key);
	sink = pthread_getspecific(sink_key);
	if (sink == NULL && (sink = malloc(SSA_SCRATCH_SIZE)) != NULL &&
	    pthread_setspecific(sink_key, sink) != 0) {
		free(sink);
		sink = NULL;
	}
	return sink;
}

ssize_t ssa_app_read(struct ssa_sock *s, void *buf, size_t len)
{
	unsigned char *sink;
	ssize_t n;

	if (!ssa_serving_daemon)
		return recv(s->engine_fd, buf, len, MSG_DONTWAIT);
	if (len > SSA_SCRATCH_SIZE)
		len = SSA_SCRATCH_SIZE;
	if ((sink = sink_buffer()) == NULL)
		return errno = ENOMEM, -1;
	n = recv(s->engine_fd, buf, len, MSG_PEEK | MSG_DONTWAIT);
	/* The guard and n - 1 bytes go; the last byte peeked stays as the guard. */
	if (n > 0 && recv(s->engine_fd, sink, (size_t)n, MSG_DONTWAIT) != n)
		return errno = EIO, -1; /* nobody else reads E: cannot happen */
	return n;
}

/*
 * Has the application written since the last read?  In ssad E is never empty, so readiness
 * alone cannot tell; a peek past the guard can (and the offset is put back).
 */
bool ssa_app_wrote(struct ssa_sock *s)
{
	unsigned char b;
	ssize_t n;

	if (!ssa_serving_daemon)
		return true;
	n = recv(s->engine_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		peek_past_guard(s->engine_fd);
	return n > 0;
}

/* After the engine consumed bytes itself (the connect filler): peek past the guard again. */
void ssa_guard_restore(int engine_fd)
{
	if (ssa_serving_daemon)
		peek_past_guard(engine_fd);
}

/* A clean end: nothing unread may stay in E, or the application would read ECONNRESET. */
void ssa_guard_remove(int engine_fd)
{
	unsigned char sink[512];

	if (!ssa_serving_daemon || engine_fd < 0)
		return;
	while (recv(engine_fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
}
