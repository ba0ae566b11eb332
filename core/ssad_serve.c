/*
 * ssad: one thread per control connection, answering the library's requests (ssa_proto.h).
 *
 * Each request names its socket by the descriptor A it carries, so the thread acts on that
 * socket with the same code as the in-process backend (ssa_api.c), under the caller's profile
 * and user.  What a caller sends is checked here before anything else sees it: sizes, option
 * levels, the kind of every descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <ssa/ssa.h>

#include "ssa_proto_io.h"
#include "ssad.h"

#define CONNECTIONS_PER_USER 256  /* and with them threads: one per connection */
#define USERS_MAX            4096 /* distinct users with live sockets */
#define THREAD_STACK         (256 * 1024)

/*
 * A request, once its first byte came, must arrive whole within REQUEST_DEADLINE_MS, and a
 * reply must find room within as long: a caller that stalls gives its thread back.  What the
 * requests of one user bring (data and file content) is held in buffers that grow as bytes
 * arrive, never as announced, and together stay within USER_REQUEST_BYTES: room for a few
 * of the largest requests at once, not for hundreds.
 */
#define REQUEST_DEADLINE_MS 5000
#define USER_REQUEST_BYTES  (4 * (SSA_PROTO_MAX_DATA + SSA_PROTO_MAX_FILE))
#define FIRST_CHUNK         (64 * 1024)

/* A flood of refusals is logged once a second per user and kind, with the count. */
enum refusal { REFUSED_CONNECTION, REFUSED_ACCEPTED, REFUSALS };

struct refusals {
	int64_t logged_ms;
	unsigned since;
};

/* Per-user counts, so that no user's flood can take the service from the others. */
struct user_count {
	uid_t uid;
	unsigned sockets, connections;
	size_t request_bytes; /* held by requests being read */
	struct refusals refused[REFUSALS];
	bool used;
};

static pthread_mutex_t users_lock = PTHREAD_MUTEX_INITIALIZER;
static struct user_count users[USERS_MAX];

/* A slot whose user holds nothing: another user may take it over. */
static bool user_idle(const struct user_count *u)
{
	return u->sockets == 0 && u->connections == 0 && u->request_bytes == 0;
}

/*
 * Under users_lock: uid's slot, made if need be; NULL when every slot is busy.  Slots stay
 * used once made (lookups probe past them), but an idle one is taken over by a new user, so
 * that users who come and go never fill the table for good.
 */
static struct user_count *user_slot(uid_t uid)
{
	struct user_count *spare = NULL;

	for (size_t i = 0; i < USERS_MAX; i++) {
		struct user_count *u = &users[(uid + i) % USERS_MAX];

		if (u->used && u->uid == uid)
			return u;
		if (spare == NULL && (!u->used || user_idle(u)))
			spare = u;
		if (!u->used)
			break;
	}
	if (spare != NULL) {
		memset(spare, 0, sizeof(*spare));
		spare->used = true;
		spare->uid = uid;
	}
	return spare;
}

/* Under users_lock: how many refusals to report now, 0 if not yet. */
static unsigned refusals_to_log(struct user_count *u, enum refusal kind)
{
	struct refusals *r = &u->refused[kind];
	int64_t now = ssa_now_ms();
	unsigned n;

	r->since++;
	if (r->logged_ms != 0 && now - r->logged_ms < 1000)
		return 0;
	n = r->since;
	r->since = 0;
	r->logged_ms = now;
	return n;
}

/* The accept thread's whole check: cheap, and the same for a flood as for one connection. */
bool ssad_user_admit_connection(uid_t uid)
{
	struct user_count *u;
	unsigned report = 0;
	bool ok;

	pthread_mutex_lock(&users_lock);
	u = user_slot(uid);
	ok = u != NULL && u->connections < CONNECTIONS_PER_USER;
	if (ok)
		u->connections++;
	else
		report = u != NULL ? refusals_to_log(u, REFUSED_CONNECTION) : 1;
	pthread_mutex_unlock(&users_lock);
	if (report > 0)
		ssad_log(LOG_WARNING, "uid %u: too many connections to ssad (%u refused)", uid,
			 report);
	return ok;
}

static void user_connection_gone(uid_t uid)
{
	pthread_mutex_lock(&users_lock);
	user_slot(uid)->connections--;
	pthread_mutex_unlock(&users_lock);
}

static bool user_take_socket_now(uid_t uid, int limit)
{
	struct user_count *u;
	bool ok;

	pthread_mutex_lock(&users_lock);
	u = user_slot(uid);
	ok = u != NULL && (limit == 0 || u->sockets < (unsigned)limit);
	if (ok)
		u->sockets++;
	pthread_mutex_unlock(&users_lock);
	return ok;
}

/* At the limit, sockets the user already closed are let go first (ssad.c sweeps them too). */
static bool user_take_socket(uid_t uid, int limit)
{
	if (user_take_socket_now(uid, limit))
		return true;
	return ssa_table_sweep_closed() > 0 && user_take_socket_now(uid, limit);
}

static void user_give_back_socket(uid_t uid)
{
	pthread_mutex_lock(&users_lock);
	user_slot(uid)->sockets--;
	pthread_mutex_unlock(&users_lock);
}

void ssad_sock_freed(const struct ssa_sock *s)
{
	if (s->counted)
		user_give_back_socket(s->owner_uid);
}

/*
 * A connection a listener accepts is its owner's socket in ssad, waiting for accept() or
 * accepted: it counts against the owner's user-sockets from its handshake on.  Refused, it
 * is closed before the handshake.  An engine thread asks: no sweep here (ssa_table.c).
 */
bool ssad_admit_accepted(struct ssa_sock *c)
{
	int limit = c->policy->user_sockets;
	struct user_count *u;
	unsigned report = 0;

	if (user_take_socket_now(c->owner_uid, limit)) {
		c->counted = true;
		return true;
	}
	pthread_mutex_lock(&users_lock);
	u = user_slot(c->owner_uid);
	if (u != NULL)
		report = refusals_to_log(u, REFUSED_ACCEPTED);
	pthread_mutex_unlock(&users_lock);
	if (report > 0)
		ssad_log(LOG_WARNING,
			 "uid %u: user-sockets limit (%d) reached: %u connections refused",
			 c->owner_uid, limit, report);
	return false;
}

static bool user_take_bytes(uid_t uid, size_t n)
{
	struct user_count *u;
	bool ok;

	pthread_mutex_lock(&users_lock);
	u = user_slot(uid);
	ok = u != NULL && u->request_bytes + n <= USER_REQUEST_BYTES;
	if (ok)
		u->request_bytes += n;
	pthread_mutex_unlock(&users_lock);
	return ok;
}

static void user_give_back_bytes(uid_t uid, size_t n)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&users_lock);
	user_slot(uid)->request_bytes -= n;
	pthread_mutex_unlock(&users_lock);
}

/* One request with what came with it, and the reply being built. */
struct request {
	struct ssa_request h;
	unsigned char *data, *file;
	int fds[SSA_PROTO_MAX_FDS], nfds;
	struct ssa_reply rep;
	void *out;
	size_t out_len;
	int out_fd; /* sent with the reply, then closed here */
	const struct ssad_caller *caller;
	size_t charged;           /* of the caller's USER_REQUEST_BYTES, for data and file */
	struct ssa_sock *closing; /* SSA_OP_CLOSE: referenced until the caller's word */
};

static int refuse(struct request *r, int err)
{
	r->rep.rc = -1;
	r->rep.err = err;
	return -1;
}

/* The result of a call, errno included, into the reply. */
static int outcome(struct request *r, int rc)
{
	r->rep.rc = rc < 0 ? -1 : rc;
	r->rep.err = rc < 0 ? errno : 0;
	return rc;
}

/*
 * ssad closes every descriptor it receives or sends once the request is over: its number, now
 * free for the next caller's descriptor, must name nothing in the registry (item 14 of issue
 * 13: a stale entry made another caller's STARTTLS fail).
 */
static void close_fd(int fd)
{
	ssa_table_forget_fd(fd);
	sys_close(fd);
}

/*
 * Why the request's first descriptor names no socket of ours.  Only a liar sends what is no
 * socket at all (an O_PATH descriptor, a file; a socket file with another user's inode number
 * is one): a warning.  A real socket ssad no longer knows (a connection its engine let go) may
 * come from an honest library: said with --verbose only.
 */
static void log_refusal(const struct request *r)
{
	int fd = r->nfds > 0 ? r->fds[0] : -1;
	const struct ssad_caller *c = r->caller;
	uint64_t cookie;

	if (fd >= 0 && ssa_socket_cookie(fd, &cookie) == 0)
		ssad_log(LOG_DEBUG, "uid %u (pid %d, %s): request %u refused: not a socket of ours",
			 c->uid, (int)c->pid, c->exe, r->h.op);
	else
		ssad_log(LOG_WARNING, "uid %u (pid %d, %s): request %u refused: %s", c->uid,
			 (int)c->pid, c->exe, r->h.op,
			 fd < 0 ? "it carries no descriptor"
				: "its descriptor is no socket (an O_PATH descriptor or a file)");
}

/*
 * The TLS socket whose A is the request's first descriptor, referenced.  The registry knows A
 * by what the kernel says of that very open file (ssa_table.c), so the caller must hold A
 * itself: a dup, a fork's copy, one passed with SCM_RIGHTS, but no number, path or look-alike
 * of its choosing.  Anything else is EBADF, as the kernel answers for a descriptor that is not
 * what the call needs.
 */
static struct ssa_sock *target(struct request *r)
{
	struct ssa_sock *s = r->nfds > 0 ? ssa_table_get(r->fds[0]) : NULL;

	if (s == NULL) {
		log_refusal(r);
		refuse(r, EBADF);
	}
	return s;
}

static int int_option(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);

	return sys_getsockopt(fd, level, name, &v, &l) == 0 ? v : -1;
}

/* A TCP socket of that family, neither connected nor listening: what socket() gives. */
static bool is_fresh_tcp(int fd, int domain)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	return int_option(fd, SOL_SOCKET, SO_DOMAIN) == domain &&
	       int_option(fd, SOL_SOCKET, SO_TYPE) == SOCK_STREAM &&
	       int_option(fd, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP &&
	       int_option(fd, SOL_SOCKET, SO_ACCEPTCONN) == 0 &&
	       sys_getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 && errno == ENOTCONN;
}

static int op_socket(struct request *r)
{
	const struct ssa_policy *p = r->caller->policy;
	struct ssa_sock *s;
	int fd, tcp;

	if (r->nfds != 1 || !is_fresh_tcp(r->fds[0], r->h.a))
		return refuse(r, EINVAL);
	if (!user_take_socket(r->caller->uid, p->user_sockets)) {
		ssad_log(LOG_WARNING, "uid %u: user-sockets limit (%d) reached", r->caller->uid,
			 p->user_sockets);
		return refuse(r, EMFILE);
	}
	tcp = r->fds[0];
	r->fds[0] = -1; /* the socket owns it now, whatever happens */
	fcntl(tcp, F_SETFL, O_NONBLOCK);
	fd = ssa_socket_adopt(r->h.a, r->h.b, tcp);
	if (fd < 0 || (s = ssa_table_get(fd)) == NULL) {
		user_give_back_socket(r->caller->uid);
		if (fd >= 0)
			close_fd(fd);
		return refuse(r, fd < 0 ? errno : ENOMEM);
	}
	s->counted = true;
	r->rep.id = s->id;
	ssa_sock_unref(s);
	r->out_fd = fd;
	return 0;
}

/* Options the caller's library sends here; others act on T, which it sets itself. */
static bool option_for_us(int level, int name)
{
	return level == IPPROTO_TLS || (level == IPPROTO_TCP && name == TCP_UPGRADE_TLS) ||
	       (level == SOL_SOCKET && (name == SO_SNDBUF || name == SO_RCVBUF ||
					name == SO_RCVTIMEO || name == SO_SNDTIMEO));
}

static int op_setsockopt(struct request *r)
{
	struct ssa_supplied_file f = {.data = r->file, .len = r->h.file_len};
	int rc;

	if (r->nfds != 1 || !option_for_us(r->h.a, r->h.b))
		return refuse(r, r->nfds != 1 ? EINVAL : EOPNOTSUPP);
	if (ssa_option_names_file(r->h.a, r->h.b)) {
		/* Never a path alone: that would open it with ssad's rights. */
		if (r->h.c == SSA_FILE_ERROR)
			f.err = r->h.file_err > 0 ? r->h.file_err : EACCES;
		else if (r->h.c == SSA_FILE_DIRECTORY)
			f.is_dir = true;
		else if (r->h.c != SSA_FILE_CONTENT)
			f.err = EACCES;
		ssa_supply_file(&f);
	}
	rc = ssa_api_setsockopt(r->fds[0], r->h.a, r->h.b, r->data, r->h.data_len);
	ssa_supply_file(NULL);
	return outcome(r, rc);
}

static int op_getsockopt(struct request *r)
{
	socklen_t len = (socklen_t)r->h.c;
	int rc;

	if (r->nfds != 1 || r->h.c < 0 || (uint32_t)r->h.c > SSA_PROTO_MAX_DATA)
		return refuse(r, EINVAL);
	r->out = malloc(len > 0 ? len : 1);
	if (r->out == NULL)
		return refuse(r, ENOMEM);
	rc = ssa_api_getsockopt(r->fds[0], r->h.a, r->h.b, len > 0 ? r->out : NULL, &len);
	r->rep.a = (int32_t)len;
	if (rc == 0)
		r->out_len = len < (socklen_t)r->h.c ? len : (size_t)r->h.c;
	return outcome(r, rc);
}

/* Lends T to the caller: to bind() it, or to set a TCP option, with the caller's rights. */
static int op_net_fd(struct request *r)
{
	struct ssa_sock *s = target(r);
	int rc = 0;

	if (s == NULL)
		return -1;
	if (r->h.a != 0)
		ssa_begin_call(s); /* bind() or an option: calls that act */
	pthread_mutex_lock(&s->lock);
	if (r->h.a == 1 && s->state != SSA_NEW)
		rc = -1;
	else if (s->net_fd >= 0)
		r->out_fd = fcntl(s->net_fd, F_DUPFD_CLOEXEC, 0);
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		rc = ssa_fail(s, SSA_E_OPTION_VALUE, "bind() after connect() or listen()");
	ssa_sock_unref(s);
	return outcome(r, rc);
}

/* A fresh TCP socket of the caller's, of either family, for a revocation fetch. */
static bool is_fetch_socket(int fd)
{
	return is_fresh_tcp(fd, AF_INET6) || is_fresh_tcp(fd, AF_INET);
}

/*
 * A request that starts a handshake (CONNECT, SENDTO, UPGRADE) ends with c descriptors: the
 * caller's sockets for its revocation fetches, since ssad makes none of its own for a caller
 * (ssa_revocation.c).  One whose checks fetch and that brought none is sent back for them
 * (EAGAIN with a = how many) before it does anything.  The fresh TCP sockets among them go to
 * the handshake this thread starts (ssa_connect_tls takes them); the others, and any not
 * taken, close with the request.  Returns where they begin, after at most lead_max others, or
 * -1.
 */
static int take_fetch_sockets(struct request *r, int lead_max, bool fetches)
{
	int first = r->nfds - r->h.c;

	if (r->h.c < 0 || first < 1 || first > lead_max)
		return refuse(r, EINVAL);
	if (r->h.c == 0 && fetches) {
		r->rep.a = SSA_REV_FETCH_FDS;
		return refuse(r, EAGAIN);
	}
	for (int i = first; i < r->nfds; i++)
		if (r->fds[i] >= 0 && !is_fetch_socket(r->fds[i])) {
			sys_close(r->fds[i]);
			r->fds[i] = -1;
		}
	ssa_revocation_supply_sockets(r->fds + first, (unsigned)r->h.c);
	return first;
}

/* s is still to start its handshake, and that handshake's checks fetch. */
static bool handshake_fetches(struct ssa_sock *s)
{
	bool fetches;

	pthread_mutex_lock(&s->lock);
	fetches = s->state == SSA_NEW && ssa_revocation_fetches(s);
	pthread_mutex_unlock(&s->lock);
	return fetches;
}

static int op_connect(struct request *r)
{
	struct ssa_sock *s = target(r);
	int rc, spares_end;

	if (s == NULL)
		return -1;
	if ((spares_end = take_fetch_sockets(r, SSA_PROTO_MAX_FDS, handshake_fetches(s))) < 0) {
		ssa_sock_unref(s);
		return -1;
	}
	/*
	 * Spares only for a connect that can still start.  Once one is under way its engine takes
	 * spares without a lock, and once it is over none is used: given to a failed socket, kept
	 * for TLS_ERROR, they stayed until the caller closed it and the sweeper forgot it.
	 */
	pthread_mutex_lock(&s->lock);
	for (int i = 1; i < spares_end && s->state == SSA_NEW; i++)
		if (s->nspares < SSA_MAX_SPARES && r->fds[i] >= 0 &&
		    is_fresh_tcp(r->fds[i], s->family)) {
			s->spare_fds[s->nspares++] = r->fds[i];
			ssa_fd_own(r->fds[i]);
			r->fds[i] = -1;
		}
	pthread_mutex_unlock(&s->lock);
	ssa_sock_unref(s);
	rc = ssa_api_connect(r->fds[0], r->h.data_len ? (const struct sockaddr *)r->data : NULL,
			     r->h.data_len);
	return outcome(r, rc);
}

static int op_connect_wait(struct request *r)
{
	struct ssa_sock *s = target(r);
	int rc;

	if (s == NULL)
		return -1;
	rc = ssa_connect_outcome(s);
	ssa_sock_unref(s);
	return outcome(r, rc);
}

static int op_sendto(struct request *r)
{
	uint32_t alen = (uint32_t)r->h.a;
	struct ssa_sock *s;
	ssize_t n;
	int rc;

	if (r->h.a < 0 || alen > r->h.data_len)
		return refuse(r, EINVAL);
	if ((s = target(r)) == NULL)
		return -1;
	rc = take_fetch_sockets(r, 1, handshake_fetches(s));
	ssa_sock_unref(s);
	if (rc < 0)
		return -1;
	n = ssa_api_sendto(r->fds[0], r->data + alen, r->h.data_len - alen, MSG_FASTOPEN,
			   alen ? (const struct sockaddr *)r->data : NULL, alen);
	return outcome(r, n < 0 ? -1 : (int)n);
}

static int op_name(struct request *r)
{
	struct sockaddr_storage *ss = malloc(sizeof(*ss));
	socklen_t len = sizeof(*ss);
	int rc;

	if (ss == NULL || r->nfds != 1)
		return free(ss), refuse(r, ss ? EINVAL : ENOMEM);
	r->out = ss;
	rc = r->h.a ? ssa_api_getpeername(r->fds[0], (struct sockaddr *)ss, &len)
		    : ssa_api_getsockname(r->fds[0], (struct sockaddr *)ss, &len);
	if (rc == 0)
		r->out_len = len;
	return outcome(r, rc);
}

/* A client's checks fetch as the policy says: its socket is made here, with nothing tightened. */
static bool upgrade_fetches(const struct request *r)
{
	return r->h.data_len > 0 && r->data[0] != '\0' && ssa_revocation_fetches(NULL);
}

/*
 * STARTTLS: fds[0] becomes A here (ssa_upgrade.c), and goes back to take the caller's number.
 * Whether it is a TLS socket already is the registry's answer for that open file: its number
 * here is only the lowest one free, which any earlier request may have used.
 */
static int op_upgrade(struct request *r)
{
	struct ssa_sock *s;
	int rc;

	if (r->nfds < 1)
		return refuse(r, EINVAL);
	if ((s = ssa_table_get(r->fds[0])) != NULL) {
		ssa_sock_unref(s);
		return refuse(r, EINVAL);
	}
	if (take_fetch_sockets(r, 1, upgrade_fetches(r)) < 0)
		return -1;
	if (!user_take_socket(r->caller->uid, r->caller->policy->user_sockets))
		return refuse(r, EMFILE);
	rc = ssa_api_setsockopt(r->fds[0], IPPROTO_TCP, TCP_UPGRADE_TLS, r->data, r->h.data_len);
	s = ssa_table_get(r->fds[0]);
	if (s == NULL) {
		user_give_back_socket(r->caller->uid);
		return outcome(r, rc < 0 ? rc : (errno = EPROTO, -1));
	}
	s->counted = true;
	r->rep.id = s->id;
	ssa_sock_unref(s);
	r->out_fd = r->fds[0];
	r->fds[0] = -1;
	return outcome(r, rc);
}

static int op_lookup(struct request *r)
{
	struct ssa_sock *s = target(r);

	if (s == NULL)
		return -1;
	r->rep.id = s->id;
	r->rep.a = s->family;
	ssa_sock_unref(s);
	return outcome(r, 0);
}

/* Every operation but SOCKET and UPGRADE acts on a TLS socket of ssad's, named by its A itself. */
static bool names_our_socket(struct request *r)
{
	struct ssa_sock *s;

	if (r->h.op == SSA_OP_SOCKET || r->h.op == SSA_OP_UPGRADE)
		return true;
	if ((s = target(r)) == NULL)
		return false;
	ssa_sock_unref(s);
	return true;
}

static int op_listen(struct request *r)
{
	return outcome(r, ssa_api_listen(r->fds[0], r->h.a));
}

static int op_shutdown(struct request *r)
{
	return outcome(r, ssa_api_shutdown(r->fds[0], r->h.a));
}

/* close() of A, announced (ssa_end.c): the caller closes it, then says so (await_close). */
static int op_close(struct request *r)
{
	struct ssa_sock *s = target(r);

	if (s == NULL)
		return -1;
	ssa_app_close_announced(s);
	r->closing = s;
	return outcome(r, 0);
}

static int (*const handlers[SSA_OP_MAX])(struct request *r) = {
    [SSA_OP_SOCKET] = op_socket,
    [SSA_OP_SETSOCKOPT] = op_setsockopt,
    [SSA_OP_GETSOCKOPT] = op_getsockopt,
    [SSA_OP_NET_FD] = op_net_fd,
    [SSA_OP_LISTEN] = op_listen,
    [SSA_OP_CONNECT] = op_connect,
    [SSA_OP_CONNECT_WAIT] = op_connect_wait,
    [SSA_OP_SENDTO] = op_sendto,
    [SSA_OP_SHUTDOWN] = op_shutdown,
    [SSA_OP_NAME] = op_name,
    [SSA_OP_UPGRADE] = op_upgrade,
    [SSA_OP_LOOKUP] = op_lookup,
    [SSA_OP_CLOSE] = op_close,
};

static void dispatch(struct request *r)
{
	if (r->h.op == 0 || r->h.op >= SSA_OP_MAX || handlers[r->h.op] == NULL) {
		refuse(r, EOPNOTSUPP);
		return;
	}
	if (names_our_socket(r))
		handlers[r->h.op](r);
	ssa_revocation_supply_sockets(NULL, 0); /* what a handshake did not take closes with r */
}

/* The socket's state after the call, so the library's stub follows it (LISTENING, say). */
static void note_state(struct request *r)
{
	int fd = r->out_fd >= 0 ? r->out_fd : r->nfds > 0 ? r->fds[0] : -1;
	struct ssa_sock *s = fd >= 0 ? ssa_table_get(fd) : NULL;

	r->rep.state = -1;
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	r->rep.state = (int32_t)s->state;
	pthread_mutex_unlock(&s->lock);
	ssa_sock_unref(s);
}

/* Between requests a connection may idle as long as it likes (the library pools them). */
static int wait_for_request(int conn)
{
	struct pollfd p = {.fd = conn, .events = POLLIN};
	int n;

	while ((n = poll(&p, 1, -1)) < 0 && errno == EINTR)
		;
	return n < 0 ? -1 : 0;
}

/*
 * len bytes of the request into *out (NUL-terminated, for option strings), in a buffer that
 * doubles as they arrive: a caller pays in bytes sent for the memory it makes us hold.  Each
 * growth is charged to the caller's user first; over budget, ENOBUFS.
 */
static int read_payload(int conn, struct request *r, unsigned char **out, uint32_t len,
			int64_t deadline)
{
	size_t have = 0, room = 0;
	int none;

	*out = calloc(1, 1);
	if (*out == NULL)
		return errno = ENOMEM, -1;
	while (have < len) {
		size_t want = room == 0 ? FIRST_CHUNK : room * 2;
		unsigned char *grown;

		if (want > len)
			want = len;
		if (!user_take_bytes(r->caller->uid, want - room))
			return errno = ENOBUFS, -1;
		r->charged += want - room;
		grown = realloc(*out, want + 1);
		if (grown == NULL)
			return errno = ENOMEM, -1;
		*out = grown;
		room = want;
		if (ssa_proto_recv_by(conn, *out + have, room - have, NULL, 0, &none, 0, deadline) <
		    0)
			return -1;
		have = room;
	}
	(*out)[len] = '\0';
	return 0;
}

static int read_request(int conn, struct request *r)
{
	int64_t deadline;

	if (wait_for_request(conn) < 0)
		return -1;
	deadline = ssa_now_ms() + REQUEST_DEADLINE_MS;
	if (ssa_proto_recv_by(conn, &r->h, sizeof(r->h), r->fds, SSA_PROTO_MAX_FDS, &r->nfds, 0,
			      deadline) < 0)
		return -1;
	if (r->h.magic != SSA_PROTO_MAGIC || r->h.data_len > SSA_PROTO_MAX_DATA ||
	    r->h.file_len > SSA_PROTO_MAX_FILE)
		return errno = EPROTO, -1;
	if (read_payload(conn, r, &r->data, r->h.data_len, deadline) < 0 ||
	    read_payload(conn, r, &r->file, r->h.file_len, deadline) < 0)
		return -1;
	return 0;
}

static int send_reply(int conn, struct request *r)
{
	struct iovec iov[2] = {{&r->rep, sizeof(r->rep)}, {r->out, r->out_len}};

	r->rep.magic = SSA_PROTO_MAGIC;
	r->rep.data_len = (uint32_t)r->out_len;
	return ssa_proto_send(conn, iov, r->out_len ? 2 : 1, &r->out_fd, r->out_fd >= 0 ? 1 : 0);
}

/*
 * Before the reply: once the caller has it, it may close A and ask the kernel whether A is
 * still open anywhere, and our copy must not be the answer.
 */
static void close_request_fds(struct request *r)
{
	for (int i = 0; i < r->nfds; i++)
		if (r->fds[i] >= 0)
			close_fd(r->fds[i]);
	r->nfds = 0;
}

/*
 * After the reply to SSA_OP_CLOSE: the caller's word that its close() of A returned, the next
 * byte on this connection.  If the caller dies first, its connection says that instead.
 */
static int await_close(int conn, struct request *r, int sent)
{
	unsigned char word = 0;
	int none;
	/* The word follows the caller's close() at once: one that withholds it is cut. */
	bool returned = sent == 0 &&
			ssa_proto_recv_by(conn, &word, 1, NULL, 0, &none, 0,
					  ssa_now_ms() + REQUEST_DEADLINE_MS) == 0 &&
			word == SSA_CLOSE_DONE;

	ssa_app_close_returned(r->closing, returned);
	ssa_sock_unref(r->closing);
	r->closing = NULL;
	return returned ? 0 : -1;
}

static void request_free(struct request *r)
{
	if (r->closing != NULL) {
		ssa_app_close_returned(r->closing, false);
		ssa_sock_unref(r->closing);
	}
	close_request_fds(r);
	if (r->out_fd >= 0)
		close_fd(r->out_fd);
	free(r->data);
	free(r->file);
	free(r->out);
	user_give_back_bytes(r->caller->uid, r->charged);
}

struct session {
	int conn;
	struct ssad_caller caller;
};

void ssad_serve_connection(int conn, const struct ssad_caller *caller)
{
	ssa_policy_use(caller->policy);
	ssa_caller_set(caller->uid);
	for (;;) {
		struct request r = {.out_fd = -1, .caller = caller};
		int ok = read_request(conn, &r);

		if (ok == 0) {
			dispatch(&r);
			note_state(&r);
			close_request_fds(&r);
			ok = send_reply(conn, &r);
			if (r.closing != NULL)
				ok = await_close(conn, &r, ok);
		} else if (errno == EPROTO || errno == ETIMEDOUT || errno == ENOBUFS) {
			ssad_log(LOG_WARNING, "pid %d (uid %u, %s): %s, disconnected",
				 (int)caller->pid, caller->uid, caller->exe,
				 errno == EPROTO      ? "malformed request"
				 : errno == ETIMEDOUT ? "request not complete in time"
						      : "requests over the user's memory budget");
		}
		request_free(&r);
		if (ok < 0)
			break;
	}
}

/* A reply the caller does not read in time ends the connection (EAGAIN from sendmsg). */
static void bound_reply_time(int conn)
{
	struct timeval tv = {.tv_sec = REQUEST_DEADLINE_MS / 1000};

	if (setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		/* then only the caller's own exit frees the thread */
	}
}

/* Identification is here, in the connection's own thread: the accept thread only admits. */
static void *serve_main(void *arg)
{
	struct session *se = arg;

	ssa_block_sigpipe();
	bound_reply_time(se->conn);
	if (ssad_identify(se->conn, &se->caller) == 0)
		ssad_serve_connection(se->conn, &se->caller);
	sys_close(se->conn);
	user_connection_gone(se->caller.uid);
	free(se);
	return NULL;
}

void ssad_serve_start(int conn, struct ssad_caller *caller)
{
	struct session *se = malloc(sizeof(*se));
	pthread_attr_t attr;
	pthread_t tid;

	if (se == NULL) {
		sys_close(conn);
		user_connection_gone(caller->uid);
		return;
	}
	se->conn = conn;
	se->caller = *caller;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	if (pthread_create(&tid, &attr, serve_main, se) != 0) {
		ssad_log(LOG_ERR, "cannot start a thread: out of resources");
		sys_close(conn);
		user_connection_gone(caller->uid);
		free(se);
	}
	pthread_attr_destroy(&attr);
}
