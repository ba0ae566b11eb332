/*
 * test_tutil.c -- self-test of the harness in tutil.c.
 *
 * Build: gcc -Wall -Wextra -O2 -o test_tutil tests/test_tutil.c tests/tutil.c
 *
 * The harness's failure paths (failed checks, the watchdog, crashes) are exercised by running
 * this same program again with a --demo-* argument and checking its output and exit status, so
 * that the self-test itself passes.
 */
#define _GNU_SOURCE
#include "tutil.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CMD_MS 15000
static char out[65536];

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 if pid no longer exists (not even as a zombie of someone). */
static int gone(pid_t pid)
{
    return kill(pid, 0) != 0 && errno == ESRCH;
}

/* ---- Demos run in a child process ----------------------------------------------------- */

enum { DEMO_FAIL_LINE = __LINE__ + 3 };   /* the line of the first T_CHECK below */
static void demo_failing(void)
{
    T_CHECK(1 == 2, "deliberate failure %d", 42);
    t_errno_is(EPROTO, ECONNREFUSED);
    T_REQUIRE(0, "deliberate require");
    t_note("after require: must not be printed");
}

static void demo_passing(void)
{
    T_CHECK(1 == 1, "never printed");
    t_note("a note");
}

static void demo_skipping(void)
{
    T_SKIP_CASE("no %s here", "frobnicator");
}

static int demo_fail(void)
{
    t_run("fails", demo_failing);
    t_run("passes", demo_passing);
    t_run("skips", demo_skipping);
    t_skip("skipped outright", "reason %d", 7);
    T_CHECK(0, "outside any case");
    return t_done();
}

static void demo_hanging(void)
{
    int port;
    pid_t pid = t_openssl_server(&port, "localhost", NULL);
    printf("# peer pid %d\n", (int)pid);
    fflush(stdout);
    for (;;)
        pause();
}

static void demo_crashing(void)
{
    raise(SIGSEGV);
}

static int run_demo(const char *which)
{
    if (strcmp(which, "--demo-fail") == 0)
        return demo_fail();
    t_set_timeout(1);
    t_run(strcmp(which, "--demo-hang") == 0 ? "hangs" : "crashes",
          strcmp(which, "--demo-hang") == 0 ? demo_hanging : demo_crashing);
    return t_done();   /* not reached */
}

/* Run this program with a --demo-* argument; returns its status, output in `out`. */
static int self(const char *demo)
{
    const char *argv[] = { "/proc/self/exe", demo, NULL };
    return t_run_cmd(argv, CMD_MS, out, sizeof out);
}

#define T_OUT_HAS(s) T_CHECK(strstr(out, (s)) != NULL, "output lacks \"%s\":\n%s", (s), out)

/* ---- Cases ------------------------------------------------------------------------------ */

static void test_pki(void)
{
    const char *files[] = { "ca.pem", "int.pem", "int2.pem", "localhost-chain.pem",
                            "localhost.key", "expired.pem", "garbage.pem", "README", NULL };
    for (int i = 0; files[i]; i++)
        T_CHECK(access(t_pki(files[i]), R_OK) == 0, "%s", files[i]);
    T_CHECK(t_pki("ca.pem") == t_pki("ca.pem"), "paths are interned");
    const char *verify[] = { "openssl", "verify", "-CAfile", t_pki("ca.pem"), "-untrusted",
                             t_pki("int.pem"), t_pki("localhost.pem"), NULL };
    T_CHECK(t_run_cmd(verify, CMD_MS, out, sizeof out) == 0, "verify: %s", out);
}

static void test_tcp(void)
{
    int families[] = { AF_INET, AF_INET6 };
    for (int i = 0; i < 2; i++) {
        int port = 0;
        int lfd = t_tcp_listener(families[i], &port);
        T_REQUIRE(lfd >= 0 && port > 0, "listener: %s", strerror(errno));
        int cfd = t_tcp_connect(families[i], port);
        T_REQUIRE(cfd >= 0, "connect: %s", strerror(errno));
        T_CHECK(t_wait_readable(lfd, 1000) == 1, "listener readable");
        int afd = accept(lfd, NULL, NULL);
        T_REQUIRE(afd >= 0, "accept: %s", strerror(errno));
        T_CHECK(t_wait_readable(afd, 20) == 0, "nothing to read yet");
        T_CHECK(write(cfd, "x", 1) == 1, "write");
        T_CHECK(t_wait_readable(afd, 1000) == 1, "readable after write");
        close(afd);
        close(cfd);
        close(lfd);
        T_CHECK(t_tcp_connect(families[i], port) < 0, "connect after close");
        t_errno_is(ECONNREFUSED, errno);
    }
    T_CHECK(t_free_port() > 0, "free port");
}

static void test_openssl_server(void)
{
    int port = 0;
    pid_t pid = t_openssl_server(&port, "localhost", NULL);
    T_REQUIRE(pid > 0 && port > 0, "s_server did not start");
    int fd = t_tcp_connect(AF_INET, port);
    T_CHECK(fd >= 0, "plain TCP connect to s_server: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    T_CHECK(t_peer_log(pid) != NULL, "log path");
    T_CHECK(t_stop_peer(pid) == 128 + SIGTERM, "s_server ends by SIGTERM");
    T_CHECK(gone(pid), "s_server %d is gone", (int)pid);
    T_CHECK(t_stop_peer(pid) == -1, "stopping twice is refused");
    T_CHECK(t_stop_peer(getppid()) == -1, "a foreign pid is refused");
    T_CHECK(t_openssl_server(&port, "localhost", "-quiet", NULL) == -1, "-quiet refused");

    long t0 = now_ms();
    T_CHECK(t_openssl_server(&port, NULL, "-cert", t_pki("garbage.pem"), NULL) == -1,
            "s_server with a garbage certificate reported as not started");
    T_CHECK(now_ms() - t0 < 5000, "an early exit is noticed at once: %ld ms", now_ms() - t0);

    /* Readiness by connecting, for peers that print nothing useful. */
    port = t_free_port();
    char accept[32];
    snprintf(accept, sizeof accept, "127.0.0.1:%d", port);
    const char *argv[] = { "openssl", "s_server", "-accept", accept, "-cert",
                           t_pki("localhost.pem"), "-key", t_pki("localhost.key"), NULL };
    pid = t_spawn_peer(argv, &port, NULL);
    T_CHECK(pid > 0, "s_server on explicit port %d", port);
    T_CHECK(t_stop_peer(pid) >= 0, "stop");
}

/* s_client against s_server: verification, the chain sent, and both address families. */
static void test_s_client(void)
{
    const char *accepts[] = { "127.0.0.1:0", "[::1]:0" };
    for (int i = 0; i < 2; i++) {
        int port = 0;
        pid_t pid = t_openssl_server(&port, "localhost", "-accept", accepts[i], NULL);
        T_REQUIRE(pid > 0, "s_server on %s", accepts[i]);
        char addr[64];
        snprintf(addr, sizeof addr, i ? "[::1]:%d" : "127.0.0.1:%d", port);
        const char *ok[] = { "openssl", "s_client", "-connect", addr, "-CAfile", t_pki("ca.pem"),
                             "-verify_hostname", "localhost", "-verify_return_error", NULL };
        int rc = t_run_cmd(ok, CMD_MS, out, sizeof out);
        T_CHECK(rc == 0, "s_client status %d", rc);
        T_OUT_HAS("Verify return code: 0 (ok)");
        T_OUT_HAS(" 1 s:CN = SSA Test Intermediate");     /* the intermediate is sent... */
        T_CHECK(strstr(out, " 2 s:") == NULL, "...once, and the leaf only once:\n%s", out);

        const char *bad[] = { "openssl", "s_client", "-connect", addr, "-CAfile", t_pki("ca.pem"),
                              "-verify_hostname", "wrong.test", "-verify_return_error", NULL };
        rc = t_run_cmd(bad, CMD_MS, out, sizeof out);
        T_CHECK(rc != 0, "s_client accepted a wrong host name");
        T_OUT_HAS("hostname mismatch");
        T_CHECK(t_stop_peer(pid) >= 0, "stop");
        T_CHECK(gone(pid), "s_server %d is gone", (int)pid);
    }
}

/* t_run_cmd_input: an HTTP request through s_client to s_server -www. */
static void test_cmd_input(void)
{
    int port = 0;
    pid_t pid = t_openssl_server(&port, "localhost", "-www", NULL);
    T_REQUIRE(pid > 0, "s_server -www");
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    const char *argv[] = { "openssl", "s_client", "-connect", addr, "-CAfile", t_pki("ca.pem"),
                           "-quiet", "-ign_eof", NULL };
    int rc = t_run_cmd_input(argv, "GET / HTTP/1.0\r\n\r\n", CMD_MS, out, sizeof out);
    T_CHECK(rc == 0, "s_client status %d", rc);
    T_OUT_HAS("HTTP/1.0 200 ok");
    t_stop_peer(pid);
}

static void test_curl(void)
{
    if (!t_have("curl"))
        T_SKIP_CASE("curl not installed");
    int port = 0;
    pid_t pid = t_openssl_server(&port, "localhost", "-www", NULL);
    T_REQUIRE(pid > 0, "s_server -www");
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", port);
    const char *argv[] = { "curl", "-sS", "--cacert", t_pki("ca.pem"), url, NULL };
    T_CHECK(t_run_cmd(argv, CMD_MS, out, sizeof out) == 0, "curl:\n%s", out);
    T_OUT_HAS("s_server");
    t_stop_peer(pid);
}

static void test_gnutls_server(void)
{
    if (!t_have("gnutls-serv"))
        T_SKIP_CASE("gnutls-serv not installed");
    int port = 0;
    pid_t pid = t_gnutls_server(&port, "localhost", "--echo", NULL);
    T_REQUIRE(pid > 0 && port > 0, "gnutls-serv did not start");
    int fd = t_tcp_connect(AF_INET6, port);
    T_CHECK(fd >= 0, "TCP connect to [::1]:%d: %s", port, strerror(errno));
    if (fd >= 0)
        close(fd);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    const char *argv[] = { "openssl", "s_client", "-connect", addr, "-CAfile", t_pki("ca.pem"),
                           "-verify_hostname", "localhost", "-verify_return_error", NULL };
    T_CHECK(t_run_cmd(argv, CMD_MS, out, sizeof out) == 0, "s_client:\n%s", out);
    T_OUT_HAS("Verify return code: 0 (ok)");
    T_CHECK(t_peer_wait_log(pid, "Accepted connection from IPv4", 2000), "gnutls-serv log");
    T_CHECK(t_stop_peer(pid) >= 0, "stop");
    T_CHECK(gone(pid), "gnutls-serv %d is gone", (int)pid);
}

static void test_run_cmd(void)
{
    const char *sh[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
    T_CHECK(t_run_cmd(sh, CMD_MS, out, sizeof out) == 3, "exit status");
    T_OUT_HAS("out\n");
    T_OUT_HAS("err\n");

    char small[8];
    const char *big[] = { "sh", "-c", "yes | head -c 100000", NULL };
    T_CHECK(t_run_cmd(big, CMD_MS, small, sizeof small) == 0, "large output is drained");
    T_CHECK(strlen(small) == 7, "truncated to size-1: %zu", strlen(small));

    long t0 = now_ms();
    const char *slow[] = { "sleep", "10", NULL };
    T_CHECK(t_run_cmd(slow, 200, out, sizeof out) == -1, "timeout gives -1");
    T_CHECK(now_ms() - t0 < 2000, "timeout is bounded: %ld ms", now_ms() - t0);
    T_OUT_HAS("timed out");

    const char *none[] = { "/nonexistent/program", NULL };
    T_CHECK(t_run_cmd(none, CMD_MS, out, sizeof out) == -1, "missing program");
    T_CHECK(t_have("sh") && !t_have("no-such-program-here"), "t_have");
}

static void test_errname(void)
{
    T_CHECK(strcmp(t_errname(EPROTO), "EPROTO") == 0, "%s", t_errname(EPROTO));
    T_CHECK(t_errno_is(EAGAIN, EAGAIN), "equal errnos pass");
}

static void test_reports_failures(void)
{
    int rc = self("--demo-fail");
    T_CHECK(rc == 1, "exit status %d, want 1:\n%s", rc, out);
    T_OUT_HAS("not ok 1 - fails\n");
    char want[128];
    snprintf(want, sizeof want, "# %s:%d: 1 == 2: deliberate failure 42\n", __FILE__,
             DEMO_FAIL_LINE);
    T_OUT_HAS(want);
    T_OUT_HAS("expected EPROTO (Protocol error), got ECONNREFUSED (Connection refused)\n");
    T_OUT_HAS(": 0: deliberate require\n");
    T_CHECK(strstr(out, "must not be printed") == NULL, "T_REQUIRE ended the case:\n%s", out);
    T_OUT_HAS("ok 2 - passes\n# a note\n");
    T_CHECK(strstr(out, "never printed") == NULL, "passing check printed:\n%s", out);
    T_OUT_HAS("ok 3 - skips # SKIP no frobnicator here\n");
    T_OUT_HAS("ok 4 - skipped outright # SKIP reason 7\n");
    T_OUT_HAS("not ok 5 - check outside any case\n# ");
    T_OUT_HAS("1..5\n# passed 1 failed 2 skipped 2\n");
}

static void test_watchdog(void)
{
    long t0 = now_ms();
    int rc = self("--demo-hang");
    T_CHECK(rc == 1, "exit status %d, want 1:\n%s", rc, out);
    T_CHECK(now_ms() - t0 < 8000, "took %ld ms", now_ms() - t0);
    T_OUT_HAS("not ok 1 - hangs\n# timed out after 1 s (watchdog)\n");
    T_OUT_HAS("1..1\n# passed 0 failed 1 skipped 0\n");
    const char *p = strstr(out, "# peer pid ");
    int pid = p ? atoi(p + 11) : 0;
    T_CHECK(pid > 0, "the demo started a peer:\n%s", out);
    if (pid > 0)
        T_CHECK(gone(pid), "the hung program's s_server %d was killed", pid);
}

static void test_crash(void)
{
    int rc = self("--demo-crash");
    T_CHECK(rc == 128 + SIGSEGV, "exit status %d, want %d:\n%s", rc, 128 + SIGSEGV, out);
    T_OUT_HAS("not ok 1 - crashes\n# killed by SIGSEGV\n");
}

int main(int argc, char **argv)
{
    if (argc > 1)
        return run_demo(argv[1]);
    /* Demo children put their temp dirs inside ours, so they go when ours goes. */
    setenv("TMPDIR", t_tmpdir(), 1);
    t_run("PKI from tests/pki.sh", test_pki);
    t_run("TCP helpers", test_tcp);
    t_run("openssl s_server on port 0", test_openssl_server);
    t_run("openssl s_client verifies s_server (IPv4, IPv6)", test_s_client);
    t_run("t_run_cmd_input through s_client", test_cmd_input);
    t_run("curl against s_server", test_curl);
    t_run("gnutls-serv on a free port", test_gnutls_server);
    t_run("t_run_cmd status, truncation, timeout", test_run_cmd);
    t_run("errno names", test_errname);
    t_run("failures are reported", test_reports_failures);
    t_run("watchdog ends a hung case and its peers", test_watchdog);
    t_run("crash is reported", test_crash);
    return t_done();
}
