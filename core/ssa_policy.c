/*
 * The policy file: libconfig syntax (the library reports syntax errors with file and line),
 * one table of settings, a default profile and profiles chosen by executable path.
 *
 *   default = { min-version = "TLS1.2"; trust-file = "/etc/ssl/certs/ca-certificates.crt"; };
 *   profiles = ( { match = "/usr/bin/wget"; min-version = "TLS1.3"; },
 *                { match = "/opt/legacy/"; handshake-timeout = 60.0; } );
 */
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libconfig.h>
#include <openssl/ssl.h>

#include "ssa_policy.h"

/*
 * TLS 1.2: ECDHE key exchange with AEAD only (RFC 9325 section 4.2): no static RSA, no CBC,
 * no SHA-1 MACs.
 */
#define SSA_DEFAULT_CIPHERS12                                                                      \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                               \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
#define SSA_DEFAULT_SUITES13                                                                       \
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"

enum kind { K_VERSION, K_STRING, K_INT, K_BOOL, K_SECONDS, K_BACKEND };

struct setting {
	const char *name;
	enum kind kind;
	size_t offset;
	int min, max; /* K_INT bounds */
	const char *help;
};

#define AT(field) offsetof(struct ssa_policy, field)

static const struct setting settings[] = {
    {"min-version", K_VERSION, AT(min_version), 0, 0, "\"TLS1.2\" or \"TLS1.3\""},
    {"max-version", K_VERSION, AT(max_version), 0, 0, "\"TLS1.2\" or \"TLS1.3\""},
    {"ciphers", K_STRING, AT(ciphers12), 0, 0, "an OpenSSL cipher list (TLS 1.2)"},
    {"ciphersuites", K_STRING, AT(suites13), 0, 0, "TLS 1.3 suites separated by ':'"},
    {"groups", K_STRING, AT(groups), 0, 0, "key exchange groups separated by ':'"},
    {"trust-file", K_STRING, AT(trust_file), 0, 0, "a PEM file of trust anchors"},
    {"trust-dir", K_STRING, AT(trust_dir), 0, 0, "a hashed directory of trust anchors"},
    {"verify-depth", K_INT, AT(verify_depth), 1, 32, "an integer from 1 to 32"},
    {"handshake-timeout", K_SECONDS, AT(handshake_timeout_ms), 1, 3600, "seconds"},
    {"linger-timeout", K_SECONDS, AT(linger_timeout_ms), 0, 3600, "seconds"},
    {"app-trust", K_BOOL, AT(allow_app_trust), 0, 0, "true or false"},
    {"session-lifetime", K_INT, AT(session_ttl), 0, 604800, "seconds, 0 to 604800"},
    {"session-cache-size", K_INT, AT(session_cache_size), 0, 1 << 24, "an entry count"},
    {"tickets", K_BOOL, AT(tickets), 0, 0, "true or false"},
    {"ticket-key-file", K_STRING, AT(ticket_key_file), 0, 0, "a file of 80 random bytes"},
    {"ocsp-stapling", K_BOOL, AT(rev_stapled), 0, 0, "true or false"},
    {"ocsp", K_BOOL, AT(rev_ocsp), 0, 0, "true or false"},
    {"crl", K_BOOL, AT(rev_crl), 0, 0, "true or false"},
    {"revocation-hard-fail", K_BOOL, AT(rev_hard_fail), 0, 0, "true or false"},
    {"revocation-cache-time", K_INT, AT(rev_cache_time), 0, 86400, "seconds, 0 to 86400"},
    {"security-level", K_INT, AT(security_level), 2, 5, "2 to 5 (OpenSSL levels)"},
    {"early-data", K_BOOL, AT(early_data), 0, 0, "true or false"},
    {"log-connections", K_BOOL, AT(log_connections), 0, 0, "true or false"},
    {"log-to-syslog", K_BOOL, AT(log_syslog), 0, 0, "true (syslog) or false (stderr)"},
    {"backend", K_BACKEND, AT(backend), 0, 0, "\"auto\", \"inprocess\" or \"daemon\""},
    {"daemon-fallback", K_BOOL, AT(daemon_fallback), 0, 0, "true or false"},
    {"user-sockets", K_INT, AT(user_sockets), 0, 1 << 24, "a count, 0 for no limit"},
};

static const char *const backend_names[] = {"auto", "inprocess", "daemon"};

static int parse_backend(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, backend_names[i]) == 0)
			return i;
	return -1;
}

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static char **string_at(struct ssa_policy *p, const struct setting *s)
{
	return (char **)((char *)p + s->offset);
}

int ssa_policy_defaults(struct ssa_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->profile = strdup("built-in");
	p->min_version = TLS1_2_VERSION;
	p->max_version = TLS1_3_VERSION;
	p->ciphers12 = strdup(SSA_DEFAULT_CIPHERS12);
	p->suites13 = strdup(SSA_DEFAULT_SUITES13);
	p->groups = strdup("X25519:P-256:P-384");
	p->verify_depth = 10;
	p->handshake_timeout_ms = 30000;
	p->linger_timeout_ms = 10000;
	p->allow_app_trust = true;
	p->session_ttl = 7200;
	p->rev_cache_time = 3600;
	p->session_cache_size = 20480;
	p->tickets = true;
	p->security_level = 2;
	p->backend = SSA_BACKEND_AUTO;
	p->user_sockets = 65536;
	if (!p->profile || !p->ciphers12 || !p->suites13 || !p->groups) {
		ssa_policy_free(p);
		return -1;
	}
	return 0;
}

void ssa_policy_free(struct ssa_policy *p)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (settings[i].kind == K_STRING)
			free(*string_at(p, &settings[i]));
	for (unsigned i = 0; i < p->ncerts; i++) {
		free(p->certs[i].chain);
		free(p->certs[i].key);
	}
	free(p->profile);
	SSL_CTX_free(p->client_ctx);
	memset(p, 0, sizeof(*p));
}

struct loader {
	const char *file;
	char *err;
	size_t err_size;
	unsigned lines[NSETTINGS]; /* where each setting was last given, for later checks */
};

/* Does OpenSSL accept this list?  Checked where the setting is, so errors carry its line. */
static bool openssl_accepts(const char *name, const char *value)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	bool ok = ctx != NULL;

	if (ok && strcmp(name, "ciphers") == 0)
		ok = SSL_CTX_set_cipher_list(ctx, value) == 1;
	else if (ok && strcmp(name, "ciphersuites") == 0)
		ok = SSL_CTX_set_ciphersuites(ctx, value) == 1 && value[0] != '\0';
	else if (ok && strcmp(name, "groups") == 0)
		ok = SSL_CTX_set1_groups_list(ctx, value) == 1;
	SSL_CTX_free(ctx);
	return ok;
}

/* Files the policy names must be readable now, not at the first connection. */
static bool path_usable(const char *name, const char *value)
{
	if (strcmp(name, "trust-file") == 0 || strcmp(name, "ticket-key-file") == 0)
		return access(value, R_OK) == 0;
	if (strcmp(name, "trust-dir") == 0)
		return access(value, R_OK | X_OK) == 0;
	return true;
}

static int fail_at(struct loader *ld, const config_setting_t *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct loader *ld, const config_setting_t *where, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(ld->err, ld->err_size, "%s:%u: ", ld->file,
			 where ? config_setting_source_line(where) : 0);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < ld->err_size)
		vsnprintf(ld->err + n, ld->err_size - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int parse_version(const char *text)
{
	if (strcasecmp(text, "TLS1.2") == 0 || strcasecmp(text, "TLSv1.2") == 0)
		return TLS1_2_VERSION;
	if (strcasecmp(text, "TLS1.3") == 0 || strcasecmp(text, "TLSv1.3") == 0)
		return TLS1_3_VERSION;
	return 0;
}

static int apply_setting(struct loader *ld, struct ssa_policy *p, const struct setting *s,
			 const config_setting_t *v)
{
	int type = config_setting_type(v);
	void *field = (char *)p + s->offset;
	double secs;

	switch (s->kind) {
	case K_VERSION:
		if (type != CONFIG_TYPE_STRING || !parse_version(config_setting_get_string(v)))
			return fail_at(ld, v, "%s: expected %s", s->name, s->help);
		*(int *)field = parse_version(config_setting_get_string(v));
		return 0;
	case K_BACKEND:
		if (type != CONFIG_TYPE_STRING || parse_backend(config_setting_get_string(v)) < 0)
			return fail_at(ld, v, "%s: expected %s", s->name, s->help);
		*(int *)field = parse_backend(config_setting_get_string(v));
		return 0;
	case K_STRING:
		if (type != CONFIG_TYPE_STRING || config_setting_get_string(v)[0] == '\0')
			return fail_at(ld, v, "%s: expected %s", s->name, s->help);
		if (!openssl_accepts(s->name, config_setting_get_string(v)))
			return fail_at(ld, v, "%s: OpenSSL accepts none of \"%s\"", s->name,
				       config_setting_get_string(v));
		if (!path_usable(s->name, config_setting_get_string(v)))
			return fail_at(ld, v, "%s: %s: %s", s->name, config_setting_get_string(v),
				       strerror(errno));
		free(*(char **)field);
		*(char **)field = strdup(config_setting_get_string(v));
		return *(char **)field ? 0 : fail_at(ld, v, "out of memory");
	case K_BOOL:
		if (type != CONFIG_TYPE_BOOL)
			return fail_at(ld, v, "%s: expected %s", s->name, s->help);
		*(bool *)field = config_setting_get_bool(v);
		return 0;
	case K_INT:
		if (type != CONFIG_TYPE_INT || config_setting_get_int(v) < s->min ||
		    config_setting_get_int(v) > s->max)
			return fail_at(ld, v, "%s: expected %s", s->name, s->help);
		*(int *)field = config_setting_get_int(v);
		return 0;
	case K_SECONDS:
		if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_FLOAT)
			return fail_at(ld, v, "%s: expected %s", s->name, s->help);
		secs = type == CONFIG_TYPE_INT ? config_setting_get_int(v)
					       : config_setting_get_float(v);
		if (secs < s->min || secs > s->max)
			return fail_at(ld, v, "%s: expected %d to %d %s", s->name, s->min, s->max,
				       s->help);
		*(int *)field = (int)(secs * 1000);
		return 0;
	}
	return 0;
}

static int apply_certificates(struct loader *ld, struct ssa_policy *p, const config_setting_t *l)
{
	unsigned n = (unsigned)config_setting_length(l);

	if (!config_setting_is_list(l) || n > SSA_POLICY_MAX_CERTS)
		return fail_at(ld, l,
			       "server-certificates: expected a list of at most %d "
			       "{ chain = \"...\"; key = \"...\"; }",
			       SSA_POLICY_MAX_CERTS);
	for (unsigned i = 0; i < p->ncerts; i++) {
		free(p->certs[i].chain);
		free(p->certs[i].key);
	}
	p->ncerts = 0;
	for (unsigned i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(l, i);
		const char *chain = NULL, *key = NULL;

		if (!config_setting_is_group(e) ||
		    !config_setting_lookup_string(e, "chain", &chain) ||
		    !config_setting_lookup_string(e, "key", &key) || config_setting_length(e) != 2)
			return fail_at(ld, e,
				       "server-certificates: each entry needs exactly chain = "
				       "\"FILE\"; key = \"FILE\";");
		p->certs[i].chain = strdup(chain);
		p->certs[i].key = strdup(key);
		p->ncerts = i + 1;
		if (!p->certs[i].chain || !p->certs[i].key)
			return fail_at(ld, e, "out of memory");
	}
	return 0;
}

static int apply_group(struct loader *ld, struct ssa_policy *p, const config_setting_t *g,
		       bool is_profile)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *v = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(v);
		size_t k;

		if (is_profile && strcmp(name, "match") == 0)
			continue;
		if (strcmp(name, "server-certificates") == 0) {
			if (apply_certificates(ld, p, v) < 0)
				return -1;
			continue;
		}
		for (k = 0; k < NSETTINGS && strcmp(settings[k].name, name) != 0; k++)
			;
		if (k == NSETTINGS)
			return fail_at(ld, v, "unknown setting \"%s\"", name);
		if (apply_setting(ld, p, &settings[k], v) < 0)
			return -1;
		ld->lines[k] = config_setting_source_line(v);
	}
	return 0;
}

/* "/usr/bin/wget" exactly, "/opt/app/" as a directory prefix, or a shell pattern. */
static bool profile_matches(const char *match, const char *exe)
{
	size_t n = strlen(match);

	if (exe == NULL)
		return false;
	if (n > 0 && match[n - 1] == '/')
		return strncmp(match, exe, n) == 0;
	if (strpbrk(match, "*?[") != NULL)
		return fnmatch(match, exe, 0) == 0;
	return strcmp(match, exe) == 0;
}

static unsigned line_of(const struct loader *ld, const char *name)
{
	for (size_t k = 0; k < NSETTINGS; k++)
		if (strcmp(settings[k].name, name) == 0)
			return ld->lines[k];
	return 0;
}

static int fail_line(struct loader *ld, unsigned line, const char *msg)
{
	snprintf(ld->err, ld->err_size, "%s:%u: %s", ld->file, line, msg);
	return -1;
}

/* What cannot be checked setting by setting; reported at the later of the lines involved. */
static int check_coherence(struct loader *ld, const struct ssa_policy *p)
{
	unsigned a, b;

	if (p->min_version > p->max_version) {
		a = line_of(ld, "min-version");
		b = line_of(ld, "max-version");
		return fail_line(ld, a > b ? a : b, "min-version is above max-version");
	}
	if (p->trust_file && p->trust_dir) {
		a = line_of(ld, "trust-file");
		b = line_of(ld, "trust-dir");
		return fail_line(ld, a > b ? a : b, "set trust-file or trust-dir, not both");
	}
	return 0;
}

static int open_config(config_t *cfg, struct loader *ld, const char *path)
{
	config_init(cfg);
	if (config_read_file(cfg, path) == CONFIG_TRUE)
		return 0;
	if (config_error_type(cfg) == CONFIG_ERR_FILE_IO)
		snprintf(ld->err, ld->err_size, "%s: cannot read: %s", path, strerror(errno));
	else
		snprintf(ld->err, ld->err_size, "%s:%d: %s", path, config_error_line(cfg),
			 config_error_text(cfg));
	config_destroy(cfg);
	return -1;
}

static int check_top_level(struct loader *ld, config_t *cfg)
{
	config_setting_t *root = config_root_setting(cfg);

	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *v = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(v);

		if (strcmp(name, "default") == 0 && config_setting_is_group(v))
			continue;
		if (strcmp(name, "profiles") == 0 && config_setting_is_list(v))
			continue;
		return fail_at(ld, v, "\"%s\": expected default = { ... }; or profiles = ( ... );",
			       name);
	}
	return 0;
}

/* The first profile whose match fits exe, or the profile at index `force` when it is >= 0. */
static const config_setting_t *find_profile(struct loader *ld, config_t *cfg, const char *exe,
					    int force, int *rc)
{
	config_setting_t *list = config_lookup(cfg, "profiles");

	*rc = 0;
	for (int i = 0; list != NULL && i < config_setting_length(list); i++) {
		config_setting_t *prof = config_setting_get_elem(list, (unsigned)i);
		const char *match;

		if (!config_setting_is_group(prof) ||
		    !config_setting_lookup_string(prof, "match", &match)) {
			*rc = fail_at(ld, prof, "each profile needs match = \"PATH\";");
			return NULL;
		}
		if (force >= 0 ? i == force : profile_matches(match, exe))
			return prof;
	}
	return NULL;
}

static int load_profile(const char *path, const char *exe, int force, struct ssa_policy *p,
			char *err, size_t err_size)
{
	struct loader ld = {path, err, err_size, {0}};
	const config_setting_t *prof, *def;
	config_t cfg;
	int rc;

	if (ssa_policy_defaults(p) < 0)
		return snprintf(err, err_size, "out of memory"), -1;
	if (open_config(&cfg, &ld, path) < 0) {
		ssa_policy_free(p);
		return -1;
	}
	def = config_lookup(&cfg, "default");
	rc = check_top_level(&ld, &cfg);
	if (rc == 0 && def != NULL)
		rc = apply_group(&ld, p, def, false);
	prof = rc == 0 ? find_profile(&ld, &cfg, exe, force, &rc) : NULL;
	if (rc == 0 && prof != NULL) {
		const char *match = NULL;

		config_setting_lookup_string(prof, "match", &match);
		free(p->profile);
		p->profile = strdup(match);
		rc = apply_group(&ld, p, prof, true);
	} else if (rc == 0) {
		free(p->profile);
		p->profile = strdup("default");
	}
	if (rc == 0)
		rc = check_coherence(&ld, p);
	config_destroy(&cfg);
	if (rc < 0)
		ssa_policy_free(p);
	return rc;
}

int ssa_policy_load(const char *path, const char *exe, struct ssa_policy *p, char *err,
		    size_t err_size)
{
	return load_profile(path, exe, -1, p, err, err_size);
}

/*
 * Every profile must be valid, even one that an earlier match shadows: each is loaded on top
 * of the default, by position.
 */
int ssa_policy_check(const char *path, void (*report)(const char *msg, void *arg), void *arg)
{
	char err[512];
	struct loader ld = {path, err, sizeof(err), {0}};
	struct ssa_policy p;
	config_t cfg;
	config_setting_t *list;
	int failures = 0, n;

	if (open_config(&cfg, &ld, path) < 0) {
		report(err, arg);
		return -1;
	}
	list = config_lookup(&cfg, "profiles");
	n = list ? config_setting_length(list) : 0;
	config_destroy(&cfg);
	for (int i = -1; i < n; i++) {
		if (load_profile(path, NULL, i, &p, err, sizeof(err)) < 0) {
			report(err, arg);
			failures++;
			if (i < 0)
				break; /* the default is broken: every profile would repeat it */
			continue;
		}
		ssa_policy_free(&p);
	}
	return failures ? -1 : 0;
}

/* The effective profile, as a policy file that would give exactly it. */
void ssa_policy_print(const struct ssa_policy *p, void (*out)(const char *line, void *arg),
		      void *arg)
{
	char line[1024];

	snprintf(line, sizeof(line), "# profile: %s", p->profile);
	out(line, arg);
	out("default = {", arg);
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		const void *field = (const char *)p + s->offset;

		switch (s->kind) {
		case K_VERSION:
			snprintf(line, sizeof(line), "  %s = \"%s\";", s->name,
				 *(const int *)field == TLS1_3_VERSION ? "TLS1.3" : "TLS1.2");
			break;
		case K_STRING:
			if (*(char *const *)field == NULL)
				continue;
			snprintf(line, sizeof(line), "  %s = \"%s\";", s->name,
				 *(char *const *)field);
			break;
		case K_BOOL:
			snprintf(line, sizeof(line), "  %s = %s;", s->name,
				 *(const bool *)field ? "true" : "false");
			break;
		case K_INT:
			snprintf(line, sizeof(line), "  %s = %d;", s->name, *(const int *)field);
			break;
		case K_SECONDS:
			snprintf(line, sizeof(line), "  %s = %.3f;", s->name,
				 *(const int *)field / 1000.0);
			break;
		case K_BACKEND:
			snprintf(line, sizeof(line), "  %s = \"%s\";", s->name,
				 backend_names[*(const int *)field]);
			break;
		}
		out(line, arg);
	}
	if (p->ncerts > 0)
		out("  server-certificates = (", arg);
	for (unsigned i = 0; i < p->ncerts; i++) {
		snprintf(line, sizeof(line), "    { chain = \"%s\"; key = \"%s\"; }%s",
			 p->certs[i].chain, p->certs[i].key, i + 1 < p->ncerts ? "," : "");
		out(line, arg);
	}
	if (p->ncerts > 0)
		out("  );", arg);
	out("};", arg);
}
