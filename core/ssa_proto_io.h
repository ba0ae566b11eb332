/* Sending and receiving control protocol messages (ssa_proto.c). */
#ifndef SSA_PROTO_IO_H
#define SSA_PROTO_IO_H

#include <sys/uio.h>

#include "ssa_internal.h"
#include "ssa_proto.h"

/* Sends all of iov, with nfds descriptors attached to its first byte.  0, or -1 and errno. */
SSA_HIDDEN int ssa_proto_send(int sock, struct iovec *iov, int iovcnt, const int *fds, int nfds);

/* Reads exactly len bytes and the descriptors that come with them (close-on-exec). */
SSA_HIDDEN int ssa_proto_recv(int sock, void *buf, size_t len, int *fds, int max, int *nfds,
			      int flags);
/* The same, failing with ETIMEDOUT once the deadline (ssa_now_ms() time, 0 = none) passes. */
SSA_HIDDEN int ssa_proto_recv_by(int sock, void *buf, size_t len, int *fds, int max, int *nfds,
				 int flags, int64_t deadline_ms);

#endif /* SSA_PROTO_IO_H */
