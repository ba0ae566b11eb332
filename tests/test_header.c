/*
 * test_header.c -- <ssa/in_tls.h> against SPEC section 2.
 *
 * The constants are those of the original SSA, so that programs written for it build and run
 * unchanged: every value is checked against a table copied from the SPEC, not from the header.
 * The header is included first, so that it is also checked to be self-contained.
 */
#include <ssa/in_tls.h>
#include <ssa/in_tls.h> /* twice: the include guard must hold */

#include "tutil.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct constant {
    const char *name;
    long value;  /* as the header defines it */
    long spec;   /* as SPEC section 2 says */
    int option;  /* 1: an option number at level IPPROTO_TLS */
};

#define C(name, spec, option) {#name, (long)(name), spec, option}

static const struct constant constants[] = {
    C(IPPROTO_TLS, 205, 0),
    C(TLS_REMOTE_HOSTNAME, 85, 1),
    C(TLS_HOSTNAME, 86, 1),
    C(TLS_TRUSTED_PEER_CERTIFICATES, 87, 1),
    C(TLS_CERTIFICATE_CHAIN, 88, 1),
    C(TLS_PRIVATE_KEY, 89, 1),
    C(TLS_ALPN, 90, 1),
    C(TLS_SESSION_TTL, 91, 1),
    C(TLS_DISABLE_CIPHER, 92, 1),
    C(TLS_PEER_IDENTITY, 93, 1),
    C(TLS_REQUEST_PEER_AUTH, 94, 1),
    C(TLS_PEER_CERTIFICATE_CHAIN, 95, 1),
    C(TLS_ID, 96, 1),
    C(TLS_TRUSTED_CIPHERS, 97, 1),
    C(TLS_CHOSEN_CIPHER, 98, 1),
    C(TLS_ERROR, 100, 1),
    C(TLS_REVOCATION_CHECKS, 102, 1),
    C(TLS_OCSP_STAPLED_CHECKS, 103, 1),
    C(TLS_OCSP_CHECKS, 104, 1),
    C(TLS_CRL_CHECKS, 105, 1),
    C(TLS_CACHED_REV_CHECKS, 106, 1),
    C(TLS_CONTEXT, 107, 1),
    C(TLS_SESSION_REUSE, 108, 1),
    C(TLS_RESUMED_SESSION, 109, 1),
    C(TLS_ENABLE_CIPHER, 110, 1),
    C(TLS_VERSION_MIN, 111, 1),
    C(TLS_VERSION_MAX, 112, 1),
    C(TLS_VERSION_CONN, 113, 1),
    C(TLS_SERVER_OCSP_STAPLING, 122, 1),
    C(TLS_1_2, 0x0303, 0),
    C(TLS_1_3, 0x0304, 0),
    C(AF_HOSTNAME, 43, 0),
    C(TCP_UPGRADE_TLS, 33, 0),
};
#define NCONSTANTS (sizeof constants / sizeof constants[0])

static void test_values(void)
{
    for (size_t i = 0; i < NCONSTANTS; i++)
        T_CHECK(constants[i].value == constants[i].spec, "%s is %ld, SPEC says %ld",
                constants[i].name, constants[i].value, constants[i].spec);
}

static void test_options_distinct(void)
{
    for (size_t i = 0; i < NCONSTANTS; i++)
        for (size_t j = i + 1; j < NCONSTANTS; j++)
            if (constants[i].option && constants[j].option)
                T_CHECK(constants[i].value != constants[j].value, "%s and %s are both %ld",
                        constants[i].name, constants[j].name, constants[i].value);
}

static void test_not_kernel_tls(void)
{
    /* SOL_TLS (282) is Linux's kernel TLS: the SSA level must never be it. */
    T_CHECK(IPPROTO_TLS != 282, "IPPROTO_TLS collides with SOL_TLS");
#ifdef SOL_TLS
    T_CHECK(IPPROTO_TLS != SOL_TLS, "IPPROTO_TLS collides with SOL_TLS");
#endif
    /* An IPPROTO_TLS socket must be told apart from plain TCP by its protocol number. */
    T_CHECK(IPPROTO_TLS != IPPROTO_TCP && IPPROTO_TLS != IPPROTO_IP, "IPPROTO_TLS reuses %d",
            IPPROTO_TLS);
}

static void test_sockaddr_host_layout(void)
{
    struct sockaddr_host h;

    T_CHECK(offsetof(struct sockaddr_host, sin_family) == 0, "sin_family at %zu",
            offsetof(struct sockaddr_host, sin_family));
    T_CHECK(offsetof(struct sockaddr_host, sin_port) == 2, "sin_port at %zu",
            offsetof(struct sockaddr_host, sin_port));
    T_CHECK(offsetof(struct sockaddr_host, sin_addr) == 4, "sin_addr at %zu",
            offsetof(struct sockaddr_host, sin_addr));
    T_CHECK(offsetof(struct sockaddr_host, sin_addr.name) == 4, "name at %zu",
            offsetof(struct sockaddr_host, sin_addr.name));
    T_CHECK(sizeof h.sin_family == sizeof(sa_family_t), "sin_family is %zu bytes",
            sizeof h.sin_family);
    T_CHECK(sizeof h.sin_port == 2, "sin_port is %zu bytes", sizeof h.sin_port);
    T_CHECK(sizeof h.sin_addr.name == 255, "name is %zu bytes", sizeof h.sin_addr.name);
    T_CHECK(sizeof(struct host_addr) == 255, "struct host_addr is %zu bytes",
            sizeof(struct host_addr));
    /* 2 + 2 + 255, rounded up to the alignment of its shorts. */
    T_CHECK(sizeof h == 260, "struct sockaddr_host is %zu bytes", sizeof h);
    /* Note: at 260 bytes it is larger than struct sockaddr_storage (128), as in the original
     * SSA; connect() takes its addrlen, so nothing may assume it fits. */
}

static void test_sockaddr_host_use(void)
{
    /* As a program written for the original SSA fills it in. */
    struct sockaddr_host h;

    memset(&h, 0, sizeof h);
    h.sin_family = AF_HOSTNAME;
    h.sin_port = htons(443);
    strcpy((char *)h.sin_addr.name, "www.example.test");
    const struct sockaddr *sa = (const struct sockaddr *)&h;
    T_CHECK(sa->sa_family == 43, "family seen through struct sockaddr: %d", sa->sa_family);
    const unsigned char *raw = (const unsigned char *)&h;
    T_CHECK(raw[2] == 0x01 && raw[3] == 0xbb, "port not at bytes 2-3 in network order");
    T_CHECK(memcmp(raw + 4, "www.example.test", 17) == 0, "name not at byte 4");
}

static void test_versions(void)
{
    T_CHECK(TLS_1_2 == 0x0303 && TLS_1_3 == 0x0304, "TLS_1_2 0x%04x TLS_1_3 0x%04x", TLS_1_2,
            TLS_1_3);
    T_CHECK(TLS_1_2 < TLS_1_3, "versions must compare in order");
    int v = TLS_1_3; /* usable as an int option value */
    T_CHECK(v == 772, "TLS_1_3 as int: %d", v);
}

/* ---- The header compiled alone, as strict C and as C++ ----------------------------------- */

static const char *include_dir(void)
{
    static char dir[PATH_MAX];
    const char *src = getenv("SSA_TEST_SRCDIR");
    const char *local[] = {"../core/include", "core/include", "../../core/include", NULL};

    if (src && *src) {
        char probe[PATH_MAX + 32];
        snprintf(dir, sizeof dir, "%s/core/include", src);
        snprintf(probe, sizeof probe, "%s/ssa/in_tls.h", dir);
        if (access(probe, R_OK) == 0)
            return dir;
    }
    for (int i = 0; local[i]; i++) {
        char probe[PATH_MAX];
        snprintf(probe, sizeof probe, "%s/ssa/in_tls.h", local[i]);
        if (access(probe, R_OK) == 0)
            return local[i];
    }
    return NULL;
}

static void compile_alone(const char *compiler, const char *lang, const char *std,
                          const char *header)
{
    const char *dir = include_dir();
    char src[PATH_MAX], inc[PATH_MAX + 2], out[8192];

    if (!t_have(compiler))
        T_SKIP_CASE("%s not found", compiler);
    if (dir == NULL)
        T_SKIP_CASE("core/include not found (set SSA_TEST_SRCDIR)");
    snprintf(src, sizeof src, "%s/alone-%s.%s", t_tmpdir(), std, lang[1] == '+' ? "cc" : "c");
    FILE *f = fopen(src, "w");
    T_REQUIRE(f != NULL, "cannot write %s", src);
    fprintf(f, "#include <%s>\nint main(void) { return TLS_ID == 96 ? 0 : 1; }\n", header);
    fclose(f);
    snprintf(inc, sizeof inc, "-I%s", dir);
    const char *argv[] = {compiler, "-x", lang, std, "-Wall", "-Wextra", "-pedantic", "-Werror",
                          "-fsyntax-only", inc, src, NULL};
    int rc = t_run_cmd(argv, 60000, out, sizeof out);
    T_CHECK(rc == 0, "%s %s %s: status %d:\n%s", compiler, std, header, rc, out);
}

static void test_compiles_as_c99(void)
{
    compile_alone("cc", "c", "-std=c99", "ssa/in_tls.h");
    compile_alone("cc", "c", "-std=c99", "ssa/ssa.h");
}

static void test_compiles_as_cxx(void)
{
    compile_alone("c++", "c++", "-std=c++11", "ssa/in_tls.h");
    compile_alone("c++", "c++", "-std=c++11", "ssa/ssa.h");
}

int main(void)
{
    t_run("constants have the values of SPEC section 2", test_values);
    t_run("option numbers are distinct", test_options_distinct);
    t_run("IPPROTO_TLS is not kernel TLS", test_not_kernel_tls);
    t_run("struct sockaddr_host layout", test_sockaddr_host_layout);
    t_run("struct sockaddr_host as programs fill it", test_sockaddr_host_use);
    t_run("TLS_1_2 and TLS_1_3", test_versions);
    t_run("headers compile alone as C99", test_compiles_as_c99);
    t_run("headers compile alone as C++11", test_compiles_as_cxx);
    return t_done();
}
