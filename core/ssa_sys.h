/*
 * Raw system calls (ssa_sys.c).  libssa exports socket(), connect(), close()...: inside the
 * library and its engine those names would come back to our own definitions.
 */
#ifndef SSA_SYS_H
#define SSA_SYS_H

#include <sys/socket.h>
#include <sys/types.h>

#define SSA_SYS_HIDDEN __attribute__((visibility("hidden")))

SSA_SYS_HIDDEN int sys_socket(int domain, int type, int protocol);
SSA_SYS_HIDDEN int sys_connect(int fd, const struct sockaddr *addr, socklen_t len);
SSA_SYS_HIDDEN int sys_bind(int fd, const struct sockaddr *addr, socklen_t len);
SSA_SYS_HIDDEN int sys_listen(int fd, int backlog);
SSA_SYS_HIDDEN int sys_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
SSA_SYS_HIDDEN int sys_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
SSA_SYS_HIDDEN int sys_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
SSA_SYS_HIDDEN int sys_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
SSA_SYS_HIDDEN int sys_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
SSA_SYS_HIDDEN int sys_shutdown(int fd, int how);
SSA_SYS_HIDDEN int sys_close(int fd);
SSA_SYS_HIDDEN ssize_t sys_sendto(int fd, const void *buf, size_t len, int flags,
				  const struct sockaddr *addr, socklen_t addrlen);

#endif /* SSA_SYS_H */
