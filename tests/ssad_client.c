/*
 * ssad_client COMMAND ...: the programs the daemon suite runs, as one user or another, against
 * ssad (SSA_BACKEND=daemon).  Each prints one result line per step, errno names included.
 *
 *   connect PORT NAME            connect to 127.0.0.1:PORT verifying NAME, exchange a line
 *   hold PORT NAME               connect, then per line on stdin: "read" (the result of a
 *                                read), "new" (a new socket and connect, its result)
 *   fill N                       open N TLS sockets, print how many opened and why not more
 *   bind PORT                    bind a TLS socket to 127.0.0.1:PORT
 *   key CHAIN KEY                set a certificate chain and a private key
 *   resume PORT NAME CONTEXT     connect twice with TLS_CONTEXT CONTEXT: resumed or not
 *   inetd PORT PROGRAM ARGS...   accept one TLS connection, run PROGRAM on it as stdin/stdout
 *   handler                      (run by inetd) TLS facts of stdin, then echo one line
 *   churn PORT NAME N PHASE      fork N children that die by SIGKILL at PHASE
 *                                (handshake, transfer or open), one after the other
 *   forge SOCKET                 speak ssad's protocol with lies: prints each refusal
 *   stdin0 PORT NAME             with standard input closed first, connect, move the
 *                                connection onto descriptor 0 (inetd style), exchange a line
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ssa/in_tls.h>

#include "ssa_proto.h"

static const char *errname(int e)
{
	switch (e) {
	case 0:
		return "OK";
	case ECONNRESET:
		return "ECONNRESET";
	case ECONNREFUSED:
		return "ECONNREFUSED";
	case EACCES:
		return "EACCES";
	case EPERM:
		return "EPERM";
	case EMFILE:
		return "EMFILE";
	case EINVAL:
		return "EINVAL";
	case ENOTSOCK:
		return "ENOTSOCK";
	case EBADF:
		return "EBADF";
	case EPROTO:
		return "EPROTO";
	case EOPNOTSUPP:
		return "EOPNOTSUPP";
	case ETIMEDOUT:
		return "ETIMEDOUT";
	default:
		return strerror(e);
	}
}

static void tls_error(int fd, char *why, size_t size)
{
	socklen_t len = (socklen_t)size;

	why[0] = '\0';
	if (getsockopt(fd, IPPROTO_TLS, TLS_ERROR, why, &len) < 0)
		snprintf(why, size, "(TLS_ERROR: %s)", errname(errno));
}

static int connect_to(int port, const char *name)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	char why[256];

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0) {
		printf("socket: %s\n", errname(errno));
		return -1;
	}
	if (setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, name, strlen(name) + 1) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;

		tls_error(fd, why, sizeof(why));
		printf("connect: %s: %s\n", errname(e), why);
		close(fd);
		return -1;
	}
	return fd;
}

static void exchange(int fd)
{
	char buf[256];
	ssize_t n;

	if (write(fd, "hello\n", 6) != 6) {
		printf("write: %s\n", errname(errno));
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		printf("read: %s\n", errname(errno));
	else
		printf("reply: %.*s\n",
		       (int)strcspn(buf, "\n") < n ? (int)strcspn(buf, "\n") : (int)n, buf);
}

static int cmd_connect(char **argv)
{
	int fd = connect_to(atoi(argv[0]), argv[1]);

	if (fd < 0)
		return 1;
	printf("connected\n");
	exchange(fd);
	close(fd);
	return 0;
}

static int cmd_hold(char **argv)
{
	char line[64], buf[256];
	int fd = connect_to(atoi(argv[0]), argv[1]);

	if (fd < 0)
		return 1;
	printf("connected\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (strncmp(line, "read", 4) == 0) {
			ssize_t n = read(fd, buf, sizeof(buf));

			printf("read: %s\n", n < 0 ? errname(errno) : n == 0 ? "EOF" : "data");
		} else if (strncmp(line, "new", 3) == 0) {
			int c = connect_to(atoi(argv[0]), argv[1]);

			if (c >= 0) {
				printf("new: connected\n");
				exchange(c);
				close(c);
			}
		}
		fflush(stdout);
	}
	return 0;
}

static int cmd_fill(char **argv)
{
	int n = atoi(argv[0]), opened = 0, err = 0;

	for (int i = 0; i < n; i++) {
		if (socket(AF_INET, SOCK_STREAM, IPPROTO_TLS) < 0) {
			err = errno;
			break;
		}
		opened++;
	}
	printf("opened %d: %s\n", opened, errname(err));
	return 0;
}

static int cmd_bind(char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((unsigned short)atoi(argv[0]))};
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	printf("bind: %s\n",
	       fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? "OK" : errname(errno));
	return 0;
}

static int cmd_key(char **argv)
{
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	char why[256];

	if (setsockopt(fd, IPPROTO_TLS, TLS_CERTIFICATE_CHAIN, argv[0], strlen(argv[0]) + 1) < 0 ||
	    setsockopt(fd, IPPROTO_TLS, TLS_PRIVATE_KEY, argv[1], strlen(argv[1]) + 1) < 0) {
		int e = errno;

		tls_error(fd, why, sizeof(why));
		printf("key: %s: %s\n", errname(e), why);
		return 0;
	}
	printf("key: OK\n");
	return 0;
}

static int cmd_resume(char **argv)
{
	uint64_t context = strtoull(argv[2], NULL, 0);

	for (int round = 0; round < 2; round++) {
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((unsigned short)atoi(argv[0]))};
		int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS), resumed = -1;
		socklen_t len = sizeof(resumed);

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		setsockopt(fd, IPPROTO_TLS, TLS_CONTEXT, &context, sizeof(context));
		setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, argv[1], strlen(argv[1]) + 1);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			printf("connect: %s\n", errname(errno));
			return 1;
		}
		exchange(fd); /* a TLS 1.3 ticket arrives with the reply */
		getsockopt(fd, IPPROTO_TLS, TLS_RESUMED_SESSION, &resumed, &len);
		printf("round %d resumed=%d\n", round, resumed);
		close(fd);
	}
	return 0;
}

static int listen_on(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0) {
		char why[256];

		tls_error(fd, why, sizeof(why));
		printf("listen: %s: %s\n", errname(errno), why);
		return -1;
	}
	printf("listening\n");
	fflush(stdout);
	return fd;
}

static int cmd_inetd(char **argv)
{
	int l = listen_on(atoi(argv[0])), c, status = 0;
	pid_t pid;

	if (l < 0 || (c = accept(l, NULL, NULL)) < 0)
		return 1;
	pid = fork();
	if (pid == 0) {
		dup2(c, 0);
		dup2(c, 1);
		close(c);
		close(l);
		execv(argv[1], argv + 1);
		_exit(127);
	}
	close(c);
	waitpid(pid, &status, 0);
	printf("handler exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

/* Runs in a program that only inherited its TLS socket: ssad knows it by the descriptor. */
static int cmd_handler(void)
{
	char cipher[128] = "", line[256];
	socklen_t len = sizeof(cipher);
	uint64_t id = 0;
	socklen_t idlen = sizeof(id);
	ssize_t n;
	int ok = getsockopt(0, IPPROTO_TLS, TLS_CHOSEN_CIPHER, cipher, &len) == 0 &&
		 getsockopt(0, IPPROTO_TLS, TLS_ID, &id, &idlen) == 0;

	n = read(0, line, sizeof(line) - 1);
	if (n <= 0)
		return 1;
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	dprintf(1, "handler: %s cipher=%s id=%s line=%s\n", ok ? "tls" : errname(errno), cipher,
		id ? "yes" : "no", line);
	return 0;
}

/* A child that dies by SIGKILL at the given phase of its TLS connection. */
static void doomed_child(int port, const char *name, const char *phase)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TLS);
	static char data[256 * 1024];

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (strcmp(phase, "open") == 0) {
		for (int i = 0; i < 8; i++)
			socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
		raise(SIGKILL);
	}
	setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, name, strlen(name) + 1);
	connect(fd, (struct sockaddr *)&a, sizeof(a));
	if (strcmp(phase, "transfer") == 0) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};

		/* Connected, then as much in flight as the buffers hold: never blocked. */
		if (poll(&p, 1, 2000) == 1)
			while (write(fd, data, sizeof(data)) > 0)
				;
	}
	raise(SIGKILL);
}

static int cmd_churn(char **argv)
{
	int n = atoi(argv[2]), killed = 0;

	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		int status;

		if (pid == 0)
			doomed_child(atoi(argv[0]), argv[1], argv[3]);
		if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status))
			killed++;
	}
	printf("churn %s: %d of %d children died by signal\n", argv[3], killed, n);
	return 0;
}

/* --- forge: the protocol, spoken by a liar --- */

static int dial(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		printf("dial: %s\n", errname(errno));
		exit(1);
	}
	return fd;
}

/* One request with at most one descriptor; the reply's errno, or "disconnected". */
static const char *ask(int conn, struct ssa_request *req, const void *data, int fd)
{
	char control[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov[2] = {{req, sizeof(*req)}, {(void *)data, req->data_len}};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = data ? 2 : 1};
	struct ssa_reply rep;

	if (fd >= 0) {
		struct cmsghdr *cm;

		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	if (sendmsg(conn, &msg, MSG_NOSIGNAL) < 0 ||
	    recv(conn, &rep, sizeof(rep), MSG_WAITALL) != sizeof(rep))
		return "disconnected";
	if (rep.data_len > 0) {
		char sink[4096];

		recv(conn, sink, rep.data_len < sizeof(sink) ? rep.data_len : sizeof(sink),
		     MSG_WAITALL);
	}
	return rep.rc < 0 ? errname(rep.err) : "OK";
}

static int cmd_forge(char **argv)
{
	int conn = dial(argv[0]), sv[2], tcp;
	struct ssa_request req = {.magic = SSA_PROTO_MAGIC};
	uint64_t id = 1;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	req.op = SSA_OP_GETSOCKOPT;
	req.a = IPPROTO_TLS;
	req.b = TLS_ERROR;
	req.c = 64;
	printf("getsockopt on a socket of our own making: %s\n", ask(conn, &req, NULL, sv[0]));
	printf("getsockopt naming no socket: %s\n", ask(conn, &req, NULL, -1));
	req.op = SSA_OP_LOOKUP;
	printf("lookup of a pipe-like socket: %s\n", ask(conn, &req, NULL, sv[1]));
	req.op = SSA_OP_SOCKET;
	req.a = AF_INET;
	req.b = SOCK_STREAM;
	printf("socket around a unix socket: %s\n", ask(conn, &req, NULL, sv[0]));
	tcp = socket(AF_INET6, SOCK_STREAM, 0);
	printf("socket around a TCP socket of another family: %s\n", ask(conn, &req, NULL, tcp));
	req.op = SSA_OP_SETSOCKOPT;
	req.a = IPPROTO_TLS;
	req.b = TLS_CONTEXT;
	req.data_len = sizeof(id);
	printf("setsockopt on a socket of our own making: %s\n", ask(conn, &req, &id, sv[0]));
	req = (struct ssa_request){.magic = SSA_PROTO_MAGIC, .op = 999};
	printf("an unknown operation: %s\n", ask(conn, &req, NULL, -1));
	req = (struct ssa_request){
	    .magic = SSA_PROTO_MAGIC, .op = SSA_OP_SOCKET, .data_len = 1u << 30};
	printf("a request claiming 1 GiB of data: %s\n", ask(conn, &req, NULL, -1));
	conn = dial(argv[0]);
	if (write(conn, "garbage garbage garbage garbage garbage garbage\n", 48) < 0)
		return 1;
	req = (struct ssa_request){.magic = SSA_PROTO_MAGIC, .op = SSA_OP_LOOKUP};
	printf("after garbage: %s\n", ask(conn, &req, NULL, -1));
	return 0;
}

/* The library's own descriptors must not take 0, where the program puts its connection. */
static int cmd_stdin0(char **argv)
{
	int fd;

	close(0);
	fd = connect_to(atoi(argv[0]), argv[1]);
	if (fd < 0)
		return 1;
	if (fd != 0 && (dup2(fd, 0) != 0 || close(fd) < 0)) {
		printf("dup2: %s\n", errname(errno));
		return 1;
	}
	exchange(0);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int args;
		int (*fn)(char **argv);
	} cmds[] = {{"connect", 2, cmd_connect}, {"hold", 2, cmd_hold},   {"fill", 1, cmd_fill},
		    {"bind", 1, cmd_bind},       {"key", 2, cmd_key},     {"resume", 3, cmd_resume},
		    {"inetd", 2, cmd_inetd},     {"churn", 4, cmd_churn}, {"forge", 1, cmd_forge},
		    {"stdin0", 2, cmd_stdin0}};

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[1], "handler") == 0)
		return cmd_handler();
	for (size_t i = 0; argc >= 2 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0 && argc - 2 >= cmds[i].args)
			return cmds[i].fn(argv + 2);
	fprintf(stderr, "usage: see the comment at the top of tests/ssad_client.c\n");
	return 2;
}
