/*
 * starttls_smtp: a minimal SMTP-style peer for the STARTTLS suite (RFC 3207's exchange, not a
 * mail server).  Plaintext greeting and EHLO, "STARTTLS", then setsockopt(TCP_UPGRADE_TLS)
 * and a TLS exchange on the same descriptor.
 *
 *   starttls_smtp server PORT          serves one client, with the policy's certificate
 *   starttls_smtp client PORT NAME     upgrades after 220, verifies NAME
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ssa/in_tls.h>

static int say(int fd, const char *line)
{
	return write(fd, line, strlen(line)) == (ssize_t)strlen(line) ? 0 : -1;
}

/* Reads one CRLF-terminated line a byte at a time: nothing after it may be consumed. */
static int hear(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size && read(fd, buf + n, 1) == 1)
		if (buf[n++] == '\n')
			break;
	buf[n] = '\0';
	return n > 0 ? 0 : -1;
}

static int upgrade(int fd, const char *name)
{
	char why[256] = "";
	socklen_t len = sizeof(why);

	if (setsockopt(fd, IPPROTO_TCP, TCP_UPGRADE_TLS, name, (socklen_t)strlen(name) + 1) == 0)
		return 0;
	getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len);
	printf("upgrade: %s (%s)\n", strerror(errno), why);
	return -1;
}

static int serve(int fd)
{
	char line[512];

	if (say(fd, "220 localhost ESMTP ready\r\n") < 0 || hear(fd, line, sizeof(line)) < 0 ||
	    say(fd, "250-localhost\r\n250 STARTTLS\r\n") < 0 || hear(fd, line, sizeof(line)) < 0)
		return 1;
	if (strncasecmp(line, "STARTTLS", 8) != 0)
		return say(fd, "502 no\r\n"), 1;
	if (say(fd, "220 go ahead\r\n") < 0 || upgrade(fd, "") < 0)
		return 1;
	printf("server: upgraded\n");
	fflush(stdout);
	while (hear(fd, line, sizeof(line)) == 0) { /* over TLS now */
		printf("server heard: %s", line);
		if (strncasecmp(line, "QUIT", 4) == 0)
			return say(fd, "221 bye\r\n") < 0;
		if (say(fd, "250 ok (over TLS)\r\n") < 0)
			return 1;
	}
	return 0;
}

static int client(int fd, const char *name)
{
	char line[512], ident[256] = "";
	socklen_t len = sizeof(ident);

	if (hear(fd, line, sizeof(line)) < 0 || say(fd, "EHLO client\r\n") < 0)
		return 1;
	do
		if (hear(fd, line, sizeof(line)) < 0)
			return 1;
	while (line[3] == '-');
	if (say(fd, "STARTTLS\r\n") < 0 || hear(fd, line, sizeof(line)) < 0 ||
	    strncmp(line, "220", 3) != 0 || upgrade(fd, name) < 0)
		return 1;
	getsockopt(fd, IPPROTO_TLS, TLS_PEER_IDENTITY, ident, &len);
	printf("client: upgraded, server %s\n", ident);
	if (say(fd, "EHLO client\r\n") < 0 || hear(fd, line, sizeof(line)) < 0)
		return 1;
	printf("client heard: %s", line);
	return say(fd, "QUIT\r\n") < 0 || hear(fd, line, sizeof(line)) < 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int fd, one = 1, rc;

	if (argc < 3)
		return 2;
	a.sin_port = htons((unsigned short)atoi(argv[2]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0); /* plain TCP: TLS comes later */
	if (strcmp(argv[1], "server") == 0) {
		int l = fd;

		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0)
			return perror("listen"), 1;
		printf("listening\n");
		fflush(stdout);
		fd = accept(l, NULL, NULL);
		rc = fd < 0 ? 1 : serve(fd);
	} else {
		if (argc < 4 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			return perror("connect"), 1;
		rc = client(fd, argv[3]);
	}
	close(fd);
	return rc;
}
