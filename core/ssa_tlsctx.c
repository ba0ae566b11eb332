/*
 * TLS contexts, trust stores and certificate files.
 *
 * Loading a trust store costs milliseconds, so contexts are shared: one client context per
 * process (per-socket settings go on the SSL object), one server context per listener, and
 * trust stores named by applications are cached by path.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ssa_internal.h"

/* One client context per profile (ssad serves several), built on first use. */
static pthread_mutex_t client_lock = PTHREAD_MUTEX_INITIALIZER;

static int apply_policy(SSL_CTX *ctx, const struct ssa_policy *p)
{
	if (SSL_CTX_set_min_proto_version(ctx, p->min_version) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, p->max_version) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, p->ciphers12) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, p->suites13) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, p->groups) != 1)
		return -1;
	SSL_CTX_set_security_level(ctx, p->security_level);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	/* Idle connections give their 16 KiB record buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Several records per recv() from T: fewer system calls on bulk transfers. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, SSA_SCRATCH_SIZE);
	SSL_CTX_set_verify_depth(ctx, p->verify_depth);
	return 0;
}

static int load_policy_trust(SSL_CTX *ctx, const struct ssa_policy *p)
{
	/*
	 * The system store by its compiled-in paths, not SSL_CTX_set_default_verify_paths():
	 * that honours SSL_CERT_FILE/SSL_CERT_DIR, which would let a program pick its own anchors
	 * where the policy forbids it.
	 */
	if (p->trust_file == NULL && p->trust_dir == NULL) {
		SSL_CTX_load_verify_file(ctx, X509_get_default_cert_file());
		SSL_CTX_load_verify_dir(ctx, X509_get_default_cert_dir());
		ERR_clear_error();
		return 0;
	}
	return SSL_CTX_load_verify_locations(ctx, p->trust_file, p->trust_dir) == 1 ? 0 : -1;
}

static SSL_CTX *build_client_ctx(const struct ssa_policy *p)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL || apply_policy(ctx, p) < 0 || load_policy_trust(ctx, p) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ssa_session_configure_client(ctx);
	ssa_revocation_configure_client(ctx);
	return ctx;
}

SSL_CTX *ssa_client_ctx(void)
{
	struct ssa_policy *p = (struct ssa_policy *)ssa_current_policy();
	SSL_CTX *ctx = __atomic_load_n(&p->client_ctx, __ATOMIC_ACQUIRE);

	if (ctx != NULL)
		return ctx;
	pthread_mutex_lock(&client_lock);
	if (p->client_ctx == NULL)
		__atomic_store_n(&p->client_ctx, build_client_ctx(p), __ATOMIC_RELEASE);
	ctx = p->client_ctx;
	pthread_mutex_unlock(&client_lock);
	return ctx;
}

/* The chain whose leaf names the client's SNI, else the first (RFC 6066 section 3). */
static int select_certificate(SSL *ssl, void *arg)
{
	struct ssa_sock *l = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	struct ssa_chain *c = &l->opts.chains[0];

	for (unsigned i = 0; name != NULL && i < l->opts.nchains; i++) {
		if (X509_check_host(l->opts.chains[i].leaf, name, 0, 0, NULL) == 1) {
			c = &l->opts.chains[i];
			break;
		}
	}
	return SSL_use_cert_and_key(ssl, c->leaf, c->key, c->intermediates, 1) == 1;
}

/* A listener with TLS_HOSTNAME serves only that name. */
static int check_servername(SSL *ssl, int *alert, void *arg)
{
	struct ssa_sock *l = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (l->opts.serve_name[0] == '\0' ||
	    (name != NULL && strcasecmp(name, l->opts.serve_name) == 0))
		return SSL_TLSEXT_ERR_OK;
	*alert = SSL_AD_UNRECOGNIZED_NAME;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* RFC 7301 section 3.2: with no protocol in common the server answers no_application_protocol. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned inlen, void *arg)
{
	struct ssa_sock *l = arg;
	unsigned char *chosen;

	(void)ssl;
	if (SSL_select_next_proto(&chosen, outlen, l->opts.alpn_wire, l->opts.alpn_len, in,
				  inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = chosen;
	return SSL_TLSEXT_ERR_OK;
}

/* Session cache and tickets with the policy's lifetime; a lifetime of 0 turns both off. */
static void configure_server_sessions(SSL_CTX *ctx, const struct ssa_policy *p, int app_ttl)
{
	int ttl = app_ttl >= 0 ? app_ttl : p->session_ttl;

	if (ttl == 0) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
		return;
	}
	SSL_CTX_set_timeout(ctx, ttl);
	/* OpenSSL reads a size of 0 as "no limit"; ours means no server-side cache. */
	if (p->session_cache_size == 0)
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	else
		SSL_CTX_sess_set_cache_size(ctx, p->session_cache_size);
	if (!p->tickets)
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
}

/* Names of the anchors, sent in CertificateRequest so clients pick a fitting certificate. */
static int advertise_anchors(SSL_CTX *ctx, X509_STORE *store)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
	STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();

	for (int i = 0; names != NULL && i < sk_X509_OBJECT_num(objs); i++) {
		X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
		X509_NAME *n = x ? X509_NAME_dup(X509_get_subject_name(x)) : NULL;

		if (n != NULL && sk_X509_NAME_push(names, n) <= 0)
			X509_NAME_free(n);
	}
	if (names == NULL)
		return -1;
	SSL_CTX_set0_CA_list(ctx, names);
	return 0;
}

static int request_client_certificates(SSL_CTX *ctx, struct ssa_sock *l, const struct ssa_policy *p)
{
	int mode = SSL_VERIFY_PEER | (l->opts.peer_auth == 1 ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);

	if (l->opts.trust != NULL) {
		if (SSL_CTX_set1_verify_cert_store(ctx, l->opts.trust) != 1)
			return -1;
	} else if (load_policy_trust(ctx, p) < 0) {
		return -1;
	}
	SSL_CTX_set_verify(ctx, mode, NULL);
	return advertise_anchors(ctx, l->opts.trust ? l->opts.trust : SSL_CTX_get_cert_store(ctx));
}

SSL_CTX *ssa_server_ctx_new(struct ssa_sock *l, char *why, size_t why_size)
{
	const struct ssa_policy *p = ssa_current_policy();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL || apply_policy(ctx, p) < 0)
		goto fail;
	if (l->opts.version_min && SSL_CTX_set_min_proto_version(ctx, l->opts.version_min) != 1)
		goto fail;
	if (l->opts.version_max && SSL_CTX_set_max_proto_version(ctx, l->opts.version_max) != 1)
		goto fail;
	if (l->opts.ciphers12 && SSL_CTX_set_cipher_list(ctx, l->opts.ciphers12) != 1)
		goto fail;
	if (l->opts.suites13 && SSL_CTX_set_ciphersuites(ctx, l->opts.suites13) != 1)
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	configure_server_sessions(ctx, p, l->opts.session_ttl);
	ssa_early_configure_server(ctx, p);
	if (p->tickets && p->session_ttl > 0 && l->opts.session_ttl != 0 &&
	    ssa_tickets_configure_server(ctx, p, l->owner_uid, why, why_size) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_cert_cb(ctx, select_certificate, l);
	SSL_CTX_set_tlsext_servername_callback(ctx, check_servername);
	SSL_CTX_set_tlsext_servername_arg(ctx, l);
	if (l->opts.alpn_len > 0)
		SSL_CTX_set_alpn_select_cb(ctx, select_alpn, l);
	if (l->opts.peer_auth != 0 && request_client_certificates(ctx, l, p) < 0)
		goto fail;
	/* Last, once every setting that governs acceptance is in place. */
	if (ssa_resumption_configure_server(ctx, l, p) < 0)
		goto fail;
	return ctx;
fail:
	snprintf(why, why_size, "%s",
		 ERR_reason_error_string(ERR_peek_last_error()) ?: "out of memory");
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

static const char *openssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : "unknown reason";
}

static int load_trust_file(X509_STORE *store, const char *path)
{
	int ok = X509_STORE_load_file(store, path) == 1;

	ERR_clear_error();
	return ok;
}

/* A directory of PEM files: every file that holds certificates counts (no c_rehash needed). */
static int load_trust_dir(X509_STORE *store, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];
	int loaded = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			loaded += load_trust_file(store, path);
	}
	closedir(d);
	return loaded;
}

/*
 * Parsing PEM costs hundreds of microseconds in OpenSSL 3 (decoder look-ups), so stores are
 * cached by path, and reloaded when the file changes.  The caller still stat()s the path with
 * its own rights on every call, so the cache never lets anyone use a file they cannot reach.
 */
struct trust_entry {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	X509_STORE *store;
	struct trust_entry *next;
};

static pthread_mutex_t trust_lock = PTHREAD_MUTEX_INITIALIZER;
static struct trust_entry *trust_cache;
static unsigned trust_cached;

static bool same_file(const struct trust_entry *t, const char *path, const struct stat *st)
{
	return strcmp(t->path, path) == 0 && t->dev == st->st_dev && t->ino == st->st_ino &&
	       t->size == st->st_size && t->mtime.tv_sec == st->st_mtim.tv_sec &&
	       t->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static X509_STORE *trust_cache_get(const char *path, const struct stat *st)
{
	X509_STORE *store = NULL;

	pthread_mutex_lock(&trust_lock);
	for (struct trust_entry *t = trust_cache; t != NULL; t = t->next)
		if (same_file(t, path, st) && X509_STORE_up_ref(t->store) == 1) {
			store = t->store;
			break;
		}
	pthread_mutex_unlock(&trust_lock);
	return store;
}

static bool is_supplied(const struct trust_entry *t) /* anchors sent as bytes (ssad) */
{
	return strncmp(t->path, "sha256:", 7) == 0;
}

static bool any_entry(const struct trust_entry *t)
{
	(void)t;
	return true;
}

/* Under trust_lock: the oldest entry that matches, unlinked; NULL if none. */
static struct trust_entry *trust_cache_take_oldest(bool (*match)(const struct trust_entry *))
{
	struct trust_entry **victim = NULL, *t;

	for (struct trust_entry **pp = &trust_cache; *pp != NULL; pp = &(*pp)->next)
		if (match(*pp))
			victim = pp;
	if (victim == NULL)
		return NULL;
	t = *victim;
	*victim = t->next;
	trust_cached--;
	return t;
}

static unsigned trust_cache_count(bool (*match)(const struct trust_entry *))
{
	unsigned n = 0;

	for (const struct trust_entry *t = trust_cache; t != NULL; t = t->next)
		n += match(t);
	return n;
}

/*
 * A small cache: directories of applications' anchors are few; past TRUST_CACHED_MAX, the
 * oldest goes.  Anchors sent as bytes (ssad) are any caller's choice, each store megabytes at
 * worst: at most TRUST_SUPPLIED_MAX of them stay cached, the rest live as long as their sockets.
 */
#define TRUST_CACHED_MAX   64
#define TRUST_SUPPLIED_MAX 8

static void trust_cache_put(const char *path, const struct stat *st, X509_STORE *store)
{
	struct trust_entry *t = calloc(1, sizeof(*t)), *gone = NULL;

	if (t == NULL || (t->path = strdup(path)) == NULL || X509_STORE_up_ref(store) != 1) {
		if (t)
			free(t->path);
		free(t);
		return;
	}
	t->dev = st->st_dev;
	t->ino = st->st_ino;
	t->size = st->st_size;
	t->mtime = st->st_mtim;
	t->store = store;
	pthread_mutex_lock(&trust_lock);
	t->next = trust_cache;
	trust_cache = t;
	trust_cached++;
	if (is_supplied(t) && trust_cache_count(is_supplied) > TRUST_SUPPLIED_MAX)
		gone = trust_cache_take_oldest(is_supplied);
	else if (trust_cached > TRUST_CACHED_MAX)
		gone = trust_cache_take_oldest(any_entry);
	pthread_mutex_unlock(&trust_lock);
	if (gone != NULL) {
		X509_STORE_free(gone->store);
		free(gone->path);
		free(gone);
	}
}

static __thread const struct ssa_supplied_file *supplied;

void ssa_supply_file(const struct ssa_supplied_file *f)
{
	supplied = f;
}

/*
 * Anchors an application sent: at most SSA_SUPPLIED_ANCHORS_MAX certificates, read one at a
 * time, so that no caller makes ssad parse and hold thousands (a system bundle has ~150).
 * Returns how many were loaded, or -1 (E2BIG) for too many.
 */
#define SSA_SUPPLIED_ANCHORS_MAX 1000

static int load_trust_bytes(X509_STORE *store, const void *data, size_t len)
{
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	X509 *x;
	int loaded = 0, read = 0;

	while (bio != NULL && (x = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL)) != NULL) {
		if (++read > SSA_SUPPLIED_ANCHORS_MAX) {
			X509_free(x);
			loaded = -1;
			break;
		}
		loaded += X509_STORE_add_cert(store, x) == 1;
		X509_free(x);
	}
	BIO_free(bio);
	ERR_clear_error();
	return loaded;
}

/*
 * Anchors an application sent (ssad): cached by their digest, so the same bytes from any
 * caller share one store and nobody reaches a store through a path.
 */
static X509_STORE *trust_from_bytes(const char *path, char *why, size_t why_size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char key[2 * EVP_MAX_MD_SIZE + 8] = "sha256:";
	struct stat st = {0};
	X509_STORE *store;

	if (supplied->err != 0) {
		snprintf(why, why_size, "%s: %s", path, strerror(supplied->err));
		return NULL;
	}
	if (EVP_Digest(supplied->data, supplied->len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return NULL;
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(key + 7 + 2 * i, 3, "%02x", md[i]);
	if ((store = trust_cache_get(key, &st)) != NULL)
		return store;
	if ((store = X509_STORE_new()) == NULL) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	switch (load_trust_bytes(store, supplied->data, supplied->len)) {
	case -1:
		snprintf(why, why_size, "%s: more than %d certificates", path,
			 SSA_SUPPLIED_ANCHORS_MAX);
		X509_STORE_free(store);
		return NULL;
	case 0:
		snprintf(why, why_size, "%s: no PEM certificate found", path);
		X509_STORE_free(store);
		return NULL;
	}
	trust_cache_put(key, &st, store);
	return store;
}

/* Loads trust anchors named by an application, with the application's rights. */
X509_STORE *ssa_trust_load(const char *path, char *why, size_t why_size)
{
	X509_STORE *store;
	struct stat st;
	int loaded;

	if (supplied != NULL)
		return trust_from_bytes(path, why, why_size);
	if (stat(path, &st) < 0 || access(path, R_OK) < 0) {
		snprintf(why, why_size, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		snprintf(why, why_size, "%s: not a regular file or a directory", path);
		return NULL;
	}
	if ((store = trust_cache_get(path, &st)) != NULL)
		return store;
	store = X509_STORE_new();
	if (store == NULL) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	loaded = S_ISDIR(st.st_mode) ? load_trust_dir(store, path) : load_trust_file(store, path);
	if (loaded == 0) {
		snprintf(why, why_size, "%s: no PEM certificate found", path);
		X509_STORE_free(store);
		return NULL;
	}
	trust_cache_put(path, &st, store);
	return store;
}

static BIO *open_pem(const char *path, char *why, size_t n)
{
	struct stat st;
	BIO *bio;

	if (supplied != NULL) {
		if (supplied->err != 0 || supplied->is_dir) {
			snprintf(why, n, "%s: %s", path,
				 supplied->err ? strerror(supplied->err) : "not a regular file");
			return NULL;
		}
		return BIO_new_mem_buf(supplied->data, (int)supplied->len);
	}
	if (stat(path, &st) < 0) {
		snprintf(why, n, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, n, "%s: not a regular file", path);
		return NULL;
	}
	bio = BIO_new_file(path, "r");
	if (bio == NULL)
		snprintf(why, n, "%s: %s", path, strerror(errno));
	return bio;
}

/* A PEM chain file: leaf first, then intermediates. */
int ssa_chain_load(struct ssa_chain *c, const char *path, char *why, size_t n)
{
	BIO *bio = open_pem(path, why, n);
	X509 *x;

	memset(c, 0, sizeof(*c));
	if (bio == NULL)
		return -1;
	c->intermediates = sk_X509_new_null();
	c->leaf = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
	while (c->leaf != NULL && (x = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL)) != NULL)
		sk_X509_push(c->intermediates, x);
	ERR_clear_error();
	BIO_free(bio);
	if (c->leaf == NULL) {
		snprintf(why, n, "%s: no PEM certificate found", path);
		ssa_chain_free(c);
		return -1;
	}
	return 0;
}

int ssa_key_load(struct ssa_chain *c, const char *path, char *why, size_t n)
{
	BIO *bio = open_pem(path, why, n);
	EVP_PKEY *key;

	if (bio == NULL)
		return -1;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
	BIO_free(bio);
	if (key == NULL) {
		snprintf(why, n, "%s: no unencrypted PEM private key found (%s)", path,
			 openssl_reason());
		ERR_clear_error();
		return -1;
	}
	if (X509_check_private_key(c->leaf, key) != 1) {
		ERR_clear_error();
		EVP_PKEY_free(key);
		return 1;
	}
	EVP_PKEY_free(c->key);
	c->key = key;
	return 0;
}

void ssa_chain_free(struct ssa_chain *c)
{
	X509_free(c->leaf);
	sk_X509_pop_free(c->intermediates, X509_free);
	EVP_PKEY_free(c->key);
	memset(c, 0, sizeof(*c));
}

const char *ssa_version_name(int version)
{
	switch (version) {
	case TLS1_2_VERSION:
		return "TLS 1.2";
	case TLS1_3_VERSION:
		return "TLS 1.3";
	default:
		return "an older TLS version";
	}
}

/* TLS_1_2/TLS_1_3 are the wire values (0x0303/0x0304), which OpenSSL also uses. */
int ssa_version_from_wire(int wire)
{
	return wire == TLS1_2_VERSION || wire == TLS1_3_VERSION ? wire : 0;
}
