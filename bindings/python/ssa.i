/*
 * ssa.i -- SWIG interface of <ssa/ssa.h> for Python: the C module ssa._ssa.
 *
 * The functions are the C calls without their "ssa_" prefix, with Python at the edges:
 *   fd = socket(family, type, proto)
 *   connect(fd, (host, port))          host: an address literal, or a name (AF_HOSTNAME: the
 *   bind(fd, (host, port))             library resolves it and verifies the certificate for it)
 *   listen(fd, backlog)
 *   conn_fd, (host, port) = accept4(fd, flags)
 *   setsockopt(fd, level, name, value) value: int, str (sent NUL-terminated) or bytes-like
 *   getsockopt(fd, level, name, buflen) buflen 0: an int; else bytes, as socket.getsockopt
 *   getsockname(fd), getpeername(fd) -> (host, port) or (host, port, flowinfo, scope_id)
 *   shutdown(fd, how), close(fd), is_tls(fd), last_error(fd) -> str, version() -> str
 * plus the constants of <ssa/in_tls.h>.  A failure raises OSError(errno, "strerror: reason")
 * where reason is the socket's TLS_ERROR, so Python's errno mapping applies (TimeoutError,
 * ConnectionRefusedError, BlockingIOError...).  The socket class is in ssa/__init__.py.
 */
%module _ssa /* built with -noproxy: the Python face is ssa/__init__.py */

%begin %{
#define PY_SSIZE_T_CLEAN /* "s#" lengths are Py_ssize_t */
%}

%{
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <ssa/ssa.h>

union ssa_py_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_host host; /* larger than sockaddr_storage */
};

/* Sets OSError(err, "strerror: text") and returns NULL; Python picks the subclass from err. */
static PyObject *ssa_py_oserror(int err, const char *text)
{
	char msg[512];
	PyObject *args;

	if (text != NULL && text[0] != '\0')
		snprintf(msg, sizeof(msg), "%s: %s", strerror(err), text);
	else
		snprintf(msg, sizeof(msg), "%s", strerror(err));
	args = Py_BuildValue("(iN)", err, PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg), "replace"));
	if (args != NULL) {
		PyErr_SetObject(PyExc_OSError, args);
		Py_DECREF(args);
	}
	return NULL;
}

/*
 * The failure of a call on fd, with fd's TLS_ERROR.  Would-block and EINTR stay bare: they are
 * not failures of the socket, and the text left from an earlier failure would mislead.
 */
static PyObject *ssa_py_raise(int fd, int err)
{
	char text[256] = "";

	if (err == EINTR && PyErr_CheckSignals() < 0)
		return NULL; /* a signal handler raised (KeyboardInterrupt): that is the answer */
	if (fd >= 0 && err != EAGAIN && err != EINPROGRESS && err != EINTR &&
	    ssa_last_error(fd, text, sizeof(text)) == NULL)
		text[0] = '\0'; /* not a TLS socket */
	return ssa_py_oserror(err, text);
}

/*
 * (host, port) or (host, port, flowinfo, scope_id) to a sockaddr.  A host that is not an
 * address literal becomes AF_HOSTNAME: connect() resolves it and verifies the name.
 */
static int ssa_py_to_addr(PyObject *o, union ssa_py_addr *a, socklen_t *len)
{
	const char *host;
	Py_ssize_t n;
	int port;
	unsigned int flowinfo = 0, scope_id = 0;

	if (!PyTuple_Check(o)) {
		PyErr_Format(PyExc_TypeError, "address must be a tuple (host, port), not %.100s",
			     Py_TYPE(o)->tp_name);
		return -1;
	}
	if (!PyArg_ParseTuple(o, "s#i|II:address", &host, &n, &port, &flowinfo, &scope_id))
		return -1;
	if (strlen(host) != (size_t)n) {
		PyErr_SetString(PyExc_ValueError, "host name contains a NUL character");
		return -1;
	}
	if (port < 0 || port > 65535) {
		PyErr_SetString(PyExc_OverflowError, "port must be 0-65535.");
		return -1;
	}
	if (flowinfo > 0xfffff) {
		PyErr_SetString(PyExc_OverflowError, "flowinfo must be 0-1048575.");
		return -1;
	}
	memset(a, 0, sizeof(*a));
	if (PyTuple_GET_SIZE(o) == 2 && inet_pton(AF_INET, host, &a->in.sin_addr) == 1) {
		a->in.sin_family = AF_INET;
		a->in.sin_port = htons((uint16_t)port);
		*len = sizeof(a->in);
	} else if (inet_pton(AF_INET6, host, &a->in6.sin6_addr) == 1) {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons((uint16_t)port);
		a->in6.sin6_flowinfo = htonl(flowinfo);
		a->in6.sin6_scope_id = scope_id;
		*len = sizeof(a->in6);
	} else if ((size_t)n >= sizeof(a->host.sin_addr.name)) {
		ssa_py_oserror(EINVAL, "host name longer than 254 bytes");
		return -1;
	} else {
		a->host.sin_family = AF_HOSTNAME;
		a->host.sin_port = htons((uint16_t)port);
		memcpy(a->host.sin_addr.name, host, (size_t)n + 1);
		*len = sizeof(a->host);
	}
	return 0;
}

/* A sockaddr to (host, port) or (host, port, flowinfo, scope_id); other families: raw bytes. */
static PyObject *ssa_py_from_addr(const union ssa_py_addr *a, socklen_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (len >= sizeof(a->in) && a->sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &a->in.sin_addr, host, sizeof(host));
		return Py_BuildValue("(si)", host, ntohs(a->in.sin_port));
	}
	if (len >= sizeof(a->in6) && a->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &a->in6.sin6_addr, host, sizeof(host));
		return Py_BuildValue("(siII)", host, ntohs(a->in6.sin6_port),
				     ntohl(a->in6.sin6_flowinfo), a->in6.sin6_scope_id);
	}
	return PyBytes_FromStringAndSize((const char *)a, len < sizeof(*a) ? len : sizeof(*a));
}
%}

/* --- errors: every call that fails with -1 raises; none holds the GIL while in the library --- */

%define SSA_RAISING(function, fd)
%exception function {
	int saved_errno;

	Py_BEGIN_ALLOW_THREADS /* connect() and accept() block; the others may take a lock */
	$action
	saved_errno = errno;
	Py_END_ALLOW_THREADS
	if (result < 0) {
		ssa_py_raise(fd, saved_errno);
		SWIG_fail;
	}
}
%enddef

SSA_RAISING(ssa_socket, -1)
SSA_RAISING(ssa_connect, arg1)
SSA_RAISING(ssa_bind, arg1)
SSA_RAISING(ssa_listen, arg1)
SSA_RAISING(ssa_accept, arg1)
SSA_RAISING(ssa_accept4, arg1)
SSA_RAISING(ssa_setsockopt, arg1)
SSA_RAISING(ssa_getsockopt, arg1)
SSA_RAISING(ssa_getsockname, arg1)
SSA_RAISING(ssa_getpeername, arg1)
SSA_RAISING(ssa_shutdown, arg1)
SSA_RAISING(ssa_close, -1) /* the descriptor is gone: no TLS_ERROR to read */

%exception ssa_last_error {
	$action
	if (result == NULL) {
		ssa_py_oserror(errno, "not a TLS socket");
		SWIG_fail;
	}
}

/* --- results: None for 0, the descriptor for accept, a bool for is_tls --- */

%typemap(out) int ssa_connect, int ssa_bind, int ssa_listen, int ssa_setsockopt,
	      int ssa_shutdown, int ssa_close "$result = SWIG_Py_Void();"
%typemap(out) int ssa_getsockname, int ssa_getpeername, int ssa_getsockopt "$result = NULL;"
%typemap(out) int ssa_is_tls "$result = PyBool_FromLong($1);"

/* --- addresses --- */

%typemap(in) (const struct sockaddr *addr, socklen_t addrlen) (union ssa_py_addr tmp) {
	if (ssa_py_to_addr($input, &tmp, &$2) < 0)
		SWIG_fail;
	$1 = &tmp.sa;
}

%typemap(in, numinputs=0) (struct sockaddr *addr, socklen_t *addrlen)
	(union ssa_py_addr tmp, socklen_t tmplen) {
	tmplen = sizeof(tmp);
	$1 = &tmp.sa;
	$2 = &tmplen;
}
/* accept: (fd, address); getsockname/getpeername: address */
%typemap(argout) (struct sockaddr *addr, socklen_t *addrlen) {
	PyObject *address = ssa_py_from_addr((union ssa_py_addr *)$1, *$2);

	if (address == NULL) {
		if ($result != NULL) /* accept: the connection would leak with its number */
			ssa_close(result);
		SWIG_fail;
	}
	$result = $result == NULL ? address : Py_BuildValue("(NN)", $result, address);
}

/* --- option values --- */

/* setsockopt value: int (as a C int), str (UTF-8 with its NUL, as the C options expect) or
   any bytes-like object (as is). */
%typemap(in) (const void *optval, socklen_t optlen) (int ival, Py_buffer view = {0}) {
	if (PyLong_Check($input)) {
		long v = PyLong_AsLong($input);

		if ((v == -1 && PyErr_Occurred()) || v < INT_MIN || v > INT_MAX) {
			PyErr_SetString(PyExc_OverflowError, "option value does not fit in a C int");
			SWIG_fail;
		}
		ival = (int)v;
		$1 = &ival;
		$2 = sizeof(ival);
	} else if (PyUnicode_Check($input)) {
		Py_ssize_t n;
		const char *s = PyUnicode_AsUTF8AndSize($input, &n);

		if (s == NULL)
			SWIG_fail;
		if (strlen(s) != (size_t)n) {
			PyErr_SetString(PyExc_ValueError, "option value contains a NUL character");
			SWIG_fail;
		}
		if (n >= INT_MAX) {
			PyErr_SetString(PyExc_OverflowError, "option value is too long");
			SWIG_fail;
		}
		$1 = (void *)s;
		$2 = (socklen_t)n + 1;
	} else if (PyObject_CheckBuffer($input)) {
		if (PyObject_GetBuffer($input, &view, PyBUF_SIMPLE) < 0)
			SWIG_fail;
		if (view.len > INT_MAX) {
			PyErr_SetString(PyExc_OverflowError, "option value is too long");
			SWIG_fail;
		}
		$1 = view.buf;
		$2 = (socklen_t)view.len;
	} else {
		PyErr_Format(PyExc_TypeError,
			     "option value must be int, str or a bytes-like object, not %.100s",
			     Py_TYPE($input)->tp_name);
		SWIG_fail;
	}
}
%typemap(freearg) (const void *optval, socklen_t optlen) {
	if (view$argnum.obj != NULL)
		PyBuffer_Release(&view$argnum);
}

/* getsockopt(fd, level, name, buflen): buflen 0 reads an int, else up to buflen bytes. */
%typemap(in) (void *optval, socklen_t *optlen) (char *buf = NULL, socklen_t buflen, int as_int) {
	long n = PyLong_AsLong($input);

	if (n == -1 && PyErr_Occurred())
		SWIG_fail;
	if (n < 0 || n > (1L << 20)) {
		PyErr_SetString(PyExc_OSError, "getsockopt buflen out of range");
		SWIG_fail;
	}
	as_int = n == 0;
	buflen = as_int ? sizeof(int) : (socklen_t)n;
	buf = PyMem_Calloc(1, buflen);
	if (buf == NULL) {
		PyErr_NoMemory();
		SWIG_fail;
	}
	$1 = buf;
	$2 = &buflen;
}
%typemap(argout) (void *optval, socklen_t *optlen) {
	if (as_int$argnum) {
		int v;

		memcpy(&v, buf$argnum, sizeof(v));
		$result = PyLong_FromLong(v);
	} else {
		$result = PyBytes_FromStringAndSize(buf$argnum, buflen$argnum);
	}
	if ($result == NULL)
		SWIG_fail;
}
%typemap(freearg) (void *optval, socklen_t *optlen) "PyMem_Free(buf$argnum);"

/* last_error(fd) -> str */
%typemap(in, numinputs=0) (char *buf, size_t size) (char text[256]) {
	$1 = text;
	$2 = sizeof(text);
}

/* --- the API --- */

%rename("%(strip:[ssa_])s") "";
%ignore sockaddr_host; /* connect() builds it from a (name, port) tuple */
%ignore host_addr;

%include <ssa/in_tls.h>
%include <ssa/ssa.h>
