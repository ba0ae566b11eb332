/*
 * tls_probe HOST PORT [OPTION=VALUE...]: one TLS connection through the SSA, for the shell
 * suites.  Prints "connected" or "connect: <errno name>: <TLS_ERROR>", exit 0 or 1.
 * Options: name=HOSTNAME (TLS_REMOTE_HOSTNAME), ca=FILE, NUMBER=INT (an int option, for
 * example 104=1), send=TEXT (then print the first reply line), repeat=N (N connections in this
 * process, one after the other, then "resumed K of N"), fastopen=TEXT (sendto(MSG_FASTOPEN)
 * with TEXT instead of connect(): TLS 1.3 early data when a session allows it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ssa/in_tls.h>

static const char *errno_name(int e)
{
	switch (e) {
	case EPROTO:
		return "EPROTO";
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case ECONNREFUSED:
		return "ECONNREFUSED";
	case EPERM:
		return "EPERM";
	case EINVAL:
		return "EINVAL";
	case EPIPE:
		return "EPIPE";
	case ECONNRESET:
		return "ECONNRESET";
	default:
		return strerror(e);
	}
}

static int apply(int fd, const char *opt, const char **send)
{
	const char *eq = strchr(opt, '=');
	int v;

	if (eq == NULL)
		return -1;
	if (strncmp(opt, "name=", 5) == 0)
		return setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, eq + 1, strlen(eq + 1) + 1);
	if (strncmp(opt, "ca=", 3) == 0)
		return setsockopt(fd, IPPROTO_TLS, TLS_TRUSTED_PEER_CERTIFICATES, eq + 1,
				  strlen(eq + 1) + 1);
	if (strncmp(opt, "send=", 5) == 0 || strncmp(opt, "fastopen=", 9) == 0) {
		*send = eq + 1;
		return 0;
	}
	v = atoi(eq + 1);
	return setsockopt(fd, IPPROTO_TLS, atoi(opt), &v, sizeof(v));
}

static int fastopen(int argc, char **argv)
{
	for (int i = 3; i < argc; i++)
		if (strncmp(argv[i], "fastopen=", 9) == 0)
			return 1;
	return 0;
}

/* sendto(MSG_FASTOPEN): the connect and the first line (early data when it can be) at once. */
static int early_connect(int fd, const struct sockaddr_in *addr, const char *text)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "%s\n", text);

	return sendto(fd, line, (size_t)n, MSG_FASTOPEN, (const struct sockaddr *)addr,
		      sizeof(*addr)) == n
		   ? 0
		   : -1;
}

/* What a failed call on a connected socket says: its errno, and TLS_ERROR's reason. */
static void report_failure(const char *call, int fd)
{
	int err = errno;
	char why[256] = "";
	socklen_t len = sizeof(why);

	getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len);
	printf("%s: %s: %s\n", call, errno_name(err), why);
}

/* One connection: 0 connected (and *resumed says if it was resumed), 1 failed. */
static int probe_once(int argc, char **argv, int *resumed)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	const char *send = NULL;
	char why[256] = "", line[256];
	socklen_t len = sizeof(why), ilen = sizeof(*resumed);
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);

	addr.sin_port = htons((unsigned short)atoi(argv[2]));
	if (fd < 0 || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1)
		return 2;
	for (int i = 3; i < argc; i++)
		if (strncmp(argv[i], "repeat=", 7) != 0 && apply(fd, argv[i], &send) < 0) {
			getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len);
			printf("option %s: %s: %s\n", argv[i], errno_name(errno), why);
			return 1;
		}
	if (fastopen(argc, argv) ? early_connect(fd, &addr, send) < 0
				 : connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = errno;

		getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len);
		printf("connect: %s: %s\n", errno_name(err), why);
		return 1;
	}
	printf("connected\n");
	getsockopt(fd, IPPROTO_TLS, TLS_RESUMED_SESSION, resumed, &ilen);
	if (send != NULL) {
		ssize_t n;

		if (!fastopen(argc, argv) &&
		    (write(fd, send, strlen(send)) < 0 || write(fd, "\n", 1) < 0)) {
			report_failure("write", fd);
			return 1;
		}
		n = read(fd, line, sizeof(line) - 1);
		if (n < 0)
			report_failure("read", fd);
		printf("reply: %.*s\n", n > 0 ? (int)strcspn(line, "\n") : 0, line);
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	int repeat = 1, resumed_count = 0, rc = 0;

	if (argc < 3)
		return 2;
	/* As network programs do: a write to a connection that has gone is reported, not fatal. */
	signal(SIGPIPE, SIG_IGN);
	for (int i = 3; i < argc; i++)
		if (strncmp(argv[i], "repeat=", 7) == 0)
			repeat = atoi(argv[i] + 7);
	for (int n = 0; n < repeat && rc == 0; n++) {
		int resumed = 0;

		rc = probe_once(argc, argv, &resumed);
		resumed_count += resumed == 1;
	}
	if (repeat > 1)
		printf("resumed %d of %d\n", resumed_count, repeat);
	return rc;
}
