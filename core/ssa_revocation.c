/*
 * Revocation: stapled OCSP (checked in the handshake), then an OCSP responder and CRLs
 * (checked after it, by a worker thread, since they need HTTP and must not stall the engine).
 *
 * Each method says good, revoked or unknown.  Any "revoked" fails the connection; any "good"
 * is enough; when all say unknown, the policy's revocation-hard-fail decides (RFC 6960 leaves
 * unknown to local policy).  The connection is not handed to the application before this.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "ssa_internal.h"

#define SSA_OCSP_MAX_AGE 604800 /* seconds a response without nextUpdate stays acceptable */
#define SSA_CLOCK_SKEW   300
#define SSA_HTTP_MAX     1000000

struct rev_job {
	struct ssa_sock *sock;
	X509 *leaf, *issuer;
	STACK_OF(X509) * untrusted;
	X509_STORE *store;
	int timeout; /* seconds for each HTTP exchange */
	struct rev_job *next;
};

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
static struct rev_job *jobs;
static bool worker_started;

bool ssa_revocation_wanted(const struct ssa_sock *s)
{
	return s->opts.rev_stapled || s->opts.rev_ocsp || s->opts.rev_crl;
}

static X509_STORE *trust_of(struct ssa_sock *s)
{
	return s->opts.trust ? s->opts.trust : SSL_CTX_get_cert_store(ssa_client_ctx());
}

/* Status of leaf in an OCSP response signed for issuer; *why says what was found. */
static enum ssa_rev check_ocsp_response(OCSP_RESPONSE *resp, X509 *leaf, X509 *issuer,
					STACK_OF(X509) * untrusted, X509_STORE *store,
					const char **why)
{
	OCSP_BASICRESP *basic = NULL;
	OCSP_CERTID *id = NULL;
	ASN1_GENERALIZEDTIME *this_upd, *next_upd;
	int status = -1, reason;
	enum ssa_rev result = SSA_REV_UNKNOWN;

	*why = "no usable OCSP response";
	if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    (basic = OCSP_response_get1_basic(resp)) == NULL)
		goto out;
	if (OCSP_basic_verify(basic, untrusted, store, 0) != 1) {
		*why = "OCSP response signature does not verify";
		goto out;
	}
	id = OCSP_cert_to_id(NULL, leaf, issuer);
	if (id == NULL ||
	    !OCSP_resp_find_status(basic, id, &status, &reason, NULL, &this_upd, &next_upd))
		goto out;
	if (OCSP_check_validity(this_upd, next_upd, SSA_CLOCK_SKEW, SSA_OCSP_MAX_AGE) != 1) {
		*why = "OCSP response is out of date";
		goto out;
	}
	if (status == V_OCSP_CERTSTATUS_GOOD)
		result = SSA_REV_GOOD;
	else if (status == V_OCSP_CERTSTATUS_REVOKED)
		result = SSA_REV_REVOKED;
	*why = status == V_OCSP_CERTSTATUS_UNKNOWN ? "OCSP responder does not know the certificate"
						   : "OCSP";
out:
	ERR_clear_error();
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(basic);
	return result;
}

/* During the handshake (status callback): judge the stapled response, if any. */
static int check_staple(SSL *ssl, void *arg)
{
	struct ssa_sock *s = SSL_get_app_data(ssl);
	STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);
	const unsigned char *der;
	long len = SSL_get_tlsext_status_ocsp_resp(ssl, &der);
	OCSP_RESPONSE *resp;
	const char *why = "no stapled OCSP response";

	(void)arg;
	if (s == NULL || !s->opts.rev_stapled)
		return 1;
	s->rev_stapled_result = SSA_REV_UNKNOWN;
	ssa_debug(s, "stapled OCSP: %ld bytes, verified chain of %d", len,
		  chain ? sk_X509_num(chain) : -1);
	if (len <= 0 || chain == NULL || sk_X509_num(chain) < 2)
		return 1;
	resp = d2i_OCSP_RESPONSE(NULL, &der, len);
	if (resp != NULL)
		s->rev_stapled_result =
		    check_ocsp_response(resp, sk_X509_value(chain, 0), sk_X509_value(chain, 1),
					SSL_get_peer_cert_chain(ssl), trust_of(s), &why);
	OCSP_RESPONSE_free(resp);
	ssa_debug(s, "stapled OCSP: %s (%s)",
		  s->rev_stapled_result == SSA_REV_GOOD      ? "good"
		  : s->rev_stapled_result == SSA_REV_REVOKED ? "revoked"
							     : "unknown",
		  why);
	if (s->rev_stapled_result == SSA_REV_REVOKED) {
		ssa_fail(s, SSA_E_REVOKED, "stapled OCSP says so");
		return 0;
	}
	return 1;
}

void ssa_revocation_configure_client(SSL_CTX *ctx)
{
	SSL_CTX_set_tlsext_status_cb(ctx, check_staple);
}

/* Engine thread, before the client handshake. */
void ssa_revocation_prepare(struct ssa_sock *s)
{
	SSL_set_app_data(s->ssl, s);
	s->rev_stapled_result = SSA_REV_UNKNOWN;
	if (s->opts.rev_stapled)
		SSL_set_tlsext_status_type(s->ssl, TLSEXT_STATUSTYPE_ocsp);
}

static char *first_url(STACK_OF(OPENSSL_STRING) * urls)
{
	char *u = sk_OPENSSL_STRING_num(urls) > 0 ? sk_OPENSSL_STRING_value(urls, 0) : NULL;

	return u ? OPENSSL_strdup(u) : NULL;
}

static BIO *http_post_ocsp(const char *url, OCSP_REQUEST *req, int timeout)
{
	char *host = NULL, *port = NULL, *path = NULL;
	int use_ssl = 0;
	BIO *body = BIO_new(BIO_s_mem()), *resp = NULL;

	if (body == NULL || i2d_OCSP_REQUEST_bio(body, req) <= 0 ||
	    !OSSL_HTTP_parse_url(url, &use_ssl, NULL, &host, &port, NULL, &path, NULL, NULL) ||
	    use_ssl)
		goto out;
	resp = OSSL_HTTP_transfer(NULL, host, port, path, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0,
				  NULL, "application/ocsp-request", body,
				  "application/ocsp-response", 1, SSA_HTTP_MAX, timeout, 0);
out:
	BIO_free(body);
	OPENSSL_free(host);
	OPENSSL_free(port);
	OPENSSL_free(path);
	return resp;
}

static enum ssa_rev query_responder(struct rev_job *j, int timeout, const char **why)
{
	STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(j->leaf);
	char *url = first_url(urls);
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, j->leaf, j->issuer);
	OCSP_RESPONSE *resp = NULL;
	enum ssa_rev r = SSA_REV_UNKNOWN;
	BIO *bio = NULL;

	*why = url ? "OCSP responder did not answer" : "certificate names no OCSP responder";
	if (url == NULL || req == NULL || id == NULL || !OCSP_request_add0_id(req, id))
		goto out;
	id = NULL; /* owned by req now */
	if ((bio = http_post_ocsp(url, req, timeout)) != NULL &&
	    (resp = d2i_OCSP_RESPONSE_bio(bio, NULL)) != NULL)
		r = check_ocsp_response(resp, j->leaf, j->issuer, j->untrusted, j->store, why);
out:
	ERR_clear_error();
	OCSP_RESPONSE_free(resp);
	BIO_free(bio);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	OPENSSL_free(url);
	X509_email_free(urls);
	return r;
}

static char *crl_url(X509 *leaf)
{
	STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(leaf, NID_crl_distribution_points, NULL, NULL);
	char *url = NULL;

	for (int i = 0; url == NULL && i < sk_DIST_POINT_num(dps); i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(dps, i);

		if (dp->distpoint == NULL || dp->distpoint->type != 0)
			continue;
		for (int k = 0;
		     url == NULL && k < sk_GENERAL_NAME_num(dp->distpoint->name.fullname); k++) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, k);
			int type;
			ASN1_STRING *uri = GENERAL_NAME_get0_value(gn, &type);

			if (type == GEN_URI)
				url = OPENSSL_strndup((const char *)ASN1_STRING_get0_data(uri),
						      (size_t)ASN1_STRING_length(uri));
		}
	}
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	return url;
}

static enum ssa_rev check_crl(struct rev_job *j, int timeout, const char **why)
{
	char *url = crl_url(j->leaf);
	BIO *bio = NULL;
	X509_CRL *crl = NULL;
	X509_REVOKED *entry = NULL;
	enum ssa_rev r = SSA_REV_UNKNOWN;
	const ASN1_TIME *next;

	*why = url ? "CRL could not be fetched" : "certificate names no CRL";
	if (url == NULL ||
	    (bio = OSSL_HTTP_get(url, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, 1,
				 SSA_HTTP_MAX, timeout)) == NULL ||
	    (crl = d2i_X509_CRL_bio(bio, NULL)) == NULL)
		goto out;
	*why = "CRL is not signed by the issuer, or out of date";
	next = X509_CRL_get0_nextUpdate(crl);
	if (X509_CRL_verify(crl, X509_get0_pubkey(j->issuer)) != 1 ||
	    X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(j->issuer)) != 0 ||
	    (next != NULL && X509_cmp_current_time(next) < 0))
		goto out;
	r = X509_CRL_get0_by_cert(crl, &entry, j->leaf) == 1 ? SSA_REV_REVOKED : SSA_REV_GOOD;
	*why = "CRL";
out:
	ERR_clear_error();
	X509_CRL_free(crl);
	BIO_free(bio);
	OPENSSL_free(url);
	return r;
}

/* Worker thread: the slow checks, then the verdict goes back to the engine. */
static void run_job(struct rev_job *j)
{
	struct ssa_sock *s = j->sock;
	int timeout = j->timeout;
	enum ssa_rev r = s->rev_stapled_result;
	const char *why = "no stapled OCSP response";

	if (r != SSA_REV_GOOD && s->opts.rev_ocsp)
		r = query_responder(j, timeout, &why);
	if (r == SSA_REV_UNKNOWN && s->opts.rev_crl)
		r = check_crl(j, timeout, &why);
	pthread_mutex_lock(&s->lock);
	s->rev_result = r;
	snprintf(s->rev_why, sizeof(s->rev_why), "%s", why);
	pthread_mutex_unlock(&s->lock);
	if (ssa_engine_submit(s, SSA_CMD_REVOCATION) < 0)
		ssa_debug(s, "revocation verdict lost: out of memory");
}

static void free_job(struct rev_job *j)
{
	X509_free(j->leaf);
	X509_free(j->issuer);
	sk_X509_pop_free(j->untrusted, X509_free);
	X509_STORE_free(j->store);
	ssa_sock_unref(j->sock);
	free(j);
}

static void *worker_main(void *arg)
{
	(void)arg;
	ssa_block_sigpipe();
	for (;;) {
		struct rev_job *j;

		pthread_mutex_lock(&jobs_lock);
		while (jobs == NULL)
			pthread_cond_wait(&jobs_cond, &jobs_lock);
		j = jobs;
		jobs = j->next;
		pthread_mutex_unlock(&jobs_lock);
		run_job(j);
		free_job(j);
	}
	return NULL;
}

/*
 * Engine thread, handshake done: 1 if the verdict is already in (stapled good, or nothing else
 * to ask), 0 if a worker will deliver it (SSA_CMD_REVOCATION), -1 on failure.
 */
int ssa_revocation_start(struct ssa_sock *s)
{
	STACK_OF(X509) *chain = SSL_get0_verified_chain(s->ssl);
	struct rev_job *j;
	pthread_t tid;

	if (s->role != SSA_CLIENT)
		return 1; /* a server checks no revocation of client certificates (yet) */
	s->rev_result = s->rev_stapled_result;
	snprintf(s->rev_why, sizeof(s->rev_why), "%s",
		 s->opts.rev_stapled ? "no valid stapled OCSP response" : "no check made");
	if (s->rev_result == SSA_REV_GOOD || (!s->opts.rev_ocsp && !s->opts.rev_crl))
		return 1;
	if (chain != NULL && sk_X509_num(chain) < 2) {
		s->rev_result =
		    SSA_REV_GOOD; /* the server's certificate is itself a trust anchor */
		return 1;
	}
	if (chain == NULL || (j = calloc(1, sizeof(*j))) == NULL)
		return -1;
	j->leaf = X509_dup(sk_X509_value(chain, 0));
	j->issuer = X509_dup(sk_X509_value(chain, 1));
	j->untrusted = X509_chain_up_ref(SSL_get_peer_cert_chain(s->ssl));
	/*
	 * OpenSSL's HTTP client retries a refused connection until its timeout: give each
	 * exchange a share of what is left of the handshake, so "unknown" beats the deadline.
	 */
	j->timeout = (int)((s->deadline_ms - ssa_now_ms()) / 3000);
	if (j->timeout < 1)
		j->timeout = 1;
	j->store = trust_of(s);
	X509_STORE_up_ref(j->store);
	ssa_sock_ref(s);
	j->sock = s;
	pthread_mutex_lock(&jobs_lock);
	if (!worker_started && pthread_create(&tid, NULL, worker_main, NULL) == 0) {
		pthread_detach(tid);
		worker_started = true;
	}
	j->next = jobs;
	jobs = j;
	pthread_cond_signal(&jobs_cond);
	pthread_mutex_unlock(&jobs_lock);
	return worker_started ? 0 : -1;
}

/* The verdict: 0 to proceed, or -1 with the failure set on s. */
int ssa_revocation_verdict(struct ssa_sock *s)
{
	const char *name = s->opts.hostname[0] ? s->opts.hostname : "the connected address";

	if (s->rev_result == SSA_REV_REVOKED)
		return ssa_fail(s, SSA_E_REVOKED, "%s says so (%s)", s->rev_why, name);
	if (s->rev_result == SSA_REV_UNKNOWN && ssa_current_policy()->rev_hard_fail &&
	    ssa_revocation_wanted(s))
		return ssa_fail(s, SSA_E_REVOCATION_UNKNOWN, "%s (%s)", s->rev_why, name);
	return 0;
}

void ssa_revocation_fork_child(void)
{
	worker_started = false;
	jobs = NULL;
}
