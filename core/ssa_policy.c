/* The built-in policy: what holds when the administrator wrote nothing. */
#include <openssl/ssl.h>

#include "ssa_policy.h"

/*
 * TLS 1.2: ECDHE key exchange with AEAD only (RFC 7525 section 4.2, RFC 9325 section 4.2):
 * no static RSA, no CBC, no SHA-1 MACs.
 */
#define SSA_DEFAULT_CIPHERS12                                                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                        \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                        \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

#define SSA_DEFAULT_SUITES13                                                                \
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"

static const struct ssa_policy builtin = {
	.min_version = TLS1_2_VERSION,
	.max_version = TLS1_3_VERSION,
	.ciphers12 = SSA_DEFAULT_CIPHERS12,
	.suites13 = SSA_DEFAULT_SUITES13,
	.groups = "X25519:P-256:P-384",
	.trust_file = NULL,
	.trust_dir = NULL,
	.verify_depth = 10,
	.handshake_timeout_ms = 30000,
	.linger_timeout_ms = 10000,
	.allow_app_trust = true,
	.session_ttl = 7200,
	.security_level = 2,
};

const struct ssa_policy *ssa_policy_builtin(void)
{
	return &builtin;
}
