/*
 * The administrator's TLS policy, as it applies to this process.
 * Without a policy file the built-in defaults hold: TLS 1.2 minimum, AEAD ciphers with
 * forward secrecy only, verification on, the system trust store.
 */
#ifndef SSA_POLICY_H
#define SSA_POLICY_H

#include <stdbool.h>

struct ssa_policy {
	int min_version; /* OpenSSL's TLS1_2_VERSION, TLS1_3_VERSION */
	int max_version;
	const char *ciphers12; /* OpenSSL cipher list for TLS 1.2 */
	const char *suites13;  /* TLS 1.3 cipher suites */
	const char *groups;
	const char *trust_file; /* NULL: the system's default store */
	const char *trust_dir;
	int verify_depth;
	int handshake_timeout_ms;
	int linger_timeout_ms; /* how long a closed connection may take to flush */
	bool allow_app_trust;  /* may applications set TLS_TRUSTED_PEER_CERTIFICATES */
	int session_ttl;       /* seconds */
	int security_level;    /* OpenSSL security level: 2 rejects RSA-1024 and SHA-1 */
};

const struct ssa_policy *ssa_policy_builtin(void);

#endif /* SSA_POLICY_H */
