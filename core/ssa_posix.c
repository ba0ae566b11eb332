/*
 * The POSIX face: a program linked with libssa (or run under ssa-run) gets TLS from the plain
 * socket calls.  Each forwards to its ssa_ counterpart, which passes non-TLS descriptors to the
 * system.  read/write/poll and the rest are not here: A is a real descriptor.
 */
#include <sys/socket.h>
#include <unistd.h>

#include <ssa/ssa.h>

#define SSA_EXPORT __attribute__((visibility("default")))

SSA_EXPORT int socket(int domain, int type, int protocol)
{
	return ssa_socket(domain, type, protocol);
}

SSA_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return ssa_connect(fd, addr, len);
}

SSA_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	return ssa_bind(fd, addr, len);
}

SSA_EXPORT int listen(int fd, int backlog)
{
	return ssa_listen(fd, backlog);
}

SSA_EXPORT int accept(int fd, struct sockaddr *restrict addr, socklen_t *restrict len)
{
	return ssa_accept4(fd, addr, len, 0);
}

SSA_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
SSA_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return ssa_accept4(fd, addr, len, flags);
}

SSA_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return ssa_setsockopt(fd, level, name, val, len);
}

SSA_EXPORT int getsockopt(int fd, int level, int name, void *restrict val, socklen_t *restrict len)
{
	return ssa_getsockopt(fd, level, name, val, len);
}

SSA_EXPORT int getsockname(int fd, struct sockaddr *restrict addr, socklen_t *restrict len)
{
	return ssa_getsockname(fd, addr, len);
}

SSA_EXPORT int getpeername(int fd, struct sockaddr *restrict addr, socklen_t *restrict len)
{
	return ssa_getpeername(fd, addr, len);
}

SSA_EXPORT int shutdown(int fd, int how)
{
	return ssa_shutdown(fd, how);
}

SSA_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
			  const struct sockaddr *addr, socklen_t addrlen)
{
	return ssa_sendto(fd, buf, len, flags, addr, addrlen);
}

SSA_EXPORT int close(int fd)
{
	return ssa_close(fd);
}
