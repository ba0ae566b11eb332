/*
 * tutil.h -- the small test harness shared by SSA's C test programs.
 *
 * Output is TAP: every case prints "ok N - name" or "not ok N - name" followed by "# ..." lines
 * that say why; t_done() prints the plan "1..N" and "# passed P failed F skipped S".
 *
 *     static void test_connect(void)
 *     {
 *         int port;
 *         pid_t srv = t_openssl_server(&port, "localhost", NULL);
 *         T_REQUIRE(srv > 0, "no server");
 *         ...
 *         T_CHECK(n == 5, "read %zd bytes", n);
 *         t_stop_peer(srv);
 *     }
 *     int main(void) { t_run("connect", test_connect); return t_done(); }
 *
 * Every case runs under an alarm() watchdog (default 30 s, env SSA_TEST_TIMEOUT, t_set_timeout):
 * a case that hangs is reported "not ok ... # timed out", every peer is killed and the program
 * exits 1.  A crash (SIGSEGV, SIGABRT, SIGPIPE, ...) is reported the same way before the signal
 * takes its default action.  Tests that need SIGALRM themselves call t_set_timeout(0).
 *
 * Peers (openssl s_server, gnutls-serv, ...) run with stdout+stderr in a log file under the
 * per-program temp dir (t_tmpdir()); peers still running at exit are stopped.  The temp dir is
 * removed at exit when nothing failed, and kept (its path printed) otherwise.
 *
 * Environment: SSA_TEST_PKI = directory made by tests/pki.sh (else it is generated into the temp
 * dir, finding the script via SSA_TEST_SRCDIR or the current directory); SSA_TEST_TIMEOUT =
 * default watchdog seconds; SSA_TEST_KEEP=1 keeps the temp dir.
 *
 * Threads may call T_CHECK; T_REQUIRE and T_SKIP_CASE only in the thread running the case.
 * In a forked child, report through the exit status: the child's checks are not printed.
 */
#ifndef SSA_TESTS_TUTIL_H
#define SSA_TESTS_TUTIL_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#if defined(__GNUC__)
#define T_PRINTF_(f, a) __attribute__((format(printf, f, a)))
#define T_NORETURN_ __attribute__((noreturn))
#else
#define T_PRINTF_(f, a)
#define T_NORETURN_
#endif

/* ---- Cases and reporting ------------------------------------------------------------------ */

/* T_CHECK(cond, fmt, ...): if cond is false, record "file:line: cond: message" and mark the case
 * failed, then carry on.  Evaluates to cond (0 or 1) so it can guard the rest of a case. */
/* The condition is evaluated before the message's arguments, so strerror(errno) in the message
 * sees the errno the condition left (argument order is unspecified in C). */
#define T_CHECK(cond, ...) \
    __extension__({ int t_ok_ = (cond) ? 1 : 0; \
                    t_check_(t_ok_, __FILE__, __LINE__, #cond, __VA_ARGS__); })
/* T_REQUIRE(cond, fmt, ...): as T_CHECK, but a failure also ends the case at once. */
#define T_REQUIRE(cond, ...) \
    do { if (!T_CHECK(cond, __VA_ARGS__)) t_end_case_(); } while (0)
/* T_SKIP_CASE(fmt, ...): end the running case as skipped ("ok N - name # SKIP reason"). */
#define T_SKIP_CASE(...) t_skip_case_(__VA_ARGS__)
/* t_errno_is(expected, actual): check errno values; a mismatch is recorded as
 * "expected EPROTO (Protocol error), got ECONNREFUSED (Connection refused)".  Returns 1 if equal. */
#define t_errno_is(expected, actual) t_errno_is_((expected), (actual), __FILE__, __LINE__)

void t_run(const char *name, void (*fn)(void));            /* run one case */
void t_run_arg(const char *name, void (*fn)(void *), void *arg); /* same, passing arg to fn */
void t_skip(const char *name, const char *fmt, ...) T_PRINTF_(2, 3); /* report a case skipped */
int t_done(void);                  /* print plan and summary; returns exit code (0 = no failure) */
void t_set_timeout(unsigned seconds);     /* watchdog for the following cases; 0 = none */
void t_note(const char *fmt, ...) T_PRINTF_(1, 2);  /* "# ..." line shown after the case */
void t_bail(const char *fmt, ...) T_PRINTF_(1, 2) T_NORETURN_; /* "Bail out!" and exit(1) */
const char *t_errname(int err);           /* "EPROTO" for EPROTO; "errno 1234" if unknown */

/* ---- Files ------------------------------------------------------------------------------- */

const char *t_tmpdir(void);              /* this program's temp dir, created on first use */
/* Path of a file of the test PKI, e.g. t_pki("localhost-chain.pem").  The string stays valid
 * until exit; a missing file is fatal (Bail out), so typos do not turn into odd failures. */
const char *t_pki(const char *file);

/* ---- Sockets ----------------------------------------------------------------------------- */

int t_tcp_listener(int family, int *port);
/* Milliseconds on the monotonic clock, for bounded waits. */
long t_now_ms(void);
/* The loopback address of family (AF_INET 127.0.0.1, AF_INET6 ::1) with port, into *ss;
 * returns its length.  t_loopback4 is the AF_INET form. */
socklen_t t_loopback(int family, int port, struct sockaddr_storage *ss);
socklen_t t_loopback4(int port, struct sockaddr_in *a);  /* listening TCP socket on 127.0.0.1 or ::1, port 0;
                                               returns fd (port in *port) or -1 */
int t_tcp_connect(int family, int port);    /* blocking TCP connect to loopback; fd or -1/errno */
int t_free_port(void);      /* a port free on all IPv4 and IPv6 addresses right now (racy; for
                               peers that need an explicit port); -1 on error */
int t_wait_readable(int fd, int ms);  /* 1 readable (or EOF/error pending), 0 timeout, -1 error */
/* Sends all of buf, retrying after EINTR; MSG_NOSIGNAL, so a peer that went away is an error
 * and not a SIGPIPE that would end the program.  0, or -1 (errno set unless send returned 0). */
int t_send_all(int fd, const void *buf, size_t len);
int t_port_of(const struct sockaddr_storage *ss);  /* the port of an AF_INET or AF_INET6 address */

/* ---- TLS sockets ------------------------------------------------------------------------- */

/* IPPROTO_TLS calls that reach libssa only in programs linked with it; tutil.c itself needs
 * nothing but the constants of <ssa/in_tls.h>, so every test program can still link it. */

/* The TLS_ERROR text of fd, or why it could not be read.  The buffer is per thread and reused
 * by the next call.  errno is kept: messages pass strerror(errno) in the same argument list,
 * where the order of evaluation is unspecified. */
const char *t_tls_error(int fd);
/* A string option at level IPPROTO_TLS; its length counts the terminating NUL. */
int t_set_str(int fd, int opt, const char *value);
/* TLS_CERTIFICATE_CHAIN and TLS_PRIVATE_KEY of a PKI leaf ("localhost": localhost-chain.pem and
 * localhost.key).  0, or -1 with errno. */
int t_set_leaf(int fd, const char *leaf);
/* socket(family, SOCK_STREAM, IPPROTO_TLS); a failure ends the case. */
int t_tls_socket(int family);
/* A TLS listener on 127.0.0.1, port 0, serving the localhost leaf; type may add SOCK_NONBLOCK
 * or SOCK_CLOEXEC.  Returns fd (port in *port), or -1 with the reason as a note. */
int t_tls_listener(int type, int backlog, int *port);
/* T_EXPECT_FAIL(fd, call, want, says): checks that call returned -1 with errno want and, if says
 * is not NULL, that fd's TLS_ERROR contains says (case ignored).  Evaluates to 1 if all held.
 * errno is taken right after the call, before anything in the checks can change it. */
#define T_EXPECT_FAIL(fd, call, want, says) \
    __extension__({ int t_rc_ = (call); int t_err_ = errno; \
                    t_expect_fail_(t_rc_, t_err_, (fd), (want), (says), #call, __FILE__, \
                                   __LINE__); })

/* ---- Peer processes ---------------------------------------------------------------------- */

/* Start argv[0] (PATH searched) with stdin a pipe kept open by the harness (see t_peer_stdin)
 * and stdout+stderr in a log file, then wait at most 10 s until it is ready:
 *  - ready != NULL: until the log matches this POSIX extended regex ('.' also matches
 *    newlines); if the regex has a (group), group 1 is the port, stored in *port_out;
 *  - ready == NULL: until a TCP connect to 127.0.0.1:*port_out succeeds.
 * Returns the pid, or -1 (with the log's tail as notes) if it exits or is not ready in time. */
pid_t t_spawn_peer(const char *const argv[], int *port_out, const char *ready);
/* "openssl s_server" on 127.0.0.1 port 0 (unless the extra args contain -accept), with the PKI
 * leaf `leaf` (e.g. "localhost"; NULL = none): -cert leaf.pem -key leaf.key and -cert_chain its
 * intermediates.  Extra arguments follow, NULL-terminated.  The port is read from its ACCEPT
 * line.  -quiet is refused: it suppresses that line. */
pid_t t_openssl_server(int *port, const char *leaf, ...);
/* "gnutls-serv -p PORT" on a free port (retried if taken), with --x509certfile leaf-chain.pem
 * --x509keyfile leaf.key when leaf != NULL; extra args NULL-terminated (add --echo or --http).
 * Ready once both its IPv4 and IPv6 listeners are up. */
pid_t t_gnutls_server(int *port, const char *leaf, ...);
/* SIGTERM, wait up to 2 s, then SIGKILL; reaps it.  Returns the exit status, 128+signal if a
 * signal ended it (s_server: 143; gnutls-serv catches SIGTERM and exits 1), or -1 if pid is not
 * a running peer of this harness (it never signals other processes). */
int t_stop_peer(pid_t pid);
int t_peer_stdin(pid_t pid);          /* write end of the peer's stdin (e.g. s_server input) */
const char *t_peer_log(pid_t pid);    /* path of the peer's log file */
/* Wait up to ms for the peer's log to match regex (as in t_spawn_peer): 1 matched, 0 not. */
int t_peer_wait_log(pid_t pid, const char *regex, int ms);

int t_have(const char *program);      /* 1 if program is found in PATH (to skip cleanly) */

/* ---- Backends ---------------------------------------------------------------------------- */

/* 1 when SSA_TEST_BACKEND=daemon: TLS sockets go through an ssad this program starts. */
int t_daemon_backend(void);
/* The policy file this program's TLS sockets use, before the first of them: SSA_CONFIG for the
 * in-process backend; for the daemon backend, an ssad of its own (SSA_TEST_SSAD names the
 * binary) serving that file, replacing the one started before.  Bails out if it cannot. */
void t_use_policy(const char *path);
/* t_use_policy for a policy written from fmt into t_tmpdir()/file; bails out if it cannot. */
void t_use_policy_text(const char *file, const char *fmt, ...) T_PRINTF_(2, 3);

/* ---- Commands ---------------------------------------------------------------------------- */

/* Run argv (PATH searched) with stdin /dev/null, capturing stdout+stderr into out (NUL-
 * terminated, truncated to size-1), killing it after timeout_ms.  Returns its exit status,
 * 128+signal if a signal ended it, or -1 if it could not start or timed out. */
int t_run_cmd(const char *const argv[], int timeout_ms, char *out, size_t size);
/* Same, feeding `input` on stdin and then closing it (e.g. an HTTP request for s_client). */
int t_run_cmd_input(const char *const argv[], const char *input, int timeout_ms,
                    char *out, size_t size);

/* ---- Internals used by the macros --------------------------------------------------------- */

int t_check_(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
    T_PRINTF_(5, 6);
int t_errno_is_(int expected, int actual, const char *file, int line);
int t_expect_fail_(int rc, int err, int fd, int want, const char *says, const char *expr,
                   const char *file, int line);
void t_end_case_(void) T_NORETURN_;
void t_skip_case_(const char *fmt, ...) T_PRINTF_(1, 2) T_NORETURN_;

#endif
