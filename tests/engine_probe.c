/*
 * engine_probe HOST PORT CA: what a program linked with libssa carries before and after its
 * first TLS socket, for tests/suites.d/engine-module.sh.  Prints one line per step:
 *   plain: tls-library=no      (a TCP socket made and closed: no TLS code mapped yet)
 *   tls: tls-library=yes       (socket(IPPROTO_TLS) loaded the engine module)
 *   reply: <line>              (a verified connection to HOST PORT, "ping" sent)
 * or "socket: <strerror>" / "connect: <strerror>: <TLS_ERROR>" and exit 1.
 *
 * It defines and exports config_init() and config_read(), as lighttpd does: the engine's
 * policy parser must still reach libconfig's own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ssa/in_tls.h>

void config_init(void *unused);
int config_read(void *unused, const char *path);

void config_init(void *unused)
{
	fprintf(stderr, "engine_probe: the program's config_init() was called\n");
	abort();
}

int config_read(void *unused, const char *path)
{
	fprintf(stderr, "engine_probe: the program's config_read() was called\n");
	abort();
}

static const char *tls_library_mapped(void)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[4096];
	const char *found = "no";

	if (maps == NULL)
		return "unknown";
	while (fgets(line, sizeof(line), maps) != NULL)
		if (strstr(line, "/libssl.so") != NULL || strstr(line, "/libcrypto.so") != NULL ||
		    strstr(line, "/libgnutls.so") != NULL)
			found = "yes";
	fclose(maps);
	return found;
}

static int talk(int fd, const char *host, int port, const char *ca)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char reply[256], why[256] = "";
	socklen_t len = sizeof(why);
	ssize_t n;

	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	if (setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, host, strlen(host) + 1) < 0 ||
	    setsockopt(fd, IPPROTO_TLS, TLS_TRUSTED_PEER_CERTIFICATES, ca, strlen(ca) + 1) < 0 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int err = errno;

		getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len);
		printf("connect: %s: %s\n", strerror(err), why);
		return 1;
	}
	if (write(fd, "ping\n", 5) != 5 || (n = read(fd, reply, sizeof(reply) - 1)) <= 0) {
		printf("exchange: %s\n", strerror(errno));
		return 1;
	}
	reply[n] = '\0';
	printf("reply: %s", reply);
	return 0;
}

int main(int argc, char **argv)
{
	int fd, rc;

	if (argc != 4) {
		fprintf(stderr, "usage: engine_probe HOST PORT CA\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	if (fd < 0 || close(fd) < 0)
		return perror("tcp socket"), 1;
	printf("plain: tls-library=%s\n", tls_library_mapped());
	fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	if (fd < 0) {
		printf("socket: %s\n", strerror(errno));
		return 1;
	}
	printf("tls: tls-library=%s\n", tls_library_mapped());
	rc = talk(fd, argv[1], atoi(argv[2]), argv[3]);
	close(fd);
	return rc;
}
