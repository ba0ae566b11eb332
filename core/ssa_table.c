/*
 * The registry of TLS sockets: which descriptors of this process are TLS sockets.
 *
 * The identity of a TLS socket is the open file of A, not a descriptor number: the
 * application may dup() it, fork, pass it with SCM_RIGHTS (an inetd-style server hands a
 * connection to a handler running as another user), and may close it behind our back and get
 * the number reused.  Every descriptor of A, however obtained, is the same socket, and the
 * kernel names that socket by its cookie (SO_COOKIE, socket(7)): a 64-bit number given once
 * per socket, which nobody can choose, and which getsockopt() answers only for a real socket
 * (an O_PATH descriptor or a file fails).  The inode is no identity: in ssad a caller may
 * send a socket file of a tmpfs whose inode number it made equal to another user's A.
 *
 * by_fd is a cache of the last number we saw for each socket; every hit is checked against the
 * cookie.  A miss falls back to the cookie index, which finds dup()ed descriptors.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ssa_internal.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57 /* <asm-generic/socket.h> */
#endif

#define SSA_BUCKETS 4096 /* power of two */

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ssa_sock **by_fd;
static size_t by_fd_cap;
static struct ssa_sock *by_cookie[SSA_BUCKETS];
static struct ssa_sock *by_id[SSA_BUCKETS];
static unsigned long nsockets;

static unsigned bucket_of(uint64_t key)
{
	key ^= key >> 29;
	key *= 0xbf58476d1ce4e5b9ULL;
	key ^= key >> 32;
	return (unsigned)(key & (SSA_BUCKETS - 1));
}

static int grow_by_fd(int fd)
{
	size_t cap = by_fd_cap ? by_fd_cap : 256;
	struct ssa_sock **n;

	while (cap <= (size_t)fd)
		cap *= 2;
	n = realloc(by_fd, cap * sizeof(*n));
	if (n == NULL)
		return -1;
	memset(n + by_fd_cap, 0, (cap - by_fd_cap) * sizeof(*n));
	by_fd = n;
	by_fd_cap = cap;
	return 0;
}

static void unlink_from(struct ssa_sock **head, struct ssa_sock *s, size_t link_offset)
{
	struct ssa_sock **pp = head;

	while (*pp != NULL && *pp != s)
		pp = (struct ssa_sock **)((char *)*pp + link_offset);
	if (*pp == s)
		*pp = *(struct ssa_sock **)((char *)s + link_offset);
}

/* One syscall, which fails for anything but a real socket. */
int ssa_socket_cookie(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);

	return sys_getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len);
}

/* What names A from now on, read from a descriptor of it: s is new, A is ours. */
int ssa_app_end_identify(struct ssa_sock *s, int app_fd)
{
	struct stat st;

	if (ssa_socket_cookie(app_fd, &s->app_cookie) < 0 || fstat(app_fd, &st) < 0)
		return -1;
	s->app_dev = st.st_dev;
	s->app_ino = st.st_ino;
	return 0;
}

/*
 * Whether fd is a descriptor of A.  The cookie decides; in ssad the device and inode must
 * agree as well, at the price of one more syscall per request: older kernels counted cookies
 * per network namespace, where a caller in a namespace of its own could make a socket with
 * another's number.  In-process the registry is the program's own: the cookie is enough.
 */
static bool is_app_end(const struct ssa_sock *s, int fd, uint64_t cookie)
{
	struct stat st;

	if (s->app_cookie != cookie)
		return false;
	if (!ssa_serving_daemon)
		return true;
	return fstat(fd, &st) == 0 && st.st_dev == s->app_dev && st.st_ino == s->app_ino;
}

bool ssa_fd_is_app_end(const struct ssa_sock *s, int fd)
{
	uint64_t cookie;
	int saved = errno;
	bool yes = fd >= 0 && ssa_socket_cookie(fd, &cookie) == 0 && is_app_end(s, fd, cookie);

	errno = saved;
	return yes;
}

int ssa_table_insert(struct ssa_sock *s, int app_fd)
{
	struct ssa_sock **cookie_head = &by_cookie[bucket_of(s->app_cookie)];
	int rc = -1;

	pthread_mutex_lock(&table_lock);
	if (app_fd >= 0) {
		if ((size_t)app_fd >= by_fd_cap && grow_by_fd(app_fd) < 0)
			goto out;
		if (by_fd[app_fd] != NULL && by_fd[app_fd]->app_fd == app_fd)
			by_fd[app_fd]->app_fd = -1;
		by_fd[app_fd] = s;
		s->app_fd = app_fd;
	}
	rc = 0;
	if (s->registered)
		goto out; /* known already: only its descriptor number was new */
	s->cookie_next = *cookie_head;
	*cookie_head = s;
	s->id_next = by_id[bucket_of(s->id)];
	by_id[bucket_of(s->id)] = s;
	s->registered = true;
	ssa_sock_ref(s);
	nsockets++;
out:
	pthread_mutex_unlock(&table_lock);
	return rc;
}

static struct ssa_sock *find_cookie(uint64_t cookie)
{
	struct ssa_sock *s;

	for (s = by_cookie[bucket_of(cookie)]; s != NULL; s = s->cookie_next)
		if (s->app_cookie == cookie)
			return s;
	return NULL;
}

/*
 * On the path of every interposed socket call: one syscall in-process.  The check of ssad
 * (is_app_end) runs after the lock is dropped; s is referenced meanwhile.
 */
struct ssa_sock *ssa_table_get(int fd)
{
	struct ssa_sock *s = NULL;
	uint64_t cookie;
	int saved = errno;

	if (fd < 0 || __atomic_load_n(&nsockets, __ATOMIC_RELAXED) == 0)
		return NULL;
	if (ssa_socket_cookie(fd, &cookie) < 0) {
		errno = saved;
		return NULL;
	}
	pthread_mutex_lock(&table_lock);
	if ((size_t)fd < by_fd_cap && by_fd[fd] != NULL && by_fd[fd]->app_cookie == cookie)
		s = by_fd[fd];
	else
		s = find_cookie(cookie);
	if (s != NULL)
		ssa_sock_ref(s);
	pthread_mutex_unlock(&table_lock);
	if (s != NULL && !is_app_end(s, fd, cookie)) {
		ssa_sock_unref(s);
		s = NULL;
	}
	errno = saved;
	return s;
}

struct ssa_sock *ssa_table_get_id(uint64_t id)
{
	struct ssa_sock *s;

	pthread_mutex_lock(&table_lock);
	for (s = by_id[bucket_of(id)]; s != NULL; s = s->id_next)
		if (s->id == id)
			break;
	if (s != NULL)
		ssa_sock_ref(s);
	pthread_mutex_unlock(&table_lock);
	return s;
}

bool ssa_table_maybe_tls(int fd)
{
	bool hit;

	if (fd < 0 || __atomic_load_n(&nsockets, __ATOMIC_RELAXED) == 0)
		return false;
	pthread_mutex_lock(&table_lock);
	hit = (size_t)fd < by_fd_cap && by_fd[fd] != NULL;
	pthread_mutex_unlock(&table_lock);
	return hit;
}

void ssa_table_forget_fd(int fd)
{
	pthread_mutex_lock(&table_lock);
	if (fd >= 0 && (size_t)fd < by_fd_cap && by_fd[fd] != NULL) {
		if (by_fd[fd]->app_fd == fd)
			by_fd[fd]->app_fd = -1;
		by_fd[fd] = NULL;
	}
	pthread_mutex_unlock(&table_lock);
}

void ssa_table_remove(struct ssa_sock *s)
{
	bool was = false;

	pthread_mutex_lock(&table_lock);
	if (s->registered) {
		unlink_from(&by_cookie[bucket_of(s->app_cookie)], s,
			    offsetof(struct ssa_sock, cookie_next));
		unlink_from(&by_id[bucket_of(s->id)], s, offsetof(struct ssa_sock, id_next));
		if (s->app_fd >= 0 && (size_t)s->app_fd < by_fd_cap && by_fd[s->app_fd] == s)
			by_fd[s->app_fd] = NULL;
		s->registered = false;
		nsockets--;
		was = true;
	}
	pthread_mutex_unlock(&table_lock);
	if (was)
		ssa_sock_unref(s);
}

/*
 * ssad: sockets kept for TLS_ERROR after their engine let them go are forgotten once no
 * process holds their A any more (the application's close() happens in another process).
 * Returns how many were forgotten.
 */
unsigned ssa_table_sweep_closed(void)
{
	struct ssa_sock **found = NULL;
	size_t n = 0, cap = 0;
	unsigned forgotten = 0;

	pthread_mutex_lock(&table_lock);
	for (size_t b = 0; b < SSA_BUCKETS; b++)
		for (struct ssa_sock *s = by_cookie[b]; s != NULL; s = s->cookie_next) {
			if (!s->keep_registered)
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct ssa_sock **grown = realloc(found, ncap * sizeof(*found));

				if (grown == NULL)
					goto collected;
				found = grown;
				cap = ncap;
			}
			ssa_sock_ref(s);
			found[n++] = s;
		}
collected:
	pthread_mutex_unlock(&table_lock);
	for (size_t i = 0; i < n; i++) {
		if (!ssa_app_end_open(found[i])) { /* the kernel's word: no descriptor left */
			ssa_table_remove(found[i]);
			forgotten++;
		}
		ssa_sock_unref(found[i]);
	}
	free(found);
	return forgotten;
}

void ssa_table_lock_for_fork(void)
{
	pthread_mutex_lock(&table_lock);
}

void ssa_table_unlock_after_fork(void)
{
	pthread_mutex_unlock(&table_lock);
}
