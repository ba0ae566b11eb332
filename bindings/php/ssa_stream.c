/*
 * The ssa:// stream transport and URL wrapper.
 *
 *   stream_socket_client("ssa://example.com:443")   TCP + TLS handshake + verification
 *   stream_socket_server("ssa://127.0.0.1:8443", $no, $str, flags, $context)
 *   stream_socket_accept($server)                   only handshaken connections
 *   fopen / file_get_contents / file_put_contents("ssa://host:port")  (URL wrapper)
 *
 * A stream's descriptor is the TLS socket's descriptor, so the data path is PHP's own socket
 * stream code (read, write, timeouts, stream_select, blocking mode); only what needs libssa
 * (creating, connecting, binding, listening, accepting, names, shutdown, close) is here.
 *
 * Context options, under "ssa" (all optional: the administrator's policy applies without any):
 *   peer_name        name to verify (client; default: the host of the address)
 *   cafile, capath   trust anchors for this connection (TLS_TRUSTED_PEER_CERTIFICATES)
 *   local_cert       certificate chain, PEM file (server, or client authentication)
 *   local_pk         its private key
 *   hostname         server: serve only this name (TLS_HOSTNAME)
 *   alpn_protocols   "h2,http/1.1"
 *   options          array of TLS_* option => value, set as socket_set_option() does
 * and under "socket": backlog, so_reuseport, ipv6_v6only as for tcp://.  There is no way to
 * turn verification off: "ssl" context options are not read.
 */
#include "php_ssa.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <time.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ext/standard/file.h"
#include "php_streams.h"

static php_stream_ops ssa_stream_ops;

static int ssa_sockop_set_option(php_stream *stream, int option, int value, void *ptrparam);

static int ssa_sockop_close(php_stream *stream, int close_handle)
{
	php_netstream_data_t *sock = (php_netstream_data_t *)stream->abstract;

	if (sock == NULL)
		return 0;
	if (close_handle && sock->socket >= 0) {
		ssa_close(sock->socket); /* flushes what was written, then close_notify */
		sock->socket = -1;
	}
	pefree(sock, php_stream_is_persistent(stream));
	return 0;
}

static php_stream *new_stream(int fd, bool blocking, const char *persistent_id STREAMS_DC)
{
	php_netstream_data_t *sock = pemalloc(sizeof(*sock), persistent_id ? 1 : 0);
	php_stream *stream;

	memset(sock, 0, sizeof(*sock));
	sock->is_blocked = blocking;
	sock->timeout.tv_sec = FG(default_socket_timeout);
	sock->timeout.tv_usec = 0;
	sock->socket = fd;
	stream = php_stream_alloc_rel(&ssa_stream_ops, sock, persistent_id, "r+");
	if (stream == NULL)
		pefree(sock, persistent_id ? 1 : 0);
	return stream;
}

php_stream *phpssa_stream_from_fd(int fd, bool blocking)
{
	return new_stream(fd, blocking, NULL STREAMS_CC);
}

int phpssa_stream_fd(zval *zstream)
{
	php_stream *stream;
	php_socket_t fd = -1;

	stream = zend_fetch_resource2_ex(zstream, "stream", php_file_le_stream(),
					 php_file_le_pstream());
	if (stream == NULL)
		return -1;
	if (php_stream_cast(stream, PHP_STREAM_AS_SOCKETD | PHP_STREAM_CAST_INTERNAL, (void **)&fd,
			    0) != SUCCESS ||
	    fd < 0) {
		zend_argument_type_error(1, "must be a socket stream");
		return -1;
	}
	return (int)fd;
}

/* ------------------------------------------------------------------------------------------ */
/* Addresses "host:port" and "[v6]:port". */

static char *parse_address(php_stream_xport_param *xparam, zend_long *port)
{
	const char *str = xparam->inputs.name, *colon, *end;
	size_t len = xparam->inputs.namelen;
	char *host;

	if (len == 0)
		goto bad;
	if (str[0] == '[') {
		end = memchr(str + 1, ']', len - 1);
		if (end == NULL || (size_t)(end - str) + 1 >= len || end[1] != ':')
			goto bad;
		host = estrndup(str + 1, end - str - 1);
		colon = end + 1;
	} else {
		colon = zend_memrchr(str, ':', len);
		if (colon == NULL)
			goto bad;
		host = estrndup(str, colon - str);
	}
	{
		const char *p = colon + 1, *stop = str + len;
		zend_long v = 0;

		if (p == stop)
			v = -1;
		for (; p < stop && v >= 0; p++)
			v = (*p >= '0' && *p <= '9' && v <= 65535) ? v * 10 + (*p - '0') : -1;
		if (v < 0 || v > 65535) {
			efree(host);
			goto bad;
		}
		*port = v;
	}
	if (strlen(host) != (size_t)((colon - str) - (str[0] == '[' ? 2 : 0))) {
		efree(host); /* a NUL byte inside */
		goto bad;
	}
	return host;
bad:
	if (xparam->want_errortext)
		xparam->outputs.error_text =
			strpprintf(0, "Failed to parse address \"%.*s\": use host:port or [IPv6]:port",
				   (int)(len > 300 ? 300 : len), str);
	return NULL;
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Context options. */

static zval *ctx_opt(php_stream *stream, const char *wrapper, const char *name)
{
	php_stream_context *ctx = PHP_STREAM_CONTEXT(stream);

	return ctx ? php_stream_context_get_option(ctx, wrapper, name) : NULL;
}

static int fail_option(php_stream_xport_param *xparam, int fd, const char *what, int err)
{
	if (xparam->want_errortext) {
		zend_string *why = phpssa_error_text(fd, "", err);

		if (xparam->outputs.error_text != NULL)
			zend_string_release(xparam->outputs.error_text);
		xparam->outputs.error_text =
			strpprintf(0, "ssa context option %s: %s", what, ZSTR_VAL(why));
		zend_string_release(why);
	}
	xparam->outputs.error_code = err;
	return -1;
}

/* One string option from the "ssa" context. */
static int string_option(php_stream *stream, php_stream_xport_param *xparam, int fd,
			 const char *key, int name)
{
	zval *v = ctx_opt(stream, "ssa", key);

	if (v == NULL)
		return 0;
	ZVAL_DEREF(v);
	if (Z_TYPE_P(v) != IS_STRING) {
		if (xparam->want_errortext)
			xparam->outputs.error_text = strpprintf(
				0, "ssa context option \"%s\" must be of type string, %s given", key,
				zend_zval_type_name(v));
		xparam->outputs.error_code = EINVAL;
		return -1;
	}
	if (phpssa_set_tls_option(fd, name, v, 0, false) != 0)
		return fail_option(xparam, fd, key, errno);
	return 0;
}

static int apply_context(php_stream *stream, php_stream_xport_param *xparam, int fd,
			 bool server)
{
	zval *v;

	if (string_option(stream, xparam, fd, "cafile", TLS_TRUSTED_PEER_CERTIFICATES) < 0 ||
	    string_option(stream, xparam, fd, "capath", TLS_TRUSTED_PEER_CERTIFICATES) < 0 ||
	    string_option(stream, xparam, fd, "local_cert", TLS_CERTIFICATE_CHAIN) < 0 ||
	    string_option(stream, xparam, fd, "local_pk", TLS_PRIVATE_KEY) < 0 ||
	    string_option(stream, xparam, fd, "alpn_protocols", TLS_ALPN) < 0)
		return -1;
	if (server && string_option(stream, xparam, fd, "hostname", TLS_HOSTNAME) < 0)
		return -1;
	v = ctx_opt(stream, "ssa", "options");
	if (v != NULL) {
		zend_ulong name;
		zend_string *key;
		zval *value;

		ZVAL_DEREF(v);
		if (Z_TYPE_P(v) != IS_ARRAY) {
			if (xparam->want_errortext)
				xparam->outputs.error_text = strpprintf(
					0, "ssa context option \"options\" must be of type array, %s given",
					zend_zval_type_name(v));
			xparam->outputs.error_code = EINVAL;
			return -1;
		}
		ZEND_HASH_FOREACH_KEY_VAL(Z_ARRVAL_P(v), name, key, value) {
			char what[64];

			if (key != NULL) {
				if (xparam->want_errortext)
					xparam->outputs.error_text = strpprintf(
						0, "ssa context option \"options\" takes TLS_* option "
						   "numbers as keys, not \"%s\"", ZSTR_VAL(key));
				xparam->outputs.error_code = EINVAL;
				return -1;
			}
			snprintf(what, sizeof(what), "options[" ZEND_ULONG_FMT "]", name);
			if (phpssa_set_tls_option(fd, (zend_long)name, value, 0, false) != 0)
				return fail_option(xparam, fd, what, errno);
		} ZEND_HASH_FOREACH_END();
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Transport operations. */

static void set_error(php_stream_xport_param *xparam, int fd, const char *what, int err)
{
	xparam->outputs.error_code = err;
	if (xparam->want_errortext) {
		if (xparam->outputs.error_text != NULL)
			zend_string_release(xparam->outputs.error_text);
		xparam->outputs.error_text = phpssa_error_text(fd, what, err);
	}
}

static bool tls_failure(int err)
{
	/* Certificate, handshake or policy: another address of the same name would not help. */
	return err == EPROTO || err == EPERM || err == EINVAL || err == ENOPROTOOPT;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The end of a non-blocking connect: writable, then SO_ERROR.  A connection is taken only when
 * it has a peer: should the descriptor ever be writable before the handshake has ended, the
 * wait goes on rather than hand out a stream that is not connected.
 */
static int wait_connected(int fd, struct timeval *timeout)
{
	int64_t deadline = timeout ? now_ms() + (int64_t)timeout->tv_sec * 1000 +
					     timeout->tv_usec / 1000
				   : -1;

	for (;;) {
		int64_t left = deadline < 0 ? -1 : deadline - now_ms();
		struct sockaddr_storage peer;
		socklen_t len, peer_len = sizeof(peer);
		int n, err = 0;

		if (deadline >= 0 && left < 0)
			left = 0;
		n = php_pollfd_for_ms(fd, POLLOUT, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			return ETIMEDOUT;
		len = sizeof(err);
		if (ssa_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			return errno;
		if (err != 0)
			return err;
		if (ssa_getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0)
			return 0;
		if (errno != ENOTCONN)
			return errno;
		usleep(1000); /* writable too early: not the contract, but never a busy loop */
	}
}

static int connect_one(php_stream *stream, php_netstream_data_t *sock,
		       php_stream_xport_param *xparam, const struct addrinfo *ai,
		       const char *host, bool async)
{
	zval *peer = ctx_opt(stream, "ssa", "peer_name");
	int fd, err = 0, flags;

	fd = ssa_socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TLS);
	if (fd < 0) {
		set_error(xparam, -1, "", errno);
		return -1;
	}
	if (peer != NULL) {
		if (string_option(stream, xparam, fd, "peer_name", TLS_REMOTE_HOSTNAME) < 0)
			goto fail_quiet;
	} else if (!is_ip_literal(host)) {
		zval name;

		ZVAL_STRING(&name, host);
		err = phpssa_set_tls_option(fd, TLS_REMOTE_HOSTNAME, &name, 0, false);
		zval_ptr_dtor(&name);
		if (err != 0) {
			err = errno;
			goto fail;
		}
	}
	if (apply_context(stream, xparam, fd, false) < 0)
		goto fail_quiet;

	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	if (ssa_connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		err = 0;
	} else if (errno != EINPROGRESS) {
		err = errno;
	} else if (async) {
		sock->socket = fd; /* pending: writable when the handshake has ended */
		sock->is_blocked = 0;
		xparam->outputs.error_code = EINPROGRESS;
		return 1;
	} else {
		err = wait_connected(fd, xparam->inputs.timeout);
	}
	if (err != 0)
		goto fail;
	fcntl(fd, F_SETFL, flags);
	sock->socket = fd;
	return 0;
fail:
	set_error(xparam, fd, "", err);
fail_quiet:
	ssa_close(fd);
	return -1;
}

static int ssa_sockop_connect(php_stream *stream, php_netstream_data_t *sock,
			      php_stream_xport_param *xparam)
{
	bool async = xparam->op == STREAM_XPORT_OP_CONNECT_ASYNC;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
	struct addrinfo *res = NULL, *ai;
	zend_long port;
	char portstr[8];
	char *host;
	int rc = -1, gai;

	if (sock->socket >= 0) {
		set_error(xparam, sock->socket, "", EISCONN);
		return -1;
	}
	host = parse_address(xparam, &port);
	if (host == NULL)
		return -1;
	snprintf(portstr, sizeof(portstr), ZEND_LONG_FMT, port);
	if (is_ip_literal(host))
		hints.ai_flags = AI_NUMERICHOST;
	gai = host[0] ? getaddrinfo(host, portstr, &hints, &res) : EAI_NONAME;
	if (gai != 0 || res == NULL) {
		if (xparam->want_errortext)
			xparam->outputs.error_text = strpprintf(
				0, "getaddrinfo for %s failed: %s", host,
				gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
		xparam->outputs.error_code = EHOSTUNREACH;
		efree(host);
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		rc = connect_one(stream, sock, xparam, ai, host, async);
		if (rc >= 0 || tls_failure(xparam->outputs.error_code) ||
		    xparam->outputs.error_code == ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	efree(host);
	return rc;
}

static int ssa_sockop_bind(php_stream *stream, php_netstream_data_t *sock,
			   php_stream_xport_param *xparam)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *res = NULL;
	zend_long port;
	char portstr[8];
	char *host;
	zval *v;
	int fd, on = 1, gai;

	if (sock->socket >= 0) {
		set_error(xparam, sock->socket, "", EINVAL);
		return -1;
	}
	host = parse_address(xparam, &port);
	if (host == NULL)
		return -1;
	snprintf(portstr, sizeof(portstr), ZEND_LONG_FMT, port);
	if (is_ip_literal(host))
		hints.ai_flags |= AI_NUMERICHOST;
	gai = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
	if (gai != 0 || res == NULL) {
		if (xparam->want_errortext)
			xparam->outputs.error_text = strpprintf(
				0, "getaddrinfo for %s failed: %s", host,
				gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
		xparam->outputs.error_code = EADDRNOTAVAIL;
		efree(host);
		return -1;
	}
	efree(host);
	fd = ssa_socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TLS);
	if (fd < 0) {
		set_error(xparam, -1, "", errno);
		freeaddrinfo(res);
		return -1;
	}
	ssa_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)); /* as tcp:// does */
#ifdef SO_REUSEPORT
	v = ctx_opt(stream, "socket", "so_reuseport");
	if (v != NULL && zend_is_true(v))
		ssa_setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
#endif
#ifdef IPV6_V6ONLY
	v = ctx_opt(stream, "socket", "ipv6_v6only");
	if (res->ai_family == AF_INET6 && v != NULL && Z_TYPE_P(v) != IS_NULL) {
		int v6only = zend_is_true(v);

		ssa_setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	}
#endif
	if (apply_context(stream, xparam, fd, true) < 0) {
		ssa_close(fd);
		freeaddrinfo(res);
		return -1;
	}
	if (ssa_bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
		set_error(xparam, fd, "", errno);
		ssa_close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	sock->socket = fd;
	return 0;
}

static int ssa_sockop_accept(php_stream *stream, php_netstream_data_t *sock,
			     php_stream_xport_param *xparam STREAMS_DC)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	php_netstream_data_t *data;
	int n, fd;

	xparam->outputs.client = NULL;
	do {
		n = php_pollfd_for(sock->socket, PHP_POLLREADABLE, xparam->inputs.timeout);
	} while (n < 0 && errno == EINTR);
	if (n == 0) {
		set_error(xparam, -1, "", ETIMEDOUT);
		return -1;
	}
	if (n < 0) {
		set_error(xparam, sock->socket, "", errno);
		return -1;
	}
	fd = ssa_accept4(sock->socket, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	if (fd < 0) {
		set_error(xparam, sock->socket, "", errno);
		return -1;
	}
	php_network_populate_name_from_sockaddr((struct sockaddr *)&ss, len,
						xparam->want_textaddr ? &xparam->outputs.textaddr : NULL,
						xparam->want_addr ? &xparam->outputs.addr : NULL,
						xparam->want_addr ? &xparam->outputs.addrlen : NULL);
	data = emalloc(sizeof(*data));
	memcpy(data, sock, sizeof(*data));
	data->socket = fd;
	data->is_blocked = 1;
	data->timeout_event = 0;
	xparam->outputs.client = php_stream_alloc_rel(&ssa_stream_ops, data, NULL, "r+");
	if (xparam->outputs.client == NULL) {
		efree(data);
		ssa_close(fd);
		return -1;
	}
	xparam->outputs.client->ctx = stream->ctx;
	if (stream->ctx)
		GC_ADDREF(stream->ctx);
	return 0;
}

static int ssa_sockop_name(php_netstream_data_t *sock, php_stream_xport_param *xparam, bool peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if ((peer ? ssa_getpeername : ssa_getsockname)(sock->socket, (struct sockaddr *)&ss,
						       &len) != 0)
		return -1;
	php_network_populate_name_from_sockaddr((struct sockaddr *)&ss, len,
						xparam->want_textaddr ? &xparam->outputs.textaddr : NULL,
						xparam->want_addr ? &xparam->outputs.addr : NULL,
						xparam->want_addr ? &xparam->outputs.addrlen : NULL);
	return 0;
}

static int ssa_sockop_set_option(php_stream *stream, int option, int value, void *ptrparam)
{
	php_netstream_data_t *sock = (php_netstream_data_t *)stream->abstract;
	php_stream_xport_param *xparam;

	if (sock == NULL || option != PHP_STREAM_OPTION_XPORT_API)
		return php_stream_socket_ops.set_option(stream, option, value, ptrparam);
	xparam = (php_stream_xport_param *)ptrparam;
	switch (xparam->op) {
	case STREAM_XPORT_OP_CONNECT:
	case STREAM_XPORT_OP_CONNECT_ASYNC:
		xparam->outputs.returncode = ssa_sockop_connect(stream, sock, xparam);
		return PHP_STREAM_OPTION_RETURN_OK;
	case STREAM_XPORT_OP_BIND:
		xparam->outputs.returncode = ssa_sockop_bind(stream, sock, xparam);
		return PHP_STREAM_OPTION_RETURN_OK;
	case STREAM_XPORT_OP_LISTEN:
		if (ssa_listen(sock->socket, xparam->inputs.backlog) == 0) {
			xparam->outputs.returncode = 0;
		} else {
			set_error(xparam, sock->socket, "", errno);
			xparam->outputs.returncode = -1;
		}
		return PHP_STREAM_OPTION_RETURN_OK;
	case STREAM_XPORT_OP_ACCEPT:
		xparam->outputs.returncode = ssa_sockop_accept(stream, sock, xparam STREAMS_CC);
		return PHP_STREAM_OPTION_RETURN_OK;
	case STREAM_XPORT_OP_GET_NAME:
	case STREAM_XPORT_OP_GET_PEER_NAME:
		xparam->outputs.returncode =
			ssa_sockop_name(sock, xparam, xparam->op == STREAM_XPORT_OP_GET_PEER_NAME);
		return PHP_STREAM_OPTION_RETURN_OK;
	case STREAM_XPORT_OP_SHUTDOWN: {
		static const int how[] = {SHUT_RD, SHUT_WR, SHUT_RDWR};

		xparam->outputs.returncode = ssa_shutdown(sock->socket, how[xparam->how % 3]);
		return PHP_STREAM_OPTION_RETURN_OK;
	}
	default: /* send and receive: the descriptor itself */
		return php_stream_socket_ops.set_option(stream, option, value, ptrparam);
	}
}

static php_stream *ssa_xport_factory(const char *proto, size_t protolen, const char *resourcename,
				     size_t resourcenamelen, const char *persistent_id,
				     int options, int flags, struct timeval *timeout,
				     php_stream_context *context STREAMS_DC)
{
	return new_stream(-1, true, persistent_id STREAMS_REL_CC);
}

/* ------------------------------------------------------------------------------------------ */
/* The URL wrapper: fopen("ssa://host:port") is a client connection; a path is ignored. */

static php_stream *ssa_url_open(php_stream_wrapper *wrapper, const char *path, const char *mode,
				int options, zend_string **opened_path,
				php_stream_context *context STREAMS_DC)
{
	const char *start = path + sizeof("ssa://") - 1, *slash;
	struct timeval tv;
	zend_string *errstr = NULL, *name;
	php_stream *stream;
	zval *v;

	if (strncasecmp(path, "ssa://", sizeof("ssa://") - 1) != 0) {
		php_stream_wrapper_log_error(wrapper, options, "not an ssa:// URL");
		return NULL;
	}
	slash = strchr(start, '/');
	name = strpprintf(0, "ssa://%.*s", (int)(slash ? (size_t)(slash - start) : strlen(start)),
			  start);
	tv.tv_sec = FG(default_socket_timeout);
	tv.tv_usec = 0;
	if (context && (v = php_stream_context_get_option(context, "ssa", "timeout")) != NULL) {
		double t = zval_get_double(v);

		if (t > 0 && t < 1e9) {
			tv.tv_sec = (time_t)t;
			tv.tv_usec = (suseconds_t)((t - (double)tv.tv_sec) * 1e6);
		}
	}
	stream = php_stream_xport_create(ZSTR_VAL(name), ZSTR_LEN(name), options,
					 STREAM_XPORT_CLIENT | STREAM_XPORT_CONNECT, NULL, &tv,
					 context, &errstr, NULL);
	if (stream == NULL)
		php_stream_wrapper_log_error(wrapper, options, "%s: %s", ZSTR_VAL(name),
					     errstr ? ZSTR_VAL(errstr) : "Unknown error");
	if (errstr)
		zend_string_release(errstr);
	zend_string_release(name);
	return stream;
}

static const php_stream_wrapper_ops ssa_wrapper_ops = {
	ssa_url_open, NULL, NULL, NULL, NULL, "ssa", NULL, NULL, NULL, NULL, NULL,
};

static const php_stream_wrapper ssa_wrapper = {
	&ssa_wrapper_ops,
	NULL,
	1, /* a URL: allow_url_fopen applies */
};

void phpssa_stream_startup(void)
{
	ssa_stream_ops = php_stream_socket_ops;
	ssa_stream_ops.close = ssa_sockop_close;
	ssa_stream_ops.set_option = ssa_sockop_set_option;
	ssa_stream_ops.label = "ssa_socket";
	php_stream_xport_register("ssa", ssa_xport_factory);
	php_register_url_stream_wrapper("ssa", &ssa_wrapper);
}

void phpssa_stream_shutdown(void)
{
	php_unregister_url_stream_wrapper("ssa");
	php_stream_xport_unregister("ssa");
}
