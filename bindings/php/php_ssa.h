/*
 * The PHP extension of the Secure Socket API: shared declarations.
 *
 * ssa.c         the module: constants, ssa_* PHP functions, start-up
 * ssa_sockets.c TLS semantics for the sockets extension's socket_* functions
 * ssa_stream.c  the ssa:// stream transport and URL wrapper
 */
#ifndef PHP_SSA_H
#define PHP_SSA_H

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "php.h"
#include "php_network.h"

#include <ssa/ssa.h>

extern zend_module_entry ssa_module_entry;
#define phpext_ssa_ptr &ssa_module_entry

#define PHP_SSA_VERSION "0.1.0"

/* Longest TLS_ERROR text the library produces, with room to spare. */
#define PHPSSA_ERROR_MAX 512

/* ssa_sockets.c */
void phpssa_sockets_startup(void);
void phpssa_sockets_shutdown(void);
bool phpssa_sockets_hooked(void);
zend_class_entry *phpssa_socket_ce(void);
/* The descriptor of a Socket object, or -1 (after a thrown error) if it is closed. */
int phpssa_socket_fd(zval *zsocket, uint32_t arg_num);

/* Shared by socket_set_option() and the stream context's "options". */
int phpssa_set_tls_option(int fd, zend_long name, zval *value, uint32_t arg_num, bool throw);
/* getsockopt(fd, IPPROTO_TLS, name) into return_value: string, int or false (errno set). */
bool phpssa_get_tls_option(int fd, zend_long name, zval *return_value);
/* TLS option names whose values are strings, and the 64-bit ones. */
bool phpssa_tls_option_is_string(zend_long name);
bool phpssa_tls_option_is_u64(zend_long name);

/*
 * Builds the address for connect() on a socket of FAMILY: an IP literal of that family, or
 * (connect only) an AF_HOSTNAME address so that the library resolves the name and verifies it.
 * Returns the length, or 0 with *why set to a static reason.
 */
socklen_t phpssa_make_address(int family, const char *host, size_t hostlen, zend_long port,
			      bool for_connect, struct sockaddr_storage *ss, const char **why);

/* "message [errno]: strerror: TLS_ERROR" for fd's last failure, as a new zend_string. */
zend_string *phpssa_error_text(int fd, const char *message, int err);

/* ssa_stream.c */
void phpssa_stream_startup(void);
void phpssa_stream_shutdown(void);
/* A stream of the ssa:// transport around an existing TLS descriptor (which it then owns). */
php_stream *phpssa_stream_from_fd(int fd, bool blocking);
/* The descriptor behind a stream resource, or -1 (a TypeError has been thrown). */
int phpssa_stream_fd(zval *zstream);

#endif /* PHP_SSA_H */
