/*
 * ssa-run PROGRAM [ARGS...]: runs an unmodified, dynamically linked program with libssa
 * preloaded, so its socket(..., IPPROTO_TLS) calls get TLS.
 */
#define _GNU_SOURCE 1 /* secure_getenv(3) */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr,
		"usage: ssa-run PROGRAM [ARGS...]\n"
		"Runs PROGRAM with the Secure Socket API preloaded (%s).\n",
		SSA_PRELOAD_PATH);
	exit(2);
}

/* Our library goes first; anything the user preloads already stays after it. */
static int add_preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	size_t n;
	char *value;

	if (old == NULL || *old == '\0')
		return setenv("LD_PRELOAD", lib, 1);
	if (strstr(old, lib) != NULL)
		return 0;
	n = strlen(lib) + strlen(old) + 2;
	value = malloc(n);
	if (value == NULL)
		return -1;
	snprintf(value, n, "%s:%s", lib, old);
	return setenv("LD_PRELOAD", value, 1);
}

int main(int argc, char **argv)
{
	const char *env = secure_getenv("SSA_PRELOAD"), *lib = env ? env : SSA_PRELOAD_PATH;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		usage();
	if (access(lib, R_OK) != 0) {
		fprintf(stderr, "ssa-run: %s: %s\n", lib, strerror(errno));
		return 127;
	}
	if (add_preload(lib) != 0) {
		perror("ssa-run: setenv");
		return 127;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "ssa-run: %s: %s\n", argv[1], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
