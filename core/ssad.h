/* ssad: the TLS service of the daemon backend.  Shared between its files. */
#ifndef SSAD_H
#define SSAD_H

#include <stdbool.h>
#include <sys/types.h>

#include "ssa_internal.h"

/* Who is at the other end of a control connection, as the kernel says. */
struct ssad_caller {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char exe[4096];
	bool exe_here;                   /* exe names, in ssad's mount namespace, that very file */
	const struct ssa_policy *policy; /* the profile of the caller (ssa_policy_load) */
};

struct ssad_config {
	const char *config_path;
	const char *socket_path;
	const char *user; /* drop to this user after start-up; NULL: stay */
	bool syslog;
	bool verbose;
};

extern struct ssad_config ssad_config;

/* Logging (stderr or syslog). */
void ssad_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The profile of a caller, shared by all callers it applies to (ssad_profiles.c). */
const struct ssa_policy *ssad_profile_for(const struct ssa_policy_caller *who, char *err,
					  size_t err_size);

/*
 * The executable of the process behind pidfd, from the privileged monitor (ssad_monitor.c),
 * and whether that path names the very same file in ssad's mount namespace (*here).
 */
int ssad_monitor_start(int listen_fd);
int ssad_monitor_bind_life(void);
int ssad_exe_of(int pidfd, pid_t pid, char *exe, size_t size, bool *here)
    __attribute__((warn_unused_result));

/*
 * The rest of who called, in the connection's thread (ssad_identify.c): the executable (the
 * monitor's round trip) and the profile.  The accept thread only reads the credentials.
 * Returns 0, or -1 (logged).
 */
int ssad_identify(int conn, struct ssad_caller *c);

/* Serves one control connection until it closes (ssad_serve.c); takes conn and caller, whose
 * uid is known and admitted, and identifies the caller first. */
void ssad_serve_start(int conn, struct ssad_caller *caller);
/* The same, in this thread, until the connection closes (fuzzing); conn stays open. */
void ssad_serve_connection(int conn, const struct ssad_caller *caller);
bool ssad_user_admit_connection(uid_t uid);
bool ssad_admit_accepted(struct ssa_sock *c);
void ssad_sock_freed(const struct ssa_sock *s);

#endif /* SSAD_H */
