/*
 * test_policy.c -- the administrator's policy (SPEC section 4), through core/ssa_policy.c
 * (compiled in) and the `ssa-policy` command.
 *
 * Checked: the built-in defaults are the secure ones of the SPEC; a file's default profile and
 * its profiles chosen by executable path (exact path, directory prefix, shell pattern; the first
 * match wins; a profile overrides the default); every error names FILE:LINE of its cause; and
 * `ssa-policy check` exits 0/1 with the same messages.
 */
#define _GNU_SOURCE
#include "tutil.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "ssa_policy.h"

static char err[1024];

/* Writes text to a new file of the temp dir and returns its path (valid until exit).  "@T@"
 * in text stands for the temp dir, where main() put the files the policies name. */
static const char *write_conf(const char *name, const char *text)
{
    static char paths[64][PATH_MAX];
    static int used;
    char *path = paths[used++ % 64];
    const char *at;

    snprintf(path, PATH_MAX, "%s/%s", t_tmpdir(), name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        t_bail("cannot write %s", path);
    while ((at = strstr(text, "@T@")) != NULL) {
        fwrite(text, 1, (size_t)(at - text), f);
        fputs(t_tmpdir(), f);
        text = at + 3;
    }
    fputs(text, f);
    fclose(f);
    return path;
}

/* The files policies name: they must exist (the loader checks), their content is not read. */
static void make_named_files(void)
{
    static const char *names[] = {"trust.pem", "ticket.key", "a-chain.pem", "a.key",
                                  "b-chain.pem", "b.key", "c-chain.pem", "c.key"};
    char path[PATH_MAX];

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", t_tmpdir(), names[i]);
        FILE *f = fopen(path, "w");
        if (f == NULL)
            t_bail("cannot write %s", path);
        fputs("placeholder\n", f);
        fclose(f);
    }
}

/* Loads path for exe (run by no one named); on success the caller frees p. */
static int load(const char *path, const char *exe, struct ssa_policy *p)
{
    struct ssa_policy_caller caller = {.exe = exe};

    err[0] = '\0';
    return ssa_policy_load(path, &caller, p, err, sizeof err);
}

/* The line number of "PATH:LINE: ..." in err, or -1 if err does not start so. */
static int error_line(const char *path)
{
    size_t n = strlen(path);
    char *end;

    if (strncmp(err, path, n) != 0 || err[n] != ':')
        return -1;
    long line = strtol(err + n + 1, &end, 10);
    return end != err + n + 1 && end[0] == ':' && end[1] == ' ' ? (int)line : -1;
}

/* ---- Defaults --------------------------------------------------------------------------- */

/* Every TLS 1.2 cipher the list selects: AEAD, with (EC)DHE key exchange, a real signature. */
static void check_aead_fs_only(const char *list)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    T_REQUIRE(ctx != NULL, "SSL_CTX_new");
    T_REQUIRE(SSL_CTX_set_cipher_list(ctx, list) == 1, "OpenSSL rejects \"%s\"", list);
    STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(ctx);
    int n12 = 0;

    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(ciphers, i);
        const char *name = SSL_CIPHER_get_name(c);
        int kx = SSL_CIPHER_get_kx_nid(c), auth = SSL_CIPHER_get_auth_nid(c);

        if (strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") == 0)
            continue; /* the TLS 1.3 suites, from the other list */
        n12++;
        T_CHECK(SSL_CIPHER_is_aead(c), "%s is not AEAD", name);
        T_CHECK(kx == NID_kx_ecdhe || kx == NID_kx_dhe, "%s has no forward secrecy", name);
        T_CHECK(auth == NID_auth_rsa || auth == NID_auth_ecdsa, "%s: anonymous or PSK", name);
        T_CHECK(strstr(SSL_CIPHER_standard_name(c), "CBC") == NULL, "%s is CBC", name);
    }
    T_CHECK(n12 > 0, "no TLS 1.2 cipher in \"%s\"", list);
    SSL_CTX_free(ctx);
}

static void test_defaults(void)
{
    struct ssa_policy p;

    T_REQUIRE(ssa_policy_defaults(&p) == 0, "ssa_policy_defaults failed");
    T_CHECK(p.min_version == TLS1_2_VERSION, "min-version 0x%x", p.min_version);
    T_CHECK(p.max_version == TLS1_3_VERSION, "max-version 0x%x", p.max_version);
    T_CHECK(p.trust_file == NULL && p.trust_dir == NULL, "trust store is not the system's");
    T_CHECK(p.verify_depth >= 2, "verify depth %d", p.verify_depth);
    T_CHECK(p.security_level >= 2, "security level %d allows RSA-1024/SHA-1",
            p.security_level);
    T_CHECK(p.handshake_timeout_ms > 0, "no handshake timeout");
    T_CHECK(p.ncerts == 0, "%u server certificates by default", p.ncerts);
    T_REQUIRE(p.ciphers12 != NULL && p.suites13 != NULL, "no cipher lists");
    /* By name: none of the weak families. */
    static const char *weak[] = {"CBC", "RC4", "3DES", "DES-", "NULL", "MD5", "EXPORT",
                                 "AES128-SHA", "AES256-SHA", "PSK", "aNULL", "kRSA", NULL};
    for (int i = 0; weak[i]; i++)
        T_CHECK(strstr(p.ciphers12, weak[i]) == NULL, "\"%s\" in ciphers \"%s\"", weak[i],
                p.ciphers12);
    check_aead_fs_only(p.ciphers12);
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    T_CHECK(ctx && SSL_CTX_set_ciphersuites(ctx, p.suites13) == 1, "bad suites \"%s\"",
            p.suites13);
    T_CHECK(ctx && SSL_CTX_set1_groups_list(ctx, p.groups) == 1, "bad groups \"%s\"", p.groups);
    SSL_CTX_free(ctx);
    ssa_policy_free(&p);
}

static void test_empty_file_is_defaults(void)
{
    struct ssa_policy p, d;
    const char *path = write_conf("empty.conf", "# nothing but a comment\n");

    T_REQUIRE(load(path, "/usr/bin/anything", &p) == 0, "%s", err);
    T_REQUIRE(ssa_policy_defaults(&d) == 0, "defaults");
    T_CHECK(strcmp(p.profile, "default") == 0, "profile \"%s\"", p.profile);
    T_CHECK(p.min_version == d.min_version && p.max_version == d.max_version, "versions");
    T_CHECK(strcmp(p.ciphers12, d.ciphers12) == 0, "ciphers \"%s\"", p.ciphers12);
    T_CHECK(strcmp(p.suites13, d.suites13) == 0, "suites \"%s\"", p.suites13);
    T_CHECK(p.handshake_timeout_ms == d.handshake_timeout_ms, "timeout");
    T_CHECK(p.allow_app_trust == d.allow_app_trust, "app-trust");
    ssa_policy_free(&p);
    ssa_policy_free(&d);
}

/* ---- Profiles --------------------------------------------------------------------------- */

static const char profiles_conf[] =
    "default = {\n"
    "  min-version = \"TLS1.2\";\n"
    "  handshake-timeout = 5.5;\n"
    "  session-lifetime = 600;\n"
    "  trust-file = \"@T@/trust.pem\";\n"
    "  server-certificates = ( { chain = \"@T@/a-chain.pem\"; key = \"@T@/a.key\"; },\n"
    "                          { chain = \"@T@/b-chain.pem\"; key = \"@T@/b.key\"; } );\n"
    "};\n"
    "profiles = (\n"
    "  { match = \"/usr/bin/wget\"; min-version = \"TLS1.3\"; },\n"
    "  { match = \"/opt/app/\"; handshake-timeout = 60; app-trust = false; },\n"
    "  { match = \"/usr/local/bin/py*\"; session-lifetime = 0; tickets = false; },\n"
    "  { match = \"/opt/app/bin/special\"; verify-depth = 3; },\n"
    "  { match = \"/usr/*\"; ciphersuites = \"TLS_AES_128_GCM_SHA256\";\n"
    "    server-certificates = ( { chain = \"@T@/c-chain.pem\"; key = \"@T@/c.key\"; } ); }\n"
    ");\n";

static void test_default_profile(void)
{
    struct ssa_policy p;
    const char *path = write_conf("profiles.conf", profiles_conf);

    T_REQUIRE(load(path, "/bin/true", &p) == 0, "%s", err);
    T_CHECK(strcmp(p.profile, "default") == 0, "profile \"%s\"", p.profile);
    T_CHECK(p.min_version == TLS1_2_VERSION, "min 0x%x", p.min_version);
    T_CHECK(p.handshake_timeout_ms == 5500, "timeout %d ms", p.handshake_timeout_ms);
    T_CHECK(p.session_ttl == 600, "session-lifetime %d", p.session_ttl);
    T_CHECK(p.trust_file && strstr(p.trust_file, "/trust.pem") != NULL, "trust-file %s",
            p.trust_file ? p.trust_file : "(none)");
    T_CHECK(p.ncerts == 2 && strstr(p.certs[0].chain, "/a-chain.pem") != NULL &&
                strstr(p.certs[1].key, "/b.key") != NULL,
            "%u server certificates, in order", p.ncerts);
    ssa_policy_free(&p);
    /* No executable known: the default profile too. */
    T_REQUIRE(load(path, NULL, &p) == 0, "%s", err);
    T_CHECK(strcmp(p.profile, "default") == 0, "profile \"%s\" for no exe", p.profile);
    ssa_policy_free(&p);
}

static void test_exact_path(void)
{
    struct ssa_policy p;
    const char *path = write_conf("profiles.conf", profiles_conf);

    T_REQUIRE(load(path, "/usr/bin/wget", &p) == 0, "%s", err);
    T_CHECK(strcmp(p.profile, "/usr/bin/wget") == 0, "profile \"%s\"", p.profile);
    T_CHECK(p.min_version == TLS1_3_VERSION, "profile's min-version not applied");
    /* What the profile does not set comes from the default profile. */
    T_CHECK(p.handshake_timeout_ms == 5500, "default's timeout lost: %d",
            p.handshake_timeout_ms);
    T_CHECK(p.ncerts == 2, "default's certificates lost");
    ssa_policy_free(&p);
    /* An exact path is not a prefix: wget2 falls through to the pattern of /usr. */
    T_REQUIRE(load(path, "/usr/bin/wget2", &p) == 0, "%s", err);
    T_CHECK(strcmp(p.profile, "/usr/*") == 0, "wget2 got profile \"%s\"", p.profile);
    T_CHECK(p.min_version == TLS1_2_VERSION, "wget2 got wget's min-version");
    ssa_policy_free(&p);
}

static void test_directory_prefix(void)
{
    struct ssa_policy p;
    const char *path = write_conf("profiles.conf", profiles_conf);

    T_REQUIRE(load(path, "/opt/app/bin/server", &p) == 0, "%s", err);
    T_CHECK(strcmp(p.profile, "/opt/app/") == 0, "profile \"%s\"", p.profile);
    T_CHECK(p.handshake_timeout_ms == 60000, "timeout %d", p.handshake_timeout_ms);
    T_CHECK(!p.allow_app_trust, "app-trust not applied");
    ssa_policy_free(&p);
    /* A sibling whose name merely starts the same is not inside the directory. */
    static const char *outside[] = {"/opt/application", "/opt/app", "/opt/apps/x", NULL};
    for (int i = 0; outside[i]; i++) {
        T_REQUIRE(load(path, outside[i], &p) == 0, "%s", err);
        T_CHECK(strcmp(p.profile, "/opt/app/") != 0, "%s matched \"/opt/app/\"", outside[i]);
        ssa_policy_free(&p);
    }
}

static void test_shell_pattern(void)
{
    struct ssa_policy p;
    const char *path = write_conf("profiles.conf", profiles_conf);

    T_REQUIRE(load(path, "/usr/local/bin/python3", &p) == 0, "%s", err);
    T_CHECK(strcmp(p.profile, "/usr/local/bin/py*") == 0, "profile \"%s\"", p.profile);
    T_CHECK(p.session_ttl == 0 && !p.tickets, "pattern profile not applied");
    ssa_policy_free(&p);
    T_REQUIRE(load(path, "/usr/sbin/nginx", &p) == 0, "%s", err);
    T_CHECK(strcmp(p.profile, "/usr/*") == 0, "profile \"%s\"", p.profile);
    T_CHECK(strcmp(p.suites13, "TLS_AES_128_GCM_SHA256") == 0, "suites \"%s\"", p.suites13);
    /* A profile's server-certificates replace the default's list, not add to it. */
    T_CHECK(p.ncerts == 1 && strstr(p.certs[0].chain, "/c-chain.pem") != NULL,
            "%u certificates", p.ncerts);
    ssa_policy_free(&p);
    T_REQUIRE(load(path, "/bin/python3", &p) == 0, "%s", err);
    T_CHECK(strcmp(p.profile, "default") == 0, "/bin/python3 got \"%s\"", p.profile);
    ssa_policy_free(&p);
}

static void test_first_match_wins(void)
{
    struct ssa_policy p;
    const char *path = write_conf("profiles.conf", profiles_conf);

    /* Matches "/opt/app/" (second) and "/opt/app/bin/special" (fourth): the second wins. */
    T_REQUIRE(load(path, "/opt/app/bin/special", &p) == 0, "%s", err);
    T_CHECK(strcmp(p.profile, "/opt/app/") == 0, "profile \"%s\"", p.profile);
    T_CHECK(p.verify_depth != 3, "the later profile was applied too");
    ssa_policy_free(&p);
    /* Matches "/usr/bin/wget" (first) and the pattern of /usr (fifth). */
    T_REQUIRE(load(path, "/usr/bin/wget", &p) == 0, "%s", err);
    T_CHECK(strcmp(p.suites13, "TLS_AES_128_GCM_SHA256") != 0, "the later profile applied");
    ssa_policy_free(&p);
}

static void test_every_setting_parses(void)
{
    struct ssa_policy p;
    const char *path = write_conf(
        "all.conf",
        "default = {\n"
        "  min-version = \"TLS1.2\"; max-version = \"TLS1.3\";\n"
        "  ciphers = \"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384\";\n"
        "  ciphersuites = \"TLS_AES_256_GCM_SHA384\";\n"
        "  groups = \"X25519:P-256\";\n"
        "  trust-dir = \"@T@\";\n"
        "  verify-depth = 4; handshake-timeout = 2; linger-timeout = 0.5;\n"
        "  app-trust = true; session-lifetime = 300; session-cache-size = 100;\n"
        "  tickets = false; ticket-key-file = \"@T@/ticket.key\";\n"
        "  ocsp-stapling = true; ocsp = false; crl = false; revocation-hard-fail = false;\n"
        "  security-level = 3; log-connections = true;\n"
        "};\n");

    T_REQUIRE(load(path, "/x", &p) == 0, "%s", err);
    T_CHECK(p.verify_depth == 4, "verify-depth %d", p.verify_depth);
    T_CHECK(p.handshake_timeout_ms == 2000, "handshake-timeout %d", p.handshake_timeout_ms);
    T_CHECK(p.linger_timeout_ms == 500, "linger-timeout %d", p.linger_timeout_ms);
    T_CHECK(p.session_ttl == 300 && p.session_cache_size == 100, "session settings");
    T_CHECK(!p.tickets && p.ticket_key_file != NULL, "ticket settings");
    T_CHECK(p.rev_stapled && !p.rev_ocsp, "revocation settings");
    T_CHECK(p.security_level == 3 && p.log_connections, "security-level, log-connections");
    T_CHECK(p.trust_dir && strcmp(p.trust_dir, t_tmpdir()) == 0, "trust-dir");
    ssa_policy_free(&p);
}

/* ---- Errors: "FILE:LINE: what" ---------------------------------------------------------- */

struct bad_case {
    const char *what;
    const char *exe;  /* the program loading it (profiles apply only to theirs) */
    const char *text;
    int line, line2;  /* the line expected; line2: another acceptable one, or 0 */
    const char *says; /* a part of the message */
};

static const struct bad_case bad_cases[] = {
    {"syntax error", "/x",
     "default = {\n  min-version = \"TLS1.2\";\n  handshake-timeout = ;\n};\n", 3, 0, "syntax"},
    {"unknown setting", "/x",
     "default = {\n  min-version = \"TLS1.2\";\n\n  frobnicate = 1;\n};\n", 4, 0,
     "unknown setting \"frobnicate\""},
    {"unknown setting in the matching profile", "/usr/bin/curl",
     "default = { };\nprofiles = (\n  { match = \"/usr/bin/curl\";\n    verify = false; }\n);\n",
     4, 0, "\"verify\""},
    {"unknown top-level section", "/x", "default = { };\n\ndefaults = { tickets = false; };\n",
     3, 0, "defaults"},
    {"wrong type: string for an int", "/x", "default = {\n  verify-depth = \"ten\";\n};\n", 2, 0,
     "verify-depth"},
    {"wrong type: int for a bool", "/x", "default = {\n\n  app-trust = 1;\n};\n", 3, 0,
     "app-trust"},
    {"wrong type: int for a string", "/x", "default = {\n  trust-file = 7;\n};\n", 2, 0,
     "trust-file"},
    {"wrong type: string for seconds", "/x", "default = {\n  handshake-timeout = \"5\";\n};\n",
     2, 0, "handshake-timeout"},
    {"out-of-range int", "/x", "default = {\n  tickets = true;\n  verify-depth = 99;\n};\n", 3,
     0, "verify-depth"},
    {"out-of-range negative int", "/x", "default = {\n  session-lifetime = -1;\n};\n", 2, 0,
     "session-lifetime"},
    {"out-of-range seconds", "/x", "default = {\n  handshake-timeout = 0.0;\n};\n", 2, 0,
     "handshake-timeout"},
    {"security level 1 (would allow SHA-1)", "/x", "default = {\n  security-level = 1;\n};\n",
     2, 0, "security-level"},
    {"bad version string", "/x", "default = {\n  min-version = \"TLS1.1\";\n};\n", 2, 0,
     "min-version"},
    {"bad max version string", "/x", "default = {\n\n\n  max-version = \"SSLv3\";\n};\n", 4, 0,
     "max-version"},
    /* Errors found by looking at several settings together must still point at a setting,
     * not at the start of the group (which may be far away, or in another profile). */
    {"min above max", "/x",
     "\ndefault = {\n  tickets = true;\n  min-version = \"TLS1.3\";\n"
     "  max-version = \"TLS1.2\";\n};\n",
     4, 5, "min-version is above max-version"},
    {"min above max across profiles", "/usr/bin/a",
     "default = {\n  max-version = \"TLS1.2\";\n};\nprofiles = (\n"
     "  { match = \"/usr/bin/a\"; min-version = \"TLS1.3\"; }\n);\n",
     5, 2, "min-version is above max-version"},
    {"unknown cipher list", "/x",
     "default = {\n  tickets = true;\n  ciphers = \"NOT-A-CIPHER:NOR-THIS\";\n};\n", 3, 0,
     "ciphers"},
    {"unknown cipher list in the default, seen from a profile", "/usr/bin/a",
     "default = {\n  ciphers = \"NOT-A-CIPHER\";\n};\nprofiles = (\n"
     "  { match = \"/usr/bin/a\"; tickets = false; }\n);\n",
     2, 0, "ciphers"},
    {"unknown TLS 1.3 suite", "/x",
     "default = {\n  tickets = true;\n  ciphersuites = \"TLS_FOO_BAR\";\n};\n", 3, 0,
     "ciphersuites"},
    {"unknown group", "/x", "default = {\n  tickets = true;\n  groups = \"X99999\";\n};\n", 3,
     0, "groups"},
    {"both trust-file and trust-dir", "/x",
     "default = {\n  tickets = true;\n  trust-file = \"@T@/trust.pem\";\n"
     "  trust-dir = \"@T@\";\n};\n",
     3, 4, "trust-file or trust-dir"},
    {"trust-file that does not exist", "/x",
     "default = {\n  tickets = true;\n  trust-file = \"/nonexistent/ssa-ca.pem\";\n};\n", 3, 0,
     "/nonexistent/ssa-ca.pem"},
    {"trust-dir that does not exist", "/x",
     "default = {\n  trust-dir = \"/nonexistent/ssa-certs\";\n};\n", 2, 0,
     "/nonexistent/ssa-certs"},
    {"profile without match", "/x",
     "default = { };\nprofiles = (\n  { min-version = \"TLS1.3\"; }\n);\n", 3, 0, "match"},
    {"server-certificates entry without key", "/x",
     "default = {\n  server-certificates = (\n    { chain = \"/a.pem\"; }\n  );\n};\n", 3, 0,
     "server-certificates"},
    {"server-certificates entry with an extra setting", "/x",
     "default = {\n  server-certificates = (\n    { chain = \"@T@/a-chain.pem\"; key = \"@T@/a.key\"; },\n"
     "    { chain = \"@T@/b-chain.pem\"; key = \"@T@/b.key\"; pass = \"x\"; }\n  );\n};\n",
     4, 0, "server-certificates"},
    {"server-certificates not a list", "/x",
     "default = {\n  server-certificates = \"/a.pem\";\n};\n", 2, 0, "server-certificates"},
};

static void run_bad_case(void *arg)
{
    const struct bad_case *c = arg;
    struct ssa_policy p;
    const char *path = write_conf("bad.conf", c->text);

    if (!T_CHECK(load(path, c->exe, &p) < 0, "loaded without error")) {
        ssa_policy_free(&p);
        return;
    }
    int line = error_line(path);
    T_CHECK(line == c->line || (c->line2 && line == c->line2),
            "\"%s\": expected %s:%d: ...", err, path, c->line);
    T_CHECK(strstr(err, c->says) != NULL, "\"%s\" does not say \"%s\"", err, c->says);
    T_CHECK(strchr(err, '\n') == NULL, "message is not one line");
    t_note("%s", err + strlen(t_tmpdir()) + 1);
}

static void test_missing_file(void)
{
    struct ssa_policy p;
    const char *path = "/nonexistent/ssa-test/ssa.conf";

    T_REQUIRE(load(path, "/x", &p) < 0, "a missing file loaded");
    T_CHECK(strstr(err, path) != NULL, "\"%s\" does not name the file", err);
}

static void test_directory_as_file(void)
{
    struct ssa_policy p;

    T_REQUIRE(load(t_tmpdir(), "/x", &p) < 0, "a directory loaded as a policy");
    T_CHECK(strstr(err, t_tmpdir()) != NULL, "\"%s\" does not name the file", err);
}

static void test_unreadable_file(void)
{
    struct ssa_policy p;
    const char *path = write_conf("unreadable.conf", "default = { };\n");

    if (geteuid() == 0)
        T_SKIP_CASE("running as root: every file is readable");
    T_REQUIRE(chmod(path, 0) == 0, "chmod");
    T_REQUIRE(load(path, "/x", &p) < 0, "an unreadable file loaded");
    T_CHECK(strstr(err, path) != NULL, "\"%s\" does not name the file", err);
    T_CHECK(strstr(err, "ermission") != NULL, "\"%s\" does not say why", err);
}

/* ---- ssa_policy_check: every profile, not just one program's ----------------------------- */

struct reports {
    int n, warnings; /* errors in text, warnings in warning */
    char text[8][512], warning[8][512];
};

static void collect(bool warning, const char *msg, void *arg)
{
    struct reports *r = arg;
    int *n = warning ? &r->warnings : &r->n;

    if (*n < 8)
        snprintf(warning ? r->warning[*n] : r->text[*n], sizeof r->text[0], "%s", msg);
    (*n)++;
}

static void test_check_valid(void)
{
    struct reports r = {0};
    const char *path = write_conf("profiles.conf", profiles_conf);

    T_CHECK(ssa_policy_check(path, collect, &r) == 0, "valid file reported broken");
    T_CHECK(r.n == 0, "%d reports, first \"%s\"", r.n, r.text[0]);
    /* Valid, but keys for every user (default) and for any program under /usr: said. */
    T_CHECK(r.warnings == 2 && strstr(r.warning[0], ":6: warning: server-certificates in the "
                                                    "default profile") != NULL &&
                strstr(r.warning[1], ":15: warning: server-certificates in profile 5") != NULL,
            "%d warnings, first \"%s\"", r.warnings, r.warning[0]);
}

static void test_check_every_profile(void)
{
    struct reports r = {0};
    const char *path = write_conf("twobad.conf",
                                  "default = { };\n"
                                  "profiles = (\n"
                                  "  { match = \"/a\"; verify-depth = 0; },\n"
                                  "  { match = \"/b\"; },\n"
                                  "  { match = \"/c\";\n"
                                  "    min-version = \"TLS9\"; }\n"
                                  ");\n");

    T_CHECK(ssa_policy_check(path, collect, &r) < 0, "broken profiles not reported");
    T_REQUIRE(r.n == 2, "%d reports, expected 2 (profiles /a and /c)", r.n);
    char want[PATH_MAX + 16];
    snprintf(want, sizeof want, "%s:3: ", path);
    T_CHECK(strncmp(r.text[0], want, strlen(want)) == 0, "\"%s\", expected %s...", r.text[0],
            want);
    snprintf(want, sizeof want, "%s:6: ", path);
    T_CHECK(strncmp(r.text[1], want, strlen(want)) == 0, "\"%s\", expected %s...", r.text[1],
            want);
}

static void test_check_broken_default(void)
{
    struct reports r = {0};
    const char *path = write_conf("baddefault.conf", "default = {\n  tickets = \"yes\";\n};\n"
                                                     "profiles = ( { match = \"/a\"; } );\n");

    T_CHECK(ssa_policy_check(path, collect, &r) < 0, "broken default not reported");
    T_CHECK(r.n >= 1 && strstr(r.text[0], ":2: ") != NULL, "%d reports, first \"%s\"", r.n,
            r.text[0]);
}

static void test_check_missing_file(void)
{
    struct reports r = {0};

    T_CHECK(ssa_policy_check("/nonexistent/ssa.conf", collect, &r) < 0, "missing file OK");
    T_CHECK(r.n == 1 && strstr(r.text[0], "/nonexistent/ssa.conf") != NULL, "%d reports: \"%s\"",
            r.n, r.text[0]);
}

/* ---- The ssa-policy command -------------------------------------------------------------- */

/* core/ssa-policy of this build: $SSA_TEST_BUILDDIR, else next to this program's build dir. */
static const char *policy_tool(void)
{
    static char path[PATH_MAX];
    char exe[PATH_MAX];
    const char *env = getenv("SSA_TEST_BUILDDIR");

    if (env && *env) {
        snprintf(path, sizeof path, "%s/core/ssa-policy", env);
        return access(path, X_OK) == 0 ? path : NULL;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        const char *dir = dirname(exe); /* BUILD/tests, or BUILD/tests/.libs under libtool */
        static const char *rel[] = {"../core/ssa-policy", "../../core/ssa-policy", NULL};
        for (int i = 0; rel[i]; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, rel[i]);
            if (access(path, X_OK) == 0)
                return path;
        }
    }
    return access("core/ssa-policy", X_OK) == 0 ? "core/ssa-policy" : NULL;
}

static char out[16384];

static void test_tool_check_ok(void)
{
    const char *tool = policy_tool();
    if (!tool)
        T_SKIP_CASE("core/ssa-policy not found (set SSA_TEST_BUILDDIR)");
    const char *path = write_conf("profiles.conf", profiles_conf);
    const char *argv[] = {tool, "check", path, NULL};
    int rc = t_run_cmd(argv, 20000, out, sizeof out);

    T_CHECK(rc == 0, "exit %d: %s", rc, out);
    T_CHECK(strstr(out, path) != NULL && strstr(out, "OK") != NULL, "output: %s", out);
}

static void test_tool_check_errors(void)
{
    const char *tool = policy_tool();
    if (!tool)
        T_SKIP_CASE("core/ssa-policy not found (set SSA_TEST_BUILDDIR)");
    const char *path = write_conf("tool-bad.conf", "default = {\n  verify-depth = 3;\n"
                                                   "  min-version = \"TLS1.0\";\n};\n");
    const char *argv[] = {tool, "check", path, NULL};
    int rc = t_run_cmd(argv, 20000, out, sizeof out);
    char want[PATH_MAX + 16];

    snprintf(want, sizeof want, "%s:3: ", path);
    T_CHECK(rc == 1, "exit %d, expected 1: %s", rc, out);
    T_CHECK(strstr(out, want) != NULL && strstr(out, "min-version") != NULL,
            "output lacks \"%s... min-version\": %s", want, out);
}

static void test_tool_check_syntax(void)
{
    const char *tool = policy_tool();
    if (!tool)
        T_SKIP_CASE("core/ssa-policy not found (set SSA_TEST_BUILDDIR)");
    const char *path = write_conf("tool-syntax.conf", "default = {\n\n  tickets = ;\n};\n");
    const char *argv[] = {tool, "check", path, NULL};
    int rc = t_run_cmd(argv, 20000, out, sizeof out);
    char want[PATH_MAX + 16];

    snprintf(want, sizeof want, "%s:3: ", path);
    T_CHECK(rc == 1, "exit %d, expected 1: %s", rc, out);
    T_CHECK(strstr(out, want) != NULL, "output lacks \"%s\": %s", want, out);
}

static void test_tool_missing_file(void)
{
    const char *tool = policy_tool();
    if (!tool)
        T_SKIP_CASE("core/ssa-policy not found (set SSA_TEST_BUILDDIR)");
    const char *argv[] = {tool, "check", "/nonexistent/ssa-test.conf", NULL};
    int rc = t_run_cmd(argv, 20000, out, sizeof out);

    T_CHECK(rc == 1, "exit %d, expected 1: %s", rc, out);
    T_CHECK(strstr(out, "/nonexistent/ssa-test.conf") != NULL, "output: %s", out);
}

static void test_tool_show(void)
{
    const char *tool = policy_tool();
    if (!tool)
        T_SKIP_CASE("core/ssa-policy not found (set SSA_TEST_BUILDDIR)");
    const char *path = write_conf("profiles.conf", profiles_conf);
    const char *argv[] = {tool, "show", path, "--exe", "/usr/bin/wget", NULL};
    int rc = t_run_cmd(argv, 20000, out, sizeof out);

    T_CHECK(rc == 0, "exit %d: %s", rc, out);
    T_CHECK(strstr(out, "min-version = \"TLS1.3\";") != NULL, "wget's profile not shown: %s",
            out);
    T_CHECK(strstr(out, "handshake-timeout = 5.500;") != NULL, "default's timeout: %s", out);
}

static void test_tool_usage(void)
{
    const char *tool = policy_tool();
    if (!tool)
        T_SKIP_CASE("core/ssa-policy not found (set SSA_TEST_BUILDDIR)");
    const char *argv[] = {tool, "frobnicate", NULL};
    int rc = t_run_cmd(argv, 20000, out, sizeof out);

    T_CHECK(rc == 2, "exit %d for a bad command, expected 2: %s", rc, out);
    T_CHECK(strstr(out, "usage") != NULL, "no usage text: %s", out);
}

int main(void)
{
    char name[256];

    make_named_files();
    t_run("built-in defaults are SPEC section 4's", test_defaults);
    t_run("an empty file gives the defaults", test_empty_file_is_defaults);
    t_run("default profile", test_default_profile);
    t_run("profile by exact path", test_exact_path);
    t_run("profile by directory prefix", test_directory_prefix);
    t_run("profile by shell pattern", test_shell_pattern);
    t_run("the first matching profile wins", test_first_match_wins);
    t_run("every setting parses", test_every_setting_parses);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        snprintf(name, sizeof name, "error with file:line: %s", bad_cases[i].what);
        t_run_arg(name, run_bad_case, (void *)&bad_cases[i]);
    }
    t_run("missing file: the message names it", test_missing_file);
    t_run("directory as policy file: the message names it", test_directory_as_file);
    t_run("unreadable file: the message names it", test_unreadable_file);
    t_run("check: a valid file", test_check_valid);
    t_run("check: every broken profile is reported", test_check_every_profile);
    t_run("check: a broken default profile", test_check_broken_default);
    t_run("check: a missing file", test_check_missing_file);
    t_run("ssa-policy check: valid file exits 0", test_tool_check_ok);
    t_run("ssa-policy check: error exits 1 with file:line", test_tool_check_errors);
    t_run("ssa-policy check: syntax error exits 1 with file:line", test_tool_check_syntax);
    t_run("ssa-policy check: missing file exits 1", test_tool_missing_file);
    t_run("ssa-policy show --exe", test_tool_show);
    t_run("ssa-policy usage error exits 2", test_tool_usage);
    return t_done();
}
