/*
 * Library start-up: OpenSSL, the policy, the fork and exit hooks.  Runs once, on the first TLS
 * socket, so programs that never create one pay nothing.
 */
#define _GNU_SOURCE 1 /* secure_getenv(3) */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "ssa_internal.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_errno;
static struct ssa_policy policy;
static char policy_error[512];
static uint64_t id_base, id_counter;
bool ssa_serving_daemon;

static void fork_prepare(void)
{
	ssa_table_lock_for_fork();
	ssa_engine_fork_prepare();
	ssa_fd_room_lock_for_fork(); /* the child starts with the program's own limit */
}

static void fork_parent(void)
{
	ssa_fd_room_unlock_after_fork();
	ssa_engine_fork_parent();
	ssa_table_unlock_after_fork();
}

static void fork_child(void)
{
	ssa_fd_room_unlock_after_fork();
	ssa_remote_fork_child();
	ssa_revocation_fork_child();
	ssa_engine_fork_child();
	ssa_diag_fork_child();
	ssa_table_unlock_after_fork();
}

static void flush_at_exit(void)
{
	ssa_remote_exit();
	ssa_engine_flush_all();
}

/*
 * The library's settings from the environment, through this one door.  A setuid, setgid or
 * file-capability program (AT_SECURE) runs with its caller's environment: there it is ignored,
 * so that the caller chooses neither the policy, the daemon, the backend nor the logging.
 */
const char *ssa_env(const char *name)
{
	const char *value = secure_getenv(name);

	return value != NULL && *value != '\0' ? value : NULL;
}

/*
 * This program as its profile sees it: its executable and its effective ids, the ones ssad
 * would read from the kernel, so that a profile means the same in both backends.  The keys a
 * profile names are read here with the program's own rights: they are already its user's.
 */
static void identify_self(struct ssa_policy_caller *me, char *exe, size_t size, gid_t **groups)
{
	ssize_t n = readlink("/proc/self/exe", exe, size - 1);
	int ngroups = getgroups(0, NULL);

	exe[n > 0 ? n : 0] = '\0';
	me->exe = n > 0 ? exe : NULL;
	me->uid = geteuid();
	me->gid = getegid();
	*groups = ngroups > 0 ? calloc((size_t)ngroups, sizeof(gid_t)) : NULL;
	ngroups = *groups != NULL ? getgroups(ngroups, *groups) : 0;
	me->groups = *groups;
	me->ngroups = ngroups > 0 ? (size_t)ngroups : 0;
	me->ids_known = true;
}

/*
 * SSA_CONFIG names the file (in-process backend); without it the system file, if there is
 * one.  A file that cannot be used is an error, never a silent fall-back to the defaults.
 */
static void load_policy(void)
{
	const char *path = ssa_env("SSA_CONFIG");
	struct ssa_policy_caller me = {0};
	char exe[4096];
	gid_t *groups;

	identify_self(&me, exe, sizeof(exe), &groups);
	if (path == NULL) {
		path = SSA_POLICY_DEFAULT_PATH;
		if (access(path, F_OK) != 0) {
			if (ssa_policy_defaults(&policy) < 0)
				init_errno = ENOMEM;
			free(groups);
			return;
		}
	}
	if (ssa_policy_load(path, &me, &policy, policy_error, sizeof(policy_error)) < 0) {
		fprintf(stderr, "ssa: TLS sockets disabled: policy %s\n", policy_error);
		if (ssa_policy_defaults(&policy) < 0)
			init_errno = ENOMEM;
	}
	free(groups);
}

const char *ssa_policy_error(void)
{
	return policy_error[0] ? policy_error : NULL;
}

static void init_library(void)
{
	/*
	 * No OpenSSL cleanup at exit: an engine still flushing when our bounded wait at exit gives
	 * up must not find OpenSSL's tables freed under it (the kernel reclaims all at exit).  If
	 * the program itself initialised OpenSSL first, its cleanup is registered before ours and
	 * so still runs after our flush.
	 */
	if (OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_LOAD_SSL_STRINGS |
				 OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
			     NULL) != 1) {
		init_errno = ENOMEM;
		return;
	}
	if (RAND_bytes((unsigned char *)&id_base, sizeof(id_base)) != 1)
		id_base = (uint64_t)getpid() << 32;
	load_policy();
	ssa_diag_init();
	if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0 ||
	    atexit(flush_at_exit) != 0)
		init_errno = ENOMEM;
}

int ssa_library_init(void)
{
	pthread_once(&init_once, init_library);
	if (init_errno != 0) {
		errno = init_errno;
		return -1;
	}
	return 0;
}

/*
 * The policy in force is the one of the program being served.  In-process that is always this
 * program's profile; in ssad each request thread, and each engine thread while it works on a
 * socket, names the caller's profile here.
 */
static __thread const struct ssa_policy *thread_policy;
static __thread uid_t thread_uid;
static __thread bool thread_uid_set;

const struct ssa_policy *ssa_current_policy(void)
{
	return thread_policy != NULL ? thread_policy : &policy;
}

const struct ssa_policy *ssa_policy_use(const struct ssa_policy *p)
{
	const struct ssa_policy *before = thread_policy;

	thread_policy = p;
	return before;
}

void ssa_caller_set(uid_t uid)
{
	thread_uid = uid;
	thread_uid_set = true;
}

uid_t ssa_caller_uid(void)
{
	return thread_uid_set ? thread_uid : getuid();
}

/*
 * TLS_ID: unique within the process and not guessable from outside it (a random base plus an
 * odd multiple of a counter never repeats before 2^64 sockets).
 */
uint64_t ssa_next_id(void)
{
	uint64_t n = __atomic_add_fetch(&id_counter, 1, __ATOMIC_RELAXED);

	return id_base + n * 0x9e3779b97f4a7c15ULL;
}
