/*
 * test_fdbudget.c -- the descriptor budget of TLS sockets (issue 15, item 3).
 *
 * A program under the usual soft RLIMIT_NOFILE of 1024 (the hard limit higher) holds as many
 * TLS connections as it would TCP ones: the library's own descriptors (E, T, a dup while
 * connecting) live above the program's limit and FD_SETSIZE.  Checked: at least 1000 TLS
 * connections under a soft limit of 1024; every descriptor the program receives is below
 * FD_SETSIZE, so select() still works on the last one; the program still reads its own limit
 * with getrlimit(); running out is EMFILE, both at the soft limit and, once the program raised
 * it, at the hard one.
 *
 * The server is a forked child (before the limits are lowered) that accepts in a loop and holds
 * every connection, with the hard limit as its soft one.
 */
#define _GNU_SOURCE
#include "tutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ssa/in_tls.h>

#define SOFT 1024          /* the usual soft limit */
#define HARD 3328 /* the program's hard limit here: room for 1020 connections' E and T */
#define MAX_CONNS 4096

static int conns[MAX_CONNS];
static int nconns;

/* The child: accept and hold until killed.  Reports its port (or 0) on the pipe. */
static void serve(int report)
{
    struct rlimit rl;
    int port = 0;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int lfd = t_tls_listener(0, 128, &port);
    if (write(report, &port, sizeof(port)) != (ssize_t)sizeof(port) || lfd < 0)
        _exit(1);
    close(report);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);

        if (fd < 0 && errno != EINTR && errno != ECONNABORTED)
            _exit(2); /* the client then sees its connects fail otherwise than with EMFILE */
    }
}

static pid_t start_server(int *port)
{
    int p[2];

    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        serve(p[1]);
    }
    close(p[1]);
    *port = 0;
    if (pid < 0 || read(p[0], port, sizeof(*port)) != (ssize_t)sizeof(*port) || *port == 0) {
        close(p[0]);
        return -1;
    }
    close(p[0]);
    return pid;
}

/* One TLS connection to the server; -1 with errno, and TLS_ERROR in *why. */
static int tls_connect(int port, char *why, size_t size)
{
    struct sockaddr_in a;
    socklen_t len = t_loopback4(port, &a);
    int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);

    why[0] = '\0';
    if (fd < 0) {
        snprintf(why, size, "at socket()");
        return -1;
    }
    if (t_set_str(fd, TLS_REMOTE_HOSTNAME, "localhost") < 0 ||
        connect(fd, (struct sockaddr *)&a, len) < 0) {
        int err = errno;

        snprintf(why, size, "at connect(): %s", t_tls_error(fd));
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

/* Opens connections until one fails; returns its errno.  *highest: the largest fd seen. */
static int fill(int port, int *highest, char *why, size_t size)
{
    while (nconns < MAX_CONNS) {
        int fd = tls_connect(port, why, size);

        if (fd < 0)
            return errno;
        conns[nconns++] = fd;
        if (fd > *highest)
            *highest = fd;
    }
    snprintf(why, size, "no failure after %d connections", MAX_CONNS);
    return 0;
}

static void test_budget(void)
{
    struct rlimit rl;
    char why[512];
    int port, highest = -1, err;

    /* The server's side (and ssad, holding both ends of up to HARD connections) needs more. */
    rlim_t needs = t_daemon_backend() ? 5 * HARD : 2 * HARD;

    T_REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit: %s", strerror(errno));
    if (rl.rlim_max < needs)
        T_SKIP_CASE("hard RLIMIT_NOFILE %llu: the server needs %llu",
                    (unsigned long long)rl.rlim_max, (unsigned long long)needs);
    pid_t srv = start_server(&port);
    T_REQUIRE(srv > 0, "the TLS server did not start");

    rl = (struct rlimit){SOFT, HARD};
    T_REQUIRE(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit: %s", strerror(errno));
    err = fill(port, &highest, why, sizeof(why));
    int phase1 = nconns;
    t_note("soft limit %d: %d TLS connections, highest descriptor %d; then %s (%s)", SOFT,
           phase1, highest, t_errname(err), why);
    T_CHECK(phase1 >= 1000, "only %d TLS connections under a soft limit of %d", phase1, SOFT);
    T_CHECK(highest < FD_SETSIZE, "the program was given descriptor %d", highest);
    T_CHECK(t_errno_is(EMFILE, err), "the connection after the last: %s", why);

    T_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == SOFT && rl.rlim_max == HARD,
            "the program reads its limit as %llu/%llu, set %d/%d",
            (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, SOFT, HARD);

    if (phase1 > 0 && highest < FD_SETSIZE) {
        int last = conns[phase1 - 1];
        fd_set w;
        struct timeval tv = {5, 0};

        FD_ZERO(&w);
        FD_SET(last, &w);
        int n = select(last + 1, NULL, &w, NULL, &tv);
        T_CHECK(n == 1 && FD_ISSET(last, &w), "select() on descriptor %d: %d (%s)", last, n,
                n < 0 ? strerror(errno) : "not writable");
        T_CHECK(write(last, "x", 1) == 1, "write on the last connection: %s", strerror(errno));
    }

    /* The program raises its soft limit to the hard one: more, until EMFILE there. */
    rl = (struct rlimit){HARD, HARD};
    T_REQUIRE(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit: %s", strerror(errno));
    err = fill(port, &highest, why, sizeof(why));
    t_note("soft limit raised to %d: %d more, highest descriptor %d; then %s (%s)", HARD,
           nconns - phase1, highest, t_errname(err), why);
    T_CHECK(nconns > phase1, "no connection more with the soft limit at the hard one");
    T_CHECK(t_errno_is(EMFILE, err), "at the hard limit: %s", why);

    for (int i = 0; i < nconns; i++)
        close(conns[i]);
    nconns = 0;
    kill(srv, SIGKILL);
    waitpid(srv, NULL, 0);
}

int main(void)
{
    t_use_policy_text("ssa.conf", "default = { trust-file = \"%s\"; linger-timeout = 1.0; };\n",
                      t_pki("ca.pem"));
    t_set_timeout(240);
    t_run("1000 TLS connections under a soft limit of 1024, EMFILE at the limit", test_budget);
    return t_done();
}
