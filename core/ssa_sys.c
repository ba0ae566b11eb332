/*
 * The system calls the library makes on the application's behalf, never through the POSIX
 * names libssa itself exports (ssa_sys.h).  Built into both the face and the engine module.
 */
#include <sys/syscall.h>
#include <unistd.h>

#include "ssa_sys.h"

int sys_socket(int domain, int type, int protocol)
{
	return (int)syscall(SYS_socket, domain, type, protocol);
}

int sys_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return (int)syscall(SYS_connect, fd, addr, len);
}

int sys_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	return (int)syscall(SYS_bind, fd, addr, len);
}

int sys_listen(int fd, int backlog)
{
	return (int)syscall(SYS_listen, fd, backlog);
}

int sys_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return (int)syscall(SYS_accept4, fd, addr, len, flags);
}

int sys_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return (int)syscall(SYS_setsockopt, fd, level, name, val, len);
}

int sys_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	return (int)syscall(SYS_getsockopt, fd, level, name, val, len);
}

int sys_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return (int)syscall(SYS_getsockname, fd, addr, len);
}

int sys_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return (int)syscall(SYS_getpeername, fd, addr, len);
}

int sys_shutdown(int fd, int how)
{
	return (int)syscall(SYS_shutdown, fd, how);
}

ssize_t sys_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
		   socklen_t addrlen)
{
	return syscall(SYS_sendto, fd, buf, len, flags, addr, addrlen);
}

int sys_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}
