/*
 * The registry of TLS sockets: which descriptors of this process are TLS sockets.
 *
 * The identity of a TLS socket is the open file of A (its inode), not a descriptor number:
 * the application may dup() it, and may close it behind our back and get the number reused.
 * by_fd is a cache of the last number we saw for each socket; every hit is checked against the
 * inode.  A miss falls back to the inode index, which finds dup()ed descriptors.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ssa_internal.h"

#define SSA_BUCKETS 4096 /* power of two */

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ssa_sock **by_fd;
static size_t by_fd_cap;
static struct ssa_sock *by_ino[SSA_BUCKETS];
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

int ssa_table_insert(struct ssa_sock *s, int app_fd)
{
	struct ssa_sock **ino_head = &by_ino[bucket_of(s->app_ino)];
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
	s->ino_next = *ino_head;
	*ino_head = s;
	s->id_next = by_id[bucket_of(s->id)];
	by_id[bucket_of(s->id)] = s;
	s->registered = true;
	ssa_sock_ref(s);
	nsockets++;
out:
	pthread_mutex_unlock(&table_lock);
	return rc;
}

static struct ssa_sock *find_ino(ino_t ino)
{
	struct ssa_sock *s;

	for (s = by_ino[bucket_of(ino)]; s != NULL; s = s->ino_next)
		if (s->app_ino == ino)
			return s;
	return NULL;
}

struct ssa_sock *ssa_table_get(int fd)
{
	struct ssa_sock *s = NULL;
	struct stat st;
	int saved = errno;

	if (fd < 0 || __atomic_load_n(&nsockets, __ATOMIC_RELAXED) == 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		errno = saved;
		return NULL;
	}
	pthread_mutex_lock(&table_lock);
	if ((size_t)fd < by_fd_cap && by_fd[fd] != NULL && by_fd[fd]->app_ino == st.st_ino)
		s = by_fd[fd];
	else
		s = find_ino(st.st_ino);
	if (s != NULL)
		ssa_sock_ref(s);
	pthread_mutex_unlock(&table_lock);
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
		unlink_from(&by_ino[bucket_of(s->app_ino)], s, offsetof(struct ssa_sock, ino_next));
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
		for (struct ssa_sock *s = by_ino[b]; s != NULL; s = s->ino_next) {
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
