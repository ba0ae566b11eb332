/*
 * The project's error conditions: one table, each with its errno and its text.
 * Every failure of a TLS socket is reported through ssa_fail(), which sets errno and the
 * socket's TLS_ERROR text in one place.
 */
#ifndef SSA_ERROR_H
#define SSA_ERROR_H

#include <stddef.h>

#define SSA_ERROR_MAX 256

/* X(code, errno, text): text is the fixed part; details follow it after ": ". */
#define SSA_ERROR_TABLE(X)                                                                         \
	X(SSA_E_OPTION_UNKNOWN, ENOPROTOOPT, "unknown TLS socket option")                          \
	X(SSA_E_OPTION_DIRECTION, ENOPROTOOPT, "option cannot be used in this direction")          \
	X(SSA_E_OPTION_LENGTH, EINVAL, "option value has a bad length")                            \
	X(SSA_E_OPTION_VALUE, EINVAL, "option value is not valid")                                 \
	X(SSA_E_PHASE_CONNECTED, EISCONN, "option cannot change once connected")                   \
	X(SSA_E_PHASE_WRONG, EOPNOTSUPP, "operation not valid in this socket state")               \
	X(SSA_E_NOT_CONNECTED, ENOTCONN, "socket is not connected")                                \
	X(SSA_E_POLICY_FORBIDS, EPERM, "the administrator's policy does not allow this")           \
	X(SSA_E_POLICY_BROKEN, EPROTO, "the TLS policy cannot be used")                            \
	X(SSA_E_NOT_SUPPORTED, EOPNOTSUPP, "not supported")                                        \
	X(SSA_E_FILE, EINVAL, "cannot use file")                                                   \
	X(SSA_E_KEY_MISMATCH, EINVAL, "private key does not match the certificate")                \
	X(SSA_E_KEY_WITHOUT_CHAIN, EINVAL, "private key set before any certificate chain")         \
	X(SSA_E_NO_CERTIFICATE, EINVAL, "no certificate to serve")                                 \
	X(SSA_E_HANDSHAKE, EPROTO, "TLS handshake failed")                                         \
	X(SSA_E_VERIFY, EPROTO, "certificate verification failed")                                 \
	X(SSA_E_TIMEOUT, ETIMEDOUT, "TLS handshake timed out")                                     \
	X(SSA_E_REVOKED, EPROTO, "certificate revoked")                                            \
	X(SSA_E_REVOCATION_UNKNOWN, EPROTO, "revocation status unknown")                           \
	X(SSA_E_NETWORK, 0, "network error")                                                       \
	X(SSA_E_ADDRESS, EINVAL, "bad address")                                                    \
	X(SSA_E_RESOLVE, EHOSTUNREACH, "cannot resolve host name")                                 \
	X(SSA_E_ALREADY, EALREADY, "connection already in progress")                               \
	X(SSA_E_ISCONN, EISCONN, "socket is already connected")                                    \
	X(SSA_E_RESOURCES, ENOMEM, "out of resources")                                             \
	X(SSA_E_DESCRIPTORS, EMFILE, "no descriptor left")                                         \
	X(SSA_E_ENGINE, EIO, "TLS engine unavailable")                                             \
	X(SSA_E_FAMILY, EAFNOSUPPORT, "address family not supported for TLS")                      \
	X(SSA_E_INHERITED, EOPNOTSUPP, "socket's TLS engine belongs to another process")           \
	X(SSA_E_DAEMON_GONE, ECONNRESET, "the TLS service ssad cannot be reached")                 \
	X(SSA_E_USER_LIMIT, EMFILE, "this user has as many TLS sockets as the policy allows")

enum ssa_error_code {
#define SSA_ERROR_ENUM(code, err, text) code,
	SSA_ERROR_TABLE(SSA_ERROR_ENUM)
#undef SSA_ERROR_ENUM
	    SSA_E_COUNT
};

/* The errno and the fixed text of a code; errno 0 means "the caller's errno". */
int ssa_error_errno(enum ssa_error_code code);
const char *ssa_error_text(enum ssa_error_code code);
const char *ssa_error_name(enum ssa_error_code code);

/*
 * Formats "<text>: <details>" into buf (details may be NULL) and returns the errno to report.
 * sys_errno is used for codes whose table errno is 0 (network errors keep their errno).
 */
int ssa_error_format(char *buf, size_t size, enum ssa_error_code code, int sys_errno,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif /* SSA_ERROR_H */
