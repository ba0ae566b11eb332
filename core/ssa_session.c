/*
 * Client session resumption.
 *
 * Sessions are kept per (context, host name, port, trust, versions): never by IP address
 * alone, and never across trust stores, since a session verified against one set of anchors
 * must not stand in for a verification against another.  A context is a namespace: every
 * socket starts in the process's default context; TLS_CONTEXT moves sockets into a shared or a
 * private one.  TLS 1.3 tickets are taken when used (RFC 8446 section C.4: single use).
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

/*
 * A session carries the client certificate it was established with: a socket without that
 * certificate (or with another) must never resume it and so pass as its owner.
 */
static const char *client_identity(struct ssa_sock *s, char *buf, size_t size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	buf[0] = '\0';
	if (s->opts.nchains > 0 && s->opts.chains[0].key != NULL &&
	    X509_digest(s->opts.chains[0].leaf, EVP_sha256(), md, &len) == 1)
		for (unsigned i = 0; i < len && 2 * i + 2 < size; i++)
			snprintf(buf + 2 * i, size - 2 * i, "%02x", md[i]);
	return buf;
}

static char *session_key(struct ssa_sock *s)
{
	char port[8] = "", name[SSA_HOSTNAME_MAX + 1], id[2 * EVP_MAX_MD_SIZE + 1];
	const struct sockaddr_storage *a = &s->connect_addrs[s->next_addr ? s->next_addr - 1 : 0];
	size_t n = 64 + SSA_HOSTNAME_MAX + 64 + sizeof(id);
	char *key = malloc(n);

	if (key == NULL)
		return NULL;
	snprintf(port, sizeof(port), "%u",
		 ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
						: ((const struct sockaddr_in *)a)->sin_port));
	snprintf(name, sizeof(name), "%s", s->opts.hostname);
	/* Without a name the certificate was checked against the address: key by it. */
	if (name[0] == '\0' && s->net_fd >= 0) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);

		if (sys_getpeername(s->net_fd, (struct sockaddr *)&peer, &len) == 0)
			inet_ntop(peer.ss_family,
				  peer.ss_family == AF_INET6
				      ? (const void *)&((struct sockaddr_in6 *)&peer)->sin6_addr
				      : (const void *)&((struct sockaddr_in *)&peer)->sin_addr,
				  name, sizeof(name));
	}
	snprintf(key, n, "%u|%016llx|%s|%s|%p|%x|%x|%s", (unsigned)s->owner_uid,
		 (unsigned long long)s->opts.context, name, port, (void *)s->opts.trust,
		 (unsigned)s->opts.version_min, (unsigned)s->opts.version_max,
		 client_identity(s, id, sizeof(id)));
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
