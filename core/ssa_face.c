/*
 * The explicit API, as libssa exports it: ssa_X() is X() with TLS semantics for IPPROTO_TLS
 * sockets and the system call itself for any other descriptor.
 *
 * The TLS work lives in the engine module.  Until a program asks for TLS (an IPPROTO_TLS
 * socket, or an IPPROTO_TLS or TCP_UPGRADE_TLS option) it is not loaded, no descriptor can be
 * a TLS socket of this process, and every call goes straight to the system.
 */
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>

#include <ssa/ssa.h>

#include "config.h"
#include "ssa_face.h"
#include "ssa_sys.h"

#define SSA_EXPORT __attribute__((visibility("default")))

static bool asks_for_tls(int level, int name)
{
	return level == IPPROTO_TLS || (level == IPPROTO_TCP && name == TCP_UPGRADE_TLS);
}

SSA_EXPORT const char *ssa_version(void)
{
	return PACKAGE_VERSION;
}

SSA_EXPORT int ssa_socket(int domain, int type, int protocol)
{
	const struct ssa_engine_ops *e;

	if (protocol != IPPROTO_TLS)
		return sys_socket(domain, type, protocol);
	e = ssa_engine_load();
	if (e == NULL)
		return errno = EPROTONOSUPPORT, -1; /* as a kernel without the protocol */
	return e->socket(domain, type, protocol);
}

SSA_EXPORT int ssa_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	const struct ssa_engine_ops *e = ssa_engine_loaded();

	return e ? e->connect(fd, addr, len) : sys_connect(fd, addr, len);
}

SSA_EXPORT int ssa_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	const struct ssa_engine_ops *e = ssa_engine_loaded();

	return e ? e->bind(fd, addr, len) : sys_bind(fd, addr, len);
}

SSA_EXPORT int ssa_listen(int fd, int backlog)
{
	const struct ssa_engine_ops *e = ssa_engine_loaded();

	return e ? e->listen(fd, backlog) : sys_listen(fd, backlog);
}

SSA_EXPORT int ssa_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	const struct ssa_engine_ops *e = ssa_engine_loaded();

	return e ? e->accept4(fd, addr, len, flags) : sys_accept4(fd, addr, len, flags);
}

SSA_EXPORT int ssa_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return ssa_accept4(fd, addr, len, 0);
}

/* An option of level IPPROTO_TLS may name a descriptor another process made (ssad finds it). */
SSA_EXPORT int ssa_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	const struct ssa_engine_ops *e =
	    asks_for_tls(level, name) ? ssa_engine_load() : ssa_engine_loaded();

	return e ? e->setsockopt(fd, level, name, val, len)
		 : sys_setsockopt(fd, level, name, val, len);
}

SSA_EXPORT int ssa_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	const struct ssa_engine_ops *e =
	    asks_for_tls(level, name) ? ssa_engine_load() : ssa_engine_loaded();

	return e ? e->getsockopt(fd, level, name, val, len)
		 : sys_getsockopt(fd, level, name, val, len);
}

SSA_EXPORT int ssa_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	const struct ssa_engine_ops *e = ssa_engine_loaded();

	return e ? e->getsockname(fd, addr, len) : sys_getsockname(fd, addr, len);
}

SSA_EXPORT int ssa_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	const struct ssa_engine_ops *e = ssa_engine_loaded();

	return e ? e->getpeername(fd, addr, len) : sys_getpeername(fd, addr, len);
}

SSA_EXPORT int ssa_shutdown(int fd, int how)
{
	const struct ssa_engine_ops *e = ssa_engine_loaded();

	return e ? e->shutdown(fd, how) : sys_shutdown(fd, how);
}

SSA_EXPORT ssize_t ssa_sendto(int fd, const void *buf, size_t len, int flags,
			      const struct sockaddr *addr, socklen_t addrlen)
{
	const struct ssa_engine_ops *e = ssa_engine_loaded();

	return e ? e->sendto(fd, buf, len, flags, addr, addrlen)
		 : sys_sendto(fd, buf, len, flags, addr, addrlen);
}

SSA_EXPORT int ssa_close(int fd)
{
	const struct ssa_engine_ops *e = ssa_engine_loaded();

	return e ? e->close(fd) : sys_close(fd);
}

SSA_EXPORT int ssa_is_tls(int fd)
{
	const struct ssa_engine_ops *e = ssa_engine_loaded();

	return e ? e->is_tls(fd) : 0;
}

SSA_EXPORT char *ssa_last_error(int fd, char *buf, size_t size)
{
	const struct ssa_engine_ops *e = ssa_engine_loaded();

	return e ? e->last_error(fd, buf, size) : (errno = ENOTSOCK, NULL);
}
