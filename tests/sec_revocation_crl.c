/*
 * sec_revocation_crl ISSUER.pem ISSUER.key OUT.der: a CRL of ISSUER that revokes nothing and has
 * no nextUpdate (openssl ca always writes one), signed with SHA-256.
 */
#include <stdio.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

int main(int argc, char **argv)
{
	FILE *f;
	X509 *issuer;
	EVP_PKEY *key;
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL) - 60);
	BIO *out;

	if (argc != 4 || crl == NULL || now == NULL)
		return 2;
	if ((f = fopen(argv[1], "r")) == NULL || (issuer = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		return 1;
	fclose(f);
	if ((f = fopen(argv[2], "r")) == NULL ||
	    (key = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL)
		return 1;
	fclose(f);
	if (X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) != 1 ||
	    X509_CRL_set1_lastUpdate(crl, now) != 1 || X509_CRL_sign(crl, key, EVP_sha256()) <= 0 ||
	    (out = BIO_new_file(argv[3], "wb")) == NULL || i2d_X509_CRL_bio(out, crl) != 1)
		return 1;
	BIO_free(out);
	return 0;
}
