/*
 * test_options.c -- the IPPROTO_TLS socket options of SPEC section 2, with their exact errnos
 * (SPEC section 3): unknown or wrong direction -> ENOPROTOOPT, bad length or value -> EINVAL,
 * wrong phase -> EISCONN / EOPNOTSUPP, weaker than the policy -> EPERM, string getter with a
 * short buffer -> ERANGE with optlen set to the size needed; TLS_ERROR after every failure.
 *
 * Peers are `openssl s_server` on loopback.  The process's policy is a file of this test (so
 * /etc/ssa/ssa.conf cannot change the results); cases that need another policy run this
 * program again with SSA_CONFIG pointing elsewhere (--policy-child), since a process reads its
 * policy once.
 */
#define _GNU_SOURCE
#include "tutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ssa/in_tls.h>
#include <ssa/ssa.h>

/* ---- Helpers ----------------------------------------------------------------------------- */

static int set_int(int fd, int opt, int v)
{
    return setsockopt(fd, IPPROTO_TLS, opt, &v, sizeof v);
}

/* The option's int value, or INT_MIN if getsockopt failed (errno kept). */
static int get_int(int fd, int opt)
{
    int v = INT_MIN;
    socklen_t len = sizeof v;

    if (getsockopt(fd, IPPROTO_TLS, opt, &v, &len) < 0)
        return INT_MIN;
    return v;
}

/* The option's string (static buffer), or NULL if getsockopt failed (errno kept). */
static const char *get_str(int fd, int opt)
{
    static char buf[65536];
    socklen_t len = sizeof buf;

    if (getsockopt(fd, IPPROTO_TLS, opt, buf, &len) < 0)
        return NULL;
    return buf;
}

#define EXPECT_OK(call) \
    ({ int rc_ = (call); T_CHECK(rc_ == 0, "%s", strerror(errno)); })

/* Client socket ready for s_server's localhost certificate: name and trust anchors set. */
static int client_socket(void)
{
    int fd = t_tls_socket(AF_INET);
    T_REQUIRE(t_set_str(fd, TLS_REMOTE_HOSTNAME, "localhost") == 0, "hostname: %s",
              t_tls_error(fd));
    T_REQUIRE(t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, t_pki("ca.pem")) == 0, "trust: %s",
              t_tls_error(fd));
    return fd;
}

static int connect_port(int fd, int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(fd, (struct sockaddr *)&sin, sizeof sin);
}

/* Connects fd to port, failing the case (with TLS_ERROR) if that does not work. */
static void must_connect(int fd, int port)
{
    int rc = connect_port(fd, port);
    T_REQUIRE(rc == 0, "connect: %s; TLS_ERROR: %s", strerror(errno), t_tls_error(fd));
}

static pid_t start_server(int *port, const char *extra)
{
    pid_t pid = extra ? t_openssl_server(port, "localhost", extra, NULL)
                      : t_openssl_server(port, "localhost", NULL);
    T_REQUIRE(pid > 0, "cannot start openssl s_server");
    return pid;
}

static int contains_name(const char *list, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ':') && (p[n] == ':' || p[n] == '\0'))
            return 1;
    return 0;
}

/* Position of name in a ':' list, or -1. */
static int position_of(const char *list, const char *name)
{
    size_t n = strlen(name);
    int pos = 0;

    for (const char *p = list; *p; pos++) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return pos;
        if (!end)
            break;
        p = end + 1;
    }
    return -1;
}

/* ---- Option tables ----------------------------------------------------------------------- */

static const int get_only[] = {TLS_PEER_IDENTITY, TLS_PEER_CERTIFICATE_CHAIN, TLS_ID,
                               TLS_TRUSTED_CIPHERS, TLS_CHOSEN_CIPHER, TLS_ERROR,
                               TLS_RESUMED_SESSION, TLS_VERSION_CONN};
static const int set_only[] = {TLS_TRUSTED_PEER_CERTIFICATES, TLS_CERTIFICATE_CHAIN,
                               TLS_PRIVATE_KEY, TLS_DISABLE_CIPHER, TLS_ENABLE_CIPHER,
                               TLS_REQUEST_PEER_AUTH};
static const int int_options[] = {TLS_SESSION_TTL, TLS_SESSION_REUSE, TLS_VERSION_MIN,
                                  TLS_VERSION_MAX, TLS_REVOCATION_CHECKS,
                                  TLS_OCSP_STAPLED_CHECKS, TLS_OCSP_CHECKS, TLS_CRL_CHECKS,
                                  TLS_CACHED_REV_CHECKS, TLS_SERVER_OCSP_STAPLING};
/* Unassigned in the original SSA and below 130 (where new options go), or nonsense. */
static const int unknown[] = {0, 1, 84, 99, 101, 114, 121, 123, 129, 999, -1, INT_MAX, INT_MIN};
/* Valid only before connect(): after it, EISCONN. */
static const int before_connect[] = {TLS_REMOTE_HOSTNAME, TLS_ALPN, TLS_VERSION_MIN,
                                     TLS_VERSION_MAX, TLS_DISABLE_CIPHER,
                                     TLS_TRUSTED_PEER_CERTIFICATES, TLS_SESSION_TTL,
                                     TLS_CERTIFICATE_CHAIN};
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A value that would be valid for opt before connect, set on fd. */
static int set_valid(int fd, int opt)
{
    switch (opt) {
    case TLS_REMOTE_HOSTNAME:
    case TLS_HOSTNAME:
        return t_set_str(fd, opt, "localhost");
    case TLS_ALPN:
        return t_set_str(fd, opt, "http/1.1");
    case TLS_VERSION_MIN:
    case TLS_VERSION_MAX:
        return set_int(fd, opt, TLS_1_2);
    case TLS_DISABLE_CIPHER:
        return t_set_str(fd, opt, "TLS_AES_128_GCM_SHA256");
    case TLS_TRUSTED_PEER_CERTIFICATES:
        return t_set_str(fd, opt, t_pki("ca.pem"));
    case TLS_CERTIFICATE_CHAIN:
        return t_set_str(fd, opt, t_pki("localhost-chain.pem"));
    case TLS_PRIVATE_KEY:
        return t_set_str(fd, opt, t_pki("localhost.key"));
    default:
        return set_int(fd, opt, 1);
    }
}

/* ---- Cases: the socket itself ---------------------------------------------------------- */

static void test_so_protocol(void)
{
    static const int families[] = {AF_INET, AF_INET6};

    for (size_t i = 0; i < N(families); i++) {
        int fd = t_tls_socket(families[i]), v = 0;
        socklen_t len = sizeof v;

        T_CHECK(getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) == 0 && v == IPPROTO_TLS,
                "SO_PROTOCOL %d, expected 205", v);
        len = sizeof v;
        T_CHECK(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) == 0 && v == families[i],
                "SO_DOMAIN %d", v);
        len = sizeof v;
        T_CHECK(getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == 0 && v == SOCK_STREAM,
                "SO_TYPE %d", v);
        T_CHECK(ssa_is_tls(fd) == 1, "ssa_is_tls is %d", ssa_is_tls(fd));
        close(fd);
    }
}

static void test_unknown_options(void)
{
    int fd = t_tls_socket(AF_INET), v = 1;
    char buf[64];

    for (size_t i = 0; i < N(unknown); i++) {
        socklen_t len = sizeof buf;
        if (!T_EXPECT_FAIL(fd, setsockopt(fd, IPPROTO_TLS, unknown[i], &v, sizeof v), ENOPROTOOPT,
                           "unknown TLS socket option"))
            t_note("setting option %d", unknown[i]);
        if (!T_EXPECT_FAIL(fd, getsockopt(fd, IPPROTO_TLS, unknown[i], buf, &len), ENOPROTOOPT,
                           "unknown TLS socket option"))
            t_note("getting option %d", unknown[i]);
    }
    close(fd);
}

static void test_get_only_options(void)
{
    int fd = t_tls_socket(AF_INET), v = 1;

    for (size_t i = 0; i < N(get_only); i++) {
        if (!T_EXPECT_FAIL(fd, setsockopt(fd, IPPROTO_TLS, get_only[i], &v, sizeof v),
                           ENOPROTOOPT, "only be read"))
            t_note("option %d", get_only[i]);
        if (!T_EXPECT_FAIL(fd, t_set_str(fd, get_only[i], "x"), ENOPROTOOPT, NULL))
            t_note("option %d, string value", get_only[i]);
    }
    close(fd);
}

static void test_set_only_options(void)
{
    int fd = t_tls_socket(AF_INET);
    char buf[4096];

    for (size_t i = 0; i < N(set_only); i++) {
        socklen_t len = sizeof buf;
        if (!T_EXPECT_FAIL(fd, getsockopt(fd, IPPROTO_TLS, set_only[i], buf, &len), ENOPROTOOPT,
                           NULL))
            t_note("option %d", set_only[i]);
    }
    /* Also after they were set: a path given is not readable back. */
    T_CHECK(t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, t_pki("ca.pem")) == 0, "%s",
            t_tls_error(fd));
    socklen_t len = sizeof buf;
    T_EXPECT_FAIL(fd, getsockopt(fd, IPPROTO_TLS, TLS_TRUSTED_PEER_CERTIFICATES, buf, &len),
                  ENOPROTOOPT, "only be set");
    close(fd);
}

static void test_int_options_bad_length(void)
{
    int fd = t_tls_socket(AF_INET);
    int v = TLS_1_2;

    for (size_t i = 0; i < N(int_options); i++) {
        if (!T_EXPECT_FAIL(fd, setsockopt(fd, IPPROTO_TLS, int_options[i], &v, 2), EINVAL,
                           "length"))
            t_note("option %d, optlen 2", int_options[i]);
        if (!T_EXPECT_FAIL(fd, setsockopt(fd, IPPROTO_TLS, int_options[i], &v, 0), EINVAL, NULL))
            t_note("option %d, optlen 0", int_options[i]);
    }
    close(fd);
}

static void test_request_peer_auth_values(void)
{
    int fd = t_tls_socket(AF_INET);

    /* Listener settings before listen(): 0-2 or "required"/"optional" (test_clientauth.c
     * covers the handshakes). */
    T_CHECK(set_int(fd, TLS_REQUEST_PEER_AUTH, 1) == 0, "1: %s", strerror(errno));
    T_CHECK(t_set_str(fd, TLS_REQUEST_PEER_AUTH, "optional") == 0, "optional: %s",
            strerror(errno));
    T_EXPECT_FAIL(fd, set_int(fd, TLS_REQUEST_PEER_AUTH, 3), EINVAL, "required");
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_REQUEST_PEER_AUTH, "require"), EINVAL, "optional");
    close(fd);
}

static void test_context_option(void)
{
    int a = t_tls_socket(AF_INET), b = t_tls_socket(AF_INET);
    uint64_t ctx = 0, got = 0;
    socklen_t len = sizeof ctx;

    /* A uint64: an int is the wrong length. */
    T_EXPECT_FAIL(a, set_int(a, TLS_CONTEXT, 1), EINVAL, NULL);
    T_REQUIRE(getsockopt(a, IPPROTO_TLS, TLS_CONTEXT, &ctx, &len) == 0, "%s", t_tls_error(a));
    T_CHECK(len == sizeof ctx, "optlen %u", len);
    /* b joins a's context and reads it back. */
    T_CHECK(setsockopt(b, IPPROTO_TLS, TLS_CONTEXT, &ctx, sizeof ctx) == 0, "%s",
            t_tls_error(b));
    len = sizeof got;
    T_CHECK(getsockopt(b, IPPROTO_TLS, TLS_CONTEXT, &got, &len) == 0 && got == ctx,
            "b's context %llx, a's %llx", (unsigned long long)got, (unsigned long long)ctx);
    close(a);
    close(b);
}

static void test_session_options(void)
{
    int fd = t_tls_socket(AF_INET);

    /* The policy of this program leaves session-lifetime at its default, 7200 s. */
    T_CHECK(get_int(fd, TLS_SESSION_TTL) == 7200, "default TLS_SESSION_TTL %d",
            get_int(fd, TLS_SESSION_TTL));
    EXPECT_OK(set_int(fd, TLS_SESSION_TTL, 60));
    T_CHECK(get_int(fd, TLS_SESSION_TTL) == 60, "TLS_SESSION_TTL %d after setting 60",
            get_int(fd, TLS_SESSION_TTL));
    EXPECT_OK(set_int(fd, TLS_SESSION_TTL, 0));
    T_CHECK(get_int(fd, TLS_SESSION_TTL) == 0, "TLS_SESSION_TTL %d after setting 0",
            get_int(fd, TLS_SESSION_TTL));
    T_EXPECT_FAIL(fd, set_int(fd, TLS_SESSION_TTL, -1), EINVAL, NULL);
    /* Longer than the policy allows would loosen it. */
    T_EXPECT_FAIL(fd, set_int(fd, TLS_SESSION_TTL, 7201), EPERM, "policy");
    T_CHECK(get_int(fd, TLS_SESSION_TTL) == 0, "a refused value changed TLS_SESSION_TTL");

    T_CHECK(get_int(fd, TLS_SESSION_REUSE) == 1, "default TLS_SESSION_REUSE %d",
            get_int(fd, TLS_SESSION_REUSE));
    EXPECT_OK(set_int(fd, TLS_SESSION_REUSE, 0));
    T_CHECK(get_int(fd, TLS_SESSION_REUSE) == 0, "TLS_SESSION_REUSE not 0");
    EXPECT_OK(set_int(fd, TLS_SESSION_REUSE, 1));
    T_CHECK(get_int(fd, TLS_SESSION_REUSE) == 1, "TLS_SESSION_REUSE not 1");
    close(fd);
}

static void test_revocation_options(void)
{
    static const int each[] = {TLS_OCSP_STAPLED_CHECKS, TLS_OCSP_CHECKS, TLS_CRL_CHECKS};
    int fd = t_tls_socket(AF_INET);

    /* The policy of this program requires none: each may be turned on and off again. */
    for (size_t i = 0; i < N(each); i++) {
        T_CHECK(set_int(fd, each[i], 1) == 0 && get_int(fd, each[i]) == 1, "option %d on: %s",
                each[i], t_tls_error(fd));
        T_CHECK(set_int(fd, each[i], 0) == 0 && get_int(fd, each[i]) == 0, "option %d off: %s",
                each[i], t_tls_error(fd));
    }
    /* TLS_REVOCATION_CHECKS switches them all. */
    T_CHECK(set_int(fd, TLS_REVOCATION_CHECKS, 1) == 0, "%s", t_tls_error(fd));
    for (size_t i = 0; i < N(each); i++)
        T_CHECK(get_int(fd, each[i]) == 1, "option %d not on after TLS_REVOCATION_CHECKS 1",
                each[i]);
    T_CHECK(get_int(fd, TLS_REVOCATION_CHECKS) != 0, "TLS_REVOCATION_CHECKS reads 0");
    /* Briefing: server OCSP stapling is not implemented: EOPNOTSUPP. */
    T_EXPECT_FAIL(fd, set_int(fd, TLS_SERVER_OCSP_STAPLING, 1), EOPNOTSUPP, NULL);
    T_CHECK(get_int(fd, TLS_SERVER_OCSP_STAPLING) == 0, "TLS_SERVER_OCSP_STAPLING reads %d",
            get_int(fd, TLS_SERVER_OCSP_STAPLING));
    close(fd);
}

/* ---- Host names ------------------------------------------------------------------------- */

static void check_hostname_limits(int opt)
{
    int fd = t_tls_socket(AF_INET);
    char name[300];
    const char *got;

    got = get_str(fd, opt);
    T_CHECK(got && got[0] == '\0', "option %d before set: \"%s\"", opt, got ? got : "(failed)");
    /* 255 characters (labels of 63): the longest name SPEC allows. */
    memset(name, 'a', 255);
    for (int i = 63; i < 255; i += 64)
        name[i] = '.';
    name[255] = '\0';
    T_CHECK(t_set_str(fd, opt, name) == 0, "255 characters refused: %s", t_tls_error(fd));
    got = get_str(fd, opt);
    T_CHECK(got && strcmp(got, name) == 0, "option %d gives back %zu characters", opt,
            got ? strlen(got) : 0);
    /* 256 characters: EINVAL, and the previous value stays. */
    name[255] = 'b';
    name[256] = '\0';
    T_EXPECT_FAIL(fd, t_set_str(fd, opt, name), EINVAL, NULL);
    got = get_str(fd, opt);
    T_CHECK(got && strlen(got) == 255, "a refused name changed the option");
    /* Literal addresses are names too (verified against the certificate's IP SANs). */
    T_CHECK(t_set_str(fd, opt, "127.0.0.1") == 0, "127.0.0.1: %s", t_tls_error(fd));
    T_CHECK(t_set_str(fd, opt, "::1") == 0, "::1: %s", t_tls_error(fd));
    T_CHECK(t_set_str(fd, opt, "www.example.test") == 0, "%s", t_tls_error(fd));
    got = get_str(fd, opt);
    T_CHECK(got && strcmp(got, "www.example.test") == 0, "got \"%s\"", got ? got : "(failed)");
    close(fd);
}

static void test_remote_hostname(void)
{
    check_hostname_limits(TLS_REMOTE_HOSTNAME);
}

static void test_hostname(void)
{
    check_hostname_limits(TLS_HOSTNAME);
}

/* ---- Phases ----------------------------------------------------------------------------- */

static void test_set_after_connect(void)
{
    int port;
    pid_t srv = start_server(&port, NULL);
    int fd = client_socket();

    must_connect(fd, port);
    for (size_t i = 0; i < N(before_connect); i++)
        if (!T_EXPECT_FAIL(fd, set_valid(fd, before_connect[i]), EISCONN, NULL))
            t_note("option %d after connect", before_connect[i]);
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_REMOTE_HOSTNAME, "other.test"), EISCONN, "connected");
    const char *got = get_str(fd, TLS_REMOTE_HOSTNAME);
    T_CHECK(got && strcmp(got, "localhost") == 0, "name after refused change: \"%s\"",
            got ? got : "(failed)");
    close(fd);
    t_stop_peer(srv);
}

/* A listening TLS socket on 127.0.0.1 with the localhost certificate; port in *port.  A failure
 * ends the case. */
static int tls_listener(int *port)
{
    int fd = t_tls_listener(0, 8, port);
    T_REQUIRE(fd >= 0, "no TLS listener");
    return fd;
}

static void test_set_on_listener(void)
{
    int port, fd = tls_listener(&port);

    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_CERTIFICATE_CHAIN, t_pki("example-chain.pem")), EOPNOTSUPP,
                  NULL);
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_PRIVATE_KEY, t_pki("localhost.key")), EOPNOTSUPP, NULL);
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_HOSTNAME, "localhost"), EOPNOTSUPP, NULL);
    T_EXPECT_FAIL(fd, set_int(fd, TLS_VERSION_MIN, TLS_1_3), EOPNOTSUPP, NULL);
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_ALPN, "h2"), EOPNOTSUPP, NULL);
    /* A connect() on a listener is refused too, and the listener keeps working. */
    T_EXPECT_FAIL(fd, connect_port(fd, port), EOPNOTSUPP, NULL);
    close(fd);
}

static void test_set_on_accepted(void)
{
    int port, lfd = tls_listener(&port);
    int cfd = client_socket();

    /* The engine handshakes before accept(), so a blocking connect here returns first. */
    must_connect(cfd, port);
    T_REQUIRE(t_wait_readable(lfd, 10000) == 1, "listener not readable");
    int afd = accept(lfd, NULL, NULL);
    T_REQUIRE(afd >= 0, "accept: %s; %s", strerror(errno), t_tls_error(lfd));
    T_EXPECT_FAIL(afd, t_set_str(afd, TLS_CERTIFICATE_CHAIN, t_pki("example-chain.pem")),
                  EOPNOTSUPP, NULL);
    T_EXPECT_FAIL(afd, t_set_str(afd, TLS_REMOTE_HOSTNAME, "localhost"), EOPNOTSUPP, NULL);
    T_EXPECT_FAIL(afd, set_int(afd, TLS_VERSION_MAX, TLS_1_2), EOPNOTSUPP, NULL);
    /* On an accepted socket TLS_HOSTNAME reads the SNI the client sent. */
    const char *sni = get_str(afd, TLS_HOSTNAME);
    T_CHECK(sni && strcmp(sni, "localhost") == 0, "TLS_HOSTNAME \"%s\"", sni ? sni : "(failed)");
    close(afd);
    close(cfd);
    close(lfd);
}

/* ---- Versions ---------------------------------------------------------------------------- */

static void test_version_values(void)
{
    static const int bad[] = {0x0300, 0x0301, 0x0302, 0x0305, 0x7f1c, 0, -1, 0x0303 << 16, 3};
    int fd = t_tls_socket(AF_INET);

    T_CHECK(get_int(fd, TLS_VERSION_MIN) == TLS_1_2, "default min 0x%04x",
            get_int(fd, TLS_VERSION_MIN));
    T_CHECK(get_int(fd, TLS_VERSION_MAX) == TLS_1_3, "default max 0x%04x",
            get_int(fd, TLS_VERSION_MAX));
    for (size_t i = 0; i < N(bad); i++) {
        if (!T_EXPECT_FAIL(fd, set_int(fd, TLS_VERSION_MIN, bad[i]), EINVAL, "TLS_1_2"))
            t_note("TLS_VERSION_MIN 0x%04x", (unsigned)bad[i]);
        if (!T_EXPECT_FAIL(fd, set_int(fd, TLS_VERSION_MAX, bad[i]), EINVAL, NULL))
            t_note("TLS_VERSION_MAX 0x%04x", (unsigned)bad[i]);
    }
    EXPECT_OK(set_int(fd, TLS_VERSION_MIN, TLS_1_3));
    T_CHECK(get_int(fd, TLS_VERSION_MIN) == TLS_1_3, "min after set 0x%04x",
            get_int(fd, TLS_VERSION_MIN));
    EXPECT_OK(set_int(fd, TLS_VERSION_MAX, TLS_1_2));
    T_CHECK(get_int(fd, TLS_VERSION_MAX) == TLS_1_2, "max after set 0x%04x",
            get_int(fd, TLS_VERSION_MAX));
    close(fd);
}

static void test_version_max_12_negotiates_12(void)
{
    int port;
    pid_t srv = start_server(&port, NULL);
    int fd = client_socket();

    EXPECT_OK(set_int(fd, TLS_VERSION_MAX, TLS_1_2));
    must_connect(fd, port);
    T_CHECK(get_int(fd, TLS_VERSION_CONN) == 0x0303, "TLS_VERSION_CONN 0x%04x",
            get_int(fd, TLS_VERSION_CONN));
    const char *cipher = get_str(fd, TLS_CHOSEN_CIPHER);
    T_CHECK(cipher && strncmp(cipher, "TLS_ECDHE_", 10) == 0 && strstr(cipher, "_WITH_"),
            "TLS 1.2 cipher \"%s\"", cipher ? cipher : "(failed)");
    close(fd);
    /* Without the option the same server gives TLS 1.3. */
    fd = client_socket();
    must_connect(fd, port);
    T_CHECK(get_int(fd, TLS_VERSION_CONN) == 0x0304, "default TLS_VERSION_CONN 0x%04x",
            get_int(fd, TLS_VERSION_CONN));
    close(fd);
    t_stop_peer(srv);
}

static void test_version_min_13_refuses_12(void)
{
    int port;
    pid_t srv = start_server(&port, "-tls1_2");
    int fd = client_socket();

    EXPECT_OK(set_int(fd, TLS_VERSION_MIN, TLS_1_3));
    T_EXPECT_FAIL(fd, connect_port(fd, port), EPROTO, NULL);
    t_note("TLS_ERROR: %s", t_tls_error(fd));
    close(fd);
    t_stop_peer(srv);
}

/* ---- Ciphers ---------------------------------------------------------------------------- */

static void test_disable_tls13_suite(void)
{
    int fd = t_tls_socket(AF_INET), other = t_tls_socket(AF_INET);
    const char *list = get_str(fd, TLS_TRUSTED_CIPHERS);

    T_REQUIRE(list && contains_name(list, "TLS_AES_128_GCM_SHA256"), "not listed at first: %s",
              list ? list : t_tls_error(fd));
    EXPECT_OK(t_set_str(fd, TLS_DISABLE_CIPHER, "TLS_AES_128_GCM_SHA256"));
    list = get_str(fd, TLS_TRUSTED_CIPHERS);
    T_CHECK(list && !contains_name(list, "TLS_AES_128_GCM_SHA256"), "still listed: %s",
            list ? list : t_tls_error(fd));
    T_CHECK(list && contains_name(list, "TLS_AES_256_GCM_SHA384"), "others gone: %s",
            list ? list : "");
    /* Per socket: another socket still has it. */
    list = get_str(other, TLS_TRUSTED_CIPHERS);
    T_CHECK(list && contains_name(list, "TLS_AES_128_GCM_SHA256"), "gone from another socket");
    close(fd);
    close(other);
}

static void test_disable_tls12_cipher(void)
{
    int fd = t_tls_socket(AF_INET);

    /* OpenSSL name in, IANA name out. */
    EXPECT_OK(t_set_str(fd, TLS_DISABLE_CIPHER, "ECDHE-ECDSA-AES128-GCM-SHA256"));
    const char *list = get_str(fd, TLS_TRUSTED_CIPHERS);
    T_CHECK(list && !contains_name(list, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
            "still listed: %s", list ? list : t_tls_error(fd));
    /* IANA name in. */
    EXPECT_OK(t_set_str(fd, TLS_DISABLE_CIPHER, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"));
    list = get_str(fd, TLS_TRUSTED_CIPHERS);
    T_CHECK(list && !contains_name(list, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
            "still listed: %s", list ? list : t_tls_error(fd));
    T_CHECK(list && contains_name(list, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
            "others gone: %s", list ? list : "");
    close(fd);
}

static void test_disabled_suites_not_negotiated(void)
{
    int port;
    pid_t srv = start_server(&port, NULL);
    int fd = client_socket();

    EXPECT_OK(t_set_str(fd, TLS_DISABLE_CIPHER, "TLS_AES_256_GCM_SHA384"));
    EXPECT_OK(t_set_str(fd, TLS_DISABLE_CIPHER, "TLS_CHACHA20_POLY1305_SHA256"));
    must_connect(fd, port);
    const char *cipher = get_str(fd, TLS_CHOSEN_CIPHER);
    T_CHECK(cipher && strcmp(cipher, "TLS_AES_128_GCM_SHA256") == 0, "chose \"%s\"",
            cipher ? cipher : t_tls_error(fd));
    close(fd);
    t_stop_peer(srv);
}

static void test_disable_last_suite(void)
{
    int fd = t_tls_socket(AF_INET);

    EXPECT_OK(t_set_str(fd, TLS_DISABLE_CIPHER, "TLS_AES_256_GCM_SHA384"));
    EXPECT_OK(t_set_str(fd, TLS_DISABLE_CIPHER, "TLS_CHACHA20_POLY1305_SHA256"));
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_DISABLE_CIPHER, "TLS_AES_128_GCM_SHA256"), EINVAL, NULL);
    const char *list = get_str(fd, TLS_TRUSTED_CIPHERS);
    T_CHECK(list && contains_name(list, "TLS_AES_128_GCM_SHA256"), "last suite removed: %s",
            list ? list : t_tls_error(fd));
    close(fd);
}

static void test_disable_unknown_cipher(void)
{
    static const char *names[] = {"NOT-A-CIPHER", "TLS_FOO_WITH_BAR", "ALL", "DEFAULT", ":",
                                  "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"};
    int fd = t_tls_socket(AF_INET);
    const char *before = get_str(fd, TLS_TRUSTED_CIPHERS);
    char *saved = before ? strdup(before) : NULL;

    for (size_t i = 0; i < N(names); i++)
        if (!T_EXPECT_FAIL(fd, t_set_str(fd, TLS_DISABLE_CIPHER, names[i]), EINVAL, NULL))
            t_note("TLS_DISABLE_CIPHER \"%s\"", names[i]);
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_DISABLE_CIPHER, ""), EINVAL, NULL);
    const char *after = get_str(fd, TLS_TRUSTED_CIPHERS);
    T_CHECK(saved && after && strcmp(saved, after) == 0, "refused names changed the list");
    free(saved);
    close(fd);
}

static void test_enable_excluded_cipher(void)
{
    /* Static RSA key exchange and CBC: outside the default policy. */
    static const char *excluded[] = {"AES128-SHA", "TLS_RSA_WITH_AES_128_CBC_SHA",
                                     "ECDHE-RSA-AES128-SHA", "AES256-GCM-SHA384",
                                     "TLS_RSA_WITH_AES_256_GCM_SHA384"};
    int fd = t_tls_socket(AF_INET);

    for (size_t i = 0; i < N(excluded); i++) {
        if (!T_EXPECT_FAIL(fd, t_set_str(fd, TLS_ENABLE_CIPHER, excluded[i]), EPERM, "policy"))
            t_note("TLS_ENABLE_CIPHER \"%s\"", excluded[i]);
    }
    const char *list = get_str(fd, TLS_TRUSTED_CIPHERS);
    T_CHECK(list && strstr(list, "CBC") == NULL && strstr(list, "TLS_RSA_") == NULL,
            "excluded cipher listed: %s", list ? list : t_tls_error(fd));
    close(fd);
}

static void test_enable_prefers(void)
{
    int fd = t_tls_socket(AF_INET);
    const char *name = "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256";

    EXPECT_OK(t_set_str(fd, TLS_ENABLE_CIPHER, "ECDHE-ECDSA-CHACHA20-POLY1305"));
    const char *list = get_str(fd, TLS_TRUSTED_CIPHERS);
    T_REQUIRE(list != NULL, "%s", t_tls_error(fd));
    int pos = position_of(list, name);
    T_CHECK(pos >= 0, "%s not listed: %s", name, list);
    /* First of the TLS 1.2 ciphers (the TLS 1.3 suites come first in OpenSSL's order). */
    T_CHECK(pos >= 0 && pos < position_of(list, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
            "not preferred: %s", list);
    close(fd);
}

static void test_enabled_cipher_negotiated(void)
{
    int port;
    pid_t srv = start_server(&port, NULL);
    int fd = client_socket();

    /* s_server follows the client's order (no -serverpref). */
    EXPECT_OK(set_int(fd, TLS_VERSION_MAX, TLS_1_2));
    EXPECT_OK(t_set_str(fd, TLS_ENABLE_CIPHER, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"));
    must_connect(fd, port);
    const char *cipher = get_str(fd, TLS_CHOSEN_CIPHER);
    T_CHECK(cipher && strcmp(cipher, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256") == 0,
            "chose \"%s\"", cipher ? cipher : t_tls_error(fd));
    close(fd);
    t_stop_peer(srv);
}

/* ---- ALPN ------------------------------------------------------------------------------- */

static void test_alpn(void)
{
    int port;
    pid_t srv = t_openssl_server(&port, "localhost", "-alpn", "http/1.1", NULL);
    T_REQUIRE(srv > 0, "cannot start s_server -alpn");
    int fd = client_socket();

    EXPECT_OK(t_set_str(fd, TLS_ALPN, "h2,http/1.1"));
    T_EXPECT_FAIL(fd, getsockopt(fd, IPPROTO_TLS, TLS_ALPN, (char[64]){0}, &(socklen_t){64}),
                  ENOTCONN, NULL);
    must_connect(fd, port);
    const char *alpn = get_str(fd, TLS_ALPN);
    T_CHECK(alpn && strcmp(alpn, "http/1.1") == 0, "TLS_ALPN \"%s\"",
            alpn ? alpn : t_tls_error(fd));
    close(fd);
    /* Without TLS_ALPN nothing is negotiated: an empty string. */
    fd = client_socket();
    must_connect(fd, port);
    alpn = get_str(fd, TLS_ALPN);
    T_CHECK(alpn && alpn[0] == '\0', "TLS_ALPN \"%s\" when none was offered",
            alpn ? alpn : t_tls_error(fd));
    close(fd);
    t_stop_peer(srv);
}

static void test_alpn_bad_values(void)
{
    int fd = t_tls_socket(AF_INET);
    char longproto[300];

    memset(longproto, 'p', 256);
    longproto[256] = '\0';
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_ALPN, ""), EINVAL, NULL);
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_ALPN, ","), EINVAL, NULL);
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_ALPN, longproto), EINVAL, NULL);
    EXPECT_OK(t_set_str(fd, TLS_ALPN, "h2"));
    close(fd);
}

/* ---- Getters ---------------------------------------------------------------------------- */

static void test_getters_before_connect(void)
{
    static const int conn_only[] = {TLS_PEER_IDENTITY, TLS_CHOSEN_CIPHER,
                                    TLS_PEER_CERTIFICATE_CHAIN, TLS_VERSION_CONN,
                                    TLS_RESUMED_SESSION, TLS_ALPN};
    int fd = t_tls_socket(AF_INET);
    char buf[4096];

    for (size_t i = 0; i < N(conn_only); i++) {
        socklen_t len = sizeof buf;
        if (!T_EXPECT_FAIL(fd, getsockopt(fd, IPPROTO_TLS, conn_only[i], buf, &len), ENOTCONN,
                           "not connected"))
            t_note("option %d", conn_only[i]);
    }
    close(fd);
}

static void test_getters_after_connect(void)
{
    int port;
    pid_t srv = start_server(&port, NULL);
    int fd = client_socket();

    must_connect(fd, port);
    const char *id = get_str(fd, TLS_PEER_IDENTITY);
    T_CHECK(id && strstr(id, "CN=localhost"), "TLS_PEER_IDENTITY \"%s\"",
            id ? id : t_tls_error(fd));
    const char *chain = get_str(fd, TLS_PEER_CERTIFICATE_CHAIN);
    T_CHECK(chain && strncmp(chain, "-----BEGIN CERTIFICATE-----", 27) == 0,
            "TLS_PEER_CERTIFICATE_CHAIN starts \"%.40s\"", chain ? chain : t_tls_error(fd));
    T_CHECK(get_int(fd, TLS_RESUMED_SESSION) == 0, "TLS_RESUMED_SESSION %d",
            get_int(fd, TLS_RESUMED_SESSION));
    T_CHECK(get_int(fd, TLS_VERSION_CONN) == TLS_1_3, "TLS_VERSION_CONN 0x%04x",
            get_int(fd, TLS_VERSION_CONN));
    char cipher[128];
    const char *c = get_str(fd, TLS_CHOSEN_CIPHER);
    snprintf(cipher, sizeof cipher, "%.100s", c ? c : "");
    const char *allowed = get_str(fd, TLS_TRUSTED_CIPHERS);
    T_CHECK(cipher[0] && allowed && contains_name(allowed, cipher), "\"%s\" not in \"%s\"",
            cipher, allowed ? allowed : "");
    close(fd);
    t_stop_peer(srv);
}

static void test_string_getter_erange(void)
{
    int fd = t_tls_socket(AF_INET);
    char one[1] = {'x'}, buf[16];
    socklen_t len = sizeof one;

    EXPECT_OK(t_set_str(fd, TLS_REMOTE_HOSTNAME, "localhost"));
    T_EXPECT_FAIL(fd, getsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, one, &len), ERANGE, NULL);
    T_CHECK(len == 10, "optlen %u after ERANGE, expected 10 (\"localhost\" + NUL)", len);
    /* Exactly the size needed works and sets optlen to it. */
    len = 10;
    T_CHECK(getsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, buf, &len) == 0, "%s",
            t_tls_error(fd));
    T_CHECK(len == 10 && strcmp(buf, "localhost") == 0, "optlen %u \"%s\"", len, buf);
    /* The size query idiom: no buffer at all. */
    len = 0;
    T_EXPECT_FAIL(fd, getsockopt(fd, IPPROTO_TLS, TLS_TRUSTED_CIPHERS, NULL, &len), ERANGE, NULL);
    T_CHECK(len > 20, "TLS_TRUSTED_CIPHERS needs %u bytes?", len);
    char *list = malloc(len);
    socklen_t need = len;
    T_REQUIRE(list != NULL, "malloc");
    T_CHECK(getsockopt(fd, IPPROTO_TLS, TLS_TRUSTED_CIPHERS, list, &len) == 0, "%s",
            t_tls_error(fd));
    T_CHECK(len == need && strlen(list) + 1 == need, "optlen %u, strlen+1 %zu, announced %u",
            len, strlen(list) + 1, need);
    free(list);
    close(fd);
}

static void test_tls_error_erange(void)
{
    /* The usual two-step read of TLS_ERROR (size, then text) must give the failure's text,
     * not "buffer too small" from the first step. */
    int fd = t_tls_socket(AF_INET);
    char one[1], *text;
    socklen_t len = sizeof one;

    T_EXPECT_FAIL(fd, set_int(fd, 99, 1), ENOPROTOOPT, NULL);
    T_EXPECT_FAIL(fd, getsockopt(fd, IPPROTO_TLS, TLS_ERROR, one, &len), ERANGE, NULL);
    T_REQUIRE(len > 1 && len < 1024, "optlen %u", len);
    text = calloc(1, len);
    T_REQUIRE(text != NULL, "calloc");
    T_CHECK(getsockopt(fd, IPPROTO_TLS, TLS_ERROR, text, &len) == 0, "second read failed: %s",
            strerror(errno));
    T_CHECK(strstr(text, "unknown TLS socket option") != NULL,
            "TLS_ERROR after a short read is \"%s\", not the failure's text", text);
    free(text);
    close(fd);
}

static void test_tls_id(void)
{
    int a = t_tls_socket(AF_INET), b = t_tls_socket(AF_INET6);
    uint64_t id1 = 0, id2 = 0, idb = 0, idd = 0;
    socklen_t len = sizeof id1;

    T_REQUIRE(getsockopt(a, IPPROTO_TLS, TLS_ID, &id1, &len) == 0, "%s", t_tls_error(a));
    T_CHECK(len == 8, "optlen %u, expected 8", len);
    len = sizeof id2;
    T_REQUIRE(getsockopt(a, IPPROTO_TLS, TLS_ID, &id2, &len) == 0, "%s", t_tls_error(a));
    T_CHECK(id1 == id2, "TLS_ID changed: %llx then %llx", (unsigned long long)id1,
            (unsigned long long)id2);
    len = sizeof idb;
    T_REQUIRE(getsockopt(b, IPPROTO_TLS, TLS_ID, &idb, &len) == 0, "%s", t_tls_error(b));
    T_CHECK(idb != id1, "two sockets share TLS_ID %llx", (unsigned long long)id1);
    /* A dup() is the same socket. */
    int d = dup(a);
    len = sizeof idd;
    T_CHECK(d >= 0 && getsockopt(d, IPPROTO_TLS, TLS_ID, &idd, &len) == 0 && idd == id1,
            "dup has TLS_ID %llx, original %llx", (unsigned long long)idd,
            (unsigned long long)id1);
    /* Too short for a uint64: refused, not truncated. */
    uint32_t half = 0;
    len = sizeof half;
    T_CHECK(getsockopt(a, IPPROTO_TLS, TLS_ID, &half, &len) < 0, "4-byte TLS_ID accepted");
    close(d);
    close(a);
    close(b);
}

static void test_tls_error_lifecycle(void)
{
    int fd = t_tls_socket(AF_INET);
    const char *e;

    e = t_tls_error(fd);
    T_CHECK(e[0] == '\0', "fresh socket has TLS_ERROR \"%s\"", e);
    T_EXPECT_FAIL(fd, set_int(fd, 99, 1), ENOPROTOOPT, "unknown TLS socket option");
    /* Reading TLS_ERROR does not clear it. */
    e = t_tls_error(fd);
    T_CHECK(strcasestr(e, "unknown TLS socket option") != NULL, "second read \"%s\"", e);
    EXPECT_OK(t_set_str(fd, TLS_REMOTE_HOSTNAME, "localhost"));
    e = t_tls_error(fd);
    T_CHECK(e[0] == '\0', "TLS_ERROR \"%s\" after a successful setsockopt", e);
    T_EXPECT_FAIL(fd, set_int(fd, TLS_VERSION_MIN, 0x0301), EINVAL, "0x0301");
    /* Reading another option keeps the reason (reading calls leave TLS_ERROR alone). */
    uint64_t id;
    socklen_t len = sizeof id;
    T_CHECK(getsockopt(fd, IPPROTO_TLS, TLS_ID, &id, &len) == 0, "TLS_ID");
    e = t_tls_error(fd);
    T_CHECK(strstr(e, "0x0301") != NULL, "TLS_ERROR \"%s\" lost by reading TLS_ID", e);
    /* Any acting call that succeeds clears it: setsockopt at another level too. */
    int one = 1;
    EXPECT_OK(setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
    e = t_tls_error(fd);
    T_CHECK(e[0] == '\0', "TLS_ERROR \"%s\" after a successful SO_KEEPALIVE", e);
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, "/nonexistent/ca.pem"), EINVAL,
                  "/nonexistent/ca.pem");
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_REMOTE_HOSTNAME, "bad name"), EINVAL, "bad name");
    char buf[64];
    len = sizeof buf;
    T_EXPECT_FAIL(fd, getsockopt(fd, IPPROTO_TLS, TLS_PEER_IDENTITY, buf, &len), ENOTCONN,
                  "not connected");
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_ENABLE_CIPHER, "AES128-SHA"), EPERM, "AES128-SHA");
    close(fd);
}

static void test_tls_error_after_refused_connect(void)
{
    int port, lfd = t_tcp_listener(AF_INET, &port);

    T_REQUIRE(lfd >= 0, "listener");
    close(lfd); /* nothing listens there now */
    int fd = client_socket();
    T_EXPECT_FAIL(fd, connect_port(fd, port), ECONNREFUSED, "refused");
    close(fd);
}

/* ---- Policies: run in a child process that reads another policy file ------------------ */

static char self[PATH_MAX];

/* Child: SSA_CONFIG has min-version TLS1.3 and session-lifetime 100. */
static void child_strict(void)
{
    int fd = t_tls_socket(AF_INET);

    T_CHECK(get_int(fd, TLS_VERSION_MIN) == TLS_1_3, "policy min not reported: 0x%04x",
            get_int(fd, TLS_VERSION_MIN));
    T_EXPECT_FAIL(fd, set_int(fd, TLS_VERSION_MIN, TLS_1_2), EPERM, "TLS 1.2");
    const char *e = t_tls_error(fd);
    T_CHECK(strstr(e, "min-version") != NULL, "TLS_ERROR \"%s\" does not name min-version", e);
    T_EXPECT_FAIL(fd, set_int(fd, TLS_VERSION_MAX, TLS_1_2), EPERM, "policy");
    T_CHECK(set_int(fd, TLS_VERSION_MIN, TLS_1_3) == 0, "the policy's own minimum refused: %s",
            t_tls_error(fd));
    T_EXPECT_FAIL(fd, set_int(fd, TLS_SESSION_TTL, 101), EPERM, "policy");
    T_CHECK(set_int(fd, TLS_SESSION_TTL, 50) == 0, "a shorter lifetime refused: %s",
            t_tls_error(fd));
    /* Revocation checks the policy requires cannot be turned off. */
    T_EXPECT_FAIL(fd, set_int(fd, TLS_OCSP_STAPLED_CHECKS, 0), EPERM, "ocsp-stapling");
    T_EXPECT_FAIL(fd, set_int(fd, TLS_REVOCATION_CHECKS, 0), EPERM, "ocsp-stapling");
    close(fd);
}

static void child_strict_connect(void)
{
    int port;
    pid_t srv = start_server(&port, "-tls1_2");
    int fd = client_socket();

    T_EXPECT_FAIL(fd, connect_port(fd, port), EPROTO, NULL);
    t_note("TLS_ERROR: %s", t_tls_error(fd));
    close(fd);
    t_stop_peer(srv);
}

/* Child: SSA_CONFIG has app-trust = false. */
static void child_no_app_trust(void)
{
    int fd = t_tls_socket(AF_INET);

    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, t_pki("ca.pem")), EPERM,
                  "app-trust");
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, t_pki("cadir")), EPERM, NULL);
    T_CHECK(t_set_str(fd, TLS_REMOTE_HOSTNAME, "localhost") == 0, "other options refused: %s",
            t_tls_error(fd));
    close(fd);
}

/* Child: SSA_CONFIG is broken (syntax error on line 2): TLS sockets fail, saying why. */
static void child_broken(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);

    if (fd < 0) {
        /* Refusing the socket outright is acceptable too, with a TLS errno. */
        T_CHECK(errno == EPROTO, "socket: %s", strerror(errno));
        return;
    }
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_REMOTE_HOSTNAME, "localhost"), EPROTO, "broken.conf:2:");
    T_EXPECT_FAIL(fd, connect_port(fd, 9), EPROTO, "broken.conf:2:");
    close(fd);
}

static int child_main(const char *which, const char *conf)
{
    t_use_policy(conf); /* before the first TLS socket of this process */
    if (strcmp(which, "strict") == 0) {
        t_run("child: policy min-version TLS1.3", child_strict);
        t_run("child: policy min-version TLS1.3 against a TLS 1.2 server", child_strict_connect);
    } else if (strcmp(which, "no-app-trust") == 0) {
        t_run("child: policy app-trust = false", child_no_app_trust);
    } else if (strcmp(which, "broken") == 0) {
        t_run("child: broken policy", child_broken);
    } else {
        t_bail("unknown child %s", which);
    }
    return t_done();
}

static void run_child(const char *which, const char *conf_text)
{
    char conf[PATH_MAX], out[16384];

    snprintf(conf, sizeof conf, "%s/%s.conf", t_tmpdir(), which);
    FILE *f = fopen(conf, "w");
    T_REQUIRE(f != NULL, "cannot write %s", conf);
    fputs(conf_text, f);
    fclose(f);
    const char *argv[] = {self, "--policy-child", which, conf, NULL};
    int rc = t_run_cmd(argv, 60000, out, sizeof out);
    if (!T_CHECK(rc == 0, "child %s exited %d", which, rc)) {
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
            t_note("| %s", line);
    }
}

static void test_policy_min_13(void)
{
    run_child("strict", "default = { min-version = \"TLS1.3\"; session-lifetime = 100;\n"
                        "            ocsp-stapling = true; };\n");
}

static void test_policy_no_app_trust(void)
{
    run_child("no-app-trust", "default = { app-trust = false; };\n");
}

static void test_policy_broken(void)
{
    if (t_daemon_backend())
        T_SKIP_CASE("ssad refuses to start on a broken policy (the daemon suite checks that)");
    run_child("broken", "default = {\n  min-version = ;\n};\n");
}

/* ---- Main -------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--policy-child") == 0)
        return child_main(argv[2], argv[3]);

    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        t_bail("readlink /proc/self/exe: %s", strerror(errno));
    self[n] = '\0';
    /* This program's own policy: the defaults, whatever /etc/ssa/ssa.conf says. */
    t_use_policy_text("options.conf", "default = { handshake-timeout = 10.0; };\n");

    t_run("SO_PROTOCOL is IPPROTO_TLS", test_so_protocol);
    t_run("unknown options: ENOPROTOOPT", test_unknown_options);
    t_run("get-only options set: ENOPROTOOPT", test_get_only_options);
    t_run("set-only options read: ENOPROTOOPT", test_set_only_options);
    t_run("int options with optlen 2 or 0: EINVAL", test_int_options_bad_length);
    t_run("TLS_REQUEST_PEER_AUTH: 0-2, \"required\", \"optional\", else EINVAL",
          test_request_peer_auth_values);
    t_run("TLS_CONTEXT: a uint64, shared between sockets", test_context_option);
    t_run("TLS_SESSION_TTL and TLS_SESSION_REUSE", test_session_options);
    t_run("revocation options: set and get", test_revocation_options);
    t_run("TLS_REMOTE_HOSTNAME: set/get, 255 ok, 256 EINVAL", test_remote_hostname);
    t_run("TLS_HOSTNAME: set/get, 255 ok, 256 EINVAL", test_hostname);
    t_run("options after connect: EISCONN", test_set_after_connect);
    t_run("options on a listener: EOPNOTSUPP", test_set_on_listener);
    t_run("options on an accepted socket: EOPNOTSUPP", test_set_on_accepted);
    t_run("TLS_VERSION_MIN/MAX values", test_version_values);
    t_run("TLS_VERSION_MAX TLS_1_2 negotiates TLS 1.2", test_version_max_12_negotiates_12);
    t_run("TLS_VERSION_MIN TLS_1_3 refuses a TLS 1.2 server", test_version_min_13_refuses_12);
    t_run("TLS_DISABLE_CIPHER of a TLS 1.3 suite", test_disable_tls13_suite);
    t_run("TLS_DISABLE_CIPHER of TLS 1.2 ciphers by both names", test_disable_tls12_cipher);
    t_run("disabled suites are not negotiated", test_disabled_suites_not_negotiated);
    t_run("TLS_DISABLE_CIPHER of the last suite: EINVAL", test_disable_last_suite);
    t_run("TLS_DISABLE_CIPHER of unknown names: EINVAL", test_disable_unknown_cipher);
    t_run("TLS_ENABLE_CIPHER outside the policy: EPERM", test_enable_excluded_cipher);
    t_run("TLS_ENABLE_CIPHER moves a cipher first", test_enable_prefers);
    t_run("TLS_ENABLE_CIPHER: the preferred cipher is negotiated", test_enabled_cipher_negotiated);
    t_run("TLS_ALPN negotiated with s_server -alpn", test_alpn);
    t_run("TLS_ALPN bad lists: EINVAL", test_alpn_bad_values);
    t_run("getters before connect: ENOTCONN", test_getters_before_connect);
    t_run("getters after connect", test_getters_after_connect);
    t_run("string getter with a short buffer: ERANGE and the size", test_string_getter_erange);
    t_run("TLS_ERROR read in two steps keeps the failure", test_tls_error_erange);
    t_run("TLS_ID stable and distinct", test_tls_id);
    t_run("TLS_ERROR cleared by a successful call, set by each failure",
          test_tls_error_lifecycle);
    t_run("TLS_ERROR after a refused connect", test_tls_error_after_refused_connect);
    t_run("policy min-version TLS1.3: TLS_VERSION_MIN TLS_1_2 is EPERM", test_policy_min_13);
    t_run("policy app-trust = false: trust anchors are EPERM", test_policy_no_app_trust);
    t_run("broken policy: TLS sockets fail with file:line", test_policy_broken);
    return t_done();
}
