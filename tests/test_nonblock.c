/*
 * test_nonblock.c -- non-blocking connect and accept, handshake timeouts, EINTR (SPEC section 3).
 *
 * A pending connect must not look writable to poll, select or epoll (level- and edge-triggered)
 * until the handshake has ended.  To see that, the handshake is held up on purpose: the client
 * connects to a plain TCP relay written here, which accepts the connection but forwards nothing
 * to the real server (openssl s_server) until the test has polled for a while.
 *
 * The policy is pinned to a file in the temp dir (trust = the test CA, handshake-timeout 2 s):
 * short enough that the timeout cases end quickly, long enough that the held-up handshakes,
 * which are released after about 200 ms, never run into it on a loaded machine.
 */
#define _GNU_SOURCE
#include "tutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ssa/in_tls.h>

#define IO_MS 10000             /* bound on every wait for something that must happen */
#define QUIET_MS 200            /* how long "nothing happens" is watched */
#define HANDSHAKE_TIMEOUT "2.0" /* seconds, in the policy */


/* ---- Helpers ---------------------------------------------------------------------------- */

static int tls_connect_to(int fd, int port)
{
    struct sockaddr_in a;
    socklen_t len = t_loopback4(port, &a);
    return connect(fd, (struct sockaddr *)&a, len);
}

/* A TLS client socket for "localhost"; how = "SOCK_NONBLOCK", "fcntl" or "blocking". */
static int tls_client(const char *how)
{
    int fd = socket(AF_INET, SOCK_STREAM | (strcmp(how, "SOCK_NONBLOCK") == 0 ? SOCK_NONBLOCK : 0),
                    IPPROTO_TLS);
    if (fd < 0)
        return -1;
    if (strcmp(how, "fcntl") == 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost", 10) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int so_error(int fd)
{
    int err = -1;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -errno;
    return err;
}

/* revents of one poll() for events, waiting at most ms (EINTR retried). */
static short poll_once(int fd, short events, int ms)
{
    long deadline = t_now_ms() + ms;
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        long left = deadline - t_now_ms();
        int rc = poll(&p, 1, left > 0 ? (int)left : 0);
        if (rc >= 0)
            return rc > 0 ? p.revents : 0;
        if (errno != EINTR)
            return -1;
    }
}

/*
 * POLLOUT on a connect that failed.  The kernel wakes pollers with POLLHUP|POLLERR a moment
 * before the engine's end is gone and POLLOUT shows (af_unix release): an event loop polls
 * again, and so do we (seen under ASan on a loaded machine).
 */
static short poll_after_failure(int fd)
{
    short rev = poll_once(fd, POLLOUT, IO_MS);

    for (int i = 0; i < 100 && (rev & (POLLHUP | POLLERR)) && !(rev & POLLOUT); i++)
        rev = poll_once(fd, POLLOUT, 10);
    return rev;
}

static void describe_revents(short r, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s%s%s", r & POLLIN ? " POLLIN" : "", r & POLLOUT ? " POLLOUT" : "",
             r & POLLERR ? " POLLERR" : "", r & POLLHUP ? " POLLHUP" : "",
             r == 0 ? " none" : "");
}

/* 1 if select() says fd is writable right now. */
static int select_writable(int fd)
{
    fd_set w;
    FD_ZERO(&w);
    FD_SET(fd, &w);
    struct timeval tv = { 0, 0 };
    return select(fd + 1, NULL, &w, NULL, &tv) == 1 && FD_ISSET(fd, &w);
}

/* Events epoll reports for its only member within ms (0 = none). */
static uint32_t epoll_events(int epfd, int ms)
{
    struct epoll_event ev = { 0 };
    int n;
    do n = epoll_wait(epfd, &ev, 1, ms); while (n < 0 && errno == EINTR);
    return n == 1 ? ev.events : 0;
}

static int epoll_watch(int fd, uint32_t events)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = events, .data.fd = fd };
    if (epfd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(epfd);
        return -1;
    }
    return epfd;
}

/* Reads exactly n bytes (polling, bounded by IO_MS); returns the count read, -1 on error. */
static ssize_t read_n(int fd, char *buf, size_t n)
{
    size_t got = 0;
    long deadline = t_now_ms() + IO_MS;
    while (got < n && t_now_ms() < deadline) {
        if (!(poll_once(fd, POLLIN, (int)(deadline - t_now_ms())) & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t r = read(fd, buf + got, n - got);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* s_server -rev answers each line reversed: proves data flows both ways, encrypted. */
static void check_echo(int fd)
{
    char buf[16] = { 0 };
    T_CHECK(send(fd, "hello\n", 6, MSG_NOSIGNAL) == 6, "send: %s", strerror(errno));
    ssize_t n = read_n(fd, buf, 6);
    T_CHECK(n == 6 && memcmp(buf, "olleh\n", 6) == 0, "read %zd bytes \"%.*s\": %s", n,
          n > 0 ? (int)n : 0, buf, n < 0 ? strerror(errno) : "");
}

/*
 * After a failed connect has reported POLLOUT, a read must fail with ECONNRESET at once: not
 * EOF (that would look like an empty but clean stream), and not EAGAIN (the outcome is known).
 */
static void check_read_reset(int fd)
{
    char buf[64];
    errno = 0;
    ssize_t n = read(fd, buf, sizeof buf);
    int e = errno;
    if (n == -1 && (e == EAGAIN || e == EWOULDBLOCK)) {
        /* Say whether the reset comes later: that tells a race from a missing reset. */
        short rev = poll_once(fd, POLLIN, IO_MS);
        errno = 0;
        ssize_t later = read(fd, buf, sizeof buf);
        t_note("after poll (revents 0x%x) the next read gave %zd (%s)", (unsigned)rev, later,
               later < 0 ? t_errname(errno) : "data or EOF");
    }
    T_CHECK(n == -1 && t_errno_is(ECONNRESET, e),
          "the first read after POLLOUT returned %zd (EOF would hide the failure, EAGAIN "
          "means the outcome is reported before the descriptor is reset)", n);
}

static pid_t rev_server(int *port, const char *leaf)
{
    return t_openssl_server(port, leaf, "-rev", NULL);
}

/* ---- A TCP relay that holds the handshake up ---------------------------------------------
 * The client connects to the relay's listener.  The test accepts (relay_accept), watches the
 * client for a while, then lets bytes through to the real server (relay_forward). */

struct relay {
    int listen_fd, port;
    int client_fd, server_fd;
    int ctl[2];           /* the test writes 'q' to stop the forwarding thread */
    pthread_t thread;
    int forwarding;
};

static int relay_open(struct relay *r)
{
    memset(r, 0, sizeof *r);
    r->client_fd = r->server_fd = r->ctl[0] = r->ctl[1] = -1;
    r->listen_fd = t_tcp_listener(AF_INET, &r->port);
    if (r->listen_fd < 0 || pipe2(r->ctl, O_CLOEXEC) != 0)
        return -1;
    return 0;
}

static int relay_accept(struct relay *r)
{
    if (t_wait_readable(r->listen_fd, IO_MS) != 1)
        return -1;
    r->client_fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    return r->client_fd < 0 ? -1 : 0;
}

static int copy_some(int from, int to)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0)
        return -1;
    return t_send_all(to, buf, (size_t)n);
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    for (;;) {
        struct pollfd p[3] = { { .fd = r->client_fd, .events = POLLIN },
                               { .fd = r->server_fd, .events = POLLIN },
                               { .fd = r->ctl[0], .events = POLLIN } };
        if (poll(p, 3, -1) < 0 && errno != EINTR)
            break;
        if (p[2].revents)
            break;
        if (p[0].revents && copy_some(r->client_fd, r->server_fd) < 0)
            break;
        if (p[1].revents && copy_some(r->server_fd, r->client_fd) < 0)
            break;
    }
    /* Wait for the stop command, so the test owns the descriptors' fate. */
    char c;
    while (read(r->ctl[0], &c, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

static int relay_forward(struct relay *r, int server_port)
{
    r->server_fd = t_tcp_connect(AF_INET, server_port);
    if (r->server_fd < 0 || pthread_create(&r->thread, NULL, relay_main, r) != 0)
        return -1;
    r->forwarding = 1;
    return 0;
}

static void relay_close(struct relay *r)
{
    if (r->forwarding) {
        (void)!write(r->ctl[1], "q", 1);
        pthread_join(r->thread, NULL);
    }
    int fds[] = { r->listen_fd, r->client_fd, r->server_fd, r->ctl[0], r->ctl[1] };
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    memset(r, 0, sizeof *r);
}

/* ---- Cases ------------------------------------------------------------------------------- */

/*
 * The pending connect: EINPROGRESS, EALREADY, not writable for poll/select/epoll while the
 * handshake is held up, nothing but TLS on the wire, then POLLOUT, SO_ERROR 0 and EISCONN.
 */
static void test_pending_connect(void *arg)
{
    const char *how = arg;
    int sport, fd = -1, ep_lt = -1, ep_et = -1;
    struct relay r;
    pid_t srv = rev_server(&sport, "localhost");
    T_REQUIRE(srv > 0, "no s_server");
    T_REQUIRE(relay_open(&r) == 0, "relay: %s", strerror(errno));
    fd = tls_client(how);
    T_REQUIRE(fd >= 0, "TLS socket: %s", strerror(errno));
    T_REQUIRE((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0, "socket is not non-blocking");

    errno = 0;
    int rc = tls_connect_to(fd, r.port);
    int e = errno;
    T_REQUIRE(rc == -1, "connect returned %d, expected -1/EINPROGRESS", rc);
    T_REQUIRE(t_errno_is(EINPROGRESS, e), "first connect (%s)", t_tls_error(fd));
    ep_lt = epoll_watch(fd, EPOLLOUT);
    ep_et = epoll_watch(fd, EPOLLOUT | EPOLLET);
    T_REQUIRE(ep_lt >= 0 && ep_et >= 0, "epoll: %s", strerror(errno));
    T_REQUIRE(relay_accept(&r) == 0, "the client's TCP connection never arrived");

    char what[64];
    short rev = poll_once(fd, POLLOUT, QUIET_MS);
    describe_revents(rev, what, sizeof what);
    T_CHECK(!(rev & POLLOUT), "poll reported POLLOUT before the handshake (revents:%s)", what);
    T_CHECK(!select_writable(fd), "select reported writable before the handshake");
    T_CHECK(epoll_events(ep_lt, 0) == 0, "level-triggered epoll reported an event");
    T_CHECK(epoll_events(ep_et, 0) == 0, "edge-triggered epoll reported an event");
    errno = 0;
    T_CHECK(connect(fd, NULL, 0) == -1 && t_errno_is(EALREADY, errno), "second connect");
    struct sockaddr_in a;
    socklen_t alen = t_loopback4(r.port, &a);
    errno = 0;
    T_CHECK(connect(fd, (struct sockaddr *)&a, alen) == -1 && t_errno_is(EALREADY, errno),
          "third connect, with the address");
    /* A write now must not go out: the buffer is held full, as TCP's is not yet open. */
    errno = 0;
    ssize_t w = send(fd, "plaintext!", 10, MSG_NOSIGNAL | MSG_DONTWAIT);
    T_CHECK(w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK),
          "write during the handshake: returned %zd (%s), expected EAGAIN", w, strerror(errno));
    unsigned char first = 0;
    T_CHECK(recv(r.client_fd, &first, 1, MSG_PEEK | MSG_DONTWAIT) == 1 && first == 0x16,
          "the first byte on the wire is 0x%02x, not a TLS handshake record (0x16)", first);

    T_REQUIRE(relay_forward(&r, sport) == 0, "relay to s_server: %s", strerror(errno));
    long t0 = t_now_ms();
    rev = poll_once(fd, POLLOUT, IO_MS);
    describe_revents(rev, what, sizeof what);
    T_CHECK(rev == POLLOUT, "after the handshake poll gave revents:%s (expected POLLOUT only); %s",
          what, t_tls_error(fd));
    t_note("POLLOUT %ld ms after the relay let the handshake through", t_now_ms() - t0);
    T_CHECK(epoll_events(ep_lt, IO_MS) & EPOLLOUT, "level-triggered epoll: no EPOLLOUT");
    T_CHECK(epoll_events(ep_et, IO_MS) & EPOLLOUT, "edge-triggered epoll: no EPOLLOUT");
    T_CHECK(select_writable(fd), "select: not writable after the handshake");
    int so = so_error(fd);
    T_CHECK(so == 0, "SO_ERROR = %d (%s), expected 0", so, so > 0 ? strerror(so) : "");
    errno = 0;
    T_CHECK(connect(fd, (struct sockaddr *)&a, alen) == -1 && t_errno_is(EISCONN, errno),
          "connect after the handshake");
    check_echo(fd);

    close(fd);
    close(ep_lt);
    close(ep_et);
    relay_close(&r);
    t_stop_peer(srv);
}

/* A handshake that fails: POLLOUT comes, SO_ERROR = EPROTO, TLS_ERROR says why, reads fail. */
static void test_failed_connect(void)
{
    int port;
    pid_t srv = rev_server(&port, "wronghost");
    T_REQUIRE(srv > 0, "no s_server");
    int fd = tls_client("SOCK_NONBLOCK");
    T_REQUIRE(fd >= 0, "TLS socket: %s", strerror(errno));
    errno = 0;
    T_REQUIRE(tls_connect_to(fd, port) == -1 && t_errno_is(EINPROGRESS, errno), "connect");

    char what[64];
    short rev = poll_after_failure(fd);
    describe_revents(rev, what, sizeof what);
    T_CHECK(rev & POLLOUT, "no POLLOUT after the failed handshake (revents:%s)", what);
    t_note("revents after the failure:%s", what);
    int so = so_error(fd);
    T_CHECK(t_errno_is(EPROTO, so), "SO_ERROR");
    T_CHECK(so_error(fd) == 0, "SO_ERROR is reported once, as for TCP");
    const char *why = t_tls_error(fd);
    T_CHECK(strstr(why, "certificate is not valid for localhost") != NULL, "TLS_ERROR: %s", why);
    check_read_reset(fd);
    errno = 0;
    ssize_t n = send(fd, "x", 1, MSG_NOSIGNAL);
    T_CHECK(n == -1, "send after the failure returned %zd", n);
    close(fd);
    t_stop_peer(srv);
}

static void test_accept_eagain(void *arg)
{
    const char *how = arg;
    int port;
    int lfd = t_tls_listener(strcmp(how, "SOCK_NONBLOCK") == 0 ? SOCK_NONBLOCK : 0, 16, &port);
    T_REQUIRE(lfd >= 0, "no listener");
    if (strcmp(how, "fcntl") == 0)
        fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
    errno = 0;
    int c = accept(lfd, NULL, NULL);
    T_CHECK(c == -1 && (errno == EAGAIN || errno == EWOULDBLOCK),
          "accept with nothing waiting returned %d (%s), expected EAGAIN", c, strerror(errno));

    /* A real connection is accepted, and then the listener is empty again. */
    int cl = tls_client("SOCK_NONBLOCK");
    T_REQUIRE(cl >= 0, "client socket: %s", strerror(errno));
    errno = 0;
    T_CHECK(tls_connect_to(cl, port) == -1 && t_errno_is(EINPROGRESS, errno), "connect");
    T_CHECK(t_wait_readable(lfd, IO_MS) == 1, "the listener never became readable");
    c = accept(lfd, NULL, NULL);
    T_CHECK(c >= 0, "accept: %s (%s)", strerror(errno), t_tls_error(lfd));
    errno = 0;
    int c2 = accept(lfd, NULL, NULL);
    T_CHECK(c2 == -1 && (errno == EAGAIN || errno == EWOULDBLOCK),
          "second accept returned %d (%s), expected EAGAIN", c2, strerror(errno));
    if (c >= 0)
        close(c);
    close(cl);
    close(lfd);
}

/*
 * The listener is readable exactly when a handshaken connection waits: not for a TCP client
 * that never starts TLS, nor for one that sends garbage; yes for a real TLS client.
 */
static void test_listener_readable(void)
{
    int port;
    int lfd = t_tls_listener(SOCK_NONBLOCK, 16, &port);
    T_REQUIRE(lfd >= 0, "no listener");
    int silent = t_tcp_connect(AF_INET, port);
    T_REQUIRE(silent >= 0, "TCP connect: %s", strerror(errno));
    T_CHECK(t_wait_readable(lfd, 300) == 0, "readable for a TCP client that never handshakes");

    int garbage = t_tcp_connect(AF_INET, port);
    T_REQUIRE(garbage >= 0, "TCP connect: %s", strerror(errno));
    static const char req[] = "GET / HTTP/1.0\r\n\r\n";
    T_CHECK(send(garbage, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)sizeof req - 1,
          "send: %s", strerror(errno));
    /* The server gives up on it: the connection is closed, and accept() never sees it. */
    char b[256];
    T_CHECK(t_wait_readable(garbage, IO_MS) == 1, "the garbage client was never dropped");
    ssize_t n = recv(garbage, b, sizeof b, MSG_DONTWAIT);
    t_note("the garbage client got %zd bytes back%s", n, n < 0 ? " (error)" : "");
    T_CHECK(t_wait_readable(lfd, 300) == 0, "readable after a failed handshake");
    errno = 0;
    T_CHECK(accept(lfd, NULL, NULL) == -1 && (errno == EAGAIN || errno == EWOULDBLOCK),
          "accept with only failed/unfinished handshakes: %s", strerror(errno));

    int cl = tls_client("SOCK_NONBLOCK");
    T_REQUIRE(cl >= 0, "client socket: %s", strerror(errno));
    errno = 0;
    T_CHECK(tls_connect_to(cl, port) == -1 && t_errno_is(EINPROGRESS, errno), "connect");
    T_CHECK(t_wait_readable(lfd, IO_MS) == 1, "not readable for a real TLS client");
    int c = accept(lfd, NULL, NULL);
    T_CHECK(c >= 0, "accept: %s (%s)", strerror(errno), t_tls_error(lfd));
    T_CHECK(t_wait_readable(lfd, 0) == 0, "still readable after the only connection was taken");
    T_CHECK(poll_once(cl, POLLOUT, IO_MS) & POLLOUT, "client: no POLLOUT");
    T_CHECK(so_error(cl) == 0, "client SO_ERROR: %s", t_tls_error(cl));
    if (c >= 0) {
        char buf[8] = { 0 };
        T_CHECK(send(cl, "ping", 4, MSG_NOSIGNAL) == 4, "client send: %s", strerror(errno));
        T_CHECK(read_n(c, buf, 4) == 4 && memcmp(buf, "ping", 4) == 0, "server read \"%s\"", buf);
        close(c);
    }
    close(cl);
    close(garbage);
    close(silent);
    close(lfd);
}

/* A peer that completes TCP but never says a word of TLS: blocking connect gives ETIMEDOUT. */
static void test_timeout_blocking(void)
{
    int port;
    int silent = t_tcp_listener(AF_INET, &port);   /* the kernel completes TCP; nobody answers */
    T_REQUIRE(silent >= 0, "listener: %s", strerror(errno));
    int fd = tls_client("blocking");
    T_REQUIRE(fd >= 0, "TLS socket: %s", strerror(errno));
    long t0 = t_now_ms();
    errno = 0;
    int rc = tls_connect_to(fd, port);
    int e = errno;
    t_note("connect returned after %ld ms (handshake-timeout %s s)", t_now_ms() - t0,
           HANDSHAKE_TIMEOUT);
    T_CHECK(rc == -1 && t_errno_is(ETIMEDOUT, e), "blocking connect returned %d", rc);
    const char *why = t_tls_error(fd);
    T_CHECK(strstr(why, "timed out") != NULL, "TLS_ERROR: %s", why);
    close(fd);
    close(silent);
}

/* The same without blocking: POLLOUT when the timeout strikes, then SO_ERROR = ETIMEDOUT. */
static void test_timeout_nonblocking(void)
{
    struct relay r;
    T_REQUIRE(relay_open(&r) == 0, "listener: %s", strerror(errno));
    int fd = tls_client("SOCK_NONBLOCK");
    T_REQUIRE(fd >= 0, "TLS socket: %s", strerror(errno));
    errno = 0;
    T_REQUIRE(tls_connect_to(fd, r.port) == -1 && t_errno_is(EINPROGRESS, errno), "connect");
    T_REQUIRE(relay_accept(&r) == 0, "the client's TCP connection never arrived");
    char what[64];
    short rev = poll_after_failure(fd);
    describe_revents(rev, what, sizeof what);
    T_CHECK(rev & POLLOUT, "no POLLOUT after the timeout (revents:%s)", what);
    T_CHECK(t_errno_is(ETIMEDOUT, so_error(fd)), "SO_ERROR");
    const char *why = t_tls_error(fd);
    T_CHECK(strstr(why, "timed out") != NULL, "TLS_ERROR: %s", why);
    check_read_reset(fd);
    close(fd);
    relay_close(&r);
}

/* ---- EINTR ------------------------------------------------------------------------------- */

static volatile sig_atomic_t usr1_seen;
static volatile int pinger_stop;

static void on_usr1(int sig)
{
    (void)sig;
    usr1_seen = 1;
}

/* Sends SIGUSR1 to the main thread every 50 ms until told to stop: one of them lands while
 * connect() waits, whenever that starts. */
static void *pinger(void *arg)
{
    pthread_t target = *(pthread_t *)arg;
    while (!__atomic_load_n(&pinger_stop, __ATOMIC_ACQUIRE)) {
        pthread_kill(target, SIGUSR1);
        poll(NULL, 0, 50);
    }
    return NULL;
}

static void test_connect_eintr(void)
{
    int sport;
    struct relay r;
    pid_t srv = rev_server(&sport, "localhost");
    T_REQUIRE(srv > 0, "no s_server");
    T_REQUIRE(relay_open(&r) == 0, "relay: %s", strerror(errno));
    int fd = tls_client("blocking");
    T_REQUIRE(fd >= 0, "TLS socket: %s", strerror(errno));

    struct sigaction sa = { .sa_handler = on_usr1 }, old;   /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);
    pthread_t self = pthread_self(), th;
    pinger_stop = 0;
    usr1_seen = 0;
    T_REQUIRE(pthread_create(&th, NULL, pinger, &self) == 0, "thread");
    errno = 0;
    int rc = tls_connect_to(fd, r.port);   /* held up by the relay: only a signal ends it */
    int e = errno;
    __atomic_store_n(&pinger_stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    T_CHECK(rc == -1 && t_errno_is(EINTR, e), "blocking connect returned %d (%s)", rc,
          t_tls_error(fd));
    T_CHECK(usr1_seen, "SIGUSR1 was never handled");

    errno = 0;
    T_CHECK(connect(fd, NULL, 0) == -1 && t_errno_is(EALREADY, errno),
          "connect while the handshake is still held up");
    T_REQUIRE(relay_accept(&r) == 0, "the client's TCP connection never arrived");
    T_REQUIRE(relay_forward(&r, sport) == 0, "relay to s_server: %s", strerror(errno));
    T_CHECK(poll_once(fd, POLLOUT, IO_MS) & POLLOUT, "no POLLOUT after the handshake");
    T_CHECK(so_error(fd) == 0, "SO_ERROR after the handshake (%s)", t_tls_error(fd));
    errno = 0;
    rc = tls_connect_to(fd, r.port);
    T_CHECK(rc == -1 && t_errno_is(EISCONN, errno), "connect after the handshake");
    check_echo(fd);
    sigaction(SIGUSR1, &old, NULL);
    close(fd);
    relay_close(&r);
    t_stop_peer(srv);
}

/* ---- Main -------------------------------------------------------------------------------- */

int main(void)
{
    /* Before the first TLS socket: the policy is read once per process. */
    t_use_policy_text("ssa.conf", "default = { trust-file = \"%s\"; handshake-timeout = %s; };\n",
                      t_pki("ca.pem"), HANDSHAKE_TIMEOUT);
    t_run_arg("pending connect (SOCK_NONBLOCK): EINPROGRESS, EALREADY, no POLLOUT, then EISCONN",
              test_pending_connect, "SOCK_NONBLOCK");
    t_run_arg("pending connect (fcntl O_NONBLOCK): EINPROGRESS, EALREADY, no POLLOUT, then EISCONN",
              test_pending_connect, "fcntl");
    t_run("failed handshake: POLLOUT, SO_ERROR EPROTO, TLS_ERROR, read ECONNRESET",
          test_failed_connect);
    t_run_arg("non-blocking accept (SOCK_NONBLOCK): EAGAIN when nothing waits",
              test_accept_eagain, "SOCK_NONBLOCK");
    t_run_arg("non-blocking accept (fcntl O_NONBLOCK): EAGAIN when nothing waits",
              test_accept_eagain, "fcntl");
    t_run("listener readable only for handshaken connections", test_listener_readable);
    t_run("blocking connect to a silent peer: ETIMEDOUT", test_timeout_blocking);
    t_run("non-blocking connect to a silent peer: POLLOUT, SO_ERROR ETIMEDOUT",
          test_timeout_nonblocking);
    t_run("blocking connect interrupted by a signal: EINTR, then EALREADY, EISCONN",
          test_connect_eintr);
    return t_done();
}
