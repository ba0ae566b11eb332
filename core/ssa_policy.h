/*
 * The administrator's TLS policy, as it applies to one program (SPEC section 4).
 *
 * A policy file (libconfig syntax, see ssa.conf(5)) has a default profile and profiles chosen
 * by who runs the program (users, unix-groups) and by its executable (match).  Without a file
 * the built-in defaults hold: TLS 1.2 minimum, AEAD ciphers with forward secrecy only,
 * verification on, the system trust store.
 */
#ifndef SSA_POLICY_H
#define SSA_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SSA_POLICY_DEFAULT_PATH "/etc/ssa/ssa.conf"
#define SSA_POLICY_MAX_CERTS    8

struct ssa_policy_cert {
	char *chain; /* PEM file: leaf, then intermediates */
	char *key;
};

/*
 * Whom a profile is chosen for, as the kernel says (ssad: SO_PEERCRED, SO_PEERGROUPS and the
 * root monitor; in-process: the program's own ids).  The ids are the effective ones, which
 * decide what the caller may open; they authenticate the caller.  The executable does not: it
 * only says which file the caller was started from (see ssa.conf(5)).
 */
struct ssa_policy_caller {
	const char *exe; /* a path that names, here, the very file the caller executes; or NULL */
	bool ids_known;  /* false: no profile naming users or unix-groups applies */
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups */
	size_t ngroups;
};

struct ssa_policy {
	char
	    *profile; /* "default", or the name of the profile chosen (its match, or "profile N") */
	int index;    /* position of that profile in profiles, -1 for the default */
	int min_version; /* OpenSSL's TLS1_2_VERSION, TLS1_3_VERSION */
	int max_version;
	char *ciphers12; /* OpenSSL cipher list for TLS 1.2 */
	char *suites13;  /* TLS 1.3 cipher suites */
	char *groups;
	char *trust_file; /* both NULL: the system's default store */
	char *trust_dir;
	int verify_depth;
	int handshake_timeout_ms;
	int linger_timeout_ms; /* how long a closed connection may take to flush */
	bool allow_app_trust;  /* may applications set TLS_TRUSTED_PEER_CERTIFICATES */
	int session_ttl;       /* seconds; 0 disables resumption */
	int session_cache_size;
	bool tickets;
	char *ticket_key_file;
	bool rev_stapled, rev_ocsp, rev_crl, rev_hard_fail;
	int rev_cache_time; /* seconds a "good" status is reused, never past its nextUpdate */
	struct ssa_policy_cert certs[SSA_POLICY_MAX_CERTS];
	unsigned ncerts;
	int security_level; /* OpenSSL security level: 2 rejects RSA-1024 and SHA-1 */
	bool early_data;    /* servers take TLS 1.3 0-RTT data */
	bool log_connections;
	bool log_syslog;               /* log-target = "syslog" (else stderr) */
	int backend;                   /* SSA_BACKEND_* (the program's own profile decides) */
	bool daemon_fallback;          /* daemon not running: TLS in-process instead of failing */
	int user_sockets;              /* ssad: most TLS sockets one user may hold, 0 = no limit */
	struct ssl_ctx_st *client_ctx; /* built on first use (ssa_tlsctx.c) */
};

enum { SSA_BACKEND_AUTO, SSA_BACKEND_INPROCESS, SSA_BACKEND_DAEMON };

/* Fills p with the built-in defaults.  Returns 0, or -1 without memory. */
int ssa_policy_defaults(struct ssa_policy *p);
void ssa_policy_free(struct ssa_policy *p);

/*
 * Loads the profile of caller (NULL: nobody, the default profile) from the file at path into p:
 * defaults first, then the default profile, then the first profile all of whose conditions
 * (match, users, unix-groups) hold for caller.  On failure returns -1 and writes
 * "FILE:LINE: what is wrong" into err; p then holds nothing to free.
 */
int ssa_policy_load(const char *path, const struct ssa_policy_caller *caller, struct ssa_policy *p,
		    char *err, size_t err_size);

/*
 * The profiles of a file, for `ssa-policy check` and ssad's start: 0 if the whole file is
 * valid.  Errors and warnings ("FILE:LINE: warning: ...", such as keys that any user may use)
 * go to report; warnings alone leave the file valid.
 */
int ssa_policy_check(const char *path, void (*report)(bool warning, const char *msg, void *arg),
		     void *arg);

/* Writes the effective profile as ssa.conf text. */
void ssa_policy_print(const struct ssa_policy *p, void (*out)(const char *line, void *arg),
		      void *arg);

#endif /* SSA_POLICY_H */
