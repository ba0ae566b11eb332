/*
 * tiny_httpd: an HTTP/1.0 static-file server, one connection at a time.
 *
 *   tiny_httpd DIR PORT [ADDRESS]     (ADDRESS defaults to 127.0.0.1)
 *
 * GET and HEAD of regular files under DIR ("/" is /index.html), 404 for anything else there,
 * Content-Length on every answer.  It is a plain TCP server.  Changing IPPROTO_TCP to IPPROTO_TLS
 * in its one socket() call makes it an HTTPS server through the Secure Socket API, with the
 * certificates from the administrator's policy: see docs/ports.md.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <netinet/in.h>
/* Where IPPROTO_TLS comes from on this system (the original SSA had it in <netinet/in.h>). */
#if __has_include(<ssa/in_tls.h>)
#include <ssa/in_tls.h>
#endif

static int root = -1; /* DIR, opened once: paths are resolved below it */

static int send_all(int conn, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(conn, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void reply(int conn, const char *status, const char *body)
{
	char head[256];
	int len = snprintf(head, sizeof(head),
			   "HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			   "Connection: close\r\n\r\n",
			   status, strlen(body));

	if (send_all(conn, head, (size_t)len) == 0)
		send_all(conn, body, strlen(body));
}

static const char *content_type(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot && (strcmp(dot, ".html") == 0 || strcmp(dot, ".htm") == 0))
		return "text/html";
	if (dot && strcmp(dot, ".txt") == 0)
		return "text/plain";
	return "application/octet-stream";
}

/* Opens PATH below DIR; no ".." segment may climb out of it. */
static int open_below_root(const char *path, struct stat *st)
{
	const char *p;
	int fd;

	for (p = path; (p = strstr(p, "..")) != NULL; p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			return -1;
	while (*path == '/')
		path++;
	fd = openat(root, path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, st) < 0 || !S_ISREG(st->st_mode))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void serve(int conn)
{
	char req[4096], method[8], path[2048], head[512];
	size_t got = 0;
	struct stat st;
	off_t off = 0;
	int fd, len;

	/* HTTP/1.0: the request ends at the first empty line; its body, if any, is ignored. */
	while (got < sizeof(req) - 1) {
		ssize_t n = read(conn, req + got, sizeof(req) - 1 - got);

		if (n <= 0)
			return;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	if (sscanf(req, "%7s %2047s HTTP/%*d.%*d", method, path) != 2) {
		reply(conn, "400 Bad Request", "bad request\n");
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		reply(conn, "501 Not Implemented", "only GET and HEAD\n");
		return;
	}
	if (strcmp(path, "/") == 0)
		strcpy(path, "/index.html");
	fd = open_below_root(path, &st);
	if (fd < 0) {
		printf("%s %s 404\n", method, path);
		reply(conn, "404 Not Found", "not found\n");
		return;
	}
	len = snprintf(head, sizeof(head),
		       "HTTP/1.0 200 OK\r\nContent-Type: %s\r\nContent-Length: %lld\r\n"
		       "Connection: close\r\n\r\n",
		       content_type(path), (long long)st.st_size);
	printf("%s %s 200 %lld\n", method, path, (long long)st.st_size);
	if (send_all(conn, head, (size_t)len) == 0 && strcmp(method, "GET") == 0)
		while (off < st.st_size && sendfile(conn, fd, &off, (size_t)(st.st_size - off)) > 0)
			;
	close(fd);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	struct timeval idle = {.tv_sec = 10};
	int fd, one = 1;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: tiny_httpd DIR PORT [ADDRESS]\n");
		return 2;
	}
	root = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		fprintf(stderr, "tiny_httpd: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	addr.sin_port = htons((unsigned short)atoi(argv[2]));
	if (inet_pton(AF_INET, argc > 3 ? argv[3] : "127.0.0.1", &addr.sin_addr) != 1) {
		fprintf(stderr, "tiny_httpd: bad IPv4 address %s\n", argv[3]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* a client that leaves early must not end the server */

	fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0) {
		perror("tiny_httpd");
		return 1;
	}
	printf("listening on %s:%s\n", argc > 3 ? argv[3] : "127.0.0.1", argv[2]);
	fflush(stdout);
	for (;;) {
		int conn = accept(fd, NULL, NULL);

		if (conn < 0)
			continue;
		/* A client that sends nothing must not hold the only server thread for ever. */
		setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
		serve(conn);
		close(conn);
		fflush(stdout);
	}
}
