/*
 * The one interface between libssa's face and its engine module.
 *
 * libssa.so itself links no TLS library: it exports the socket calls and loads the engine
 * module (ssa-engine.so, OpenSSL and the policy parser) when a program first asks for TLS.
 * The module exports a single object, SSA_ENGINE_SYMBOL, of this type; the face refuses a
 * module whose abi or version differ from its own, since both come from one build.
 */
#ifndef SSA_ENGINE_OPS_H
#define SSA_ENGINE_OPS_H

#include <sys/socket.h>
#include <sys/types.h>

#define SSA_ENGINE_ABI    1
#define SSA_ENGINE_SYMBOL "ssa_engine_module"
#define SSA_ENGINE_FILE   "ssa-engine.so"

struct ssa_engine_ops {
	unsigned abi;
	const char *version;
	int (*socket)(int domain, int type, int protocol);
	int (*connect)(int fd, const struct sockaddr *addr, socklen_t len);
	int (*bind)(int fd, const struct sockaddr *addr, socklen_t len);
	int (*listen)(int fd, int backlog);
	int (*accept4)(int fd, struct sockaddr *addr, socklen_t *len, int flags);
	int (*setsockopt)(int fd, int level, int name, const void *val, socklen_t len);
	int (*getsockopt)(int fd, int level, int name, void *val, socklen_t *len);
	int (*getsockname)(int fd, struct sockaddr *addr, socklen_t *len);
	int (*getpeername)(int fd, struct sockaddr *addr, socklen_t *len);
	int (*shutdown)(int fd, int how);
	ssize_t (*sendto)(int fd, const void *buf, size_t len, int flags,
			  const struct sockaddr *addr, socklen_t addrlen);
	int (*close)(int fd);
	int (*is_tls)(int fd);
	char *(*last_error)(int fd, char *buf, size_t size);
};

#endif /* SSA_ENGINE_OPS_H */
