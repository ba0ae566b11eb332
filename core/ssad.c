/*
 * ssad: the TLS service of the daemon backend (ssad(8)).
 *
 *   ssad [--config FILE] [--socket PATH] [--user NAME] [--syslog] [--verbose]
 *
 * It runs in the foreground.  Started as root it binds its socket (or takes systemd's), keeps
 * a root monitor for one question (ssad_monitor.c), and runs as its own user: the policy's
 * private keys need to be readable by that user alone.  Without that user it does not start
 * unless told to stay root (--user root).  Programs reach it through libssa with
 * SSA_BACKEND=daemon (or auto, or the profile's backend setting).
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "ssa_proto.h"
#include "ssad.h"

struct ssad_config ssad_config = {.socket_path = SSA_DAEMON_SOCKET};

void ssad_log(int priority, const char *fmt, ...)
{
	va_list ap;

	if (priority == LOG_DEBUG && !ssad_config.verbose)
		return;
	va_start(ap, fmt);
	if (ssad_config.syslog) {
		vsyslog(priority, fmt, ap);
	} else {
		fputs("ssad: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ssad [--config FILE] [--socket PATH] [--user NAME] [--syslog] "
		"[--verbose]\n"
		"  --config FILE  TLS policy (default %s, built-in defaults if absent)\n"
		"  --socket PATH  where programs reach ssad (default %s)\n"
		"  --user NAME    run as NAME after start-up (default: ssad, when started as "
		"root;\n"
		"                 root itself only if named: --user root)\n"
		"  --syslog       log to syslog instead of stderr\n"
		"  --verbose      log every caller\n",
		SSA_POLICY_DEFAULT_PATH, SSA_DAEMON_SOCKET);
}

static void report_policy(bool warning, const char *msg, void *arg)
{
	(void)arg;
	ssad_log(warning ? LOG_WARNING : LOG_ERR, "%s", msg);
}

static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
					     {"socket", required_argument, NULL, 's'},
					     {"user", required_argument, NULL, 'u'},
					     {"syslog", no_argument, NULL, 'l'},
					     {"verbose", no_argument, NULL, 'v'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	int c;

	while ((c = getopt_long(argc, argv, "c:s:u:lvh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			ssad_config.config_path = optarg;
			break;
		case 's':
			ssad_config.socket_path = optarg;
			break;
		case 'u':
			ssad_config.user = optarg;
			break;
		case 'l':
			ssad_config.syslog = true;
			break;
		case 'v':
			ssad_config.verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ssad: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

/* An explicit file must be usable; without --config the system file is used if it exists. */
static int check_policy(void)
{
	if (ssad_config.config_path == NULL && access(SSA_POLICY_DEFAULT_PATH, F_OK) == 0)
		ssad_config.config_path = SSA_POLICY_DEFAULT_PATH;
	if (ssad_config.config_path == NULL)
		return 0;
	if (ssa_policy_check(ssad_config.config_path, report_policy, NULL) != 0) {
		ssad_log(LOG_ERR, "%s: not a usable policy; not starting", ssad_config.config_path);
		return -1;
	}
	return 0;
}

/* systemd socket activation (sd_listen_fds(3)): the socket arrives as descriptor 3. */
static int inherited_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	if (pid == NULL || fds == NULL || atol(pid) != (long)getpid() || atoi(fds) < 1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 3;
}

/* A socket file left by an ssad that died is replaced; one that answers is another ssad. */
static int claim_path(const struct sockaddr_un *sun)
{
	struct stat st;
	int probe;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode))
		return errno = EEXIST, -1;
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (const struct sockaddr *)sun, sizeof(*sun)) == 0) {
		close(probe);
		return errno = EADDRINUSE, -1;
	}
	if (probe >= 0)
		close(probe);
	return unlink(sun->sun_path);
}

static int make_dirs(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int listen_socket(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = inherited_socket();

	if (fd >= 0)
		return fd;
	if (strlen(ssad_config.socket_path) >= sizeof(sun.sun_path)) {
		ssad_log(LOG_ERR, "%s: path too long for a socket", ssad_config.socket_path);
		return -1;
	}
	strcpy(sun.sun_path, ssad_config.socket_path);
	if (make_dirs(sun.sun_path) < 0 || claim_path(&sun) < 0 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(sun.sun_path, 0666) < 0 || /* every user may ask: the kernel says who asks */
	    listen(fd, SOMAXCONN) < 0) {
		ssad_log(LOG_ERR, "%s: %s", ssad_config.socket_path, strerror(errno));
		return -1;
	}
	return fd;
}

/*
 * Root without --user runs as "ssad", and does not start without such a user: everything as
 * root, with no monitor split, is only for those who ask for it by name (--user root).
 */
static int drop_privileges(int lfd)
{
	const char *name = ssad_config.user;
	struct passwd *pw;

	if (getuid() != 0 && geteuid() != 0) {
		if (name != NULL && (pw = getpwnam(name)) != NULL && pw->pw_uid == getuid())
			return 0;
		if (name != NULL) {
			ssad_log(LOG_ERR, "--user %s: only root can change user", name);
			return -1;
		}
		return 0;
	}
	if (name == NULL && getpwnam("ssad") == NULL) {
		ssad_log(LOG_ERR, "no user 'ssad' to run as: not starting.  Create it "
				  "(useradd --system --no-create-home ssad), or name another user "
				  "with --user; --user root runs everything as root");
		return -1;
	}
	if (name == NULL)
		name = "ssad";
	if ((pw = getpwnam(name)) == NULL) {
		ssad_log(LOG_ERR, "--user %s: no such user", name);
		return -1;
	}
	if (pw->pw_uid == 0) {
		ssad_log(LOG_WARNING,
			 "--user %s: running entirely as root, without privilege "
			 "separation: a flaw in the TLS engine is a root compromise",
			 name);
		return 0;
	}
	if (ssad_monitor_start(lfd) < 0 || setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0 || setuid(0) == 0 || ssad_monitor_bind_life() < 0) {
		ssad_log(LOG_ERR, "cannot become %s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

/* Who called, as the kernel says: the credentials of connect(), one cheap call. */
static int peer_credentials(int conn, struct ssad_caller *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -1;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	return 0;
}

/*
 * One thread accepts for everyone, so it does only what is cheap and bounded: the caller's
 * uid from the kernel, and admission by it.  A user over its connection limit costs it a
 * getsockopt() and a close(); identification (a round trip to the monitor, the profile)
 * happens in the admitted connection's own thread, where a slow one delays only its caller.
 */
static void serve_forever(int lfd)
{
	for (;;) {
		struct ssad_caller caller = {0};
		int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (conn < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				ssad_log(LOG_ERR, "accept: %s", strerror(errno));
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
				sleep(1);
			continue;
		}
		if (peer_credentials(conn, &caller) < 0) {
			close(conn);
			continue;
		}
		if (!ssad_user_admit_connection(caller.uid)) { /* logged there */
			close(conn);
			continue;
		}
		ssad_serve_start(conn, &caller);
	}
}

/* Sockets whose application closed A (in its own process) are forgotten every 2 s. */
static void *sweeper_main(void *arg)
{
	(void)arg;
	for (;;) {
		unsigned n;

		sleep(2);
		n = ssa_table_sweep_closed();
		if (n > 0)
			ssad_log(LOG_DEBUG, "forgot %u closed sockets", n);
	}
	return NULL;
}

static int start_sweeper(void)
{
	pthread_t tid;

	if (pthread_create(&tid, NULL, sweeper_main, NULL) != 0)
		return -1;
	return pthread_detach(tid);
}

/* Each TLS socket holds two descriptors here (E and T): take all the kernel allows us. */
static void raise_descriptor_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			ssad_log(LOG_WARNING, "cannot raise the descriptor limit: %s",
				 strerror(errno));
	}
}

static void configure_library(void)
{
	if (ssad_config.config_path != NULL)
		setenv("SSA_CONFIG", ssad_config.config_path, 1);
	else
		unsetenv("SSA_CONFIG");
	ssa_serving_daemon = true;
	ssa_sock_free_hook = ssad_sock_freed;
	ssa_sock_admit_hook = ssad_admit_accepted;
}

int main(int argc, char **argv)
{
	int lfd;

	if (parse_args(argc, argv) < 0)
		return 2;
	if (ssad_config.syslog)
		openlog("ssad", LOG_PID, LOG_DAEMON);
	signal(SIGPIPE, SIG_IGN);
	if (check_policy() < 0 || (lfd = listen_socket()) < 0 || drop_privileges(lfd) < 0)
		return 1;
	prctl(PR_SET_DUMPABLE, 0); /* no other process of our user may read our memory */
	raise_descriptor_limit();
	configure_library();
	if (ssa_library_init() < 0 || ssa_policy_error() != NULL || start_sweeper() < 0) {
		ssad_log(LOG_ERR, "cannot start the TLS engine: %s",
			 ssa_policy_error() ? ssa_policy_error() : strerror(errno));
		return 1;
	}
	ssad_log(LOG_INFO, "serving on %s (policy %s)", ssad_config.socket_path,
		 ssad_config.config_path ? ssad_config.config_path : "built-in");
	serve_forever(lfd);
	return 0;
}
