/*
 * bench_common.h -- what bench_server and bench_client share: the transport switch, one
 * connection type over which both plain sockets and OpenSSL move bytes, the wire format of
 * the first message, and a clock.
 *
 * The ssa transport is plain POSIX calls on an IPPROTO_TLS socket, so once connected it moves
 * bytes exactly like tcp: only socket creation, options and error text differ.  It is compiled
 * in only with -DWITH_SSA, because it needs <ssa/in_tls.h> and, to mean anything, a binary
 * linked with -lssa.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

enum transport { T_TCP, T_OPENSSL, T_SSA };

/* One connection: fd always valid; ssl set only for the openssl transport. */
struct conn {
	int fd;
	SSL *ssl;
};

/*
 * First bytes a client sends, so that one server serves every scenario:
 *   'h'                      handshake: server answers one byte and waits for EOF
 *   'b' + u64 big-endian N   bulk: N bytes follow, server answers one byte after the last
 *   'p' + u32 big-endian S   pingpong: server echoes S-byte messages until EOF
 *   'i'                      idle: server answers one byte once the connection is parked, then
 *                            holds it without a thread until EOF
 */
#define OP_HANDSHAKE 'h'
#define OP_BULK 'b'
#define OP_PINGPONG 'p'
#define OP_IDLE 'i'

#define BULK_CHUNK (256 * 1024) /* write and read size for bulk, as the brief fixes */

/* "tcp", "openssl", "ssa" -> transport; exits with a message on anything else. */
enum transport parse_transport(const char *name);
const char *transport_name(enum transport t);

/* Exits with a message if t is ssa and this binary was built without -DWITH_SSA. */
void require_transport_built(enum transport t);

/* Parse a non-negative integer with optional K/M/G (binary) suffix; exits on garbage. */
uint64_t parse_size(const char *opt, const char *text);

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);

/* Print "bench: <what>: <reason>" with OpenSSL's error queue or errno, then exit(1). */
void die(const char *what);
void die_ssl(const char *what);

/* die() for a failed transfer: errno for plain sockets (and TLS_ERROR for ssa), else OpenSSL's. */
void die_conn(const struct conn *c, const char *what);

/* Move exactly len bytes; return 0, or -1 on error or early EOF (errno/SSL errors kept). */
int conn_write_all(struct conn *c, const void *buf, size_t len);
int conn_read_all(struct conn *c, void *buf, size_t len);

/* Read up to len bytes: >0 bytes, 0 on clean EOF, -1 on error. */
long conn_read_some(struct conn *c, void *buf, size_t len);

/* Orderly close: close_notify for openssl (and ssa, by the library), then close(fd). */
void conn_close(struct conn *c);

/* Set TCP_NODELAY; exits on failure because a latency run without it would be misleading. */
void set_nodelay(int fd);

#ifdef WITH_SSA
/* Print getsockopt(TLS_ERROR) text for fd after a failed call on an SSA socket. */
void print_ssa_error(int fd, const char *what);
#endif

#endif /* BENCH_COMMON_H */
