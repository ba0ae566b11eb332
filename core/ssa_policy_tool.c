/*
 * ssa-policy: checks a policy file and shows what a program would get.
 *
 *   ssa-policy check [FILE]             every error and warning, with file and line; exit 1
 *                                       if any error
 *   ssa-policy show [FILE] [--exe PATH] [--user NAME]
 *                                       the profile a program PATH run by NAME gets
 */
#define _GNU_SOURCE 1 /* getgrouplist */

#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssa_policy.h"

static void print_error(bool warning, const char *msg, void *arg)
{
	(void)warning;
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

static void print_line(const char *line, void *arg)
{
	(void)arg;
	printf("%s\n", line);
}

static int usage(void)
{
	fprintf(stderr,
		"usage: ssa-policy check [FILE]\n"
		"       ssa-policy show [FILE] [--exe PATH] [--user NAME]\n"
		"FILE defaults to $SSA_CONFIG, then %s.\n",
		SSA_POLICY_DEFAULT_PATH);
	return 2;
}

static const char *default_file(void)
{
	const char *env = secure_getenv("SSA_CONFIG");

	return env && *env ? env : SSA_POLICY_DEFAULT_PATH;
}

/* The ids a program of user `name` runs with, as login gives them (initgroups). */
static int user_ids(const char *name, struct ssa_policy_caller *c, gid_t *groups, int max)
{
	struct passwd *pw = getpwnam(name);
	int n = max;

	if (pw == NULL) {
		fprintf(stderr, "ssa-policy: --user %s: no such user\n", name);
		return -1;
	}
	if (getgrouplist(name, pw->pw_gid, groups, &n) < 0) {
		fprintf(stderr, "ssa-policy: --user %s: in more than %d groups\n", name, max);
		return -1;
	}
	c->ids_known = true;
	c->uid = pw->pw_uid;
	c->gid = pw->pw_gid;
	c->groups = groups;
	c->ngroups = (size_t)n;
	return 0;
}

static int show(const char *file, const char *exe, const char *user)
{
	struct ssa_policy_caller caller = {.exe = exe};
	struct ssa_policy p;
	gid_t groups[1024];
	char err[512];

	if (user != NULL && user_ids(user, &caller, groups, 1024) < 0)
		return 1;
	if (ssa_policy_load(file, &caller, &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("# effective policy for %s run by %s, from %s\n", exe ? exe : "any program",
	       user ? user : "no one named (profiles with users or unix-groups skipped)", file);
	ssa_policy_print(&p, print_line, NULL);
	ssa_policy_free(&p);
	return 0;
}

int main(int argc, char **argv)
{
	const char *file = NULL, *exe = NULL, *user = NULL;

	if (argc < 2)
		return usage();
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--exe") == 0 && i + 1 < argc)
			exe = argv[++i];
		else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			user = argv[++i];
		else if (argv[i][0] != '-' && file == NULL)
			file = argv[i];
		else
			return usage();
	}
	if (file == NULL)
		file = default_file();
	if (strcmp(argv[1], "check") == 0) {
		if (ssa_policy_check(file, print_error, NULL) < 0)
			return 1;
		printf("%s: OK\n", file);
		return 0;
	}
	if (strcmp(argv[1], "show") == 0)
		return show(file, exe, user);
	return usage();
}
