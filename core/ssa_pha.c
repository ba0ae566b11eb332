/*
 * TLS_REQUEST_PEER_AUTH on an accepted TLS 1.3 socket: post-handshake client authentication
 * (RFC 8446 section 4.6.2).  The application's setsockopt() asks the connection's engine to send
 * a CertificateRequest and waits, bounded by the policy's handshake timeout, until the client
 * answered: then TLS_PEER_IDENTITY and TLS_PEER_CERTIFICATE_CHAIN give the client's
 * certificate.  A client without one fails the call (EPROTO) when it was required.
 */
#include <errno.h>
#include <time.h>

#include <openssl/err.h>

#include "ssa_internal.h"

static void pha_finish(struct ssa_sock *s, int err)
{
	pthread_mutex_lock(&s->lock);
	s->pha_pending = false;
	s->pha_err = err;
	pthread_cond_broadcast(&s->pha_cond);
	pthread_mutex_unlock(&s->lock);
}

/* Engine: send the CertificateRequest. */
void ssa_pha_start(struct ssa_sock *s)
{
	X509_STORE *trust = s->parent && s->parent->opts.trust
				? s->parent->opts.trust
				: SSL_CTX_get_cert_store(ssa_client_ctx());
	int mode = SSL_VERIFY_PEER | (s->pha_mode == 1 ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);

	if (s->ssl == NULL || s->closing) {
		pha_finish(s, ENOTCONN);
		return;
	}
	if (SSL_version(s->ssl) != TLS1_3_VERSION) {
		pha_finish(s, EOPNOTSUPP);
		return;
	}
	SSL_set_verify(s->ssl, mode, NULL);
	if (SSL_set1_verify_cert_store(s->ssl, trust) != 1 ||
	    SSL_verify_client_post_handshake(s->ssl) != 1) {
		ERR_clear_error();
		pha_finish(s, EPROTO); /* the client did not offer post_handshake_auth */
		return;
	}
	SSL_do_handshake(s->ssl); /* writes the request; the answer comes through SSL_read */
	ERR_clear_error();
}

/* Engine, after reading from T: has the client's answer arrived? */
void ssa_pha_check(struct ssa_sock *s)
{
	if (!s->pha_pending)
		return;
	if (SSL_get0_peer_certificate(s->ssl) != NULL) {
		ssa_handshake_snapshot(s);
		pha_finish(s, 0);
	}
}

/* Engine: the connection ended before an answer. */
void ssa_pha_abort(struct ssa_sock *s)
{
	if (s->pha_pending)
		pha_finish(s, ECONNRESET);
}

static int wait_answer(struct ssa_sock *s)
{
	struct timespec until;
	int ms = ssa_current_policy()->handshake_timeout_ms, rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	while (s->pha_pending && rc == 0)
		rc = pthread_cond_timedwait(&s->pha_cond, &s->lock, &until);
	pthread_mutex_unlock(&s->lock);
	return rc == 0 ? s->pha_err : ETIMEDOUT;
}

/* Application thread: mode 1 requires a certificate, 2 asks for one. */
int ssa_pha_request(struct ssa_sock *s, int mode)
{
	int err;

	if (s->generation != ssa_engine_generation())
		return ssa_fail(s, SSA_E_INHERITED, NULL);
	pthread_mutex_lock(&s->lock);
	s->pha_mode = mode;
	s->pha_pending = true;
	pthread_mutex_unlock(&s->lock);
	if (ssa_engine_submit(s, SSA_CMD_PHA) < 0)
		return ssa_fail(s, SSA_E_ENGINE, NULL);
	err = wait_answer(s);
	if (err == 0)
		return 0;
	if (err == EOPNOTSUPP)
		return ssa_fail(s, SSA_E_NOT_SUPPORTED,
				"post-handshake authentication needs TLS 1.3");
	if (err == ETIMEDOUT && mode == 2)
		return 0; /* optional: no answer is an answer */
	return ssa_fail_errno(s, SSA_E_VERIFY, err == ETIMEDOUT ? ETIMEDOUT : EPROTO,
			      err == ETIMEDOUT ? "the client sent no certificate in time"
			      : err == EPROTO
				  ? "the client does not allow post-handshake authentication"
				  : "the connection ended before the client answered");
}
