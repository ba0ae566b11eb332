/*
 * The control protocol between libssa (the daemon backend, ssa_remote.c) and ssad.
 *
 * A program's library opens AF_UNIX stream connections to ssad (a few, pooled, one request at
 * a time on each).  A request is a fixed header, then data_len bytes of data, then file_len
 * bytes of file content; descriptors travel with the header (SCM_RIGHTS).  A reply is a fixed
 * header, then data_len bytes, with descriptors likewise.
 *
 * Every request about a TLS socket carries the application's end A itself: ssad finds the
 * socket by that open file, never by a number or a TLS_ID, so a process can act only on
 * sockets it holds.  Who is calling (user, executable, hence the profile) ssad learns from the
 * kernel when the connection is accepted, never from the request.
 *
 * Every request that starts a handshake (CONNECT, SENDTO, UPGRADE) ends with c fresh TCP
 * sockets of the caller's, for the revocation fetches (OCSP, CRLs) of its checks: ssad makes
 * none of its own for a caller, so a fetch reaches what the caller may reach.  One whose
 * checks fetch and that brought none is refused before it does anything, EAGAIN with a = how
 * many to send: the caller sends it again with them.
 */
#ifndef SSA_PROTO_H
#define SSA_PROTO_H

#include <stdint.h>

#define SSA_PROTO_MAGIC    0x53534131u /* "SSA1" */
#define SSA_PROTO_MAX_DATA (1u << 20)
#define SSA_PROTO_MAX_FILE (4u << 20)
#define SSA_PROTO_MAX_FDS  8
#define SSA_DAEMON_SOCKET  "/run/ssa/ssad.sock"

enum ssa_op {
	SSA_OP_SOCKET = 1,   /* a domain, b type; fds: T (the caller's TCP socket); reply: A */
	SSA_OP_SETSOCKOPT,   /* fds: A; a level, b name; data value; file: content if c = 1 */
	SSA_OP_GETSOCKOPT,   /* fds: A; a level, b name, c room; reply a = optlen, data */
	SSA_OP_NET_FD,       /* fds: A; a = 1 for bind() (checks), 2 for an option; reply: T */
	SSA_OP_LISTEN,       /* fds: A; a backlog */
	SSA_OP_CONNECT,      /* fds: A, spare TCP sockets, then c fetch sockets (below); data:
				the address */
	SSA_OP_CONNECT_WAIT, /* fds: A; reply EINPROGRESS while the handshake runs */
	SSA_OP_SENDTO,       /* MSG_FASTOPEN: fds: A, then c fetch sockets; a address length;
				data: address, then bytes */
	SSA_OP_SHUTDOWN,     /* fds: A; a how */
	SSA_OP_NAME,         /* fds: A; a = 1 peer, 0 local; reply data: the address */
	SSA_OP_UPGRADE,      /* fds: the connected TCP socket, then c fetch sockets; data: the
				name; reply: A */
	SSA_OP_LOOKUP,       /* fds: any descriptor; reply id and state if it is ssad's */
	SSA_OP_CLOSE,        /* fds: A, about to be closed; on rc 0 the caller closes it, then
				sends one byte (SSA_CLOSE_DONE) on the same connection */
	SSA_OP_MAX
};

/* After SSA_OP_CLOSE: the caller's close() of A has returned (ssa_end.c). */
#define SSA_CLOSE_DONE 'c'

/* The file content of a request names a file the caller opened itself (c of SETSOCKOPT). */
enum { SSA_FILE_NONE, SSA_FILE_CONTENT, SSA_FILE_DIRECTORY, SSA_FILE_ERROR };

struct ssa_request {
	uint32_t magic;
	uint32_t op;
	int32_t a, b, c;
	uint32_t data_len;
	uint32_t file_len;
	int32_t file_err; /* SSA_FILE_ERROR: the caller's errno */
};

struct ssa_reply {
	uint32_t magic;
	int32_t rc;
	int32_t err; /* errno when rc < 0 */
	int32_t a;
	uint32_t data_len;
	int32_t state; /* the socket's enum ssa_state after the call, -1 if none */
	uint64_t id;   /* the socket's TLS_ID, 0 if none */
};

#endif /* SSA_PROTO_H */
