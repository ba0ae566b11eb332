/*
 * Internal interfaces of libssa.
 *
 * A TLS socket is three descriptors.  The application holds A, one end of an AF_UNIX stream
 * pair: a real kernel fd, so read/write/poll/epoll/fork work without the library.  The engine
 * holds E, the other end, and T, the TCP socket to the peer, and relays plaintext between E and
 * TLS records on T.  struct ssa_sock ties them together; its fields are grouped by owner.
 */
#ifndef SSA_INTERNAL_H
#define SSA_INTERNAL_H

#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include <ssa/in_tls.h>

#include "ssa_error.h"
#include "ssa_policy.h"
#include "ssa_sys.h"

#define SSA_MUST_USE __attribute__((warn_unused_result))
#define SSA_HIDDEN   __attribute__((visibility("hidden")))

#define SSA_HOSTNAME_MAX    255
#define SSA_ALPN_MAX        255
#define SSA_CIPHER_NAME_MAX 64
#define SSA_IDENTITY_MAX    1024
#define SSA_MAX_CHAINS      8
#define SSA_MAX_SPARES      3
#define SSA_REV_FETCH_FDS   4 /* ssad: the caller's TCP sockets for revocation fetches */

enum ssa_state {
	SSA_NEW,        /* created, neither connected nor listening */
	SSA_CONNECTING, /* connect() called, handshake under way */
	SSA_CONNECTED,  /* handshake done (client or accepted) */
	SSA_LISTENING,
	SSA_FAILED, /* connect failed; the socket is unusable */
};

enum ssa_role { SSA_CLIENT, SSA_SERVER };

enum ssa_rev { SSA_REV_UNKNOWN, SSA_REV_GOOD, SSA_REV_REVOKED };

/* One certificate chain with its key, as set by TLS_CERTIFICATE_CHAIN + TLS_PRIVATE_KEY. */
struct ssa_chain {
	X509 *leaf;
	STACK_OF(X509) * intermediates;
	EVP_PKEY *key; /* NULL until TLS_PRIVATE_KEY */
};

/* What the application asked for before connect() or listen(). */
struct ssa_opts {
	char hostname[SSA_HOSTNAME_MAX + 1];       /* TLS_REMOTE_HOSTNAME, or from AF_HOSTNAME */
	char serve_name[SSA_HOSTNAME_MAX + 1];     /* TLS_HOSTNAME on a listener */
	unsigned char alpn_wire[SSA_ALPN_MAX + 1]; /* TLS_ALPN in wire format */
	unsigned alpn_len;
	X509_STORE *trust; /* TLS_TRUSTED_PEER_CERTIFICATES, NULL = policy */
	struct ssa_chain chains[SSA_MAX_CHAINS];
	unsigned nchains;
	int version_min, version_max; /* OpenSSL version numbers, 0 = policy */
	char *ciphers12;              /* NULL = policy */
	char *suites13;               /* NULL = policy */
	int session_ttl;              /* -1 = policy */
	bool session_reuse;
	uint64_t context; /* session namespace (TLS_CONTEXT) */
	bool early_data;  /* TLS_EARLY_DATA: connect() returns at once, first write goes early */
	bool rev_stapled, rev_ocsp, rev_crl; /* policy's, or tightened by the application */
	int peer_auth; /* listener: 0 none, 1 require client certificates, 2 request them */
};

/* What the handshake negotiated; written once by the engine, then read-only. */
struct ssa_conn_info {
	int version;
	int resumed;
	char cipher[SSA_CIPHER_NAME_MAX];
	char alpn[SSA_ALPN_MAX + 1];
	char sni[SSA_HOSTNAME_MAX + 1];
	char peer_identity[SSA_IDENTITY_MAX];
	struct sockaddr_storage local, peer;
	socklen_t local_len, peer_len;
};

/* Plaintext waiting for a destination that would block. */
struct ssa_buf {
	unsigned char *data;
	size_t off, len, cap;
};

struct ssa_engine;
struct ssa_listener;

struct ssa_sock {
	/* Immutable after creation. */
	uint64_t id;
	int family;
	/*
	 * Identity of A, the application's open file (ssa_table.c): the socket's cookie, which
	 * the kernel gives each socket once and a caller cannot choose, checked with sockfs's
	 * device and inode in ssad.  sock_diag finds A by its inode, the cookie confirming it.
	 */
	uint64_t app_cookie;
	dev_t app_dev;
	ino_t app_ino;
	int net_fd;    /* T */
	int engine_fd; /* E */
	struct ssa_engine *engine;
	const struct ssa_policy *policy; /* the profile it was created under */
	bool remote;                     /* daemon backend: ssad holds the engine (ssa_remote.c) */
	bool diag_blind;                 /* remote, and A is in another network namespace */
	bool counted;                    /* ssad: counts against its user's user-sockets */
	int spare_fds[SSA_MAX_SPARES];   /* ssad: the caller's TCP sockets for later addresses */
	unsigned nspares;
	int fetch_fds[SSA_REV_FETCH_FDS]; /* ssad: the caller's TCP sockets for OCSP and CRLs */
	unsigned nfetch;                  /* under lock until the handshake takes them */
	uid_t owner_uid;                  /* the user it serves: sessions never cross users */

	/* Shared; under lock.  refs: table + engine + transient users. */
	pthread_mutex_t lock;
	/*
	 * connect() and listen() move the socket out of SSA_NEW one caller at a time: two
	 * threads (in ssad, two requests) set up one socket once, never twice.  Taken before
	 * lock, never by the engine.
	 */
	pthread_mutex_t setup_lock;
	unsigned refs;
	int app_fd; /* last known descriptor number of A (a hint: verify with app_cookie) */
	enum ssa_state state;
	enum ssa_role role;
	int pending_error; /* SO_ERROR of a non-blocking connect, 0 when consumed */
	int result_error;  /* errno of the failed connect, reported again on retry */
	bool handshake_done;
	char error[SSA_ERROR_MAX];
	int error_errno;     /* errno of the failure that set error[] */
	bool engine_settles; /* an engine holds s: it decides when the registry forgets it */
	bool close_seen;     /* close() left that decision to the engine (ssa_diag.c) */
	/* ssad: how the program ends its stream (ssa_end.c). */
	bool app_ended;          /* it shut A for writing, or closed A's last descriptor */
	unsigned closes_pending; /* its close() calls announced, not yet returned */
	unsigned closes_done;    /* returned, not yet weighed by the engine */
	bool end_waiting;        /* E read EOF; the engine waits for those close() calls */
	bool service_gone;       /* remote listener: ssad died under it (ssa_listen.c) */
	struct ssa_opts opts;
	struct ssa_conn_info info;
	char *peer_chain_pem;
	struct ssa_listener *listener; /* when LISTENING */

	/* Engine thread only. */
	SSL *ssl;
	uint32_t net_events, app_events; /* current epoll interest */
	bool watched;                    /* E (and T) are in the engine's epoll set */
	bool app_eof, app_gone, net_eof, close_notify_sent, lingering, closing;
	bool app_end_shut; /* we shut E for writing: the application reads EOF */
	struct ssa_buf to_app, to_net;
	size_t filler_len;       /* bytes we wrote into A to hold off POLLOUT */
	int app_dup;             /* our dup of A while a connect is pending, else -1 */
	int app_sndbuf;          /* A's SO_SNDBUF to restore after the handshake; under lock */
	bool sndbuf_held;        /* A's SO_SNDBUF is ours until the handshake ends; under lock */
	bool exit_flush;         /* the process exits: what A holds now is all there will be */
	struct ssa_sock *parent; /* listener that accepted this connection */
	struct ssa_sock *backlog_next; /* in the parent's backlog; under the parent's lock */
	bool queued; /* in that backlog, which owns app_dup then; under the parent's lock */
	bool keep_registered;  /* failed connect: TLS_ERROR stays until close() */
	bool upgrade;          /* TCP_UPGRADE_TLS: T was connected by the application */
	struct ssa_buf early;  /* client: data for 0-RTT (ssa_early.c) */
	bool early_done;       /* early data sent or received, or none to be */
	bool early_wait;       /* TLS_EARLY_DATA: waiting for the first write */
	size_t early_received; /* server: bytes that arrived as early data */
	bool pha_pending;      /* post-handshake auth asked, no answer yet; under lock */
	int pha_mode, pha_err; /* under lock (ssa_pha.c) */
	pthread_cond_t pha_cond;
	SSL_CTX *own_ctx; /* server side of an upgrade: its own context */
	enum ssa_rev rev_stapled_result, rev_result;
	char rev_why[128];
	char cut_reason[128];
	struct sockaddr_storage connect_addrs[8];
	socklen_t connect_lens[8];
	unsigned naddrs, next_addr;
	/* T's local address as last seen, for getsockname() once T is gone; under lock. */
	struct sockaddr_storage known_local;
	socklen_t known_local_len;
	/* A name resolved off the caller's thread (ssa_connect.c): why it did not resolve. */
	char resolve_why[SSA_HOSTNAME_MAX + 96];
	int64_t deadline_ms; /* handshake or linger deadline, 0 = none */
	struct ssa_sock *timer_prev, *timer_next;
	struct ssa_sock *eng_prev, *eng_next; /* all sockets of this engine */
	bool net_registered;
	unsigned generation; /* engine generation it was created in (changes in a fork child) */

	/* Registry links; under the registry's lock. */
	struct ssa_sock *cookie_next, *id_next;
	bool registered;
};

/*
 * Listener state (engine-owned except the backlog and its counts, under the sock's lock).
 * Connections handshaking and queued together stay within max_pending, the listen backlog
 * (at least SSA_MIN_PENDING): beyond it T is not accepted and the kernel's own backlog fills,
 * as for a plain TCP listener.  Records handed to A but not yet taken by accept() are bounded
 * by E's small send buffer (SSA_RECORDS_IN_FLIGHT).
 */
struct ssa_listener {
	SSL_CTX *ctx;
	struct ssa_sock *backlog_head, *backlog_tail; /* handshaken, not yet handed to A */
	unsigned handshaking;                         /* accepted TCP, handshake under way */
	unsigned queued;                              /* in the backlog list */
	unsigned max_pending;
};
#define SSA_MIN_PENDING       64
#define SSA_RECORDS_IN_FLIGHT 4

/* Record sent on a listener's pair for each handshaken connection, with A in SCM_RIGHTS. */
struct ssa_accept_record {
	uint64_t id;
	struct ssa_conn_info info;
};

/* --- diagnostics (ssa_log.c) --- */
SSA_HIDDEN bool ssa_debug_on(void);
SSA_HIDDEN void ssa_log_connection(struct ssa_sock *s, bool ok);
SSA_HIDDEN void ssa_debug(struct ssa_sock *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* --- backends --- */
SSA_HIDDEN extern bool ssa_serving_daemon;       /* this process is ssad */
SSA_HIDDEN bool ssa_daemon_backend_active(void); /* TLS sockets go to ssad (ssa_remote.c) */
SSA_HIDDEN int ssa_socket_adopt(int domain, int type, int net_fd);

/* --- the socket calls with TLS semantics (ssa_api.c), as the face and ssad call them --- */
SSA_HIDDEN int ssa_api_socket(int domain, int type, int protocol);
SSA_HIDDEN int ssa_api_connect(int fd, const struct sockaddr *addr, socklen_t len);
SSA_HIDDEN int ssa_api_bind(int fd, const struct sockaddr *addr, socklen_t len);
SSA_HIDDEN int ssa_api_listen(int fd, int backlog);
SSA_HIDDEN int ssa_api_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
SSA_HIDDEN int ssa_api_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
SSA_HIDDEN int ssa_api_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
SSA_HIDDEN int ssa_api_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
SSA_HIDDEN int ssa_api_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
SSA_HIDDEN int ssa_api_shutdown(int fd, int how);
SSA_HIDDEN ssize_t ssa_api_sendto(int fd, const void *buf, size_t len, int flags,
				  const struct sockaddr *addr, socklen_t addrlen);
SSA_HIDDEN int ssa_api_close(int fd);
SSA_HIDDEN int ssa_api_is_tls(int fd);
SSA_HIDDEN char *ssa_api_last_error(int fd, char *buf, size_t size);
SSA_HIDDEN void ssa_begin_call(struct ssa_sock *s);         /* an acting call clears TLS_ERROR */
SSA_HIDDEN void ssa_note_local_address(struct ssa_sock *s); /* for getsockname() */
SSA_HIDDEN int ssa_remote_socket(int domain, int type);
SSA_HIDDEN struct ssa_sock *ssa_remote_lookup(int fd);
SSA_HIDDEN int ssa_remote_connect(struct ssa_sock *s, int fd, const struct sockaddr *addr,
				  socklen_t len);
SSA_HIDDEN int ssa_remote_bind(struct ssa_sock *s, int fd, const struct sockaddr *addr,
			       socklen_t len);
SSA_HIDDEN int ssa_remote_listen(struct ssa_sock *s, int fd, int backlog);
SSA_HIDDEN int ssa_remote_setsockopt(struct ssa_sock *s, int fd, int level, int name,
				     const void *val, socklen_t len);
SSA_HIDDEN int ssa_remote_getsockopt(struct ssa_sock *s, int fd, int level, int name, void *val,
				     socklen_t *len);
SSA_HIDDEN int ssa_remote_name(struct ssa_sock *s, int fd, struct sockaddr *addr, socklen_t *len,
			       bool peer);
SSA_HIDDEN ssize_t ssa_remote_sendto(struct ssa_sock *s, int fd, const void *buf, size_t len,
				     const struct sockaddr *addr, socklen_t addrlen);
SSA_HIDDEN int ssa_remote_shutdown(struct ssa_sock *s, int fd, int how);
SSA_HIDDEN int ssa_remote_close(struct ssa_sock *s, int fd);
SSA_HIDDEN int ssa_remote_upgrade(int fd, const void *val, socklen_t len);
SSA_HIDDEN void ssa_remote_fork_child(void);
SSA_HIDDEN bool ssa_remote_in_use(void);
SSA_HIDDEN int ssa_remote_listener_gone(struct ssa_sock *s, int fd);
SSA_HIDDEN void ssa_remote_exit(void);

/* --- library state (ssa_init.c) --- */
SSA_HIDDEN int ssa_library_init(void) SSA_MUST_USE;
SSA_HIDDEN const struct ssa_policy *ssa_current_policy(void);
/* An SSA_* environment variable, NULL if unset, empty, or the program runs setuid (ssa_init.c). */
SSA_HIDDEN const char *ssa_env(const char *name);
/* This thread's policy from now on (NULL: the program's own); returns the one before. */
SSA_HIDDEN const struct ssa_policy *ssa_policy_use(const struct ssa_policy *p);
SSA_HIDDEN void ssa_caller_set(uid_t uid); /* ssad: whom this thread serves */
SSA_HIDDEN uid_t ssa_caller_uid(void);
SSA_HIDDEN const char *ssa_policy_error(void);
SSA_HIDDEN uint64_t ssa_next_id(void);

/* Descriptors the engine owns: closed in a forked child, which has no engine. */
SSA_HIDDEN int ssa_fd_above_stdio(int fd);
SSA_HIDDEN void ssa_fd_own(int fd);
SSA_HIDDEN void ssa_fd_disown(int fd);
SSA_HIDDEN void ssa_fd_close_all_owned(void);
SSA_HIDDEN int ssa_fd_close_owned(int fd);
/*
 * The library's descriptors live above the program's soft limit and FD_SETSIZE (ssa_fdset.c):
 * made inside the room (which raises the soft limit for its span), then lifted.
 */
SSA_HIDDEN void ssa_fd_room_enter(void);
SSA_HIDDEN void ssa_fd_room_leave(void);
SSA_HIDDEN void ssa_fd_room_lock_for_fork(void);
SSA_HIDDEN void ssa_fd_room_unlock_after_fork(void);
SSA_HIDDEN int ssa_fd_lift(int fd);
SSA_HIDDEN int ssa_fd_dup(int fd);
SSA_HIDDEN int ssa_fd_socket(int domain, int type, int protocol);
SSA_HIDDEN bool ssa_fd_within_program_limit(int fd);
SSA_HIDDEN int ssa_fd_program_room(int any_fd) SSA_MUST_USE;

/* --- socket registry (ssa_table.c) --- */
SSA_HIDDEN int ssa_socket_cookie(int fd, uint64_t *cookie); /* -1: not a real socket */
SSA_HIDDEN int ssa_app_end_identify(struct ssa_sock *s, int app_fd) SSA_MUST_USE;
SSA_HIDDEN bool ssa_fd_is_app_end(const struct ssa_sock *s, int fd);
SSA_HIDDEN int ssa_table_insert(struct ssa_sock *s, int app_fd) SSA_MUST_USE;
SSA_HIDDEN struct ssa_sock *ssa_table_get(int fd); /* referenced, or NULL (errno untouched) */
SSA_HIDDEN struct ssa_sock *ssa_table_get_id(uint64_t id);
SSA_HIDDEN void ssa_table_forget_fd(int fd);
SSA_HIDDEN void ssa_table_remove(struct ssa_sock *s);
SSA_HIDDEN unsigned ssa_table_sweep_closed(void);
SSA_HIDDEN bool ssa_table_maybe_tls(int fd);
SSA_HIDDEN void ssa_table_lock_for_fork(void);
SSA_HIDDEN void ssa_table_unlock_after_fork(void);

/* --- socket objects (ssa_sock.c) --- */
SSA_HIDDEN struct ssa_sock *ssa_sock_new(int family);
SSA_HIDDEN extern void (*ssa_sock_free_hook)(const struct ssa_sock *s); /* ssad's accounting */
/* ssad: may a listener's owner hold one more connection?  Sets counted if it counts it. */
SSA_HIDDEN extern bool (*ssa_sock_admit_hook)(struct ssa_sock *s);
SSA_HIDDEN void ssa_sock_ref(struct ssa_sock *s);
SSA_HIDDEN bool ssa_setup_begin(struct ssa_sock *s);
SSA_HIDDEN void ssa_setup_end(struct ssa_sock *s, bool taken);
SSA_HIDDEN void ssa_sock_unref(struct ssa_sock *s);
SSA_HIDDEN void ssa_sock_release_resources(struct ssa_sock *s);
SSA_HIDDEN bool ssa_app_end_open(struct ssa_sock *s);
SSA_HIDDEN bool ssa_app_end_disown(struct ssa_sock *s, bool keep);
SSA_HIDDEN void ssa_diag_init(void);
SSA_HIDDEN void ssa_diag_fork_child(void);
SSA_HIDDEN int ssa_fail(struct ssa_sock *s, enum ssa_error_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
SSA_HIDDEN int ssa_fail_errno(struct ssa_sock *s, enum ssa_error_code code, int err,
			      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
SSA_HIDDEN void ssa_opts_free(struct ssa_opts *o);
SSA_HIDDEN int ssa_app_end_pair(int type_flags, bool for_program, int *app_fd,
				int *engine_fd) SSA_MUST_USE;

/* --- the daemon backend's guard byte in E (ssa_sentinel.c); no-ops in-process --- */
SSA_HIDDEN int ssa_guard_plant(int app_fd, int engine_fd);
SSA_HIDDEN ssize_t ssa_app_read(struct ssa_sock *s, void *buf, size_t len);
SSA_HIDDEN void ssa_guard_restore(int engine_fd);
SSA_HIDDEN bool ssa_app_wrote(struct ssa_sock *s);
SSA_HIDDEN void ssa_guard_remove(int engine_fd);

/* --- TLS contexts and trust (ssa_tlsctx.c) --- */
SSA_HIDDEN SSL_CTX *ssa_client_ctx(void);
SSA_HIDDEN SSL_CTX *ssa_server_ctx_new(struct ssa_sock *listener, char *why,
				       size_t why_size) SSA_MUST_USE;
SSA_HIDDEN int ssa_tickets_configure_server(SSL_CTX *ctx, const struct ssa_policy *p, uid_t owner,
					    char *why, size_t why_size) SSA_MUST_USE;
SSA_HIDDEN X509_STORE *ssa_trust_load(const char *path, char *why, size_t why_size);

/*
 * ssad never opens a file an application names: the library reads it with the application's
 * rights and sends its bytes (a directory of anchors: its files, one after the other).  While
 * a request runs, this thread's loaders take those bytes instead of the path.
 */
struct ssa_supplied_file {
	int err;     /* the application's open() failed with this errno */
	bool is_dir; /* it named a directory */
	const void *data;
	size_t len;
};
SSA_HIDDEN void ssa_supply_file(const struct ssa_supplied_file *f); /* NULL: open paths */
SSA_HIDDEN int ssa_chain_load(struct ssa_chain *c, const char *path, char *why, size_t n);
SSA_HIDDEN int ssa_key_load(struct ssa_chain *c, const char *path, char *why, size_t n);
SSA_HIDDEN void ssa_chain_free(struct ssa_chain *c);
SSA_HIDDEN const char *ssa_version_name(int version);
SSA_HIDDEN int ssa_version_from_wire(int wire);

/*
 * --- which sessions may resume where (ssa_resumption.c) ---
 * Digests of the settings a session was verified under: a sticky error, checked once by
 * ssa_digest_end().  SHA-256, which is also the most a session-id context holds.
 */
#define SSA_DIGEST_SIZE 32
struct ssa_digest {
	EVP_MD_CTX *md;
	bool ok;
};
SSA_HIDDEN void ssa_digest_begin(struct ssa_digest *d, const char *purpose);
SSA_HIDDEN void ssa_digest_bytes(struct ssa_digest *d, const void *data, size_t len);
SSA_HIDDEN void ssa_digest_int(struct ssa_digest *d, int64_t v);
SSA_HIDDEN void ssa_digest_str(struct ssa_digest *d, const char *s);
SSA_HIDDEN void ssa_digest_cert(struct ssa_digest *d, X509 *x);
SSA_HIDDEN void ssa_digest_store(struct ssa_digest *d, X509_STORE *store);
SSA_HIDDEN int ssa_digest_end(struct ssa_digest *d,
			      unsigned char out[SSA_DIGEST_SIZE]) SSA_MUST_USE;
/* A listener's session-id context and ticket checks, from its settings (after all are set). */
SSA_HIDDEN int ssa_resumption_configure_server(SSL_CTX *ctx, const struct ssa_sock *l,
					       const struct ssa_policy *p) SSA_MUST_USE;
/* After a server handshake, resumed or not: may accept() have this connection? */
SSA_HIDDEN bool ssa_resumption_admits(SSL *ssl);

/* --- client sessions (ssa_session.c) --- */
SSA_HIDDEN uint64_t ssa_session_default_context(void);
SSA_HIDDEN uint64_t ssa_session_new_context(void);
SSA_HIDDEN void ssa_session_offer(struct ssa_sock *s);
SSA_HIDDEN void ssa_session_configure_client(SSL_CTX *ctx);

/* --- revocation (ssa_revocation.c) --- */
SSA_HIDDEN bool ssa_revocation_wanted(const struct ssa_sock *s);
SSA_HIDDEN void ssa_revocation_configure_client(SSL_CTX *ctx);
SSA_HIDDEN void ssa_revocation_prepare(struct ssa_sock *s);
SSA_HIDDEN int ssa_revocation_start(struct ssa_sock *s);
SSA_HIDDEN bool ssa_revocation_fetches(const struct ssa_sock *s); /* ssad: wants sockets */
/* ssad: a request's fetch sockets, for the handshake it starts in this thread (NULL: none). */
SSA_HIDDEN void ssa_revocation_supply_sockets(int *fds, unsigned n);
SSA_HIDDEN void ssa_revocation_take_sockets(struct ssa_sock *s); /* under s->lock, s new */
SSA_HIDDEN void ssa_revocation_drop_sockets(struct ssa_sock *s);
SSA_HIDDEN int ssa_revocation_verdict(struct ssa_sock *s);
SSA_HIDDEN void ssa_revocation_fork_child(void);

/* --- early data (ssa_early.c) --- */
SSA_HIDDEN void ssa_early_configure_server(SSL_CTX *ctx, const struct ssa_policy *p);
SSA_HIDDEN int ssa_early_step(struct ssa_sock *s);
SSA_HIDDEN void ssa_early_settle(struct ssa_sock *s);

/* --- post-handshake client authentication (ssa_pha.c) --- */
SSA_HIDDEN int ssa_pha_request(struct ssa_sock *s, int mode);
SSA_HIDDEN void ssa_pha_start(struct ssa_sock *s);
SSA_HIDDEN void ssa_pha_check(struct ssa_sock *s);
SSA_HIDDEN void ssa_pha_abort(struct ssa_sock *s);

/* --- handshake (ssa_handshake.c) --- */
SSA_HIDDEN int ssa_handshake_begin(struct ssa_sock *s) SSA_MUST_USE;
SSA_HIDDEN int ssa_handshake_step(struct ssa_sock *s);              /* 1 done, 0 again, -1 failed */
SSA_HIDDEN int ssa_handshake_want(struct ssa_sock *s, int ssl_ret); /* 0 waits for T, -1 */
SSA_HIDDEN void ssa_handshake_snapshot(struct ssa_sock *s);
SSA_HIDDEN void ssa_describe_tls_failure(struct ssa_sock *s, int ssl_ret);
SSA_HIDDEN char *ssa_ciphers_allowed(struct ssa_sock *s);

/* --- data path (ssa_relay.c) --- */
SSA_HIDDEN void ssa_relay_net_ready(struct ssa_sock *s, uint32_t events);
SSA_HIDDEN void ssa_relay_app_ready(struct ssa_sock *s, uint32_t events);
SSA_HIDDEN void ssa_relay_start(struct ssa_sock *s);
SSA_HIDDEN void ssa_relay_cut(struct ssa_sock *s);
SSA_HIDDEN void ssa_relay_finish(struct ssa_sock *s);

/* --- how the program ends its stream: orderly or a cut (ssa_end.c) --- */
enum ssa_app_end { SSA_END_ORDERLY, SSA_END_WAIT, SSA_END_VANISHED };
SSA_HIDDEN enum ssa_app_end ssa_app_end_verdict(struct ssa_sock *s);
SSA_HIDDEN void ssa_app_ended(struct ssa_sock *s);
SSA_HIDDEN void ssa_app_close_announced(struct ssa_sock *s);
SSA_HIDDEN void ssa_app_close_returned(struct ssa_sock *s, bool returned);
SSA_HIDDEN void ssa_app_end_weigh(struct ssa_sock *s);
SSA_HIDDEN bool ssa_app_end_closed_everywhere(struct ssa_sock *s);
SSA_HIDDEN void ssa_buf_free(struct ssa_buf *b);
SSA_HIDDEN int ssa_buf_append(struct ssa_buf *b, const unsigned char *data, size_t len);
SSA_HIDDEN int ssa_sendto_tls(struct ssa_sock *s, int fd, const void *buf, size_t len,
			      const struct sockaddr *addr, socklen_t addrlen);

/* --- engine threads (ssa_engine.c) --- */
enum ssa_cmd {
	SSA_CMD_PHA,
	SSA_CMD_WATCH,
	SSA_CMD_CONNECT,
	SSA_CMD_LISTEN,
	SSA_CMD_ADOPT,
	SSA_CMD_DELIVER,
	SSA_CMD_REVOCATION,
	SSA_CMD_APP_END, /* ssad: a close() of A returned (ssa_end.c) */
};
SSA_HIDDEN struct ssa_engine *ssa_engine_pick(void);
SSA_HIDDEN int ssa_engine_submit(struct ssa_sock *s, enum ssa_cmd cmd) SSA_MUST_USE;
SSA_HIDDEN void ssa_engine_set_events(struct ssa_sock *s, uint32_t net, uint32_t app);
SSA_HIDDEN void ssa_engine_timer_set(struct ssa_sock *s, int64_t deadline_ms);
SSA_HIDDEN void ssa_engine_release(struct ssa_sock *s);
SSA_HIDDEN int64_t ssa_now_ms(void);
SSA_HIDDEN void ssa_block_sigpipe(void);
SSA_HIDDEN int ssa_engine_epoll_fd(struct ssa_sock *s);
#define SSA_SCRATCH_SIZE (64 * 1024)
SSA_HIDDEN unsigned char *ssa_engine_scratch(struct ssa_sock *s); /* engine thread only */
SSA_HIDDEN void ssa_engine_flush_all(void);
SSA_HIDDEN void ssa_engine_fork_prepare(void);
SSA_HIDDEN void ssa_engine_fork_parent(void);
SSA_HIDDEN void ssa_engine_fork_child(void);
SSA_HIDDEN unsigned ssa_engine_generation(void);

/* --- client connect (ssa_connect.c) --- */
SSA_HIDDEN void ssa_connect_net_ready(struct ssa_sock *s, uint32_t events);
SSA_HIDDEN void ssa_connect_start(struct ssa_sock *s);
SSA_HIDDEN void ssa_connect_done(struct ssa_sock *s, int err);
SSA_HIDDEN void ssa_connect_timeout(struct ssa_sock *s);
SSA_HIDDEN void ssa_connect_revocation_done(struct ssa_sock *s);
SSA_HIDDEN void ssa_connect_early_go(struct ssa_sock *s);
SSA_HIDDEN int ssa_connect_outcome(struct ssa_sock *s); /* -1 EINPROGRESS while it runs */
#define SSA_EARLY_WAIT_MS 100

/* --- listeners (ssa_listen.c) --- */
SSA_HIDDEN void ssa_listen_start(struct ssa_sock *s);
SSA_HIDDEN void ssa_listen_net_ready(struct ssa_sock *s);
SSA_HIDDEN void ssa_listen_app_ready(struct ssa_sock *s, uint32_t events);
SSA_HIDDEN void ssa_accepted_handshake_ready(struct ssa_sock *s);
SSA_HIDDEN void ssa_accepted_done(struct ssa_sock *s, bool ok);
SSA_HIDDEN void ssa_listener_free(struct ssa_listener *l);
SSA_HIDDEN void ssa_listen_deliver(struct ssa_sock *s);
SSA_HIDDEN bool ssa_listen_unqueue(struct ssa_sock *s, struct ssa_sock *c); /* under s->lock */
SSA_HIDDEN int ssa_listen_tls(struct ssa_sock *s, int backlog);
SSA_HIDDEN int ssa_upgrade(int fd, const void *val, socklen_t len);
SSA_HIDDEN int ssa_accept_tls(struct ssa_sock *s, int fd, struct sockaddr *addr, socklen_t *len,
			      int flags);
SSA_HIDDEN int ssa_connect_tls(struct ssa_sock *s, int fd, const struct sockaddr *addr,
			       socklen_t len);

/* --- options (ssa_options.c) --- */
SSA_HIDDEN int ssa_tls_setsockopt(struct ssa_sock *s, int name, const void *val, socklen_t len);
SSA_HIDDEN int ssa_tls_getsockopt(struct ssa_sock *s, int name, void *val, socklen_t *len);
SSA_HIDDEN int ssa_cipher_option(struct ssa_sock *s, int name, const void *val, socklen_t len);
SSA_HIDDEN bool ssa_valid_hostname(const char *name);
SSA_HIDDEN bool ssa_option_names_file(int level, int name); /* read with the caller's rights */
SSA_HIDDEN int ssa_opt_string(struct ssa_sock *s, const void *val, socklen_t len, char *out,
			      size_t max) SSA_MUST_USE;

#endif /* SSA_INTERNAL_H */
