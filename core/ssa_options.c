/*
 * Socket options at level IPPROTO_TLS (SPEC section 2).
 *
 * Rules common to all: unknown option or wrong direction -> ENOPROTOOPT; bad length or value
 * -> EINVAL; set after connect -> EISCONN, on a listener or accepted socket -> EOPNOTSUPP;
 * anything weaker than the policy -> EPERM.  String getters write a NUL-terminated string and
 * set optlen to its size; a buffer too small gives ERANGE with optlen set to the size needed
 * (as SO_PEERSEC does).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "ssa_internal.h"

/* Copies an option string: NUL-terminated within optlen, or exactly optlen bytes without NUL. */
bool ssa_option_names_file(int level, int name)
{
	return level == IPPROTO_TLS && (name == TLS_TRUSTED_PEER_CERTIFICATES ||
					name == TLS_CERTIFICATE_CHAIN || name == TLS_PRIVATE_KEY);
}

int ssa_opt_string(struct ssa_sock *s, const void *val, socklen_t len, char *out, size_t max)
{
	const char *nul;
	size_t n;

	if (val == NULL || len == 0)
		return ssa_fail(s, SSA_E_OPTION_LENGTH, "no value");
	nul = memchr(val, '\0', len);
	n = nul ? (size_t)(nul - (const char *)val) : len;
	if (n > max)
		return ssa_fail(s, SSA_E_OPTION_LENGTH, "%zu bytes, at most %zu", n, max);
	memcpy(out, val, n);
	out[n] = '\0';
	return 0;
}

static int opt_int(struct ssa_sock *s, const void *val, socklen_t len, int *out)
{
	if (val == NULL || len < sizeof(int))
		return ssa_fail(s, SSA_E_OPTION_LENGTH, "an int is needed");
	memcpy(out, val, sizeof(int));
	return 0;
}

/* Options that shape the handshake may only be set before connect() or listen(). */
static int require_new(struct ssa_sock *s)
{
	switch (s->state) {
	case SSA_NEW:
		return 0;
	case SSA_CONNECTING:
	case SSA_CONNECTED:
		return ssa_fail(
		    s, s->role == SSA_SERVER ? SSA_E_PHASE_WRONG : SSA_E_PHASE_CONNECTED, NULL);
	default:
		return ssa_fail(s, SSA_E_PHASE_WRONG, NULL);
	}
}

/* RFC 1123 host names (letters, digits, '-', '.'), or an IPv4/IPv6 literal. */
bool ssa_valid_hostname(const char *name)
{
	if (name[0] == '\0')
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-._:", *p))
			return false;
	return true;
}

static int set_hostname(struct ssa_sock *s, const void *val, socklen_t len, char *dst)
{
	char name[SSA_HOSTNAME_MAX + 1];

	if (require_new(s) < 0 || ssa_opt_string(s, val, len, name, SSA_HOSTNAME_MAX) < 0)
		return -1;
	if (!ssa_valid_hostname(name))
		return ssa_fail(s, SSA_E_OPTION_VALUE, "\"%.64s\" is not a host name", name);
	memcpy(dst, name, strlen(name) + 1);
	return 0;
}

static int set_trust(struct ssa_sock *s, const void *val, socklen_t len)
{
	char path[4096], why[SSA_ERROR_MAX];
	X509_STORE *store;

	if (require_new(s) < 0 || ssa_opt_string(s, val, len, path, sizeof(path) - 1) < 0)
		return -1;
	if (!ssa_current_policy()->allow_app_trust)
		return ssa_fail(s, SSA_E_POLICY_FORBIDS,
				"setting app-trust is off: applications may not set trust anchors");
	store = ssa_trust_load(path, why, sizeof(why));
	if (store == NULL)
		return ssa_fail(s, SSA_E_FILE, "%s", why);
	X509_STORE_free(s->opts.trust);
	s->opts.trust = store;
	return 0;
}

static int set_chain(struct ssa_sock *s, const void *val, socklen_t len)
{
	char path[4096], why[SSA_ERROR_MAX];

	if (require_new(s) < 0 || ssa_opt_string(s, val, len, path, sizeof(path) - 1) < 0)
		return -1;
	if (s->opts.nchains == SSA_MAX_CHAINS)
		return ssa_fail(s, SSA_E_OPTION_VALUE, "at most %d certificate chains",
				SSA_MAX_CHAINS);
	if (ssa_chain_load(&s->opts.chains[s->opts.nchains], path, why, sizeof(why)) < 0)
		return ssa_fail(s, SSA_E_FILE, "%s", why);
	s->opts.nchains++;
	return 0;
}

static int set_key(struct ssa_sock *s, const void *val, socklen_t len)
{
	char path[4096], why[SSA_ERROR_MAX];
	int r;

	if (require_new(s) < 0 || ssa_opt_string(s, val, len, path, sizeof(path) - 1) < 0)
		return -1;
	if (s->opts.nchains == 0)
		return ssa_fail(s, SSA_E_KEY_WITHOUT_CHAIN, "%s", path);
	r = ssa_key_load(&s->opts.chains[s->opts.nchains - 1], path, why, sizeof(why));
	if (r < 0)
		return ssa_fail(s, SSA_E_FILE, "%s", why);
	if (r > 0)
		return ssa_fail(s, SSA_E_KEY_MISMATCH, "%s", path);
	return 0;
}

/* "h2,http/1.1" to the wire format of RFC 7301 section 3.1. */
static int set_alpn(struct ssa_sock *s, const void *val, socklen_t len)
{
	char list[SSA_ALPN_MAX + 1], *save = NULL, *tok;
	unsigned used = 0;

	if (require_new(s) < 0 || ssa_opt_string(s, val, len, list, SSA_ALPN_MAX - 1) < 0)
		return -1;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t n = strlen(tok);

		if (n == 0 || n > 255 || used + 1 + n > SSA_ALPN_MAX)
			return ssa_fail(s, SSA_E_OPTION_VALUE, "bad ALPN protocol list");
		s->opts.alpn_wire[used++] = (unsigned char)n;
		memcpy(s->opts.alpn_wire + used, tok, n);
		used += (unsigned)n;
	}
	if (used == 0)
		return ssa_fail(s, SSA_E_OPTION_VALUE, "empty ALPN protocol list");
	s->opts.alpn_len = used;
	return 0;
}

static int set_version(struct ssa_sock *s, int name, const void *val, socklen_t len)
{
	const struct ssa_policy *p = ssa_current_policy();
	int wire = 0, v;

	if (require_new(s) < 0 || opt_int(s, val, len, &wire) < 0)
		return -1;
	v = ssa_version_from_wire(wire);
	if (v == 0)
		return ssa_fail(s, SSA_E_OPTION_VALUE, "version 0x%04x: use TLS_1_2 or TLS_1_3",
				(unsigned)wire);
	if (v < p->min_version)
		return ssa_fail(s, SSA_E_POLICY_FORBIDS, "%s is below the policy's min-version",
				ssa_version_name(v));
	if (v > p->max_version)
		return ssa_fail(s, SSA_E_POLICY_FORBIDS, "%s is above the policy's max-version",
				ssa_version_name(v));
	if (name == TLS_VERSION_MIN)
		s->opts.version_min = v;
	else
		s->opts.version_max = v;
	return 0;
}

/* Revocation switches may only tighten: turning off a check the policy requires is EPERM. */
static int set_revocation(struct ssa_sock *s, int name, bool on)
{
	const struct ssa_policy *p = ssa_current_policy();
	bool *flags[3] = {&s->opts.rev_stapled, &s->opts.rev_ocsp, &s->opts.rev_crl};
	const bool required[3] = {p->rev_stapled, p->rev_ocsp, p->rev_crl};
	static const char *const setting[3] = {"ocsp-stapling", "ocsp", "crl"};
	int first = 0, last = 2;

	if (name == TLS_CACHED_REV_CHECKS || name == TLS_SERVER_OCSP_STAPLING) {
		if (on && name == TLS_SERVER_OCSP_STAPLING)
			return ssa_fail(s, SSA_E_NOT_SUPPORTED, "server OCSP stapling");
		return 0; /* responses are not cached across connections: nothing to loosen */
	}
	if (name != TLS_REVOCATION_CHECKS)
		first = last = name - TLS_OCSP_STAPLED_CHECKS;
	for (int i = first; i <= last; i++)
		if (!on && required[i])
			return ssa_fail(s, SSA_E_POLICY_FORBIDS, "the policy sets %s = true",
					setting[i]);
	for (int i = first; i <= last; i++)
		*flags[i] = on;
	return 0;
}

static int set_int_option(struct ssa_sock *s, int name, const void *val, socklen_t len)
{
	int v = 0;

	if (opt_int(s, val, len, &v) < 0)
		return -1;
	switch (name) {
	case TLS_SESSION_TTL:
		if (v < 0)
			return ssa_fail(s, SSA_E_OPTION_VALUE, "negative lifetime");
		if (v > ssa_current_policy()->session_ttl)
			return ssa_fail(s, SSA_E_POLICY_FORBIDS,
					"session lifetime above policy's %d s",
					ssa_current_policy()->session_ttl);
		s->opts.session_ttl = v;
		return 0;
	case TLS_SESSION_REUSE:
		s->opts.session_reuse = v != 0;
		return 0;
	default:
		return set_revocation(s, name, v != 0);
	}
}

/*
 * TLS_REQUEST_PEER_AUTH on a listener, before listen(): 1 or "required" makes client
 * certificates mandatory, 2 or "optional" asks for one.  They are verified against
 * TLS_TRUSTED_PEER_CERTIFICATES, else the policy's trust store.
 */
static int set_peer_auth(struct ssa_sock *s, const void *val, socklen_t len)
{
	char word[16];
	int v = -1;

	if (s->state != SSA_NEW && !(s->state == SSA_CONNECTED && s->role == SSA_SERVER))
		return ssa_fail(s, SSA_E_PHASE_WRONG,
				"on a listener before listen(), or an accepted socket");
	if (val != NULL && len == sizeof(int))
		memcpy(&v, val, sizeof(v));
	else if (ssa_opt_string(s, val, len, word, sizeof(word) - 1) == 0)
		v = strcmp(word, "required") == 0 ? 1 : strcmp(word, "optional") == 0 ? 2 : -1;
	else
		return -1;
	if (v < 0 || v > 2)
		return ssa_fail(s, SSA_E_OPTION_VALUE, "0, 1 (\"required\") or 2 (\"optional\")");
	if (s->state == SSA_CONNECTED)
		return v == 0 ? 0 : ssa_pha_request(s, v);
	s->opts.peer_auth = v;
	return 0;
}

static int set_bool(struct ssa_sock *s, bool *flag, const void *val, socklen_t len)
{
	int v = 0;

	if (opt_int(s, val, len, &v) < 0)
		return -1;
	*flag = v != 0;
	return 0;
}

/* TLS_CONTEXT: join the session namespace of another socket, or 0 for a private one. */
static int set_context(struct ssa_sock *s, const void *val, socklen_t len)
{
	uint64_t id;

	if (val == NULL || len != sizeof(id))
		return ssa_fail(s, SSA_E_OPTION_LENGTH, "a uint64_t is needed");
	memcpy(&id, val, sizeof(id));
	s->opts.context = id != 0 ? id : ssa_session_new_context();
	return 0;
}

int ssa_tls_setsockopt(struct ssa_sock *s, int name, const void *val, socklen_t len)
{
	if (ssa_policy_error() != NULL)
		return ssa_fail(s, SSA_E_POLICY_BROKEN, "%s", ssa_policy_error());
	switch (name) {
	case TLS_REMOTE_HOSTNAME:
		return set_hostname(s, val, len, s->opts.hostname);
	case TLS_HOSTNAME:
		return set_hostname(s, val, len, s->opts.serve_name);
	case TLS_TRUSTED_PEER_CERTIFICATES:
		return set_trust(s, val, len);
	case TLS_CERTIFICATE_CHAIN:
		return set_chain(s, val, len);
	case TLS_PRIVATE_KEY:
		return set_key(s, val, len);
	case TLS_ALPN:
		return set_alpn(s, val, len);
	case TLS_VERSION_MIN:
	case TLS_VERSION_MAX:
		return set_version(s, name, val, len);
	case TLS_DISABLE_CIPHER:
	case TLS_ENABLE_CIPHER:
		if (require_new(s) < 0)
			return -1;
		return ssa_cipher_option(s, name, val, len);
	case TLS_SESSION_TTL:
	case TLS_SESSION_REUSE:
	case TLS_REVOCATION_CHECKS:
	case TLS_OCSP_STAPLED_CHECKS:
	case TLS_OCSP_CHECKS:
	case TLS_CRL_CHECKS:
	case TLS_CACHED_REV_CHECKS:
	case TLS_SERVER_OCSP_STAPLING:
		if (require_new(s) < 0)
			return -1;
		return set_int_option(s, name, val, len);
	case TLS_PEER_IDENTITY:
	case TLS_PEER_CERTIFICATE_CHAIN:
	case TLS_ID:
	case TLS_TRUSTED_CIPHERS:
	case TLS_CHOSEN_CIPHER:
	case TLS_ERROR:
	case TLS_RESUMED_SESSION:
	case TLS_VERSION_CONN:
	case TLS_EARLY_DATA_RECEIVED:
		return ssa_fail(s, SSA_E_OPTION_DIRECTION, "option %d can only be read", name);
	case TLS_CONTEXT:
		return require_new(s) < 0 ? -1 : set_context(s, val, len);
	case TLS_EARLY_DATA:
		return require_new(s) < 0 ? -1 : set_bool(s, &s->opts.early_data, val, len);
	case TLS_REQUEST_PEER_AUTH:
		return set_peer_auth(s, val, len);
	default:
		return ssa_fail(s, SSA_E_OPTION_UNKNOWN, "%d", name);
	}
}

/* --- getters --- */

static int put_bytes(struct ssa_sock *s, const void *data, size_t n, void *val, socklen_t *len)
{
	if (len == NULL || (val == NULL && *len > 0))
		return ssa_fail(s, SSA_E_OPTION_LENGTH, "no buffer");
	if (*len < n) {
		/* A size query, not a failure to explain: TLS_ERROR stays as it was. */
		*len = (socklen_t)n;
		errno = ERANGE;
		return -1;
	}
	memcpy(val, data, n);
	*len = (socklen_t)n;
	return 0;
}

static int put_string(struct ssa_sock *s, const char *str, void *val, socklen_t *len)
{
	return put_bytes(s, str, strlen(str) + 1, val, len);
}

static int put_int(struct ssa_sock *s, int v, void *val, socklen_t *len)
{
	return put_bytes(s, &v, sizeof(v), val, len);
}

static int require_connected(struct ssa_sock *s)
{
	if (s->state == SSA_CONNECTED && s->handshake_done)
		return 0;
	return ssa_fail(s, SSA_E_NOT_CONNECTED, NULL);
}

static int get_connected_string(struct ssa_sock *s, int name, void *val, socklen_t *len)
{
	char copy[SSA_IDENTITY_MAX];

	if (require_connected(s) < 0)
		return -1;
	pthread_mutex_lock(&s->lock);
	switch (name) {
	case TLS_ALPN:
		snprintf(copy, sizeof(copy), "%s", s->info.alpn);
		break;
	case TLS_CHOSEN_CIPHER:
		snprintf(copy, sizeof(copy), "%s", s->info.cipher);
		break;
	default:
		snprintf(copy, sizeof(copy), "%s", s->info.peer_identity);
		break;
	}
	pthread_mutex_unlock(&s->lock);
	if (name == TLS_PEER_IDENTITY && copy[0] == '\0')
		return ssa_fail(s, SSA_E_NOT_CONNECTED, "the peer presented no certificate");
	return put_string(s, copy, val, len);
}

static int get_peer_chain(struct ssa_sock *s, void *val, socklen_t *len)
{
	char *pem;
	int rc;

	if (require_connected(s) < 0)
		return -1;
	pthread_mutex_lock(&s->lock);
	pem = s->peer_chain_pem ? strdup(s->peer_chain_pem) : NULL;
	pthread_mutex_unlock(&s->lock);
	if (pem == NULL)
		return ssa_fail(s, SSA_E_NOT_CONNECTED, "the peer presented no certificate");
	rc = put_string(s, pem, val, len);
	free(pem);
	return rc;
}

static int get_error(struct ssa_sock *s, void *val, socklen_t *len)
{
	char copy[SSA_ERROR_MAX];

	pthread_mutex_lock(&s->lock);
	memcpy(copy, s->error, sizeof(copy));
	pthread_mutex_unlock(&s->lock);
	return put_string(s, copy, val, len);
}

static int get_hostname(struct ssa_sock *s, void *val, socklen_t *len)
{
	char copy[SSA_HOSTNAME_MAX + 1];

	pthread_mutex_lock(&s->lock);
	/* On an accepted socket: the name the client asked for (SNI). */
	snprintf(copy, sizeof(copy), "%s",
		 s->role == SSA_SERVER && s->handshake_done ? s->info.sni : s->opts.serve_name);
	pthread_mutex_unlock(&s->lock);
	return put_string(s, copy, val, len);
}

static int get_trusted_ciphers(struct ssa_sock *s, void *val, socklen_t *len)
{
	char *list = ssa_ciphers_allowed(s);
	int rc;

	if (list == NULL)
		return ssa_fail(s, SSA_E_RESOURCES, NULL);
	rc = put_string(s, list, val, len);
	free(list);
	return rc;
}

static int get_version(struct ssa_sock *s, int name, void *val, socklen_t *len)
{
	const struct ssa_policy *p = ssa_current_policy();

	if (name == TLS_VERSION_CONN)
		return require_connected(s) < 0 ? -1 : put_int(s, s->info.version, val, len);
	if (name == TLS_VERSION_MIN)
		return put_int(s, s->opts.version_min ? s->opts.version_min : p->min_version, val,
			       len);
	return put_int(s, s->opts.version_max ? s->opts.version_max : p->max_version, val, len);
}

int ssa_tls_getsockopt(struct ssa_sock *s, int name, void *val, socklen_t *len)
{
	uint64_t id = s->id;

	/* Reading never clears TLS_ERROR: reading another option first must not lose it. */
	switch (name) {
	case TLS_ERROR:
		return get_error(s, val, len);
	case TLS_REMOTE_HOSTNAME:
		return put_string(s, s->opts.hostname, val, len);
	case TLS_HOSTNAME:
		return get_hostname(s, val, len);
	case TLS_ALPN:
	case TLS_CHOSEN_CIPHER:
	case TLS_PEER_IDENTITY:
		return get_connected_string(s, name, val, len);
	case TLS_PEER_CERTIFICATE_CHAIN:
		return get_peer_chain(s, val, len);
	case TLS_ID:
		return put_bytes(s, &id, sizeof(id), val, len);
	case TLS_TRUSTED_CIPHERS:
		return get_trusted_ciphers(s, val, len);
	case TLS_VERSION_MIN:
	case TLS_VERSION_MAX:
	case TLS_VERSION_CONN:
		return get_version(s, name, val, len);
	case TLS_RESUMED_SESSION:
		return require_connected(s) < 0 ? -1 : put_int(s, s->info.resumed, val, len);
	case TLS_EARLY_DATA_RECEIVED:
		return require_connected(s) < 0 ? -1 : put_int(s, (int)s->early_received, val, len);
	case TLS_SESSION_TTL:
		return put_int(s,
			       s->opts.session_ttl >= 0 ? s->opts.session_ttl
							: ssa_current_policy()->session_ttl,
			       val, len);
	case TLS_EARLY_DATA:
		return put_int(s, s->opts.early_data, val, len);
	case TLS_SESSION_REUSE:
		return put_int(s, s->opts.session_reuse, val, len);
	case TLS_REVOCATION_CHECKS:
		return put_int(s, ssa_revocation_wanted(s), val, len);
	case TLS_OCSP_STAPLED_CHECKS:
		return put_int(s, s->opts.rev_stapled, val, len);
	case TLS_OCSP_CHECKS:
		return put_int(s, s->opts.rev_ocsp, val, len);
	case TLS_CRL_CHECKS:
		return put_int(s, s->opts.rev_crl, val, len);
	case TLS_CACHED_REV_CHECKS:
	case TLS_SERVER_OCSP_STAPLING:
		return put_int(s, 0, val, len);
	case TLS_TRUSTED_PEER_CERTIFICATES:
	case TLS_CERTIFICATE_CHAIN:
	case TLS_PRIVATE_KEY:
	case TLS_DISABLE_CIPHER:
	case TLS_ENABLE_CIPHER:
	case TLS_REQUEST_PEER_AUTH:
		return ssa_fail(s, SSA_E_OPTION_DIRECTION, "option %d can only be set", name);
	case TLS_CONTEXT:
		return put_bytes(s, &s->opts.context, sizeof(s->opts.context), val, len);
	default:
		return ssa_fail(s, SSA_E_OPTION_UNKNOWN, "%d", name);
	}
}
