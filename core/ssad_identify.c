/*
 * ssad: who called, beyond the credentials the accept thread read (ssad.c).  Runs in the
 * connection's own thread (ssad_serve.c): the monitor's round trip and the profile delay only
 * this caller.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

#include "ssad.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/*
 * The caller's supplementary groups as of connect() (SO_PEERGROUPS, Linux 4.13): *groups is
 * malloc()ed, NULL with *n = 0 where the kernel cannot say (then only the primary group counts).
 */
static void peer_groups(int conn, gid_t **groups, size_t *n)
{
	socklen_t len = 64 * sizeof(gid_t);

	*n = 0;
	for (int tries = 0; tries < 2; tries++) {
		gid_t *g = malloc(len > 0 ? len : 1);

		if (g == NULL)
			break;
		if (getsockopt(conn, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0) {
			*groups = g;
			*n = len / sizeof(gid_t);
			return;
		}
		free(g);
		if (errno != ERANGE) /* else len is now the size needed */
			break;
	}
	*groups = NULL;
}

/* The profile of caller c, from what the kernel says about it. */
static const struct ssa_policy *profile_of(int conn, const struct ssad_caller *c)
{
	struct ssa_policy_caller who = {
	    .exe = c->exe_here ? c->exe : NULL, .ids_known = true, .uid = c->uid, .gid = c->gid};
	const struct ssa_policy *p;
	gid_t *groups;
	char why[512];

	if (!c->exe_here)
		ssad_log(LOG_NOTICE,
			 "pid %d uid %u: %s is not that file in ssad's mount namespace: no "
			 "profile by executable",
			 (int)c->pid, c->uid, c->exe);
	peer_groups(conn, &groups, &who.ngroups);
	who.groups = groups;
	p = ssad_profile_for(&who, why, sizeof(why));
	free(groups);
	if (p == NULL)
		ssad_log(LOG_ERR, "pid %d uid %u %s: %s", (int)c->pid, c->uid, c->exe, why);
	return p;
}

/* The caller's executable, by a pidfd as of connect() (pidfd_open() before 6.5), and profile. */
int ssad_identify(int conn, struct ssad_caller *c)
{
	socklen_t len;
	int pidfd = -1, rc;

	len = sizeof(pidfd);
	if (getsockopt(conn, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0); /* before Linux 6.5 */
	rc = ssad_exe_of(pidfd, c->pid, c->exe, sizeof(c->exe), &c->exe_here);
	if (pidfd >= 0)
		close(pidfd);
	if (rc < 0) {
		ssad_log(LOG_NOTICE, "pid %d (uid %u) left before it could be identified",
			 (int)c->pid, c->uid);
		return -1;
	}
	c->policy = profile_of(conn, c);
	if (c->policy == NULL)
		return -1;
	ssad_log(LOG_DEBUG, "pid %d uid %u %s: profile %s", (int)c->pid, c->uid, c->exe,
		 c->policy->profile);
	return 0;
}
