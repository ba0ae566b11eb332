/*
 * Session ticket keys for servers (RFC 5077 section 4, RFC 8446 section 4.6.1).
 *
 * Keys come in sets, and a listener uses the set its policy names.  With `ticket-key-file`,
 * the set is that file's, shared by every listener (and profile) naming the same file, so that
 * every server of a fleet sharing it resumes the others' sessions; the file is read again when
 * it changes, which is how an administrator rotates keys, and if it cannot be read then, the
 * keys already read stay in use (never random ones: the fleet would stop resuming).  The file
 * holds one or more 80-byte keys (16-byte name, 32-byte HMAC key, 32-byte AES key): the first
 * issues new tickets, the others are still accepted.  Without a file, each profile has random
 * keys of its own for each user it serves (ssad serves several), a fresh one every session
 * lifetime, the previous one valid for one more lifetime.  Which tickets a listener then
 * takes is decided by their content (ssa_resumption.c), not by who holds the keys.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

/* One set: a file's keys, or the random keys of one profile for one user. */
struct key_set {
	char *path;    /* ticket-key-file, or NULL */
	char *profile; /* without a file: the profile and the user the keys are for */
	uid_t owner;
	int lifetime_s;
	struct ticket_key keys[MAX_KEYS];
	unsigned nkeys;
	struct stat file; /* what was read: reread when it changes */
	int64_t rotated_at_ms;
	struct key_set *next;
};

/* Sets live as long as the process: listeners of any age point at them. */
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
static struct key_set *sets;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;
static int set_index = -1;

static void init_index(void)
{
	set_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static int read_key_file(struct key_set *set)
{
	unsigned char buf[KEY_SIZE * MAX_KEYS + 1];
	struct stat st;
	FILE *f;
	size_t n;

	if (stat(set->path, &st) < 0)
		return -1;
	if (set->nkeys > 0 && same_file(&st, &set->file))
		return 0;
	if ((f = fopen(set->path, "rb")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n == 0 || n % KEY_SIZE != 0 || n > KEY_SIZE * MAX_KEYS) {
		OPENSSL_cleanse(buf, sizeof(buf));
		errno = EINVAL;
		return -1;
	}
	OPENSSL_cleanse(set->keys, sizeof(set->keys));
	set->nkeys = (unsigned)(n / KEY_SIZE);
	memcpy(set->keys, buf, n);
	OPENSSL_cleanse(buf, sizeof(buf));
	set->file = st;
	return 0;
}

/* Without a file: a fresh key every lifetime, the last one kept for tickets still out there. */
static int rotate_random_key(struct key_set *set)
{
	int64_t now = ssa_now_ms();

	if (set->nkeys > 0 && now - set->rotated_at_ms < (int64_t)set->lifetime_s * 1000)
		return 0;
	memmove(&set->keys[1], &set->keys[0], sizeof(set->keys[0]));
	if (RAND_bytes((unsigned char *)&set->keys[0], sizeof(set->keys[0])) != 1)
		return -1;
	set->nkeys = set->nkeys == 0 ? 1 : 2;
	set->rotated_at_ms = now;
	return 0;
}

/* Under keys_lock.  A file that cannot be read again leaves the keys read before in use. */
static int refresh(struct key_set *set)
{
	if (set->path == NULL)
		return rotate_random_key(set);
	if (read_key_file(set) < 0 && set->nkeys == 0)
		return -1;
	return 0;
}

static bool set_matches(const struct key_set *set, const struct ssa_policy *p, uid_t owner)
{
	if (p->ticket_key_file != NULL)
		return set->path != NULL && strcmp(set->path, p->ticket_key_file) == 0;
	return set->path == NULL && set->owner == owner && strcmp(set->profile, p->profile) == 0;
}

/* Under keys_lock: the set of p (and, without a file, of owner), made on first use. */
static struct key_set *find_set(const struct ssa_policy *p, uid_t owner)
{
	struct key_set *set;

	for (set = sets; set != NULL; set = set->next)
		if (set_matches(set, p, owner))
			return set;
	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	set->owner = owner;
	set->lifetime_s = p->session_ttl > 0 ? p->session_ttl : 7200;
	if (p->ticket_key_file != NULL ? (set->path = strdup(p->ticket_key_file)) == NULL
				       : (set->profile = strdup(p->profile)) == NULL) {
		free(set);
		return NULL;
	}
	set->next = sets;
	sets = set;
	return set;
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
	struct key_set *set = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), set_index);
	struct ticket_key k;
	int rc = 0;

	if (set == NULL)
		return enc ? -1 : 0;
	pthread_mutex_lock(&keys_lock);
	if (refresh(set) < 0 || set->nkeys == 0) {
		pthread_mutex_unlock(&keys_lock);
		return enc ? -1 : 0;
	}
	if (enc) {
		k = set->keys[0];
		memcpy(name, k.name, sizeof(k.name));
		rc = RAND_bytes(iv, EVP_MAX_IV_LENGTH) == 1 ? 1 : -1;
	} else {
		for (unsigned i = 0; i < set->nkeys && rc == 0; i++)
			if (CRYPTO_memcmp(name, set->keys[i].name, sizeof(k.name)) == 0) {
				k = set->keys[i];
				rc = 2; /* renewed: see ticket_check() in ssa_resumption.c */
			}
	}
	pthread_mutex_unlock(&keys_lock);
	if (rc > 0 && set_keys(&k, ctx, hctx, iv, enc) < 0)
		rc = -1;
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

/* A ticket-key file that cannot be used fails listen() rather than serving with other keys. */
int ssa_tickets_configure_server(SSL_CTX *ctx, const struct ssa_policy *p, uid_t owner, char *why,
				 size_t why_size)
{
	struct key_set *set;
	int rc = -1;

	pthread_once(&index_once, init_index);
	pthread_mutex_lock(&keys_lock);
	errno = ENOMEM;
	set = find_set(p, owner);
	if (set != NULL)
		rc = refresh(set);
	pthread_mutex_unlock(&keys_lock);
	if (rc < 0 || SSL_CTX_set_ex_data(ctx, set_index, set) != 1) {
		snprintf(why, why_size, "ticket-key-file %s: %s",
			 p->ticket_key_file ? p->ticket_key_file : "(none)",
			 errno == EINVAL ? "not a whole number of 80-byte keys" : strerror(errno));
		return -1;
	}
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb);
	return 0;
}
