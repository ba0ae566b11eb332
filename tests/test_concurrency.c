/*
 * test_concurrency.c -- many TLS sockets at once, processes sharing them, descriptor numbers
 * reused (SPEC section 3: "any number of threads may use different TLS sockets at once";
 * fork(): "both processes may keep using inherited TLS fds").
 *
 * Servers are SSA sockets of this process (an epoll echo loop in a thread) or of forked
 * children; clients are SSA sockets too, except against openssl s_server.  Each TLS socket
 * costs three descriptors of the process in the in-process backend (the program's one, the
 * library's two above its range), so main() raises RLIMIT_NOFILE first.
 *
 * The policy is pinned to a file in the temp dir (trust = the test CA, linger-timeout 2 s).
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
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#include <ssa/in_tls.h>

#define IO_MS 5000       /* bound on each wait for a peer */
#define CHILD_MS 10000   /* bound on a forked child's whole work */
#define THREADS 16
#define CONNS_PER_THREAD 50
#define MSG_BYTES 1000
#define CHILDREN 3
#define ROUNDS 4

/*
 * T_CHECK/T_REQUIRE with the condition evaluated first: the arguments of a function call are
 * evaluated in no fixed order, so in T_CHECK(send(...) == 0, "%s", strerror(errno)) the message
 * could describe an older errno.  Same output as T_CHECK/T_REQUIRE; in a child forked by
 * in_child(), failures go to the parent instead, which reports them.
 */
#define CHECK(cond, ...)                                                \
    do {                                                                \
        int ok_ = (cond) ? 1 : 0;                                       \
        check_(ok_, __FILE__, __LINE__, #cond, __VA_ARGS__);            \
    } while (0)
#define REQUIRE(cond, ...)                                              \
    do {                                                                \
        int ok_ = (cond) ? 1 : 0;                                       \
        if (!check_(ok_, __FILE__, __LINE__, #cond, __VA_ARGS__))       \
            end_case_();                                                \
    } while (0)

static int child_report = -1;   /* in a child forked by in_child(): the pipe to the parent */

static int check_(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int check_(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
{
    if (ok)
        return 1;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (child_report < 0)
        return t_check_(0, file, line, expr, "%s", msg);
    char out[1400];
    int n = snprintf(out, sizeof out, "%s:%d: %s: %s (in the child)\n", file, line, expr, msg);
    if (write(child_report, out, (size_t)n) != n)
        _exit(2);
    return 0;
}

static void end_case_(void)
{
    if (child_report >= 0)
        _exit(1);
    t_end_case_();
}


/* Waits up to ms for a child of ours to end, else kills it (SIGKILL, by its pid) and reaps
 * it.  Returns 1 if it ended by itself; *st gets its status. */
static int wait_child(pid_t pid, int ms, int *st)
{
    pid_t w;
    long deadline = t_now_ms() + ms;
    while ((w = waitpid(pid, st, WNOHANG)) == 0 && t_now_ms() < deadline)
        poll(NULL, 0, 10);
    if (w == pid)
        return 1;
    kill(pid, SIGKILL);
    waitpid(pid, st, 0);
    return 0;
}

/*
 * Runs fn in a forked child and reports its failures as this case's.  The child starts with
 * none of the engine's descriptors (they are closed at fork), so nothing closes descriptors
 * behind its back but what it does itself.
 */
static void in_child(void (*fn)(void))
{
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        child_report = p[1];
        fn();
        _exit(0);
    }
    close(p[1]);
    static char report[16384];
    size_t len = 0;
    ssize_t n = 1;
    while (len < sizeof report - 1 && n > 0 && t_wait_readable(p[0], CHILD_MS) == 1)
        if ((n = read(p[0], report + len, sizeof report - 1 - len)) > 0)
            len += (size_t)n;
    report[len] = '\0';
    close(p[0]);
    int st = 0, ended = wait_child(pid, n == 0 ? IO_MS : 0, &st);
    for (char *line = strtok(report, "\n"); line; line = strtok(NULL, "\n"))
        t_check_(0, __FILE__, __LINE__, "child", "%s", line);
    CHECK(ended && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child %s, status 0x%x",
          ended ? "ended" : "hung (killed)", (unsigned)st);
}

/* ---- Helpers ---------------------------------------------------------------------------- */

/* A connected blocking TLS client for "localhost", or -1 (the reason in why). */
static int tls_client(int port, char *why, size_t why_size)
{
    struct sockaddr_in a;
    socklen_t len = t_loopback4(port, &a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TLS);
    if (fd < 0) {
        snprintf(why, why_size, "socket: %s", strerror(errno));
        return -1;
    }
    if (setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost", 10) != 0 ||
        connect(fd, (struct sockaddr *)&a, len) != 0) {
        snprintf(why, why_size, "connect: %s (%s)", strerror(errno), t_tls_error(fd));
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads exactly len bytes, each wait bounded by IO_MS; 0, or -1 (errno; EPIPE for an early EOF). */
static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        if (t_wait_readable(fd, IO_MS) != 1)
            return errno = ETIMEDOUT, -1;
        ssize_t n = read(fd, p, len);
        if (n == 0)
            return errno = EPIPE, -1;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void raise_fd_limit(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

/* ---- An epoll echo server on a non-blocking TLS listener ---------------------------------- */

struct echo_server {
    int lfd, port;
    int stop[2];
    pthread_t thread;
    long accepted;
    int accept_errno;   /* first unexpected accept() error, 0 if none */
};

static void echo_accept(struct echo_server *e, int ep)
{
    for (;;) {
        int fd = accept4(e->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && !e->accept_errno)
                e->accept_errno = errno;
            return;
        }
        e->accepted++;
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
}

/* Echoes what is readable; blocking-style writes are fine for messages this small. */
static void echo_serve(int ep, int fd)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
        int flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        int ok = t_send_all(fd, buf, (size_t)n) == 0;
        fcntl(fd, F_SETFL, flags);
        if (ok)
            return;
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
}

static void *echo_main(void *arg)
{
    struct echo_server *e = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = e->lfd };
    epoll_ctl(ep, EPOLL_CTL_ADD, e->lfd, &ev);
    ev.data.fd = e->stop[0];
    epoll_ctl(ep, EPOLL_CTL_ADD, e->stop[0], &ev);
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == e->stop[0])
                goto out;
            if (fd == e->lfd)
                echo_accept(e, ep);
            else
                echo_serve(ep, fd);
        }
    }
out:
    close(ep);   /* connections still open are the clients' failures; they close them */
    return NULL;
}

static int echo_start(struct echo_server *e)
{
    memset(e, 0, sizeof *e);
    e->lfd = t_tls_listener(SOCK_CLOEXEC | SOCK_NONBLOCK, 1024, &e->port);
    if (e->lfd < 0 || pipe2(e->stop, O_CLOEXEC) != 0)
        return -1;
    return pthread_create(&e->thread, NULL, echo_main, e) == 0 ? 0 : -1;
}

static void echo_stop(struct echo_server *e)
{
    (void)!write(e->stop[1], "x", 1);
    pthread_join(e->thread, NULL);
    close(e->stop[0]);
    close(e->stop[1]);
    close(e->lfd);
}

/* ---- Case: 16 threads x 50 connections at once --------------------------------------------- */

struct client_job {
    int port, id;
    int connected, echoed;
    char why[512];
};

static void fill_message(char *msg, int thread, int conn)
{
    int n = snprintf(msg, MSG_BYTES, "thread %02d conn %02d:", thread, conn);
    for (int i = n; i < MSG_BYTES; i++)
        msg[i] = (char)('a' + (thread * 7 + conn * 13 + i) % 26);
}

static void *client_main(void *arg)
{
    struct client_job *j = arg;
    int fds[CONNS_PER_THREAD];
    char msg[MSG_BYTES], back[MSG_BYTES];
    for (int c = 0; c < CONNS_PER_THREAD; c++) {
        char why[400];
        fds[c] = tls_client(j->port, why, sizeof why);
        j->connected += fds[c] >= 0;
        if (fds[c] < 0 && !j->why[0])
            snprintf(j->why, sizeof j->why, "conn %d: %s", c, why);
    }
    /* All 50 are open now; each carries its own message. */
    for (int c = 0; c < CONNS_PER_THREAD; c++) {
        if (fds[c] < 0)
            continue;
        fill_message(msg, j->id, c);
        if (t_send_all(fds[c], msg, sizeof msg) == 0 && read_all(fds[c], back, sizeof back) == 0 &&
            memcmp(msg, back, sizeof msg) == 0)
            j->echoed++;
        else if (!j->why[0])
            snprintf(j->why, sizeof j->why, "conn %d: %s", c,
                     errno ? strerror(errno) : "echo differs");
    }
    for (int c = 0; c < CONNS_PER_THREAD; c++)
        if (fds[c] >= 0)
            close(fds[c]);
    return NULL;
}

static void test_many_threads(void)
{
    struct echo_server e;
    REQUIRE(echo_start(&e) == 0, "echo server: %s", strerror(errno));
    static struct client_job jobs[THREADS];
    pthread_t th[THREADS];
    long t0 = t_now_ms();
    for (int i = 0; i < THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].port = e.port;
        jobs[i].id = i;
        REQUIRE(pthread_create(&th[i], NULL, client_main, &jobs[i]) == 0, "thread %d", i);
    }
    int connected = 0, echoed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        connected += jobs[i].connected;
        echoed += jobs[i].echoed;
        CHECK(jobs[i].echoed == CONNS_PER_THREAD, "thread %d: %d connected, %d echoed: %s", i,
              jobs[i].connected, jobs[i].echoed, jobs[i].why);
    }
    t_note("%d connected, %d echoed, %ld accepted, in %ld ms", connected, echoed, e.accepted,
           t_now_ms() - t0);
    CHECK(e.accept_errno == 0, "accept failed: %s", strerror(e.accept_errno));
    echo_stop(&e);
}

/* ---- Case: a pre-forking server ----------------------------------------------------------- */

/* Child: accept, answer "pid <pid>: <request>", keep the connection until the client closes it,
 * so that while it is busy the next connection goes to another child.  "quit" ends the child. */
static void child_serve(int lfd)
{
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            _exit(10);
        }
        char req[64] = { 0 }, reply[128];
        if (read_all(fd, req, 4) != 0)
            _exit(11);
        int n = snprintf(reply, sizeof reply, "pid %d: %.4s\n", (int)getpid(), req);
        if (t_send_all(fd, reply, (size_t)n) != 0)
            _exit(12);
        if (strncmp(req, "quit", 4) == 0) {
            close(fd);
            exit(0);
        }
        char b;
        while (t_wait_readable(fd, IO_MS) == 1 && read(fd, &b, 1) > 0)
            ;
        close(fd);
    }
}

/* Sends a 4-byte request and returns the pid in the answer, or -1. */
static int ask(int fd, const char *req)
{
    char reply[64] = { 0 };
    if (t_send_all(fd, req, 4) != 0)
        return -1;
    size_t got = 0;
    while (got < sizeof reply - 1 && !memchr(reply, '\n', got)) {
        if (t_wait_readable(fd, IO_MS) != 1)
            return -1;
        ssize_t n = read(fd, reply + got, sizeof reply - 1 - got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    int pid = -1;
    return sscanf(reply, "pid %d:", &pid) == 1 ? pid : -1;
}

static int pid_index(const pid_t *kids, int pid)
{
    for (int i = 0; i < CHILDREN; i++)
        if (kids[i] == pid)
            return i;
    return -1;
}

/* Every child should have exited by itself; the ones that did not are killed. */
static void reap_children(pid_t *kids, int ms)
{
    for (int i = 0; i < CHILDREN; i++) {
        if (kids[i] <= 0)
            continue;
        int st = 0, ended = wait_child(kids[i], ms, &st);
        CHECK(ended && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: %s, status 0x%x",
              (int)kids[i], ended ? "ended" : "killed", (unsigned)st);
        kids[i] = 0;
    }
}

static void test_prefork(void)
{
    int port;
    int lfd = t_tls_listener(SOCK_CLOEXEC, 64, &port);
    REQUIRE(lfd >= 0, "no listener");
    pid_t kids[CHILDREN] = { 0 };
    fflush(stdout);
    for (int i = 0; i < CHILDREN; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            child_serve(lfd);
        CHECK(kids[i] > 0, "fork: %s", strerror(errno));
    }
    int served[CHILDREN] = { 0 }, ok = 0, total = 0;
    char why[512] = "";
    for (int round = 0; round < ROUNDS && ok == total; round++) {   /* stop at a failure */
        int fds[CHILDREN];
        int seen[CHILDREN] = { 0 };
        for (int i = 0; i < CHILDREN; i++) {   /* all open at once: each needs its own child */
            total++;
            fds[i] = tls_client(port, why, sizeof why);
            int k = fds[i] >= 0 ? pid_index(kids, ask(fds[i], "ping")) : -1;
            if (k >= 0) {
                ok++;
                served[k]++;
                seen[k]++;
            }
        }
        for (int i = 0; i < CHILDREN; i++) {
            CHECK(seen[i] == 1, "round %d: child %d served %d of the open connections", round,
                  (int)kids[i], seen[i]);
            if (fds[i] >= 0)
                close(fds[i]);
        }
    }
    CHECK(ok == total, "%d of %d connections served (%s)", ok, total, why);
    t_note("served per child: %d:%d %d:%d %d:%d", (int)kids[0], served[0], (int)kids[1],
           served[1], (int)kids[2], served[2]);
    for (int i = 0; i < CHILDREN && ok == total; i++) {   /* each child takes one "quit" */
        int fd = tls_client(port, why, sizeof why);
        CHECK(fd >= 0 && ask(fd, "quit") > 0, "quit %d: %s", i, why);
        if (fd >= 0)
            close(fd);
    }
    reap_children(kids, ok == total ? IO_MS : 0);
    close(lfd);
}

/* ---- Case: descriptor numbers reused ------------------------------------------------------- */

/* What the kernel itself answers for setsockopt(fd, IPPROTO_TLS, ...): the reference. */
static int kernel_setsockopt_errno(int fd)
{
    errno = 0;
    long rc = syscall(SYS_setsockopt, fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "x", 2);
    return rc == 0 ? 0 : errno;
}

static void check_not_tls(int fd, const char *what)
{
    int want = kernel_setsockopt_errno(fd);
    CHECK(want != 0, "the kernel accepted an IPPROTO_TLS option on %s", what);
    errno = 0;
    int rc = setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "x", 2);
    CHECK(rc == -1 && t_errno_is(want, errno), "setsockopt(IPPROTO_TLS) on %s (kernel: %s)",
          what, t_errname(want));
    char buf[64];
    socklen_t len = sizeof buf;
    errno = 0;
    rc = getsockopt(fd, IPPROTO_TLS, TLS_ERROR, buf, &len);
    CHECK(rc == -1 && errno != 0, "getsockopt(TLS_ERROR) on %s succeeded", what);
    int proto = -1;
    len = sizeof proto;
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0)
        CHECK(proto != IPPROTO_TLS, "%s reports SO_PROTOCOL %d", what, proto);
}

static uint64_t tls_id(int fd)
{
    uint64_t id = 0;
    socklen_t len = sizeof id;
    CHECK(getsockopt(fd, IPPROTO_TLS, TLS_ID, &id, &len) == 0, "TLS_ID: %s", strerror(errno));
    return id;
}

/* The n lowest descriptor numbers free right now. */
static void lowest_free(int *out, int n)
{
    for (int fd = 0, k = 0; k < n; fd++)
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF)
            out[k++] = fd;
}

/* Waits until fd is closed (by the engine, in the background); 1 if it was within IO_MS. */
static int wait_closed(int fd)
{
    for (long deadline = t_now_ms() + IO_MS; t_now_ms() < deadline; poll(NULL, 0, 5))
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF)
            return 1;
    return 0;
}

/*
 * A TLS socket costs the program one descriptor, A, the lowest number free: the library's own
 * (the engine's TCP socket T and its end E) live above the program's range (ssa(7),
 * Descriptors), so the next free numbers stay free.  After close(A), whatever the test opens
 * next gets numbers it can predict: a socketpair or a pipe (A's number as its first
 * descriptor), and a new TLS socket (A's number as A).  That is the kernel reusing the number
 * by itself.  Run in a forked child, where no earlier connection is still being closed in the
 * background.
 */
static void fd_reuse_child(void)
{
    int port;
    /* First: its descriptors must not move later. */
    int lfd = t_tls_listener(SOCK_CLOEXEC, 16, &port);
    REQUIRE(lfd >= 0, "no listener");
    int low[3];
    lowest_free(low, 3);
    int n = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
    REQUIRE(n == low[0], "the TLS socket got %d, not %d (free were %d %d %d)", n, low[0],
            low[0], low[1], low[2]);
    CHECK(wait_closed(low[1]) && wait_closed(low[2]),
          "the library took %d or %d, in the program's range", low[1], low[2]);
    uint64_t old_id = tls_id(n);
    close(n);

    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    CHECK(sv[0] == n, "the socketpair got %d,%d, not %d", sv[0], sv[1], n);
    if (sv[0] == n)
        check_not_tls(n, "a unix socket on the old TLS number");
    close(sv[0]);
    close(sv[1]);

    int p[2];
    REQUIRE(pipe(p) == 0, "pipe: %s", strerror(errno));
    CHECK(p[0] == n, "the pipe got %d,%d, not %d", p[0], p[1], n);
    if (p[0] == n)
        check_not_tls(n, "a pipe on the old TLS number");
    close(p[0]);
    close(p[1]);

    int c = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
    REQUIRE(c == n, "the new TLS socket got %d, not %d", c, n);
    CHECK(tls_id(c) != old_id, "the new socket on %d has the old TLS_ID", c);
    struct sockaddr_in a;
    socklen_t alen = t_loopback4(port, &a);
    REQUIRE(setsockopt(c, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost", 10) == 0 &&
            connect(c, (struct sockaddr *)&a, alen) == 0,
            "connect: %s (%s)", strerror(errno), t_tls_error(c));
    int s = t_wait_readable(lfd, IO_MS) == 1 ? accept(lfd, NULL, NULL) : -1;
    REQUIRE(s >= 0, "accept: %s", strerror(errno));
    char buf[8] = { 0 };
    CHECK(t_send_all(c, "reuse", 5) == 0, "client send: %s", strerror(errno));
    CHECK(read_all(s, buf, 5) == 0 && memcmp(buf, "reuse", 5) == 0,
          "server read \"%s\" (%s)", buf, strerror(errno));
    close(s);
    close(c);
    close(lfd);
}

static void test_fd_reuse(void)
{
    in_child(fd_reuse_child);
}

/* The number of a live TLS socket replaced behind the library's back (dup2 over it). */
static void test_fd_replaced(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
    REQUIRE(fd >= 0, "socket: %s", strerror(errno));
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    REQUIRE(dup2(sv[0], fd) == fd, "dup2: %s", strerror(errno));
    check_not_tls(fd, "a unix socket dup2()ed over a TLS socket");
    int p[2];
    REQUIRE(pipe(p) == 0, "pipe: %s", strerror(errno));
    REQUIRE(dup2(p[0], fd) == fd, "dup2: %s", strerror(errno));
    check_not_tls(fd, "a pipe dup2()ed over it again");
    close(fd);
    close(sv[0]);
    close(sv[1]);
    close(p[0]);
    close(p[1]);
}

/*
 * A program that puts its socket on a fixed number (dup2, then close the original) still has
 * a TLS socket there: SPEC section 3, dup works on the fd.
 */
static void test_dup_then_close(void)
{
    int port;
    int lfd = t_tls_listener(SOCK_CLOEXEC, 16, &port);
    REQUIRE(lfd >= 0, "no listener");
    int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
    REQUIRE(fd >= 0, "socket: %s", strerror(errno));
    int target = fd + 100;
    while (target < fd + 10000 && fcntl(target, F_GETFD) != -1)
        target++; /* a free number above ours (ASan and earlier cases hold some) */
    REQUIRE(fcntl(target, F_GETFD) == -1 && errno == EBADF, "%d is in use", target);
    REQUIRE(dup2(fd, target) == target, "dup2: %s", strerror(errno));
    close(fd);
    int proto = -1;
    socklen_t len = sizeof proto;
    CHECK(getsockopt(target, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 &&
          proto == IPPROTO_TLS, "SO_PROTOCOL of the copy: %d (%s)", proto, strerror(errno));
    struct sockaddr_in a;
    socklen_t alen = t_loopback4(port, &a);
    REQUIRE(setsockopt(target, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost", 10) == 0,
            "TLS_REMOTE_HOSTNAME on the copy: %s (%s)", strerror(errno),
            t_tls_error(target));
    REQUIRE(connect(target, (struct sockaddr *)&a, alen) == 0, "connect on the copy: %s (%s)",
            strerror(errno), t_tls_error(target));
    int s = t_wait_readable(lfd, IO_MS) == 1 ? accept(lfd, NULL, NULL) : -1;
    REQUIRE(s >= 0, "accept: %s", strerror(errno));
    char buf[8] = { 0 };
    CHECK(t_send_all(target, "moved", 5) == 0 && read_all(s, buf, 5) == 0 &&
          memcmp(buf, "moved", 5) == 0, "data: \"%s\" (%s)", buf, strerror(errno));
    close(s);
    close(target);
    close(lfd);
}

/* ---- Case: fork() with an established connection ------------------------------------------ */

static void test_fork_shared(void)
{
    int port;
    pid_t srv = t_openssl_server(&port, "localhost", "-rev", NULL);   /* replies reversed lines */
    REQUIRE(srv > 0, "no s_server");
    char why[512];
    int fd = tls_client(port, why, sizeof why);
    REQUIRE(fd >= 0, "%s", why);
    char buf[32] = { 0 };
    CHECK(t_send_all(fd, "before\n", 7) == 0 && read_all(fd, buf, 7) == 0 &&
          memcmp(buf, "erofeb\n", 7) == 0, "before fork: \"%s\"", buf);

    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0)   /* the child writes on the inherited descriptor, and leaves */
        exit(t_send_all(fd, "child\n", 6) == 0 ? 0 : 1);
    int st = 0, ended = wait_child(pid, IO_MS, &st);
    CHECK(ended && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s, status 0x%x",
          ended ? "ended" : "hung (killed)", (unsigned)st);
    memset(buf, 0, sizeof buf);
    CHECK(read_all(fd, buf, 6) == 0 && memcmp(buf, "dlihc\n", 6) == 0,
          "the parent read \"%s\" (%s) for the child's line", buf, strerror(errno));
    memset(buf, 0, sizeof buf);
    CHECK(t_send_all(fd, "parent\n", 7) == 0 && read_all(fd, buf, 7) == 0 &&
          memcmp(buf, "tnerap\n", 7) == 0, "after the child left: \"%s\" (%s)", buf,
          strerror(errno));
    close(fd);
    t_stop_peer(srv);
}

/* ---- Case: a closed listener's descriptors go with it ------------------------------------ */

/*
 * The kernel's view of a unix socket, by inode (sock_diag): 1 and its peer's inode in *peer
 * while some process holds it, 0 once it is closed everywhere, -1 when it cannot tell.  The
 * listener's engine end E is the peer of its A, in this process or in ssad alike.
 */
static int unix_socket_open(ino_t ino, ino_t *peer)
{
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req req;
    } msg = {
        .nlh = {.nlmsg_len = sizeof msg, .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                .nlmsg_flags = NLM_F_REQUEST},
        .req = {.sdiag_family = AF_UNIX, .udiag_ino = (unsigned)ino,
                .udiag_show = UDIAG_SHOW_PEER, .udiag_cookie = {~0U, ~0U}},
    };
    union {
        struct nlmsghdr h;
        char bytes[1024];
    } buf;
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    ssize_t n = -1;
    if (fd >= 0 && send(fd, &msg, sizeof msg, 0) == (ssize_t)sizeof msg)
        n = recv(fd, &buf, sizeof buf, 0);
    if (fd >= 0)
        close(fd);
    if (n < (ssize_t)sizeof buf.h || !NLMSG_OK(&buf.h, (size_t)n))
        return -1;
    if (buf.h.nlmsg_type == NLMSG_ERROR)
        return ((struct nlmsgerr *)NLMSG_DATA(&buf.h))->error == -ENOENT ? 0 : -1;
    if (peer != NULL) {
        struct unix_diag_msg *m = NLMSG_DATA(&buf.h);
        int left = (int)(buf.h.nlmsg_len - NLMSG_LENGTH(sizeof *m));
        *peer = 0;
        for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, left); a = RTA_NEXT(a, left))
            if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= (int)sizeof(uint32_t))
                *peer = *(uint32_t *)RTA_DATA(a);
    }
    return 1;
}

/*
 * A connection that ended cleanly stays known while the server holds it (TLS_ERROR stays
 * readable until close()), but it holds nothing of its listener's: once the listener is
 * closed too, the listener's E must go, not wait for the server to close the connection.
 * (In ssad that E stayed open for as long as the caller kept the connection, and in the
 * protocol fuzzer, which has no sweeper, for good: its "descriptor leak" finding.)
 */
static void test_listener_gone(void)
{
    int port;
    char why[512] = "", b[8];
    struct stat st;
    ino_t e_ino = 0;
    int lfd = t_tls_listener(SOCK_CLOEXEC, 8, &port);
    REQUIRE(lfd >= 0, "no TLS listener");
    int known = fstat(lfd, &st) == 0 ? unix_socket_open(st.st_ino, &e_ino) : -1;
    if (known != 1 || e_ino == 0) {
        close(lfd);
        T_SKIP_CASE("sock_diag cannot tell the listener's engine end (%s)", strerror(errno));
    }
    int c = tls_client(port, why, sizeof why);
    int s = c >= 0 && t_wait_readable(lfd, IO_MS) == 1 ? accept(lfd, NULL, NULL) : -1;
    REQUIRE(s >= 0, "no connection: %s", c < 0 ? why : strerror(errno));
    /* Both sides say close_notify; the client goes, the server keeps its descriptor. */
    CHECK(t_send_all(s, "bye", 3) == 0 && shutdown(s, SHUT_WR) == 0, "server: %s",
          strerror(errno));
    CHECK(read_all(c, b, 3) == 0 && t_wait_readable(c, IO_MS) == 1 && read(c, b, 1) == 0,
          "the client did not read the data and EOF");
    close(c);
    CHECK(t_wait_readable(s, IO_MS) == 1 && read(s, b, 1) == 0, "the server read no EOF");
    close(lfd);
    int open = 1;
    for (long deadline = t_now_ms() + IO_MS; open == 1 && t_now_ms() < deadline;
         poll(NULL, 0, 20))
        open = unix_socket_open(e_ino, NULL);
    CHECK(open == 0, "the closed listener's engine end (inode %lu) is %s %d ms later, while a "
          "finished connection it accepted stays open", (unsigned long)e_ino,
          open == 1 ? "still open" : "unknown", IO_MS);
    close(s);
}

/* ---- Case: ssad keeps no spare TCP socket it cannot use --------------------------------- */

/* The ssad this program started (SSA_TEST_SSAD, a child of ours), or -1. */
static pid_t our_ssad(void)
{
    char want[4096], path[64], exe[4096];
    const char *bin = getenv("SSA_TEST_SSAD");
    DIR *d = opendir("/proc");
    struct dirent *de;
    pid_t found = -1;
    if (d == NULL || bin == NULL || realpath(bin, want) == NULL) {
        if (d != NULL)
            closedir(d);
        return -1;
    }
    while (found < 0 && (de = readdir(d)) != NULL) {
        int pid = atoi(de->d_name), ppid = -1;
        char stat[512];
        FILE *f;
        if (pid <= 0)
            continue;
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        /* "pid (comm) state ppid ...": comm may hold spaces, so from the last ')'. */
        char *close_paren = fgets(stat, sizeof stat, f) ? strrchr(stat, ')') : NULL;
        fclose(f);
        if (close_paren == NULL || sscanf(close_paren + 1, " %*c %d", &ppid) != 1 ||
            ppid != getpid())
            continue;
        snprintf(path, sizeof path, "/proc/%d/exe", pid);
        ssize_t n = readlink(path, exe, sizeof exe - 1);
        if (n > 0 && (exe[n] = '\0', strcmp(exe, want) == 0))
            found = pid;
    }
    closedir(d);
    return found;
}

/* Whether /proc/net/NAME lists inode ino in its column col (1-based). */
static int net_table_has(const char *name, int col, unsigned long ino)
{
    char path[64], line[1024];
    int found = 0;
    snprintf(path, sizeof path, "/proc/net/%s", name);
    FILE *f = fopen(path, "r");
    while (f != NULL && !found && fgets(line, sizeof line, f) != NULL) {
        char *field = strtok(line, " \t\n");
        for (int i = 1; field != NULL && i < col; i++)
            field = strtok(NULL, " \t\n");
        found = field != NULL && strtoul(field, NULL, 10) == ino;
    }
    if (f != NULL)
        fclose(f);
    return found;
}

/*
 * How many sockets process pid holds that are neither unix nor netlink sockets: its TCP
 * sockets, and any other it holds for good (compare two counts).  Not from /proc/net/tcp,
 * which lists no socket before bind() or connect(), as the spares are.
 */
static int tcp_sockets_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    struct dirent *de;
    int count = 0;
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        char link[sizeof path + sizeof de->d_name], target[128];
        unsigned long ino;
        snprintf(link, sizeof link, "%s/%s", path, de->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0 || (target[len] = '\0', sscanf(target, "socket:[%lu]", &ino) != 1))
            continue;
        count += !net_table_has("unix", 7, ino) && !net_table_has("netlink", 10, ino);
    }
    closedir(d);
    return count;
}

static socklen_t host_address(struct sockaddr_host *h, const char *name, int port)
{
    memset(h, 0, sizeof *h);
    h->sin_family = AF_HOSTNAME;
    h->sin_port = htons((uint16_t)port);
    snprintf((char *)h->sin_addr.name, sizeof h->sin_addr.name, "%s", name);
    return sizeof *h;
}

/*
 * connect() by name sends ssad spare TCP sockets for the name's later addresses.  Sent again
 * to a socket whose connect() already failed (kept for TLS_ERROR until close()), they must not
 * stay in ssad: no connect() can use them.  They stayed for as long as the socket was open,
 * and in the protocol fuzzer, which has no sweeper, for good.
 */
static void test_spares_refused(void)
{
    if (!t_daemon_backend())
        T_SKIP_CASE("the in-process backend makes its own TCP sockets");
    pid_t ssad = our_ssad();
    REQUIRE(ssad > 0, "the ssad of this program not found among its children");
    int port = t_free_port(), before = tcp_sockets_of(ssad);
    REQUIRE(port > 0 && before >= 0, "no free port, or ssad's descriptors unreadable");
    struct sockaddr_host h;
    socklen_t len = host_address(&h, "localhost", port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TLS);
    REQUIRE(fd >= 0, "socket: %s", strerror(errno));
    for (int i = 0; i < 2; i++) {
        int rc = connect(fd, (struct sockaddr *)&h, len), err = errno;
        CHECK(rc < 0 && err == ECONNREFUSED, "connect %d to a closed port: %s", i + 1,
              rc == 0 ? "succeeded" : strerror(err));
    }
    int now = tcp_sockets_of(ssad);
    for (long deadline = t_now_ms() + IO_MS; now > before && t_now_ms() < deadline;
         poll(NULL, 0, 20))
        now = tcp_sockets_of(ssad);
    CHECK(now <= before, "ssad holds %d TCP sockets more than before, %d ms after two refused "
          "connects by name on a socket still open", now - before, IO_MS);
    close(fd);
}

/* ---- Case: descriptors come back ---------------------------------------------------------- */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* One connection closed cleanly, by the client first or by the server first. */
static int clean_connection(int lfd, int port, int server_first, char *why, size_t size)
{
    int c = tls_client(port, why, size);
    if (c < 0)
        return -1;
    int s = t_wait_readable(lfd, IO_MS) == 1 ? accept(lfd, NULL, NULL) : -1;
    int first = server_first ? s : c, second = server_first ? c : s;
    char b[8];
    int ok = s >= 0 && t_send_all(first, "bye", 3) == 0;
    if (s >= 0)
        close(first);
    ok = ok && read_all(second, b, 3) == 0 && t_wait_readable(second, IO_MS) == 1 &&
         read(second, b, 1) == 0;   /* the data, then EOF */
    close(second);
    if (!ok)
        snprintf(why, size, "%s", s < 0 ? "accept failed" : "no data or no EOF");
    return ok ? 0 : -1;
}

/*
 * Every TLS socket costs descriptors of the engine's (E and T): once both ends have closed and
 * said close_notify, they must all be given back (within the policy's linger timeout, 2 s).
 * Counted in a forked child, whose engine descriptors start from nothing (the parent's earlier
 * cases may still be winding down theirs), and reported back as one line on a pipe.
 */
static void fds_released_child(int server_first, int out)
{
    int port;
    char why[512] = "", line[700];
    int lfd = t_tls_listener(SOCK_CLOEXEC, 64, &port);
    int base = count_fds(), done = 0;
    for (int i = 0; lfd >= 0 && i < 20; i++)
        done += clean_connection(lfd, port, server_first, why, sizeof why) == 0;
    int now = count_fds();
    for (long deadline = t_now_ms() + 5000; now > base && t_now_ms() < deadline; poll(NULL, 0, 50))
        now = count_fds();
    int n = snprintf(line, sizeof line, "%d %d %s\n", done, now - base, why);
    _exit(write(out, line, (size_t)n) == n ? 0 : 1);
}

static void test_fds_released(void *arg)
{
    int server_first = strcmp(arg, "server") == 0;
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0)
        fds_released_child(server_first, p[1]);
    close(p[1]);
    char line[700] = "";
    ssize_t n = t_wait_readable(p[0], CHILD_MS) == 1 ? read(p[0], line, sizeof line - 1) : -1;
    close(p[0]);
    int st = 0;
    wait_child(pid, n > 0 ? IO_MS : 0, &st);
    REQUIRE(n > 0, "the child reported nothing (status 0x%x)", (unsigned)st);
    int done = -1, extra = -1, off = 0;
    sscanf(line, "%d %d %n", &done, &extra, &off);
    CHECK(done == 20, "%d of 20 connections closed cleanly (%s)", done, line + off);
    CHECK(extra <= 0, "%d descriptors more than before 20 closed connections, 5 s later",
          extra);
}

/* ---- Main -------------------------------------------------------------------------------- */

int main(void)
{
    raise_fd_limit();
    t_use_policy_text("ssa.conf", "default = { trust-file = \"%s\"; linger-timeout = 2.0; };\n",
                      t_pki("ca.pem"));
    t_set_timeout(30);
    /* First: ssad has nothing of earlier cases yet that could go meanwhile. */
    t_run("ssad keeps no spare TCP socket of a connect() that cannot start",
          test_spares_refused);
    t_set_timeout(120);
    t_run("16 threads x 50 connections at once against one SSA server", test_many_threads);
    t_set_timeout(30);
    t_run("fd number reused after close(): not TLS any more; new TLS socket works",
          test_fd_reuse);
    t_run("fd number of a live TLS socket replaced by dup2(): not TLS any more",
          test_fd_replaced);
    t_run("dup2() to a fixed number, close() the original: still a TLS socket",
          test_dup_then_close);
    t_run("pre-forking server: 3 children accept() from one TLS listener", test_prefork);
    t_run("fork() with a connection: the child writes, the parent reads the answer",
          test_fork_shared);
    t_run("a closed listener's engine end goes while a finished connection stays open",
          test_listener_gone);
    t_run_arg("descriptors given back after clean closes (client closes first)",
              test_fds_released, "client");
    t_run_arg("descriptors given back after clean closes (server closes first)",
              test_fds_released, "server");
    return t_done();
}
