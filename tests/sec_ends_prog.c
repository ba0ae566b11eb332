/*
 * sec_ends_prog COMMAND ...: the programs of tests/suites.d/sec-ends.sh (how streams end:
 * issue 13, items 10 to 12).  Each prints one line per step, errno names included.
 *
 *   serve HOW       listen on 127.0.0.1 (a free port, printed as "port N"), accept one
 *                   connection, read a request line, write part of a response ("wrote"),
 *                   then end as HOW says:
 *                     hang      wait on standard input (the suite kills us: SIGKILL)
 *                     close     close() the connection, then exit
 *                     exit      exit() without closing it
 *                     shutdown  shutdown(SHUT_WR), then wait on standard input (killed)
 *                     dup       dup() it, close() the original, then the duplicate
 *                     fork      fork a child that keeps it and waits on standard input (killed:
 *                               its pid is printed as "child N"); the parent close()s its own
 *                               descriptor, says "parent closed", and waits for the child
 *   hold PORT NAME STATE
 *                   connect to 127.0.0.1:PORT verifying NAME; STATE "nothing" writes nothing,
 *                   "request" writes "hold\n" (the peer does not answer it), "received" writes
 *                   "echo\n" and waits until the answer is queued, unread; says "ready", then
 *                   on a line from standard input reads until EOF or an error, one line each
 *   listen-poll     listen (printed as "port N"), say "ready", wait for a line on standard
 *                   input, then poll the listener 20 times (POLLIN, 100 ms each), calling
 *                   accept() on every wake-up; prints "wakeups W" and each accept()'s errno
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ssa/in_tls.h>

static const char *errname(int e)
{
	switch (e) {
	case 0:
		return "OK";
	case ECONNRESET:
		return "ECONNRESET";
	case ECONNABORTED:
		return "ECONNABORTED";
	case EINVAL:
		return "EINVAL";
	case EAGAIN:
		return "EAGAIN";
	case EBADF:
		return "EBADF";
	default:
		return strerror(e);
	}
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void wait_stdin(void)
{
	char line[64];

	if (fgets(line, sizeof(line), stdin) == NULL)
		return;
}

static int listen_any(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		char why[256] = "";
		socklen_t wl = sizeof(why);

		getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &wl);
		say("listen: %s (%s)", errname(errno), why);
		return -1;
	}
	say("port %d", ntohs(a.sin_port));
	return fd;
}

static int cmd_serve(const char *how)
{
	char line[256];
	int l = listen_any(), c, d;
	pid_t child;

	if (l < 0 || (c = accept(l, NULL, NULL)) < 0)
		return 1;
	close(l);
	if (read(c, line, sizeof(line)) <= 0)
		return 1;
	if (write(c, "partial response", 16) != 16)
		return 1;
	say("wrote");
	if (strcmp(how, "hang") == 0) {
		wait_stdin();
	} else if (strcmp(how, "close") == 0) {
		say("close: %s", errname(close(c) < 0 ? errno : 0));
	} else if (strcmp(how, "exit") == 0) {
		exit(0);
	} else if (strcmp(how, "shutdown") == 0) {
		say("shutdown: %s", errname(shutdown(c, SHUT_WR) < 0 ? errno : 0));
		wait_stdin();
	} else if (strcmp(how, "dup") == 0) {
		d = dup(c);
		close(c);
		say("close: %s", errname(close(d) < 0 ? errno : 0));
	} else if (strcmp(how, "fork") == 0) {
		child = fork();
		if (child == 0) {
			wait_stdin();
			_exit(0);
		}
		say("child %d", (int)child);
		close(c);
		say("parent closed");
		waitpid(child, NULL, 0);
	}
	return 0;
}

static int connect_to(int port, const char *name)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, name, strlen(name) + 1) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		say("connect: %s", errname(errno));
		return -1;
	}
	return fd;
}

static int cmd_hold(int port, const char *name, const char *state)
{
	struct pollfd p = {.events = POLLIN};
	char buf[256];
	ssize_t n;

	if ((p.fd = connect_to(port, name)) < 0)
		return 1;
	if (strcmp(state, "request") == 0 && write(p.fd, "hold\n", 5) != 5)
		return 1;
	if (strcmp(state, "received") == 0 &&
	    (write(p.fd, "echo\n", 5) != 5 || poll(&p, 1, 10000) != 1))
		return 1;
	say("ready");
	wait_stdin();
	do {
		n = read(p.fd, buf, sizeof(buf));
		say("read: %s", n > 0 ? "data" : n == 0 ? "EOF" : errname(errno));
	} while (n > 0);
	return 0;
}

static int cmd_listen_poll(void)
{
	struct pollfd p = {.events = POLLIN};
	int wakeups = 0;

	if ((p.fd = listen_any()) < 0)
		return 1;
	say("ready");
	wait_stdin();
	for (int i = 0; i < 20; i++) {
		int c;

		if (poll(&p, 1, 100) <= 0)
			continue;
		wakeups++;
		c = accept(p.fd, NULL, NULL);
		say("accept: %s (revents 0x%x)", c < 0 ? errname(errno) : "a connection",
		    p.revents);
		if (c >= 0)
			close(c);
	}
	say("wakeups %d", wakeups);
	/* Whatever poll says, a call still gives the reason. */
	say("accept again: %s", accept(p.fd, NULL, NULL) < 0 ? errname(errno) : "a connection");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return cmd_serve(argv[2]);
	if (argc == 5 && strcmp(argv[1], "hold") == 0)
		return cmd_hold(atoi(argv[2]), argv[3], argv[4]);
	if (argc == 2 && strcmp(argv[1], "listen-poll") == 0)
		return cmd_listen_poll();
	fprintf(stderr, "usage: sec_ends_prog serve HOW | hold PORT NAME STATE | listen-poll\n");
	return 2;
}
