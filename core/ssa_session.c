/*
 * Client session resumption.
 *
 * Sessions are kept per user, context, profile, host name, port and every verification setting
 * (session_key()): never by IP address alone, and never across trust stores or profiles, since a
 * session verified under one set of settings must not stand in for a verification under another.  A
 * context is a namespace: every socket starts in the process's default context; TLS_CONTEXT moves
 * sockets into a shared or a private one.  TLS 1.3 tickets are taken when used (RFC 8446 section
 * C.4: single use).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "ssa_internal.h"

#define SSA_SESSION_BUCKETS 1024 /* power of two */
#define SSA_SESSIONS_MAX    4096

struct session_entry {
	char *key;
	SSL_SESSION *session;
	struct session_entry *next;
};

static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static struct session_entry *sessions[SSA_SESSION_BUCKETS];
static unsigned nsessions;
static int key_index = -1;
static uint64_t default_context, next_context;

static unsigned hash(const char *key)
{
	unsigned h = 2166136261u;

	while (*key)
		h = (h ^ (unsigned char)*key++) * 16777619u;
	return h & (SSA_SESSION_BUCKETS - 1);
}

static void free_key(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	free(ptr);
}

static void init_contexts(void)
{
	key_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_key);
	default_context = ssa_next_id();
	next_context = default_context;
}

static pthread_once_t sessions_once = PTHREAD_ONCE_INIT;

uint64_t ssa_session_default_context(void)
{
	pthread_once(&sessions_once, init_contexts);
	return default_context;
}

/* A new private context: ids come from the same generator as socket ids, never reused. */
uint64_t ssa_session_new_context(void)
{
	pthread_once(&sessions_once, init_contexts);
	return ssa_next_id();
}

/* The name the certificate was checked against: the host name, else the connected address. */
static void verified_name(struct ssa_sock *s, char *name, size_t size)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);

	snprintf(name, size, "%s", s->opts.hostname);
	if (name[0] == '\0' && s->net_fd >= 0 &&
	    sys_getpeername(s->net_fd, (struct sockaddr *)&peer, &len) == 0)
		inet_ntop(peer.ss_family,
			  peer.ss_family == AF_INET6
			      ? (const void *)&((struct sockaddr_in6 *)&peer)->sin6_addr
			      : (const void *)&((struct sockaddr_in *)&peer)->sin_addr,
			  name, (socklen_t)size);
}

static unsigned peer_port(struct ssa_sock *s)
{
	const struct sockaddr_storage *a = &s->connect_addrs[s->next_addr ? s->next_addr - 1 : 0];

	return ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
					      : ((const struct sockaddr_in *)a)->sin_port);
}

/*
 * A resumed session skips the verification of the server, so it stands in only for one made
 * under the same settings: the key is a digest of all that the verification depended on.  The
 * user and the context; the profile (ssad serves several to one user) and its anchors, or the
 * socket's; the versions, ciphers, depth and revocation checks in force on this SSL object;
 * the name and port; and the client certificate the session was established with, so that a
 * socket without that certificate (or with another) never resumes it and so passes as its
 * owner.  Called once the socket's options are applied to s->ssl.
 */
static char *session_key(struct ssa_sock *s)
{
	const struct ssa_policy *p = s->policy != NULL ? s->policy : ssa_current_policy();
	STACK_OF(SSL_CIPHER) *ciphers = SSL_get_ciphers(s->ssl);
	char name[SSA_HOSTNAME_MAX + 1], *key;
	unsigned char md[SSA_DIGEST_SIZE];
	struct ssa_digest d;

	verified_name(s, name, sizeof(name));
	ssa_digest_begin(&d, "ssa client session v1");
	ssa_digest_int(&d, s->owner_uid);
	ssa_digest_int(&d, (int64_t)s->opts.context);
	ssa_digest_str(&d, name);
	ssa_digest_int(&d, peer_port(s));
	ssa_digest_str(&d, p->profile);
	if (s->opts.trust != NULL) {
		ssa_digest_str(&d, "socket anchors");
		ssa_digest_store(&d, s->opts.trust);
	} else { /* the profile's store, loaded once per profile (ssa_client_ctx()) */
		ssa_digest_str(&d, p->trust_file);
		ssa_digest_str(&d, p->trust_dir);
	}
	ssa_digest_int(&d, SSL_get_verify_depth(s->ssl));
	ssa_digest_int(&d, SSL_get_security_level(s->ssl));
	ssa_digest_int(&d, SSL_get_min_proto_version(s->ssl));
	ssa_digest_int(&d, SSL_get_max_proto_version(s->ssl));
	for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); i++)
		ssa_digest_int(&d, (int64_t)SSL_CIPHER_get_id(sk_SSL_CIPHER_value(ciphers, i)));
	ssa_digest_int(&d, s->opts.rev_stapled);
	ssa_digest_int(&d, s->opts.rev_ocsp);
	ssa_digest_int(&d, s->opts.rev_crl);
	ssa_digest_int(&d, p->rev_hard_fail);
	if (s->opts.nchains > 0 && s->opts.chains[0].key != NULL)
		ssa_digest_cert(&d, s->opts.chains[0].leaf);
	else
		ssa_digest_str(&d, NULL);
	if (ssa_digest_end(&d, md) < 0 || (key = malloc(2 * sizeof(md) + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(key + 2 * i, 3, "%02x", md[i]);
	return key;
}

static void entry_free(struct session_entry *e)
{
	SSL_SESSION_free(e->session);
	free(e->key);
	free(e);
}

/*
 * Engine thread, before the handshake: offer a cached session if there is one.  Sessions of
 * the key that can no longer be resumed go on the way (OpenSSL marks a connection's session so
 * when the connection is cut): left in the cache, they would be offered in vain, each time
 * costing a full handshake whose session holds a peer chain of its own.
 */
void ssa_session_offer(struct ssa_sock *s)
{
	struct session_entry **pp, *e = NULL, *dead = NULL;
	char *key;

	if (!s->opts.session_reuse || s->opts.session_ttl == 0 ||
	    ssa_current_policy()->session_ttl == 0 || (key = session_key(s)) == NULL)
		return;
	SSL_set_ex_data(s->ssl, key_index, key);
	pthread_mutex_lock(&sessions_lock);
	for (pp = &sessions[hash(key)]; *pp != NULL && e == NULL;) {
		struct session_entry *at = *pp;

		if (strcmp(at->key, key) != 0) {
			pp = &at->next;
			continue;
		}
		*pp = at->next; /* taken: a ticket is used once */
		nsessions--;
		if (SSL_SESSION_is_resumable(at->session)) {
			e = at;
		} else {
			at->next = dead;
			dead = at;
		}
	}
	pthread_mutex_unlock(&sessions_lock);
	while (dead != NULL) {
		struct session_entry *next = dead->next;

		entry_free(dead);
		dead = next;
	}
	ssa_debug(s, "session cache: %s", e ? "offering a session" : "none to offer");
	if (e == NULL)
		return;
	SSL_set_session(s->ssl, e->session);
	entry_free(e);
}

/* OpenSSL's new-session callback: keep the newest session for the connection's key. */
static int keep_session(SSL *ssl, SSL_SESSION *session)
{
	const char *key = SSL_get_ex_data(ssl, key_index);
	struct session_entry *e, **pp;

	ssa_debug(SSL_get_app_data(ssl), "session cache: keeping a session (%s)",
		  key ? "keyed" : "no key");
	if (key == NULL || (e = calloc(1, sizeof(*e))) == NULL)
		return 0;
	if ((e->key = strdup(key)) == NULL) {
		free(e);
		return 0;
	}
	e->session = session;
	pthread_mutex_lock(&sessions_lock);
	pp = &sessions[hash(key)];
	e->next = *pp;
	*pp = e;
	if (++nsessions > SSA_SESSIONS_MAX) {
		/* Crude but bounded: drop this bucket's oldest entry. */
		struct session_entry **last = pp;

		while ((*last)->next != NULL)
			last = &(*last)->next;
		if (*last != e) {
			SSL_SESSION_free((*last)->session);
			free((*last)->key);
			free(*last);
			*last = NULL;
			nsessions--;
		}
	}
	pthread_mutex_unlock(&sessions_lock);
	return 1; /* we hold the reference now */
}

void ssa_session_configure_client(SSL_CTX *ctx)
{
	pthread_once(&sessions_once, init_contexts);
	SSL_CTX_set_session_cache_mode(ctx,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, keep_session);
}
