/*
 * ssad: who called, beyond the credentials the accept thread read (ssad.c).  Runs in the
 * connection's own thread (ssad_serve.c): the monitor's round trip and the profile delay only
 * this caller.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

#include "ssad.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* The caller's executable, by a pidfd as of connect() (pidfd_open() before 6.5), and profile. */
int ssad_identify(int conn, struct ssad_caller *c)
{
	socklen_t len;
	int pidfd = -1, rc;
	char why[512];

	len = sizeof(pidfd);
	if (getsockopt(conn, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0); /* before Linux 6.5 */
	rc = ssad_exe_of(pidfd, c->pid, c->exe, sizeof(c->exe));
	if (pidfd >= 0)
		close(pidfd);
	if (rc < 0) {
		ssad_log(LOG_NOTICE, "pid %d (uid %u) left before it could be identified",
			 (int)c->pid, c->uid);
		return -1;
	}
	c->policy = ssad_profile_for(c->exe, why, sizeof(why));
	if (c->policy == NULL) {
		ssad_log(LOG_ERR, "%s: %s", c->exe, why);
		return -1;
	}
	ssad_log(LOG_DEBUG, "pid %d uid %u %s: profile %s", (int)c->pid, c->uid, c->exe,
		 c->policy->profile);
	return 0;
}
