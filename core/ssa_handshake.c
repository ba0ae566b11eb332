/*
 * The handshake: building the SSL object from the socket's options and the policy, stepping
 * it without blocking, and explaining a failure in one line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ssa_internal.h"

static bool is_ip_literal(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

/* The connected address as text, for certificates that name an IP (RFC 6125 section 1.7.2). */
static int peer_ip_text(struct ssa_sock *s, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const void *a;

	if (sys_getpeername(s->net_fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	a = ss.ss_family == AF_INET ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
				    : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
	return inet_ntop(ss.ss_family, a, buf, (socklen_t)size) ? 0 : -1;
}

static int set_peer_name(struct ssa_sock *s)
{
	X509_VERIFY_PARAM *param = SSL_get0_param(s->ssl);
	const char *name = s->opts.hostname;
	char ip[INET6_ADDRSTRLEN];

	if (name[0] == '\0') {
		if (peer_ip_text(s, ip, sizeof(ip)) < 0)
			return -1;
		return X509_VERIFY_PARAM_set1_ip_asc(param, ip) == 1 ? 0 : -1;
	}
	if (is_ip_literal(name))
		return X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1 ? 0 : -1;
	/* RFC 9525 section 6.3: names come from subjectAltName only, never the CN. */
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
						   X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	if (SSL_set_tlsext_host_name(s->ssl, name) != 1 || SSL_set1_host(s->ssl, name) != 1)
		return -1;
	return 0;
}

static int apply_socket_options(struct ssa_sock *s)
{
	struct ssa_opts *o = &s->opts;
	SSL *ssl = s->ssl;

	if ((o->version_min && SSL_set_min_proto_version(ssl, o->version_min) != 1) ||
	    (o->version_max && SSL_set_max_proto_version(ssl, o->version_max) != 1) ||
	    (o->ciphers12 && SSL_set_cipher_list(ssl, o->ciphers12) != 1) ||
	    (o->suites13 && SSL_set_ciphersuites(ssl, o->suites13) != 1))
		return -1;
	if (o->alpn_len > 0 && SSL_set_alpn_protos(ssl, o->alpn_wire, o->alpn_len) != 0)
		return -1;
	if (o->trust != NULL && SSL_set1_verify_cert_store(ssl, o->trust) != 1)
		return -1;
	if (o->nchains > 0 && o->chains[0].key != NULL) {
		if (SSL_use_cert_and_key(ssl, o->chains[0].leaf, o->chains[0].key,
					 o->chains[0].intermediates, 1) != 1)
			return -1;
		SSL_set_post_handshake_auth(ssl,
					    1); /* a server may ask for it after the handshake */
	}
	return 0;
}

/* Engine thread: T is connected (client) or accepted (server); create the SSL object. */
int ssa_handshake_begin(struct ssa_sock *s)
{
	SSL_CTX *ctx = s->role == SSA_CLIENT ? ssa_client_ctx()
		       : s->own_ctx          ? s->own_ctx
					     : s->parent->listener->ctx;

	if (ctx == NULL || (s->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(s->ssl, s->net_fd) != 1)
		goto fail;
	if (s->role == SSA_SERVER) {
		SSL_set_accept_state(s->ssl);
		return 0;
	}
	SSL_set_connect_state(s->ssl);
	if (set_peer_name(s) < 0 || apply_socket_options(s) < 0)
		goto fail;
	ssa_session_offer(s);
	ssa_revocation_prepare(s);
	return 0;
fail:
	ssa_fail(s, SSA_E_HANDSHAKE, "cannot set up TLS: %s",
		 ERR_reason_error_string(ERR_peek_last_error()) ?: "out of memory");
	ERR_clear_error();
	return -1;
}

/* Returns 1 when the handshake is done, 0 when it waits for the network, -1 on failure. */
int ssa_handshake_step(struct ssa_sock *s)
{
	int r = s->early_done ? 1 : ssa_early_step(s);

	if (r <= 0)
		return r;
	r = SSL_do_handshake(s->ssl);
	if (r == 1) {
		if (s->role == SSA_SERVER && !ssa_resumption_admits(s->ssl)) {
			ssa_fail(s, SSA_E_VERIFY,
				 "the client has no verified certificate, "
				 "which this listener requires");
			return -1;
		}
		ssa_early_settle(s);
		ssa_handshake_snapshot(s);
		return 1;
	}
	return ssa_handshake_want(s, r);
}

/* After an OpenSSL call returned r <= 0: 0 when it waits for T (now watched), -1 failed. */
int ssa_handshake_want(struct ssa_sock *s, int r)
{
	switch (SSL_get_error(s->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		ssa_engine_set_events(s, EPOLLIN, s->app_events);
		return 0;
	case SSL_ERROR_WANT_WRITE:
		ssa_engine_set_events(s, EPOLLOUT, s->app_events);
		return 0;
	default:
		ssa_describe_tls_failure(s, r);
		return -1;
	}
}

static void describe_verify_failure(struct ssa_sock *s, long v)
{
	const char *name = s->opts.hostname[0] ? s->opts.hostname : "the connected address";

	if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
		ssa_fail(s, SSA_E_VERIFY, "certificate is not valid for %s", name);
	else
		ssa_fail(s, SSA_E_VERIFY, "%s (%s)", X509_verify_cert_error_string(v), name);
}

void ssa_describe_tls_failure(struct ssa_sock *s, int ssl_ret)
{
	if (s->rev_stapled_result == SSA_REV_REVOKED) {
		ERR_clear_error(); /* check_staple() said why */
		return;
	}
	int err = SSL_get_error(s->ssl, ssl_ret);
	long v = SSL_get_verify_result(s->ssl);
	unsigned long e = ERR_peek_last_error();
	int sys = errno;

	if (s->role == SSA_CLIENT && v != X509_V_OK)
		describe_verify_failure(s, v);
	else if (e != 0)
		ssa_fail(s, SSA_E_HANDSHAKE, "%s", ERR_reason_error_string(e) ?: "unknown error");
	else if (err == SSL_ERROR_SYSCALL && sys != 0)
		ssa_fail_errno(s, SSA_E_NETWORK, sys, "%s during the TLS handshake", strerror(sys));
	else
		ssa_fail(s, SSA_E_HANDSHAKE, "the peer closed the connection during the handshake");
	ERR_clear_error();
}

static char *chain_pem(SSL *ssl, bool server_side)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long len;

	if (bio == NULL || leaf == NULL)
		goto out;
	/* A server's view of the chain lacks the client's leaf (SSL_get_peer_cert_chain(3)). */
	if (server_side)
		PEM_write_bio_X509(bio, leaf);
	for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++)
		PEM_write_bio_X509(bio, sk_X509_value(chain, i));
	len = BIO_get_mem_data(bio, &data);
	out = malloc((size_t)len + 1);
	if (out != NULL) {
		memcpy(out, data, (size_t)len);
		out[len] = '\0';
	}
out:
	BIO_free(bio);
	return out;
}

/* Records what was negotiated, once, for the application's getsockopt(). */
void ssa_handshake_snapshot(struct ssa_sock *s)
{
	struct ssa_conn_info *i = &s->info;
	const unsigned char *alpn;
	unsigned alpn_len;
	const char *sni = SSL_get_servername(s->ssl, TLSEXT_NAMETYPE_host_name);
	X509 *peer = SSL_get0_peer_certificate(s->ssl);
	char *pem = chain_pem(s->ssl, s->role == SSA_SERVER);

	pthread_mutex_lock(&s->lock);
	i->version = SSL_version(s->ssl);
	i->resumed = SSL_session_reused(s->ssl);
	snprintf(i->cipher, sizeof(i->cipher), "%s",
		 SSL_CIPHER_standard_name(SSL_get_current_cipher(s->ssl)));
	SSL_get0_alpn_selected(s->ssl, &alpn, &alpn_len);
	if (alpn_len > 0)
		memcpy(i->alpn, alpn, alpn_len);
	i->alpn[alpn_len] = '\0';
	snprintf(i->sni, sizeof(i->sni), "%s", sni ? sni : "");
	i->peer_identity[0] = '\0';
	if (peer != NULL)
		X509_NAME_oneline(X509_get_subject_name(peer), i->peer_identity,
				  sizeof(i->peer_identity));
	i->local_len = sizeof(i->local);
	sys_getsockname(s->net_fd, (struct sockaddr *)&i->local, &i->local_len);
	i->peer_len = sizeof(i->peer);
	sys_getpeername(s->net_fd, (struct sockaddr *)&i->peer, &i->peer_len);
	free(s->peer_chain_pem);
	s->peer_chain_pem = pem;
	pthread_mutex_unlock(&s->lock);
}

/* TLS_TRUSTED_CIPHERS: what this socket may negotiate, IANA names separated by ':'. */
char *ssa_ciphers_allowed(struct ssa_sock *s)
{
	SSL_CTX *ctx = ssa_client_ctx();
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	STACK_OF(SSL_CIPHER) * list;
	size_t size = 1, used = 0;
	char *out = NULL;

	if (ssl == NULL)
		goto out;
	if ((s->opts.ciphers12 && SSL_set_cipher_list(ssl, s->opts.ciphers12) != 1) ||
	    (s->opts.suites13 && SSL_set_ciphersuites(ssl, s->opts.suites13) != 1))
		goto out;
	list = SSL_get_ciphers(ssl);
	for (int i = 0; i < sk_SSL_CIPHER_num(list); i++)
		size += strlen(SSL_CIPHER_standard_name(sk_SSL_CIPHER_value(list, i))) + 1;
	if ((out = malloc(size)) == NULL)
		goto out;
	out[0] = '\0';
	for (int i = 0; i < sk_SSL_CIPHER_num(list); i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s", used ? ":" : "",
					 SSL_CIPHER_standard_name(sk_SSL_CIPHER_value(list, i)));
out:
	ERR_clear_error();
	SSL_free(ssl);
	return out;
}
