/*
 * test_sockopts.c -- addresses and options of other levels on TLS sockets (SPEC section 3).
 *
 * getpeername/getsockname/accept give the real TCP addresses; TCP_NODELAY, SO_KEEPALIVE and
 * SO_REUSEADDR act on the network connection; SO_RCVTIMEO and SO_SNDTIMEO on the application's
 * own descriptor; SO_PROTOCOL answers IPPROTO_TLS, SO_DOMAIN and SO_TYPE what socket() was given.
 * Both ends are SSA sockets of this process (server accept() runs in the test's thread: a TLS
 * connect completes without it, accept() only picks up the handshaken connection).
 *
 * The policy is pinned to a file in the temp dir (trust = the test CA).
 */
#define _GNU_SOURCE
#include "tutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ssa/in_tls.h>

#define IO_MS 10000
#define TIMEO_MS 300


/* ---- Helpers ---------------------------------------------------------------------------- */

/* "127.0.0.1:443" / "[::1]:443" */
static const char *addr_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof ip);
    else if (ss->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, ip, sizeof ip);
    snprintf(buf, size, ss->ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, t_port_of(ss));
    return buf;
}

static int get_int(int fd, int level, int name, int *v)
{
    socklen_t len = sizeof *v;
    *v = -1;
    return getsockopt(fd, level, name, v, &len);
}

static int set_int(int fd, int level, int name, int v)
{
    return setsockopt(fd, level, name, &v, sizeof v);
}

/* A TLS listener on loopback port `port` (0 = any), SO_REUSEADDR if reuse; -1 if it fails. */
static int tls_listener(int family, int *port, int reuse)
{
    struct sockaddr_storage ss;
    socklen_t len = t_loopback(family, *port, &ss);
    int fd = socket(family, SOCK_STREAM, IPPROTO_TLS);
    if (fd < 0)
        return -1;
    if (t_set_leaf(fd, "localhost") || (reuse && set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) ||
        bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 16) ||
        getsockname(fd, (struct sockaddr *)&ss, &len)) {
        int e = errno;
        t_note("TLS listener on port %d: %s (%s)", *port, strerror(e), t_tls_error(fd));
        close(fd);
        errno = e;
        return -1;
    }
    *port = t_port_of(&ss);
    return fd;
}

/* A TLS client for "localhost", not yet connected. */
static int tls_client_socket(int family)
{
    int fd = socket(family, SOCK_STREAM, IPPROTO_TLS);
    if (fd >= 0 && setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost", 10) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int tls_connect(int fd, int family, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = t_loopback(family, port, &ss);
    if (connect(fd, (struct sockaddr *)&ss, len) == 0)
        return 0;
    t_note("connect: %s (%s)", strerror(errno), t_tls_error(fd));
    return -1;
}

static int accept_within(int lfd, struct sockaddr_storage *ss, socklen_t *len)
{
    if (t_wait_readable(lfd, IO_MS) != 1)
        return errno = ETIMEDOUT, -1;
    return accept(lfd, (struct sockaddr *)ss, len);
}

/* A connected pair: client *c and accepted *s, over a listener *l (all TLS). */
struct conn {
    int l, c, s, port;
};

static int conn_open(struct conn *k, int family)
{
    k->port = 0;
    k->c = k->s = -1;
    k->l = tls_listener(family, &k->port, 0);
    if (k->l < 0)
        return -1;
    k->c = tls_client_socket(family);
    if (k->c < 0 || tls_connect(k->c, family, k->port) < 0)
        return -1;
    k->s = accept_within(k->l, NULL, NULL);
    return k->s < 0 ? -1 : 0;
}

static void conn_close(struct conn *k)
{
    int fds[] = { k->c, k->s, k->l };
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    k->c = k->s = k->l = -1;
}

static int have_ipv6(void)
{
    int port, fd = t_tcp_listener(AF_INET6, &port);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

/* ---- Cases ------------------------------------------------------------------------------- */

/* One address from getsockname/getpeername, checked: loopback of `family`, and its port. */
static int name_port(int fd, int peer, int family, const char *what)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
                  : getsockname(fd, (struct sockaddr *)&ss, &len);
    if (!T_CHECK(rc == 0, "%s: %s (%s)", what, strerror(errno), t_tls_error(fd)))
        return -1;
    struct sockaddr_storage want;
    socklen_t want_len = t_loopback(family, t_port_of(&ss), &want);
    char got_s[80], want_s[80];
    T_CHECK(len == want_len && memcmp(&ss, &want, want_len) == 0, "%s: %s (len %u), expected %s",
          what, addr_text(&ss, got_s, sizeof got_s), (unsigned)len,
          addr_text(&want, want_s, sizeof want_s));
    return t_port_of(&ss);
}

static void test_addresses(void *arg)
{
    int family = *(int *)arg;
    if (family == AF_INET6 && !have_ipv6())
        T_SKIP_CASE("no IPv6 loopback");
    int lport = 0;
    int l = tls_listener(family, &lport, 0);
    T_REQUIRE(l >= 0, "no listener");
    int c = tls_client_socket(family);
    T_REQUIRE(c >= 0, "socket: %s", strerror(errno));
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    errno = 0;
    T_CHECK(getpeername(c, (struct sockaddr *)&ss, &len) == -1 && t_errno_is(ENOTCONN, errno),
          "getpeername before connect");
    T_REQUIRE(tls_connect(c, family, lport) == 0, "connect failed");
    len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    int s = accept_within(l, &ss, &len);
    T_REQUIRE(s >= 0, "accept: %s", strerror(errno));

    int c_local = name_port(c, 0, family, "client getsockname");
    int c_peer = name_port(c, 1, family, "client getpeername");
    int s_local = name_port(s, 0, family, "server getsockname");
    int s_peer = name_port(s, 1, family, "server getpeername");
    int l_local = name_port(l, 0, family, "listener getsockname");
    char a[80];
    t_note("client %d -> server %d, accept() gave %s", c_local, c_peer,
           addr_text(&ss, a, sizeof a));
    T_CHECK(c_local > 0 && c_local != lport, "client's local port %d", c_local);
    T_CHECK(c_peer == lport, "client's peer port %d, listener is on %d", c_peer, lport);
    T_CHECK(s_local == lport, "server's local port %d, listener is on %d", s_local, lport);
    T_CHECK(l_local == lport, "listener's port %d, bound %d", l_local, lport);
    T_CHECK(s_peer == c_local, "server's peer port %d, client's local port %d", s_peer, c_local);
    T_CHECK(ss.ss_family == family && t_port_of(&ss) == c_local,
          "accept() address %s, client's local port %d", a, c_local);
    close(s);
    close(c);
    close(l);
}

/* An option of another level: off at first, on after setting it, on both ends. */
static void check_net_option(int fd, int level, int name, const char *what)
{
    int v;
    T_CHECK(get_int(fd, level, name, &v) == 0 && v == 0, "%s initially: %d (%s)", what, v,
          strerror(errno));
    T_CHECK(set_int(fd, level, name, 1) == 0, "set %s: %s (%s)", what, strerror(errno),
          t_tls_error(fd));
    T_CHECK(get_int(fd, level, name, &v) == 0 && v == 1, "%s after set: %d (%s)", what, v,
          strerror(errno));
    T_CHECK(set_int(fd, level, name, 0) == 0 && get_int(fd, level, name, &v) == 0 && v == 0,
          "%s after clearing: %d", what, v);
}

static void test_net_option(void *arg)
{
    const char *which = arg;
    int level = strcmp(which, "TCP_NODELAY") == 0 ? IPPROTO_TCP : SOL_SOCKET;
    int name = level == IPPROTO_TCP ? TCP_NODELAY : SO_KEEPALIVE;

    /* Set before connect(): it still holds on the connection made afterwards. */
    int lport = 0, l = tls_listener(AF_INET, &lport, 0);
    T_REQUIRE(l >= 0, "no listener");
    int c = tls_client_socket(AF_INET);
    T_REQUIRE(c >= 0, "socket: %s", strerror(errno));
    T_CHECK(set_int(c, level, name, 1) == 0, "set %s before connect: %s", which, strerror(errno));
    T_REQUIRE(tls_connect(c, AF_INET, lport) == 0, "connect failed");
    int v;
    T_CHECK(get_int(c, level, name, &v) == 0 && v == 1, "%s set before connect, after: %d (%s)",
          which, v, strerror(errno));
    int s = accept_within(l, NULL, NULL);
    T_REQUIRE(s >= 0, "accept: %s", strerror(errno));
    check_net_option(s, level, name, "accepted socket");
    T_CHECK(set_int(c, level, name, 0) == 0, "clear: %s", strerror(errno));
    check_net_option(c, level, name, "client socket");
    close(s);
    close(c);
    close(l);
}

/* After close(), a new listener with SO_REUSEADDR binds the same port at once. */
static void test_reuseaddr(void)
{
    int port = 0;
    int l = tls_listener(AF_INET, &port, 1);
    T_REQUIRE(l >= 0, "no listener");
    int v;
    T_CHECK(get_int(l, SOL_SOCKET, SO_REUSEADDR, &v) == 0 && v == 1, "SO_REUSEADDR reads %d", v);
    /* A connection the server closes first leaves the port in TIME_WAIT. */
    int c = tls_client_socket(AF_INET);
    T_REQUIRE(c >= 0 && tls_connect(c, AF_INET, port) == 0, "connect failed");
    int s = accept_within(l, NULL, NULL);
    T_REQUIRE(s >= 0, "accept: %s", strerror(errno));
    close(s);
    char b;
    T_CHECK(t_wait_readable(c, IO_MS) == 1 && read(c, &b, 1) == 0, "client did not see EOF");
    close(c);

    /* The next listener is made ready first, so that bind() follows close() at once. */
    for (int round = 1; round <= 20; round++) {
        int next = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
        T_REQUIRE(next >= 0 && t_set_leaf(next, "localhost") == 0 &&
                set_int(next, SOL_SOCKET, SO_REUSEADDR, 1) == 0, "new listener: %s",
                strerror(errno));
        struct sockaddr_storage ss;
        socklen_t len = t_loopback(AF_INET, port, &ss);
        close(l);
        l = next;
        errno = 0;
        T_REQUIRE(bind(l, (struct sockaddr *)&ss, len) == 0,
                "round %d: bind to port %d right after close() of the old listener: %s",
                round, port, strerror(errno));
        T_REQUIRE(listen(l, 16) == 0, "round %d: listen: %s", round, strerror(errno));
    }
    c = tls_client_socket(AF_INET);
    T_REQUIRE(c >= 0 && tls_connect(c, AF_INET, port) == 0, "connect to the new listener");
    s = accept_within(l, NULL, NULL);
    T_CHECK(s >= 0, "the new listener did not accept: %s", strerror(errno));
    if (s >= 0) {
        char buf[4] = { 0 };
        T_CHECK(send(c, "new", 3, MSG_NOSIGNAL) == 3 && t_wait_readable(s, IO_MS) == 1 &&
              read(s, buf, 3) == 3 && memcmp(buf, "new", 3) == 0, "no data through it");
        close(s);
    }
    close(c);
    close(l);
}

static void check_identity(int fd, int family, const char *what)
{
    int v;
    T_CHECK(get_int(fd, SOL_SOCKET, SO_PROTOCOL, &v) == 0 && v == IPPROTO_TLS,
          "%s: SO_PROTOCOL %d (%s)", what, v, strerror(errno));
    T_CHECK(get_int(fd, SOL_SOCKET, SO_DOMAIN, &v) == 0 && v == family, "%s: SO_DOMAIN %d (%s)",
          what, v, strerror(errno));
    T_CHECK(get_int(fd, SOL_SOCKET, SO_TYPE, &v) == 0 && v == SOCK_STREAM,
          "%s: SO_TYPE %d (%s)", what, v, strerror(errno));
}

static void test_identity(void *arg)
{
    int family = *(int *)arg;
    if (family == AF_INET6 && !have_ipv6())
        T_SKIP_CASE("no IPv6 loopback");
    int fresh = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TLS);
    T_REQUIRE(fresh >= 0, "socket: %s", strerror(errno));
    check_identity(fresh, family, "new socket");
    close(fresh);
    struct conn k;
    T_REQUIRE(conn_open(&k, family) == 0, "no connection: %s", strerror(errno));
    check_identity(k.l, family, "listener");
    check_identity(k.c, family, "connected client");
    check_identity(k.s, family, "accepted socket");
    int v;
    T_CHECK(get_int(k.l, SOL_SOCKET, SO_ACCEPTCONN, &v) == 0 && v == 1, "listener SO_ACCEPTCONN %d",
          v);
    T_CHECK(get_int(k.c, SOL_SOCKET, SO_ACCEPTCONN, &v) == 0 && v == 0, "client SO_ACCEPTCONN %d",
          v);
    conn_close(&k);
}

static void test_rcvtimeo(void)
{
    struct conn k;
    T_REQUIRE(conn_open(&k, AF_INET) == 0, "no connection: %s", strerror(errno));
    struct timeval tv = { 0, TIMEO_MS * 1000 }, got = { 0, 0 };
    socklen_t len = sizeof got;
    T_CHECK(setsockopt(k.c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "set: %s",
          strerror(errno));
    T_CHECK(getsockopt(k.c, SOL_SOCKET, SO_RCVTIMEO, &got, &len) == 0 &&
          got.tv_sec * 1000 + got.tv_usec / 1000 == TIMEO_MS,
          "SO_RCVTIMEO reads %ld.%06ld s", (long)got.tv_sec, (long)got.tv_usec);
    char buf[16];
    long t0 = t_now_ms();
    errno = 0;
    ssize_t n = read(k.c, buf, sizeof buf);   /* the server writes nothing */
    long took = t_now_ms() - t0;
    T_CHECK(n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK),
          "read returned %zd (%s), expected EAGAIN", n, strerror(errno));
    T_CHECK(took < 5000, "the read took %ld ms with a %d ms timeout", took, TIMEO_MS);
    t_note("read timed out after %ld ms", took);
    /* Data still flows afterwards. */
    T_CHECK(send(k.s, "late", 4, MSG_NOSIGNAL) == 4, "server send: %s", strerror(errno));
    memset(buf, 0, sizeof buf);
    T_CHECK(t_wait_readable(k.c, IO_MS) == 1 && read(k.c, buf, 4) == 4 && memcmp(buf, "late", 4) == 0,
          "read after the timeout: \"%s\"", buf);
    conn_close(&k);
}

/* Writes with nobody reading: once every buffer on the way is full, the write times out. */
static void test_sndtimeo(void)
{
    struct conn k;
    T_REQUIRE(conn_open(&k, AF_INET) == 0, "no connection: %s", strerror(errno));
    struct timeval tv = { 0, TIMEO_MS * 1000 };
    T_CHECK(setsockopt(k.c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0, "set: %s",
          strerror(errno));
    static char chunk[65536];
    size_t sent = 0;
    ssize_t n;
    long t0 = t_now_ms();
    while ((n = send(k.c, chunk, sizeof chunk, MSG_NOSIGNAL)) > 0 && t_now_ms() - t0 < 20000)
        sent += (size_t)n;
    T_CHECK(n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK),
          "send returned %zd (%s) after %zu bytes, expected EAGAIN", n, strerror(errno), sent);
    t_note("%zu bytes were buffered before the send timed out", sent);
    /* The server takes it all before closing: a reset under the client's engine while it
     * still sends is test_eof's subject (SIGPIPE), not this one's. */
    close(k.c);
    k.c = -1;
    size_t got = 0;
    for (ssize_t r = 1; r > 0 && t_wait_readable(k.s, IO_MS) == 1;)
        if ((r = read(k.s, chunk, sizeof chunk)) > 0)
            got += (size_t)r;
    T_CHECK(got == sent, "the server read %zu of the %zu bytes sent", got, sent);
    conn_close(&k);
}

/*
 * SO_SNDBUF acts on the application's descriptor, and what the application sets stays set:
 * before connect() (the handshake must not leave it changed) and right after it (nothing the
 * library does in the background may change it back).  Read back after 50 ms: not a wait for
 * anything, the window in which a late change by the library would show.
 */
static void test_sndbuf_kept(void)
{
    int lport = 0, l = tls_listener(AF_INET, &lport, 0);
    T_REQUIRE(l >= 0, "no listener");
    for (int round = 0; round < 20; round++) {
        int c = tls_client_socket(AF_INET);
        T_REQUIRE(c >= 0, "socket: %s", strerror(errno));
        int before = 300000 + round * 1000, after = 200000 + round * 1000, want, got;
        T_CHECK(set_int(c, SOL_SOCKET, SO_SNDBUF, before) == 0, "set: %s", strerror(errno));
        T_REQUIRE(get_int(c, SOL_SOCKET, SO_SNDBUF, &want) == 0, "get: %s", strerror(errno));
        T_REQUIRE(tls_connect(c, AF_INET, lport) == 0, "connect failed");
        T_CHECK(get_int(c, SOL_SOCKET, SO_SNDBUF, &got) == 0 && got == want,
              "round %d: SO_SNDBUF set before connect() read %d, after it %d", round, want, got);
        T_CHECK(set_int(c, SOL_SOCKET, SO_SNDBUF, after) == 0, "set: %s", strerror(errno));
        T_REQUIRE(get_int(c, SOL_SOCKET, SO_SNDBUF, &want) == 0, "get: %s", strerror(errno));
        poll(NULL, 0, 50);
        T_REQUIRE(get_int(c, SOL_SOCKET, SO_SNDBUF, &got) == 0 && got == want,
                "round %d: SO_SNDBUF set right after connect() read %d, 50 ms later %d", round,
                want, got);
        int s = accept_within(l, NULL, NULL);
        if (s >= 0)
            close(s);
        close(c);
    }
    close(l);
}

/* ---- Main -------------------------------------------------------------------------------- */

/*
 * The peer closes at once and the connection ends before the server sets its options: as on a
 * TCP socket whose peer closed, setting TCP_NODELAY still succeeds (a server that checks it
 * must not die of a race it cannot see).
 */
static void test_options_after_peer_closed(void)
{
    struct conn k;
    char b;
    T_REQUIRE(conn_open(&k, AF_INET) == 0, "connection: %s", strerror(errno));
    close(k.c);
    k.c = -1;
    T_CHECK(t_wait_readable(k.s, 5000) == 1 && read(k.s, &b, 1) == 0, "EOF on the server");
    for (long until = t_now_ms() + 500; t_now_ms() < until;)
        poll(NULL, 0, 20); /* give the engine time to release the finished connection */
    T_CHECK(set_int(k.s, IPPROTO_TCP, TCP_NODELAY, 1) == 0, "TCP_NODELAY: %s", strerror(errno));
    T_CHECK(set_int(k.s, SOL_SOCKET, SO_KEEPALIVE, 1) == 0, "SO_KEEPALIVE: %s", strerror(errno));
    conn_close(&k);
}

int main(void)
{
    static int inet = AF_INET, inet6 = AF_INET6;
    t_use_policy_text("ssa.conf", "default = { trust-file = \"%s\"; };\n", t_pki("ca.pem"));
    t_run_arg("getsockname/getpeername/accept give the TCP addresses (IPv4)", test_addresses,
              &inet);
    t_run_arg("getsockname/getpeername/accept give the TCP addresses (IPv6)", test_addresses,
              &inet6);
    t_run_arg("TCP_NODELAY acts on the connection (client and accepted)", test_net_option,
              "TCP_NODELAY");
    t_run_arg("SO_KEEPALIVE acts on the connection (client and accepted)", test_net_option,
              "SO_KEEPALIVE");
    t_run("SO_REUSEADDR: the port can be bound again right after close()", test_reuseaddr);
    t_run_arg("SO_PROTOCOL 205, SO_DOMAIN, SO_TYPE (IPv4)", test_identity, &inet);
    t_run_arg("SO_PROTOCOL 205, SO_DOMAIN, SO_TYPE (IPv6)", test_identity, &inet6);
    t_run("SO_RCVTIMEO: a read times out with EAGAIN", test_rcvtimeo);
    t_run("SO_SNDTIMEO: a write times out with EAGAIN", test_sndtimeo);
    t_run("SO_SNDBUF set before or right after connect() stays as set", test_sndbuf_kept);
    t_run("options on a connection the peer already closed still succeed",
          test_options_after_peer_closed);
    return t_done();
}
