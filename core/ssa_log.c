/* Diagnostics: SSA_DEBUG=1 in the environment traces each connection's life on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ssa_internal.h"

static int debug_level = -1;

/* log-connections: one line per handshake, for the administrator. */
void ssa_log_connection(struct ssa_sock *s, bool ok)
{
	const struct ssa_policy *p = ssa_current_policy();
	char line[SSA_ERROR_MAX + SSA_IDENTITY_MAX + SSA_HOSTNAME_MAX + 128];

	if (!p->log_connections)
		return;
	if (ok)
		snprintf(line, sizeof(line), "%s %s: %s %s, peer %s",
			 s->role == SSA_CLIENT ? "to" : "from",
			 s->role == SSA_CLIENT && s->opts.hostname[0] ? s->opts.hostname : "peer",
			 ssa_version_name(s->info.version), s->info.cipher,
			 s->info.peer_identity[0] ? s->info.peer_identity : "(no certificate)");
	else
		snprintf(line, sizeof(line), "%s %s failed: %s",
			 s->role == SSA_CLIENT ? "to" : "from",
			 s->role == SSA_CLIENT && s->opts.hostname[0] ? s->opts.hostname : "peer",
			 s->error);
	if (p->log_syslog)
		syslog(LOG_INFO, "ssa: %s", line);
	else
		fprintf(stderr, "ssa[%d]: %s\n", (int)getpid(), line);
}

bool ssa_debug_on(void)
{
	if (debug_level < 0) {
		const char *env = ssa_env("SSA_DEBUG");

		debug_level = env != NULL && *env != '0';
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
