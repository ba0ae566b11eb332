/*
 * TLS semantics for the sockets extension's own functions.
 *
 * The sockets extension calls socket(), connect(), setsockopt()... of the C library directly.
 * libssa's POSIX names cannot take those calls over in a running PHP: PHP loads extensions
 * with dlopen(RTLD_GLOBAL | RTLD_DEEPBIND), so sockets.so binds to the libc it depends on, and
 * libssa, loaded after startup, comes after libc in the global search order anyway (see
 * README.md for the LD_DEBUG=bindings evidence).  Only LD_PRELOAD (ssa-run) would interpose.
 *
 * So at module start-up this extension replaces the handlers of the socket_* functions that
 * must act differently on a TLS socket: each replacement looks at its Socket argument and,
 * when it is an IPPROTO_TLS socket (ssa_is_tls), performs the call with libssa's explicit API
 * (ssa_connect, ssa_setsockopt, ...) and builds the result exactly as the sockets extension
 * would; for any other socket it calls the original handler unchanged.  The Socket objects are
 * the sockets extension's own (php_socket from php_sockets.h), so socket_read/write/recv/send/
 * select/set_nonblock, which only need the descriptor, work on them as they are: the TLS
 * descriptor is a real kernel descriptor.
 */
#include "php_ssa.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#ifndef HAVE_SOCKETS
#define HAVE_SOCKETS 1
#endif
#include "ext/sockets/php_sockets.h"

/*
 * Nothing of sockets.so is linked by symbol (socket_ce, sockets_globals): the module may be
 * loaded before or without it.  Both are found at start-up through the engine's registries.
 */
static zend_class_entry *socket_class;
static zend_module_entry *sockets_module;
static bool hooked;

zend_class_entry *phpssa_socket_ce(void)
{
	return socket_class;
}

bool phpssa_sockets_hooked(void)
{
	return hooked;
}

static void set_last_error(int err)
{
	if (sockets_module == NULL)
		return;
#ifdef ZTS
	ZEND_TSRMG(*sockets_module->globals_id_ptr, zend_sockets_globals *, last_error) = err;
#else
	((zend_sockets_globals *)sockets_module->globals_ptr)->last_error = err;
#endif
}

/* PHP_SOCKET_ERROR of the sockets extension, with the TLS_ERROR text when there is one. */
static void socket_error(php_socket *ps, const char *msg, int err)
{
	ps->error = err;
	set_last_error(err);
	if (err == EAGAIN || err == EWOULDBLOCK || err == EINPROGRESS)
		return;
	zend_string *text = phpssa_error_text(ps->bsd_socket, msg, err);

	php_error_docref(NULL, E_WARNING, "%s", ZSTR_VAL(text));
	zend_string_release(text);
}

int phpssa_socket_fd(zval *zsocket, uint32_t arg_num)
{
	php_socket *ps = Z_SOCKET_P(zsocket);

	if (IS_INVALID_SOCKET(ps)) {
		zend_argument_error(NULL, arg_num, "has already been closed");
		return -1;
	}
	return ps->bsd_socket;
}

/* ------------------------------------------------------------------------------------------ */
/* TLS Socket objects: closed with ssa_close(), so the library forgets them at once. */

static zend_object_handlers tls_socket_handlers;
static void (*socket_free_obj)(zend_object *object);

static void tls_socket_free_obj(zend_object *object)
{
	php_socket *ps = socket_from_obj(object);

	if (Z_ISUNDEF(ps->zstream) && !IS_INVALID_SOCKET(ps)) {
		ssa_close(ps->bsd_socket);
		ps->bsd_socket = -1;
	}
	socket_free_obj(object);
}

/* A new Socket object in return_value for a TLS descriptor. */
static php_socket *new_tls_socket(zval *return_value, int fd, int family)
{
	php_socket *ps;

	object_init_ex(return_value, socket_class);
	if (socket_free_obj == NULL) {
		memcpy(&tls_socket_handlers, Z_OBJ_HT_P(return_value), sizeof(tls_socket_handlers));
		socket_free_obj = tls_socket_handlers.free_obj;
		tls_socket_handlers.free_obj = tls_socket_free_obj;
	}
	Z_OBJ_P(return_value)->handlers = &tls_socket_handlers;
	ps = Z_SOCKET_P(return_value);
	ps->bsd_socket = fd;
	ps->type = family;
	ps->error = 0;
	ps->blocking = 1;
	return ps;
}

/* ------------------------------------------------------------------------------------------ */
/* The replacements.  Each starts with the original's parameter parsing, so that errors for bad
 * arguments are the ones PHP programs know. */

#define HOOK(name) \
	static zif_handler orig_##name; \
	static ZEND_NAMED_FUNCTION(hook_##name)

#define PASS_ON(name) \
	do { \
		orig_##name(INTERNAL_FUNCTION_PARAM_PASSTHRU); \
		return; \
	} while (0)

/* The first argument, when it is an open Socket of IPPROTO_TLS; NULL otherwise. */
static php_socket *tls_arg(zend_execute_data *execute_data)
{
	zval *z;
	php_socket *ps;

	if (ZEND_NUM_ARGS() < 1)
		return NULL;
	z = ZEND_CALL_ARG(execute_data, 1);
	ZVAL_DEREF(z);
	if (Z_TYPE_P(z) != IS_OBJECT || Z_OBJCE_P(z) != socket_class)
		return NULL;
	ps = Z_SOCKET_P(z);
	if (IS_INVALID_SOCKET(ps) || !ssa_is_tls(ps->bsd_socket))
		return NULL;
	return ps;
}

/* Argument N when it is the integer V. */
static bool arg_is(zend_execute_data *execute_data, uint32_t n, zend_long v)
{
	zval *z;

	if (ZEND_NUM_ARGS() < n)
		return false;
	z = ZEND_CALL_ARG(execute_data, n);
	ZVAL_DEREF(z);
	return Z_TYPE_P(z) == IS_LONG && Z_LVAL_P(z) == v;
}

/* {{{ socket_create(int $domain, int $type, int $protocol): Socket|false */
HOOK(socket_create)
{
	zend_long domain, type, protocol;
	int fd;

	if (!arg_is(execute_data, 3, IPPROTO_TLS))
		PASS_ON(socket_create);

	ZEND_PARSE_PARAMETERS_START(3, 3)
		Z_PARAM_LONG(domain)
		Z_PARAM_LONG(type)
		Z_PARAM_LONG(protocol)
	ZEND_PARSE_PARAMETERS_END();

	if (domain != AF_UNIX && domain != AF_INET6 && domain != AF_INET) {
		zend_argument_value_error(1, "must be one of AF_UNIX, AF_INET6, or AF_INET");
		RETURN_THROWS();
	}
	if (type < 0 || type > 10) {
		zend_argument_value_error(2, "must be one of SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET,"
					  " SOCK_RAW, or SOCK_RDM");
		RETURN_THROWS();
	}
	fd = ssa_socket((int)domain, (int)type, IPPROTO_TLS);
	if (fd < 0) {
		int err = errno;

		set_last_error(err);
		php_error_docref(NULL, E_WARNING, "Unable to create socket [%d]: %s", err,
				 strerror(err));
		RETURN_FALSE;
	}
	new_tls_socket(return_value, fd, (int)domain);
}
/* }}} */

/* {{{ socket_connect(Socket $socket, string $address, ?int $port = null): bool
 * $address is an IP address of the socket's family or a host name: by name, the library
 * resolves it, tries each address and verifies the certificate for that name. */
HOOK(socket_connect)
{
	zval *arg1;
	php_socket *ps;
	char *addr;
	size_t addr_len;
	zend_long port = 0;
	bool port_is_null = true;
	struct sockaddr_storage ss;
	const char *why = NULL;
	socklen_t len;

	if (!tls_arg(execute_data))
		PASS_ON(socket_connect);

	ZEND_PARSE_PARAMETERS_START(2, 3)
		Z_PARAM_OBJECT_OF_CLASS(arg1, socket_class)
		Z_PARAM_STRING(addr, addr_len)
		Z_PARAM_OPTIONAL
		Z_PARAM_LONG_OR_NULL(port, port_is_null)
	ZEND_PARSE_PARAMETERS_END();

	ps = Z_SOCKET_P(arg1);
	ENSURE_SOCKET_VALID(ps);
	if (port_is_null) {
		zend_argument_value_error(3, "cannot be null when the socket type is %s",
					  ps->type == AF_INET6 ? "AF_INET6" : "AF_INET");
		RETURN_THROWS();
	}
	if (port < 0 || port > 65535) {
		zend_argument_value_error(3, "must be between 0 and 65535");
		RETURN_THROWS();
	}
	len = phpssa_make_address(ps->type, addr, addr_len, port, true, &ss, &why);
	if (len == 0) {
		zend_argument_value_error(2, "%s", why ? why : "must be a valid address");
		RETURN_THROWS();
	}
	if (ssa_connect(ps->bsd_socket, (struct sockaddr *)&ss, len) != 0) {
		socket_error(ps, "unable to connect", errno);
		RETURN_FALSE;
	}
	RETURN_TRUE;
}
/* }}} */

/* {{{ socket_bind(Socket $socket, string $address, int $port = 0): bool */
HOOK(socket_bind)
{
	zval *arg1;
	php_socket *ps;
	char *addr;
	size_t addr_len;
	zend_long port = 0;
	struct sockaddr_storage ss;
	const char *why = NULL;
	socklen_t len;

	if (!tls_arg(execute_data))
		PASS_ON(socket_bind);

	ZEND_PARSE_PARAMETERS_START(2, 3)
		Z_PARAM_OBJECT_OF_CLASS(arg1, socket_class)
		Z_PARAM_STRING(addr, addr_len)
		Z_PARAM_OPTIONAL
		Z_PARAM_LONG(port)
	ZEND_PARSE_PARAMETERS_END();

	ps = Z_SOCKET_P(arg1);
	ENSURE_SOCKET_VALID(ps);
	if (port < 0 || port > 65535) {
		zend_argument_value_error(3, "must be between 0 and 65535");
		RETURN_THROWS();
	}
	len = phpssa_make_address(ps->type, addr, addr_len, port, false, &ss, &why);
	if (len == 0 && why != NULL) {
		zend_argument_value_error(2, "%s", why);
		RETURN_THROWS();
	}
	if (len == 0) {
		ps->error = EADDRNOTAVAIL;
		set_last_error(EADDRNOTAVAIL);
		php_error_docref(NULL, E_WARNING, "Host lookup failed for \"%s\"", addr);
		RETURN_FALSE;
	}
	if (ssa_bind(ps->bsd_socket, (struct sockaddr *)&ss, len) != 0) {
		socket_error(ps, "Unable to bind address", errno);
		RETURN_FALSE;
	}
	RETURN_TRUE;
}
/* }}} */

/* {{{ socket_listen(Socket $socket, int $backlog = 0): bool */
HOOK(socket_listen)
{
	zval *arg1;
	php_socket *ps;
	zend_long backlog = 0;

	if (!tls_arg(execute_data))
		PASS_ON(socket_listen);

	ZEND_PARSE_PARAMETERS_START(1, 2)
		Z_PARAM_OBJECT_OF_CLASS(arg1, socket_class)
		Z_PARAM_OPTIONAL
		Z_PARAM_LONG(backlog)
	ZEND_PARSE_PARAMETERS_END();

	ps = Z_SOCKET_P(arg1);
	ENSURE_SOCKET_VALID(ps);
	if (backlog < 0)
		backlog = 0;
	if (backlog > INT_MAX)
		backlog = INT_MAX;
	if (ssa_listen(ps->bsd_socket, (int)backlog) != 0) {
		socket_error(ps, "unable to listen on socket", errno);
		RETURN_FALSE;
	}
	RETURN_TRUE;
}
/* }}} */

/* {{{ socket_accept(Socket $socket): Socket|false
 * Returns only connections whose handshake succeeded. */
HOOK(socket_accept)
{
	zval *arg1;
	php_socket *ps;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	if (!tls_arg(execute_data))
		PASS_ON(socket_accept);

	ZEND_PARSE_PARAMETERS_START(1, 1)
		Z_PARAM_OBJECT_OF_CLASS(arg1, socket_class)
	ZEND_PARSE_PARAMETERS_END();

	ps = Z_SOCKET_P(arg1);
	ENSURE_SOCKET_VALID(ps);
	fd = ssa_accept(ps->bsd_socket, (struct sockaddr *)&ss, &len);
	if (fd < 0) {
		socket_error(ps, "unable to accept incoming connection", errno);
		RETURN_FALSE;
	}
	new_tls_socket(return_value, fd, ps->type);
}
/* }}} */

/* {{{ socket_close(Socket $socket): void */
HOOK(socket_close)
{
	zval *arg1;
	php_socket *ps;

	if (!tls_arg(execute_data))
		PASS_ON(socket_close);

	ZEND_PARSE_PARAMETERS_START(1, 1)
		Z_PARAM_OBJECT_OF_CLASS(arg1, socket_class)
	ZEND_PARSE_PARAMETERS_END();

	ps = Z_SOCKET_P(arg1);
	if (!Z_ISUNDEF(ps->zstream))
		PASS_ON(socket_close); /* the stream owns the descriptor */
	ssa_close(ps->bsd_socket);
	ps->bsd_socket = -1;
}
/* }}} */

/* {{{ socket_shutdown(Socket $socket, int $mode = 2): bool
 * SHUT_WR sends close_notify and keeps reading. */
HOOK(socket_shutdown)
{
	zval *arg1;
	php_socket *ps;
	zend_long how = 2;

	if (!tls_arg(execute_data))
		PASS_ON(socket_shutdown);

	ZEND_PARSE_PARAMETERS_START(1, 2)
		Z_PARAM_OBJECT_OF_CLASS(arg1, socket_class)
		Z_PARAM_OPTIONAL
		Z_PARAM_LONG(how)
	ZEND_PARSE_PARAMETERS_END();

	ps = Z_SOCKET_P(arg1);
	ENSURE_SOCKET_VALID(ps);
	if (how < INT_MIN || how > INT_MAX)
		how = -1;
	if (ssa_shutdown(ps->bsd_socket, (int)how) != 0) {
		socket_error(ps, "Unable to shutdown socket", errno);
		RETURN_FALSE;
	}
	RETURN_TRUE;
}
/* }}} */

/* getsockname/getpeername: the real TCP addresses, in the sockets extension's form. */
static void tls_name(INTERNAL_FUNCTION_PARAMETERS, bool peer)
{
	zval *arg1, *addr, *port = NULL;
	php_socket *ps;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char buf[INET6_ADDRSTRLEN];

	ZEND_PARSE_PARAMETERS_START(2, 3)
		Z_PARAM_OBJECT_OF_CLASS(arg1, socket_class)
		Z_PARAM_ZVAL(addr)
		Z_PARAM_OPTIONAL
		Z_PARAM_ZVAL(port)
	ZEND_PARSE_PARAMETERS_END();

	ps = Z_SOCKET_P(arg1);
	ENSURE_SOCKET_VALID(ps);
	memset(&ss, 0, sizeof(ss));
	if ((peer ? ssa_getpeername : ssa_getsockname)(ps->bsd_socket, (struct sockaddr *)&ss,
						       &len) != 0) {
		socket_error(ps, peer ? "unable to retrieve peer name" : "unable to retrieve socket name",
			     errno);
		RETURN_FALSE;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
		ZEND_TRY_ASSIGN_REF_STRING(addr, buf);
		if (port != NULL)
			ZEND_TRY_ASSIGN_REF_LONG(port, ntohs(sin6->sin6_port));
		RETURN_TRUE;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
		ZEND_TRY_ASSIGN_REF_STRING(addr, buf);
		if (port != NULL)
			ZEND_TRY_ASSIGN_REF_LONG(port, ntohs(sin->sin_port));
		RETURN_TRUE;
	}
	zend_argument_value_error(1, "must be one of AF_UNIX, AF_INET, or AF_INET6");
	RETURN_THROWS();
}

/* {{{ socket_getsockname(Socket $socket, &$address, &$port = null): bool */
HOOK(socket_getsockname)
{
	if (!tls_arg(execute_data))
		PASS_ON(socket_getsockname);
	tls_name(INTERNAL_FUNCTION_PARAM_PASSTHRU, false);
}
/* }}} */

/* {{{ socket_getpeername(Socket $socket, &$address, &$port = null): bool */
HOOK(socket_getpeername)
{
	if (!tls_arg(execute_data))
		PASS_ON(socket_getpeername);
	tls_name(INTERNAL_FUNCTION_PARAM_PASSTHRU, true);
}
/* }}} */

/* SO_LINGER, SO_RCVTIMEO, SO_SNDTIMEO take arrays, as in the sockets extension. */
static bool array_longs(zval *value, uint32_t arg_num, const char *k1, zend_long *v1,
			const char *k2, zend_long *v2)
{
	zval *z1, *z2;

	if (Z_TYPE_P(value) != IS_ARRAY) {
		zend_argument_type_error(arg_num, "must be of type array, %s given",
					 zend_zval_type_name(value));
		return false;
	}
	z1 = zend_hash_str_find(Z_ARRVAL_P(value), k1, strlen(k1));
	if (z1 == NULL) {
		zend_argument_value_error(arg_num, "must have key \"%s\"", k1);
		return false;
	}
	z2 = zend_hash_str_find(Z_ARRVAL_P(value), k2, strlen(k2));
	if (z2 == NULL) {
		zend_argument_value_error(arg_num, "must have key \"%s\"", k2);
		return false;
	}
	*v1 = zval_get_long(z1);
	*v2 = zval_get_long(z2);
	return true;
}

/* Options of other levels whose values are strings. */
static bool string_option(zend_long level, zend_long name)
{
	if (level == IPPROTO_TCP)
		return name == TCP_UPGRADE_TLS || name == TCP_CONGESTION;
	return level == SOL_SOCKET && name == SO_BINDTODEVICE;
}

static void set_option(INTERNAL_FUNCTION_PARAMETERS)
{
	zval *arg1, *value;
	php_socket *ps;
	zend_long level, name;
	int rc;

	ZEND_PARSE_PARAMETERS_START(4, 4)
		Z_PARAM_OBJECT_OF_CLASS(arg1, socket_class)
		Z_PARAM_LONG(level)
		Z_PARAM_LONG(name)
		Z_PARAM_ZVAL(value)
	ZEND_PARSE_PARAMETERS_END();

	ps = Z_SOCKET_P(arg1);
	ENSURE_SOCKET_VALID(ps);
	if (level < INT_MIN || level > INT_MAX || name < INT_MIN || name > INT_MAX) {
		errno = ENOPROTOOPT;
		rc = -1;
	} else if (level == IPPROTO_TLS) {
		rc = phpssa_set_tls_option(ps->bsd_socket, name, value, 4, true);
		if (rc == -2)
			RETURN_THROWS();
	} else if (level == SOL_SOCKET && name == SO_LINGER) {
		zend_long on, secs;
		struct linger lv;

		if (!array_longs(value, 4, "l_onoff", &on, "l_linger", &secs))
			RETURN_THROWS();
		lv.l_onoff = (int)on;
		lv.l_linger = (int)secs;
		rc = ssa_setsockopt(ps->bsd_socket, SOL_SOCKET, SO_LINGER, &lv, sizeof(lv));
	} else if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
		zend_long sec, usec;
		struct timeval tv;

		if (!array_longs(value, 4, "sec", &sec, "usec", &usec))
			RETURN_THROWS();
		tv.tv_sec = sec;
		tv.tv_usec = usec;
		rc = ssa_setsockopt(ps->bsd_socket, SOL_SOCKET, (int)name, &tv, sizeof(tv));
	} else if (Z_TYPE_P(value) == IS_STRING && string_option(level, name)) {
		/* TCP_UPGRADE_TLS's host name is NUL-terminated; the others are plain bytes */
		if (Z_STRLEN_P(value) >= INT_MAX) {
			zend_argument_value_error(4, "is too long");
			RETURN_THROWS();
		}
		rc = ssa_setsockopt(ps->bsd_socket, (int)level, (int)name, Z_STRVAL_P(value),
				    (socklen_t)Z_STRLEN_P(value) + (name == TCP_UPGRADE_TLS));
	} else {
		zend_long lval;

		if (Z_TYPE_P(value) == IS_LONG)
			lval = Z_LVAL_P(value);
		else if (Z_TYPE_P(value) == IS_ARRAY || Z_TYPE_P(value) == IS_OBJECT ||
			 Z_TYPE_P(value) == IS_RESOURCE ||
			 !zend_parse_arg_long_weak(value, &lval, 4)) {
			zend_argument_type_error(4, "must be of type int, %s given",
						 zend_zval_type_name(value));
			RETURN_THROWS();
		}
		if (EG(exception))
			RETURN_THROWS();
		int v = (int)lval;

		rc = ssa_setsockopt(ps->bsd_socket, (int)level, (int)name, &v, sizeof(v));
	}
	if (rc != 0) {
		socket_error(ps, "Unable to set socket option", errno);
		RETURN_FALSE;
	}
	RETURN_TRUE;
}

/* {{{ socket_set_option(Socket $socket, int $level, int $option, $value): bool
 * Level IPPROTO_TLS takes strings (host names, paths, cipher names) as well as ints, on any
 * Socket; other levels on a TLS socket act on its network connection or on its descriptor. */
HOOK(socket_set_option)
{
	if (!tls_arg(execute_data) && !arg_is(execute_data, 2, IPPROTO_TLS) &&
	    !(arg_is(execute_data, 2, IPPROTO_TCP) && arg_is(execute_data, 3, TCP_UPGRADE_TLS)))
		PASS_ON(socket_set_option);
	set_option(INTERNAL_FUNCTION_PARAM_PASSTHRU);
}
HOOK(socket_setopt)
{
	if (!tls_arg(execute_data) && !arg_is(execute_data, 2, IPPROTO_TLS) &&
	    !(arg_is(execute_data, 2, IPPROTO_TCP) && arg_is(execute_data, 3, TCP_UPGRADE_TLS)))
		PASS_ON(socket_setopt);
	set_option(INTERNAL_FUNCTION_PARAM_PASSTHRU);
}
/* }}} */

static void get_option(INTERNAL_FUNCTION_PARAMETERS)
{
	zval *arg1;
	php_socket *ps;
	zend_long level, name;
	int fd;

	ZEND_PARSE_PARAMETERS_START(3, 3)
		Z_PARAM_OBJECT_OF_CLASS(arg1, socket_class)
		Z_PARAM_LONG(level)
		Z_PARAM_LONG(name)
	ZEND_PARSE_PARAMETERS_END();

	ps = Z_SOCKET_P(arg1);
	ENSURE_SOCKET_VALID(ps);
	fd = ps->bsd_socket;
	if (level < INT_MIN || level > INT_MAX || name < INT_MIN || name > INT_MAX) {
		errno = ENOPROTOOPT;
	} else if (level == IPPROTO_TLS) {
		if (phpssa_get_tls_option(fd, name, return_value))
			return;
	} else if (level == SOL_SOCKET && name == SO_LINGER) {
		struct linger lv;
		socklen_t len = sizeof(lv);

		if (ssa_getsockopt(fd, SOL_SOCKET, SO_LINGER, &lv, &len) == 0) {
			array_init(return_value);
			add_assoc_long(return_value, "l_onoff", lv.l_onoff);
			add_assoc_long(return_value, "l_linger", lv.l_linger);
			return;
		}
	} else if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
		struct timeval tv;
		socklen_t len = sizeof(tv);

		if (ssa_getsockopt(fd, SOL_SOCKET, (int)name, &tv, &len) == 0) {
			array_init(return_value);
			add_assoc_long(return_value, "sec", tv.tv_sec);
			add_assoc_long(return_value, "usec", tv.tv_usec);
			return;
		}
#ifdef TCP_CONGESTION
	} else if (level == IPPROTO_TCP && name == TCP_CONGESTION) {
		char cc[16];
		socklen_t len = sizeof(cc) - 1;

		memset(cc, 0, sizeof(cc));
		if (ssa_getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &len) == 0) {
			array_init(return_value);
			add_assoc_string(return_value, "name", cc);
			return;
		}
#endif
	} else {
		int v = 0;
		socklen_t len = sizeof(v);

		if (ssa_getsockopt(fd, (int)level, (int)name, &v, &len) == 0) {
			if (len == 1)
				v = *(unsigned char *)&v;
			RETURN_LONG(v);
		}
	}
	socket_error(ps, "Unable to retrieve socket option", errno);
	RETURN_FALSE;
}

/* {{{ socket_get_option(Socket $socket, int $level, int $option): array|int|string|false
 * Level IPPROTO_TLS gives strings for TLS_PEER_IDENTITY, TLS_CHOSEN_CIPHER, TLS_ERROR... */
HOOK(socket_get_option)
{
	if (!tls_arg(execute_data) && !arg_is(execute_data, 2, IPPROTO_TLS))
		PASS_ON(socket_get_option);
	get_option(INTERNAL_FUNCTION_PARAM_PASSTHRU);
}
HOOK(socket_getopt)
{
	if (!tls_arg(execute_data) && !arg_is(execute_data, 2, IPPROTO_TLS))
		PASS_ON(socket_getopt);
	get_option(INTERNAL_FUNCTION_PARAM_PASSTHRU);
}
/* }}} */

/* {{{ socket_export_stream(Socket $socket): resource|false
 * A TLS socket becomes a stream of the ssa:// transport (closed with ssa_close). */
HOOK(socket_export_stream)
{
	zval *arg1;
	php_socket *ps;
	php_stream *stream;

	if (!tls_arg(execute_data))
		PASS_ON(socket_export_stream);

	ZEND_PARSE_PARAMETERS_START(1, 1)
		Z_PARAM_OBJECT_OF_CLASS(arg1, socket_class)
	ZEND_PARSE_PARAMETERS_END();

	ps = Z_SOCKET_P(arg1);
	ENSURE_SOCKET_VALID(ps);
	if (!Z_ISUNDEF(ps->zstream))
		RETURN_COPY(&ps->zstream);
	stream = phpssa_stream_from_fd(ps->bsd_socket, ps->blocking);
	if (stream == NULL) {
		php_error_docref(NULL, E_WARNING, "Failed to create stream");
		RETURN_FALSE;
	}
	php_stream_to_zval(stream, &ps->zstream);
	RETURN_COPY(&ps->zstream);
}
/* }}} */

/* ------------------------------------------------------------------------------------------ */

struct hook {
	const char *name;
	zif_handler mine;
	zif_handler *orig;
};

#define HOOK_ENTRY(name) {#name, hook_##name, &orig_##name}

static const struct hook hooks[] = {
	HOOK_ENTRY(socket_create),
	HOOK_ENTRY(socket_connect),
	HOOK_ENTRY(socket_bind),
	HOOK_ENTRY(socket_listen),
	HOOK_ENTRY(socket_accept),
	HOOK_ENTRY(socket_close),
	HOOK_ENTRY(socket_shutdown),
	HOOK_ENTRY(socket_getsockname),
	HOOK_ENTRY(socket_getpeername),
	HOOK_ENTRY(socket_set_option),
	HOOK_ENTRY(socket_setopt),
	HOOK_ENTRY(socket_get_option),
	HOOK_ENTRY(socket_getopt),
	HOOK_ENTRY(socket_export_stream),
};

void phpssa_sockets_startup(void)
{
	size_t i;

	sockets_module = zend_hash_str_find_ptr(&module_registry, "sockets", sizeof("sockets") - 1);
	socket_class = zend_hash_str_find_ptr(CG(class_table), "socket", sizeof("socket") - 1);
	if (sockets_module == NULL || socket_class == NULL)
		return; /* no sockets extension: the stream transport still works */
	/* Every handler is checked before any is replaced: all or nothing. */
	for (i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		zend_function *f = zend_hash_str_find_ptr(CG(function_table), hooks[i].name,
							  strlen(hooks[i].name));

		if (f == NULL || f->type != ZEND_INTERNAL_FUNCTION) {
			php_error_docref(NULL, E_CORE_WARNING,
					 "ssa: %s() not found: socket_* functions stay without TLS",
					 hooks[i].name);
			return;
		}
	}
	for (i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		zend_function *f = zend_hash_str_find_ptr(CG(function_table), hooks[i].name,
							  strlen(hooks[i].name));

		*hooks[i].orig = f->internal_function.handler;
		f->internal_function.handler = hooks[i].mine;
	}
	hooked = true;
}

void phpssa_sockets_shutdown(void)
{
	size_t i;

	if (!hooked)
		return;
	for (i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		zend_function *f = zend_hash_str_find_ptr(CG(function_table), hooks[i].name,
							  strlen(hooks[i].name));

		if (f != NULL && f->type == ZEND_INTERNAL_FUNCTION &&
		    f->internal_function.handler == hooks[i].mine)
			f->internal_function.handler = *hooks[i].orig;
	}
	hooked = false;
}
