/*
 * Which sessions may resume where (server side; the client's cache keys are built with the
 * same digests in ssa_session.c).
 *
 * A resumed handshake skips what a full one checks: the client's certificate, and its
 * verification against the listener's anchors.  So a listener resumes only sessions that were
 * established under the settings that govern acceptance, all of them: the owner, the profile,
 * whether client certificates are asked for or required and which anchors verify them (their
 * certificates, not the name of a file), the certificates served, the versions and ciphers
 * allowed.  Its session-id context is the digest of those, and OpenSSL resumes no session
 * (cached or from a ticket, TLS 1.2 and 1.3) whose context differs: it falls back to a full
 * handshake.  Each ticket carries the digest in its application data as well, checked when
 * the ticket is decrypted, so that the rule holds whoever else shares the ticket keys.  And a
 * listener that requires a client certificate never passes a connection without one to
 * accept(), whatever path the handshake took.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ssa_internal.h"

/* --- digests of settings: a sticky error, one check at the end ---------------------------- */

void ssa_digest_begin(struct ssa_digest *d, const char *purpose)
{
	d->md = EVP_MD_CTX_new();
	d->ok = d->md != NULL && EVP_DigestInit_ex(d->md, EVP_sha256(), NULL) == 1;
	ssa_digest_str(d, purpose);
}

void ssa_digest_bytes(struct ssa_digest *d, const void *data, size_t len)
{
	d->ok = d->ok && EVP_DigestUpdate(d->md, data, len) == 1;
}

/* Fixed width, big-endian: a fleet of servers of different word sizes agrees. */
void ssa_digest_int(struct ssa_digest *d, int64_t v)
{
	unsigned char be[8];

	for (int i = 0; i < 8; i++)
		be[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
	ssa_digest_bytes(d, be, sizeof(be));
}

/* Length first, so that no two lists of strings run together; NULL differs from "". */
void ssa_digest_str(struct ssa_digest *d, const char *s)
{
	ssa_digest_int(d, s != NULL ? (int64_t)strlen(s) : -1);
	if (s != NULL)
		ssa_digest_bytes(d, s, strlen(s));
}

void ssa_digest_cert(struct ssa_digest *d, X509 *x)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	d->ok = d->ok && x != NULL && X509_digest(x, EVP_sha256(), md, &len) == 1;
	if (d->ok)
		ssa_digest_bytes(d, md, len);
}

int ssa_digest_end(struct ssa_digest *d, unsigned char out[SSA_DIGEST_SIZE])
{
	unsigned len = 0;

	d->ok = d->ok && EVP_DigestFinal_ex(d->md, out, &len) == 1 && len == SSA_DIGEST_SIZE;
	EVP_MD_CTX_free(d->md);
	d->md = NULL;
	return d->ok ? 0 : -1;
}

/* --- trust anchors by content ------------------------------------------------------------- */

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t indexes_once = PTHREAD_ONCE_INIT;
static int store_index = -1, scope_index = -1;

static void free_ex(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	free(ptr);
}

static void init_indexes(void)
{
	store_index = X509_STORE_get_ex_new_index(0, NULL, NULL, NULL, free_ex);
	scope_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_ex);
}

static int cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, SSA_DIGEST_SIZE);
}

/*
 * The digest of every certificate and CRL in a store, in an order of their own (the store's
 * order depends on the order of loading).  A directory looked up lazily (the system store)
 * holds only what was looked up so far: callers name such directories too.
 */
static int compute_store_digest(X509_STORE *store, unsigned char out[SSA_DIGEST_SIZE])
{
	STACK_OF(X509_OBJECT) * objs;
	unsigned char(*mds)[SSA_DIGEST_SIZE] = NULL;
	struct ssa_digest d;
	int n, count = 0;
	bool ok = true;

	X509_STORE_lock(store);
	objs = X509_STORE_get0_objects(store);
	n = sk_X509_OBJECT_num(objs);
	if (n > 0 && (mds = calloc((size_t)n, sizeof(*mds))) == NULL)
		ok = false;
	for (int i = 0; ok && i < n; i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
		X509 *x = X509_OBJECT_get0_X509(o);
		X509_CRL *crl = X509_OBJECT_get0_X509_CRL(o);
		unsigned len = 0;

		if (x != NULL)
			ok = X509_digest(x, EVP_sha256(), mds[count++], &len) == 1;
		else if (crl != NULL)
			ok = X509_CRL_digest(crl, EVP_sha256(), mds[count++], &len) == 1;
	}
	X509_STORE_unlock(store);
	if (ok && count > 1)
		qsort(mds, (size_t)count, sizeof(*mds), cmp_digest);
	ssa_digest_begin(&d, "ssa trust store");
	d.ok = d.ok && ok;
	ssa_digest_int(&d, count);
	for (int i = 0; d.ok && i < count; i++)
		ssa_digest_bytes(&d, mds[i], sizeof(mds[i]));
	free(mds);
	return ssa_digest_end(&d, out);
}

/*
 * Anchors are not changed once loaded (ssa_trust_load(), or a listener's policy anchors at
 * listen()), so the digest is computed once per store; what a lazily read directory adds
 * later is covered by its path, which callers add.
 */
void ssa_digest_store(struct ssa_digest *d, X509_STORE *store)
{
	unsigned char *cached, md[SSA_DIGEST_SIZE];

	pthread_once(&indexes_once, init_indexes);
	if (!d->ok || store == NULL) {
		d->ok = false;
		return;
	}
	pthread_mutex_lock(&store_lock);
	cached = X509_STORE_get_ex_data(store, store_index);
	if (cached != NULL) {
		memcpy(md, cached, sizeof(md));
	} else if (compute_store_digest(store, md) < 0) {
		d->ok = false;
	} else if ((cached = malloc(sizeof(md))) != NULL) {
		memcpy(cached, md, sizeof(md));
		if (X509_STORE_set_ex_data(store, store_index, cached) != 1)
			free(cached);
	}
	pthread_mutex_unlock(&store_lock);
	ssa_digest_bytes(d, md, sizeof(md));
}

/* --- the listener's scope ----------------------------------------------------------------- */

struct scope {
	unsigned char digest[SSA_DIGEST_SIZE];
	int peer_auth;
};

static int listener_digest(SSL_CTX *ctx, const struct ssa_sock *l, const struct ssa_policy *p,
			   unsigned char out[SSA_DIGEST_SIZE])
{
	STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(ctx);
	struct ssa_digest d;

	ssa_digest_begin(&d, "ssa server session v1");
	ssa_digest_int(&d, l->owner_uid);
	ssa_digest_str(&d, p->profile);
	ssa_digest_int(&d, SSL_CTX_get_min_proto_version(ctx));
	ssa_digest_int(&d, SSL_CTX_get_max_proto_version(ctx));
	ssa_digest_int(&d, SSL_CTX_get_security_level(ctx));
	for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); i++)
		ssa_digest_int(&d, (int64_t)SSL_CIPHER_get_id(sk_SSL_CIPHER_value(ciphers, i)));
	ssa_digest_str(&d, l->opts.serve_name);
	ssa_digest_int(&d, l->opts.nchains);
	for (unsigned i = 0; i < l->opts.nchains; i++)
		ssa_digest_cert(&d, l->opts.chains[i].leaf);
	ssa_digest_int(&d, l->opts.peer_auth);
	if (l->opts.peer_auth != 0) {
		ssa_digest_int(&d, SSL_CTX_get_verify_depth(ctx));
		ssa_digest_store(&d, l->opts.trust ? l->opts.trust : SSL_CTX_get_cert_store(ctx));
		if (l->opts.trust == NULL) { /* the policy's anchors; a directory is read lazily */
			ssa_digest_str(&d, p->trust_file);
			ssa_digest_str(&d, p->trust_dir);
		}
	}
	return ssa_digest_end(&d, out);
}

/* A new ticket carries the scope it was issued in. */
static int ticket_issue(SSL *ssl, void *arg)
{
	const struct scope *sc = arg;
	SSL_SESSION *sess = SSL_get_session(ssl);

	return sess != NULL &&
	       SSL_SESSION_set1_ticket_appdata(sess, sc->digest, sizeof(sc->digest)) == 1;
}

/*
 * A ticket from another scope is ignored (a full handshake follows), never used.  Resumption
 * always renews: TLS 1.3 tickets are used once (RFC 8446 section C.4), and the client needs a
 * new one for its next connection.
 */
static SSL_TICKET_RETURN ticket_check(SSL *ssl, SSL_SESSION *sess, const unsigned char *keyname,
				      size_t keyname_len, SSL_TICKET_STATUS status, void *arg)
{
	const struct scope *sc = arg;
	void *data = NULL;
	size_t len = 0;

	(void)ssl, (void)keyname, (void)keyname_len;
	switch (status) {
	case SSL_TICKET_SUCCESS:
	case SSL_TICKET_SUCCESS_RENEW:
		if (SSL_SESSION_get0_ticket_appdata(sess, &data, &len) == 1 &&
		    len == sizeof(sc->digest) && CRYPTO_memcmp(data, sc->digest, len) == 0)
			return SSL_TICKET_RETURN_USE_RENEW;
		ssa_debug(SSL_get_app_data(ssl), "ticket from another scope: full handshake");
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	case SSL_TICKET_EMPTY:
	case SSL_TICKET_NO_DECRYPT:
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	default:
		return SSL_TICKET_RETURN_ABORT;
	}
}

int ssa_resumption_configure_server(SSL_CTX *ctx, const struct ssa_sock *l,
				    const struct ssa_policy *p)
{
	struct scope *sc = calloc(1, sizeof(*sc));

	pthread_once(&indexes_once, init_indexes);
	if (sc == NULL)
		return -1;
	sc->peer_auth = l->opts.peer_auth;
	if (listener_digest(ctx, l, p, sc->digest) < 0 ||
	    SSL_CTX_set_ex_data(ctx, scope_index, sc) != 1) {
		free(sc);
		return -1;
	}
	/* From here the context owns sc (freed with it). */
	if (SSL_CTX_set_session_id_context(ctx, sc->digest, sizeof(sc->digest)) != 1 ||
	    SSL_CTX_set_session_ticket_cb(ctx, ticket_issue, ticket_check, sc) != 1)
		return -1;
	return 0;
}

bool ssa_resumption_admits(SSL *ssl)
{
	const struct scope *sc = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), scope_index);

	if (sc == NULL)
		return false; /* every server context has one: refuse rather than guess */
	if (SSL_get0_peer_certificate(ssl) != NULL)
		return SSL_get_verify_result(ssl) == X509_V_OK;
	return sc->peer_auth != 1;
}
