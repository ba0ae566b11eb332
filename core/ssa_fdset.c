/*
 * Descriptors owned by the engine (E, T, epoll and event fds).
 *
 * A forked child inherits them but not the engine threads.  If the child kept them, a socket
 * the parent's engine closes would stay open in the child, and the application would never
 * see EOF.  The child closes every one of them (pthread_atfork, ssa_engine.c).
 *
 * They also stay out of the program's way: see the descriptor budget below.
 */
/* prlimit(2) */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <unistd.h>

#include "ssa_internal.h"

#define SSA_FDSET_BITS (1u << 20)
#define WORD_BITS      (8 * sizeof(unsigned long))

static unsigned long owned[SSA_FDSET_BITS / WORD_BITS];

/*
 * Our descriptors stay above 0, 1 and 2: a program that closed its standard streams and then
 * dup2()s a connection onto one of them (inetd style) must not overwrite one of ours, nor we
 * write into its connection.
 */
int ssa_fd_above_stdio(int fd)
{
	int moved;

	if (fd < 0 || fd > 2)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	sys_close(fd);
	return moved;
}

/*
 * The descriptor budget.  A TLS socket costs the program one descriptor, A, and the library
 * two or three of its own (E, T, a dup of A while connecting).  Counted against the program's
 * soft RLIMIT_NOFILE they would cut a program that holds 1000 TCP connections under the usual
 * 1024 down to some 340 TLS ones, and fill the numbers select() can watch.
 *
 * So the library's descriptors live above the program's range: at or above FD_SETSIZE and the
 * soft limit the program set, up to the hard limit.  The kernel checks the limit only when it
 * allocates a number; a descriptor above it goes on working.  For the span of making one (a
 * few system calls, under room_lock) the soft limit is raised to the hard one, the new
 * descriptor is moved up with F_DUPFD, and the program's limit is put back.  The program's own
 * descriptors, A among them, stay under the limit it set, and it runs out with EMFILE where it
 * would have without TLS.  ssa(7) says what a program may notice meanwhile.
 */
static pthread_mutex_t room_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread unsigned room_depth;
static struct rlimit program_limit; /* as the program set it, while the room is open */
static bool room_raised;

static rlim_t room_floor(void)
{
	rlim_t floor = FD_SETSIZE;

	if (program_limit.rlim_cur < program_limit.rlim_max && program_limit.rlim_cur > floor)
		floor = program_limit.rlim_cur;
	return floor;
}

void ssa_fd_room_enter(void)
{
	struct rlimit raised;

	if (room_depth++ > 0)
		return;
	pthread_mutex_lock(&room_lock);
	room_raised = false;
	if (getrlimit(RLIMIT_NOFILE, &program_limit) < 0) {
		program_limit.rlim_cur = program_limit.rlim_max = FD_SETSIZE;
		return;
	}
	if (program_limit.rlim_cur >= program_limit.rlim_max)
		return;
	raised = (struct rlimit){program_limit.rlim_max, program_limit.rlim_max};
	room_raised = prlimit(0, RLIMIT_NOFILE, &raised, NULL) == 0;
}

void ssa_fd_room_leave(void)
{
	int saved = errno;
	struct rlimit now;

	if (--room_depth > 0)
		return;
	/*
	 * Put the program's limit back, unless the program changed it meanwhile (another
	 * thread's setrlimit): then its value stands.
	 */
	if (room_raised && prlimit(0, RLIMIT_NOFILE, &program_limit, &now) == 0 &&
	    (now.rlim_cur != program_limit.rlim_max || now.rlim_max != program_limit.rlim_max))
		prlimit(0, RLIMIT_NOFILE, &now, NULL);
	room_raised = false;
	pthread_mutex_unlock(&room_lock);
	errno = saved;
}

/* fork(): no other thread is in the room when the child is made (ssa_init.c's hooks). */
void ssa_fd_room_lock_for_fork(void)
{
	pthread_mutex_lock(&room_lock);
}

void ssa_fd_room_unlock_after_fork(void)
{
	pthread_mutex_unlock(&room_lock);
}

/*
 * A copy of fd in the library's range; failing that (a hard limit of 1024, or every number up
 * there taken), at least above the standard streams, among the program's.
 */
int ssa_fd_dup(int fd)
{
	int moved = -1;

	ssa_fd_room_enter();
	if (room_floor() < (rlim_t)INT_MAX)
		moved = fcntl(fd, F_DUPFD_CLOEXEC, (int)room_floor());
	ssa_fd_room_leave();
	return moved >= 0 ? moved : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* Moves a descriptor the library just made into its range (see ssa_fd_dup); closes fd. */
int ssa_fd_lift(int fd)
{
	bool placed;
	int moved;

	if (fd < 0)
		return fd;
	ssa_fd_room_enter();
	placed = (rlim_t)fd >= room_floor();
	ssa_fd_room_leave();
	if (placed)
		return fd;
	moved = ssa_fd_dup(fd);
	if (moved < 0 && fd > 2)
		return fd; /* where it is will do */
	sys_close(fd);
	return moved;
}

/* socket(2) for the library's own use, in its range. */
int ssa_fd_socket(int domain, int type, int protocol)
{
	int fd;

	ssa_fd_room_enter();
	fd = ssa_fd_lift(sys_socket(domain, type, protocol));
	ssa_fd_room_leave();
	return fd;
}

/*
 * Whether fd, just made for the program, is one the program's own limit allows: made in the
 * room, it may lie above.  Called inside the room.
 */
bool ssa_fd_within_program_limit(int fd)
{
	return (rlim_t)fd < program_limit.rlim_cur;
}

/*
 * Whether the program has a descriptor free under its limit for one about to arrive by
 * SCM_RIGHTS (the kernel would truncate the message and the descriptor would be lost):
 * a probe, racing with the program's other threads like any EMFILE check.  0, or -1 EMFILE.
 */
int ssa_fd_program_room(int any_fd)
{
	int probe = fcntl(any_fd, F_DUPFD_CLOEXEC, 0);

	if (probe < 0)
		return errno == EMFILE || errno == ENFILE ? (errno = EMFILE, -1) : 0;
	sys_close(probe);
	return 0;
}

void ssa_fd_own(int fd)
{
	if (fd >= 0 && (unsigned)fd < SSA_FDSET_BITS)
		__atomic_fetch_or(&owned[fd / WORD_BITS], 1UL << (fd % WORD_BITS),
				  __ATOMIC_RELAXED);
}

void ssa_fd_disown(int fd)
{
	if (fd >= 0 && (unsigned)fd < SSA_FDSET_BITS)
		__atomic_fetch_and(&owned[fd / WORD_BITS], ~(1UL << (fd % WORD_BITS)),
				   __ATOMIC_RELAXED);
}

int ssa_fd_close_owned(int fd)
{
	if (fd < 0)
		return 0;
	ssa_fd_disown(fd);
	return sys_close(fd);
}

void ssa_fd_close_all_owned(void)
{
	for (unsigned w = 0; w < SSA_FDSET_BITS / WORD_BITS; w++) {
		unsigned long bits = owned[w];

		owned[w] = 0;
		while (bits != 0) {
			int bit = __builtin_ctzl(bits);

			sys_close((int)(w * WORD_BITS) + bit);
			bits &= bits - 1;
		}
	}
}
