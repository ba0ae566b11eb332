/*
 * <ssa/in_tls.h> -- constants of the Secure Socket API.
 *
 * The values are those of the original SSA (O'Neill et al., USENIX Security 2018) so that
 * programs written for it build unchanged.  See ssa(7).
 */
#ifndef SSA_IN_TLS_H
#define SSA_IN_TLS_H

#include <sys/socket.h>
#include <netinet/in.h>

/* Protocol number for socket(2) and level for {set,get}sockopt(2).  Unassigned by IANA. */
#ifndef IPPROTO_TLS
#define IPPROTO_TLS 205
#endif

/* Options at level IPPROTO_TLS. */
#define TLS_REMOTE_HOSTNAME           85 /* client: name for SNI and verification (set, get) */
#define TLS_HOSTNAME                  86 /* listener: serve only this name; accepted: client's SNI */
#define TLS_TRUSTED_PEER_CERTIFICATES 87 /* this socket's trust anchors: PEM file or dir (set) */
#define TLS_CERTIFICATE_CHAIN         88 /* own chain, PEM file; several allowed, SNI picks (set) */
#define TLS_PRIVATE_KEY               89 /* key for the chain set just before (set) */
#define TLS_ALPN                      90 /* set: "h2,http/1.1"; get: negotiated protocol */
#define TLS_SESSION_TTL               91 /* session lifetime in seconds, 0 disables (int) */
#define TLS_DISABLE_CIPHER            92 /* remove a cipher, OpenSSL or IANA name (set) */
#define TLS_PEER_IDENTITY             93 /* verified peer subject, one-line form (get) */
#define TLS_REQUEST_PEER_AUTH         94 /* server: require/request client certificates (set) */
#define TLS_PEER_CERTIFICATE_CHAIN    95 /* peer chain as PEM, leaf first (get) */
#define TLS_ID                        96 /* stable 64-bit id of this TLS socket (get, uint64) */
#define TLS_TRUSTED_CIPHERS           97 /* ciphers this socket may use (get) */
#define TLS_CHOSEN_CIPHER             98 /* negotiated cipher, IANA name (get) */
#define TLS_ERROR                     100 /* why the last operation failed (get) */
#define TLS_REVOCATION_CHECKS         102 /* revocation switches: may only tighten (int) */
#define TLS_OCSP_STAPLED_CHECKS       103
#define TLS_OCSP_CHECKS               104
#define TLS_CRL_CHECKS                105
#define TLS_CACHED_REV_CHECKS         106
#define TLS_CONTEXT                   107 /* share session state between sockets (uint64) */
#define TLS_SESSION_REUSE             108 /* resumption on/off for this socket (int) */
#define TLS_RESUMED_SESSION           109 /* was this connection resumed (get, int) */
#define TLS_ENABLE_CIPHER             110 /* prefer a cipher the policy allows (set) */
#define TLS_VERSION_MIN               111 /* int: TLS_1_2 or TLS_1_3 */
#define TLS_VERSION_MAX               112
#define TLS_VERSION_CONN              113 /* negotiated version (get) */
#define TLS_SERVER_OCSP_STAPLING      122 /* staple OCSP responses on this listener (int) */

/* Options of this implementation: numbers from 130 up. */
/*
 * TLS_EARLY_DATA (int, set before connect): connect() returns at once, like TCP's
 * TCP_FASTOPEN_CONNECT, and what the application writes first goes as TLS 1.3 early data when
 * a resumable session allows it.  Handshake and verification failures then show on the first
 * read or write (ECONNRESET, with SO_ERROR and TLS_ERROR saying why).
 */
#define TLS_EARLY_DATA          130
#define TLS_EARLY_DATA_RECEIVED 131 /* accepted: bytes that arrived as 0-RTT data (get, int) */
/*
 * sendto(fd, data, len, MSG_FASTOPEN, addr, addrlen) on an unconnected TLS socket connects and
 * sends data as TLS 1.3 early data when a resumable session allows it (else right after the
 * handshake).  Early data can be replayed: use it only for idempotent requests.  See ssa(7).
 */

/* Values of TLS_VERSION_MIN, TLS_VERSION_MAX and TLS_VERSION_CONN. */
#define TLS_1_2 0x0303
#define TLS_1_3 0x0304

/* Level IPPROTO_TCP: turn a connected TCP socket into a TLS socket (STARTTLS). */
#define TCP_UPGRADE_TLS 33

/*
 * connect(2) by name.  Note that 43 is also Linux's AF_SMC: on an IPPROTO_TLS socket it always
 * means a struct sockaddr_host.
 */
#define AF_HOSTNAME 43

struct host_addr {
	unsigned char name[255]; /* NUL-terminated host name */
};

struct sockaddr_host {
	sa_family_t sin_family;  /* AF_HOSTNAME */
	unsigned short sin_port; /* network byte order */
	struct host_addr sin_addr;
};

#endif /* SSA_IN_TLS_H */
