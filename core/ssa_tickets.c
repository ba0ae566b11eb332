/*
 * Session ticket keys for servers (RFC 5077 section 4, RFC 8446 section 4.6.1).
 *
 * With `ticket-key-file` in the policy, keys come from that file, so that every server of a
 * fleet sharing it resumes the others' sessions; the file is read again when it changes, which
 * is how an administrator rotates keys.  The file holds one or more 80-byte keys (16-byte name,
 * 32-byte HMAC key, 32-byte AES key): the first issues new tickets, the others are still
 * accepted.  Without a file, a random key per process is rotated every session lifetime, and
 * the previous key stays valid for one more lifetime.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ssa_internal.h"

#define KEY_SIZE 80
#define MAX_KEYS 8

struct ticket_key {
	unsigned char name[16], hmac[32], aes[32];
};

static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ticket_key keys[MAX_KEYS];
static unsigned nkeys;
static struct timespec file_mtime;
static int64_t rotated_at_ms;

static int read_key_file(const char *path)
{
	unsigned char buf[KEY_SIZE * MAX_KEYS + 1];
	struct stat st;
	FILE *f;
	size_t n;

	if (stat(path, &st) < 0)
		return -1;
	if (nkeys > 0 && st.st_mtim.tv_sec == file_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == file_mtime.tv_nsec)
		return 0;
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n == 0 || n % KEY_SIZE != 0 || n > KEY_SIZE * MAX_KEYS) {
		OPENSSL_cleanse(buf, sizeof(buf));
		errno = EINVAL;
		return -1;
	}
	nkeys = (unsigned)(n / KEY_SIZE);
	memcpy(keys, buf, n);
	OPENSSL_cleanse(buf, sizeof(buf));
	file_mtime = st.st_mtim;
	return 0;
}

/* Without a file: a fresh key every lifetime, the last one kept for tickets still out there. */
static int rotate_random_key(int lifetime_s)
{
	int64_t now = ssa_now_ms();

	if (nkeys > 0 && now - rotated_at_ms < (int64_t)lifetime_s * 1000)
		return 0;
	memmove(&keys[1], &keys[0], sizeof(keys[0]));
	if (RAND_bytes((unsigned char *)&keys[0], sizeof(keys[0])) != 1)
		return -1;
	nkeys = nkeys == 0 ? 1 : 2;
	rotated_at_ms = now;
	return 0;
}

static int current_keys(void)
{
	const struct ssa_policy *p = ssa_current_policy();

	if (p->ticket_key_file != NULL)
		return read_key_file(p->ticket_key_file);
	return rotate_random_key(p->session_ttl > 0 ? p->session_ttl : 7200);
}

static int set_keys(const struct ticket_key *k, EVP_CIPHER_CTX *ctx, EVP_MAC_CTX *hctx,
		    const unsigned char *iv, int enc)
{
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof(k->hmac)),
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end()};

	if (EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, k->aes, iv, enc) != 1 ||
	    EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	return 0;
}

/* OpenSSL's ticket key callback: 1 ok, 2 ok and renew the ticket, 0 unknown key, -1 error. */
static int ticket_key_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *ctx,
			 EVP_MAC_CTX *hctx, int enc)
{
	struct ticket_key k;
	int rc = 0;

	(void)ssl;
	pthread_mutex_lock(&keys_lock);
	if (current_keys() < 0 || nkeys == 0) {
		pthread_mutex_unlock(&keys_lock);
		return enc ? -1 : 0;
	}
	if (enc) {
		k = keys[0];
		memcpy(name, k.name, sizeof(k.name));
		rc = RAND_bytes(iv, EVP_MAX_IV_LENGTH) == 1 ? 1 : -1;
	} else {
		for (unsigned i = 0; i < nkeys && rc == 0; i++)
			if (memcmp(name, keys[i].name, sizeof(keys[i].name)) == 0) {
				k = keys[i];
				/*
				 * 2 = "renew": a fresh ticket after every resumption.  TLS 1.3
				 * tickets are used once (RFC 8446 C.4), and with 1 OpenSSL would
				 * send none, leaving the client without a session for its next
				 * connection.
				 */
				rc = 2;
			}
	}
	pthread_mutex_unlock(&keys_lock);
	if (rc > 0 && set_keys(&k, ctx, hctx, iv, enc) < 0)
		rc = -1;
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

/* A ticket-key file that cannot be used fails listen() rather than serving with other keys. */
int ssa_tickets_configure_server(SSL_CTX *ctx, char *why, size_t why_size)
{
	const char *path = ssa_current_policy()->ticket_key_file;
	int rc;

	pthread_mutex_lock(&keys_lock);
	rc = current_keys();
	pthread_mutex_unlock(&keys_lock);
	if (rc < 0) {
		snprintf(why, why_size, "ticket-key-file %s: %s", path ? path : "(none)",
			 errno == EINVAL ? "not a whole number of 80-byte keys" : strerror(errno));
		return -1;
	}
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb);
	return 0;
}
