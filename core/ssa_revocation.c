/*
 * Revocation: stapled OCSP (checked in the handshake), then an OCSP responder and CRLs
 * (checked after it, by a pool of workers, since they need HTTP and must not stall the engine).
 *
 * Each method says good, revoked or unknown.  Any "revoked" fails the connection; any "good"
 * is enough; when all say unknown, the policy's revocation-hard-fail decides (RFC 6960 leaves
 * unknown to local policy).  The connection is not handed to the application before this.
 *
 * The whole chain is checked, each certificate against the next: the leaf by every method on,
 * the CA certificates below the anchor by the methods that fetch (a staple speaks for the leaf
 * only).  A CA certificate that names neither an OCSP responder nor a CRL cannot be revoked by
 * either, like the anchor itself, and is not asked about; a leaf that names none is unknown.
 *
 * A "good" status is remembered per user, certificate and issuer for revocation-cache-time,
 * never past the response's or the CRL's nextUpdate.  A resumed session has no verified chain:
 * it is rebuilt from the session's peer chain and checked like a full handshake's, so
 * resumption never outlives a status that a new handshake would no longer accept.
 *
 * Fairness: jobs wait in one FIFO queue per user, served round robin by up to SSA_REV_WORKERS
 * threads, with at most SSA_REV_USER_RUNNING of one user's jobs running at once; every fetch
 * ends by the handshake's deadline, so a responder that never answers holds a worker no longer
 * than the connection that named it waits anyway.
 *
 * Reach: a fetch goes out on a TCP socket the program made itself, so it reaches what the
 * program may reach (network namespace, firewall rules by user or cgroup), never what ssad
 * may.  In-process that is any socket of ours; ssad uses the sockets the caller's library
 * sends with connect() (SSA_REV_FETCH_FDS of them), and makes none of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/ocsp.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "ssa_internal.h"

#define SSA_OCSP_MAX_AGE     604800 /* seconds a response without nextUpdate stays acceptable */
#define SSA_CLOCK_SKEW       300
#define SSA_HTTP_MAX         1000000
#define SSA_REV_WORKERS      8    /* threads at most, started as jobs wait */
#define SSA_REV_USER_RUNNING 2    /* one user's jobs running at once */
#define SSA_REV_CACHE_SLOTS  4096 /* remembered statuses (direct-mapped: a clash forgets) */

/* The status of one certificate from one method, and until when it may be relied on. */
struct rev_answer {
	enum ssa_rev status;
	const char *why;
	int64_t until_ms; /* monotonic; 0: not to be remembered */
};

struct rev_user;

struct rev_job {
	struct ssa_sock *sock;
	struct rev_user *user;
	uid_t uid;
	STACK_OF(X509) * chain; /* verified: the leaf first, the anchor last */
	STACK_OF(X509) * untrusted;
	X509_STORE *store;
	bool stapling, ocsp, crl;
	enum ssa_rev stapled;
	int cache_time;      /* seconds */
	int64_t deadline_ms; /* the handshake's: no fetch goes on past it */
	int fds[SSA_REV_FETCH_FDS];
	unsigned nfds; /* ssad: the caller's sockets left for fetches */
	enum ssa_rev result;
	char why[128];
	struct rev_job *next;
};

/* One user's queue (in-process: the program's only one). */
struct rev_user {
	uid_t uid;
	struct rev_job *head, *tail;
	unsigned running;
	struct rev_user *next;
};

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
static struct rev_user *users; /* every user with jobs queued or running */
static struct rev_user *turn;  /* whose job goes next, round robin */
static unsigned workers, idle_workers;

struct rev_cached {
	uid_t uid;
	unsigned char id[SHA256_DIGEST_LENGTH];
	int64_t until_ms;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rev_cached cache[SSA_REV_CACHE_SLOTS];

bool ssa_revocation_wanted(const struct ssa_sock *s)
{
	return s->opts.rev_stapled || s->opts.rev_ocsp || s->opts.rev_crl;
}

static X509_STORE *trust_of(struct ssa_sock *s)
{
	return s->opts.trust ? s->opts.trust : SSL_CTX_get_cert_store(ssa_client_ctx());
}

/* --- remembered statuses --- */

/* SHA-256 over the certificate's and its issuer's digests: one status, one issuer. */
static bool status_id(X509 *cert, X509 *issuer, unsigned char id[SHA256_DIGEST_LENGTH])
{
	unsigned char both[2 * EVP_MAX_MD_SIZE];
	unsigned a = 0, b = 0;

	if (X509_digest(cert, EVP_sha256(), both, &a) != 1 ||
	    X509_digest(issuer, EVP_sha256(), both + a, &b) != 1 ||
	    SHA256(both, a + b, id) == NULL) {
		ERR_clear_error();
		return false;
	}
	return true;
}

static struct rev_cached *cache_slot(uid_t uid, const unsigned char *id) /* under cache_lock */
{
	unsigned h;

	memcpy(&h, id, sizeof(h)); /* id is a digest: any four bytes spread well */
	return &cache[(h ^ (unsigned)uid * 2654435761u) % SSA_REV_CACHE_SLOTS];
}

static bool cached_good(uid_t uid, X509 *cert, X509 *issuer)
{
	unsigned char id[SHA256_DIGEST_LENGTH];
	struct rev_cached *c;
	bool good;

	if (!status_id(cert, issuer, id))
		return false;
	pthread_mutex_lock(&cache_lock);
	c = cache_slot(uid, id);
	good = c->uid == uid && memcmp(c->id, id, sizeof(id)) == 0 && c->until_ms > ssa_now_ms();
	pthread_mutex_unlock(&cache_lock);
	return good;
}

static void remember_good(uid_t uid, X509 *cert, X509 *issuer, int64_t until_ms)
{
	unsigned char id[SHA256_DIGEST_LENGTH];
	struct rev_cached *c;

	if (until_ms <= ssa_now_ms() || !status_id(cert, issuer, id))
		return;
	pthread_mutex_lock(&cache_lock);
	c = cache_slot(uid, id);
	c->uid = uid;
	memcpy(c->id, id, sizeof(id));
	c->until_ms = until_ms;
	pthread_mutex_unlock(&cache_lock);
}

/* How long a status valid until next (NULL: no end said) may be remembered, from now. */
static int64_t remember_until(const ASN1_TIME *next, int cache_time)
{
	int64_t until = ssa_now_ms() + (int64_t)cache_time * 1000;
	int days = 0, secs = 0;

	if (next != NULL && ASN1_TIME_diff(&days, &secs, NULL, next) == 1) {
		int64_t left = ((int64_t)days * 86400 + secs) * 1000;

		if (ssa_now_ms() + left < until)
			until = ssa_now_ms() + left;
	}
	return cache_time > 0 ? until : 0;
}

/* --- OCSP responses, stapled or fetched --- */

/* Status of cert in an OCSP response signed for issuer. */
static struct rev_answer check_ocsp_response(OCSP_RESPONSE *resp, X509 *cert, X509 *issuer,
					     STACK_OF(X509) * untrusted, X509_STORE *store,
					     int cache_time)
{
	OCSP_BASICRESP *basic = NULL;
	OCSP_CERTID *id = NULL;
	ASN1_GENERALIZEDTIME *this_upd, *next_upd;
	int status = -1, reason;
	struct rev_answer a = {SSA_REV_UNKNOWN, "no usable OCSP response", 0};

	if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    (basic = OCSP_response_get1_basic(resp)) == NULL)
		goto out;
	if (OCSP_basic_verify(basic, untrusted, store, 0) != 1) {
		a.why = "OCSP response signature does not verify";
		goto out;
	}
	id = OCSP_cert_to_id(NULL, cert, issuer);
	if (id == NULL ||
	    !OCSP_resp_find_status(basic, id, &status, &reason, NULL, &this_upd, &next_upd))
		goto out;
	if (OCSP_check_validity(this_upd, next_upd, SSA_CLOCK_SKEW, SSA_OCSP_MAX_AGE) != 1) {
		a.why = "OCSP response is out of date";
		goto out;
	}
	if (status == V_OCSP_CERTSTATUS_GOOD) {
		a.status = SSA_REV_GOOD;
		a.until_ms = remember_until(next_upd, cache_time);
	} else if (status == V_OCSP_CERTSTATUS_REVOKED) {
		a.status = SSA_REV_REVOKED;
	}
	a.why = status == V_OCSP_CERTSTATUS_UNKNOWN ? "OCSP responder does not know the certificate"
						    : "OCSP";
out:
	ERR_clear_error();
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(basic);
	return a;
}

static const char *status_name(enum ssa_rev r)
{
	return r == SSA_REV_GOOD ? "good" : r == SSA_REV_REVOKED ? "revoked" : "unknown";
}

/* During the handshake (status callback): judge the stapled response, if any. */
static int check_staple(SSL *ssl, void *arg)
{
	struct ssa_sock *s = SSL_get_app_data(ssl);
	STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);
	const unsigned char *der;
	long len = SSL_get_tlsext_status_ocsp_resp(ssl, &der);
	OCSP_RESPONSE *resp;
	struct rev_answer a = {SSA_REV_UNKNOWN, "no stapled OCSP response", 0};

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
		a = check_ocsp_response(resp, sk_X509_value(chain, 0), sk_X509_value(chain, 1),
					SSL_get_peer_cert_chain(ssl), trust_of(s),
					ssa_current_policy()->rev_cache_time);
	OCSP_RESPONSE_free(resp);
	s->rev_stapled_result = a.status;
	ssa_debug(s, "stapled OCSP: %s (%s)", status_name(a.status), a.why);
	if (a.status == SSA_REV_GOOD) /* a resumption has no staple: it finds this instead */
		remember_good(s->owner_uid, sk_X509_value(chain, 0), sk_X509_value(chain, 1),
			      a.until_ms);
	if (a.status == SSA_REV_REVOKED) {
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

/* --- fetching, on the program's own sockets --- */

/* ssad: a caller's socket able to reach addr (an IPv6 one reaches IPv4 mapped); -1 if none. */
static int callers_socket(struct rev_job *j, struct sockaddr_storage *addr, socklen_t *len)
{
	struct sockaddr_in v4;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
	int family = -1, off = 0, fd;
	socklen_t l = sizeof(family);

	if (j->nfds == 0)
		return -1;
	fd = j->fds[j->nfds - 1];
	if (sys_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &l) < 0)
		return -1;
	if (family == AF_INET6 && addr->ss_family == AF_INET) {
		memcpy(&v4, addr, sizeof(v4));
		memset(v6, 0, sizeof(*v6));
		v6->sin6_family = AF_INET6;
		v6->sin6_port = v4.sin_port;
		v6->sin6_addr.s6_addr[10] = v6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&v6->sin6_addr.s6_addr[12], &v4.sin_addr, 4);
		*len = sizeof(*v6);
		sys_setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	} else if (family != addr->ss_family) {
		return -1;
	}
	j->nfds--;
	return fd;
}

static int fetch_socket(struct rev_job *j, struct sockaddr_storage *addr, socklen_t *len)
{
	int fd;

	if (ssa_serving_daemon)
		fd = callers_socket(j, addr, len);
	else
		fd = sys_socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -1;
	if (!ssa_serving_daemon)
		ssa_fd_own(fd); /* a forked child closes it, as every descriptor of the engine's */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static int connect_by(int fd, const struct sockaddr_storage *addr, socklen_t len,
		      int64_t deadline_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int err = 0, left;
	socklen_t l = sizeof(err);

	if (sys_connect(fd, (const struct sockaddr *)addr, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	do {
		left = (int)(deadline_ms - ssa_now_ms());
		if (left <= 0)
			return errno = ETIMEDOUT, -1;
	} while (poll(&p, 1, left) < 0 && errno == EINTR);
	if (sys_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err != 0 ||
	    (p.revents & POLLOUT) == 0)
		return -1;
	return 0;
}

/* A connected socket to host:port by the deadline, or -1 (*why may say why). */
static int open_fetch(struct rev_job *j, const char *host, const char *port, int64_t deadline,
		      const char **why)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int fd = -1;

	/* Names are resolved here, as the names programs connect to are (ssa_connect.c). */
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		*why = "the revocation server's name does not resolve";
		return -1;
	}
	if (ssa_serving_daemon && j->nfds == 0)
		*why = "no socket of the program's left to fetch the status with";
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		struct sockaddr_storage addr;
		socklen_t len = ai->ai_addrlen;

		if (ai->ai_addrlen > sizeof(addr))
			continue;
		memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
		if ((fd = fetch_socket(j, &addr, &len)) < 0)
			continue;
		if (connect_by(fd, &addr, len, deadline) < 0) {
			ssa_fd_close_owned(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

/*
 * The seconds one exchange may take: a third of what is left of the handshake, so that
 * "unknown" comes before the deadline and the next method still has time; 0 when none is.
 */
static int exchange_seconds(const struct rev_job *j)
{
	int64_t left = j->deadline_ms - ssa_now_ms();

	if (left < 1000)
		return 0;
	return left < 3000 ? 1 : (int)(left / 3000);
}

/* One HTTP exchange (a POST when body is given, else a GET), within the deadline. */
static BIO *http_exchange(struct rev_job *j, const char *url, BIO *body, const char *type,
			  const char *expect, const char **why)
{
	char *host = NULL, *port = NULL, *path = NULL;
	int use_ssl = 0, secs = exchange_seconds(j), fd = -1;
	BIO *conn = NULL, *resp = NULL;

	if (secs == 0) {
		*why = "no time was left for the revocation check";
		return NULL;
	}
	if (!OSSL_HTTP_parse_url(url, &use_ssl, NULL, &host, &port, NULL, &path, NULL, NULL) ||
	    use_ssl) {
		*why = "the revocation URL is not plain http";
		goto out;
	}
	if ((fd = open_fetch(j, host, port, ssa_now_ms() + (int64_t)secs * 1000, why)) < 0 ||
	    (conn = BIO_new_socket(fd, BIO_NOCLOSE)) == NULL)
		goto out;
	resp = OSSL_HTTP_transfer(NULL, host, port, path, 0, NULL, NULL, conn, conn, NULL, NULL, 0,
				  NULL, type, body, expect, 1, SSA_HTTP_MAX, secs, 0);
out:
	ERR_clear_error();
	BIO_free(conn);
	if (fd >= 0)
		ssa_fd_close_owned(fd);
	OPENSSL_free(host);
	OPENSSL_free(port);
	OPENSSL_free(path);
	return resp;
}

static char *first_url(STACK_OF(OPENSSL_STRING) * urls)
{
	char *u = sk_OPENSSL_STRING_num(urls) > 0 ? sk_OPENSSL_STRING_value(urls, 0) : NULL;

	return u ? OPENSSL_strdup(u) : NULL;
}

static char *ocsp_url(X509 *cert)
{
	STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(cert);
	char *url = first_url(urls);

	X509_email_free(urls);
	return url;
}

static struct rev_answer query_responder(struct rev_job *j, X509 *cert, X509 *issuer)
{
	char *url = ocsp_url(cert);
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, cert, issuer);
	OCSP_RESPONSE *resp = NULL;
	BIO *body = BIO_new(BIO_s_mem()), *bio = NULL;
	struct rev_answer a = {SSA_REV_UNKNOWN, "certificate names no OCSP responder", 0};

	if (url == NULL)
		goto out;
	a.why = "OCSP responder did not answer";
	if (req == NULL || id == NULL || body == NULL || !OCSP_request_add0_id(req, id))
		goto out;
	id = NULL; /* owned by req now */
	if (i2d_OCSP_REQUEST_bio(body, req) > 0 &&
	    (bio = http_exchange(j, url, body, "application/ocsp-request",
				 "application/ocsp-response", &a.why)) != NULL &&
	    (resp = d2i_OCSP_RESPONSE_bio(bio, NULL)) != NULL)
		a = check_ocsp_response(resp, cert, issuer, j->untrusted, j->store, j->cache_time);
out:
	ERR_clear_error();
	OCSP_RESPONSE_free(resp);
	BIO_free(bio);
	BIO_free(body);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	OPENSSL_free(url);
	return a;
}

static char *crl_url(X509 *cert)
{
	STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
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

/*
 * A CRL speaks for the time between its thisUpdate and its nextUpdate.  Without nextUpdate it
 * never says when it stops being current (RFC 5280 section 5.1.2.5 requires the field), so it
 * is not used: relying on it would accept a certificate for ever after its revocation.
 */
static const char *crl_out_of_date(X509_CRL *crl)
{
	const ASN1_TIME *this = X509_CRL_get0_lastUpdate(crl),
			*next = X509_CRL_get0_nextUpdate(crl);
	time_t ahead = time(NULL) + SSA_CLOCK_SKEW;

	if (next == NULL)
		return "CRL has no nextUpdate";
	if (this == NULL || X509_cmp_time(this, &ahead) > 0)
		return "CRL is not yet valid";
	if (X509_cmp_current_time(next) < 0)
		return "CRL is out of date";
	return NULL;
}

static struct rev_answer check_crl(struct rev_job *j, X509 *cert, X509 *issuer)
{
	char *url = crl_url(cert);
	BIO *bio = NULL;
	X509_CRL *crl = NULL;
	X509_REVOKED *entry = NULL;
	struct rev_answer a = {SSA_REV_UNKNOWN, "certificate names no CRL", 0};
	const char *stale;

	if (url == NULL)
		goto out;
	a.why = "CRL could not be fetched";
	if ((bio = http_exchange(j, url, NULL, NULL, NULL, &a.why)) == NULL ||
	    (crl = d2i_X509_CRL_bio(bio, NULL)) == NULL)
		goto out;
	a.why = "CRL is not signed by the issuer";
	if (X509_CRL_verify(crl, X509_get0_pubkey(issuer)) != 1 ||
	    X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0)
		goto out;
	if ((stale = crl_out_of_date(crl)) != NULL) {
		a.why = stale;
		goto out;
	}
	if (X509_CRL_get0_by_cert(crl, &entry, cert) == 1) {
		a.status = SSA_REV_REVOKED;
	} else {
		a.status = SSA_REV_GOOD;
		a.until_ms = remember_until(X509_CRL_get0_nextUpdate(crl), j->cache_time);
	}
	a.why = "CRL";
out:
	ERR_clear_error();
	X509_CRL_free(crl);
	BIO_free(bio);
	OPENSSL_free(url);
	return a;
}

/* --- checking a chain --- */

static bool names_a_source(X509 *cert)
{
	char *o = ocsp_url(cert), *c = crl_url(cert);
	bool any = o != NULL || c != NULL;

	OPENSSL_free(o);
	OPENSSL_free(c);
	return any;
}

/* Certificate i needs no fetch: its status is known, or not to be asked (see the top). */
static bool settled(struct rev_job *j, int i, struct rev_answer *a)
{
	X509 *cert = sk_X509_value(j->chain, i), *issuer = sk_X509_value(j->chain, i + 1);

	*a = (struct rev_answer){SSA_REV_GOOD, "", 0};
	if (i == 0 && j->stapled == SSA_REV_GOOD)
		return true;
	if (cached_good(j->uid, cert, issuer))
		return true;
	if (i > 0 && (!(j->ocsp || j->crl) || !names_a_source(cert)))
		return true;
	*a = (struct rev_answer){
	    SSA_REV_UNKNOWN, j->stapling ? "no valid stapled OCSP response" : "no check made", 0};
	return !(j->ocsp || j->crl);
}

static bool needs_fetch(struct rev_job *j)
{
	struct rev_answer a;

	for (int i = 0; i + 1 < sk_X509_num(j->chain); i++)
		if (!settled(j, i, &a))
			return true;
	return false;
}

static struct rev_answer check_one(struct rev_job *j, int i)
{
	X509 *cert = sk_X509_value(j->chain, i), *issuer = sk_X509_value(j->chain, i + 1);
	struct rev_answer a;

	if (settled(j, i, &a))
		return a;
	if (j->ocsp)
		a = query_responder(j, cert, issuer);
	if (a.status == SSA_REV_UNKNOWN && j->crl)
		a = check_crl(j, cert, issuer);
	if (a.status == SSA_REV_GOOD)
		remember_good(j->uid, cert, issuer, a.until_ms);
	return a;
}

/* The chain's verdict: revoked if any is, good if all are, else unknown (the first why). */
static void check_chain(struct rev_job *j)
{
	char subject[80];

	j->result = SSA_REV_GOOD;
	snprintf(j->why, sizeof(j->why), "%s", "no check made");
	for (int i = 0; i + 1 < sk_X509_num(j->chain); i++) {
		struct rev_answer a = check_one(j, i);

		if (a.status == SSA_REV_GOOD)
			continue;
		if (a.status == SSA_REV_UNKNOWN && j->result == SSA_REV_UNKNOWN)
			continue;
		j->result = a.status;
		if (i == 0) {
			snprintf(j->why, sizeof(j->why), "%s", a.why);
		} else {
			X509_NAME_oneline(X509_get_subject_name(sk_X509_value(j->chain, i)),
					  subject, sizeof(subject));
			snprintf(j->why, sizeof(j->why), "%s, for CA certificate %s", a.why,
				 subject);
		}
		if (a.status == SSA_REV_REVOKED)
			break;
	}
}

/* --- the workers --- */

static void free_job(struct rev_job *j)
{
	for (unsigned i = 0; i < j->nfds; i++)
		ssa_fd_close_owned(j->fds[i]);
	sk_X509_pop_free(j->chain, X509_free);
	sk_X509_pop_free(j->untrusted, X509_free);
	X509_STORE_free(j->store);
	ssa_sock_unref(j->sock);
	free(j);
}

/* The verdict goes back to the engine. */
static void deliver(struct rev_job *j)
{
	struct ssa_sock *s = j->sock;

	pthread_mutex_lock(&s->lock);
	s->rev_result = j->result;
	snprintf(s->rev_why, sizeof(s->rev_why), "%s", j->why);
	pthread_mutex_unlock(&s->lock);
	if (ssa_engine_submit(s, SSA_CMD_REVOCATION) < 0)
		ssa_debug(s, "revocation verdict lost: out of memory");
}

/* Under jobs_lock: the oldest job of the next user who may run one more, or NULL. */
static struct rev_job *next_job(void)
{
	struct rev_user *u = turn ? turn : users;

	for (struct rev_user *first = u; u != NULL;) {
		if (u->head != NULL && u->running < SSA_REV_USER_RUNNING) {
			struct rev_job *j = u->head;

			if ((u->head = j->next) == NULL)
				u->tail = NULL;
			u->running++;
			turn = u->next; /* the others go first next time */
			return j;
		}
		u = u->next ? u->next : users;
		if (u == first)
			break;
	}
	return NULL;
}

static void forget_user_if_idle(struct rev_user *u) /* under jobs_lock */
{
	if (u->head != NULL || u->running > 0)
		return;
	for (struct rev_user **pp = &users; *pp != NULL; pp = &(*pp)->next)
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	if (turn == u)
		turn = u->next;
	free(u);
}

static void *worker_main(void *arg)
{
	(void)arg;
	ssa_block_sigpipe();
	for (;;) {
		struct rev_job *j;
		struct rev_user *u;

		pthread_mutex_lock(&jobs_lock);
		idle_workers++;
		while ((j = next_job()) == NULL)
			pthread_cond_wait(&jobs_cond, &jobs_lock);
		idle_workers--;
		pthread_mutex_unlock(&jobs_lock);
		if (j->deadline_ms > ssa_now_ms())
			check_chain(j);
		else
			snprintf(j->why, sizeof(j->why), "%s", "the handshake timed out first");
		deliver(j);
		u = j->user;
		free_job(j);
		pthread_mutex_lock(&jobs_lock);
		u->running--;
		forget_user_if_idle(u);
		pthread_cond_broadcast(&jobs_cond); /* u may run another now */
		pthread_mutex_unlock(&jobs_lock);
	}
	return NULL;
}

static struct rev_user *user_queue(uid_t uid) /* under jobs_lock */
{
	struct rev_user *u;

	for (u = users; u != NULL; u = u->next)
		if (u->uid == uid)
			return u;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->uid = uid;
	u->next = users;
	users = u;
	return u;
}

/* Queues j at the end of its user's queue, with a worker for it if one can be had. */
static int enqueue(struct rev_job *j)
{
	pthread_t tid;
	int rc = 0;

	pthread_mutex_lock(&jobs_lock);
	if ((j->user = user_queue(j->uid)) == NULL) {
		rc = -1;
	} else {
		if (j->user->tail != NULL)
			j->user->tail->next = j;
		else
			j->user->head = j;
		j->user->tail = j;
		if (idle_workers == 0 && workers < SSA_REV_WORKERS &&
		    pthread_create(&tid, NULL, worker_main, NULL) == 0) {
			pthread_detach(tid);
			workers++;
		}
		if (workers == 0) { /* no thread at all: the job can never run */
			j->user->head = j->user->tail = NULL;
			forget_user_if_idle(j->user);
			rc = -1;
		}
		pthread_cond_broadcast(&jobs_cond);
	}
	pthread_mutex_unlock(&jobs_lock);
	return rc;
}

/* --- from the engine --- */

/*
 * A resumed session was verified when it was made, and has no verified chain now: verify the
 * peer chain the session kept again, as the handshake did, to know each certificate's issuer
 * (and to refuse one that no longer verifies, expired since, say).
 */
static STACK_OF(X509) * rebuild_chain(struct ssa_sock *s, X509_STORE *store, const char **why)
{
	X509 *leaf = SSL_get0_peer_certificate(s->ssl);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = NULL;

	*why = "the resumed session has no peer certificate";
	if (leaf == NULL || ctx == NULL ||
	    X509_STORE_CTX_init(ctx, store, leaf, SSL_get_peer_cert_chain(s->ssl)) != 1 ||
	    X509_STORE_CTX_set_default(ctx, "ssl_server") != 1 ||
	    X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(ctx), SSL_get0_param(s->ssl)) != 1)
		goto out;
	if (X509_verify_cert(ctx) == 1)
		chain = X509_STORE_CTX_get1_chain(ctx);
	else
		*why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	return chain;
}

/* NULL: out of resources (*why NULL), or a resumed chain that no longer verifies (*why). */
static struct rev_job *new_job(struct ssa_sock *s, const char **why)
{
	STACK_OF(X509) *verified = SSL_get0_verified_chain(s->ssl);
	struct rev_job *j = calloc(1, sizeof(*j));

	*why = NULL;
	if (j == NULL)
		return NULL;
	j->store = trust_of(s);
	X509_STORE_up_ref(j->store);
	ssa_sock_ref(s);
	j->sock = s;
	j->uid = s->owner_uid;
	j->stapling = s->opts.rev_stapled;
	j->ocsp = s->opts.rev_ocsp;
	j->crl = s->opts.rev_crl;
	j->stapled = s->rev_stapled_result;
	j->cache_time = ssa_current_policy()->rev_cache_time;
	j->deadline_ms = s->deadline_ms;
	j->untrusted = X509_chain_up_ref(SSL_get_peer_cert_chain(s->ssl));
	if (verified != NULL)
		j->chain = X509_chain_up_ref(verified);
	else if (SSL_session_reused(s->ssl))
		j->chain = rebuild_chain(s, j->store, why);
	if (j->chain == NULL) {
		free_job(j);
		return NULL;
	}
	pthread_mutex_lock(&s->lock); /* the caller's sockets go with the job */
	memcpy(j->fds, s->fetch_fds, sizeof(j->fds));
	j->nfds = s->nfetch;
	s->nfetch = 0;
	pthread_mutex_unlock(&s->lock);
	return j;
}

/*
 * Engine thread, handshake done: 1 if the verdict is already in (stapled or remembered good,
 * or nothing else to ask), 0 if a worker will deliver it (SSA_CMD_REVOCATION), -1 on failure
 * (set on s).
 */
int ssa_revocation_start(struct ssa_sock *s)
{
	const char *why;
	struct rev_job *j;

	if (s->role != SSA_CLIENT)
		return 1; /* a server checks no revocation of client certificates (yet) */
	s->rev_result = s->rev_stapled_result;
	snprintf(s->rev_why, sizeof(s->rev_why), "%s",
		 s->opts.rev_stapled ? "no valid stapled OCSP response" : "no check made");
	if (!ssa_revocation_wanted(s) || s->rev_result == SSA_REV_REVOKED)
		return 1;
	if ((j = new_job(s, &why)) == NULL) {
		if (why == NULL)
			return ssa_fail(s, SSA_E_RESOURCES, "cannot check revocation");
		return ssa_fail(s, SSA_E_VERIFY, "%s (resumed session)", why);
	}
	if (!needs_fetch(j)) {
		check_chain(j); /* no fetch: only what is known already */
		s->rev_result = j->result;
		snprintf(s->rev_why, sizeof(s->rev_why), "%s", j->why);
		free_job(j);
		return 1;
	}
	if (enqueue(j) < 0) {
		free_job(j);
		return ssa_fail(s, SSA_E_RESOURCES, "cannot check revocation");
	}
	return 0;
}

/*
 * ssad, before a request that starts a handshake: true if its checks fetch, so the caller's
 * sockets must come too.  s NULL: the socket the request makes (STARTTLS), with the policy's
 * settings, since nothing can tighten them before it exists.
 */
bool ssa_revocation_fetches(const struct ssa_sock *s)
{
	const struct ssa_policy *p = ssa_current_policy();

	return s != NULL ? s->opts.rev_ocsp || s->opts.rev_crl : p->rev_ocsp || p->rev_crl;
}

/* ssad: the caller's sockets that came with the request this thread is serving. */
static __thread int *supplied;
static __thread unsigned nsupplied;

void ssa_revocation_supply_sockets(int *fds, unsigned n)
{
	supplied = fds;
	nsupplied = fds != NULL ? n : 0;
}

/*
 * Under s->lock, s new: the supplied sockets become s's, for its checks.  One place for every
 * request that starts a handshake (connect, sendto, STARTTLS), before the engine can ask.
 */
void ssa_revocation_take_sockets(struct ssa_sock *s)
{
	for (unsigned i = 0; i < nsupplied && s->nfetch < SSA_REV_FETCH_FDS; i++)
		if (supplied[i] >= 0) {
			s->fetch_fds[s->nfetch++] = supplied[i];
			ssa_fd_own(supplied[i]);
			supplied[i] = -1; /* the request no longer closes it */
		}
}

void ssa_revocation_drop_sockets(struct ssa_sock *s)
{
	pthread_mutex_lock(&s->lock);
	while (s->nfetch > 0)
		ssa_fd_close_owned(s->fetch_fds[--s->nfetch]);
	pthread_mutex_unlock(&s->lock);
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

/* The workers are the parent's: a child starts with none, and with none of its jobs. */
void ssa_revocation_fork_child(void)
{
	workers = idle_workers = 0;
	users = turn = NULL;
}
