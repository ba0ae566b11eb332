/*
 * The in-process engine: threads that own E and T of every TLS socket and drive them from an
 * epoll loop.  Application threads never touch E, T or the SSL object; they hand work over
 * with ssa_engine_submit() and learn the outcome from their own descriptor A.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ssa_internal.h"

#define SSA_MAX_ENGINES     16
#define SSA_EVENTS_PER_WAKE 128

enum { TAG_CMD = 0, TAG_NET = 1, TAG_APP = 2 };

struct ssa_cmd_node {
	struct ssa_sock *sock;
	enum ssa_cmd cmd;
	struct ssa_cmd_node *next;
};

struct ssa_engine {
	pthread_t thread;
	int epfd, evfd;
	pthread_mutex_t lock; /* commands and the exit handshake */
	pthread_cond_t done_cond;
	pthread_cond_t pause_cond; /* fork(): the engine waits here, outside OpenSSL */
	bool pause, paused;
	struct ssa_cmd_node *cmd_head, *cmd_tail;
	struct ssa_cmd_node *adds; /* sockets already in the epoll set, not yet in socks */
	bool exiting, done;
	/* Engine thread only. */
	struct ssa_sock *socks;                   /* every socket this engine owns */
	struct ssa_sock *timer_head, *timer_tail; /* sorted by deadline */
	struct ssa_sock *zombies;                 /* released this round, freed after it */
	unsigned char *scratch;                   /* SSA_SCRATCH_SIZE, for the relay */
};

static pthread_mutex_t engines_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread struct ssa_engine *current_engine; /* in an engine thread: its engine */
static struct ssa_engine *engines[SSA_MAX_ENGINES];
static unsigned nengines, next_engine, generation;

int64_t ssa_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One relay buffer per engine, not per thread: a thread-local array would cost every thread
 * of the application (a server with a thread per connection) 64 KiB of zeroed memory.
 */
unsigned char *ssa_engine_scratch(struct ssa_sock *s)
{
	return s->engine->scratch;
}

int ssa_engine_epoll_fd(struct ssa_sock *s)
{
	return s->engine->epfd;
}

unsigned ssa_engine_generation(void)
{
	return __atomic_load_n(&generation, __ATOMIC_RELAXED);
}

static uint64_t tag(struct ssa_sock *s, int kind)
{
	return (uint64_t)(uintptr_t)s | (uint64_t)kind;
}

static void epoll_update(struct ssa_engine *e, int fd, uint64_t data, uint32_t ev, int op)
{
	struct epoll_event event = {.events = ev, .data.u64 = data};

	epoll_ctl(e->epfd, op, fd, &event);
}

void ssa_engine_set_events(struct ssa_sock *s, uint32_t net, uint32_t app)
{
	struct ssa_engine *e = s->engine;

	if (!s->watched)
		return;
	/* Not registered until there is something to watch: an unconnected TCP socket polls HUP. */
	if (s->net_fd >= 0 && (net != s->net_events || !s->net_registered) &&
	    (net != 0 || s->net_registered)) {
		epoll_update(e, s->net_fd, tag(s, TAG_NET), net,
			     s->net_registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD);
		s->net_registered = true;
		s->net_events = net;
	}
	if (s->engine_fd >= 0 && app != s->app_events) {
		/* ssad's E is never empty (ssa_sentinel.c): only new data may wake us. */
		uint32_t et = ssa_serving_daemon && app != 0 ? EPOLLET : 0;

		epoll_update(e, s->engine_fd, tag(s, TAG_APP), app | et, EPOLL_CTL_MOD);
		s->app_events = app;
	}
}

/* Deadlines: one list per engine, sorted, inserted from the tail (they mostly arrive in order). */
void ssa_engine_timer_set(struct ssa_sock *s, int64_t deadline_ms)
{
	struct ssa_engine *e = s->engine;
	struct ssa_sock *at;

	if (s->deadline_ms != 0) {
		if (s->timer_prev)
			s->timer_prev->timer_next = s->timer_next;
		else
			e->timer_head = s->timer_next;
		if (s->timer_next)
			s->timer_next->timer_prev = s->timer_prev;
		else
			e->timer_tail = s->timer_prev;
		s->timer_prev = s->timer_next = NULL;
	}
	s->deadline_ms = deadline_ms;
	if (deadline_ms == 0)
		return;
	for (at = e->timer_tail; at != NULL && at->deadline_ms > deadline_ms; at = at->timer_prev)
		;
	s->timer_prev = at;
	s->timer_next = at ? at->timer_next : e->timer_head;
	if (s->timer_next)
		s->timer_next->timer_prev = s;
	else
		e->timer_tail = s;
	if (at)
		at->timer_next = s;
	else
		e->timer_head = s;
}

static int next_timeout(struct ssa_engine *e)
{
	int64_t left;

	if (e->timer_head == NULL)
		return -1;
	left = e->timer_head->deadline_ms - ssa_now_ms();
	return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

static void expire_timers(struct ssa_engine *e)
{
	int64_t now = ssa_now_ms();

	while (e->timer_head != NULL && e->timer_head->deadline_ms <= now) {
		struct ssa_sock *s = e->timer_head;

		ssa_engine_timer_set(s, 0);
		ssa_policy_use(s->policy);
		if (s->lingering || s->closing)
			ssa_engine_release(s);
		else if (s->early_wait)
			ssa_connect_early_go(s);
		else if ((s->role == SSA_CLIENT || s->upgrade) && s->state == SSA_CONNECTING)
			ssa_connect_timeout(s);
		else if (s->role == SSA_SERVER && !s->handshake_done)
			ssa_accepted_done(s, false);
	}
}

/* Stops watching s and frees it once this round of events is over. */
void ssa_engine_release(struct ssa_sock *s)
{
	struct ssa_engine *e = s->engine;

	if (s->closing && !s->watched)
		return;
	s->closing = true;
	ssa_debug(s, "released");
	ssa_engine_timer_set(s, 0);
	if (s->watched) {
		if (s->net_registered)
			epoll_ctl(e->epfd, EPOLL_CTL_DEL, s->net_fd, NULL);
		if (s->engine_fd >= 0)
			epoll_ctl(e->epfd, EPOLL_CTL_DEL, s->engine_fd, NULL);
		s->watched = false;
		if (s->eng_prev)
			s->eng_prev->eng_next = s->eng_next;
		else
			e->socks = s->eng_next;
		if (s->eng_next)
			s->eng_next->eng_prev = s->eng_prev;
	}
	s->eng_next = e->zombies;
	e->zombies = s;
}

static void free_zombies(struct ssa_engine *e)
{
	while (e->zombies != NULL) {
		struct ssa_sock *s = e->zombies;

		e->zombies = s->eng_next;
		if (s->listener == NULL) /* a listener's T and E go with the listener object */
			ssa_sock_release_resources(s);
		if (!ssa_app_end_disown(s, s->keep_registered))
			ssa_table_remove(s);
		ssa_sock_unref(s);
	}
}

static void link_sock(struct ssa_engine *e, struct ssa_sock *s)
{
	s->eng_prev = NULL;
	s->eng_next = e->socks;
	if (e->socks)
		e->socks->eng_prev = s;
	e->socks = s;
}

static void settled_by_engine(struct ssa_sock *s)
{
	pthread_mutex_lock(&s->lock);
	s->engine_settles = true;
	pthread_mutex_unlock(&s->lock);
}

/* E joins the epoll set, watched for nothing until the relay or the handshake asks. */
static void add_app_end(struct ssa_engine *e, struct ssa_sock *s)
{
	s->watched = true;
	s->app_events = 0;
	epoll_update(e, s->engine_fd, tag(s, TAG_APP), 0, EPOLL_CTL_ADD);
}

static void watch(struct ssa_engine *e, struct ssa_sock *s)
{
	ssa_sock_ref(s); /* the engine's reference, dropped in free_zombies() */
	settled_by_engine(s);
	add_app_end(e, s);
	link_sock(e, s);
}

/*
 * A WATCH from an application thread costs the engine no wake-up of its own: the submitter
 * adds E to the epoll set itself (epoll_ctl is thread-safe) and leaves the socket on e->adds,
 * which the engine takes, under e->lock, before it looks at any event or command.  The add and
 * the queueing happen under that same lock, so an event of E can only be seen after both.
 */
static void watch_from_outside(struct ssa_engine *e, struct ssa_cmd_node *node)
{
	struct ssa_sock *s = node->sock; /* its reference becomes the engine's */

	settled_by_engine(s);
	pthread_mutex_lock(&e->lock);
	add_app_end(e, s);
	node->next = e->adds;
	__atomic_store_n(&e->adds, node, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&e->lock);
}

/* Engine thread, with e->lock held. */
static void take_adds_locked(struct ssa_engine *e)
{
	struct ssa_cmd_node *list = e->adds;

	e->adds = NULL;
	while (list != NULL) {
		struct ssa_cmd_node *next = list->next;

		link_sock(e, list->sock);
		free(list);
		list = next;
	}
}

static void take_adds(struct ssa_engine *e)
{
	if (__atomic_load_n(&e->adds, __ATOMIC_ACQUIRE) == NULL)
		return; /* the usual case: no lock taken */
	pthread_mutex_lock(&e->lock);
	take_adds_locked(e);
	pthread_mutex_unlock(&e->lock);
}

static void run_command(struct ssa_engine *e, struct ssa_sock *s, enum ssa_cmd cmd)
{
	/* Inline from another socket's work (ssa_engine_submit): that one's policy comes back. */
	const struct ssa_policy *outer = ssa_policy_use(s->policy);

	switch (cmd) {
	case SSA_CMD_WATCH:
		watch(e, s);
		break;
	case SSA_CMD_ADOPT:
		watch(e, s);
		ssa_engine_timer_set(s, ssa_now_ms() + ssa_current_policy()->handshake_timeout_ms);
		ssa_accepted_handshake_ready(s);
		break;
	case SSA_CMD_DELIVER:
		ssa_listen_deliver(s);
		break;
	case SSA_CMD_REVOCATION:
		ssa_connect_revocation_done(s);
		break;
	case SSA_CMD_APP_END:
		ssa_app_end_weigh(s);
		break;
	case SSA_CMD_PHA:
		ssa_pha_start(s);
		break;
	case SSA_CMD_CONNECT:
		ssa_connect_start(s);
		break;
	case SSA_CMD_LISTEN:
		ssa_listen_start(s);
		break;
	}
	ssa_sock_unref(s); /* the submitter's reference */
	ssa_policy_use(outer);
}

static void run_commands(struct ssa_engine *e)
{
	struct ssa_cmd_node *list;
	uint64_t count;

	if (read(e->evfd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&e->lock);
	take_adds_locked(e); /* a command may be for a socket added since this round began */
	list = e->cmd_head;
	e->cmd_head = e->cmd_tail = NULL;
	pthread_mutex_unlock(&e->lock);
	while (list != NULL) {
		struct ssa_cmd_node *next = list->next;

		run_command(e, list->sock, list->cmd);
		free(list);
		list = next;
	}
}

static void dispatch_app(struct ssa_sock *s, uint32_t ev)
{
	if (s->state == SSA_LISTENING)
		ssa_listen_app_ready(s, ev);
	else if (s->handshake_done)
		ssa_relay_app_ready(s, ev);
	else if (s->early_wait && (ev & EPOLLIN) && ssa_app_wrote(s))
		ssa_connect_early_go(s);
	else if (ev & (EPOLLHUP | EPOLLERR))
		ssa_engine_release(s); /* closed before it was ever connected */
}

static void dispatch_net(struct ssa_sock *s, uint32_t ev)
{
	if (s->state == SSA_LISTENING)
		ssa_listen_net_ready(s);
	else if (s->handshake_done)
		ssa_relay_net_ready(s, ev);
	else if (s->role == SSA_CLIENT || s->upgrade)
		ssa_connect_net_ready(s, ev);
	else
		ssa_accepted_handshake_ready(s);
}

static void dispatch(struct ssa_engine *e, struct epoll_event *ev)
{
	struct ssa_sock *s = (struct ssa_sock *)(uintptr_t)(ev->data.u64 & ~(uint64_t)3);
	int kind = (int)(ev->data.u64 & 3);

	if (kind == TAG_CMD) {
		run_commands(e);
		return;
	}
	if (s->closing && !s->lingering)
		return;
	ssa_policy_use(s->policy);
	if (kind == TAG_APP)
		dispatch_app(s, ev->events);
	else
		dispatch_net(s, ev->events);
}

static void begin_exit(struct ssa_engine *e)
{
	struct ssa_sock *s, *next;

	for (s = e->socks; s != NULL; s = next) {
		next = s->eng_next;
		if (s->handshake_done && !s->closing && s->state == SSA_CONNECTED)
			ssa_relay_finish(s);
		else
			ssa_engine_release(s);
	}
}

static bool exit_requested(struct ssa_engine *e)
{
	bool r;

	pthread_mutex_lock(&e->lock);
	r = e->exiting;
	pthread_mutex_unlock(&e->lock);
	return r;
}

/*
 * OpenSSL writes to T with write(2): a peer that reset the connection would raise SIGPIPE and
 * kill the application.  Engine threads never take it; the write fails with EPIPE instead.
 */
void ssa_block_sigpipe(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/*
 * A fork() while this thread is inside OpenSSL would leave OpenSSL's locks held in the child
 * for ever; so fork_prepare asks every engine to stop here first, between two rounds.
 */
static void wait_while_forking(struct ssa_engine *e)
{
	if (!__atomic_load_n(&e->pause, __ATOMIC_ACQUIRE))
		return; /* the usual case, every round: no lock taken */
	pthread_mutex_lock(&e->lock);
	while (e->pause) {
		e->paused = true;
		pthread_cond_broadcast(&e->pause_cond);
		pthread_cond_wait(&e->pause_cond, &e->lock);
	}
	e->paused = false;
	pthread_mutex_unlock(&e->lock);
}

static void *engine_main(void *arg)
{
	struct ssa_engine *e = arg;
	struct epoll_event evs[SSA_EVENTS_PER_WAKE];
	bool exiting = false;

	ssa_block_sigpipe();
	current_engine = e;
	for (;;) {
		int n = epoll_wait(e->epfd, evs, SSA_EVENTS_PER_WAKE, next_timeout(e));

		take_adds(e);
		for (int i = 0; i < n; i++)
			dispatch(e, &evs[i]);
		expire_timers(e);
		free_zombies(e);
		wait_while_forking(e);
		if (!exiting && exit_requested(e)) {
			exiting = true;
			begin_exit(e);
			free_zombies(e);
		}
		if (exiting && e->socks == NULL)
			break;
	}
	/* Free OpenSSL's state of this thread now: exit() may not wait for thread destructors. */
	OPENSSL_thread_stop();
	pthread_mutex_lock(&e->lock);
	e->done = true;
	pthread_cond_broadcast(&e->done_cond);
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

static struct ssa_engine *engine_start(void)
{
	struct ssa_engine *e = calloc(1, sizeof(*e));
	pthread_attr_t attr;

	if (e == NULL)
		return NULL;
	ssa_fd_room_enter(); /* in the library's range of descriptors (ssa_fdset.c) */
	e->epfd = ssa_fd_lift(epoll_create1(EPOLL_CLOEXEC));
	e->evfd = ssa_fd_lift(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	ssa_fd_room_leave();
	e->scratch = malloc(SSA_SCRATCH_SIZE);
	if (e->epfd < 0 || e->evfd < 0 || e->scratch == NULL)
		goto fail;
	ssa_fd_own(e->epfd);
	ssa_fd_own(e->evfd);
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->done_cond, NULL);
	pthread_cond_init(&e->pause_cond, NULL);
	epoll_update(e, e->evfd, TAG_CMD, EPOLLIN, EPOLL_CTL_ADD);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&e->thread, &attr, engine_main, e) != 0) {
		pthread_attr_destroy(&attr);
		goto fail;
	}
	pthread_attr_destroy(&attr);
	return e;
fail:
	ssa_fd_close_owned(e->epfd);
	ssa_fd_close_owned(e->evfd);
	free(e->scratch);
	free(e);
	return NULL;
}

static unsigned engines_wanted(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	const char *env = ssa_env("SSA_ENGINE_THREADS");

	if (env != NULL && atoi(env) > 0)
		n = atoi(env);
	return n < 1 ? 1 : n > SSA_MAX_ENGINES ? SSA_MAX_ENGINES : (unsigned)n;
}

/* Engines start on first use; sockets are spread over them round robin. */
struct ssa_engine *ssa_engine_pick(void)
{
	struct ssa_engine *e = NULL;

	pthread_mutex_lock(&engines_lock);
	if (nengines == 0) {
		unsigned want = engines_wanted();

		while (nengines < want && (engines[nengines] = engine_start()) != NULL)
			nengines++;
	}
	if (nengines > 0)
		e = engines[next_engine++ % nengines];
	pthread_mutex_unlock(&engines_lock);
	return e;
}

/*
 * From the socket's own engine thread a command runs at once: a queue and an eventfd round
 * trip would only delay it to the next round.  Elsewhere it is queued, and the eventfd is
 * written only by the submitter that finds the queue empty, since the engine takes the whole
 * queue after each wake-up.
 */
int ssa_engine_submit(struct ssa_sock *s, enum ssa_cmd cmd)
{
	struct ssa_engine *e = s->engine;
	struct ssa_cmd_node *node;
	uint64_t one = 1;
	bool wake;

	if (e == current_engine) {
		ssa_sock_ref(s);
		run_command(e, s, cmd);
		return 0;
	}
	node = malloc(sizeof(*node));
	if (node == NULL)
		return -1;
	ssa_sock_ref(s);
	node->sock = s;
	node->cmd = cmd;
	node->next = NULL;
	if (cmd == SSA_CMD_WATCH) {
		watch_from_outside(e, node);
		return 0;
	}
	pthread_mutex_lock(&e->lock);
	wake = e->cmd_head == NULL;
	if (e->cmd_tail)
		e->cmd_tail->next = node;
	else
		e->cmd_head = node;
	e->cmd_tail = node;
	pthread_mutex_unlock(&e->lock);
	if (wake && write(e->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -1;
	return 0;
}

/*
 * At exit(): what the application wrote must still reach the peer, as the kernel would do for
 * TCP.  Each engine flushes its connections, sends close_notify, and stops; we wait for it,
 * bounded by the policy's linger timeout.
 */
void ssa_engine_flush_all(void)
{
	uint64_t one = 1;
	struct timespec until;
	int64_t ms = ssa_current_policy()->linger_timeout_ms;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&engines_lock);
	for (unsigned i = 0; i < nengines; i++) {
		pthread_mutex_lock(&engines[i]->lock);
		engines[i]->exiting = true;
		pthread_mutex_unlock(&engines[i]->lock);
		if (write(engines[i]->evfd, &one, sizeof(one)) < 0)
			continue;
	}
	for (unsigned i = 0; i < nengines; i++) {
		struct ssa_engine *e = engines[i];

		pthread_mutex_lock(&e->lock);
		while (!e->done && pthread_cond_timedwait(&e->done_cond, &e->lock, &until) == 0)
			;
		pthread_mutex_unlock(&e->lock);
	}
	pthread_mutex_unlock(&engines_lock);
}

/* Every engine parked outside OpenSSL (bounded: one stuck engine must not hang fork()). */
void ssa_engine_fork_prepare(void)
{
	uint64_t one = 1;

	pthread_mutex_lock(&engines_lock);
	for (unsigned i = 0; i < nengines; i++) {
		struct ssa_engine *e = engines[i];
		struct timespec until;

		pthread_mutex_lock(&e->lock);
		__atomic_store_n(&e->pause, true, __ATOMIC_RELEASE);
		if (write(e->evfd, &one, sizeof(one)) < 0)
			continue; /* the lock stays held: fork_parent/child release it */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		while (!e->paused && !e->done &&
		       pthread_cond_timedwait(&e->pause_cond, &e->lock, &until) == 0)
			;
	}
}

void ssa_engine_fork_parent(void)
{
	for (unsigned i = 0; i < nengines; i++) {
		__atomic_store_n(&engines[i]->pause, false, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&engines[i]->pause_cond);
		pthread_mutex_unlock(&engines[i]->lock);
	}
	pthread_mutex_unlock(&engines_lock);
}

/*
 * The child has copies of the engines' memory but not their threads.  Their descriptors go
 * (see ssa_fdset.c); the copies are abandoned, not freed, since the parent's threads may have
 * been in the middle of using them.  New sockets get new engines.
 */
void ssa_engine_fork_child(void)
{
	/* Abandoned, yet reachable: a leak checker at the child's exit must not count them. */
	static struct ssa_engine *abandoned[SSA_MAX_ENGINES * 8];
	static unsigned nabandoned;

	for (unsigned i = 0; i < nengines; i++) {
		pthread_mutex_unlock(&engines[i]->lock);
		if (nabandoned < sizeof(abandoned) / sizeof(abandoned[0]))
			abandoned[nabandoned++] = engines[i];
	}
	nengines = 0;
	next_engine = 0;
	generation++;
	ssa_fd_close_all_owned();
	pthread_mutex_unlock(&engines_lock);
}
