/* Diagnostics: SSA_DEBUG=1 in the environment traces each connection's life on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ssa_internal.h"

static int debug_level = -1;

bool ssa_debug_on(void)
{
	if (debug_level < 0) {
		const char *env = getenv("SSA_DEBUG");

		debug_level = env != NULL && *env != '\0' && *env != '0';
	}
	return debug_level > 0;
}

void ssa_debug(struct ssa_sock *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (!ssa_debug_on())
		return;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(line, sizeof(line), "ssa[%d] %ld.%06ld %016llx: ", (int)getpid(),
		     (long)ts.tv_sec, ts.tv_nsec / 1000, s ? (unsigned long long)s->id : 0ULL);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}
