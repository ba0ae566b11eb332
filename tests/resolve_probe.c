/*
 * resolve_probe.c -- a non-blocking connect() with an AF_HOSTNAME address does not wait for
 * the name service (issue 15, item 8).  Run by tests/suites.d/nonblock-resolve.sh inside a
 * network and mount namespace whose only name service is a DNS stub (tests/dns_stub.py) that
 * answers slow.test only once DIR/go exists (or after a delay), creating DIR/answered first.
 *
 *     resolve_probe DIR
 *
 * The order of events decides, not the clock: connect() returning while DIR/answered does not
 * exist yet means it did not wait for the answer.  Then the connection completes through
 * POLLOUT and SO_ERROR against an openssl s_server on 127.0.0.1; a name the stub does not know
 * fails with EHOSTUNREACH through SO_ERROR, the resolver's reason in TLS_ERROR; a blocking
 * connect() by name still connects.
 */
#define _GNU_SOURCE
#include "tutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ssa/in_tls.h>

#define WAIT_MS 15000 /* bound on the connection's end, resolution included */

static const char *dir;
static int port;

static const char *in_dir(const char *file)
{
    static char path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return path;
}

static socklen_t host_addr(struct sockaddr_host *h, const char *name)
{
    memset(h, 0, sizeof(*h));
    h->sin_family = AF_HOSTNAME;
    h->sin_port = htons((unsigned short)port);
    snprintf((char *)h->sin_addr.name, sizeof(h->sin_addr.name), "%s", name);
    return (socklen_t)sizeof(*h);
}

/* A TLS socket verifying "localhost" (the server's certificate) whatever name it connects to. */
static int client(int flags)
{
    int fd = socket(AF_INET, SOCK_STREAM | flags, IPPROTO_TLS);

    T_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
    T_REQUIRE(t_set_str(fd, TLS_REMOTE_HOSTNAME, "localhost") == 0, "TLS_REMOTE_HOSTNAME: %s",
              strerror(errno));
    return fd;
}

/* Waits for the end of a non-blocking connect(); returns SO_ERROR, or -1 if it did not end. */
static int outcome(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int err = -1;
    socklen_t len = sizeof(err);

    if (poll(&p, 1, WAIT_MS) != 1)
        return -1;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -1;
    return err;
}

static void test_nonblocking(void)
{
    struct sockaddr_host h;
    socklen_t len = host_addr(&h, "slow.test");
    int fd = client(SOCK_NONBLOCK);
    int rc = connect(fd, (struct sockaddr *)&h, len);
    int err = errno;
    int answered = access(in_dir("answered"), F_OK) == 0;

    /* The stub may answer now. */
    int go = open(in_dir("go"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (go >= 0)
        close(go);
    T_CHECK(rc == -1 && err == EINPROGRESS, "connect() returned %d, %s", rc, t_errname(err));
    T_CHECK(!answered, "connect() returned only after the name service had answered");
    err = outcome(fd);
    T_CHECK(err == 0, "SO_ERROR after POLLOUT: %s (%s)", err < 0 ? "no POLLOUT" : t_errname(err),
            t_tls_error(fd));
    if (err == 0)
        T_CHECK(t_send_all(fd, "ping\n", 5) == 0, "write: %s", strerror(errno));
    close(fd);
}

static void test_unknown_name(void)
{
    struct sockaddr_host h;
    socklen_t len = host_addr(&h, "nx.test");
    int fd = client(SOCK_NONBLOCK);
    int rc = connect(fd, (struct sockaddr *)&h, len);
    int err = errno;

    T_CHECK(rc == -1 && err == EINPROGRESS, "connect() returned %d, %s", rc, t_errname(err));
    if (rc == -1 && err == EINPROGRESS) {
        err = outcome(fd);
        T_CHECK(err == EHOSTUNREACH, "SO_ERROR after POLLOUT: %s",
                err < 0 ? "no POLLOUT" : t_errname(err));
    } else {
        T_CHECK(err == EHOSTUNREACH, "connect(): %s", t_errname(err));
    }
    const char *why = t_tls_error(fd);
    T_CHECK(strstr(why, "cannot resolve") != NULL && strstr(why, "nx.test") != NULL,
            "TLS_ERROR \"%s\" gives no resolver's reason for nx.test", why);
    close(fd);
}

static void test_blocking(void)
{
    struct sockaddr_host h;
    socklen_t len = host_addr(&h, "slow.test");
    int fd = client(0);

    T_CHECK(connect(fd, (struct sockaddr *)&h, len) == 0, "connect: %s (%s)", strerror(errno),
            t_tls_error(fd));
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        t_bail("usage: resolve_probe DIR");
    dir = argv[1];
    t_use_policy_text("ssa.conf", "default = { trust-file = \"%s\"; };\n", t_pki("ca.pem"));
    pid_t srv = t_openssl_server(&port, "localhost", NULL);
    if (srv < 0)
        t_bail("openssl s_server did not start");
    t_set_timeout(40);
    t_run("non-blocking connect() by name: EINPROGRESS before the name service answers, then "
          "POLLOUT and SO_ERROR 0",
          test_nonblocking);
    t_run("non-blocking connect() to a name that does not resolve: EHOSTUNREACH by SO_ERROR, "
          "the reason in TLS_ERROR",
          test_unknown_name);
    t_run("blocking connect() by name still connects", test_blocking);
    t_stop_peer(srv);
    return t_done();
}
