/*
 * The PHP extension of the Secure Socket API: the module, its constants and its own functions.
 *
 * With the module loaded, TLS comes from the APIs PHP programs already use:
 *   - the sockets extension: socket_create(AF_INET, SOCK_STREAM, IPPROTO_TLS) and the rest of
 *     socket_* (ssa_sockets.c explains how);
 *   - streams: stream_socket_client("ssa://host:port"), stream_socket_server(...), fopen and
 *     file_get_contents("ssa://host:port") (ssa_stream.c).
 */
#include "php_ssa.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <netdb.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "ext/standard/info.h"

/* ------------------------------------------------------------------------------------------ */
/* TLS options: which take strings, which 64-bit values. */

bool phpssa_tls_option_is_string(zend_long name)
{
	switch (name) {
	case TLS_REMOTE_HOSTNAME:
	case TLS_HOSTNAME:
	case TLS_TRUSTED_PEER_CERTIFICATES:
	case TLS_CERTIFICATE_CHAIN:
	case TLS_PRIVATE_KEY:
	case TLS_ALPN:
	case TLS_DISABLE_CIPHER:
	case TLS_PEER_IDENTITY:
	case TLS_PEER_CERTIFICATE_CHAIN:
	case TLS_TRUSTED_CIPHERS:
	case TLS_CHOSEN_CIPHER:
	case TLS_ERROR:
	case TLS_ENABLE_CIPHER:
		return true;
	default:
		return false;
	}
}

bool phpssa_tls_option_is_u64(zend_long name)
{
	return name == TLS_ID || name == TLS_CONTEXT;
}

static bool option_is_int(zend_long name)
{
	switch (name) {
	case TLS_SESSION_TTL:
	case TLS_REVOCATION_CHECKS:
	case TLS_OCSP_STAPLED_CHECKS:
	case TLS_OCSP_CHECKS:
	case TLS_CRL_CHECKS:
	case TLS_CACHED_REV_CHECKS:
	case TLS_SESSION_REUSE:
	case TLS_RESUMED_SESSION:
	case TLS_VERSION_MIN:
	case TLS_VERSION_MAX:
	case TLS_VERSION_CONN:
	case TLS_SERVER_OCSP_STAPLING:
		return true;
	default:
		return false;
	}
}

static int bad_value(uint32_t arg_num, bool throw, zend_long name, const char *want, zval *value)
{
	if (throw)
		zend_argument_type_error(arg_num, "must be of type %s for option " ZEND_LONG_FMT
					 ", %s given", want, name, zend_zval_type_name(value));
	errno = EINVAL;
	return -2;
}

/*
 * setsockopt(fd, IPPROTO_TLS, name, value): strings go as NUL-terminated strings (optlen =
 * strlen + 1), the rest as int, TLS_CONTEXT as a 64-bit value.  PHP's weak typing applies
 * ("1" for an int option, 1 for a string option).  Returns 0; -1 with errno from the library;
 * -2 for a value of the wrong type or shape (thrown when THROW, else errno = EINVAL).
 */
int phpssa_set_tls_option(int fd, zend_long name, zval *value, uint32_t arg_num, bool throw)
{
	ZVAL_DEREF(value);
	if (name < INT_MIN || name > INT_MAX) {
		if (throw)
			zend_argument_value_error(arg_num - 1, "must be a valid option number");
		errno = ENOPROTOOPT;
		return -2;
	}
	bool want_string = phpssa_tls_option_is_string(name) ||
			   (!option_is_int(name) && !phpssa_tls_option_is_u64(name) &&
			    Z_TYPE_P(value) == IS_STRING);
	if (want_string) {
		zend_string *str;

		if (Z_TYPE_P(value) == IS_STRING)
			str = Z_STR_P(value);
		else if (Z_TYPE_P(value) == IS_ARRAY || Z_TYPE_P(value) == IS_OBJECT ||
			 Z_TYPE_P(value) == IS_NULL || Z_TYPE_P(value) == IS_RESOURCE ||
			 !zend_parse_arg_str_weak(value, &str, arg_num))
			return bad_value(arg_num, throw, name, "string", value);
		if (zend_str_has_nul_byte(str)) {
			if (throw)
				zend_argument_value_error(arg_num, "must not contain any null bytes");
			errno = EINVAL;
			return -2;
		}
		if (ZSTR_LEN(str) >= INT_MAX) {
			if (throw)
				zend_argument_value_error(arg_num, "is too long");
			errno = EINVAL;
			return -2;
		}
		return ssa_setsockopt(fd, IPPROTO_TLS, (int)name, ZSTR_VAL(str),
				      (socklen_t)ZSTR_LEN(str) + 1) == 0 ? 0 : -1;
	}

	zend_long lval;

	if (Z_TYPE_P(value) == IS_LONG)
		lval = Z_LVAL_P(value);
	else if (Z_TYPE_P(value) == IS_ARRAY || Z_TYPE_P(value) == IS_OBJECT ||
		 Z_TYPE_P(value) == IS_NULL || Z_TYPE_P(value) == IS_RESOURCE ||
		 !zend_parse_arg_long_weak(value, &lval, arg_num))
		return bad_value(arg_num, throw, name, "int", value);
	if (EG(exception))
		return -2;
	if (phpssa_tls_option_is_u64(name)) {
		uint64_t v = (uint64_t)lval;

		return ssa_setsockopt(fd, IPPROTO_TLS, (int)name, &v, sizeof(v)) == 0 ? 0 : -1;
	}
	if (lval < INT_MIN || lval > INT_MAX) {
		if (throw)
			zend_argument_value_error(arg_num, "must be between %d and %d", INT_MIN,
						  INT_MAX);
		errno = EINVAL;
		return -2;
	}
	int v = (int)lval;

	return ssa_setsockopt(fd, IPPROTO_TLS, (int)name, &v, sizeof(v)) == 0 ? 0 : -1;
}

/* The largest option value fetched (a long peer chain in PEM is some KiB). */
#define OPTION_MAX (16u << 20)

bool phpssa_get_tls_option(int fd, zend_long name, zval *return_value)
{
	if (name < INT_MIN || name > INT_MAX) {
		errno = ENOPROTOOPT;
		return false;
	}
	if (phpssa_tls_option_is_u64(name)) {
		uint64_t v = 0;
		socklen_t len = sizeof(v);

		if (ssa_getsockopt(fd, IPPROTO_TLS, (int)name, &v, &len) != 0)
			return false;
		ZVAL_LONG(return_value, (zend_long)v); /* the same 64 bits: TLS_CONTEXT takes it back */
		return true;
	}
	if (option_is_int(name)) {
		int v = 0;
		socklen_t len = sizeof(v);

		if (ssa_getsockopt(fd, IPPROTO_TLS, (int)name, &v, &len) != 0)
			return false;
		ZVAL_LONG(return_value, v);
		return true;
	}

	/*
	 * Strings, and options this binding does not know: grown until the value fits.  The first
	 * buffer is large enough for any usual value, so that no ERANGE (which some libssa versions
	 * also record as TLS_ERROR) happens on the way.
	 */
	socklen_t cap = name == TLS_PEER_CERTIFICATE_CHAIN ? 65536 : 4096, len = cap;
	char *buf = emalloc(cap);

	for (;;) {
		if (ssa_getsockopt(fd, IPPROTO_TLS, (int)name, buf, &len) == 0)
			break;
		if (errno == ERANGE && len > cap && len <= OPTION_MAX) {
			cap = len;
			buf = erealloc(buf, cap);
			continue;
		}
		int err = errno;

		efree(buf);
		errno = err;
		return false;
	}
	if (len > cap)
		len = cap;
	if (!phpssa_tls_option_is_string(name) && len == sizeof(int)) {
		int v;

		memcpy(&v, buf, sizeof(v));
		ZVAL_LONG(return_value, v);
	} else {
		ZVAL_STRINGL(return_value, buf, strnlen(buf, len));
	}
	efree(buf);
	return true;
}

zend_string *phpssa_error_text(int fd, const char *message, int err)
{
	char why[PHPSSA_ERROR_MAX];

	why[0] = '\0';
	if (fd >= 0 && ssa_last_error(fd, why, sizeof(why)) == NULL)
		why[0] = '\0';
	if (message[0] == '\0') /* for the stream layer, which adds its own words */
		return why[0] ? strpprintf(0, "%s (%s)", strerror(err), why)
			      : strpprintf(0, "%s", strerror(err));
	if (why[0] != '\0')
		return strpprintf(0, "%s [%d]: %s (%s)", message, err, strerror(err), why);
	return strpprintf(0, "%s [%d]: %s", message, err, strerror(err));
}

/* ------------------------------------------------------------------------------------------ */
/* Addresses. */

socklen_t phpssa_make_address(int family, const char *host, size_t hostlen, zend_long port,
			      bool for_connect, struct sockaddr_storage *ss, const char **why)
{
	char name[INET6_ADDRSTRLEN + 2];

	memset(ss, 0, sizeof(*ss));
	if (port < 0 || port > 65535) {
		*why = "must be between 0 and 65535";
		return 0;
	}
	if (memchr(host, '\0', hostlen) != NULL) {
		*why = "must not contain any null bytes";
		return 0;
	}
	/* "[::1]" as well as "::1" */
	if (family == AF_INET6 && hostlen >= 2 && host[0] == '[' && host[hostlen - 1] == ']' &&
	    hostlen - 2 < sizeof(name)) {
		memcpy(name, host + 1, hostlen - 2);
		name[hostlen - 2] = '\0';
	} else if (hostlen < sizeof(name)) {
		memcpy(name, host, hostlen);
		name[hostlen] = '\0';
	} else {
		name[0] = '\0';
	}
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (name[0] != '\0' && inet_pton(AF_INET, name, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons((unsigned short)port);
			return sizeof(*sin);
		}
	} else if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (name[0] != '\0' && inet_pton(AF_INET6, name, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((unsigned short)port);
			return sizeof(*sin6);
		}
	} else {
		*why = "must be an address of the socket's family";
		return 0;
	}
	if (hostlen == 0) {
		*why = "must not be empty";
		return 0;
	}
	if (hostlen >= sizeof(((struct sockaddr_host *)0)->sin_addr.name)) {
		*why = "must be a host name of at most 254 bytes";
		return 0;
	}
	if (for_connect) {
		/* By name: the library resolves it, tries each address and verifies that name. */
		struct sockaddr_host *h = (struct sockaddr_host *)ss;

		h->sin_family = AF_HOSTNAME;
		h->sin_port = htons((unsigned short)port);
		memcpy(h->sin_addr.name, host, hostlen);
		h->sin_addr.name[hostlen] = '\0';
		return (socklen_t)(offsetof(struct sockaddr_host, sin_addr) + hostlen + 1);
	}

	struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	char hostz[256];
	socklen_t n;

	memcpy(hostz, host, hostlen);
	hostz[hostlen] = '\0';
	if (getaddrinfo(hostz, NULL, &hints, &res) != 0 || res == NULL ||
	    res->ai_addrlen > sizeof(*ss)) {
		if (res != NULL)
			freeaddrinfo(res);
		*why = NULL; /* a lookup failure, not a bad argument */
		return 0;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	n = res->ai_addrlen;
	freeaddrinfo(res);
	if (family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((unsigned short)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((unsigned short)port);
	return n;
}

/* ------------------------------------------------------------------------------------------ */
/* PHP functions of this module. */

/* The descriptor of a Socket or of a stream resource; -1 after a thrown error. */
static int any_fd(zval *z, uint32_t arg_num)
{
	ZVAL_DEREF(z);
	if (Z_TYPE_P(z) == IS_OBJECT && phpssa_socket_ce() != NULL &&
	    instanceof_function(Z_OBJCE_P(z), phpssa_socket_ce()))
		return phpssa_socket_fd(z, arg_num);
	if (Z_TYPE_P(z) == IS_RESOURCE)
		return phpssa_stream_fd(z);
	zend_argument_type_error(arg_num, "must be of type Socket|resource, %s given",
				 zend_zval_type_name(z));
	return -1;
}

/* {{{ ssa_socket_error(Socket|resource $socket): string|false
 * Why the last operation on a TLS socket failed (TLS_ERROR); "" if it did not; false if the
 * socket is not a TLS socket. */
PHP_FUNCTION(ssa_socket_error)
{
	zval *z;
	char buf[PHPSSA_ERROR_MAX];
	int fd;

	ZEND_PARSE_PARAMETERS_START(1, 1)
		Z_PARAM_ZVAL(z)
	ZEND_PARSE_PARAMETERS_END();

	fd = any_fd(z, 1);
	if (fd < 0)
		RETURN_THROWS();
	if (ssa_last_error(fd, buf, sizeof(buf)) == NULL)
		RETURN_FALSE;
	RETURN_STRING(buf);
}
/* }}} */

/* {{{ ssa_is_tls(Socket|resource $socket): bool */
PHP_FUNCTION(ssa_is_tls)
{
	zval *z;
	int fd;

	ZEND_PARSE_PARAMETERS_START(1, 1)
		Z_PARAM_ZVAL(z)
	ZEND_PARSE_PARAMETERS_END();

	fd = any_fd(z, 1);
	if (fd < 0)
		RETURN_THROWS();
	RETURN_BOOL(ssa_is_tls(fd));
}
/* }}} */

/* {{{ ssa_get_option(Socket|resource $socket, int $option): string|int|false
 * getsockopt(IPPROTO_TLS, $option), for streams of the ssa:// transport as well as Sockets. */
PHP_FUNCTION(ssa_get_option)
{
	zval *z;
	zend_long name;
	int fd;

	ZEND_PARSE_PARAMETERS_START(2, 2)
		Z_PARAM_ZVAL(z)
		Z_PARAM_LONG(name)
	ZEND_PARSE_PARAMETERS_END();

	fd = any_fd(z, 1);
	if (fd < 0)
		RETURN_THROWS();
	if (!phpssa_get_tls_option(fd, name, return_value)) {
		int err = errno;
		zend_string *msg = phpssa_error_text(fd, "Unable to retrieve TLS option", err);

		php_error_docref(NULL, E_WARNING, "%s", ZSTR_VAL(msg));
		zend_string_release(msg);
		RETURN_FALSE;
	}
}
/* }}} */

/* {{{ ssa_set_option(Socket|resource $socket, int $option, string|int|bool $value): bool */
PHP_FUNCTION(ssa_set_option)
{
	zval *z, *value;
	zend_long name;
	int fd, rc;

	ZEND_PARSE_PARAMETERS_START(3, 3)
		Z_PARAM_ZVAL(z)
		Z_PARAM_LONG(name)
		Z_PARAM_ZVAL(value)
	ZEND_PARSE_PARAMETERS_END();

	fd = any_fd(z, 1);
	if (fd < 0)
		RETURN_THROWS();
	rc = phpssa_set_tls_option(fd, name, value, 3, true);
	if (rc == -2)
		RETURN_THROWS();
	if (rc < 0) {
		int err = errno;
		zend_string *msg = phpssa_error_text(fd, "Unable to set TLS option", err);

		php_error_docref(NULL, E_WARNING, "%s", ZSTR_VAL(msg));
		zend_string_release(msg);
		RETURN_FALSE;
	}
	RETURN_TRUE;
}
/* }}} */

/* {{{ ssa_version(): string -- the version of libssa in use */
PHP_FUNCTION(ssa_version)
{
	ZEND_PARSE_PARAMETERS_NONE();
	RETURN_STRING(ssa_version());
}
/* }}} */

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_MASK_EX(arginfo_ssa_socket_error, 0, 1, MAY_BE_STRING | MAY_BE_FALSE)
	ZEND_ARG_INFO(0, socket)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_ssa_is_tls, 0, 1, _IS_BOOL, 0)
	ZEND_ARG_INFO(0, socket)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_MASK_EX(arginfo_ssa_get_option, 0, 2,
					MAY_BE_STRING | MAY_BE_LONG | MAY_BE_FALSE)
	ZEND_ARG_INFO(0, socket)
	ZEND_ARG_TYPE_INFO(0, option, IS_LONG, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_ssa_set_option, 0, 3, _IS_BOOL, 0)
	ZEND_ARG_INFO(0, socket)
	ZEND_ARG_TYPE_INFO(0, option, IS_LONG, 0)
	ZEND_ARG_TYPE_MASK(0, value, MAY_BE_STRING | MAY_BE_LONG | MAY_BE_BOOL, NULL)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_ssa_version, 0, 0, IS_STRING, 0)
ZEND_END_ARG_INFO()

static const zend_function_entry ssa_functions[] = {
	PHP_FE(ssa_socket_error, arginfo_ssa_socket_error)
	PHP_FE(ssa_is_tls, arginfo_ssa_is_tls)
	PHP_FE(ssa_get_option, arginfo_ssa_get_option)
	PHP_FE(ssa_set_option, arginfo_ssa_set_option)
	PHP_FE(ssa_version, arginfo_ssa_version)
	PHP_FE_END
};

/* ------------------------------------------------------------------------------------------ */
/* The module. */

#define SSA_CONSTANT(name) REGISTER_LONG_CONSTANT(#name, name, CONST_PERSISTENT)

static PHP_MINIT_FUNCTION(ssa)
{
	SSA_CONSTANT(IPPROTO_TLS);
	SSA_CONSTANT(TLS_REMOTE_HOSTNAME);
	SSA_CONSTANT(TLS_HOSTNAME);
	SSA_CONSTANT(TLS_TRUSTED_PEER_CERTIFICATES);
	SSA_CONSTANT(TLS_CERTIFICATE_CHAIN);
	SSA_CONSTANT(TLS_PRIVATE_KEY);
	SSA_CONSTANT(TLS_ALPN);
	SSA_CONSTANT(TLS_SESSION_TTL);
	SSA_CONSTANT(TLS_DISABLE_CIPHER);
	SSA_CONSTANT(TLS_PEER_IDENTITY);
	SSA_CONSTANT(TLS_REQUEST_PEER_AUTH);
	SSA_CONSTANT(TLS_PEER_CERTIFICATE_CHAIN);
	SSA_CONSTANT(TLS_ID);
	SSA_CONSTANT(TLS_TRUSTED_CIPHERS);
	SSA_CONSTANT(TLS_CHOSEN_CIPHER);
	SSA_CONSTANT(TLS_ERROR);
	SSA_CONSTANT(TLS_REVOCATION_CHECKS);
	SSA_CONSTANT(TLS_OCSP_STAPLED_CHECKS);
	SSA_CONSTANT(TLS_OCSP_CHECKS);
	SSA_CONSTANT(TLS_CRL_CHECKS);
	SSA_CONSTANT(TLS_CACHED_REV_CHECKS);
	SSA_CONSTANT(TLS_CONTEXT);
	SSA_CONSTANT(TLS_SESSION_REUSE);
	SSA_CONSTANT(TLS_RESUMED_SESSION);
	SSA_CONSTANT(TLS_ENABLE_CIPHER);
	SSA_CONSTANT(TLS_VERSION_MIN);
	SSA_CONSTANT(TLS_VERSION_MAX);
	SSA_CONSTANT(TLS_VERSION_CONN);
	SSA_CONSTANT(TLS_SERVER_OCSP_STAPLING);
	SSA_CONSTANT(TLS_1_2);
	SSA_CONSTANT(TLS_1_3);
	SSA_CONSTANT(TCP_UPGRADE_TLS);
	SSA_CONSTANT(AF_HOSTNAME);

	phpssa_sockets_startup();
	phpssa_stream_startup();
	return SUCCESS;
}

static PHP_MSHUTDOWN_FUNCTION(ssa)
{
	phpssa_stream_shutdown();
	phpssa_sockets_shutdown();
	return SUCCESS;
}

static PHP_MINFO_FUNCTION(ssa)
{
	php_info_print_table_start();
	php_info_print_table_header(2, "Secure Socket API (IPPROTO_TLS)", "enabled");
	php_info_print_table_row(2, "Extension version", PHP_SSA_VERSION);
	php_info_print_table_row(2, "libssa version", ssa_version());
	php_info_print_table_row(2, "socket_* functions with TLS",
				 phpssa_sockets_hooked() ? "yes" : "no (sockets extension not loaded)");
	php_info_print_table_row(2, "Stream transport and wrapper", "ssa://");
	php_info_print_table_end();
}

static const zend_module_dep ssa_deps[] = {
	ZEND_MOD_OPTIONAL("sockets")
	ZEND_MOD_END
};

zend_module_entry ssa_module_entry = {
	STANDARD_MODULE_HEADER_EX,
	NULL,
	ssa_deps,
	"ssa",
	ssa_functions,
	PHP_MINIT(ssa),
	PHP_MSHUTDOWN(ssa),
	NULL,
	NULL,
	PHP_MINFO(ssa),
	PHP_SSA_VERSION,
	STANDARD_MODULE_PROPERTIES
};

#ifdef COMPILE_DL_SSA
ZEND_GET_MODULE(ssa)
#endif
