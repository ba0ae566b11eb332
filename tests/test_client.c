/*
 * test_client.c -- SSA clients against real TLS servers (openssl s_server, gnutls-serv).
 *
 * Each case starts its own peer with a leaf of the test PKI and connects to it with
 * socket(..., IPPROTO_TLS) + connect(), the way an application does.  Successful connections
 * exchange data and check what getsockopt() reports; failing ones check the exact errno and
 * the reason in TLS_ERROR.
 *
 * The policy is pinned to a file in the temp dir (no trust store, short handshake timeout) so
 * that neither /etc/ssa/ssa.conf nor the caller's SSA_CONFIG changes what is tested: trust
 * comes from TLS_TRUSTED_PEER_CERTIFICATES on each socket.
 */
#define _GNU_SOURCE
#include "tutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ssa/in_tls.h>

#define IO_MS 10000          /* bound on every wait for the peer */
#define ECHO_BYTES (100 * 1024)
#define HOST_LEN ((socklen_t)sizeof(struct sockaddr_host))

/* TLS_ERROR of the last connection that tls_connect() gave up on. */
static char last_error[512];

/* ---- Helpers ---------------------------------------------------------------------------- */

/* Peers of the running case: run() stops them even when a T_REQUIRE ended the case early. */
static pid_t case_peers[4];
static int ncase_peers;

static pid_t peer(pid_t pid)
{
    if (pid > 0 && ncase_peers < 4)
        case_peers[ncase_peers++] = pid;
    return pid;
}

static void stop_case_peers(void)
{
    while (ncase_peers > 0)
        t_stop_peer(case_peers[--ncase_peers]);   /* -1 for those already stopped */
}

static void run(const char *name, void (*fn)(void))
{
    t_run(name, fn);
    stop_case_peers();
}

static void run_arg(const char *name, void (*fn)(void *), void *arg)
{
    t_run_arg(name, fn, arg);
    stop_case_peers();
}

/* A string option into buf; "" (and a check failure) if getsockopt fails. */
static const char *get_str(int fd, int opt, char *buf, size_t size)
{
    socklen_t len = (socklen_t)size;
    buf[0] = '\0';
    if (!T_CHECK(getsockopt(fd, IPPROTO_TLS, opt, buf, &len) == 0, "getsockopt(%d): %s", opt,
                 strerror(errno)))
        buf[0] = '\0';
    return buf;
}

static int get_int(int fd, int opt)
{
    int v = -1;
    socklen_t len = sizeof v;
    T_CHECK(getsockopt(fd, IPPROTO_TLS, opt, &v, &len) == 0, "getsockopt(%d): %s", opt,
            strerror(errno));
    return v;
}

/* A TLS socket trusting the test CA (if trust), with TLS_REMOTE_HOSTNAME = name (if any). */
static int tls_socket(int family, const char *name, int trust)
{
    int fd = t_tls_socket(family);
    const char *failed = NULL;
    if (trust && t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, t_pki("ca.pem")) != 0)
        failed = "TLS_TRUSTED_PEER_CERTIFICATES";
    else if (name && t_set_str(fd, TLS_REMOTE_HOSTNAME, name) != 0)
        failed = "TLS_REMOTE_HOSTNAME";
    if (failed) {
        int err = errno;
        close(fd);
        T_REQUIRE(0, "%s: %s", failed, strerror(err));
    }
    return fd;
}

/* connect(fd, addr); on failure keeps TLS_ERROR in last_error, closes fd, returns -1 with
 * errno from connect(). */
static int finish_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (connect(fd, addr, len) == 0)
        return fd;
    int err = errno;
    socklen_t elen = sizeof last_error;
    if (getsockopt(fd, IPPROTO_TLS, TLS_ERROR, last_error, &elen) != 0)
        snprintf(last_error, sizeof last_error, "(TLS_ERROR unavailable: %s)", strerror(errno));
    close(fd);
    errno = err;
    return -1;
}

/* Blocking TLS connect to loopback:port.  Returns the fd, or -1 (errno, last_error). */
static int tls_connect(int family, int port, const char *name, int trust)
{
    struct sockaddr_storage ss;
    socklen_t len = t_loopback(family, port, &ss);
    last_error[0] = '\0';
    return finish_connect(tls_socket(family, name, trust), (struct sockaddr *)&ss, len);
}

/* connect() by name with a struct sockaddr_host passed as addrlen bytes. */
static int tls_connect_host(const char *host, int port, const char *name, socklen_t addrlen)
{
    struct sockaddr_host h;
    memset(&h, 0, sizeof h);
    h.sin_family = AF_HOSTNAME;
    h.sin_port = htons((unsigned short)port);
    snprintf((char *)h.sin_addr.name, sizeof h.sin_addr.name, "%s", host);
    last_error[0] = '\0';
    return finish_connect(tls_socket(AF_INET, name, 1), (struct sockaddr *)&h, addrlen);
}

/* The connection attempt failed with `err` and a TLS_ERROR containing `reason`. */
static void expect_failure(int fd, int err, const char *reason)
{
    int got = errno;
    if (!T_CHECK(fd < 0, "connect succeeded; expected %s (%s)", t_errname(err), reason)) {
        close(fd);
        return;
    }
    t_errno_is(err, got);
    T_CHECK(strstr(last_error, reason) != NULL, "TLS_ERROR \"%s\" lacks \"%s\"", last_error,
            reason);
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads exactly len bytes, each wait bounded by IO_MS.  Returns bytes read. */
static size_t read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len && t_wait_readable(fd, IO_MS) == 1) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* Sends line and expects reply back (from s_server -rev: the line reversed). */
static void exchange(int fd, const char *line, const char *reply)
{
    char buf[256] = "";
    size_t n = strlen(reply);
    if (!T_CHECK(write_all(fd, line, strlen(line)) == 0, "write: %s", strerror(errno)))
        return;
    T_CHECK(read_full(fd, buf, n) == n && memcmp(buf, reply, n) == 0,
            "expected \"%s\", read \"%.*s\"", reply, (int)n, buf);
}

/* The connection is up, verified for a localhost leaf, and carries data both ways. */
static void check_localhost_peer(int fd)
{
    char buf[256];
    T_CHECK(strcmp(get_str(fd, TLS_PEER_IDENTITY, buf, sizeof buf), "/CN=localhost") == 0,
            "TLS_PEER_IDENTITY \"%s\"", buf);
    exchange(fd, "hello ssa\n", "ass olleh\n");
}

/* ---- Against openssl s_server ----------------------------------------------------------- */

/* The server allows one TLS 1.3 suite only: TLS_CHOSEN_CIPHER must report that one. */
static void test_openssl_ipv4(void)
{
    int port;
    pid_t srv = peer(t_openssl_server(&port, "localhost", "-rev", "-ciphersuites",
                                      "TLS_CHACHA20_POLY1305_SHA256", NULL));
    T_REQUIRE(srv > 0, "s_server did not start");
    int fd = tls_connect(AF_INET, port, "localhost", 1);
    T_REQUIRE(fd >= 0, "connect: %s: %s", strerror(errno), last_error);
    char buf[256];
    T_CHECK(strcmp(get_str(fd, TLS_CHOSEN_CIPHER, buf, sizeof buf),
                   "TLS_CHACHA20_POLY1305_SHA256") == 0, "TLS_CHOSEN_CIPHER \"%s\"", buf);
    int v = get_int(fd, TLS_VERSION_CONN);
    T_CHECK(v == TLS_1_3, "TLS_VERSION_CONN 0x%04x", (unsigned)v);
    check_localhost_peer(fd);
    exchange(fd, "second line\n", "enil dnoces\n");
    close(fd);
    t_stop_peer(srv);
}

/* Over ::1 with the server limited to TLS 1.2 and one cipher. */
static void test_openssl_ipv6(void)
{
    int port;
    pid_t srv = peer(t_openssl_server(&port, "localhost", "-accept", "[::1]:0", "-rev",
                                      "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256",
                                      NULL));
    T_REQUIRE(srv > 0, "s_server did not start");
    int fd = tls_connect(AF_INET6, port, "localhost", 1);
    T_REQUIRE(fd >= 0, "connect: %s: %s", strerror(errno), last_error);
    char buf[256];
    T_CHECK(strcmp(get_str(fd, TLS_CHOSEN_CIPHER, buf, sizeof buf),
                   "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256") == 0,
            "TLS_CHOSEN_CIPHER \"%s\"", buf);
    int v = get_int(fd, TLS_VERSION_CONN);
    T_CHECK(v == TLS_1_2, "TLS_VERSION_CONN 0x%04x", (unsigned)v);
    check_localhost_peer(fd);
    close(fd);
    t_stop_peer(srv);
}

/* ---- Against gnutls-serv --echo ---------------------------------------------------------- */

/* gnutls-serv --echo echoes text lines (it stops at a NUL), so the pattern is lines of 64
 * printable bytes that differ from line to line. */
static unsigned char pattern_byte(size_t i)
{
    return i % 64 == 63 ? '\n' : (unsigned char)('!' + (i * 7 + i / 64) % 94);
}

/* Writes ECHO_BYTES while reading the echo back (both at once: the echo may fill the
 * buffers before all is written).  Returns the number of bytes echoed intact. */
static size_t echo_pattern(int fd)
{
    static unsigned char out[ECHO_BYTES], in[ECHO_BYTES];
    size_t sent = 0, got = 0;
    for (size_t i = 0; i < ECHO_BYTES; i++)
        out[i] = pattern_byte(i);
    while (got < ECHO_BYTES) {
        struct pollfd p = { .fd = fd, .events = POLLIN | (sent < ECHO_BYTES ? POLLOUT : 0) };
        if (poll(&p, 1, IO_MS) <= 0)
            break;
        if ((p.revents & POLLOUT) && sent < ECHO_BYTES) {
            size_t chunk = ECHO_BYTES - sent < 4096 ? ECHO_BYTES - sent : 4096;
            ssize_t n = send(fd, out + sent, chunk, MSG_DONTWAIT);
            if (n < 0 && errno != EAGAIN)
                break;
            sent += n > 0 ? (size_t)n : 0;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, in + got, ECHO_BYTES - got, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN))
                break;
            got += n > 0 ? (size_t)n : 0;
        }
    }
    size_t same = 0;
    while (same < got && in[same] == out[same])
        same++;
    if (same < ECHO_BYTES)
        t_note("sent %zu, received %zu, %zu intact", sent, got, same);
    return same;
}

static void gnutls_echo(int family)
{
    int port;
    pid_t srv = peer(t_gnutls_server(&port, "localhost", "--echo", NULL));
    T_REQUIRE(srv > 0, "gnutls-serv did not start");
    int fd = tls_connect(family, port, "localhost", 1);
    T_REQUIRE(fd >= 0, "connect: %s: %s", strerror(errno), last_error);
    char buf[256];
    T_CHECK(strcmp(get_str(fd, TLS_PEER_IDENTITY, buf, sizeof buf), "/CN=localhost") == 0,
            "TLS_PEER_IDENTITY \"%s\"", buf);
    size_t n = echo_pattern(fd);
    T_CHECK(n == ECHO_BYTES, "only %zu of %d bytes came back intact", n, ECHO_BYTES);
    close(fd);
    t_stop_peer(srv);
}

static void test_gnutls_ipv4(void) { gnutls_echo(AF_INET); }
static void test_gnutls_ipv6(void) { gnutls_echo(AF_INET6); }

/* ---- AF_HOSTNAME and host names --------------------------------------------------------- */

static void test_hostname_connect(void)
{
    int port;
    pid_t srv = peer(t_openssl_server(&port, "localhost", "-rev", NULL));
    T_REQUIRE(srv > 0, "s_server did not start");
    int fd = tls_connect_host("localhost", port, NULL, HOST_LEN);
    T_REQUIRE(fd >= 0, "AF_HOSTNAME connect: %s: %s", strerror(errno), last_error);
    check_localhost_peer(fd);
    close(fd);
    /* An addrlen that ends just after the name's NUL is enough (SPEC section 2). */
    socklen_t short_len = offsetof(struct sockaddr_host, sin_addr) + sizeof "localhost";
    fd = tls_connect_host("localhost", port, NULL, short_len);
    T_REQUIRE(fd >= 0, "AF_HOSTNAME connect, addrlen %u: %s: %s", (unsigned)short_len,
              strerror(errno), last_error);
    check_localhost_peer(fd);
    close(fd);
    t_stop_peer(srv);
}

/* The AF_HOSTNAME name is the one verified: a leaf for another name is refused. */
static void test_hostname_is_verified(void)
{
    int port;
    pid_t srv = peer(t_openssl_server(&port, "wronghost", NULL));
    T_REQUIRE(srv > 0, "s_server did not start");
    int fd = tls_connect_host("localhost", port, NULL, HOST_LEN);
    expect_failure(fd, EPROTO, "not valid for localhost");
    t_stop_peer(srv);
}

/* ".invalid" never resolves (RFC 6761): a quick EHOSTUNREACH naming the name. */
static void test_hostname_unresolvable(void)
{
    int fd = tls_connect_host("no-such-host.invalid", 443, NULL, HOST_LEN);
    expect_failure(fd, EHOSTUNREACH, "no-such-host.invalid");
}

/* TLS_REMOTE_HOSTNAME wins over the AF_HOSTNAME name, in both directions. */
static void test_remote_hostname_wins(void)
{
    int port;
    pid_t srv = peer(t_openssl_server(&port, "wronghost", "-rev", NULL));
    T_REQUIRE(srv > 0, "s_server did not start");
    int fd = tls_connect_host("localhost", port, "wrong.test", HOST_LEN);
    T_REQUIRE(fd >= 0, "connect: %s: %s", strerror(errno), last_error);
    char buf[256];
    T_CHECK(strcmp(get_str(fd, TLS_PEER_IDENTITY, buf, sizeof buf), "/CN=wrong.test") == 0,
            "TLS_PEER_IDENTITY \"%s\"", buf);
    exchange(fd, "abc\n", "cba\n");
    close(fd);
    t_stop_peer(srv);

    srv = peer(t_openssl_server(&port, "localhost", NULL));
    T_REQUIRE(srv > 0, "s_server did not start");
    fd = tls_connect_host("localhost", port, "wrong.test", HOST_LEN);
    expect_failure(fd, EPROTO, "not valid for wrong.test");
    t_stop_peer(srv);
}

/* ---- Verification failures -------------------------------------------------------------- */

struct bad_leaf {
    const char *leaf;
    const char *reason;   /* must appear in TLS_ERROR */
};

static void verify_fails(void *arg)
{
    const struct bad_leaf *b = arg;
    int port;
    pid_t srv = peer(t_openssl_server(&port, b->leaf, NULL));
    T_REQUIRE(srv > 0, "s_server did not start");
    int fd = tls_connect(AF_INET, port, "localhost", 1);
    expect_failure(fd, EPROTO, b->reason);
    T_CHECK(strstr(last_error, "certificate verification failed") != NULL, "TLS_ERROR \"%s\"",
            last_error);
    t_stop_peer(srv);
}

static const struct bad_leaf bad_leaves[] = {
    { "wronghost", "not valid for localhost" },
    { "unknownca", "unable to get local issuer certificate (localhost)" },
    { "selfsigned", "self-signed certificate (localhost)" },
    { "expired", "certificate has expired (localhost)" },
    { "notyet", "certificate is not yet valid (localhost)" },
};

/* No TLS_TRUSTED_PEER_CERTIFICATES and no trust in the policy: the system store decides, and
 * it does not know the test CA. */
static void test_system_store_rejects(void)
{
    int port;
    pid_t srv = peer(t_openssl_server(&port, "localhost", NULL));
    T_REQUIRE(srv > 0, "s_server did not start");
    int fd = tls_connect(AF_INET, port, "localhost", 0);
    expect_failure(fd, EPROTO, "unable to get local issuer certificate");
    t_stop_peer(srv);
}

/* ---- IP addresses as identities --------------------------------------------------------- */

/* Without a host name the certificate must name the address connected to. */
static void ip_only(const char *leaf, int family)
{
    int port;
    const char *where = family == AF_INET ? "127.0.0.1:0" : "[::1]:0";
    pid_t srv = peer(t_openssl_server(&port, leaf, "-accept", where, "-rev", NULL));
    T_REQUIRE(srv > 0, "s_server did not start");
    int fd = tls_connect(family, port, NULL, 1);
    T_REQUIRE(fd >= 0, "connect without a name: %s: %s", strerror(errno), last_error);
    exchange(fd, "ip\n", "pi\n");
    close(fd);
    t_stop_peer(srv);
}

static void test_ipv4only(void) { ip_only("ipv4only", AF_INET); }
static void test_ipv6only(void) { ip_only("ipv6only", AF_INET6); }

static void test_ipv4only_with_name(void)
{
    int port;
    pid_t srv = peer(t_openssl_server(&port, "ipv4only", NULL));
    T_REQUIRE(srv > 0, "s_server did not start");
    int fd = tls_connect(AF_INET, port, "localhost", 1);
    expect_failure(fd, EPROTO, "not valid for localhost");
    t_stop_peer(srv);
}

/* An IPv4-only leaf does not cover ::1. */
static void test_ipv4only_on_ipv6(void)
{
    int port;
    pid_t srv = peer(t_openssl_server(&port, "ipv4only", "-accept", "[::1]:0", NULL));
    T_REQUIRE(srv > 0, "s_server did not start");
    int fd = tls_connect(AF_INET6, port, NULL, 1);
    expect_failure(fd, EPROTO, "not valid for");
    t_stop_peer(srv);
}

/* ---- TCP failures ----------------------------------------------------------------------- */

static void test_connection_refused(void)
{
    int port = 0;
    int lfd = t_tcp_listener(AF_INET, &port);
    T_REQUIRE(lfd >= 0, "listener: %s", strerror(errno));
    close(lfd);   /* the port is now closed */
    int fd = tls_connect(AF_INET, port, "localhost", 1);
    expect_failure(fd, ECONNREFUSED, "refused");
}

/* ---- Names and chains ------------------------------------------------------------------- */

static void test_wildcard(void)
{
    int port;
    pid_t srv = peer(t_openssl_server(&port, "wildcard", "-rev", NULL));
    T_REQUIRE(srv > 0, "s_server did not start");
    int fd = tls_connect(AF_INET, port, "a.wild.test", 1);
    T_REQUIRE(fd >= 0, "a.wild.test: %s: %s", strerror(errno), last_error);
    exchange(fd, "wild\n", "dliw\n");
    close(fd);
    /* A wildcard covers exactly one label (RFC 6125 section 6.4.3). */
    fd = tls_connect(AF_INET, port, "a.b.wild.test", 1);
    expect_failure(fd, EPROTO, "not valid for a.b.wild.test");
    fd = tls_connect(AF_INET, port, "wild.test", 1);
    expect_failure(fd, EPROTO, "not valid for wild.test");
    t_stop_peer(srv);
}

static int count_certs(const char *pem)
{
    int n = 0;
    for (const char *p = pem; (p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL; p++)
        n++;
    return n;
}

/* Leaf under int2 under int under the root: the server sends leaf, int2 and int. */
static void test_deep_chain(void)
{
    int port;
    pid_t srv = peer(t_openssl_server(&port, "deep", "-rev", NULL));
    T_REQUIRE(srv > 0, "s_server did not start");
    int fd = tls_connect(AF_INET, port, "localhost", 1);
    T_REQUIRE(fd >= 0, "connect: %s: %s", strerror(errno), last_error);
    check_localhost_peer(fd);
    static char pem[32768];
    get_str(fd, TLS_PEER_CERTIFICATE_CHAIN, pem, sizeof pem);
    T_CHECK(count_certs(pem) == 3, "TLS_PEER_CERTIFICATE_CHAIN has %d certificates",
            count_certs(pem));
    close(fd);
    t_stop_peer(srv);
}

/* An RSA leaf; TLS 1.2 makes the key type visible in the cipher name. */
static void test_rsa2048(void)
{
    int port;
    pid_t srv = peer(t_openssl_server(&port, "rsa2048", "-rev", "-tls1_2", NULL));
    T_REQUIRE(srv > 0, "s_server did not start");
    int fd = tls_connect(AF_INET, port, "localhost", 1);
    T_REQUIRE(fd >= 0, "connect: %s: %s", strerror(errno), last_error);
    char buf[256];
    T_CHECK(strncmp(get_str(fd, TLS_CHOSEN_CIPHER, buf, sizeof buf), "TLS_ECDHE_RSA_WITH_",
                    19) == 0, "TLS_CHOSEN_CIPHER \"%s\"", buf);
    check_localhost_peer(fd);
    close(fd);
    t_stop_peer(srv);
}

/* ---- Main ------------------------------------------------------------------------------- */

int main(void)
{
    /* A policy of our own, read at the first TLS socket: no trust store, short timeout. */
    t_use_policy_text("client-policy.conf", "default = { handshake-timeout = 10.0; };\n");
    run("openssl s_server over IPv4: TLS 1.3 cipher, identity, data", test_openssl_ipv4);
    run("openssl s_server over IPv6: TLS 1.2 cipher, identity, data", test_openssl_ipv6);
    run("gnutls-serv --echo over IPv4: 100 KiB echoed", test_gnutls_ipv4);
    run("gnutls-serv --echo over IPv6: 100 KiB echoed", test_gnutls_ipv6);
    run("AF_HOSTNAME localhost connects", test_hostname_connect);
    run("AF_HOSTNAME name is verified", test_hostname_is_verified);
    run("AF_HOSTNAME unresolvable name: EHOSTUNREACH", test_hostname_unresolvable);
    run("TLS_REMOTE_HOSTNAME wins over AF_HOSTNAME", test_remote_hostname_wins);
    for (size_t i = 0; i < sizeof bad_leaves / sizeof bad_leaves[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s leaf: EPROTO \"%s\"", bad_leaves[i].leaf,
                 bad_leaves[i].reason);
        run_arg(name, verify_fails, (void *)&bad_leaves[i]);
    }
    run("system store does not trust the test CA", test_system_store_rejects);
    run("IP-only leaf on 127.0.0.1 without a name", test_ipv4only);
    run("IP-only leaf on ::1 without a name", test_ipv6only);
    run("IP-only leaf with host name localhost: EPROTO", test_ipv4only_with_name);
    run("IPv4-only leaf on ::1: EPROTO", test_ipv4only_on_ipv6);
    run("closed port: ECONNREFUSED", test_connection_refused);
    run("wildcard leaf: one label only", test_wildcard);
    run("chain of four verifies", test_deep_chain);
    run("RSA 2048 leaf", test_rsa2048);
    return t_done();
}
