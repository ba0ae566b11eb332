/*
 * ssad: which executable is calling.
 *
 * A profile may be chosen by the caller's executable, /proc/PID/exe, which only the process's
 * own user or a privileged one may read.  So when ssad starts as root and drops to its user,
 * it first forks a monitor that keeps root for this one question and nothing else (the
 * privilege separation of OpenSSH's monitor): the worker sends it the caller's pidfd, it
 * answers the path.  A pidfd names one process, never a recycled pid: the path is read, then
 * the pidfd is checked to be alive still, so the answer belongs to the process that connected.
 *
 * The path is the one the caller's mount namespace gives: a user may bind-mount a program of
 * its own over a profiled path (unshare -Urm) and exec it.  So the answer says whether the
 * path names, in ssad's own namespace, the very file the caller executes (device and inode of
 * /proc/PID/exe, which is the file itself wherever it is mounted); only such a path may match
 * a profile.  What the path still does not prove (who runs the program, what code it loaded,
 * what it exec'd after connecting) is said in ssa.conf(5): keys are bound by users, not paths.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "ssad.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static int monitor_fd = -1; /* the worker's end; -1 when ssad did not split */
static pthread_mutex_t monitor_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t worker_pid;

/*
 * The executable of the live process behind pidfd (whose pid is pid), and whether that path
 * names the same file here.  A process that execs meanwhile gives a path and a file that
 * differ: not here.
 */
static int lookup_exe(int pidfd, pid_t pid, char *exe, size_t size, bool *here)
{
	struct stat running, named;
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, exe, size - 1);
	if (n < 0)
		return -1;
	exe[n] = '\0';
	*here = stat(link, &running) == 0 && fstatat(AT_FDCWD, exe, &named, AT_NO_AUTOMOUNT) == 0 &&
		running.st_dev == named.st_dev && running.st_ino == named.st_ino;
	/* Read first, check after: had pid been recycled, the pidfd would say the caller died. */
	if (pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0 && errno == ESRCH)
		return -1;
	return 0;
}

static void forward_signal(int sig)
{
	if (worker_pid > 0)
		kill(worker_pid, sig);
}

/* The monitor's life: answer the worker until it exits, then exit as it did. */
static void monitor_main(int fd)
{
	int status = 0;

	signal(SIGTERM, forward_signal);
	signal(SIGINT, forward_signal);
	signal(SIGHUP, forward_signal);
	for (;;) {
		/* The answer: '+' (the path names that file here) or '-', then the path; "" gone.
		 */
		char control[CMSG_SPACE(sizeof(int))], answer[1 + 4096] = "";
		bool here = false;
		pid_t pid = 0;
		struct iovec iov = {.iov_base = &pid, .iov_len = sizeof(pid)};
		struct msghdr msg = {.msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = control,
				     .msg_controllen = sizeof(control)};
		struct cmsghdr *cm;
		int pidfd = -1;
		ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		cm = CMSG_FIRSTHDR(&msg);
		if (cm != NULL && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&pidfd, CMSG_DATA(cm), sizeof(int));
		if (n != sizeof(pid) ||
		    lookup_exe(pidfd, pid, answer + 1, sizeof(answer) - 1, &here) < 0)
			answer[1] = '\0';
		answer[0] = answer[1] == '\0' ? '\0' : here ? '+' : '-';
		if (pidfd >= 0)
			close(pidfd);
		if (send(fd, answer, strlen(answer) + 1, MSG_NOSIGNAL) < 0)
			break;
	}
	while (waitpid(worker_pid, &status, 0) < 0 && errno == EINTR)
		;
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* In the root process, before any thread: returns in the worker only. */
int ssad_monitor_start(int listen_fd)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		worker_pid = pid;
		close(sv[0]);
		close(listen_fd); /* callers are the worker's business */
		monitor_main(sv[1]);
	}
	close(sv[1]);
	monitor_fd = sv[0];
	return 0;
}

/*
 * A worker without its monitor is not left behind: it dies with it.  Set once the worker runs
 * as its user, since changing credentials clears the parent-death signal.
 */
int ssad_monitor_bind_life(void)
{
	pid_t monitor = getppid();

	if (monitor_fd < 0)
		return 0;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return -1;
	if (getppid() != monitor || monitor == 1)
		_exit(1); /* it died before the signal was armed */
	return 0;
}

int ssad_exe_of(int pidfd, pid_t pid, char *exe, size_t size, bool *here)
{
	char control[CMSG_SPACE(sizeof(int))] = {0}, answer[1 + 4096];
	struct iovec iov = {.iov_base = &pid, .iov_len = sizeof(pid)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (monitor_fd < 0)
		return lookup_exe(pidfd, pid, exe, size, here);
	if (pidfd >= 0) {
		struct cmsghdr *cm;

		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pidfd, sizeof(int));
	}
	pthread_mutex_lock(&monitor_lock);
	n = sendmsg(monitor_fd, &msg, MSG_NOSIGNAL);
	if (n == sizeof(pid))
		n = recv(monitor_fd, answer, sizeof(answer) - 1, 0);
	pthread_mutex_unlock(&monitor_lock);
	if (n <= 0) {
		ssad_log(LOG_ERR, "the monitor is gone; exiting");
		exit(1);
	}
	answer[n] = '\0';
	if (answer[0] == '\0')
		return errno = ESRCH, -1;
	*here = answer[0] == '+';
	snprintf(exe, size, "%s", answer + 1);
	return 0;
}
