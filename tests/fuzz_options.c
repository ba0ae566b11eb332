/*
 * fuzz_options.c -- libFuzzer target for the option and address parsing of TLS sockets.
 *
 * Each input is a small program run on one fresh non-blocking TLS socket: setsockopt and
 * getsockopt with arbitrary levels, names, values and lengths, connect() with arbitrary
 * sockaddrs and lengths, bind+listen, accept, shutdown.  The socket is closed at the end of
 * every input.  Buffers are allocated at exactly the length passed, so that ASan catches any
 * read or write past it.
 *
 * Nothing may reach the network: every AF_INET/AF_INET6 address is rewritten to 127.0.0.1/::1
 * and a port of this process (a silent listener) or a closed one; AF_HOSTNAME names become
 * "localhost", a name under ".invalid", or stay malformed; and getaddrinfo(), replaced by
 * fuzz_common.h for the library compiled in with it, answers loopback names only.  Paths for
 * certificate options come from a fixed menu (the test PKI, a file holding fuzz bytes, ...).
 *
 * Invariants checked beyond "no crash": a successful getsockopt never reports more bytes than
 * the buffer had, string options come back NUL-terminated, descriptors do not leak (unless
 * FUZZ_IGNORE_FD_LEAKS is set), and the library raises no SIGPIPE (unless FUZZ_IGNORE_SIGPIPE
 * is set).  The two variables let a run look past those known bugs for others.
 *
 * Build: tests/fuzz.sh BUILD_DIR SECONDS.  With -DFUZZ_STANDALONE it gets a main() that runs
 * the target over the files named on the command line (no libFuzzer needed).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ssa/in_tls.h>
#include <ssa/ssa.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 24
#define MAX_OPTLEN 4096

/* Copies n bytes (fewer if the input ends: zeros) into a fresh buffer of exactly n bytes. */
static uint8_t *take(struct input *in, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);

    if (b == NULL)
        abort();
    memset(b, 0, n ? n : 1);
    size_t k = n < in->n ? n : in->n;
    memcpy(b, in->p, k);
    in->p += k;
    in->n -= k;
    return b;
}

/* ---- Process-wide setup: silent listeners, a scratch directory, the PKI ---------------- */

static int listen4 = -1, listen6 = -1;
static uint16_t port4, port6, closed_port;
static char scratch[256];
static const char *pki;

static int loopback_listener(int family, uint16_t *port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&ss, 0, sizeof ss);
    if (family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        s->sin_family = AF_INET;
        s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *s;
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        s->sin6_family = AF_INET6;
        s->sin6_addr = in6addr_loopback;
        len = sizeof *s;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

/*
 * The inputs never write to a broken connection themselves (their sends use MSG_NOSIGNAL), so
 * a SIGPIPE can only come from the library writing without MSG_NOSIGNAL: a process that has
 * not ignored SIGPIPE would die of it.  Abort instead, so that the stack is reported.
 */
static void on_sigpipe(int sig)
{
    static const char msg[] = "SIGPIPE raised inside the library\n";
    static int entered;

    (void)sig;
    /* Several engine threads may get one: the first reports, the others wait for the end. */
    if (__atomic_exchange_n(&entered, 1, __ATOMIC_SEQ_CST))
        for (;;)
            pause();
    (void)!write(2, msg, sizeof msg - 1);
    abort();
}

static void setup_once(void)
{
    static int done;

    if (done)
        return;
    done = 1;
    /* FUZZ_IGNORE_SIGPIPE=1 looks past that bug for others. */
    signal(SIGPIPE, getenv("FUZZ_IGNORE_SIGPIPE") ? SIG_IGN : on_sigpipe);
    listen4 = loopback_listener(AF_INET, &port4);
    listen6 = loopback_listener(AF_INET6, &port6);
    /* A port nothing listens on (connections to it are refused). */
    int tmp = loopback_listener(AF_INET, &closed_port);
    if (tmp >= 0)
        close(tmp);
    const char *base = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/ssa-fuzz-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(scratch) == NULL)
        scratch[0] = '\0';
    pki = getenv("SSA_TEST_PKI");
    /* Every input starts with a TLS socket: if none can be made, the target would fuzz nothing. */
    int probe = ssa_socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
    if (probe < 0) {
        fprintf(stderr, "fuzz_options: no TLS socket can be made (%s): nothing to fuzz\n",
                strerror(errno));
        abort();
    }
    ssa_close(probe);
}

/* Connections to the silent listeners are accepted and dropped, so their queues never fill. */
static void drain_listeners(void)
{
    int fds[2] = {listen4, listen6};

    for (int i = 0; i < 2; i++) {
        int c;
        while (fds[i] >= 0 && (c = accept4(fds[i], NULL, NULL, SOCK_NONBLOCK)) >= 0)
            close(c);
    }
}

/* ---- Values ------------------------------------------------------------------------------ */

static const char *pki_path(const char *file)
{
    static char path[8][512];
    static unsigned next;
    char *p = path[next++ % 8];

    snprintf(p, 512, "%s/%s", pki ? pki : "/nonexistent-pki", file);
    return p;
}

/* A path for TLS_TRUSTED_PEER_CERTIFICATES, TLS_CERTIFICATE_CHAIN or TLS_PRIVATE_KEY. */
static char *path_value(struct input *in, socklen_t *len)
{
    static const char *pki_files[] = {"ca.pem", "localhost-chain.pem", "localhost.key",
                                      "example-chain.pem", "example.key", "mismatch.key",
                                      "garbage.pem", "cadir", "rsa2048.key", "deep-chain.pem"};
    static const char *others[] = {"/dev/null", "/", "/nonexistent/file.pem", "", "."};
    uint8_t pick = u8(in);
    char path[600];

    if (pick < 100 && scratch[0]) {
        /* A file holding fuzz bytes: exercises the PEM readers with hostile content. */
        size_t n = u16(in) % 2048;
        uint8_t *content = take(in, n);
        snprintf(path, sizeof path, "%s/value.pem", scratch);
        FILE *f = fopen(path, "w");
        if (f) {
            fwrite(content, 1, n, f);
            fclose(f);
        }
        free(content);
    } else if (pick < 200) {
        snprintf(path, sizeof path, "%s", pki_path(pki_files[pick % 10]));
    } else {
        snprintf(path, sizeof path, "%s", others[pick % 5]);
    }
    *len = (socklen_t)strlen(path) + 1;
    char *v = malloc(*len);
    if (v == NULL)
        abort();
    memcpy(v, path, *len);
    return v;
}

struct opt {
    int level, name;
};

/* Levels and names: mostly IPPROTO_TLS, the others the library forwards or answers itself. */
static struct opt pick_option(struct input *in)
{
    static const struct opt forwarded[] = {
        {SOL_SOCKET, SO_KEEPALIVE},    {SOL_SOCKET, SO_RCVBUF},    {SOL_SOCKET, SO_SNDBUF},
        {SOL_SOCKET, SO_RCVTIMEO},     {SOL_SOCKET, SO_SNDTIMEO},  {SOL_SOCKET, SO_LINGER},
        {SOL_SOCKET, SO_REUSEADDR},    {SOL_SOCKET, SO_REUSEPORT}, {SOL_SOCKET, SO_ERROR},
        {SOL_SOCKET, SO_PROTOCOL},     {SOL_SOCKET, SO_DOMAIN},    {SOL_SOCKET, SO_TYPE},
        {SOL_SOCKET, SO_ACCEPTCONN},   {SOL_SOCKET, SO_PRIORITY},  {IPPROTO_TCP, TCP_NODELAY},
        {IPPROTO_TCP, TCP_MAXSEG},     {IPPROTO_TCP, TCP_UPGRADE_TLS},
        {IPPROTO_TCP, TCP_USER_TIMEOUT}, {IPPROTO_IP, IP_TOS},  {IPPROTO_IPV6, IPV6_V6ONLY},
        {999, 1},
    };
    uint8_t sel = u8(in);
    struct opt o;

    if (sel < 200) {
        o.level = IPPROTO_TLS;
        uint8_t n = u8(in);
        /* 80..133 covers every option and the gaps; sometimes any number at all. */
        o.name = n < 240 ? 80 + n % 54 : (int)u32(in);
    } else {
        o = forwarded[sel % (sizeof forwarded / sizeof forwarded[0])];
    }
    return o;
}

static int is_path_option(struct opt o)
{
    return o.level == IPPROTO_TLS &&
           (o.name == TLS_TRUSTED_PEER_CERTIFICATES || o.name == TLS_CERTIFICATE_CHAIN ||
            o.name == TLS_PRIVATE_KEY);
}

static int is_string_option(struct opt o)
{
    if (o.level != IPPROTO_TLS)
        return 0;
    switch (o.name) {
    case TLS_REMOTE_HOSTNAME:
    case TLS_HOSTNAME:
    case TLS_ALPN:
    case TLS_PEER_IDENTITY:
    case TLS_PEER_CERTIFICATE_CHAIN:
    case TLS_TRUSTED_CIPHERS:
    case TLS_CHOSEN_CIPHER:
    case TLS_ERROR:
        return 1;
    default:
        return 0;
    }
}

/* ---- Operations ------------------------------------------------------------------------ */

static void op_setsockopt(int fd, struct input *in)
{
    struct opt o = pick_option(in);
    uint8_t mode = u8(in);
    socklen_t len;
    void *val;

    if (mode < 8) {
        /* NULL with an arbitrary length: the library must not dereference it. */
        ssa_setsockopt(fd, o.level, o.name, NULL, u32(in));
        return;
    }
    if (is_path_option(o) && mode < 160) {
        val = path_value(in, &len);
    } else {
        len = u16(in) % (MAX_OPTLEN + 1);
        val = take(in, len);
    }
    ssa_setsockopt(fd, o.level, o.name, val, len);
    free(val);
}

static void op_getsockopt(int fd, struct input *in)
{
    struct opt o = pick_option(in);
    uint8_t mode = u8(in);
    socklen_t size = u16(in) % (MAX_OPTLEN + 1), len = size;
    char *buf;

    if (mode < 8) {
        ssa_getsockopt(fd, o.level, o.name, NULL, mode < 4 ? NULL : &len);
        return;
    }
    buf = malloc(size ? size : 1);
    if (buf == NULL)
        abort();
    memset(buf, 0xa5, size ? size : 1);
    int rc = ssa_getsockopt(fd, o.level, o.name, mode < 16 ? NULL : buf, mode < 12 ? NULL : &len);
    if (rc == 0 && mode >= 16) {
        if (len > size) {
            fprintf(stderr, "getsockopt(%d, %d): optlen %u > buffer %u on success\n", o.level,
                    o.name, len, size);
            abort();
        }
        if (is_string_option(o) && (len == 0 || buf[len - 1] != '\0')) {
            fprintf(stderr, "getsockopt(TLS, %d): string of %u bytes not NUL-terminated\n",
                    o.name, len);
            abort();
        }
    }
    free(buf);
}

static uint16_t pick_port(struct input *in, int family)
{
    switch (u8(in) % 3) {
    case 0:
        return htons(family == AF_INET6 ? port6 : port4);
    case 1:
        return htons(closed_port);
    default:
        return 0;
    }
}

static void op_connect(int fd, int family, struct input *in)
{
    static const int families[] = {AF_HOSTNAME, AF_INET, AF_INET6, AF_UNIX, AF_HOSTNAME};
    uint8_t f = u8(in);
    socklen_t len = u16(in) % (sizeof(struct sockaddr_host) + 16);
    uint8_t *addr = take(in, len);

    if (f < 250) {
        uint16_t fam = (uint16_t)families[f % 5];
        if (len >= 2)
            memcpy(addr, &fam, 2);
    }
    sa_family_t sf = 0;
    if (len >= 2)
        memcpy(&sf, addr, 2);
    /* Whatever reaches connect() must point at this machine. */
    if (sf == AF_INET && len >= 8) {
        struct sockaddr_in sin;
        memcpy(&sin, addr, len < sizeof sin ? len : sizeof sin);
        sin.sin_port = pick_port(in, AF_INET);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        memcpy(addr, &sin, len < sizeof sin ? len : sizeof sin);
    } else if (sf == AF_INET6 && len >= 24) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, addr, len < sizeof sin6 ? len : sizeof sin6);
        sin6.sin6_port = pick_port(in, AF_INET6);
        sin6.sin6_addr = in6addr_loopback;
        sin6.sin6_scope_id = 0;
        memcpy(addr, &sin6, len < sizeof sin6 ? len : sizeof sin6);
    } else if (sf == AF_HOSTNAME && len > offsetof(struct sockaddr_host, sin_addr)) {
        uint16_t port = pick_port(in, family);
        memcpy(addr + 2, &port, 2);
        rewrite_host_name(addr, len, in);
    } else if (sf == AF_INET || sf == AF_INET6) {
        /* Too short to hold an address: the library must refuse it; make sure of it. */
    }
    ssa_connect(fd, (const struct sockaddr *)addr, len);
    /* A second connect: EALREADY, EISCONN, or the first failure again. */
    if (u8(in) & 1)
        ssa_connect(fd, (const struct sockaddr *)addr, len);
    free(addr);
}

static void op_listen(int fd, int family, struct input *in)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};

    /* Bound to loopback first: listen() on an unbound socket would take all interfaces. */
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin6.sin6_addr = in6addr_loopback;
    if (family == AF_INET ? ssa_bind(fd, (struct sockaddr *)&sin, sizeof sin)
                          : ssa_bind(fd, (struct sockaddr *)&sin6, sizeof sin6))
        return;
    ssa_listen(fd, (int)(int8_t)u8(in));
    ssa_accept4(fd, NULL, NULL, SOCK_NONBLOCK);
}

static void op_misc(int fd, struct input *in)
{
    struct sockaddr_storage ss;
    socklen_t len = (socklen_t)(u8(in) % (sizeof ss + 1));

    switch (u8(in) % 5) {
    case 0:
        ssa_shutdown(fd, u8(in) % 4);
        break;
    case 1:
        ssa_getsockname(fd, (struct sockaddr *)&ss, &len);
        break;
    case 2:
        ssa_getpeername(fd, (struct sockaddr *)&ss, &len);
        break;
    case 3: {
        char buf[300];
        ssa_last_error(fd, buf, u8(in) % sizeof buf);
        break;
    }
    default: {
        char c = 'x';
        /* A write before the handshake: discarded, never sent in the clear. */
        (void)!send(fd, &c, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
    }
    }
}

/* An fd leak shows up as a steadily growing count; the engine frees asynchronously, so the
 * bound is loose. */
static void check_fd_leak(void)
{
    static unsigned iterations;
    DIR *d;
    int n = 0;

    if (++iterations % 512 != 0 || getenv("FUZZ_IGNORE_FD_LEAKS") ||
        (d = opendir("/proc/self/fd")) == NULL)
        return;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    if (n > 4096) {
        fprintf(stderr, "%d descriptors open after %u inputs: leak\n", n, iterations);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};

    setup_once();
    uint8_t flags = u8(&in);
    int family = flags & 1 ? AF_INET6 : AF_INET;
    int fd = ssa_socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TLS);
    if (fd < 0)
        return 0;
    for (int i = 0; i < MAX_OPS && in.n > 0; i++) {
        switch (u8(&in) % 8) {
        case 0:
        case 1:
        case 2:
            op_setsockopt(fd, &in);
            break;
        case 3:
        case 4:
            op_getsockopt(fd, &in);
            break;
        case 5:
            op_connect(fd, family, &in);
            break;
        case 6:
            op_listen(fd, family, &in);
            break;
        default:
            op_misc(fd, &in);
            break;
        }
    }
    if (flags & 2) {
        /* Also through a dup: the registry must find the socket by its open file. */
        int d = dup(fd);
        if (d >= 0) {
            int v;
            socklen_t l = sizeof v;
            ssa_getsockopt(d, IPPROTO_TLS, TLS_VERSION_MIN, &v, &l);
            ssa_close(d);
        }
    }
    ssa_close(fd);
    drain_listeners();
    check_fd_leak();
    return 0;
}
