/*
 * Descriptors owned by the engine (E, T, epoll and event fds).
 *
 * A forked child inherits them but not the engine threads.  If the child kept them, a socket
 * the parent's engine closes would stay open in the child, and the application would never
 * see EOF.  The child closes every one of them (pthread_atfork, ssa_engine.c).
 */
#include <unistd.h>

#include <fcntl.h>

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
