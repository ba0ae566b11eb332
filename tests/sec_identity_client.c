/*
 * sec_identity_client COMMAND ...: the honest programs of the sec-identity suite (issue 13,
 * items 1, 14 and 15), linked with libssa, on either backend.  One result line per step.
 *
 *   victim PORT NAME     a connected TLS socket (to 127.0.0.1:PORT, verifying NAME), an
 *                        unconnected one and a listener; prints its pid and their descriptors,
 *                        then on "check" from stdin shows that each is as it left it
 *   starttls PORT NAME   5 times: with another TLS socket open, a TCP connection upgraded
 *                        with TCP_UPGRADE_TLS verifying NAME, then a line exchanged
 *   race PORT NAME N     N times: a TLS socket that two threads connect() at once, then close;
 *                        then this process's descriptors, which must come back to what they were
 *                        in-process (through ssad the pool of connections to it may grow)
 *   give PATH PORT NAME  connect, then hand the TLS socket to whoever connects to the unix
 *                        socket PATH (SCM_RIGHTS), as an inetd-style server hands a connection
 *                        to a handler running as another user
 *   take PATH            receive that socket: its peer's identity, then a line exchanged
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ssa/in_tls.h>

#define VICTIM_NAME "victim.example"

static const char *errname(int e)
{
	static char other[64];

	switch (e) {
	case 0:
		return "OK";
	case EALREADY:
		return "EALREADY";
	case EISCONN:
		return "EISCONN";
	case EINVAL:
		return "EINVAL";
	case EBADF:
		return "EBADF";
	case ECONNRESET:
		return "ECONNRESET";
	case EPROTO:
		return "EPROTO";
	default:
		snprintf(other, sizeof(other), "errno %d", e);
		return other;
	}
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int tls_socket(const char *name)
{
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	socklen_t len = name != NULL ? (socklen_t)strlen(name) + 1 : 0;

	if (fd >= 0 && name != NULL &&
	    setsockopt(fd, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, name, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_to(int port, const char *name)
{
	struct sockaddr_in a = loopback(port);
	int fd = tls_socket(name);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		printf("connect: %s\n", errname(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* One line out, the first line of the answer back. */
static void exchange(const char *what, int fd)
{
	char buf[256];
	ssize_t n;

	if (write(fd, "hello\n", 6) != 6) {
		printf("%s: write: %s\n", what, errname(errno));
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0) {
		printf("%s: read: %s\n", what, n < 0 ? errname(errno) : "EOF");
		return;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	printf("%s: reply: %s\n", what, buf);
}

static int int_option(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);

	return getsockopt(fd, level, name, &v, &l) == 0 ? v : -1;
}

static int listener(int *port)
{
	struct sockaddr_in a = loopback(0);
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

/* Each socket as the victim left it: the connection works, nobody re-shaped the others. */
static void victim_check(int conn, int fresh, int lfd, int lport)
{
	char name[256] = "";
	socklen_t len = sizeof(name);
	int c, k;

	exchange("check: connection", conn);
	getsockopt(fresh, IPPROTO_TLS, TLS_REMOTE_HOSTNAME, name, &len);
	printf("check: unconnected: name=%s listening=%d\n", name,
	       int_option(fresh, SOL_SOCKET, SO_ACCEPTCONN));
	k = connect_to(lport, "localhost");
	c = k >= 0 ? accept(lfd, NULL, NULL) : -1;
	printf("check: listener accepts: %s\n", c >= 0 ? "OK" : errname(errno));
	if (c >= 0)
		close(c);
	if (k >= 0)
		close(k);
}

static int cmd_victim(char **argv)
{
	char line[64];
	int conn = connect_to(atoi(argv[0]), argv[1]), fresh = tls_socket(VICTIM_NAME), lport = 0;
	int lfd = listener(&lport);

	if (conn < 0 || fresh < 0 || lfd < 0) {
		printf("victim: cannot set up: %s\n", errname(errno));
		return 1;
	}
	printf("victim pid=%d connected=%d unconnected=%d listener=%d\n", (int)getpid(), conn,
	       fresh, lfd);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL)
		if (strncmp(line, "check", 5) == 0) {
			victim_check(conn, fresh, lfd, lport);
			fflush(stdout);
		}
	return 0;
}

/* One round: a TLS socket made first, then a TCP connection upgraded.  1 upgraded, else 0. */
static int upgrade_round(struct sockaddr_in a, const char *name)
{
	int other = tls_socket(NULL), tcp = socket(AF_INET, SOCK_STREAM, 0), ok = 0;
	socklen_t nlen = (socklen_t)strlen(name) + 1;
	char why[256] = "";
	socklen_t len = sizeof(why);

	if (other < 0 || tcp < 0 || connect(tcp, (struct sockaddr *)&a, sizeof(a)) < 0) {
		printf("starttls: setup: %s\n", errname(errno));
	} else if (setsockopt(tcp, IPPROTO_TCP, TCP_UPGRADE_TLS, name, nlen) < 0) {
		int e = errno;

		getsockopt(tcp, IPPROTO_TLS, TLS_ERROR, why, &len);
		printf("starttls: upgrade: %s (%s)\n", errname(e), why);
	} else {
		printf("starttls: upgraded, protocol %d\n",
		       int_option(tcp, SOL_SOCKET, SO_PROTOCOL));
		exchange("starttls", tcp);
		ok = 1;
	}
	if (tcp >= 0)
		close(tcp);
	if (other >= 0)
		close(other);
	return ok;
}

/* Several rounds: where a descriptor number lands in ssad is not the program's to choose. */
static int cmd_starttls(char **argv)
{
	struct sockaddr_in a = loopback(atoi(argv[0]));
	int upgraded = 0;

	for (int i = 0; i < 5; i++)
		upgraded += upgrade_round(a, argv[1]);
	printf("starttls: %d of 5 upgraded\n", upgraded);
	return 0;
}

/* --- race: two threads connect() one socket --- */

struct racer {
	int fd;
	struct sockaddr_in addr;
	pthread_barrier_t *go;
	int err;
};

static void *race_connect(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	r->err = connect(r->fd, (struct sockaddr *)&r->addr, sizeof(r->addr)) == 0 ? 0 : errno;
	return NULL;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d != NULL && readdir(d) != NULL)
		n++;
	if (d != NULL)
		closedir(d);
	return n;
}

/* Up to ten seconds for the engine (in-process) to let the closed sockets go. */
static int settled_fds(int baseline)
{
	int now = count_fds();

	for (int i = 0; i < 500 && now > baseline; i++) {
		nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
		now = count_fds();
	}
	return now;
}

static int cmd_race(char **argv)
{
	int n = atoi(argv[2]), both = 0, one = 0, none = 0, before, after;
	pthread_barrier_t go;
	int warm = tls_socket(NULL); /* the library's own descriptors, opened once */

	close(warm);
	before = count_fds();

	pthread_barrier_init(&go, NULL, 2);
	for (int i = 0; i < n; i++) {
		struct racer r[2];
		pthread_t t[2];
		int fd = tls_socket(argv[1]), won;

		if (fd < 0) {
			printf("race: socket %d: %s\n", i, errname(errno));
			return 1;
		}
		for (int k = 0; k < 2; k++) {
			r[k] = (struct racer){.fd = fd, .addr = loopback(atoi(argv[0])), .go = &go};
			pthread_create(&t[k], NULL, race_connect, &r[k]);
		}
		for (int k = 0; k < 2; k++)
			pthread_join(t[k], NULL);
		won = (r[0].err == 0) + (r[1].err == 0);
		both += won == 2;
		one += won == 1;
		none += won == 0;
		close(fd);
	}
	printf("race: %d rounds: one connect won %d, both %d, neither %d\n", n, one, both, none);
	after = settled_fds(before);
	printf("race: descriptors %d before, %d after: %s\n", before, after,
	       after <= before ? "back" : "kept");
	return 0;
}

/* --- give and take: a TLS socket passed to another user's process --- */

static int unix_at(const char *path, struct sockaddr_un *sun)
{
	*sun = (struct sockaddr_un){.sun_family = AF_UNIX};
	snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", path);
	return socket(AF_UNIX, SOCK_STREAM, 0);
}

static int cmd_give(char **argv)
{
	struct sockaddr_un sun;
	int conn = connect_to(atoi(argv[1]), argv[2]), l = unix_at(argv[0], &sun), c;
	char control[CMSG_SPACE(sizeof(int))] = {0}, byte = 0;
	struct iovec iov = {&byte, 1};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control,
			     .msg_controllen = sizeof(control)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	unlink(argv[0]);
	if (conn < 0 || l < 0 || bind(l, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(argv[0], 0666) < 0 || listen(l, 1) < 0) {
		printf("give: setup: %s\n", errname(errno));
		return 1;
	}
	printf("give: ready\n");
	if ((c = accept(l, NULL, NULL)) < 0)
		return 1;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &conn, sizeof(int));
	printf("give: %s\n", sendmsg(c, &msg, 0) == 1 ? "sent" : errname(errno));
	/* the taker's descriptor alone holds the connection now */
	close(conn);
	if (read(c, &byte, 1) < 0) /* until the taker is done */
		return 1;
	return 0;
}

static int cmd_take(char **argv)
{
	struct sockaddr_un sun;
	int s = unix_at(argv[0], &sun), fd = -1;
	char control[CMSG_SPACE(sizeof(int))], byte, who[512] = "";
	struct iovec iov = {&byte, 1};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control,
			     .msg_controllen = sizeof(control)};
	struct cmsghdr *cm;
	socklen_t len = sizeof(who);

	if (s < 0 || connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    recvmsg(s, &msg, 0) != 1 || (cm = CMSG_FIRSTHDR(&msg)) == NULL) {
		printf("take: %s\n", errname(errno));
		return 1;
	}
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (getsockopt(fd, IPPROTO_TLS, TLS_PEER_IDENTITY, who, &len) < 0)
		printf("take: peer identity: %s\n", errname(errno));
	else
		printf("take: peer identity: %s\n", who);
	exchange("take", fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "victim") == 0)
		return cmd_victim(argv + 2);
	if (argc == 4 && strcmp(argv[1], "starttls") == 0)
		return cmd_starttls(argv + 2);
	if (argc == 5 && strcmp(argv[1], "race") == 0)
		return cmd_race(argv + 2);
	if (argc == 5 && strcmp(argv[1], "give") == 0)
		return cmd_give(argv + 2);
	if (argc == 3 && strcmp(argv[1], "take") == 0)
		return cmd_take(argv + 2);
	fprintf(stderr, "usage: see the comment at the top of tests/sec_identity_client.c\n");
	return 2;
}
