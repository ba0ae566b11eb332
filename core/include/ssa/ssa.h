/*
 * <ssa/ssa.h> -- the explicit C API of the Secure Socket API.
 *
 * Each ssa_X() behaves as the POSIX call X() does on an IPPROTO_TLS socket (see ssa(7)) and
 * passes any other descriptor straight to the system.  Programs linked with
 * `pkg-config --libs ssa` get the same behaviour from the plain POSIX names; these names exist
 * for bindings and for programs that prefer not to rely on symbol interposition.
 *
 * All calls return what their POSIX counterpart returns (0, a descriptor, a byte count, or -1
 * with errno set).  After a failure on a TLS socket, getsockopt(fd, IPPROTO_TLS, TLS_ERROR)
 * or ssa_last_error() explains it in one line.
 */
#ifndef SSA_SSA_H
#define SSA_SSA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#include <ssa/in_tls.h>

#ifdef __cplusplus
extern "C" {
#endif

int ssa_socket(int domain, int type, int protocol);
int ssa_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
int ssa_bind(int fd, const struct sockaddr *addr, socklen_t addrlen);
int ssa_listen(int fd, int backlog);
int ssa_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
int ssa_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
int ssa_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen);
int ssa_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen);
int ssa_getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen);
int ssa_getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen);
int ssa_shutdown(int fd, int how);
ssize_t ssa_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
		   socklen_t addrlen);
int ssa_close(int fd);

/* 1 if fd is a TLS socket of this library, 0 if not. */
int ssa_is_tls(int fd);

/*
 * The TLS_ERROR text of fd's last failure ("" if none), copied into buf.  Returns buf, or
 * NULL with errno = ENOTSOCK when fd is not a TLS socket.
 */
char *ssa_last_error(int fd, char *buf, size_t size);

/* Version string of the library, for example "0.1.0". */
const char *ssa_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SSA_SSA_H */
