/*
 * test_eof.c -- end of stream (SPEC section 3): EOF only after close_notify, ECONNRESET for a
 * connection cut without it (after the data already received), half-close with
 * shutdown(SHUT_WR), and close() or exit() never losing data already written.
 *
 * Cuts are made by a plain TCP relay written here: it forwards bytes between the TLS client and
 * a real openssl s_server and, when told, closes the client's side (FIN, or RST with SO_LINGER
 * 0) without any TLS close, alters a record, or stops reading.  Servers on the SSA side run in
 * a thread of this process, or in the parent of a forked client.  Until close(), a descriptor
 * whose connection ended stays a TLS socket (SO_PROTOCOL, TLS_ERROR).  The library's own writes
 * must never raise SIGPIPE.
 *
 * The policy is pinned to a file in the temp dir (trust = the test CA).
 */
#define _GNU_SOURCE
#include "tutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ssa/in_tls.h>

#define IO_MS 10000                    /* bound on every wait for the peer */
#define BIG_BYTES (64u * 1024 * 1024)  /* the close()/exit() flush cases */
#define CUT_LINES 1000                 /* "0123456789\n" lines before a cut */


/* ---- Helpers ---------------------------------------------------------------------------- */

/* A connected blocking TLS client for "localhost" on 127.0.0.1:port, or -1 (errno set);
 * max_version = TLS_1_2 or TLS_1_3 caps the version, sndbuf sets SO_SNDBUF; 0 = default. */
static int tls_client_opts(int port, int max_version, int sndbuf)
{
    struct sockaddr_in a;
    socklen_t len = t_loopback4(port, &a);
    int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost", 10) != 0 ||
        (sndbuf && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) != 0) ||
        (max_version && setsockopt(fd, IPPROTO_TLS, TLS_VERSION_MAX, &max_version,
                                   sizeof max_version) != 0) ||
        connect(fd, (struct sockaddr *)&a, len) != 0) {
        int e = errno;
        t_note("connect to port %d: %s (%s)", port, strerror(e), t_tls_error(fd));
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int tls_client_version(int port, int max_version)
{
    return tls_client_opts(port, max_version, 0);
}

/* SO_SNDBUF acts on the application's end: a large one queues more between the application
 * and the engine. */
static int tls_client_sndbuf(int port, int sndbuf)
{
    return tls_client_opts(port, 0, sndbuf);
}

static int tls_client(int port)
{
    return tls_client_opts(port, 0, 0);
}

/* accept() bounded by IO_MS: -1 with errno ETIMEDOUT if no connection came. */
static int accept_within(int lfd)
{
    if (t_wait_readable(lfd, IO_MS) != 1)
        return errno = ETIMEDOUT, -1;
    return accept(lfd, NULL, NULL);
}

/* One read bounded by IO_MS: bytes, 0 at EOF, -1 with errno (ETIMEDOUT if nothing came). */
static ssize_t read_within(int fd, void *buf, size_t size)
{
    for (;;) {
        if (t_wait_readable(fd, IO_MS) != 1)
            return errno = ETIMEDOUT, -1;
        ssize_t n = read(fd, buf, size);
        if (n >= 0 || (errno != EAGAIN && errno != EINTR))
            return n;
    }
}

/* Reads until EOF or error into buf (at most size); *end = 0 for EOF, else the errno. */
static size_t read_to_end(int fd, char *buf, size_t size, int *end)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = read_within(fd, buf + got, size - got);
        if (n <= 0) {
            *end = n == 0 ? 0 : errno;
            return got;
        }
        got += (size_t)n;
        if (got == size) {
            *end = ENOBUFS;
            return got;
        }
    }
}

/* ---- The 64 MiB pattern and its checksum (FNV-1a, 64 bit) --------------------------------- */

static unsigned char pattern_byte(uint64_t i)
{
    uint64_t x = i * 0x9e3779b97f4a7c15ULL;
    return (unsigned char)((x >> 56) ^ (i >> 20));
}

static void pattern_fill(unsigned char *buf, size_t len, uint64_t offset)
{
    for (size_t j = 0; j < len; j++)
        buf[j] = pattern_byte(offset + j);
}

#define FNV_BASIS 0xcbf29ce484222325ULL

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t pattern_checksum(size_t total)
{
    static unsigned char buf[65536];
    uint64_t h = FNV_BASIS;
    for (size_t off = 0; off < total; off += sizeof buf) {
        size_t n = total - off < sizeof buf ? total - off : sizeof buf;
        pattern_fill(buf, n, off);
        h = fnv1a(h, buf, n);
    }
    return h;
}

/* Writes `total` bytes of the pattern; 0 or -1 (errno). */
static int write_pattern(int fd, size_t total)
{
    static __thread unsigned char buf[65536];
    for (size_t off = 0; off < total; off += sizeof buf) {
        size_t n = total - off < sizeof buf ? total - off : sizeof buf;
        pattern_fill(buf, n, off);
        if (t_send_all(fd, buf, n) != 0)
            return -1;
    }
    return 0;
}

/* What a server read from one connection until it ended. */
struct sink {
    int lfd;
    size_t bytes;
    uint64_t hash;
    int end;         /* 0 = EOF, else errno of the read that ended it */
};

static void sink_read(struct sink *k)
{
    static __thread unsigned char buf[65536];
    k->hash = FNV_BASIS;
    k->bytes = 0;
    int fd = accept_within(k->lfd);
    if (fd < 0) {
        k->end = errno;
        return;
    }
    for (;;) {
        ssize_t n = read_within(fd, buf, sizeof buf);
        if (n <= 0) {
            k->end = n == 0 ? 0 : errno;
            break;
        }
        k->hash = fnv1a(k->hash, buf, (size_t)n);
        k->bytes += (size_t)n;
    }
    close(fd);
}

static void *sink_thread(void *arg)
{
    sink_read(arg);
    return NULL;
}

static void check_sink(const struct sink *k, size_t total)
{
    T_CHECK(k->bytes == total, "server got %zu of %zu bytes", k->bytes, total);
    T_CHECK(k->hash == pattern_checksum(total), "checksum differs: data corrupted");
    T_CHECK(k->end == 0, "the stream ended with %s, not EOF (close_notify lost?)",
          t_errname(k->end));
}

/*
 * Until close(), the descriptor stays a TLS socket whatever happened to the connection:
 * SO_PROTOCOL answers IPPROTO_TLS, and after a failure TLS_ERROR says why (SPEC section 3).
 * The wait gives the engine time to finish with the connection in the background; it is not
 * waiting for anything to happen.
 */
static void check_still_tls(int fd, int failed)
{
    poll(NULL, 0, 200);
    int proto = -1;
    socklen_t len = sizeof proto;
    int rc = getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len);
    T_CHECK(rc == 0 && proto == IPPROTO_TLS, "SO_PROTOCOL after the end: rc %d, %d", rc, proto);
    char why[512] = "";
    len = sizeof why;
    errno = 0;
    rc = getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len);
    T_CHECK(rc == 0, "TLS_ERROR after the end: %s", strerror(errno));
    if (failed)
        T_CHECK(rc == 0 && why[0] != '\0', "TLS_ERROR is empty after the failure");
    if (rc == 0 && why[0])
        t_note("TLS_ERROR: %s", why);
}

/* ---- A TCP relay we can cut --------------------------------------------------------------- */

struct relay {
    int listen_fd, port;
    int client_fd, server_fd;
    int ctl[2];      /* 'c' cut with FIN, 'r' cut with RST, 'q' stop; and, answered on ack:
                        'x' corrupt, 'f' freeze, 'u' unfreeze */
    int ack[2];
    pthread_t thread;
    int running;
    int corrupt;     /* flip a bit in the next bytes from the server (relay thread only) */
    int frozen;      /* read nothing from the client: its TCP send buffer fills up */
};

static int copy_some(int from, int to, int *corrupt)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0)
        return -1;
    if (corrupt && *corrupt) {
        buf[n - 1] ^= 0x01;   /* the last byte of a record is part of its AEAD tag */
        *corrupt = 0;
    }
    return t_send_all(to, buf, (size_t)n);
}

/* Closes the client's side of the relay as a crashing peer would: no TLS close at all. */
static void cut(struct relay *r, int rst)
{
    if (rst) {
        struct linger l = { .l_onoff = 1, .l_linger = 0 };
        setsockopt(r->client_fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(r->client_fd);
    close(r->server_fd);
    r->client_fd = r->server_fd = -1;
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    char cmd = 'q';
    for (;;) {
        struct pollfd p[3] = { { .fd = r->client_fd, .events = r->frozen ? 0 : POLLIN },
                               { .fd = r->server_fd, .events = POLLIN },
                               { .fd = r->ctl[0], .events = POLLIN } };
        if (poll(p, 3, -1) < 0 && errno != EINTR)
            break;
        if (p[2].revents) {
            if (read(r->ctl[0], &cmd, 1) == 1 && strchr("xfu", cmd)) {
                r->corrupt |= cmd == 'x';
                r->frozen = cmd == 'f' ? 1 : cmd == 'u' ? 0 : r->frozen;
                (void)!write(r->ack[1], "k", 1);
                continue;
            }
            if (cmd == 'c' || cmd == 'r')
                cut(r, cmd == 'r');
            return NULL;
        }
        if ((p[0].revents & ~POLLOUT) && copy_some(r->client_fd, r->server_fd, NULL) < 0)
            break;
        if (p[1].revents && copy_some(r->server_fd, r->client_fd, &r->corrupt) < 0)
            break;
    }
    while (read(r->ctl[0], &cmd, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* Listens; the forwarding thread starts once the client's TCP connection is accepted. */
static int relay_open(struct relay *r)
{
    memset(r, 0, sizeof *r);
    r->client_fd = r->server_fd = r->ctl[0] = r->ctl[1] = r->ack[0] = r->ack[1] = -1;
    r->listen_fd = t_tcp_listener(AF_INET, &r->port);
    return r->listen_fd < 0 || pipe2(r->ctl, O_CLOEXEC) != 0 || pipe2(r->ack, O_CLOEXEC) != 0
               ? -1 : 0;
}

static void *relay_accept_main(void *arg)
{
    struct relay *r = arg;
    if (t_wait_readable(r->listen_fd, IO_MS) != 1)
        return NULL;
    r->client_fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (r->client_fd < 0)
        return NULL;
    return relay_main(r);
}

static int relay_start(struct relay *r, int server_port)
{
    r->server_fd = t_tcp_connect(AF_INET, server_port);
    if (r->server_fd < 0 || pthread_create(&r->thread, NULL, relay_accept_main, r) != 0)
        return -1;
    r->running = 1;
    return 0;
}

static void relay_command(struct relay *r, char cmd)
{
    if (!r->running)
        return;
    (void)!write(r->ctl[1], &cmd, 1);
    pthread_join(r->thread, NULL);
    r->running = 0;
}

/* 'x': the next bytes from the server reach the client with one bit flipped; 'f': stop
 * reading from the client; 'u': read again.  Returns once the relay has taken it, or -1. */
static int relay_set(struct relay *r, char cmd)
{
    char k;
    (void)!write(r->ctl[1], &cmd, 1);
    return t_wait_readable(r->ack[0], IO_MS) == 1 && read(r->ack[0], &k, 1) == 1 ? 0 : -1;
}

static void relay_close(struct relay *r)
{
    relay_command(r, 'q');
    int fds[] = { r->listen_fd, r->client_fd, r->server_fd, r->ctl[0], r->ctl[1], r->ack[0],
                  r->ack[1] };
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    memset(r, 0, sizeof *r);
}

/* ---- Cases: EOF after close_notify -------------------------------------------------------- */

/* External servers that end a response with close_notify: the client reads it all, then 0. */
static void test_peer_close_notify(void *arg)
{
    const char *peer = arg;
    int port;
    pid_t srv = strcmp(peer, "openssl") == 0 ? t_openssl_server(&port, "localhost", "-www", NULL)
                                             : t_gnutls_server(&port, "localhost", "--http", NULL);
    T_REQUIRE(srv > 0, "no %s server", peer);
    int fd = tls_client(port);
    T_REQUIRE(fd >= 0, "connect: %s", strerror(errno));
    static const char req[] = "GET / HTTP/1.0\r\n\r\n";
    T_CHECK(t_send_all(fd, req, sizeof req - 1) == 0, "send: %s", strerror(errno));
    static char page[1 << 20];
    int end = -1;
    size_t n = read_to_end(fd, page, sizeof page - 1, &end);
    page[n] = '\0';
    T_CHECK(end == 0, "after %zu bytes the stream ended with %s, expected EOF", n,
          t_errname(end));
    T_CHECK(strncmp(page, "HTTP/1.0 200", 12) == 0, "response starts \"%.40s\"", page);
    T_CHECK(strstr(page, "</BODY></HTML>") != NULL, "the page's end is missing (%zu bytes)", n);
    check_still_tls(fd, 0);
    close(fd);
    t_stop_peer(srv);
}

/* An SSA server writes 1 MiB and closes: the SSA client reads all of it, then EOF. */
struct writer {
    int lfd;
    size_t total;
    int rc;
};

static void *writer_thread(void *arg)
{
    struct writer *w = arg;
    int fd = accept_within(w->lfd);
    w->rc = fd < 0 ? -1 : write_pattern(fd, w->total);
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void test_ssa_close_notify(void)
{
    int port;
    struct writer w = { .total = 1024 * 1024 };
    w.lfd = t_tls_listener(0, 16, &port);
    T_REQUIRE(w.lfd >= 0, "no listener");
    pthread_t th;
    T_REQUIRE(pthread_create(&th, NULL, writer_thread, &w) == 0, "thread");
    int fd = tls_client(port);
    T_CHECK(fd >= 0, "connect: %s", strerror(errno));
    if (fd >= 0) {
        static unsigned char buf[65536];
        uint64_t h = FNV_BASIS;
        size_t got = 0;
        ssize_t n;
        while ((n = read_within(fd, buf, sizeof buf)) > 0) {
            h = fnv1a(h, buf, (size_t)n);
            got += (size_t)n;
        }
        T_CHECK(n == 0, "after %zu bytes the read gave %s, expected EOF", got, t_errname(errno));
        T_CHECK(got == w.total && h == pattern_checksum(w.total), "got %zu of %zu bytes%s", got,
              w.total, got == w.total ? ", checksum differs" : "");
        T_CHECK(read(fd, buf, 1) == 0, "EOF is not sticky: %s", strerror(errno));
        close(fd);
    }
    pthread_join(th, NULL);
    T_CHECK(w.rc == 0, "server write failed");
    close(w.lfd);
}

/* ---- Cases: a cut without close_notify ---------------------------------------------------- */

/* Waits until fd has `want` bytes queued (they have all been decrypted and delivered). */
static int wait_queued(int fd, int want)
{
    int q = 0;
    for (long deadline = t_now_ms() + IO_MS; t_now_ms() < deadline; poll(NULL, 0, 5))
        if (ioctl(fd, FIONREAD, &q) == 0 && q >= want)
            return q;
    return q;
}

static void test_cut(void *arg)
{
    int rst = strcmp(arg, "RST") == 0;
    int sport;
    struct relay r;
    pid_t srv = t_openssl_server(&sport, "localhost", NULL);   /* sends what it reads on stdin */
    T_REQUIRE(srv > 0, "no s_server");
    T_REQUIRE(relay_open(&r) == 0 && relay_start(&r, sport) == 0, "relay: %s", strerror(errno));
    int fd = tls_client(r.port);
    T_REQUIRE(fd >= 0, "connect through the relay: %s", strerror(errno));

    /* Digits and newlines only: s_server takes a chunk starting with a letter as a command. */
    static char data[CUT_LINES * 11 + 1];
    for (int i = 0; i < CUT_LINES; i++)
        memcpy(data + i * 11, "0123456789\n", 11);
    int want = CUT_LINES * 11;
    T_REQUIRE(write(t_peer_stdin(srv), data, (size_t)want) == want, "s_server stdin: %s",
            strerror(errno));
    int queued = wait_queued(fd, want);
    T_REQUIRE(queued == want, "only %d of %d bytes arrived before the cut", queued, want);

    relay_command(&r, rst ? 'r' : 'c');
    static char got[sizeof data + 4096];
    int end = -1;
    size_t n = read_to_end(fd, got, sizeof got, &end);
    T_CHECK(n == (size_t)want && memcmp(got, data, (size_t)want) == 0,
          "read %zu of the %d bytes received before the cut", n, want);
    T_CHECK(end != 0, "a connection cut without close_notify read as a clean EOF");
    T_CHECK(t_errno_is(ECONNRESET, end), "error after the data");
    check_still_tls(fd, 1);
    close(fd);
    relay_close(&r);
    t_stop_peer(srv);
}

/* A record altered on the way: the application gets ECONNRESET, never the altered bytes, never
 * EOF. */
static void test_corrupt_record(void)
{
    int sport;
    struct relay r;
    pid_t srv = t_openssl_server(&sport, "localhost", NULL);
    T_REQUIRE(srv > 0, "no s_server");
    T_REQUIRE(relay_open(&r) == 0 && relay_start(&r, sport) == 0, "relay: %s", strerror(errno));
    int fd = tls_client(r.port);
    T_REQUIRE(fd >= 0, "connect through the relay: %s", strerror(errno));
    /* Whatever the server sends next (the data, or a TLS 1.3 ticket before it) is altered. */
    T_REQUIRE(relay_set(&r, 'x') == 0, "the relay did not arm");
    T_REQUIRE(write(t_peer_stdin(srv), "0123456789\n", 11) == 11, "s_server stdin: %s",
            strerror(errno));
    char got[256];
    int end = -1;
    size_t n = read_to_end(fd, got, sizeof got, &end);
    T_CHECK(n == 0, "read %zu bytes of an altered record: \"%.*s\"", n, (int)n, got);
    T_CHECK(end != 0, "an altered record read as a clean EOF");
    T_CHECK(t_errno_is(ECONNRESET, end), "error for an altered record");
    check_still_tls(fd, 1);
    close(fd);
    relay_close(&r);
    t_stop_peer(srv);
}

/* ---- Cases: half-close -------------------------------------------------------------------- */

struct half_server {
    int lfd;
    char request[64];
    size_t request_len;
    int request_end;   /* how the request ended: 0 = EOF */
    int reply_rc;
};

static const char REPLY[] = "reply written after your close_notify";

static void *half_server_main(void *arg)
{
    struct half_server *h = arg;
    int fd = accept_within(h->lfd);
    if (fd < 0) {
        h->request_end = errno;
        return NULL;
    }
    h->request_len = read_to_end(fd, h->request, sizeof h->request - 1, &h->request_end);
    h->reply_rc = t_send_all(fd, REPLY, sizeof REPLY - 1);
    close(fd);
    return NULL;
}

static void test_shutdown_wr(void *arg)
{
    int version = *(int *)arg;
    int port;
    struct half_server h = { .request_end = -1, .reply_rc = -1 };
    h.lfd = t_tls_listener(0, 16, &port);
    T_REQUIRE(h.lfd >= 0, "no listener");
    pthread_t th;
    T_REQUIRE(pthread_create(&th, NULL, half_server_main, &h) == 0, "thread");
    int fd = tls_client_version(port, version);
    T_CHECK(fd >= 0, "connect: %s", strerror(errno));
    if (fd >= 0) {
        int v = 0;
        socklen_t vlen = sizeof v;
        T_CHECK(getsockopt(fd, IPPROTO_TLS, TLS_VERSION_CONN, &v, &vlen) == 0 && v == version,
              "negotiated version 0x%x, expected 0x%x", v, version);
        T_CHECK(t_send_all(fd, "request", 7) == 0, "send: %s", strerror(errno));
        T_CHECK(shutdown(fd, SHUT_WR) == 0, "shutdown(SHUT_WR): %s (%s)", strerror(errno),
              t_tls_error(fd));
        errno = 0;
        T_CHECK(send(fd, "x", 1, MSG_NOSIGNAL) == -1 && t_errno_is(EPIPE, errno),
              "send after SHUT_WR");
        char buf[128];
        int end = -1;
        size_t n = read_to_end(fd, buf, sizeof buf - 1, &end);
        buf[n] = '\0';
        T_CHECK(n == sizeof REPLY - 1 && memcmp(buf, REPLY, n) == 0,
              "the client read \"%s\" after its SHUT_WR", buf);
        T_CHECK(end == 0, "the reply ended with %s, not EOF", t_errname(end));
        close(fd);
    }
    pthread_join(th, NULL);
    T_CHECK(h.request_len == 7 && memcmp(h.request, "request", 7) == 0,
          "the server read %zu bytes", h.request_len);
    T_CHECK(h.request_end == 0, "the server saw %s instead of EOF after the request",
          t_errname(h.request_end));
    T_CHECK(h.reply_rc == 0, "the server could not write after reading EOF");
    close(h.lfd);
}

/*
 * Writes the pattern without blocking until the way to the peer is full: EAGAIN, and no
 * POLLOUT for 200 ms.  Returns the number of bytes written, or -1.
 */
static long write_until_stalled(int fd)
{
    static unsigned char buf[65536];
    long total = 0;
    for (;;) {
        pattern_fill(buf, sizeof buf, (uint64_t)total);
        ssize_t w = send(fd, buf, sizeof buf, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            total += w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        if (poll(&p, 1, 200) == 0)
            return total;
    }
}

/* ---- Cases: no SIGPIPE from the library ---------------------------------------------------- */

static volatile sig_atomic_t sigpipes, sigpipes_elsewhere;
static pid_t case_tid;

static void count_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
    if (gettid() != case_tid)
        sigpipes_elsewhere++;
}

/*
 * The client queues megabytes and closes; the server closes without reading, so its side
 * resets the connection while the client's engine is still sending.  The application itself
 * never writes to the dead connection (and uses MSG_NOSIGNAL anyway): a SIGPIPE can only come
 * from the library's own writes, and would kill a program that keeps the default action.
 * Each round waits 300 ms after the closes: the window in which the engine runs into the reset.
 */
static void test_no_sigpipe(void)
{
    int port;
    int lfd = t_tls_listener(0, 16, &port);
    T_REQUIRE(lfd >= 0, "no listener");
    struct sigaction sa = { .sa_handler = count_sigpipe }, old;
    sigemptyset(&sa.sa_mask);
    case_tid = gettid();
    sigpipes = sigpipes_elsewhere = 0;
    sigaction(SIGPIPE, &sa, &old);
    int rounds = 0;
    for (; rounds < 16 && sigpipes == 0; rounds++) {
        int c = tls_client(port);
        int s = c >= 0 ? accept_within(lfd) : -1;
        T_CHECK(c >= 0 && s >= 0, "round %d: no connection: %s", rounds, strerror(errno));
        if (c >= 0 && s >= 0) {
            fcntl(c, F_SETFL, O_NONBLOCK);
            T_CHECK(write_until_stalled(c) > 0, "round %d: nothing written", rounds);
        }
        if (c >= 0)
            close(c);
        if (s >= 0)
            close(s);
        poll(NULL, 0, 300);
    }
    sigaction(SIGPIPE, &old, NULL);
    T_CHECK(sigpipes == 0, "SIGPIPE raised %d time(s), %d of them in a library thread, after %d "
          "round(s): the engine writes without MSG_NOSIGNAL", (int)sigpipes,
          (int)sigpipes_elsewhere, rounds);
    close(lfd);
}

/* ---- Cases: close() and exit() flush ------------------------------------------------------ */

/* 64 MiB written, then close() at once: the server gets every byte, then close_notify. */
static void test_close_flushes(void)
{
    int port;
    struct sink k = { .end = -1 };
    k.lfd = t_tls_listener(0, 16, &port);
    T_REQUIRE(k.lfd >= 0, "no listener");
    pthread_t th;
    T_REQUIRE(pthread_create(&th, NULL, sink_thread, &k) == 0, "thread");
    int fd = tls_client(port);
    T_CHECK(fd >= 0, "connect: %s", strerror(errno));
    if (fd >= 0) {
        T_CHECK(write_pattern(fd, BIG_BYTES) == 0, "write: %s", strerror(errno));
        T_CHECK(close(fd) == 0, "close: %s", strerror(errno));
    }
    pthread_join(th, NULL);
    check_sink(&k, BIG_BYTES);
    close(k.lfd);
}

/* The client is a child that writes 64 MiB and calls exit(0) without close(): the library's
 * exit handler must still deliver everything and send close_notify. */
/* Waits up to IO_MS for the child to end; kills it if it does not.  Returns its status. */
/* Where a child that will not end is waiting: each thread's wait channel and kernel stack. */
static void note_stuck_child(pid_t pid)
{
    char path[320], line[256];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *tasks = opendir(path);
    struct dirent *t;
    while (tasks != NULL && (t = readdir(tasks)) != NULL) {
        if (t->d_name[0] == '.')
            continue;
        const char *parts[] = { "comm", "wchan", "stack" };
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            snprintf(path, sizeof path, "/proc/%d/task/%s/%s", (int)pid, t->d_name, parts[i]);
            FILE *f = fopen(path, "r");
            while (f != NULL && fgets(line, sizeof line, f) != NULL) {
                line[strcspn(line, "\n")] = '\0';
                t_note("child %d thread %s %s: %s", (int)pid, t->d_name, parts[i], line);
            }
            if (f != NULL)
                fclose(f);
        }
    }
    if (tasks != NULL)
        closedir(tasks);
}

static int reap_child(pid_t pid, int *exited)
{
    int st = 0;
    long deadline = t_now_ms() + IO_MS;
    pid_t w;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && t_now_ms() < deadline)
        poll(NULL, 0, 10);
    if (w == 0) {
        note_stuck_child(pid);
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    *exited = w == pid && WIFEXITED(st);
    return st;
}

static void test_exit_flushes(void)
{
    int port;
    struct sink k = { .end = -1 };
    k.lfd = t_tls_listener(0, 16, &port);
    T_REQUIRE(k.lfd >= 0, "no listener");
    fflush(stdout);
    pid_t pid = fork();
    T_REQUIRE(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = tls_client(port);
        if (fd < 0)
            _exit(2);
        if (write_pattern(fd, BIG_BYTES) != 0)
            _exit(3);
        exit(0);   /* no close(): atexit handlers run, the descriptor is still open */
    }
    sink_read(&k);
    int exited, st = reap_child(pid, &exited);
    T_CHECK(exited && WEXITSTATUS(st) == 0,
          "child status 0x%x (2 = connect failed, 3 = write failed)", (unsigned)st);
    check_sink(&k, BIG_BYTES);
    close(k.lfd);
}

/*
 * exit() while every buffer on the way is full: the exit flush must wait for room, not drop
 * what is still queued between the application and the engine.  The client is a child that
 * talks to the SSA server through a relay; once connected, the relay stops reading from it,
 * so its TCP send buffer fills.  With a large SO_SNDBUF on its descriptor (which acts on the
 * application's end), megabytes more wait between it and the engine.  The child writes until
 * nothing more goes in, then calls exit(0).  200 ms later the relay reads again and the server must get it all.
 * (Nothing can be observed to wait for: a correct library passes however long the pause, a
 * faulty one is caught when its exit handler runs within the pause.)
 */
static void stalled_child(int port, int to_parent, int from_parent)
{
    int fd = tls_client_sndbuf(port, 4 << 20);
    char go;
    long total = -2;
    if (fd >= 0 && write(to_parent, "c", 1) == 1 && t_wait_readable(from_parent, IO_MS) == 1 &&
        read(from_parent, &go, 1) == 1)
        total = write_until_stalled(fd);
    if (write(to_parent, &total, sizeof total) != sizeof total || total < 0)
        _exit(3);
    exit(0);   /* the descriptor is still open, its data not yet sent */
}

static void test_exit_flushes_stalled(void)
{
    int port, up[2], down[2];
    struct relay r;
    struct sink k = { .end = -1 };
    k.lfd = t_tls_listener(0, 16, &port);
    T_REQUIRE(k.lfd >= 0, "no listener");
    T_REQUIRE(relay_open(&r) == 0 && relay_start(&r, port) == 0, "relay: %s", strerror(errno));
    T_REQUIRE(pipe2(up, O_CLOEXEC) == 0 && pipe2(down, O_CLOEXEC) == 0, "pipe: %s",
            strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    T_REQUIRE(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0)
        stalled_child(r.port, up[1], down[0]);
    close(up[1]);
    close(down[0]);
    char c;
    long total = -1;
    int started = t_wait_readable(up[0], IO_MS) == 1 && read(up[0], &c, 1) == 1;
    T_CHECK(started, "the child never connected");
    T_CHECK(!started || relay_set(&r, 'f') == 0, "the relay did not freeze");
    T_CHECK(!started || write(down[1], "g", 1) == 1, "pipe: %s", strerror(errno));
    T_CHECK(!started || (t_wait_readable(up[0], IO_MS) == 1 &&
                       read(up[0], &total, sizeof total) == sizeof total && total > 0),
          "the child wrote nothing (%ld)", total);
    t_note("%ld bytes written when the child called exit()", total);
    poll(NULL, 0, 200);
    T_CHECK(relay_set(&r, 'u') == 0, "the relay did not thaw");
    if (total > 0)
        sink_read(&k);
    int exited, st = total > 0 ? reap_child(pid, &exited) : (kill(pid, SIGKILL),
                                                            reap_child(pid, &exited));
    T_CHECK(exited && WEXITSTATUS(st) == 0, "child status 0x%x", (unsigned)st);
    if (total > 0)
        check_sink(&k, (size_t)total);
    close(up[0]);
    close(down[1]);
    relay_close(&r);
    close(k.lfd);
}

/* ---- Main -------------------------------------------------------------------------------- */

int main(void)
{
    t_use_policy_text("ssa.conf", "default = { trust-file = \"%s\"; };\n", t_pki("ca.pem"));
    t_run_arg("openssl s_server -www close_notify: all data, then EOF", test_peer_close_notify,
              "openssl");
    if (t_have("gnutls-serv"))
        t_run_arg("gnutls-serv --http close_notify: all data, then EOF", test_peer_close_notify,
                  "gnutls");
    else
        t_skip("gnutls-serv --http close_notify: all data, then EOF", "no gnutls-serv");
    t_run("SSA server close(): 1 MiB, then EOF", test_ssa_close_notify);
    t_run_arg("TCP cut (FIN) without close_notify: data, then ECONNRESET", test_cut, "FIN");
    t_run_arg("TCP cut (RST) without close_notify: data, then ECONNRESET", test_cut, "RST");
    t_run("a record altered on the way: ECONNRESET, no data, no EOF", test_corrupt_record);
    static int tls12 = TLS_1_2, tls13 = TLS_1_3;
    t_run_arg("shutdown(SHUT_WR) in TLS 1.3: close_notify + FIN, still reading the reply",
              test_shutdown_wr, &tls13);
    t_run_arg("shutdown(SHUT_WR) in TLS 1.2: close_notify + FIN, still reading the reply",
              test_shutdown_wr, &tls12);
    t_run("a peer resetting while the engine still sends raises no SIGPIPE", test_no_sigpipe);
    t_run("close() right after writing 64 MiB loses nothing", test_close_flushes);
    t_run("exit() without close() after writing 64 MiB loses nothing", test_exit_flushes);
    t_run("exit() with every buffer full loses nothing", test_exit_flushes_stalled);
    return t_done();
}
