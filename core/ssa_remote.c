/*
 * The daemon backend, application side: TLS sockets whose engine is ssad.
 *
 * The application's descriptor is still A, a real kernel fd (ssad makes the pair and passes A
 * here), so reading, writing, poll, epoll, fork and exec need no help.  What needs ssad is
 * every call that shapes or asks about the TLS session: each is one request on a pooled
 * connection to ssad, carrying A itself as the proof of which socket is meant (ssa_proto.h).
 *
 * What needs the application's own rights stays here: the TCP socket is made here (network
 * namespace, socket policy), bind() and options on the TCP socket are applied here to a
 * descriptor ssad lends back, and files named in options are read here and sent as bytes.
 */
/* dup3(2) */
#define _GNU_SOURCE 1

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ssa_internal.h"
#include "ssa_proto_io.h"

#define POOL_MAX 16

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
/* A connection to ssad, known by its inode: the program may dup2() over a pooled number. */
struct conn {
	int fd;
	ino_t ino;
};

static struct conn pool[POOL_MAX];
static int pool_size;
static pid_t pool_pid;
static int backend = -1; /* SSA_BACKEND_*, chosen on the first TLS socket */
static bool in_use;      /* this process has (had) a TLS socket of ssad's */
static bool fallback;
static bool warned;

static const char *daemon_path(void)
{
	const char *p = ssa_env("SSA_DAEMON_SOCKET");

	return p != NULL ? p : SSA_DAEMON_SOCKET;
}

/*
 * SSA_BACKEND overrides the profile's choice: either way the program runs with its own rights
 * (and a setuid program does not hear it: ssa_env()).
 */
static void choose_backend(void)
{
	const char *env = ssa_env("SSA_BACKEND");

	backend = ssa_current_policy()->backend;
	fallback = ssa_current_policy()->daemon_fallback;
	if (env == NULL)
		return;
	if (strcmp(env, "daemon") == 0)
		backend = SSA_BACKEND_DAEMON;
	else if (strcmp(env, "inprocess") == 0)
		backend = SSA_BACKEND_INPROCESS;
	else if (strcmp(env, "auto") == 0)
		backend = SSA_BACKEND_AUTO;
	else
		fprintf(stderr, "ssa: SSA_BACKEND=%s: expected auto, inprocess or daemon\n", env);
}

static struct conn dial(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *path = daemon_path();
	struct conn c = {.fd = -1};
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return errno = ENAMETOOLONG, c;
	memcpy(sun.sun_path, path, strlen(path));
	fd = ssa_fd_socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return c;
	if (sys_connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || fstat(fd, &st) < 0) {
		int err = errno;

		sys_close(fd);
		return errno = err, c;
	}
	ssa_fd_own(fd); /* a forked child must not share it: ssad knows the parent by it */
	c.fd = fd;
	c.ino = st.st_ino;
	return c;
}

static bool still_ours(struct conn c)
{
	struct stat st;

	return fstat(c.fd, &st) == 0 && st.st_ino == c.ino;
}

static struct conn conn_get(void)
{
	struct conn c = {.fd = -1};

	pthread_mutex_lock(&pool_lock);
	if (pool_pid != getpid()) { /* a forked child: the parent's connections are not ours */
		pool_size = 0;
		pool_pid = getpid();
	}
	while (c.fd < 0 && pool_size > 0) {
		c = pool[--pool_size];
		if (!still_ours(c)) {
			ssa_fd_disown(c.fd); /* the number is the program's now: leave it alone */
			c.fd = -1;
		}
	}
	pthread_mutex_unlock(&pool_lock);
	return c.fd >= 0 ? c : dial();
}

static void conn_put(struct conn c)
{
	pthread_mutex_lock(&pool_lock);
	if (pool_pid == getpid() && pool_size < POOL_MAX) {
		pool[pool_size++] = c;
		c.fd = -1;
	}
	pthread_mutex_unlock(&pool_lock);
	if (c.fd >= 0)
		ssa_fd_close_owned(c.fd);
}

bool ssa_daemon_backend_active(void)
{
	struct conn conn;

	if (ssa_serving_daemon || ssa_library_init() < 0)
		return false;
	if (backend < 0)
		choose_backend();
	if (backend == SSA_BACKEND_INPROCESS)
		return false;
	if (backend == SSA_BACKEND_DAEMON && !fallback)
		return true; /* a daemon that is not running is then an error, said by socket() */
	conn = conn_get();
	if (conn.fd < 0)
		return false;
	conn_put(conn);
	return true;
}

struct call {
	struct ssa_request req;
	const void *data, *file;
	int fds[SSA_PROTO_MAX_FDS];
	int nfds;
	struct ssa_reply rep;
	void *out; /* reply data goes here, up to out_size */
	size_t out_size;
	int out_fd; /* a descriptor ssad sent, or -1 */
};

static int read_reply(int conn, struct call *c)
{
	int fds[SSA_PROTO_MAX_FDS], n;

	if (ssa_proto_recv(conn, &c->rep, sizeof(c->rep), fds, SSA_PROTO_MAX_FDS, &n, 0) < 0)
		return -1;
	for (int i = 1; i < n; i++)
		sys_close(fds[i]);
	c->out_fd = n > 0 ? fds[0] : -1;
	if (c->rep.magic != SSA_PROTO_MAGIC || c->rep.data_len > SSA_PROTO_MAX_DATA ||
	    c->rep.data_len > c->out_size)
		goto bad;
	if (c->rep.data_len > 0 && ssa_proto_recv(conn, c->out, c->rep.data_len, fds, 0, &n, 0) < 0)
		goto bad;
	return 0;
bad:
	if (c->out_fd >= 0)
		sys_close(c->out_fd);
	c->out_fd = -1;
	return errno = EPROTO, -1;
}

/* Said once per outage, on standard error: the call's own errno cannot tell it all. */
static int service_gone(int gone_errno)
{
	if (!__atomic_exchange_n(&warned, true, __ATOMIC_RELAXED))
		fprintf(stderr, "ssa: ssad is not running at %s\n", daemon_path());
	return errno = gone_errno, -1;
}

/* One request and its reply on a connection to ssad, which the caller then holds (or -1). */
static struct conn exchange(struct call *c)
{
	struct iovec iov[3] = {{&c->req, sizeof(c->req)},
			       {(void *)c->data, c->req.data_len},
			       {(void *)c->file, c->req.file_len}};
	struct conn conn = conn_get();
	int sent;

	c->req.magic = SSA_PROTO_MAGIC;
	c->out_fd = -1;
	sent = conn.fd >= 0 ? ssa_proto_send(conn.fd, iov, 3, c->fds, c->nfds) : -1;
	if (conn.fd >= 0 && sent < 0) {
		/* A pooled connection to an ssad that has since restarted: once more, afresh. */
		ssa_fd_close_owned(conn.fd);
		conn = dial();
		sent = conn.fd >= 0 ? ssa_proto_send(conn.fd, iov, 3, c->fds, c->nfds) : -1;
	}
	if (conn.fd >= 0 && (sent < 0 || read_reply(conn.fd, c) < 0)) {
		ssa_fd_close_owned(conn.fd);
		conn.fd = -1;
	}
	return conn;
}

/*
 * One request and its reply.  -1 only when ssad cannot be reached or broke off: the errno
 * then says the service is gone (ECONNRESET on a live socket, ECONNREFUSED for a new one).
 */
static int transact(struct call *c, int gone_errno)
{
	struct conn conn = exchange(c);

	if (conn.fd < 0)
		return service_gone(gone_errno);
	warned = false; /* say it again if it goes away again */
	conn_put(conn);
	return 0;
}

/* The reply as a system call's result; the stub follows the socket's state. */
static int result(struct ssa_sock *s, const struct call *c)
{
	if (s != NULL && c->rep.state >= 0) {
		pthread_mutex_lock(&s->lock);
		s->state = (enum ssa_state)c->rep.state;
		pthread_mutex_unlock(&s->lock);
	}
	if (c->rep.rc < 0)
		errno = c->rep.err;
	return c->rep.rc;
}

/*
 * A request about socket s, carrying its A.  ssad refuses a descriptor that is none of its
 * sockets with EBADF; ours is a real one it no longer serves (its engine let the connection
 * go), which to the program is no TLS socket any more, as in ssa_socket(3).
 */
static int call_on(struct ssa_sock *s, int fd, struct call *c)
{
	int rc;

	c->fds[c->nfds++] = fd;
	if (transact(c, ECONNRESET) < 0)
		return ssa_fail(s, SSA_E_DAEMON_GONE, "%s", daemon_path());
	rc = result(s, c);
	if (rc < 0 && errno == EBADF)
		errno = ENOTSOCK;
	return rc;
}

static struct ssa_sock *new_stub(int domain, int fd, uint64_t id)
{
	struct ssa_sock *s = ssa_sock_new(domain);

	if (s == NULL || ssa_app_end_identify(s, fd) < 0) {
		if (s != NULL)
			ssa_sock_unref(s);
		return NULL;
	}
	s->remote = true;
	s->id = id;
	__atomic_store_n(&in_use, true, __ATOMIC_RELAXED);
	/* ssad made the pair in its network namespace: if ours differs, sock_diag is blind */
	s->diag_blind = !ssa_app_end_open(s);
	if (ssa_table_insert(s, fd) < 0) {
		ssa_sock_unref(s);
		return NULL;
	}
	return s;
}

int ssa_remote_socket(int domain, int type)
{
	struct call c = {.req = {.op = SSA_OP_SOCKET, .a = domain, .b = type}};
	struct ssa_sock *s;
	int tcp, err;

	if (domain != AF_INET && domain != AF_INET6)
		return errno = EAFNOSUPPORT, -1;
	if ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM)
		return errno = EPROTONOSUPPORT, -1;
	/* Ours only until ssad has it; A, which comes back, must find a number free. */
	tcp = ssa_fd_socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (tcp < 0)
		return -1;
	if (ssa_fd_program_room(tcp) < 0) {
		sys_close(tcp);
		return errno = EMFILE, -1;
	}
	c.fds[c.nfds++] = tcp;
	err = transact(&c, ECONNREFUSED);
	sys_close(tcp);
	if (err < 0)
		return -1;
	if (result(NULL, &c) < 0 || c.out_fd < 0) {
		err = c.rep.rc < 0 ? errno : EPROTO;
		if (c.out_fd >= 0)
			sys_close(c.out_fd);
		return errno = err, -1;
	}
	if (!(type & SOCK_CLOEXEC))
		fcntl(c.out_fd, F_SETFD, 0);
	s = new_stub(domain, c.out_fd, c.rep.id);
	if (s == NULL) {
		sys_close(c.out_fd);
		return errno = ENOMEM, -1;
	}
	ssa_sock_unref(s); /* the registry holds it */
	return c.out_fd;
}

/* An fd this process did not create (exec, SCM_RIGHTS): ssad says whether it is a TLS socket. */
struct ssa_sock *ssa_remote_lookup(int fd)
{
	struct call c = {.req = {.op = SSA_OP_LOOKUP}};
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct ssa_sock *s;

	if (!ssa_daemon_backend_active() || sys_getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    ss.ss_family != AF_UNIX)
		return NULL;
	c.fds[c.nfds++] = fd;
	if (transact(&c, ECONNRESET) < 0 || c.rep.rc < 0)
		return NULL;
	s = new_stub(c.rep.a, fd, c.rep.id);
	if (s != NULL)
		s->state = (enum ssa_state)c.rep.state;
	return s;
}

/* Polls A until the handshake is over, then asks ssad how it went (as wait_for_handshake). */
static int wait_remote_handshake(struct ssa_sock *s, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};

	for (;;) {
		struct call c = {.req = {.op = SSA_OP_CONNECT_WAIT}};
		int rc;

		/* On EINTR the connection goes on in the background, as TCP's does (connect(2)). */
		if (poll(&p, 1, -1) < 0)
			return -1;
		rc = call_on(s, fd, &c);
		if (rc == 0 || errno != EINPROGRESS)
			return rc;
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
}

static bool blocking(int fd)
{
	return (fcntl(fd, F_GETFL) & O_NONBLOCK) == 0;
}

/* Up to three spare TCP sockets, for the later addresses of a name: made with our rights. */
static void add_spares(struct call *c, int domain)
{
	while (c->nfds < 4) {
		int t =
		    ssa_fd_socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);

		if (t < 0)
			break;
		c->fds[c->nfds++] = t;
	}
}

/*
 * Sockets for ssad's revocation fetches (OCSP, CRLs), made here so that they reach what this
 * program may reach, and ssad's do not matter.  IPv6 ones reach IPv4 addresses too (mapped).
 */
static void add_fetch_sockets(struct call *c, int count)
{
	int domain = AF_INET6;

	for (int i = 0; i < count && c->nfds < SSA_PROTO_MAX_FDS; i++) {
		int t = sys_socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);

		if (t < 0 && domain == AF_INET6) { /* no IPv6 here */
			domain = AF_INET;
			t = sys_socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				       IPPROTO_TCP);
		}
		if (t < 0)
			break;
		c->fds[c->nfds++] = t;
		c->req.c++;
	}
}

/* How many fetch sockets ssad last asked for: sent with every handshake from then on. */
static int fetch_sockets_wanted;

/*
 * One request that starts a handshake (connect, sendto with MSG_FASTOPEN, STARTTLS), its
 * fetch sockets last.  A request that came without them when its checks fetch is sent back
 * (EAGAIN with a = count) before it has done anything: then once more, with them.  The fetch
 * sockets are closed here once sent; the caller's own descriptors stay.  As transact().
 */
static int handshake_transact(struct call *c, int gone_errno)
{
	int before = c->nfds;

	for (int round = 0;; round++) {
		int rc;

		add_fetch_sockets(c, __atomic_load_n(&fetch_sockets_wanted, __ATOMIC_RELAXED));
		rc = transact(c, gone_errno);
		for (int i = before; i < c->nfds; i++)
			sys_close(c->fds[i]);
		c->nfds = before;
		if (rc < 0 || round > 0 || c->req.c > 0 || c->rep.rc >= 0 || c->rep.err != EAGAIN ||
		    c->rep.a <= 0)
			return rc;
		if (c->out_fd >= 0)
			sys_close(c->out_fd);
		__atomic_store_n(&fetch_sockets_wanted, c->rep.a, __ATOMIC_RELAXED);
	}
}

int ssa_remote_connect(struct ssa_sock *s, int fd, const struct sockaddr *addr, socklen_t len)
{
	struct call c = {.req = {.op = SSA_OP_CONNECT, .data_len = len}, .data = addr};
	int rc;

	if (addr == NULL || len > SSA_PROTO_MAX_DATA)
		c.req.data_len = 0; /* ssad answers as connect() would: EALREADY, EINVAL... */
	c.fds[c.nfds++] = fd;
	if (c.req.data_len >= sizeof(sa_family_t) && addr->sa_family == AF_HOSTNAME)
		add_spares(&c, s->family);
	if (handshake_transact(&c, ECONNRESET) < 0)
		rc = ssa_fail(s, SSA_E_DAEMON_GONE, "%s", daemon_path());
	else
		rc = result(s, &c);
	for (int i = 1; i < c.nfds; i++)
		sys_close(c.fds[i]);
	if (rc < 0 && errno == EINPROGRESS && blocking(fd))
		return wait_remote_handshake(s, fd);
	return rc;
}

/* ssad checks and lends the TCP socket; binding with our rights reaches what we may reach. */
int ssa_remote_bind(struct ssa_sock *s, int fd, const struct sockaddr *addr, socklen_t len)
{
	struct call c = {.req = {.op = SSA_OP_NET_FD, .a = 1}};
	int rc;

	if (addr != NULL && len >= sizeof(sa_family_t) && addr->sa_family != s->family)
		return ssa_fail(s, SSA_E_FAMILY, "address family %d", addr->sa_family);
	if (call_on(s, fd, &c) < 0)
		return -1;
	if (c.out_fd < 0)
		return ssa_fail(s, SSA_E_OPTION_VALUE, "bind() after connect() or listen()");
	rc = sys_bind(c.out_fd, addr, len);
	sys_close(c.out_fd);
	return rc;
}

int ssa_remote_listen(struct ssa_sock *s, int fd, int backlog)
{
	struct call c = {.req = {.op = SSA_OP_LISTEN, .a = backlog}};

	return call_on(s, fd, &c);
}

/* A file an option names, read with our rights (ssad never opens it). */
struct file_bytes {
	unsigned char *data;
	size_t len;
	int kind, err;
};

static int append_file(struct file_bytes *f, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	ssize_t n;

	if (fd < 0)
		return -1;
	for (;;) {
		unsigned char *grown;

		if (f->len == SSA_PROTO_MAX_FILE) {
			close(fd);
			return errno = EFBIG, -1;
		}
		grown = realloc(f->data, SSA_PROTO_MAX_FILE);
		if (grown == NULL) {
			close(fd);
			return errno = ENOMEM, -1;
		}
		f->data = grown;
		n = read(fd, f->data + f->len, SSA_PROTO_MAX_FILE - f->len);
		if (n <= 0)
			break;
		f->len += (size_t)n;
	}
	close(fd);
	return n < 0 ? -1 : 0;
}

static void read_named_file(const void *val, socklen_t len, struct file_bytes *f)
{
	char path[4096];
	size_t n = val ? strnlen(val, len) : 0;
	struct stat st;

	f->kind = SSA_FILE_CONTENT;
	if (n == 0 || n >= sizeof(path))
		return; /* ssad refuses the value itself, with the usual message */
	memcpy(path, val, n);
	path[n] = '\0';
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		char entry[4096 + 256];

		f->kind = SSA_FILE_DIRECTORY;
		while (d != NULL && (de = readdir(d)) != NULL) {
			struct stat est;

			if (de->d_name[0] == '.' || snprintf(entry, sizeof(entry), "%s/%s", path,
							     de->d_name) >= (int)sizeof(entry))
				continue;
			if (stat(entry, &est) == 0 && S_ISREG(est.st_mode))
				append_file(f, entry);
		}
		if (d == NULL) {
			f->kind = SSA_FILE_ERROR;
			f->err = errno;
		} else {
			closedir(d);
		}
		return;
	}
	if (append_file(f, path) < 0) {
		f->kind = SSA_FILE_ERROR;
		f->err = errno;
	}
}

static int set_on_tcp(struct ssa_sock *s, int fd, int level, int name, const void *val,
		      socklen_t len)
{
	struct call c = {.req = {.op = SSA_OP_NET_FD, .a = 2}};
	int rc;

	if (call_on(s, fd, &c) < 0)
		return -1;
	if (c.out_fd < 0)
		return 0; /* the connection is over: as setting an option on a closed TCP socket */
	rc = sys_setsockopt(c.out_fd, level, name, val, len);
	sys_close(c.out_fd);
	return rc;
}

int ssa_remote_setsockopt(struct ssa_sock *s, int fd, int level, int name, const void *val,
			  socklen_t len)
{
	struct call c = {.req = {.op = SSA_OP_SETSOCKOPT, .a = level, .b = name}};
	struct file_bytes f = {0};
	int rc;

	if (level == SOL_SOCKET &&
	    (name == SO_RCVTIMEO || name == SO_SNDTIMEO || name == SO_RCVBUF))
		return sys_setsockopt(fd, level, name, val, len); /* they act on A, ours */
	if (level != IPPROTO_TLS && !(level == SOL_SOCKET && name == SO_SNDBUF) &&
	    !(level == IPPROTO_TCP && name == TCP_UPGRADE_TLS))
		return set_on_tcp(s, fd, level, name, val, len);
	if (len > SSA_PROTO_MAX_DATA)
		return ssa_fail(s, SSA_E_OPTION_LENGTH, "%u bytes", (unsigned)len);
	c.req.data_len = val != NULL ? len : 0;
	c.data = val;
	if (ssa_option_names_file(level, name)) {
		read_named_file(val, len, &f);
		c.req.c = f.kind;
		c.req.file_err = f.err;
		c.req.file_len = (uint32_t)f.len;
		c.file = f.data;
	}
	rc = call_on(s, fd, &c);
	free(f.data);
	return rc;
}

int ssa_remote_getsockopt(struct ssa_sock *s, int fd, int level, int name, void *val,
			  socklen_t *len)
{
	struct call c = {.req = {.op = SSA_OP_GETSOCKOPT, .a = level, .b = name}};

	if (len == NULL)
		return errno = EFAULT, -1;
	c.req.c =
	    val != NULL ? (int32_t)(*len < SSA_PROTO_MAX_DATA ? *len : SSA_PROTO_MAX_DATA) : 0;
	c.out = val;
	c.out_size = (size_t)c.req.c;
	if (call_on(s, fd, &c) < 0 && c.rep.magic != SSA_PROTO_MAGIC) {
		if (level == IPPROTO_TLS && name == TLS_ERROR && val != NULL && *len > 0) {
			/* ssad is gone: what this side knows is why */
			pthread_mutex_lock(&s->lock);
			snprintf(val, *len, "%s", s->error);
			pthread_mutex_unlock(&s->lock);
			*len = (socklen_t)strlen(val) + 1;
			return 0;
		}
		return -1;
	}
	*len = (socklen_t)c.rep.a;
	return result(s, &c);
}

int ssa_remote_name(struct ssa_sock *s, int fd, struct sockaddr *addr, socklen_t *len, bool peer)
{
	struct sockaddr_storage ss;
	struct call c = {.req = {.op = SSA_OP_NAME, .a = peer}, .out = &ss, .out_size = sizeof(ss)};

	if (addr == NULL || len == NULL)
		return errno = EFAULT, -1;
	if (call_on(s, fd, &c) < 0)
		return -1;
	memcpy(addr, &ss, *len < c.rep.data_len ? *len : c.rep.data_len);
	*len = c.rep.data_len;
	return 0;
}

ssize_t ssa_remote_sendto(struct ssa_sock *s, int fd, const void *buf, size_t len,
			  const struct sockaddr *addr, socklen_t addrlen)
{
	struct call c = {.req = {.op = SSA_OP_SENDTO, .a = (int32_t)addrlen}};
	unsigned char *data;
	int rc;

	if (len > SSA_PROTO_MAX_DATA - 1024)
		len = SSA_PROTO_MAX_DATA - 1024; /* a short write, as a socket may do */
	if (addrlen > 1024 || (data = malloc(addrlen + len + 1)) == NULL)
		return ssa_fail(s, SSA_E_RESOURCES, NULL);
	if (addrlen > 0)
		memcpy(data, addr, addrlen);
	if (len > 0)
		memcpy(data + addrlen, buf, len);
	c.data = data;
	c.req.data_len = (uint32_t)(addrlen + len);
	c.fds[c.nfds++] = fd;
	if (handshake_transact(&c, ECONNRESET) < 0)
		rc = ssa_fail(s, SSA_E_DAEMON_GONE, "%s", daemon_path());
	else
		rc = result(s, &c);
	free(data);
	if (rc < 0 && errno == EINPROGRESS && blocking(fd) && wait_remote_handshake(s, fd) < 0)
		return -1;
	return rc < 0 && errno != EINPROGRESS ? -1 : (ssize_t)len;
}

int ssa_remote_shutdown(struct ssa_sock *s, int fd, int how)
{
	struct call c = {.req = {.op = SSA_OP_SHUTDOWN, .a = how}};

	return call_on(s, fd, &c);
}

/*
 * close() of a connection is announced to ssad, and said to have returned once it has, on the
 * same connection to ssad: so ssad tells this end from a program that vanished, which is a
 * cut (ssa_end.c).  Returns the connection to say it on, or -1 (ssad gone: nothing to say).
 */
static struct conn announce_close(int fd)
{
	struct call c = {.req = {.op = SSA_OP_CLOSE}};
	struct conn conn;

	c.fds[c.nfds++] = fd;
	conn = exchange(&c);
	if (c.out_fd >= 0)
		sys_close(c.out_fd);
	if (conn.fd >= 0 && c.rep.rc < 0) {
		conn_put(conn); /* not a socket of ssad's (any more): a plain close */
		conn.fd = -1;
	}
	return conn;
}

static void close_returned(struct conn conn)
{
	unsigned char word = SSA_CLOSE_DONE;

	if (conn.fd < 0)
		return;
	if (send(conn.fd, &word, 1, MSG_NOSIGNAL) == 1)
		conn_put(conn);
	else
		ssa_fd_close_owned(conn.fd);
}

/*
 * close() of the last descriptor of a listener frees its port before returning, as with TCP:
 * ssad lends T so that we can take it out of LISTEN ourselves.
 */
int ssa_remote_close(struct ssa_sock *s, int fd)
{
	struct call c = {.req = {.op = SSA_OP_NET_FD}};
	struct conn announced = {.fd = -1};
	int tcp = -1, rc, err;

	if (s->state == SSA_LISTENING && !s->service_gone && call_on(s, fd, &c) == 0)
		tcp = c.out_fd;
	else if (s->state == SSA_CONNECTING || s->state == SSA_CONNECTED)
		announced = announce_close(fd);
	ssa_table_forget_fd(fd);
	rc = sys_close(fd);
	err = errno;
	close_returned(announced);
	errno = err;
	if (!s->diag_blind && !ssa_app_end_open(s)) {
		if (tcp >= 0)
			sys_shutdown(tcp, SHUT_RDWR);
		ssa_table_remove(s);
	}
	if (tcp >= 0)
		sys_close(tcp);
	return rc;
}

/* STARTTLS on a connected TCP socket: ssad returns A, which takes fd's number here. */
int ssa_remote_upgrade(int fd, const void *val, socklen_t len)
{
	struct call c = {.req = {.op = SSA_OP_UPGRADE, .data_len = val ? len : 0}, .data = val};
	int fdflags = fcntl(fd, F_GETFD), domain;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct ssa_sock *s;
	bool block = blocking(fd), client = val != NULL && len > 0 && *(const char *)val != '\0';

	if (fdflags < 0 || sys_getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -1;
	domain = ss.ss_family;
	if (len > SSA_PROTO_MAX_DATA)
		return errno = EINVAL, -1;
	c.fds[c.nfds++] = fd;
	/* a client's checks may fetch; a server's check nothing */
	if ((client ? handshake_transact(&c, ECONNREFUSED) : transact(&c, ECONNREFUSED)) < 0)
		return -1;
	if (result(NULL, &c) < 0 && errno != EINPROGRESS) {
		if (c.out_fd >= 0)
			sys_close(c.out_fd);
		return -1;
	}
	if (c.out_fd < 0)
		return errno = EPROTO, -1;
	if (dup3(c.out_fd, fd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		sys_close(c.out_fd);
		return -1;
	}
	sys_close(c.out_fd);
	ssa_table_forget_fd(fd);
	s = new_stub(domain, fd, c.rep.id);
	if (s == NULL)
		return errno = ENOMEM, -1;
	s->state = (enum ssa_state)c.rep.state;
	if (block && wait_remote_handshake(s, fd) < 0) {
		ssa_sock_unref(s);
		return -1;
	}
	ssa_sock_unref(s);
	return 0;
}

/*
 * ssad died under a listener: its pair reads EOF for ever, so poll() and select() would say
 * readable for ever and an event loop would spin on accept().  The descriptor gets a quiet
 * socket in A's place, an unbound datagram socket at which nothing can ever arrive: poll and
 * select stop reporting it, an epoll set drops it along with A, and every accept() says why,
 * ECONNRESET as for the other sockets ssad served.  The listener is dead for good (its port
 * went with ssad), so nothing is lost by letting go of A.
 */
int ssa_remote_listener_gone(struct ssa_sock *s, int fd)
{
	int fdflags = fcntl(fd, F_GETFD), flflags = fcntl(fd, F_GETFL);
	int quiet = sys_socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (!s->service_gone && quiet >= 0 && fdflags >= 0 && flflags >= 0 &&
	    dup3(quiet, fd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) == fd) {
		bool known;

		fcntl(fd, F_SETFL, flflags & O_NONBLOCK);
		ssa_table_remove(s); /* found from now on by the quiet socket's cookie */
		pthread_mutex_lock(&s->lock);
		known = ssa_app_end_identify(s, fd) == 0;
		s->service_gone = true;
		pthread_mutex_unlock(&s->lock);
		if (!known || ssa_table_insert(s, fd) < 0) {
			/* unknown, accept() goes to the quiet socket: EOPNOTSUPP, no spin */
		}
	}
	if (quiet >= 0)
		sys_close(quiet);
	service_gone(ECONNRESET); /* said on standard error, once per outage */
	return ssa_fail(s, SSA_E_DAEMON_GONE, "%s (the listener is closed)", daemon_path());
}

bool ssa_remote_in_use(void)
{
	return __atomic_load_n(&in_use, __ATOMIC_RELAXED);
}

/* The descriptors of this process that are connections of ssad's (collected first: closing
 * them while reading /proc/self/fd could skip some). */
static size_t remote_connections(int **out)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	size_t n = 0, cap = 0;
	int *fds = NULL;

	while (d != NULL && (de = readdir(d)) != NULL) {
		int fd = atoi(de->d_name);
		struct ssa_sock *s;

		if (de->d_name[0] == '.' || fd == dirfd(d) || (s = ssa_table_get(fd)) == NULL)
			continue;
		if (s->remote && (s->state == SSA_CONNECTING || s->state == SSA_CONNECTED)) {
			if (n == cap) {
				int *grown =
				    realloc(fds, (cap = cap ? cap * 2 : 16) * sizeof(*fds));

				if (grown == NULL) {
					ssa_sock_unref(s);
					break;
				}
				fds = grown;
			}
			fds[n++] = fd;
		}
		ssa_sock_unref(s);
	}
	if (d != NULL)
		closedir(d);
	*out = fds;
	return n;
}

/*
 * exit(): the program's connections end as if it had closed them, flushed, then close_notify,
 * as the in-process engine does at exit (ssa_end.c).  A connection that another process
 * still holds (a forked child) stays open there.  _exit() and death by a signal are no end.
 */
void ssa_remote_exit(void)
{
	int *fds;
	size_t n;

	if (!ssa_remote_in_use())
		return;
	n = remote_connections(&fds);
	for (size_t i = 0; i < n; i++)
		ssa_api_close(fds[i]);
	free(fds);
}

void ssa_remote_fork_child(void)
{
	pthread_mutex_init(&pool_lock, NULL);
	pool_size = 0; /* their descriptors were closed with the engine's (ssa_fd_own) */
	pool_pid = getpid();
}
