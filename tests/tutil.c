/*
 * tutil.c -- the test harness declared in tutil.h.  Depends on libc only (and on the constants of
 * <ssa/in_tls.h>, not on libssa).
 */
#define _GNU_SOURCE /* pipe2, strerrorname_np */
#include "tutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ssa/in_tls.h>

extern char **environ;

#define DIAG_MAX 16384   /* diagnostics kept per case */
#define MAX_PEERS 32
#define MAX_ARGS 64
#define PEER_READY_MS 10000
#define STOP_GRACE_MS 2000

/* ---------------------------------------------------------------------------------------- */
/* State.  Fields read by the signal handlers are plain integers and fixed buffers only.     */

static struct {
    int inited;
    pid_t owner;              /* process that may stop peers and remove the temp dir */
    unsigned timeout;         /* watchdog seconds for the next cases */
    int n, passed, failed, skipped;
    int in_case, case_failed, case_skipped;
    char name[256];
    char diag[DIAG_MAX];
    size_t diag_len;
    jmp_buf jump;             /* T_REQUIRE / T_SKIP_CASE leave the case through here */
    char tmpdir[PATH_MAX];
    char pki[PATH_MAX];
} T;

static pthread_mutex_t diag_lock = PTHREAD_MUTEX_INITIALIZER;

struct peer {
    pid_t pid;                /* 0 = free slot */
    int stdin_fd;
    char log[PATH_MAX];
};
static struct peer peers[MAX_PEERS];
static volatile pid_t cmd_pid;   /* child of t_run_cmd, killed too if the watchdog fires */

static void init(void);

/* ---------------------------------------------------------------------------------------- */
/* Small helpers.                                                                            */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(int ms)
{
    poll(NULL, 0, ms);
}

/* Strings returned to callers that must stay valid until exit (t_pki paths and the like). */
static const char *intern(const char *s)
{
    static struct node { struct node *next; char s[]; } *head;
    for (struct node *p = head; p; p = p->next)
        if (strcmp(p->s, s) == 0)
            return p->s;
    struct node *p = malloc(sizeof *p + strlen(s) + 1);
    if (!p)
        t_bail("out of memory");
    strcpy(p->s, s);
    p->next = head;
    head = p;
    return p->s;
}

/* Append one message to the case's diagnostics, "# " in front of each of its lines. */
static void diag_add(const char *msg)
{
    pthread_mutex_lock(&diag_lock);
    const char *line = msg;
    while (*line) {
        size_t len = strcspn(line, "\n");
        size_t room = sizeof T.diag - T.diag_len;
        int w = snprintf(T.diag + T.diag_len, room, "# %.*s\n", (int)len, line);
        if (w < 0 || (size_t)w >= room) {
            static const char cut[] = "# (more diagnostics cut)\n";
            memcpy(T.diag + sizeof T.diag - sizeof cut, cut, sizeof cut);
            T.diag_len = sizeof T.diag - 1;
            break;
        }
        T.diag_len += (size_t)w;
        line += len + (line[len] == '\n');
    }
    pthread_mutex_unlock(&diag_lock);
}

static void diag_vadd(const char *prefix, const char *fmt, va_list ap)
{
    char msg[4096];
    int off = snprintf(msg, sizeof msg, "%s", prefix);
    vsnprintf(msg + off, sizeof msg - (size_t)off, fmt, ap);
    diag_add(msg);
}

/* ---------------------------------------------------------------------------------------- */
/* Async-signal-safe reporting for the watchdog and crash handlers: write(2) only.            */

static size_t put_str(char *buf, size_t len, size_t cap, const char *s)
{
    while (*s && len + 1 < cap)
        buf[len++] = *s++;
    return len;
}

static size_t put_uint(char *buf, size_t len, size_t cap, unsigned long v)
{
    char digits[24];
    int i = 0;
    do digits[i++] = (char)('0' + v % 10); while ((v /= 10) && i < 23);
    while (i > 0 && len + 1 < cap)
        buf[len++] = digits[--i];
    return len;
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w <= 0 && errno != EINTR)
            return;
        if (w > 0) {
            buf += w;
            len -= (size_t)w;
        }
    }
}

static const char *signame(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    case SIGPIPE: return "SIGPIPE";
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case SIGQUIT: return "SIGQUIT";
    case SIGALRM: return "SIGALRM";
    default: return "a signal";
    }
}

/* Kill every peer (and a running t_run_cmd child) at once: used when we are about to die. */
static void kill_peers_now(void)
{
    if (getpid() != T.owner)
        return;   /* a forked child must not kill its parent's peers */
    pid_t c = cmd_pid;
    if (c > 0 && kill(c, SIGKILL) == 0)
        waitpid(c, NULL, 0);
    for (int i = 0; i < MAX_PEERS; i++)
        if (peers[i].pid > 0 && kill(peers[i].pid, SIGKILL) == 0)
            waitpid(peers[i].pid, NULL, 0);
}

/* Report the running case as failed for `why`, then the plan and summary. */
static void report_death(const char *why, int sig)
{
    char b[512];
    size_t n = 0;
    int failed = T.failed;
    if (T.in_case) {
        n = put_str(b, n, sizeof b, "not ok ");
        n = put_uint(b, n, sizeof b, (unsigned long)T.n);
        n = put_str(b, n, sizeof b, " - ");
        n = put_str(b, n, sizeof b, T.name);
        n = put_str(b, n, sizeof b, "\n");
        failed++;
    }
    n = put_str(b, n, sizeof b, "# ");
    n = put_str(b, n, sizeof b, why);
    if (sig == SIGALRM) {
        n = put_uint(b, n, sizeof b, T.timeout);
        n = put_str(b, n, sizeof b, " s (watchdog)\n");
    } else {
        n = put_str(b, n, sizeof b, signame(sig));
        n = put_str(b, n, sizeof b, "\n");
    }
    write_all(1, b, n);
    if (T.in_case)
        write_all(1, T.diag, T.diag_len);
    n = put_str(b, 0, sizeof b, "1..");
    n = put_uint(b, n, sizeof b, (unsigned long)T.n);
    n = put_str(b, n, sizeof b, "\n# passed ");
    n = put_uint(b, n, sizeof b, (unsigned long)T.passed);
    n = put_str(b, n, sizeof b, " failed ");
    n = put_uint(b, n, sizeof b, (unsigned long)failed);
    n = put_str(b, n, sizeof b, " skipped ");
    n = put_uint(b, n, sizeof b, (unsigned long)T.skipped);
    n = put_str(b, n, sizeof b, "\n");
    if (T.tmpdir[0] && getpid() == T.owner) {   /* peer logs are there: keep them */
        n = put_str(b, n, sizeof b, "# test files kept in ");
        n = put_str(b, n, sizeof b, T.tmpdir);
        n = put_str(b, n, sizeof b, "\n");
    }
    write_all(1, b, n);
}

static void on_alarm(int sig)
{
    report_death("timed out after ", sig);
    kill_peers_now();
    _exit(1);
}

static void on_fatal(int sig)
{
    report_death("killed by ", sig);
    kill_peers_now();
    raise(sig);   /* SA_RESETHAND made it the default action again: die of it */
    _exit(128 + sig);
}

/* A path in the temp dir, named from fmt.  A temp dir so long that the path would be cut short
 * is fatal: a cut path would name some other file. */
static void tmp_path(char *buf, size_t size, const char *fmt, ...) T_PRINTF_(3, 4);
static void tmp_path(char *buf, size_t size, const char *fmt, ...)
{
    int n = snprintf(buf, size, "%s/", t_tmpdir());
    va_list ap;
    va_start(ap, fmt);
    int m = n >= 0 && (size_t)n < size ? vsnprintf(buf + n, size - (size_t)n, fmt, ap) : -1;
    va_end(ap);
    if (m < 0 || (size_t)n + (size_t)m >= size)
        t_bail("a path in %s would be longer than %zu bytes", t_tmpdir(), size - 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Backends.                                                                                  */

int t_daemon_backend(void)
{
    const char *b = getenv("SSA_TEST_BACKEND");
    return b != NULL && strcmp(b, "daemon") == 0;
}

void t_use_policy(const char *path)
{
    static pid_t ssad = -1;
    static int generation;
    static char sock[PATH_MAX];
    const char *bin = getenv("SSA_TEST_SSAD");
    int port = 0;

    setenv("SSA_CONFIG", path, 1);
    if (!t_daemon_backend())
        return;
    if (bin == NULL || *bin == '\0')
        t_bail("SSA_TEST_BACKEND=daemon needs SSA_TEST_SSAD (the ssad binary)");
    if (ssad > 0)
        t_stop_peer(ssad);
    tmp_path(sock, sizeof sock, "ssad-%d.sock", generation++);
    /* As root ssad would become user ssad, who cannot read this program's temporary files. */
    const char *argv[] = { bin, "--config", path, "--socket", sock,
                           getuid() == 0 ? "--user" : NULL, "root", NULL };
    ssad = t_spawn_peer(argv, &port, "serving on");
    if (ssad < 0)
        t_bail("ssad did not start with policy %s", path);
    setenv("SSA_BACKEND", "daemon", 1);
    setenv("SSA_DAEMON_SOCKET", sock, 1);
}

void t_use_policy_text(const char *file, const char *fmt, ...)
{
    char path[PATH_MAX];
    tmp_path(path, sizeof path, "%s", file);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        t_bail("cannot write %s: %s", path, strerror(errno));
    va_list ap;
    va_start(ap, fmt);
    int rc = vfprintf(f, fmt, ap);
    va_end(ap);
    if (fclose(f) != 0 || rc < 0)
        t_bail("cannot write %s: %s", path, strerror(errno));
    t_use_policy(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Setup and exit.                                                                            */

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb; (void)type; (void)ftw;
    remove(path);
    return 0;
}

static void at_exit(void)
{
    if (getpid() != T.owner)
        return;
    for (int i = 0; i < MAX_PEERS; i++)
        if (peers[i].pid > 0)
            t_stop_peer(peers[i].pid);
    if (T.tmpdir[0] == '\0')
        return;
    const char *keep = getenv("SSA_TEST_KEEP");
    if (T.failed > 0 || (keep && *keep && strcmp(keep, "0") != 0)) {
        printf("# test files kept in %s\n", T.tmpdir);
        fflush(stdout);
    } else {
        nftw(T.tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

/*
 * Under ASan, a forked child ends without LeakSanitizer's check at exit.  GCC 12's ASan runtime
 * does not hold its allocator lock across fork(): a child forked while another thread of the
 * parent was allocating waits for that lock forever in the check (seen in test_eof: exit() ->
 * DoLeakCheck -> LockAllocator -> futex).  Registered before any other exit handler of ours or
 * libssa's, this runs after them all, so a child's exit() still flushes its TLS connections;
 * it skips only the runtime's own end-of-process work.  The test process itself is checked.
 */
static pid_t asan_parent;

static void end_child_without_leak_check(int status, void *unused)
{
    (void)unused;
    if (getpid() == asan_parent)
        return;
    fflush(NULL);
    _exit(status);
}

__attribute__((constructor)) static void register_child_exit(void)
{
    if (getenv("SSA_TEST_UNDER_ASAN") == NULL)
        return;
    asan_parent = getpid();
    on_exit(end_child_without_leak_check, NULL);
}

static void init(void)
{
    if (T.inited)
        return;
    T.inited = 1;
    T.owner = getpid();
    T.timeout = 30;
    const char *env = getenv("SSA_TEST_TIMEOUT");
    if (env && atoi(env) > 0)
        T.timeout = (unsigned)atoi(env);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    /* Reset to default on entry, and not blocked, so the handler's raise() kills us. */
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    static const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
                                 SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT };
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        sigaction(fatal[i], &sa, NULL);
    atexit(at_exit);
}

void t_set_timeout(unsigned seconds)
{
    init();
    T.timeout = seconds;
}

/* ---------------------------------------------------------------------------------------- */
/* Cases.                                                                                    */

static void begin_case(const char *name)
{
    init();
    fflush(stdout);
    T.n++;
    snprintf(T.name, sizeof T.name, "%s", name);
    T.diag_len = 0;
    T.diag[0] = '\0';
    T.case_failed = T.case_skipped = 0;
    T.in_case = 1;
    alarm(T.timeout);
}

static void end_case(void)
{
    alarm(0);
    T.in_case = 0;
    if (T.case_failed) {
        T.failed++;
        printf("not ok %d - %s\n", T.n, T.name);
    } else if (T.case_skipped) {
        T.skipped++;
        /* The skip reason is the first diagnostic line: TAP wants it on the result line. */
        printf("ok %d - %s # SKIP ", T.n, T.name);
    } else {
        T.passed++;
        printf("ok %d - %s\n", T.n, T.name);
    }
    const char *d = T.diag;
    if (T.case_skipped && !T.case_failed) {
        size_t first = strcspn(d, "\n");
        printf("%.*s\n", (int)(first > 2 ? first - 2 : 0), d + 2);
        d += first + (d[first] == '\n');
    }
    fwrite(d, 1, (size_t)(T.diag + T.diag_len - d), stdout);
    fflush(stdout);
}

void t_run_arg(const char *name, void (*fn)(void *), void *arg)
{
    begin_case(name);
    if (setjmp(T.jump) == 0)
        fn(arg);
    end_case();
}

struct plain_fn { void (*fn)(void); };

static void call_plain(void *p)
{
    ((struct plain_fn *)p)->fn();
}

void t_run(const char *name, void (*fn)(void))
{
    struct plain_fn p = { fn };
    t_run_arg(name, call_plain, &p);
}

void t_skip(const char *name, const char *fmt, ...)
{
    begin_case(name);
    va_list ap;
    va_start(ap, fmt);
    diag_vadd("", fmt, ap);
    va_end(ap);
    T.case_skipped = 1;
    end_case();
}

void t_end_case_(void)
{
    if (!T.in_case)
        t_bail("T_REQUIRE failed outside a case");
    longjmp(T.jump, 1);
}

void t_skip_case_(const char *fmt, ...)
{
    if (!T.in_case)
        t_bail("T_SKIP_CASE outside a case");
    /* The reason must come first (it goes on the result line): put it before earlier notes. */
    static char earlier[DIAG_MAX];
    memcpy(earlier, T.diag, T.diag_len);
    size_t earlier_len = T.diag_len;
    T.diag_len = 0;
    va_list ap;
    va_start(ap, fmt);
    diag_vadd("", fmt, ap);
    va_end(ap);
    size_t room = sizeof T.diag - 1 - T.diag_len;
    size_t n = earlier_len < room ? earlier_len : room;
    memcpy(T.diag + T.diag_len, earlier, n);
    T.diag_len += n;
    T.diag[T.diag_len] = '\0';
    T.case_skipped = 1;
    longjmp(T.jump, 1);
}

int t_check_(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
{
    if (ok)
        return 1;
    init();
    /* A failed check outside any case is reported as a failed case of its own. */
    int stray = !T.in_case;
    if (stray)
        begin_case("check outside any case");
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s:%d: %s: ", file, line, expr);
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(prefix, fmt, ap);
    va_end(ap);
    T.case_failed = 1;
    if (stray)
        end_case();
    return 0;
}

void t_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (T.in_case) {
        diag_vadd("", fmt, ap);
    } else {
        printf("# ");
        vprintf(fmt, ap);
        printf("\n");
        fflush(stdout);
    }
    va_end(ap);
}

void t_bail(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (T.in_case) {
        T.case_failed = 1;
        diag_add(msg);
        end_case();
    }
    printf("Bail out! %s\n", msg);
    fflush(stdout);
    exit(1);
}

int t_done(void)
{
    init();
    printf("1..%d\n# passed %d failed %d skipped %d\n", T.n, T.passed, T.failed, T.skipped);
    fflush(stdout);
    return T.failed > 0 ? 1 : 0;
}

const char *t_errname(int err)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    const char *name = strerrorname_np(err);
    if (name)
        return name;
#endif
    if (err == 0)
        return "0";
    static char buf[32];
    snprintf(buf, sizeof buf, "errno %d", err);
    return buf;
}

int t_errno_is_(int expected, int actual, const char *file, int line)
{
    if (expected == actual)
        return 1;
    char exp_s[128], act_s[128];
    snprintf(exp_s, sizeof exp_s, "%s (%s)", t_errname(expected), strerror(expected));
    snprintf(act_s, sizeof act_s, "%s (%s)", t_errname(actual),
             actual ? strerror(actual) : "no error");
    return t_check_(0, file, line, "errno", "expected %s, got %s", exp_s, act_s);
}

/* ---------------------------------------------------------------------------------------- */
/* Files.                                                                                    */

const char *t_tmpdir(void)
{
    init();
    if (T.tmpdir[0])
        return T.tmpdir;
    const char *base = getenv("TMPDIR");
    snprintf(T.tmpdir, sizeof T.tmpdir, "%s/ssa-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(T.tmpdir)) {
        int e = errno;
        T.tmpdir[0] = '\0';
        t_bail("cannot create a temp dir: %s", strerror(e));
    }
    return T.tmpdir;
}

/* tests/pki.sh: next to the sources if SSA_TEST_SRCDIR says where they are, else from here. */
static const char *find_pki_script(void)
{
    static char path[PATH_MAX];
    const char *src = getenv("SSA_TEST_SRCDIR");
    const char *cands[] = { "tests/pki.sh", "pki.sh", NULL };
    for (int i = 0; src && *src && cands[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", src, cands[i]);
        if (access(path, R_OK) == 0)
            return path;
    }
    const char *local[] = { "tests/pki.sh", "pki.sh", "../tests/pki.sh", NULL };
    for (int i = 0; local[i]; i++)
        if (access(local[i], R_OK) == 0)
            return local[i];
    return NULL;
}

static const char *pki_dir(void)
{
    if (T.pki[0])
        return T.pki;
    const char *env = getenv("SSA_TEST_PKI");
    if (env && *env) {
        snprintf(T.pki, sizeof T.pki, "%s", env);
        return T.pki;
    }
    const char *script = find_pki_script();
    if (!script)
        t_bail("SSA_TEST_PKI is not set and tests/pki.sh was not found "
               "(set SSA_TEST_SRCDIR to the source tree)");
    char dir[PATH_MAX], out[8192];
    tmp_path(dir, sizeof dir, "pki");
    const char *argv[] = { "bash", script, dir, NULL };
    int rc = t_run_cmd(argv, 120000, out, sizeof out);
    if (rc != 0)
        t_bail("%s %s failed (status %d):\n%s", script, dir, rc, out);
    snprintf(T.pki, sizeof T.pki, "%s", dir);
    setenv("SSA_TEST_PKI", T.pki, 1);   /* child test programs reuse it */
    return T.pki;
}

const char *t_pki(const char *file)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", pki_dir(), file) >= (int)sizeof path)
        t_bail("PKI path too long: %s", file);
    if (access(path, R_OK) != 0)
        t_bail("PKI file %s: %s", path, strerror(errno));
    return intern(path);
}

/* The intermediates of a PKI leaf: LEAF-chain.pem without its first certificate, written to
 * the temp dir (s_server sends only the first certificate of -cert, the rest needs
 * -cert_chain, and giving it the whole chain would send the leaf twice).  NULL if none. */
static const char *intermediates_of(const char *leaf)
{
    char name[PATH_MAX], path[PATH_MAX];
    snprintf(name, sizeof name, "%s-chain.pem", leaf);
    FILE *in = fopen(t_pki(name), "r");
    if (!in)
        return NULL;
    tmp_path(path, sizeof path, "%s-intermediates.pem", leaf);
    FILE *out = fopen(path, "w");
    char line[1024];
    int certs = 0, wrote = 0;
    while (out && fgets(line, sizeof line, in)) {
        if (certs >= 1) {
            fputs(line, out);
            wrote = 1;
        }
        if (strncmp(line, "-----END CERTIFICATE-----", 25) == 0)
            certs++;
    }
    fclose(in);
    if (!out || fclose(out) != 0 || !wrote)
        return NULL;
    return intern(path);
}

/* ---------------------------------------------------------------------------------------- */
/* Sockets.                                                                                  */

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    return t_port_of(&ss);
}

int t_tcp_listener(int family, int *port)
{
    struct sockaddr_storage ss;
    socklen_t len = t_loopback(family, 0, &ss);
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 64) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (port)
        *port = bound_port(fd);
    return fd;
}

int t_tcp_connect(int family, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = t_loopback(family, port, &ss);
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc;
    do rc = connect(fd, (struct sockaddr *)&ss, len); while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* 1 if `port` can be bound on the IPv6 wildcard address right now (or IPv6 is absent). */
static int free_on_ipv6(int port)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 1;
    int one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons((unsigned short)port),
                               .sin6_addr = IN6ADDR_ANY_INIT };
    int ok = bind(fd, (struct sockaddr *)&s6, sizeof s6) == 0;
    close(fd);
    return ok;
}

int t_free_port(void)
{
    /* Peers such as gnutls-serv bind both 0.0.0.0 and [::]: the port must be free on both. */
    for (int tries = 0; tries < 20; tries++) {
        struct sockaddr_in s4 = { .sin_family = AF_INET };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        int port = bind(fd, (struct sockaddr *)&s4, sizeof s4) == 0 ? bound_port(fd) : -1;
        close(fd);
        if (port > 0 && free_on_ipv6(port))
            return port;
    }
    return -1;
}

int t_wait_readable(int fd, int ms)
{
    long deadline = now_ms() + ms;
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        long left = deadline - now_ms();
        int rc = poll(&p, 1, left > 0 ? (int)left : 0);
        if (rc >= 0)
            return rc > 0;
        if (errno != EINTR)
            return -1;
    }
}

int t_send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int t_port_of(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)ss)->sin6_port)
                                     : ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* ---------------------------------------------------------------------------------------- */
/* TLS sockets.                                                                              */

const char *t_tls_error(int fd)
{
    static __thread char buf[1024];
    socklen_t len = sizeof buf;
    int saved = errno;
    if (getsockopt(fd, IPPROTO_TLS, TLS_ERROR, buf, &len) != 0)
        snprintf(buf, sizeof buf, "(getsockopt TLS_ERROR: %s)", strerror(errno));
    errno = saved;
    return buf;
}

int t_set_str(int fd, int opt, const char *value)
{
    return setsockopt(fd, IPPROTO_TLS, opt, value, (socklen_t)strlen(value) + 1);
}

int t_set_leaf(int fd, const char *leaf)
{
    char chain[64], key[64];
    snprintf(chain, sizeof chain, "%s-chain.pem", leaf);
    snprintf(key, sizeof key, "%s.key", leaf);
    return t_set_str(fd, TLS_CERTIFICATE_CHAIN, t_pki(chain)) == 0 &&
                   t_set_str(fd, TLS_PRIVATE_KEY, t_pki(key)) == 0
               ? 0
               : -1;
}

int t_tls_socket(int family)
{
    int fd = socket(family, SOCK_STREAM, IPPROTO_TLS);
    T_REQUIRE(fd >= 0, "socket(IPPROTO_TLS): %s", strerror(errno));
    return fd;
}

int t_tls_listener(int type, int backlog, int *port)
{
    struct sockaddr_in a;
    socklen_t len = t_loopback4(0, &a);
    int fd = socket(AF_INET, SOCK_STREAM | type, IPPROTO_TLS);
    if (fd < 0 || t_set_leaf(fd, "localhost") || bind(fd, (struct sockaddr *)&a, len) ||
        listen(fd, backlog) || getsockname(fd, (struct sockaddr *)&a, &len)) {
        t_note("TLS listener: %s (%s)", strerror(errno), fd >= 0 ? t_tls_error(fd) : "");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int t_expect_fail_(int rc, int err, int fd, int want, const char *says, const char *expr,
                   const char *file, int line)
{
    if (!t_check_(rc == -1, file, line, expr, "succeeded (returned %d)", rc))
        return 0;
    int ok = t_errno_is_(want, err, file, line);
    if (says != NULL) {
        const char *text = t_tls_error(fd);
        ok &= t_check_(strcasestr(text, says) != NULL, file, line, expr,
                       "TLS_ERROR \"%s\" does not say \"%s\"", text, says);
    }
    return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* Spawning.                                                                                 */

/* posix_spawnp with fds 0/1/2 from the given fds (stdout and stderr both to out_fd), default
 * signal dispositions and an empty mask, so a test's SIG_IGN settings do not leak into peers. */
static pid_t spawn(const char *const argv[], int in_fd, int out_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
    posix_spawnattr_init(&at);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, &at, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return pid;
}

/* Exit status as the API reports it: code, or 128+signal. */
static int status_code(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Peers.                                                                                    */

static struct peer *find_peer(pid_t pid)
{
    for (int i = 0; i < MAX_PEERS; i++)
        if (pid > 0 && peers[i].pid == pid)
            return &peers[i];
    return NULL;
}

/* Up to size-1 bytes of a file, NUL-terminated; the tail if the file is longer. */
static size_t read_file(const char *path, char *buf, size_t size, int tail)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (tail) {
        off_t end = lseek(fd, 0, SEEK_END);
        lseek(fd, end > (off_t)size - 1 ? end - (off_t)size + 1 : 0, SEEK_SET);
    }
    size_t len = 0;
    ssize_t r;
    while (len + 1 < size && (r = read(fd, buf + len, size - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd);
    return len;
}

/* Does the log match re?  If it has a group and port is not NULL, group 1 goes to *port. */
static int log_matches(const struct peer *p, const regex_t *re, int *port)
{
    struct stat sb;
    if (stat(p->log, &sb) != 0)
        return 0;
    size_t size = (size_t)sb.st_size + 1;
    char *buf = malloc(size);
    if (!buf)
        return 0;
    read_file(p->log, buf, size, 0);
    regmatch_t m[2];
    int found = regexec(re, buf, 2, m, 0) == 0;
    if (found && port && re->re_nsub >= 1 && m[1].rm_so >= 0)
        *port = atoi(buf + m[1].rm_so);
    free(buf);
    return found;
}

/* 1 if something accepts TCP connections on 127.0.0.1:port. */
static int probe_port(int port)
{
    int fd = port > 0 ? t_tcp_connect(AF_INET, port) : -1;
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

enum { READY = 0, NOT_READY = -1, EXITED = -2 };

/* Wait for readiness as t_spawn_peer describes.  On EXITED the peer has been reaped. */
static int wait_ready(struct peer *p, int *port_out, const char *ready)
{
    regex_t re;
    if (ready && regcomp(&re, ready, REG_EXTENDED) != 0) {
        t_note("bad ready regex: %s", ready);
        return NOT_READY;
    }
    if (!ready && !port_out) {
        t_note("t_spawn_peer: need a ready regex or a port to probe");
        return NOT_READY;
    }
    int rc = NOT_READY, st;
    for (long deadline = now_ms() + PEER_READY_MS; now_ms() < deadline; nap_ms(10)) {
        if (ready ? log_matches(p, &re, port_out) : probe_port(*port_out)) {
            rc = READY;
            break;
        }
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            t_note("%s exited (status %d) before it was ready", p->log, status_code(st));
            rc = EXITED;
            break;
        }
    }
    if (rc == NOT_READY)
        t_note("%s: not ready after %d ms", p->log, PEER_READY_MS);
    if (ready)
        regfree(&re);
    return rc;
}

static void release(struct peer *p)
{
    if (p->stdin_fd >= 0)
        close(p->stdin_fd);
    p->stdin_fd = -1;
    p->pid = 0;
}

/* Show the end of a peer's log in the case's diagnostics. */
static void note_log_tail(const struct peer *p)
{
    char tail[1500];
    read_file(p->log, tail, sizeof tail, 1);
    t_note("--- end of %s ---\n%s", p->log, tail);
}

pid_t t_spawn_peer(const char *const argv[], int *port_out, const char *ready)
{
    init();
    struct peer *p = NULL;
    for (int i = 0; !p && i < MAX_PEERS; i++)
        if (peers[i].pid == 0)
            p = &peers[i];
    if (!p) {
        t_note("t_spawn_peer: more than %d peers", MAX_PEERS);
        return -1;
    }
    static int seq;
    const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    tmp_path(p->log, sizeof p->log, "peer%d-%s.log", ++seq, base);
    int logfd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int in[2];
    if (logfd < 0 || pipe2(in, O_CLOEXEC) != 0) {
        t_note("t_spawn_peer: %s: %s", p->log, strerror(errno));
        if (logfd >= 0)
            close(logfd);
        return -1;
    }
    pid_t pid = spawn(argv, in[0], logfd);
    int e = errno;
    close(in[0]);
    close(logfd);
    if (pid < 0) {
        close(in[1]);
        t_note("cannot start %s: %s", argv[0], strerror(e));
        return -1;
    }
    /* The write end stays open so the peer never sees EOF on stdin (s_server would quit). */
    p->pid = pid;
    p->stdin_fd = in[1];
    int rc = wait_ready(p, port_out, ready);
    if (rc == READY)
        return pid;
    note_log_tail(p);
    if (rc == EXITED)
        release(p);
    else
        t_stop_peer(pid);
    return -1;
}

int t_stop_peer(pid_t pid)
{
    struct peer *p = find_peer(pid);
    if (!p)
        return -1;   /* never signal a process this harness did not start */
    int st = 0, rc = -1;
    kill(pid, SIGTERM);
    for (long deadline = now_ms() + STOP_GRACE_MS; now_ms() < deadline; nap_ms(10)) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid || (w < 0 && errno == ECHILD)) {
            rc = w == pid ? status_code(st) : -1;
            goto done;
        }
    }
    kill(pid, SIGKILL);
    if (waitpid(pid, &st, 0) == pid)
        rc = status_code(st);
done:
    release(p);
    return rc;
}

int t_peer_stdin(pid_t pid)
{
    struct peer *p = find_peer(pid);
    return p ? p->stdin_fd : -1;
}

const char *t_peer_log(pid_t pid)
{
    struct peer *p = find_peer(pid);
    return p ? p->log : NULL;
}

int t_peer_wait_log(pid_t pid, const char *regex, int ms)
{
    struct peer *p = find_peer(pid);
    regex_t re;
    if (!p || regcomp(&re, regex, REG_EXTENDED) != 0)
        return 0;
    int found = 0;
    for (long deadline = now_ms() + ms; !found; nap_ms(10)) {
        found = log_matches(p, &re, NULL);
        if (now_ms() >= deadline)
            break;
    }
    regfree(&re);
    return found;
}

/* Collect a NULL-terminated list of extra arguments after `fixed` ones. */
static int add_args(const char **argv, int argc, va_list ap)
{
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        if (argc >= MAX_ARGS - 1)
            t_bail("too many peer arguments");
        argv[argc++] = a;
    }
    argv[argc] = NULL;
    return argc;
}

static int has_arg(const char *const *argv, const char *arg)
{
    for (; *argv; argv++)
        if (strcmp(*argv, arg) == 0)
            return 1;
    return 0;
}

static const char *pki_file(const char *leaf, const char *suffix)
{
    char name[PATH_MAX];
    snprintf(name, sizeof name, "%s%s", leaf, suffix);
    return t_pki(name);
}

pid_t t_openssl_server(int *port, const char *leaf, ...)
{
    const char *extra[MAX_ARGS];
    va_list ap;
    va_start(ap, leaf);
    add_args(extra, 0, ap);
    va_end(ap);
    if (has_arg(extra, "-quiet")) {
        t_note("t_openssl_server: -quiet hides the ACCEPT line the port is read from");
        return -1;
    }
    const char *argv[2 * MAX_ARGS] = { "openssl", "s_server" };
    int argc = 2;
    if (!has_arg(extra, "-accept")) {
        argv[argc++] = "-accept";
        argv[argc++] = "127.0.0.1:0";
    }
    if (leaf) {
        argv[argc++] = "-cert";
        argv[argc++] = pki_file(leaf, ".pem");
        argv[argc++] = "-key";
        argv[argc++] = pki_file(leaf, ".key");
        const char *chain = intermediates_of(leaf);
        if (chain) {
            argv[argc++] = "-cert_chain";
            argv[argc++] = chain;
        }
    }
    for (int i = 0; extra[i]; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    /* OpenSSL 3 prints "ACCEPT 127.0.0.1:PORT" or "ACCEPT [::1]:PORT" once listening. */
    return t_spawn_peer(argv, port, "ACCEPT [^\n]*:([0-9]+)\n");
}

pid_t t_gnutls_server(int *port, const char *leaf, ...)
{
    const char *extra[MAX_ARGS];
    va_list ap;
    va_start(ap, leaf);
    add_args(extra, 0, ap);
    va_end(ap);
    /* gnutls-serv needs an explicit port and, when it cannot bind, keeps running without a
     * listener; so check its log for "failed" and retry with another port. */
    for (int attempt = 0; attempt < 5; attempt++) {
        char portstr[16];
        int p = t_free_port();
        if (p <= 0) {
            t_note("t_gnutls_server: no free port: %s", strerror(errno));
            return -1;
        }
        snprintf(portstr, sizeof portstr, "%d", p);
        const char *argv[2 * MAX_ARGS] = { "gnutls-serv", "-p", portstr };
        int argc = 3;
        if (leaf) {
            argv[argc++] = "--x509certfile";
            argv[argc++] = pki_file(leaf, "-chain.pem");
            argv[argc++] = "--x509keyfile";
            argv[argc++] = pki_file(leaf, ".key");
        }
        for (int i = 0; extra[i]; i++)
            argv[argc++] = extra[i];
        argv[argc] = NULL;
        /* One "listening on IPv4 ... port N...done" line and one for IPv6 (order varies):
         * ready when both have an outcome, "done" or "bind() failed". */
        pid_t pid = t_spawn_peer(argv, NULL,
                                 "port [0-9]+\\.\\.\\.[a-z].*port [0-9]+\\.\\.\\.[a-z]");
        if (pid < 0)
            return -1;
        if (!t_peer_wait_log(pid, "failed", 0)) {
            *port = p;
            return pid;
        }
        t_note("gnutls-serv could not bind port %d, retrying", p);
        t_stop_peer(pid);
    }
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Commands.                                                                                 */

/* Read what the command prints and feed it input until it closes its output or time is up.
 * Closes in_fd.  Returns 0, or -1 on timeout. */
static int pump(int out_fd, int in_fd, const char *input, long deadline, char *out, size_t size)
{
    size_t len = 0, in_left = input ? strlen(input) : 0;
    int result = 0;
    for (;;) {
        struct pollfd p[2] = { { .fd = out_fd, .events = POLLIN },
                               { .fd = in_fd, .events = POLLOUT } };
        long left = deadline - now_ms();
        int rc = left > 0 ? poll(p, in_fd >= 0 ? 2 : 1, (int)left) : 0;
        if (rc == 0 || (rc < 0 && errno != EINTR)) {
            result = -1;
            break;
        }
        if (in_fd >= 0 && p[1].revents) {
            ssize_t w = write(in_fd, input, in_left);
            if (w > 0) {
                input += w;
                in_left -= (size_t)w;
            }
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                in_left = 0;   /* the command closed its stdin: stop feeding */
            if (in_left == 0) {
                close(in_fd);
                in_fd = -1;
            }
        }
        if (p[0].revents) {
            char buf[4096];
            ssize_t r = read(out_fd, buf, sizeof buf);
            if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
                break;
            /* Keep draining past a full buffer so the command never blocks on its output. */
            if (r > 0 && size > 0) {
                size_t keep = (size_t)r < size - 1 - len ? (size_t)r : size - 1 - len;
                memcpy(out + len, buf, keep);
                len += keep;
                out[len] = '\0';
            }
        }
    }
    if (in_fd >= 0)
        close(in_fd);
    return result;
}

/* Reap pid by the deadline; SIGKILL it after that.  Returns its status code, -1 on error,
 * -2 if it had to be killed. */
static int reap(pid_t pid, long deadline)
{
    int st;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return status_code(st);
        if (w < 0 && errno != EINTR)
            return -1;
        if (now_ms() >= deadline)
            break;
        nap_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -2;
}

int t_run_cmd_input(const char *const argv[], const char *input, int timeout_ms,
                    char *out, size_t size)
{
    init();
    if (size > 0)
        out[0] = '\0';
    int op[2], ip[2] = { -1, -1 };
    if (pipe2(op, O_CLOEXEC) != 0)
        return -1;
    if (input) {
        if (pipe2(ip, O_CLOEXEC) == 0)
            fcntl(ip[1], F_SETFL, O_NONBLOCK);   /* our end only: the command reads normally */
    } else {
        ip[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (ip[0] < 0) {
        close(op[0]);
        close(op[1]);
        return -1;
    }
    /* A command that exits without reading its input must not kill us with SIGPIPE. */
    struct sigaction ign = { .sa_handler = SIG_IGN }, old;
    sigaction(SIGPIPE, &ign, &old);
    long deadline = now_ms() + timeout_ms;
    pid_t pid = spawn(argv, ip[0], op[1]);
    int spawn_errno = errno;
    close(op[1]);
    close(ip[0]);
    int rc = -1;
    if (pid > 0) {
        cmd_pid = pid;
        int timed_out = pump(op[0], ip[1], input, deadline, out, size) != 0;
        ip[1] = -1;   /* pump closed it */
        rc = reap(pid, timed_out ? 0 : deadline);
        timed_out = timed_out || rc == -2;
        if (timed_out)
            rc = -1;
        cmd_pid = 0;
        if (timed_out && size > 64) {
            size_t len = strlen(out);
            snprintf(out + (len < size - 64 ? len : size - 64), 64,
                     "\n[t_run_cmd: %s timed out after %d ms]\n", argv[0], timeout_ms);
        }
    } else if (size > 0) {
        snprintf(out, size, "[t_run_cmd: cannot start %s: %s]\n", argv[0],
                 strerror(spawn_errno));
    }
    if (ip[1] >= 0)
        close(ip[1]);
    close(op[0]);
    sigaction(SIGPIPE, &old, NULL);
    return rc;
}

int t_run_cmd(const char *const argv[], int timeout_ms, char *out, size_t size)
{
    return t_run_cmd_input(argv, NULL, timeout_ms, out, size);
}

int t_have(const char *program)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    if (strchr(program, '/'))
        return access(program, X_OK) == 0;
    while (path && *path) {
        size_t len = strcspn(path, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)len, len ? path : ".", program);
        if (access(buf, X_OK) == 0)
            return 1;
        path += len + (path[len] == ':');
    }
    return 0;
}

long t_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

socklen_t t_loopback(int family, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((unsigned short)port);
        a->sin6_addr = in6addr_loopback;
        return sizeof *a;
    }
    return t_loopback4(port, (struct sockaddr_in *)ss);
}

socklen_t t_loopback4(int port, struct sockaddr_in *a)
{
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons((unsigned short)port);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sizeof *a;
}
