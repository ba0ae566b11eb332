/*
 * soak: the worker of tests/suites.d/soak.sh (issue 15, item 6).  Many concurrent TLS
 * connections against tests/soak_peer.py, with seeded random sizes and random cuts, through
 * whichever backend the environment selects; no TAP, one summary line of counts.
 *
 *   soak run TLSPORT PLAINPORT SEED WARM JOBS THREADS SECONDS
 *        a warm-up round of WARM jobs, then a line "warm fds F threads T rss R" (this
 *        process), then a line from standard input (the suite measures ssad meanwhile), then
 *        rounds of JOBS jobs, THREADS at a time, until SECONDS have passed (at least one: a
 *        bound on the soak's length, not a check).  Ends with "after fds F threads T rss R",
 * "growth ok" or what grew (descriptors: none in-process, through ssad at most its 16 pooled
 *        connections; threads: none; RSS: 16 MiB), and the summary line (counts of both
 *        rounds); exits 0 only if nothing grew (the suite judges the counts).
 *   soak victim PORT SEED
 *        (exec'd by run) one connection in "hold" mode; says "r" on standard output once it is
 *        writing, then writes until it is killed.
 *
 * A job is one connection, chosen by the job's own random stream (SEED and the job's number:
 * the same SEED gives the same jobs, whatever the scheduling):
 *   echo   N random bytes sent and echoed, ended by close_notify: a completed transfer, checked
 *          byte for byte and by checksum; the read must end in EOF
 *   rst    the peer echoes K < N bytes then resets; fin: then closes TCP without close_notify.
 *          Both are cuts: the data received must be the prefix sent, and the end ECONNRESET
 *   sink   the peer resets while we are writing: write (or the read after) fails with EPIPE or
 *          ECONNRESET
 *   close  we close() in the middle of writing: the peer must see close_notify
 *   kill   a child process (exec'd: no fork of a threaded program's state) is killed with
 *          SIGKILL while writing: the peer must see a cut, no close_notify.  The kills of a
 *          round run after its other jobs (round_of says why)
 * A quarter of echo, rst and fin jobs start in plaintext and upgrade (STARTTLS).  Resumption:
 * every client socket may resume (the default); resumed connections are counted, and must occur.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ssa/in_tls.h>

enum kind { ECHO, RST, FIN, SINK, CLOSE, KILL };

static int tls_port, plain_port;
static uint64_t seed;

static struct {
	atomic_long completed, checksum_ok, cut, cut_as_reset, clean_eof_after_cut, other_error;
	atomic_long resumed, starttls, killed, closed, setup_failed;
} count;
static atomic_long next_job, last_job;
/* Kill jobs run in a pass of their own, after the others: see round_of(). */
static bool killing;

/* splitmix64: a small, good stream per job. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Sizes spread over 0 .. 256 KiB, small ones as likely as large ones. */
static size_t rnd_size(uint64_t *s)
{
	return (size_t)(rnd(s) % ((size_t)1 << (rnd(s) % 19)));
}

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One CRLF line a byte at a time: the TLS bytes after it must stay in the socket. */
static int read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size && read(fd, buf + n, 1) == 1)
		if (buf[n++] == '\n')
			break;
	buf[n] = '\0';
	return n > 0 && buf[n - 1] == '\n' ? 0 : -1;
}

/* A job that could not get as far as its cut: says why (errno, the library's reason). */
static void setup_failed(const char *what, int fd)
{
	char why[256] = "";
	socklen_t len = sizeof(why);
	int e = errno;

	count.setup_failed++;
	if (fd >= 0) {
		getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len);
		close(fd);
	}
	fprintf(stderr, "%s: %s (%s)\n", what, strerror(e), why);
}

/* A connection to the peer, TLS from the start or after a STARTTLS exchange; -1 on failure. */
static int dial(int starttls)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	char line[64];
	int fd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)(starttls ? plain_port : tls_port));
	fd = socket(AF_INET, SOCK_STREAM, starttls ? 0 : IPPROTO_TLS);
	if (fd < 0)
		return -1;
	if (!starttls && setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, "localhost", 10) < 0)
		goto fail;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto fail;
	if (starttls && (read_line(fd, line, sizeof(line)) < 0 || strncmp(line, "220", 3) != 0 ||
			 write_all(fd, "STARTTLS\r\n", 10) < 0 ||
			 read_line(fd, line, sizeof(line)) < 0 || strncmp(line, "220", 3) != 0 ||
			 setsockopt(fd, IPPROTO_TCP, TCP_UPGRADE_TLS, "localhost", 10) < 0))
		goto fail;
	return fd;
fail:
	setup_failed(starttls ? "connect (STARTTLS)" : "connect", fd);
	return -1;
}

/* The peer's command line: "VERB N K". */
static int send_command(int fd, const char *verb, size_t n, size_t k)
{
	char cmd[64];
	int len = snprintf(cmd, sizeof(cmd), "%s %zu %zu\n", verb, n, k);

	return write_all(fd, cmd, (size_t)len);
}

static void note_resumed(int fd)
{
	int resumed = 0;
	socklen_t len = sizeof(resumed);

	if (getsockopt(fd, IPPROTO_TLS, TLS_RESUMED_SESSION, &resumed, &len) == 0 && resumed)
		count.resumed++;
}

/* echo, rst, fin: send N bytes, read back what comes, judge how it ended. */
static void job_transfer(enum kind k, uint64_t *s, unsigned char *out, unsigned char *in)
{
	static const char *const verb[] = {[ECHO] = "echo", [RST] = "rst", [FIN] = "fin"};
	size_t n = rnd_size(s), cut_at = n ? (size_t)(rnd(s) % n) : 0, got = 0;
	int starttls = rnd(s) % 4 == 0, fd;
	ssize_t r;

	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)rnd(s);
	if ((fd = dial(starttls)) < 0)
		return;
	if (starttls)
		count.starttls++;
	if (send_command(fd, verb[k], n, cut_at) < 0 || write_all(fd, out, n) < 0) {
		setup_failed("send", fd);
		return;
	}
	while ((r = read(fd, in + got, n + 1 - got)) > 0)
		got += (size_t)r;
	note_resumed(fd);
	if (k == ECHO) {
		if (r == 0 && got == n) {
			count.completed++;
			if (memcmp(in, out, n) == 0 && fnv(0xcbf29ce484222325ULL, in, got) ==
							   fnv(0xcbf29ce484222325ULL, out, n))
				count.checksum_ok++;
		} else {
			count.other_error++;
			fprintf(stderr, "echo: %zu of %zu bytes, then %s\n", got, n,
				r == 0 ? "EOF" : strerror(errno));
		}
	} else {
		count.cut++;
		if (r == 0)
			count.clean_eof_after_cut++;
		else if (errno == ECONNRESET && got <= cut_at && memcmp(in, out, got) == 0)
			count.cut_as_reset++;
		else
			fprintf(stderr, "%s: %zu of %zu bytes, then %s\n", verb[k], got, cut_at,
				r == 0 ? "EOF" : strerror(errno));
	}
	close(fd);
}

/* sink: the peer resets after K bytes while we write 4 MiB: more than the buffers between. */
static void job_sink(uint64_t *s, unsigned char *out, size_t chunk)
{
	size_t total = (size_t)4 << 20, k = rnd(s) % ((size_t)256 << 10), sent = 0;
	int fd = dial(0), err = 0;
	char c;

	if (fd < 0)
		return;
	if (send_command(fd, "sink", total, k) < 0) {
		setup_failed("sink", fd);
		return;
	}
	count.cut++;
	while (sent < total && write_all(fd, out, chunk) == 0)
		sent += chunk;
	if (sent < total)
		err = errno;
	else if (read(fd, &c, 1) < 0) /* all of it was buffered: the reset shows here */
		err = errno;
	if (err == EPIPE || err == ECONNRESET)
		count.cut_as_reset++;
	else if (err == 0)
		count.clean_eof_after_cut++;
	else
		fprintf(stderr, "sink: after %zu bytes, %s\n", sent, strerror(err));
	close(fd);
}

/* close: close() in the middle of a transfer, the peer counts close_notify. */
static void job_close(uint64_t *s, unsigned char *out)
{
	size_t n = rnd_size(s);
	int fd = dial(0);
	char x;

	if (fd < 0)
		return;
	if (write_all(fd, "hold\n", 5) < 0 || read(fd, &x, 1) != 1 || write_all(fd, out, n) < 0) {
		setup_failed("close", fd);
		return;
	}
	if (close(fd) == 0)
		count.closed++;
}

/* kill: a child of ours, killed with SIGKILL while it writes. */
static void job_kill(uint64_t *s)
{
	char port[16], sd[24], r;
	int p[2], status;
	pid_t child;

	snprintf(port, sizeof(port), "%d", tls_port);
	snprintf(sd, sizeof(sd), "%llu", (unsigned long long)rnd(s));
	if (pipe2(p, O_CLOEXEC) < 0) {
		setup_failed("pipe", -1);
		return;
	}
	child = fork();
	if (child == 0) {
		/* Nothing of the other threads' connections: they end when those threads say. */
		dup2(p[1], STDOUT_FILENO);
		close_range(3, ~0U, 0);
		execl("/proc/self/exe", "soak", "victim", port, sd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	if (child > 0 && read(p[0], &r, 1) == 1) {
		kill(child, SIGKILL);
		count.killed++;
	} else {
		setup_failed("victim", -1);
	}
	close(p[0]);
	if (child > 0)
		waitpid(child, &status, 0);
}

static int victim(uint64_t s)
{
	static unsigned char buf[16384];
	int fd = dial(0);
	char x;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rnd(&s);
	if (fd < 0 || write_all(fd, "hold\n", 5) < 0 || read(fd, &x, 1) != 1)
		return 1;
	if (write_all(fd, buf, rnd(&s) % sizeof(buf)) < 0 || write(STDOUT_FILENO, "r", 1) != 1)
		return 1;
	while (write_all(fd, buf, sizeof(buf)) == 0)
		;
	return 1;
}

static void one_job(long job, unsigned char *out, unsigned char *in)
{
	uint64_t s = seed ^ ((uint64_t)job * 0xd1b54a32d192ed03ULL);
	unsigned pick = (unsigned)(rnd(&s) % 100);

	if ((pick >= 90) != killing)
		return; /* the other pass's job */
	if (pick < 40)
		job_transfer(ECHO, &s, out, in);
	else if (pick < 55)
		job_transfer(RST, &s, out, in);
	else if (pick < 70)
		job_transfer(FIN, &s, out, in);
	else if (pick < 80)
		job_sink(&s, out, 65536);
	else if (pick < 90)
		job_close(&s, out);
	else
		job_kill(&s);
}

static void *worker(void *arg)
{
	size_t size = ((size_t)256 << 10) + 2;
	unsigned char *out = malloc(size), *in = malloc(size);
	long job;

	(void)arg;
	while (out && in && (job = next_job++) < last_job)
		one_job(job, out, in);
	free(out);
	free(in);
	return NULL;
}

static int pass_of(long first, long jobs, int threads)
{
	pthread_t t[128];
	int started = 0;

	next_job = first;
	last_job = first + jobs;
	while (started < threads && started < 128 &&
	       pthread_create(&t[started], NULL, worker, NULL) == 0)
		started++;
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	return started == threads ? 0 : -1;
}

/* Jobs FIRST .. FIRST+JOBS-1: all but the kills, then the kills (concurrently with each other).
 * Not all at once: through ssad, a close() while another thread forks ends as a cut, not
 * close_notify, when the child's copy of the descriptor is the last to go (ssa_end.c counts a
 * close the library did not see, here the child's exec, as a vanished program).  That is a
 * known limitation, kept out of the soak; the kills are still concurrent with one another. */
static int round_of(long first, long jobs, int threads)
{
	int rc;

	killing = false;
	rc = pass_of(first, jobs, threads);
	killing = true;
	return rc < 0 ? rc : pass_of(first, jobs, threads);
}

struct usage {
	long fds, threads, rss_kib;
};

static struct usage measure(void)
{
	struct usage u = {0, 0, 0};
	char line[256];
	DIR *d = opendir("/proc/self/fd");
	FILE *f = fopen("/proc/self/status", "r");
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL)
		u.fds += e->d_name[0] != '.';
	if (d)
		closedir(d);
	u.fds--; /* the directory's own descriptor */
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "Threads: %ld", &u.threads);
		sscanf(line, "VmRSS: %ld", &u.rss_kib);
	}
	if (f)
		fclose(f);
	return u;
}

/* The peer's counts of how "hold" streams ended. */
static int peer_stats(long *notify, long *cut)
{
	char line[128];
	int fd = dial(0), ok;

	if (fd < 0)
		return -1;
	ok = write_all(fd, "stats\n", 6) == 0 && read_line(fd, line, sizeof(line)) == 0 &&
	     sscanf(line, "killed-notify %ld killed-cut %ld", notify, cut) == 2;
	close(fd);
	return ok ? 0 : -1;
}

/* Waits (bounded: 30 s) until the peer has judged every hold stream we ended. */
static int peer_ends(long notify0, long cut0, long *notify, long *cut)
{
	struct timespec pause = {0, 50 * 1000 * 1000};

	for (int i = 0; i < 600; i++) {
		if (peer_stats(notify, cut) == 0 &&
		    *notify - notify0 + *cut - cut0 >= count.closed + count.killed)
			break;
		nanosleep(&pause, NULL);
	}
	*notify -= notify0;
	*cut -= cut0;
	return 0;
}

/* The usage once descriptors and threads are back to BEFORE, or after 10 s: a close() returns
 * before the library has flushed and ended the connection (close_notify), so a count taken at
 * once may include connections still ending. */
static struct usage settled(struct usage before, long slack)
{
	struct timespec pause = {0, 20 * 1000 * 1000};
	struct usage u = measure();

	for (int i = 0; i < 500 && (u.fds > before.fds + slack || u.threads > before.threads);
	     i++) {
		nanosleep(&pause, NULL);
		u = measure();
	}
	return u;
}

/* RSS may grow by 16 MiB (allocator arenas, caches filling); descriptors and threads not. */
#define RSS_SLACK_KIB (16 * 1024)

static int run(long warm, long jobs, int threads, long seconds)
{
	struct timespec start, now;
	long rounds = 0;
	/* Through ssad the library keeps up to 16 idle connections to it (POOL_MAX in
	 * core/ssa_remote.c), filled as far as the warm-up's peak concurrency reached. */
	const char *backend = getenv("SSA_BACKEND");
	long fd_slack = backend && strcmp(backend, "daemon") == 0 ? 16 : 0;
	struct usage before, after;
	long notify0 = 0, cut0 = 0, notify, cut;
	char line[16];
	int ok;

	if (peer_stats(&notify0, &cut0) < 0 || round_of(0, warm, threads) < 0) {
		printf("setup failed\n");
		return 1;
	}
	before = measure();
	printf("warm fds %ld threads %ld rss %ld\n", before.fds, before.threads, before.rss_kib);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		line[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		if (round_of(warm + rounds * jobs, jobs, threads) < 0)
			return 1;
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec < seconds);
	peer_ends(notify0, cut0, &notify, &cut);
	after = settled(before, fd_slack);
	printf("after fds %ld threads %ld rss %ld\n", after.fds, after.threads, after.rss_kib);
	ok = after.fds <= before.fds + fd_slack && after.threads <= before.threads &&
	     after.rss_kib <= before.rss_kib + RSS_SLACK_KIB;
	printf("growth %s\n", ok ? "ok" : "FOUND");
	printf("jobs %ld (%ld warm-up, %ld rounds of %ld)\n", warm + rounds * jobs, warm, rounds,
	       jobs);
	printf("completed %ld checksum-ok %ld cut %ld cut-as-reset %ld clean-eof-after-cut %ld "
	       "other-error %ld setup-failed %ld starttls %ld resumed %ld closed %ld killed %ld "
	       "peer-notify %ld peer-cut %ld\n",
	       (long)count.completed, (long)count.checksum_ok, (long)count.cut,
	       (long)count.cut_as_reset, (long)count.clean_eof_after_cut, (long)count.other_error,
	       (long)count.setup_failed, (long)count.starttls, (long)count.resumed,
	       (long)count.closed, (long)count.killed, notify, cut);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN); /* writes use MSG_NOSIGNAL; this covers the library's own */
	if (argc == 9 && strcmp(argv[1], "run") == 0) {
		tls_port = atoi(argv[2]);
		plain_port = atoi(argv[3]);
		seed = strtoull(argv[4], NULL, 0);
		return run(atol(argv[5]), atol(argv[6]), atoi(argv[7]), atol(argv[8]));
	}
	if (argc == 4 && strcmp(argv[1], "victim") == 0) {
		tls_port = atoi(argv[2]);
		return victim(strtoull(argv[3], NULL, 0));
	}
	fprintf(stderr, "usage: soak run TLSPORT PLAINPORT SEED WARM JOBS THREADS SECONDS | "
			"soak victim PORT SEED\n");
	return 2;
}
