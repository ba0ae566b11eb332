/*
 * ssa-policy: checks a policy file and shows what a program would get.
 *
 *   ssa-policy check [FILE]             every error, with file and line; exit 1 if any
 *   ssa-policy show [FILE] [--exe PATH]  the effective profile for PATH (default: the default)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssa_policy.h"

static void print_error(const char *msg, void *arg)
{
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
		"       ssa-policy show [FILE] [--exe PATH]\n"
		"FILE defaults to $SSA_CONFIG, then %s.\n",
		SSA_POLICY_DEFAULT_PATH);
	return 2;
}

static const char *default_file(void)
{
	const char *env = getenv("SSA_CONFIG");

	return env && *env ? env : SSA_POLICY_DEFAULT_PATH;
}

static int show(const char *file, const char *exe)
{
	struct ssa_policy p;
	char err[512];

	if (ssa_policy_load(file, exe, &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("# effective policy for %s from %s\n", exe ? exe : "(no profile match)", file);
	ssa_policy_print(&p, print_line, NULL);
	ssa_policy_free(&p);
	return 0;
}

int main(int argc, char **argv)
{
	const char *file = NULL, *exe = NULL;

	if (argc < 2)
		return usage();
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--exe") == 0 && i + 1 < argc)
			exe = argv[++i];
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
		return show(file, exe);
	return usage();
}
