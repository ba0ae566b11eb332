/*
 * Is the application's end A still open anywhere (any descriptor, any process)?
 *
 * Neither close() nor poll() can tell: the application may have dup()ed A or forked, and HUP
 * on E also follows a mere shutdown of both directions.  The kernel can: a unix socket is
 * findable through sock_diag (NETLINK_SOCK_DIAG, unix_diag) by its inode exactly until its
 * last descriptor is closed.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#include "ssa_internal.h"

static pthread_mutex_t diag_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Sockets whose close() the engines have not settled yet (see ssa_app_end_open).  Past
 * SSA_DEFERRED_MAX, close() asks the kernel itself again: a program that closes sockets faster
 * than the engines let them go (a loop of socket() and close()) must not pile up their
 * descriptors E and T.
 */
#define SSA_DEFERRED_MAX 64
static unsigned deferred;
static int diag_fd = -1;
static pid_t diag_owner;
static ino_t diag_ino;

/* Still our netlink socket?  The program may have dup2()ed something onto its number. */
static bool still_ours(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_ino == diag_ino;
}

static int diag_socket(void)
{
	struct stat st;

	if (diag_fd >= 0 && diag_owner == getpid() && still_ours(diag_fd))
		return diag_fd;
	/* sys_*: the interposed names would take the registry's lock, held during fork(). */
	diag_fd = ssa_fd_above_stdio(
	    sys_socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
	diag_owner = getpid();
	diag_ino = diag_fd >= 0 && fstat(diag_fd, &st) == 0 ? st.st_ino : 0;
	if (diag_fd >= 0) {
		struct timeval tv = {.tv_sec = 1};

		sys_setsockopt(diag_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ssa_fd_own(diag_fd);
	}
	return diag_fd;
}

/*
 * 1 open, 0 closed everywhere, -1 cannot tell (no sock_diag: the caller assumes open).  The
 * cookie makes the answer about A itself: a later socket with A's inode number (they wrap)
 * answers ESTALE, and A is gone.
 */
static int ask_kernel(ino_t ino, uint64_t cookie)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg = {
	    .nlh = {.nlmsg_len = sizeof(msg),
		    .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		    .nlmsg_flags = NLM_F_REQUEST},
	    .req = {.sdiag_family = AF_UNIX,
		    .udiag_ino = (unsigned)ino,
		    .udiag_cookie = {(uint32_t)cookie, (uint32_t)(cookie >> 32)}},
	};
	char buf[1024];
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	int fd = diag_socket(), err;
	ssize_t n;

	if (fd < 0 || send(fd, &msg, sizeof(msg), 0) < 0 ||
	    (n = recv(fd, buf, sizeof(buf), 0)) < (ssize_t)sizeof(*h))
		return -1;
	if (h->nlmsg_type != NLMSG_ERROR)
		return 1;
	err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
	return err == -ENOENT || err == -ESTALE ? 0 : -1;
}

/*
 * Opened with the first TLS socket (and again in a forked child, whose copy was closed with
 * the engine's descriptors), so that later closes hold no surprise descriptor.
 */
void ssa_diag_init(void)
{
	pthread_mutex_lock(&diag_lock);
	diag_socket();
	pthread_mutex_unlock(&diag_lock);
}

void ssa_diag_fork_child(void)
{
	deferred = 0; /* the parent's engines, which would have settled them, are gone */
	pthread_mutex_init(&diag_lock, NULL);
	diag_fd = -1;
	diag_socket();
}

static bool kernel_says_open(const struct ssa_sock *s)
{
	int r;

	pthread_mutex_lock(&diag_lock);
	r = ask_kernel(s->app_ino, s->app_cookie);
	pthread_mutex_unlock(&diag_lock);
	return r != 0;
}

/*
 * close(): false when A is closed everywhere, so the registry must forget s now.  The kernel's
 * answer is not cheap: it walks every unix socket of the network namespace (unix_diag looks
 * sockets up by inode that way), tens of microseconds even on an idle machine.  So while an
 * engine holds s, close() asks nothing: the engine sees HUP on E once the last descriptor of A
 * is gone, and settles the registry when it lets s go (ssa_app_end_disown).  A listener's port
 * must be free when close() returns, and a socket of another engine generation (a forked
 * child) has no engine here: those ask at once.
 */
bool ssa_app_end_open(struct ssa_sock *s)
{
	bool defer;

	pthread_mutex_lock(&s->lock);
	defer = s->engine_settles && s->listener == NULL &&
		s->generation == ssa_engine_generation() &&
		(s->close_seen || __atomic_load_n(&deferred, __ATOMIC_RELAXED) < SSA_DEFERRED_MAX);
	if (defer && !s->close_seen) {
		s->close_seen = true;
		__atomic_fetch_add(&deferred, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&s->lock);
	return defer || kernel_says_open(s);
}

/*
 * Engine, letting s go: whether the registry keeps it.  Only with a reason to (TLS_ERROR stays
 * readable until close()), and not if a close() left the question to us and A is closed by
 * now.  From here on close() asks the kernel itself.
 */
bool ssa_app_end_disown(struct ssa_sock *s, bool keep)
{
	bool seen;

	pthread_mutex_lock(&s->lock);
	s->engine_settles = false;
	seen = s->close_seen;
	s->close_seen = false;
	pthread_mutex_unlock(&s->lock);
	if (seen)
		__atomic_fetch_sub(&deferred, 1, __ATOMIC_RELAXED);
	return keep && (!seen || kernel_says_open(s));
}

/* ssad: is A closed everywhere?  (Unknown counts as closed: the caller saw E hang up.) */
bool ssa_app_end_closed_everywhere(struct ssa_sock *s)
{
	int r;

	pthread_mutex_lock(&diag_lock);
	r = ask_kernel(s->app_ino, s->app_cookie);
	pthread_mutex_unlock(&diag_lock);
	return r != 1;
}
