/* TLS socket objects: creation, reference counting, and the failure setter. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssa_internal.h"

struct ssa_sock *ssa_sock_new(int family)
{
	struct ssa_sock *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->setup_lock, NULL);
	pthread_cond_init(&s->pha_cond, NULL);
	s->refs = 1;
	s->id = ssa_next_id();
	s->family = family;
	s->net_fd = -1;
	s->engine_fd = -1;
	s->app_fd = -1;
	s->app_dup = -1;
	s->state = SSA_NEW;
	s->opts.session_ttl = -1;
	s->opts.session_reuse = true;
	s->opts.context = ssa_session_default_context();
	s->policy = ssa_current_policy();
	s->owner_uid = ssa_caller_uid();
	s->opts.rev_stapled = ssa_current_policy()->rev_stapled;
	s->opts.rev_ocsp = ssa_current_policy()->rev_ocsp;
	s->opts.rev_crl = ssa_current_policy()->rev_crl;
	return s;
}

/*
 * setup_lock, for connect() and listen().  Not for a socket inherited from the parent: fork()
 * may have copied the lock held by another thread, and such a socket is never set up here
 * (SSA_E_INHERITED).  Returns whether it was taken, for ssa_setup_end().
 */
bool ssa_setup_begin(struct ssa_sock *s)
{
	if (s->generation != ssa_engine_generation())
		return false;
	pthread_mutex_lock(&s->setup_lock);
	return true;
}

void ssa_setup_end(struct ssa_sock *s, bool taken)
{
	if (taken)
		pthread_mutex_unlock(&s->setup_lock);
}

void ssa_sock_ref(struct ssa_sock *s)
{
	__atomic_fetch_add(&s->refs, 1, __ATOMIC_RELAXED);
}

/*
 * What a finished connection holds: descriptors, the SSL object, buffers.  Released as soon as
 * the engine is done with it, while the small object may stay registered for TLS_ERROR and
 * the getters until the application closes its descriptor.
 */
/*
 * A connection still waiting in its listener's backlog is done only when its peer went away
 * (its A was never handed out, so nobody reads or writes it): it leaves the backlog, its A is
 * closed, and the listener, which may have stopped accepting, is told there is room.
 */
static void release_app_dup(struct ssa_sock *s)
{
	struct ssa_sock *listener = s->parent;
	bool unqueued = false;

	if (listener != NULL)
		pthread_mutex_lock(&listener->lock);
	if (s->queued)
		unqueued = ssa_listen_unqueue(listener, s);
	if (!s->queued) {
		ssa_fd_close_owned(s->app_dup);
		s->app_dup = -1;
	}
	if (listener != NULL)
		pthread_mutex_unlock(&listener->lock);
	if (unqueued) {
		ssa_debug(s, "left the backlog: the peer went away");
		ssa_sock_unref(s); /* the backlog's; not the last: our caller holds one */
		if (ssa_engine_submit(listener, SSA_CMD_DELIVER) < 0) {
			/* the listener's next wake-up sees the room */
		}
	}
}

void ssa_sock_release_resources(struct ssa_sock *s)
{
	if (s->ssl != NULL)
		SSL_free(s->ssl);
	s->ssl = NULL;
	ssa_fd_close_owned(s->net_fd);
	ssa_guard_remove(s->engine_fd); /* a reset closed E before: this end is a clean one */
	ssa_fd_close_owned(s->engine_fd);
	s->net_fd = s->engine_fd = -1;
	release_app_dup(s);
	/*
	 * The listener served the handshake (its context; its trust, for post-handshake auth).
	 * A connection kept only for TLS_ERROR must not keep the listener alive, nor with it the
	 * listener's E once the application closed the listener: in ssad that lasted until the
	 * caller closed the connection and the sweeper forgot it.  A connection still in the
	 * backlog needs no reference to its listener: the listener holds it, and frees it last.
	 */
	if (s->parent != NULL) {
		ssa_sock_unref(s->parent);
		s->parent = NULL;
	}
	ssa_buf_free(&s->to_app);
	ssa_buf_free(&s->to_net);
	ssa_buf_free(&s->early);
}

void (*ssa_sock_free_hook)(const struct ssa_sock *s);
bool (*ssa_sock_admit_hook)(struct ssa_sock *s);

static void sock_free(struct ssa_sock *s)
{
	if (ssa_sock_free_hook != NULL)
		ssa_sock_free_hook(s);
	for (unsigned i = 0; i < s->nspares; i++)
		ssa_fd_close_owned(s->spare_fds[i]);
	for (unsigned i = 0; i < s->nfetch; i++)
		ssa_fd_close_owned(s->fetch_fds[i]);
	ssa_sock_release_resources(s);
	ssa_opts_free(&s->opts);
	if (s->listener != NULL)
		ssa_listener_free(s->listener);
	if (s->parent != NULL)
		ssa_sock_unref(s->parent);
	SSL_CTX_free(s->own_ctx);
	free(s->peer_chain_pem);
	pthread_cond_destroy(&s->pha_cond);
	pthread_mutex_destroy(&s->setup_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void ssa_sock_unref(struct ssa_sock *s)
{
	if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
		sock_free(s);
}

void ssa_opts_free(struct ssa_opts *o)
{
	for (unsigned i = 0; i < o->nchains; i++)
		ssa_chain_free(&o->chains[i]);
	o->nchains = 0;
	X509_STORE_free(o->trust);
	o->trust = NULL;
	free(o->ciphers12);
	free(o->suites13);
	o->ciphers12 = o->suites13 = NULL;
}

static int fail_v(struct ssa_sock *s, enum ssa_error_code code, int sys_errno, const char *fmt,
		  va_list ap)
{
	char details[SSA_ERROR_MAX];
	int err;

	if (fmt != NULL)
		vsnprintf(details, sizeof(details), fmt, ap);
	pthread_mutex_lock(&s->lock);
	err = ssa_error_format(s->error, sizeof(s->error), code, sys_errno,
			       fmt != NULL ? "%s" : NULL, details);
	s->error_errno = err;
	pthread_mutex_unlock(&s->lock);
	errno = err;
	return -1;
}

/* Sets errno and TLS_ERROR for a failure of s, and returns -1.  The caller holds no lock. */
int ssa_fail(struct ssa_sock *s, enum ssa_error_code code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fail_v(s, code, 0, fmt, ap);
	va_end(ap);
	return rc;
}

/* As ssa_fail, for codes that report the system's errno (network errors). */
int ssa_fail_errno(struct ssa_sock *s, enum ssa_error_code code, int err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fail_v(s, code, err, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * A pair made in the room (ssa_fdset.c): E goes to the library's range; A, when it is the
 * program's own descriptor, must be one the program's limit allows, and runs out with EMFILE
 * as a socket() of the program's would.
 */
static int make_pair(bool for_program, int sv[2])
{
	int rc = -1;

	ssa_fd_room_enter();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		goto out;
	if (for_program && !ssa_fd_within_program_limit(sv[0])) {
		sys_close(sv[0]);
		sys_close(sv[1]);
		errno = EMFILE;
		goto out;
	}
	if (!for_program)
		sv[0] = ssa_fd_lift(sv[0]);
	sv[1] = ssa_fd_lift(sv[1]);
	if (sv[0] < 0 || sv[1] < 0) {
		int err = errno;

		if (sv[0] >= 0)
			sys_close(sv[0]);
		if (sv[1] >= 0)
			sys_close(sv[1]);
		errno = err;
		goto out;
	}
	rc = 0;
out:
	ssa_fd_room_leave();
	return rc;
}

/*
 * The application's end A and the engine's end E.  A carries the caller's SOCK_NONBLOCK and
 * SOCK_CLOEXEC; E is always non-blocking and close-on-exec.  for_program: A is the program's
 * descriptor from now on (socket()); otherwise the library holds it until it passes it on
 * (an accepted connection, or ssad's A for its caller), in the library's range.
 */
int ssa_app_end_pair(int type_flags, bool for_program, int *app_fd, int *engine_fd)
{
	int sv[2];

	if (make_pair(for_program, sv) < 0)
		return -1;
	if (fcntl(sv[1], F_SETFL, O_NONBLOCK) < 0)
		goto fail;
	if (!(type_flags & SOCK_CLOEXEC) && fcntl(sv[0], F_SETFD, 0) < 0)
		goto fail;
	if ((type_flags & SOCK_NONBLOCK) && fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0)
		goto fail;
	if (ssa_guard_plant(sv[0], sv[1]) < 0)
		goto fail;
	ssa_fd_own(sv[1]);
	*app_fd = sv[0];
	*engine_fd = sv[1];
	return 0;
fail:
	sys_close(sv[0]);
	sys_close(sv[1]);
	return -1;
}
