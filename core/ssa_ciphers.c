/*
 * TLS_DISABLE_CIPHER and TLS_ENABLE_CIPHER: an application narrows or reorders what the
 * policy allows, never widens it.  Names are OpenSSL's or IANA's; TLS 1.3 suites and TLS 1.2
 * ciphers live in separate lists in OpenSSL, so each name goes to the list that holds it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssa_internal.h"

/* The OpenSSL name of a cipher given by either name, among those the policy allows. */
static const SSL_CIPHER *find_allowed(const char *name, bool *tls13)
{
	SSL_CTX *ctx = ssa_client_ctx();
	STACK_OF(SSL_CIPHER) *list = ctx ? SSL_CTX_get_ciphers(ctx) : NULL;

	for (int i = 0; list != NULL && i < sk_SSL_CIPHER_num(list); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(list, i);

		if (strcmp(SSL_CIPHER_get_name(c), name) == 0 ||
		    strcmp(SSL_CIPHER_standard_name(c), name) == 0) {
			*tls13 = strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") == 0;
			return c;
		}
	}
	return NULL;
}

/* The names of list (policy or current), with `name` removed or moved first. */
static char *rewrite_list(const char *current, const char *name, bool enable)
{
	size_t size = strlen(current) + strlen(name) + 2;
	char *copy = strdup(current), *out = malloc(size), *save = NULL, *tok;
	size_t used = 0;

	if (copy == NULL || out == NULL) {
		free(copy);
		free(out);
		return NULL;
	}
	out[0] = '\0';
	if (enable)
		used += (size_t)snprintf(out, size, "%s", name);
	for (tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save))
		if (strcmp(tok, name) != 0)
			used +=
			    (size_t)snprintf(out + used, size - used, "%s%s", used ? ":" : "", tok);
	free(copy);
	return out;
}

/*
 * TLS 1.2 lists may use aliases, so rather than edit names: "!X" removes X for good, and a
 * name already present is ignored when repeated, so "X:list" only moves X first (ciphers(1)).
 */
static char *rewrite_12(const char *current, const char *name, bool enable)
{
	size_t size = strlen(current) + strlen(name) + 3;
	char *out = malloc(size);

	if (out != NULL)
		snprintf(out, size, enable ? "%2$s:%1$s" : "%1$s:!%2$s", current, name);
	return out;
}

static bool list_usable(const char *list, bool tls13)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	bool ok = ctx != NULL && (tls13 ? SSL_CTX_set_ciphersuites(ctx, list)
					: SSL_CTX_set_cipher_list(ctx, list)) == 1;

	SSL_CTX_free(ctx);
	return ok;
}

int ssa_cipher_option(struct ssa_sock *s, int name, const void *val, socklen_t len)
{
	const struct ssa_policy *p = ssa_current_policy();
	char cipher[SSA_CIPHER_NAME_MAX];
	const SSL_CIPHER *c;
	bool tls13 = false;
	char **slot, *rewritten;

	if (ssa_opt_string(s, val, len, cipher, sizeof(cipher) - 1) < 0)
		return -1;
	c = find_allowed(cipher, &tls13);
	if (c == NULL)
		return ssa_fail(
		    s, name == TLS_ENABLE_CIPHER ? SSA_E_POLICY_FORBIDS : SSA_E_OPTION_VALUE,
		    "%s is not among the ciphers the policy allows", cipher);
	slot = tls13 ? &s->opts.suites13 : &s->opts.ciphers12;
	if (tls13)
		rewritten = rewrite_list(*slot ? *slot : p->suites13, SSL_CIPHER_get_name(c),
					 name == TLS_ENABLE_CIPHER);
	else
		rewritten = rewrite_12(*slot ? *slot : p->ciphers12, SSL_CIPHER_get_name(c),
				       name == TLS_ENABLE_CIPHER);
	if (rewritten == NULL)
		return ssa_fail(s, SSA_E_RESOURCES, NULL);
	if (rewritten[0] == '\0' || !list_usable(rewritten, tls13)) {
		free(rewritten);
		return ssa_fail(s, SSA_E_OPTION_VALUE, "%s is the last cipher of its list", cipher);
	}
	free(*slot);
	*slot = rewritten;
	return 0;
}
