/*
 * The policy file: libconfig syntax (the library reports syntax errors with file and line),
 * one table of settings, a default profile and profiles chosen by who calls (users,
 * unix-groups) and by executable path (match); a profile applies when all it states holds.
 *
 *   default = { min-version = "TLS1.2"; trust-file = "/etc/ssl/certs/ca-certificates.crt"; };
 *   profiles = ( { match = "/usr/bin/wget"; min-version = "TLS1.3"; },
 *                { match = "/usr/sbin/lighttpd"; users = [ "www-data" ];
 *                  server-certificates = ( { chain = "..."; key = "..."; } ); },
 *                { match = "/opt/legacy/"; handshake-timeout = 60.0; } );
 */
#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
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
	p->index = -1;
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
		if (strcmp(s->name, "groups") == 0 &&
		    (config_setting_is_array(v) || config_setting_is_list(v)))
			return fail_at(ld, v,
				       "groups: expected %s (the callers' groups are "
				       "unix-groups = [ ... ])",
				       s->help);
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

/* What chooses a profile rather than shaping its TLS: checked by profile_applies(). */
static bool is_condition(const char *name)
{
	return strcmp(name, "match") == 0 || strcmp(name, "users") == 0 ||
	       strcmp(name, "unix-groups") == 0;
}

static int apply_group(struct loader *ld, struct ssa_policy *p, const config_setting_t *g,
		       bool is_profile)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *v = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(v);
		size_t k;

		if (is_condition(name) && is_profile)
			continue;
		if (is_condition(name))
			return fail_at(ld, v, "%s: only in a profile (default applies to all)",
				       name);
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

/*
 * A name of users = [...] or unix-groups = [...], resolved as the policy loads.  The _r calls:
 * a program may load its policy in any thread.  0, or an errno (ENOENT: no such name).
 */
static int lookup_name(const char *name, bool group, unsigned *id)
{
	for (size_t size = 1024;; size *= 2) {
		char *buf = malloc(size);
		struct passwd pw, *pwp = NULL;
		struct group gr, *grp = NULL;
		int rc;

		if (buf == NULL)
			return ENOMEM;
		rc = group ? getgrnam_r(name, &gr, buf, size, &grp)
			   : getpwnam_r(name, &pw, buf, size, &pwp);
		if (rc == 0 && (group ? grp == NULL : pwp == NULL))
			rc = ENOENT;
		else if (rc == 0)
			*id = group ? (unsigned)gr.gr_gid : (unsigned)pw.pw_uid;
		free(buf);
		if (rc != ERANGE || size >= 1 << 20)
			return rc;
	}
}

/* One entry of users = [...] or unix-groups = [...]: a name, or a numeric id unquoted. */
static int entry_id(struct loader *ld, const config_setting_t *e, bool group, unsigned *id)
{
	const char *what = group ? "unix-groups" : "users";
	int type = config_setting_type(e), rc;
	long long n;

	if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
		n = config_setting_get_int64(e);
		if (n < 0 || n >= (long long)UINT32_MAX)
			return fail_at(ld, e, "%s: %lld is not a %s id", what, n,
				       group ? "group" : "user");
		*id = (unsigned)n;
		return 0;
	}
	if (type != CONFIG_TYPE_STRING)
		return fail_at(ld, e, "%s: expected names (\"NAME\") or numeric ids", what);
	rc = lookup_name(config_setting_get_string(e), group, id);
	if (rc == ENOENT)
		return fail_at(ld, e, "%s: no %s \"%s\"%s", what, group ? "group" : "user",
			       config_setting_get_string(e),
			       strspn(config_setting_get_string(e), "0123456789") ==
				       strlen(config_setting_get_string(e))
				   ? " (write numeric ids without quotes)"
				   : "");
	if (rc != 0)
		return fail_at(ld, e, "%s: \"%s\": %s", what, config_setting_get_string(e),
			       strerror(rc));
	return 0;
}

/*
 * Whether the caller is among users = [...] (its uid) or unix-groups = [...] (its gid or one
 * of its supplementary groups).  Every entry is resolved, matched or not, so that a name that
 * does not exist is an error whoever calls.
 */
static int caller_listed(struct loader *ld, const config_setting_t *list, bool group,
			 const struct ssa_policy_caller *c, bool *listed)
{
	int n = config_setting_length(list);

	*listed = false;
	if ((!config_setting_is_array(list) && !config_setting_is_list(list)) || n == 0)
		return fail_at(ld, list, "%s: expected a list of names or numeric ids, such as %s",
			       group ? "unix-groups" : "users",
			       group ? "[ \"www-data\" ]" : "[ \"www-data\", 1001 ]");
	for (int i = 0; i < n; i++) {
		unsigned id = 0;

		if (entry_id(ld, config_setting_get_elem(list, (unsigned)i), group, &id) < 0)
			return -1;
		if (c == NULL || !c->ids_known)
			continue;
		if (id == (group ? (unsigned)c->gid : (unsigned)c->uid))
			*listed = true;
		for (size_t k = 0; group && k < c->ngroups; k++)
			if (id == (unsigned)c->groups[k])
				*listed = true;
	}
	return 0;
}

/*
 * Whether a profile applies to caller: all its conditions hold, and it has at least one.  The
 * executable path is taken as the caller struct gives it: a path that, in this mount
 * namespace, names the file the caller executes (ssad_monitor.c checks that).
 */
static int profile_applies(struct loader *ld, const config_setting_t *prof,
			   const struct ssa_policy_caller *c, bool *applies)
{
	const config_setting_t *match, *users, *groups;
	bool listed;

	*applies = false;
	if (!config_setting_is_group(prof))
		return fail_at(ld, prof, "each profile is a group: { match = \"PATH\"; ... }");
	match = config_setting_get_member(prof, "match");
	users = config_setting_get_member(prof, "users");
	groups = config_setting_get_member(prof, "unix-groups");
	if (match == NULL && users == NULL && groups == NULL)
		return fail_at(ld, prof,
			       "each profile needs match = \"PATH\", users = [ ... ] or "
			       "unix-groups = [ ... ]");
	if (match != NULL && (config_setting_type(match) != CONFIG_TYPE_STRING ||
			      config_setting_get_string(match)[0] == '\0'))
		return fail_at(ld, match, "match: expected \"PATH\", \"DIR/\" or a shell pattern");
	*applies = match == NULL ||
		   profile_matches(config_setting_get_string(match), c != NULL ? c->exe : NULL);
	if (users != NULL && caller_listed(ld, users, false, c, &listed) < 0)
		return -1;
	*applies = *applies && (users == NULL || listed);
	if (groups != NULL && caller_listed(ld, groups, true, c, &listed) < 0)
		return -1;
	*applies = *applies && (groups == NULL || listed);
	return 0;
}

/* "/usr/bin/wget" for a profile chosen by its executable alone, else "profile N (...)". */
static char *profile_name(const config_setting_t *prof, int index)
{
	const char *match = NULL;
	bool bound = config_setting_get_member(prof, "users") != NULL ||
		     config_setting_get_member(prof, "unix-groups") != NULL;
	char name[4200];

	config_setting_lookup_string(prof, "match", &match);
	if (match != NULL && !bound)
		return strdup(match);
	if (match != NULL)
		snprintf(name, sizeof(name), "profile %d (%s)", index + 1, match);
	else
		snprintf(name, sizeof(name), "profile %d", index + 1);
	return strdup(name);
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

/*
 * The first profile that applies to caller, or the profile at index `force` when it is >= 0
 * (its conditions checked all the same).  *index is its position.
 */
static const config_setting_t *find_profile(struct loader *ld, config_t *cfg,
					    const struct ssa_policy_caller *caller, int force,
					    int *index, int *rc)
{
	config_setting_t *list = config_lookup(cfg, "profiles");

	*rc = 0;
	for (int i = 0; list != NULL && i < config_setting_length(list); i++) {
		config_setting_t *prof = config_setting_get_elem(list, (unsigned)i);
		bool applies;

		if (force >= 0 && i != force)
			continue;
		if ((*rc = profile_applies(ld, prof, caller, &applies)) < 0)
			return NULL;
		if (force >= 0 || applies) {
			*index = i;
			return prof;
		}
	}
	return NULL;
}

static int load_profile(const char *path, const struct ssa_policy_caller *caller, int force,
			struct ssa_policy *p, char *err, size_t err_size)
{
	struct loader ld = {path, err, err_size, {0}};
	const config_setting_t *prof, *def;
	config_t cfg;
	int rc, index = -1;

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
	prof = rc == 0 ? find_profile(&ld, &cfg, caller, force, &index, &rc) : NULL;
	free(p->profile);
	p->profile = prof != NULL ? profile_name(prof, index) : strdup("default");
	p->index = prof != NULL ? index : -1;
	if (p->profile == NULL && rc == 0)
		rc = fail_at(&ld, prof, "out of memory");
	if (rc == 0 && prof != NULL)
		rc = apply_group(&ld, p, prof, true);
	if (rc == 0)
		rc = check_coherence(&ld, p);
	config_destroy(&cfg);
	if (rc < 0)
		ssa_policy_free(p);
	return rc;
}

int ssa_policy_load(const char *path, const struct ssa_policy_caller *caller, struct ssa_policy *p,
		    char *err, size_t err_size)
{
	return load_profile(path, caller, -1, p, err, err_size);
}

/* The secrets a profile can hand to its callers, and what a caller can do with them. */
static const struct {
	const char *setting, *power;
} key_settings[] = {
    {"server-certificates", "serve TLS with these private keys"},
    {"ticket-key-file", "issue and resume sessions under this ticket key"},
};

static void warn_at(const char *file, const config_setting_t *where,
		    void (*report)(bool warning, const char *msg, void *arg), void *arg,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void warn_at(const char *file, const config_setting_t *where,
		    void (*report)(bool warning, const char *msg, void *arg), void *arg,
		    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n =
	    snprintf(msg, sizeof(msg), "%s:%u: warning: ", file, config_setting_source_line(where));

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(msg))
		vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	report(true, msg, arg);
}

/*
 * Keys given to every caller, or to whoever runs a matching executable: ssad alone can read
 * them, but any local user can then use them, since an executable proves nothing about who
 * runs it (LD_PRELOAD, ptrace, exec after connecting).  Allowed, but said.
 */
static void warn_unbound_keys(const char *file, config_t *cfg,
			      void (*report)(bool warning, const char *msg, void *arg), void *arg)
{
	const config_setting_t *def = config_lookup(cfg, "default");
	const config_setting_t *list = config_lookup(cfg, "profiles");
	const config_setting_t *v;

	for (size_t k = 0; def != NULL && k < sizeof(key_settings) / sizeof(key_settings[0]); k++)
		if ((v = config_setting_get_member(def, key_settings[k].setting)) != NULL)
			warn_at(file, v, report, arg,
				"%s in the default profile: the programs of every local user can "
				"%s; bind them to users in a profile (users = [ ... ])",
				key_settings[k].setting, key_settings[k].power);
	for (int i = 0; list != NULL && i < config_setting_length(list); i++) {
		const config_setting_t *prof = config_setting_get_elem(list, (unsigned)i);

		if (!config_setting_is_group(prof) ||
		    config_setting_get_member(prof, "users") != NULL ||
		    config_setting_get_member(prof, "unix-groups") != NULL)
			continue;
		for (size_t k = 0; k < sizeof(key_settings) / sizeof(key_settings[0]); k++)
			if ((v = config_setting_get_member(prof, key_settings[k].setting)) != NULL)
				warn_at(
				    file, v, report, arg,
				    "%s in profile %d, which names no users or unix-groups: any "
				    "local user who runs a matching executable can %s (an "
				    "executable is not an identity)",
				    key_settings[k].setting, i + 1, key_settings[k].power);
	}
}

/*
 * Every profile must be valid, even one that an earlier match shadows: each is loaded on top
 * of the default, by position.
 */
int ssa_policy_check(const char *path, void (*report)(bool warning, const char *msg, void *arg),
		     void *arg)
{
	char err[512];
	struct loader ld = {path, err, sizeof(err), {0}};
	struct ssa_policy p;
	config_t cfg;
	config_setting_t *list;
	int failures = 0, n;

	if (open_config(&cfg, &ld, path) < 0) {
		report(false, err, arg);
		return -1;
	}
	list = config_lookup(&cfg, "profiles");
	n = list ? config_setting_length(list) : 0;
	for (int i = -1; i < n; i++) {
		if (load_profile(path, NULL, i, &p, err, sizeof(err)) < 0) {
			report(false, err, arg);
			failures++;
			if (i < 0)
				break; /* the default is broken: every profile would repeat it */
			continue;
		}
		ssa_policy_free(&p);
	}
	warn_unbound_keys(path, &cfg, report, arg);
	config_destroy(&cfg);
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
