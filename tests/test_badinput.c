/*
 * test_badinput.c -- hostile and careless input to the TLS socket calls: nothing may crash,
 * hang, write past a buffer, or succeed where it should fail.
 *
 * NULL and short buffers, lengths that lie, names with control characters, files that are not
 * PEM, keys that do not match, sockaddrs that are garbage, descriptors that are closed or were
 * reused by something else.  Where the kernel has an answer (unknown levels, pipes), the answer
 * on a TLS socket must be the kernel's.
 *
 * Cases that could block forever if the library got them wrong run in a forked child with a
 * deadline, so that one hang does not end the whole program.
 */
#define _GNU_SOURCE
#include "tutil.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <netdb.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ssa/in_tls.h>
#include <ssa/ssa.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Name lookups stay on this machine ------------------------------------------------ */

/*
 * This program's getaddrinfo() takes the place of libc's for libssa too: it answers loopback
 * names only and remembers what it was asked, so no case can send a DNS query, and a case can
 * tell whether the library looked a name up at all.
 */
static char last_lookup[512];
static int lookups;

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    static int (*real)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **);

    lookups++;
    snprintf(last_lookup, sizeof last_lookup, "%s", node ? node : "(null)");
    if (node == NULL || (strcmp(node, "localhost") != 0 && strcmp(node, "127.0.0.1") != 0 &&
                         strcmp(node, "::1") != 0))
        return EAI_NONAME;
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
    return real ? real(node, service, hints, res) : EAI_SYSTEM;
}

/* ---- Helpers ----------------------------------------------------------------------------- */

/* rc == -1 with errno one of `allowed` (a 0-terminated list). */
static int fails_with_one_of(int rc, int err, const int *allowed)
{
    if (rc != -1)
        return 0;
    for (; *allowed; allowed++)
        if (err == *allowed)
            return 1;
    return 0;
}

/*
 * Runs fn(arg) in a forked child that must exit within ms; its exit status is the number of
 * failed checks it counted itself (its T_CHECKs are not printed: see tutil.h).  A child that
 * hangs is killed and reported.  Returns the status, or -1 on a hang or a crash.
 */
static int run_bounded(int (*fn)(const void *), const void *arg, int ms, const char *what)
{
    int p[2];
    T_REQUIRE(pipe(p) == 0, "pipe");
    pid_t pid = fork();
    T_REQUIRE(pid >= 0, "fork");
    if (pid == 0) {
        /* Die of a signal silently: the harness's handlers would print TAP from here. */
        static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGPIPE,
                                    SIGTERM, SIGALRM};
        for (size_t i = 0; i < N(fatal); i++)
            signal(fatal[i], SIG_DFL);
        close(p[0]);
        alarm(0);
        int failures = fn(arg);
        _exit(failures > 100 ? 100 : failures);
    }
    close(p[1]);
    /* The write end closes when the child exits, whatever the way. */
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    int ready = poll(&pfd, 1, ms);
    close(p[0]);
    if (ready == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        T_CHECK(0, "%s: still blocked after %d ms", what, ms);
        return -1;
    }
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) {
        T_CHECK(0, "%s: child killed by signal %d", what, WTERMSIG(st));
        return -1;
    }
    return WEXITSTATUS(st);
}

/* ---- NULL and short buffers ------------------------------------------------------------- */

/* Every option number SPEC section 2 defines, and some it does not. */
static const int all_options[] = {85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98,
                                  99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110,
                                  111, 112, 113, 122, 130, 0, -1};

static void test_null_optval_set(void)
{
    static const socklen_t lens[] = {0, 1, 2, 4, 8, 255, 256, 4096, 65536, 0x7fffffff};
    static const int allowed[] = {EINVAL, ENOPROTOOPT, EFAULT, 0};
    int fd = t_tls_socket(AF_INET);

    for (size_t i = 0; i < N(all_options); i++)
        for (size_t k = 0; k < N(lens); k++) {
            int rc = setsockopt(fd, IPPROTO_TLS, all_options[i], NULL, lens[k]);
            int err = errno;
            T_CHECK(fails_with_one_of(rc, err, allowed), "option %d, NULL, optlen %u: rc %d %s",
                    all_options[i], lens[k], rc, t_errname(err));
        }
    close(fd);
}

static void test_optlen_zero_set(void)
{
    static const int allowed[] = {EINVAL, ENOPROTOOPT, 0};
    int fd = t_tls_socket(AF_INET);
    char buf[64] = "localhost";

    for (size_t i = 0; i < N(all_options); i++) {
        int rc = setsockopt(fd, IPPROTO_TLS, all_options[i], buf, 0);
        int err = errno;
        T_CHECK(fails_with_one_of(rc, err, allowed), "option %d, optlen 0: rc %d %s",
                all_options[i], rc, t_errname(err));
    }
    close(fd);
}

/* Getters usable on a fresh socket: their buffer handling can be checked before connect. */
static const int fresh_getters[] = {TLS_REMOTE_HOSTNAME, TLS_HOSTNAME, TLS_ID,
                                    TLS_TRUSTED_CIPHERS, TLS_ERROR, TLS_VERSION_MIN,
                                    TLS_VERSION_MAX, TLS_SESSION_TTL, TLS_SESSION_REUSE,
                                    TLS_REVOCATION_CHECKS};

static void test_null_optlen_get(void)
{
    static const int allowed[] = {EFAULT, EINVAL, 0};
    static const int any[] = {EFAULT, EINVAL, ENOTCONN, ENOPROTOOPT, ERANGE, 0};
    int fd = t_tls_socket(AF_INET);
    char buf[256];

    for (size_t i = 0; i < N(fresh_getters); i++) {
        int rc = getsockopt(fd, IPPROTO_TLS, fresh_getters[i], buf, NULL);
        int err = errno;
        T_CHECK(fails_with_one_of(rc, err, allowed), "option %d, optlen NULL: rc %d %s",
                fresh_getters[i], rc, t_errname(err));
        rc = getsockopt(fd, IPPROTO_TLS, fresh_getters[i], NULL, NULL);
        err = errno;
        T_CHECK(fails_with_one_of(rc, err, allowed), "option %d, NULL, NULL: rc %d %s",
                fresh_getters[i], rc, t_errname(err));
    }
    /* All the others: any refusal, no crash. */
    for (size_t i = 0; i < N(all_options); i++) {
        int rc = getsockopt(fd, IPPROTO_TLS, all_options[i], NULL, NULL);
        int err = errno;
        T_CHECK(fails_with_one_of(rc, err, any), "option %d, NULL, NULL: rc %d %s",
                all_options[i], rc, t_errname(err));
    }
    /* Other levels on the TLS socket, as the kernel treats them. */
    int rc = getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, buf, NULL);
    int err = errno;
    T_CHECK(fails_with_one_of(rc, err, allowed), "SO_PROTOCOL optlen NULL: rc %d %s", rc,
            t_errname(err));
    rc = getsockopt(fd, SOL_SOCKET, SO_RCVBUF, buf, NULL);
    err = errno;
    T_CHECK(fails_with_one_of(rc, err, allowed), "SO_RCVBUF optlen NULL: rc %d %s", rc,
            t_errname(err));
    rc = getsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, buf, NULL);
    err = errno;
    T_CHECK(fails_with_one_of(rc, err, allowed), "TCP_NODELAY optlen NULL: rc %d %s", rc,
            t_errname(err));
    close(fd);
}

static void test_null_optval_get(void)
{
    static const int allowed[] = {EFAULT, EINVAL, ERANGE, 0};
    int fd = t_tls_socket(AF_INET);

    /* NULL buffer but a length that claims room: refused, never written through. */
    for (size_t i = 0; i < N(fresh_getters); i++) {
        socklen_t len = 64;
        int rc = getsockopt(fd, IPPROTO_TLS, fresh_getters[i], NULL, &len);
        int err = errno;
        T_CHECK(fails_with_one_of(rc, err, allowed), "option %d, NULL, optlen 64: rc %d %s",
                fresh_getters[i], rc, t_errname(err));
    }
    close(fd);
}

#define CANARY 0xa5

/* Every fresh getter with every buffer size from 0 to 40: no byte written past optlen. */
static void test_short_buffers_get(void)
{
    int fd = t_tls_socket(AF_INET);
    unsigned char buf[64 + 64];

    T_REQUIRE(t_set_str(fd, TLS_REMOTE_HOSTNAME, "www.example.test") == 0, "%s", t_tls_error(fd));
    for (size_t i = 0; i < N(fresh_getters); i++)
        for (socklen_t size = 0; size <= 40; size++) {
            memset(buf, CANARY, sizeof buf);
            socklen_t len = size;
            int rc = getsockopt(fd, IPPROTO_TLS, fresh_getters[i], buf, &len);
            int err = errno;
            for (size_t b = size; b < sizeof buf; b++)
                if (buf[b] != CANARY) {
                    T_CHECK(0, "option %d, optlen %u: byte %zu written", fresh_getters[i],
                            size, b);
                    break;
                }
            if (rc == 0)
                T_CHECK(len <= size, "option %d: optlen grew from %u to %u on success",
                        fresh_getters[i], size, len);
            else
                T_CHECK(err == ERANGE || err == EINVAL, "option %d optlen %u: %s",
                        fresh_getters[i], size, t_errname(err));
        }
    close(fd);
}

/* ---- Strings that lie ------------------------------------------------------------------ */

static void test_unterminated_hostname(void)
{
    int fd = t_tls_socket(AF_INET);
    char *name = malloc(300);

    T_REQUIRE(name != NULL, "malloc");
    memset(name, 'a', 300); /* no NUL anywhere: the library may read 300 bytes, no more */
    T_EXPECT_FAIL(fd, setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, name, 300), EINVAL, NULL);
    T_EXPECT_FAIL(fd, setsockopt(fd, IPPROTO_TLS, TLS_HOSTNAME, name, 300), EINVAL, NULL);
    T_EXPECT_FAIL(fd, setsockopt(fd, IPPROTO_TLS, TLS_ALPN, name, 300), EINVAL, NULL);
    T_EXPECT_FAIL(fd, setsockopt(fd, IPPROTO_TLS, TLS_DISABLE_CIPHER, name, 300), EINVAL, NULL);
    free(name);
    close(fd);
}

static void test_hostname_bad_characters(void)
{
    static const char *bad[] = {"local host", "a\tb", "a\nb", "evil.test\r\nHost: x",
                                "\x01", "a/b", "a@b", "a\\b", "name\x7f", "caf\xc3\xa9.test",
                                "%s%s%n", "", " ", "a;b"};
    int fd = t_tls_socket(AF_INET);

    for (size_t i = 0; i < N(bad); i++) {
        if (!T_EXPECT_FAIL(fd, t_set_str(fd, TLS_REMOTE_HOSTNAME, bad[i]), EINVAL, NULL))
            t_note("TLS_REMOTE_HOSTNAME #%zu", i);
        if (!T_EXPECT_FAIL(fd, t_set_str(fd, TLS_HOSTNAME, bad[i]), EINVAL, NULL))
            t_note("TLS_HOSTNAME #%zu", i);
    }
    /* The refusals left the option unset. */
    char buf[300];
    socklen_t len = sizeof buf;
    T_CHECK(getsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, buf, &len) == 0 && buf[0] == '\0',
            "a refused name was kept: \"%s\"", buf);
    close(fd);
}

/* ---- Files ------------------------------------------------------------------------------ */

static void test_non_pem_files(void)
{
    const char *garbage = t_pki("garbage.pem");
    int fd = t_tls_socket(AF_INET);

    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_CERTIFICATE_CHAIN, garbage), EINVAL, "garbage.pem");
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, garbage), EINVAL, "garbage.pem");
    T_REQUIRE(t_set_str(fd, TLS_CERTIFICATE_CHAIN, t_pki("localhost-chain.pem")) == 0, "%s",
              t_tls_error(fd));
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_PRIVATE_KEY, garbage), EINVAL, "garbage.pem");
    /* A certificate is not a key, and a key is not a certificate. */
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_PRIVATE_KEY, t_pki("localhost.pem")), EINVAL, NULL);
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_CERTIFICATE_CHAIN, t_pki("localhost.key")), EINVAL, NULL);
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, t_pki("localhost.key")), EINVAL,
                  NULL);
    close(fd);
}

static void test_empty_and_special_files(void)
{
    char empty[PATH_MAX];
    int fd = t_tls_socket(AF_INET);

    snprintf(empty, sizeof empty, "%s/empty.pem", t_tmpdir());
    FILE *f = fopen(empty, "w");
    T_REQUIRE(f != NULL, "cannot create %s", empty);
    fclose(f);
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_CERTIFICATE_CHAIN, empty), EINVAL, "empty.pem");
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, empty), EINVAL, "empty.pem");
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_CERTIFICATE_CHAIN, "/dev/null"), EINVAL, "/dev/null");
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, "/dev/null"), EINVAL,
                  "/dev/null");
    /* A directory is a valid trust store only if it holds certificates. */
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_CERTIFICATE_CHAIN, t_tmpdir()), EINVAL, NULL);
    T_CHECK(t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, t_pki("cadir")) == 0, "cadir: %s",
            t_tls_error(fd));
    close(fd);
}

/* In a child: setting a path that never ends (a FIFO without writer, /dev/zero) must fail. */
static int set_path_child(const void *arg)
{
    const char *const *a = arg; /* option number as text, then the path */
    int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
    int opt = atoi(a[0]);

    if (fd < 0)
        return 1;
    if (opt == TLS_PRIVATE_KEY && t_set_str(fd, TLS_CERTIFICATE_CHAIN, a[2]) != 0)
        return 1;
    int rc = t_set_str(fd, opt, a[1]);
    return rc == -1 && errno == EINVAL ? 0 : 1;
}

static void test_endless_files(void)
{
    char fifo[PATH_MAX], opt[3][8];
    static const int opts[] = {TLS_TRUSTED_PEER_CERTIFICATES, TLS_CERTIFICATE_CHAIN,
                               TLS_PRIVATE_KEY};

    snprintf(fifo, sizeof fifo, "%s/fifo.pem", t_tmpdir());
    T_REQUIRE(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
    const char *paths[] = {fifo, "/dev/zero"};
    for (size_t i = 0; i < N(opts); i++)
        for (size_t k = 0; k < N(paths); k++) {
            char what[PATH_MAX + 64];
            snprintf(opt[0], sizeof opt[0], "%d", opts[i]);
            const char *args[] = {opt[0], paths[k], t_pki("localhost-chain.pem")};
            snprintf(what, sizeof what, "option %d = %s", opts[i], paths[k]);
            int rc = run_bounded(set_path_child, args, 5000, what);
            T_CHECK(rc == 0 || rc == -1, "%s: not EINVAL", what);
        }
}

static void test_missing_files(void)
{
    const char *missing = "/nonexistent/ssa-test/missing.pem";
    int fd = t_tls_socket(AF_INET);

    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_CERTIFICATE_CHAIN, missing), EINVAL, missing);
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, missing), EINVAL, missing);
    T_REQUIRE(t_set_str(fd, TLS_CERTIFICATE_CHAIN, t_pki("localhost-chain.pem")) == 0, "%s",
              t_tls_error(fd));
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_PRIVATE_KEY, missing), EINVAL, missing);
    close(fd);
}

static void test_key_mismatch(void)
{
    int fd = t_tls_socket(AF_INET);

    T_REQUIRE(t_set_str(fd, TLS_CERTIFICATE_CHAIN, t_pki("localhost-chain.pem")) == 0, "%s",
              t_tls_error(fd));
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_PRIVATE_KEY, t_pki("mismatch.key")), EINVAL,
                  "does not match");
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_PRIVATE_KEY, t_pki("example.key")), EINVAL,
                  "does not match");
    /* The right key still works afterwards. */
    T_CHECK(t_set_str(fd, TLS_PRIVATE_KEY, t_pki("localhost.key")) == 0, "%s", t_tls_error(fd));
    close(fd);
}

static void test_key_before_chain(void)
{
    int fd = t_tls_socket(AF_INET);

    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_PRIVATE_KEY, t_pki("localhost.key")), EINVAL,
                  "before any certificate chain");
    close(fd);
}

static void test_listen_with_incomplete_chain(void)
{
    int fd = t_tls_socket(AF_INET);
    struct sockaddr_in sin = {.sin_family = AF_INET};

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A chain whose key was refused cannot serve: listen() says so. */
    T_REQUIRE(t_set_str(fd, TLS_CERTIFICATE_CHAIN, t_pki("localhost-chain.pem")) == 0, "%s",
              t_tls_error(fd));
    T_EXPECT_FAIL(fd, t_set_str(fd, TLS_PRIVATE_KEY, t_pki("mismatch.key")), EINVAL, NULL);
    T_REQUIRE(bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0, "bind: %s", strerror(errno));
    T_EXPECT_FAIL(fd, listen(fd, 4), EINVAL, "key");
    close(fd);
}

/* ---- Levels the TLS layer does not own ------------------------------------------------- */

static void test_unknown_level(void)
{
    static const int levels[] = {999, 12345, -1};
    int tls = t_tls_socket(AF_INET);
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    int v = 1;
    char buf[16];

    T_REQUIRE(tcp >= 0, "tcp socket");
    for (size_t i = 0; i < N(levels); i++) {
        int rc_tcp = setsockopt(tcp, levels[i], 1, &v, sizeof v), e_tcp = errno;
        int rc_tls = setsockopt(tls, levels[i], 1, &v, sizeof v), e_tls = errno;
        T_CHECK(rc_tls == rc_tcp && (rc_tcp == 0 || e_tls == e_tcp),
                "setsockopt level %d: TLS %d %s, TCP %d %s", levels[i], rc_tls,
                t_errname(e_tls), rc_tcp, t_errname(e_tcp));
        socklen_t l1 = sizeof buf, l2 = sizeof buf;
        rc_tcp = getsockopt(tcp, levels[i], 1, buf, &l1);
        e_tcp = errno;
        rc_tls = getsockopt(tls, levels[i], 1, buf, &l2);
        e_tls = errno;
        T_CHECK(rc_tls == rc_tcp && (rc_tcp == 0 || e_tls == e_tcp),
                "getsockopt level %d: TLS %d %s, TCP %d %s", levels[i], rc_tls,
                t_errname(e_tls), rc_tcp, t_errname(e_tcp));
    }
    close(tcp);
    close(tls);
}

/* ---- Addresses -------------------------------------------------------------------------- */

/* connect() with a garbage address must fail at once, leaving the socket usable. */
static void test_garbage_sockaddr_host(void)
{
    int fd = t_tls_socket(AF_INET);
    struct sockaddr_host h;
    socklen_t header = offsetof(struct sockaddr_host, sin_addr);

    memset(&h, 'x', sizeof h); /* no NUL in the 255 bytes of the name */
    h.sin_family = AF_HOSTNAME;
    h.sin_port = htons(443);
    T_EXPECT_FAIL(fd, connect(fd, (struct sockaddr *)&h, sizeof h), EINVAL, NULL);
    /* Shorter than the header, or just the header. */
    static const socklen_t short_lens[] = {0, 1, 2, 3, 4};
    for (size_t i = 0; i < N(short_lens); i++)
        if (!T_EXPECT_FAIL(fd, connect(fd, (struct sockaddr *)&h, short_lens[i]), EINVAL, NULL))
            t_note("addrlen %u (header is %u)", short_lens[i], header);
    /* A NUL outside the addrlen given does not count. */
    memset(h.sin_addr.name, 'x', sizeof h.sin_addr.name);
    h.sin_addr.name[20] = '\0';
    T_EXPECT_FAIL(fd, connect(fd, (struct sockaddr *)&h, header + 10), EINVAL, NULL);
    /* Empty name. */
    h.sin_addr.name[0] = '\0';
    T_EXPECT_FAIL(fd, connect(fd, (struct sockaddr *)&h, sizeof h), EINVAL, NULL);
    T_EXPECT_FAIL(fd, connect(fd, (struct sockaddr *)&h, header + 1), EINVAL, NULL);
    /* NULL address. */
    T_EXPECT_FAIL(fd, connect(fd, NULL, 0), EINVAL, NULL);
    /* After all that the socket is still new: options can be set. */
    T_CHECK(t_set_str(fd, TLS_REMOTE_HOSTNAME, "localhost") == 0, "socket unusable: %s",
            t_tls_error(fd));
    close(fd);
}

static void test_hostname_with_bad_characters_connect(void)
{
    static const char *bad[] = {"evil name.invalid", "a\r\nb.invalid", "a\tb.invalid",
                                "a/b.invalid", "x\x01.invalid"};
    int fd = t_tls_socket(AF_INET);
    struct sockaddr_host h;

    /* Not host names: refused before any lookup, as TLS_REMOTE_HOSTNAME refuses them; they
     * would also become the name sent as SNI and verified. */
    for (size_t i = 0; i < N(bad); i++) {
        memset(&h, 0, sizeof h);
        h.sin_family = AF_HOSTNAME;
        h.sin_port = htons(443);
        snprintf((char *)h.sin_addr.name, sizeof h.sin_addr.name, "%s", bad[i]);
        int before = lookups;
        int rc = connect(fd, (struct sockaddr *)&h, sizeof h);
        int err = errno;
        T_CHECK(rc == -1 && err == EINVAL, "name #%zu: rc %d %s (TLS_ERROR: %s)", i, rc,
                t_errname(err), t_tls_error(fd));
        T_CHECK(lookups == before, "name #%zu was passed to getaddrinfo", i);
    }
    close(fd);
}

static void test_wrong_family(void)
{
    int v4 = t_tls_socket(AF_INET), v6 = t_tls_socket(AF_INET6);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(9)};
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9)};

    sin6.sin6_addr = in6addr_loopback;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    T_EXPECT_FAIL(v4, connect(v4, (struct sockaddr *)&sin6, sizeof sin6), EAFNOSUPPORT, NULL);
    T_EXPECT_FAIL(v6, connect(v6, (struct sockaddr *)&sin, sizeof sin), EAFNOSUPPORT, NULL);
    /* Right family, short length. */
    T_EXPECT_FAIL(v4, connect(v4, (struct sockaddr *)&sin, sizeof sin - 4), EINVAL, NULL);
    /* AF_UNIX on a TLS socket. */
    struct sockaddr_un sun = {.sun_family = AF_UNIX, .sun_path = "/tmp/x"};
    T_EXPECT_FAIL(v4, connect(v4, (struct sockaddr *)&sun, sizeof sun), EAFNOSUPPORT, NULL);
    /* bind() with the other family too. */
    T_EXPECT_FAIL(v4, bind(v4, (struct sockaddr *)&sin6, sizeof sin6), EAFNOSUPPORT, NULL);
    close(v4);
    close(v6);
}

static void test_bad_socket_types(void)
{
    static const int types[] = {SOCK_DGRAM, SOCK_DGRAM | SOCK_NONBLOCK, SOCK_SEQPACKET,
                                SOCK_RAW};
    static const int families[] = {AF_UNIX, AF_PACKET, AF_NETLINK, AF_HOSTNAME, 12345};

    for (size_t i = 0; i < N(types); i++) {
        int fd = socket(AF_INET, types[i], IPPROTO_TLS);
        int err = errno;
        T_CHECK(fd == -1 && err == EPROTONOSUPPORT, "AF_INET type %d: fd %d %s", types[i], fd,
                t_errname(err));
        if (fd >= 0)
            close(fd);
        fd = socket(AF_INET6, types[i], IPPROTO_TLS);
        err = errno;
        T_CHECK(fd == -1 && err == EPROTONOSUPPORT, "AF_INET6 type %d: fd %d %s", types[i], fd,
                t_errname(err));
        if (fd >= 0)
            close(fd);
    }
    for (size_t i = 0; i < N(families); i++) {
        int fd = socket(families[i], SOCK_STREAM, IPPROTO_TLS);
        int err = errno;
        T_CHECK(fd == -1 && err == EAFNOSUPPORT, "family %d: fd %d %s", families[i], fd,
                t_errname(err));
        if (fd >= 0)
            close(fd);
    }
}

/* ---- Descriptors ----------------------------------------------------------------------- */

static void check_all_ebadf(int fd, const char *what)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9)};
    socklen_t len = sizeof sin;
    int v = 1;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
#define BADF(call)                                                              \
    do {                                                                        \
        int rc_ = (call), e_ = errno;                                           \
        T_CHECK(rc_ == -1 && e_ == EBADF, "%s: %s: rc %d %s", what, #call, rc_, \
                t_errname(e_));                                                 \
    } while (0)
    BADF(ssa_connect(fd, (struct sockaddr *)&sin, sizeof sin));
    BADF(ssa_bind(fd, (struct sockaddr *)&sin, sizeof sin));
    BADF(ssa_listen(fd, 1));
    BADF(ssa_accept(fd, NULL, NULL));
    BADF(ssa_accept4(fd, NULL, NULL, SOCK_CLOEXEC));
    BADF(ssa_setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost", 10));
    BADF(ssa_setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v));
    BADF(ssa_getsockopt(fd, IPPROTO_TLS, TLS_ERROR, (char[64]){0}, &(socklen_t){64}));
    BADF(ssa_getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &(socklen_t){sizeof v}));
    BADF(ssa_getsockname(fd, (struct sockaddr *)&sin, &len));
    BADF(ssa_getpeername(fd, (struct sockaddr *)&sin, &len));
    BADF(ssa_shutdown(fd, SHUT_RDWR));
    BADF(ssa_close(fd));
    BADF(connect(fd, (struct sockaddr *)&sin, sizeof sin));
    BADF(setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost", 10));
#undef BADF
    T_CHECK(ssa_is_tls(fd) == 0, "%s: ssa_is_tls %d", what, ssa_is_tls(fd));
    char buf[64];
    T_CHECK(ssa_last_error(fd, buf, sizeof buf) == NULL, "%s: ssa_last_error gave text", what);
}

static void test_fd_minus_one(void)
{
    check_all_ebadf(-1, "fd -1");
    check_all_ebadf(INT_MAX, "fd INT_MAX");
}

static void test_closed_fd(void)
{
    int fd = t_tls_socket(AF_INET);

    T_REQUIRE(t_set_str(fd, TLS_REMOTE_HOSTNAME, "localhost") == 0, "%s", t_tls_error(fd));
    T_REQUIRE(close(fd) == 0, "close: %s", strerror(errno));
    /* Only meaningful if nothing took the number meanwhile (engine threads open no fds). */
    if (fcntl(fd, F_GETFD) != -1)
        T_SKIP_CASE("descriptor %d was reused at once", fd);
    check_all_ebadf(fd, "closed TLS fd");
}

/* Puts `other` in place of TLS socket fd: after close() (the usual reuse), or by dup2() over
 * it (an implicit close the library never sees).  Returns fd, now the other file. */
static int take_number(int fd, int other, int via_close)
{
    if (via_close)
        T_REQUIRE(close(fd) == 0, "close: %s", strerror(errno));
    T_REQUIRE(dup2(other, fd) == fd, "dup2: %s", strerror(errno));
    close(other);
    return fd;
}

static void check_reuse_by_pipe(int via_close)
{
    int p[2];
    T_REQUIRE(pipe(p) == 0, "pipe");
    int fd = take_number(t_tls_socket(AF_INET), p[0], via_close);

    T_EXPECT_FAIL(-1, setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost", 10), ENOTSOCK,
                  NULL);
    char buf[64];
    socklen_t len = sizeof buf;
    T_EXPECT_FAIL(-1, getsockopt(fd, IPPROTO_TLS, TLS_ERROR, buf, &len), ENOTSOCK, NULL);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9)};
    T_EXPECT_FAIL(-1, connect(fd, (struct sockaddr *)&sin, sizeof sin), ENOTSOCK, NULL);
    T_EXPECT_FAIL(-1, listen(fd, 1), ENOTSOCK, NULL);
    T_CHECK(ssa_is_tls(fd) == 0, "a pipe is a TLS socket");
    /* The pipe still works as a pipe, and close() closes it. */
    T_CHECK(write(p[1], "x", 1) == 1, "write to pipe: %s", strerror(errno));
    T_CHECK(read(fd, buf, 1) == 1 && buf[0] == 'x', "read from pipe: %s", strerror(errno));
    T_CHECK(close(fd) == 0 && fcntl(fd, F_GETFD) == -1, "close of the pipe");
    close(p[1]);
}

static void test_reuse_by_pipe(void)
{
    check_reuse_by_pipe(1);
}

static void test_dup2_pipe_over(void)
{
    check_reuse_by_pipe(0);
}

static void check_reuse_by_unix_socket(int via_close)
{
    /* A TLS socket's fd is an AF_UNIX socket too: a socketpair reusing the number must not be
     * taken for the TLS socket that had it. */
    int sv[2], ref[2];
    T_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    T_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, ref) == 0, "socketpair");
    int fd = take_number(t_tls_socket(AF_INET), sv[0], via_close);

    char buf[64];
    socklen_t l1 = sizeof buf, l2 = sizeof buf;
    int rc_ref = getsockopt(ref[0], IPPROTO_TLS, TLS_ERROR, buf, &l1), e_ref = errno;
    int rc = getsockopt(fd, IPPROTO_TLS, TLS_ERROR, buf, &l2), e = errno;
    T_CHECK(rc == rc_ref && e == e_ref, "reused fd: %d %s, plain socketpair: %d %s", rc,
            t_errname(e), rc_ref, t_errname(e_ref));
    T_CHECK(ssa_is_tls(fd) == 0, "a socketpair is a TLS socket");
    int v = 0;
    socklen_t vl = sizeof v;
    T_CHECK(getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &vl) == 0 && v != IPPROTO_TLS,
            "SO_PROTOCOL %d on a plain socketpair", v);
    T_CHECK(write(sv[1], "y", 1) == 1 && read(fd, buf, 1) == 1 && buf[0] == 'y',
            "the socketpair does not carry data");
    close(fd);
    close(sv[1]);
    close(ref[0]);
    close(ref[1]);
}

static void test_reuse_by_unix_socket(void)
{
    check_reuse_by_unix_socket(1);
}

static void test_dup2_unix_socket_over(void)
{
    check_reuse_by_unix_socket(0);
}

static void test_plain_sockets_untouched(void)
{
    /* Non-TLS sockets get exactly the kernel's answers to IPPROTO_TLS options. */
    int tcp = socket(AF_INET, SOCK_STREAM, 0), v = 1;
    char buf[64];
    socklen_t len = sizeof buf;

    T_REQUIRE(tcp >= 0, "socket");
    long k_set = syscall(SYS_setsockopt, tcp, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost", 10);
    int e_set = errno;
    long k_get = syscall(SYS_getsockopt, tcp, IPPROTO_TLS, TLS_ERROR, buf, &len);
    int e_get = errno;
    T_REQUIRE(k_set == -1 && k_get == -1, "the kernel accepts level 205 on TCP?");
    T_EXPECT_FAIL(-1, setsockopt(tcp, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost", 10), e_set,
                  NULL);
    len = sizeof buf;
    T_EXPECT_FAIL(-1, getsockopt(tcp, IPPROTO_TLS, TLS_ERROR, buf, &len), e_get, NULL);
    T_CHECK(setsockopt(tcp, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v) == 0, "SO_KEEPALIVE");
    T_CHECK(ssa_is_tls(tcp) == 0, "plain TCP is TLS");
    close(tcp);
}

/* ---- fork() ----------------------------------------------------------------------------- */

static int trivial_child(const void *arg)
{
    (void)arg;
    return 0;
}

static void test_fork_with_open_socket(void)
{
    /* The library's fork handlers run in the child before it returns from fork(): they must
     * not wait for a lock the parent's threads held (a TLS socket is open, so they have work). */
    int fd = t_tls_socket(AF_INET);

    T_REQUIRE(t_set_str(fd, TLS_REMOTE_HOSTNAME, "localhost") == 0, "%s", t_tls_error(fd));
    int rc = run_bounded(trivial_child, NULL, 5000, "fork() with a TLS socket open");
    T_CHECK(rc == 0 || rc == -1, "child exited %d", rc);
    close(fd);
}

/* ---- Peers that hang up -------------------------------------------------------------- */

/*
 * In a child: TLS connects to a plain TCP listener that accepts and closes at once, many
 * times.  The library's writes on the dead connection (ClientHello, alerts) must not raise
 * SIGPIPE: the application never wrote to it, and SIGPIPE's default action kills it.
 * Returns the number of connects that did not report an error.
 */
static int hangup_child(const void *arg)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof sin;
    int l = socket(AF_INET, SOCK_STREAM, 0), unexpected = 0;

    (void)arg;
    signal(SIGPIPE, SIG_DFL);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(l, 8) < 0 ||
        getsockname(l, (struct sockaddr *)&sin, &len) < 0)
        return 100;
    for (int i = 0; i < 100; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TLS), err = 0;
        socklen_t el = sizeof err;
        if (fd < 0)
            return 100;
        setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost", 10);
        connect(fd, (struct sockaddr *)&sin, sizeof sin);
        int c = accept(l, NULL, NULL);
        if (c >= 0)
            close(c);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 10000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 ||
            err == 0)
            unexpected++;
        close(fd);
    }
    close(l);
    return unexpected;
}

/* TCP sockets open in this process (the library's T sockets among them). */
static int count_inet_sockets(void)
{
    int n = 0;

    for (int fd = 0; fd < 4096; fd++) {
        int dom;
        socklen_t l = sizeof dom;
        if (syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) == 0 &&
            (dom == AF_INET || dom == AF_INET6))
            n++;
    }
    return n;
}

/*
 * In a child: the application closes a connecting socket, then the connect fails (the peer
 * hangs up).  The library must still free the socket and its TCP descriptor.  SIGPIPE is
 * ignored here so that this checks the leak alone.  Returns the number of TCP sockets left
 * over once the engine has had time to clean up (bounded wait).
 */
static int close_while_connecting_child(const void *arg)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof sin;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    (void)arg;
    signal(SIGPIPE, SIG_IGN);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(l, 64) < 0 ||
        getsockname(l, (struct sockaddr *)&sin, &len) < 0)
        return 100;
    int before = count_inet_sockets();
    for (int i = 0; i < 20; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TLS);
        if (fd < 0)
            return 100;
        connect(fd, (struct sockaddr *)&sin, sizeof sin);
        close(fd); /* before the handshake has failed */
        struct pollfd p = {.fd = l, .events = POLLIN};
        int c = poll(&p, 1, 5000) == 1 ? accept(l, NULL, NULL) : -1;
        if (c >= 0)
            close(c); /* now it fails */
    }
    /* Cleanup is asynchronous: wait until the count settles, at most 5 s. */
    int left = count_inet_sockets() - before;
    for (int waited = 0; left > 0 && waited < 5000; waited += 50) {
        poll(NULL, 0, 50);
        left = count_inet_sockets() - before;
    }
    close(l);
    return left;
}

static void test_close_while_connecting(void)
{
    int rc = run_bounded(close_while_connecting_child, NULL, 20000, "close while connecting");

    T_CHECK(rc <= 0, "%d of 20 TCP descriptors leaked (connect failed after close)", rc);
}

static void test_peer_hangs_up(void)
{
    int rc = run_bounded(hangup_child, NULL, 20000, "peer closing at once");

    /* rc -1 (a hang or a signal) is reported by run_bounded. */
    T_CHECK(rc <= 0, "%d connects to a peer that hung up reported success", rc);
}

int main(void)
{
    /* This program's own policy: the defaults, whatever /etc/ssa/ssa.conf says. */
    t_use_policy_text("badinput.conf", "default = { handshake-timeout = 5.0; };\n");
    t_set_timeout(20);

    t_run("NULL optval with any optlen: refused", test_null_optval_set);
    t_run("optlen 0: refused", test_optlen_zero_set);
    t_run("getsockopt with optlen NULL: EFAULT or EINVAL", test_null_optlen_get);
    t_run("getsockopt with NULL optval: refused", test_null_optval_get);
    t_run("getsockopt short buffers: nothing written past optlen", test_short_buffers_get);
    t_run("unterminated 300-byte strings: EINVAL", test_unterminated_hostname);
    t_run("host names with spaces or control characters: EINVAL", test_hostname_bad_characters);
    t_run("non-PEM files: EINVAL with TLS_ERROR", test_non_pem_files);
    t_run("empty files, /dev/null, directories", test_empty_and_special_files);
    t_run("missing files: EINVAL naming the path", test_missing_files);
    t_run("key not matching its chain: EINVAL", test_key_mismatch);
    t_run("key before any chain: EINVAL", test_key_before_chain);
    t_run("listen with a chain without key: fails", test_listen_with_incomplete_chain);
    t_run("unknown level: the kernel's answer for TCP", test_unknown_level);
    t_run("garbage sockaddr_host: EINVAL at once", test_garbage_sockaddr_host);
    t_run("AF_HOSTNAME name with spaces/CRLF: EINVAL, no lookup",
          test_hostname_with_bad_characters_connect);
    t_run("address of the wrong family: EAFNOSUPPORT", test_wrong_family);
    t_run("socket() with unsupported type or family", test_bad_socket_types);
    t_run("ssa_* on fd -1: EBADF", test_fd_minus_one);
    t_run("ssa_* on a closed TLS fd: EBADF", test_closed_fd);
    t_run("TLS fd reused by a pipe: ENOTSOCK", test_reuse_by_pipe);
    t_run("TLS fd replaced by dup2 of a pipe: ENOTSOCK", test_dup2_pipe_over);
    t_run("TLS fd reused by a socketpair: the kernel's answers", test_reuse_by_unix_socket);
    t_run("TLS fd replaced by dup2 of a socketpair: the kernel's answers",
          test_dup2_unix_socket_over);
    t_run("plain TCP sockets: the kernel's answers", test_plain_sockets_untouched);
    t_run("fork() with a TLS socket open: the child runs", test_fork_with_open_socket);
    t_run("peer closing at once: connect fails, no SIGPIPE", test_peer_hangs_up);
    t_run("close while connecting, then the connect fails: nothing leaks",
          test_close_while_connecting);
    /* Last: a hang here is contained by run_bounded, but keep it away from the rest. */
    t_run("FIFO and /dev/zero as certificate files: EINVAL, no hang", test_endless_files);
    return t_done();
}
