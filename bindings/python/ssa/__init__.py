"""TLS through the socket API: the Python face of the Secure Socket API (SSA).

    import ssa
    with ssa.create_connection(("example.com", 443)) as s:
        s.sendall(b"GET / HTTP/1.0\\r\\nHost: example.com\\r\\n\\r\\n")
        print(s.recv(4096))

ssa.socket is a socket.socket whose descriptor is the plain-text end of a TLS connection run by
libssa: recv/send, timeouts, select/poll, selectors, asyncio and makefile() use it as any other
socket.  The calls that set the connection up or look at it (connect, bind, listen, accept,
[gs]etsockopt, getsockname, getpeername, shutdown, close) go through libssa.  TLS and
certificate failures raise OSError(EPROTO, "Protocol error: <reason>"); the administrator's
policy (/etc/ssa/ssa.conf or $SSA_CONFIG) decides versions, ciphers and trust.
"""
import errno
import os
import select
import socket as _socket
import sys
import time

from . import _ssa

__version__ = _ssa.version()

IPPROTO_TLS = _ssa.IPPROTO_TLS
AF_HOSTNAME = _ssa.AF_HOSTNAME
TCP_UPGRADE_TLS = _ssa.TCP_UPGRADE_TLS
globals().update((k, v) for k, v in vars(_ssa).items() if k.startswith("TLS_"))
# Programs written for SSA spell it socket.IPPROTO_TLS, as C programs do.
_socket.IPPROTO_TLS = IPPROTO_TLS

__all__ = ["socket", "create_connection", "create_server", "IPPROTO_TLS", "AF_HOSTNAME",
           "TCP_UPGRADE_TLS"] + sorted(k for k in vars(_ssa) if k.startswith("TLS_"))

_UINT64_OPTIONS = (_ssa.TLS_ID, _ssa.TLS_CONTEXT)


def _error(fd, err):
    """OSError(err) with fd's TLS_ERROR reason, worded as the C module words its errors."""
    text = _ssa.last_error(fd) if _ssa.is_tls(fd) else ""
    return OSError(err, f"{os.strerror(err)}: {text}" if text else os.strerror(err))


def _ready(fd, events, timeout):
    """Whether fd gets one of events within timeout seconds (None: no limit)."""
    poller = select.poll()  # not select(): descriptors above 1023 work
    poller.register(fd, events)
    return bool(poller.poll(None if timeout is None else max(0.0, timeout) * 1000))


class socket(_socket.socket):
    """socket.socket(family, type, proto) with TLS: proto defaults to IPPROTO_TLS.

    Set TLS_REMOTE_HOSTNAME before connect() (or connect to a (name, port) pair: the name is
    resolved and verified); set TLS_CERTIFICATE_CHAIN and TLS_PRIVATE_KEY before listen(), or
    let the policy's server certificates be served.  The proto attribute reads IPPROTO_TCP,
    the transport, because getaddrinfo() (and asyncio's sock_connect through it) knows no
    protocol 205; getsockopt(SOL_SOCKET, SO_PROTOCOL) answers IPPROTO_TLS.
    """

    __slots__ = ()

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        created = fileno is None
        if created:
            family = _socket.AF_INET if family == -1 else family
            type = _socket.SOCK_STREAM if type == -1 else type
            proto = IPPROTO_TLS if proto == -1 else proto
            # Non-inheritable, as every socket Python makes (PEP 446).
            fileno = _ssa.socket(family, type | _socket.SOCK_CLOEXEC, proto)
        else:
            # The kernel would describe the AF_UNIX end; libssa knows the TLS socket.
            fileno = fileno if isinstance(fileno, int) else fileno.fileno()
            if family == -1:
                family = _ssa.getsockopt(fileno, _socket.SOL_SOCKET, _socket.SO_DOMAIN, 0)
            if type == -1:
                type = _ssa.getsockopt(fileno, _socket.SOL_SOCKET, _socket.SO_TYPE, 0)
            if proto == -1:
                proto = _ssa.getsockopt(fileno, _socket.SOL_SOCKET, _socket.SO_PROTOCOL, 0)
        if proto == IPPROTO_TLS:
            proto = _socket.IPPROTO_TCP
        try:
            super().__init__(family, type, proto, fileno)
        except BaseException:
            if created:
                _ssa.close(fileno)
            raise

    # --- connecting ---

    def connect(self, address):
        """Connects, handshakes and verifies; honours the timeout like socket.connect()."""
        fd, timeout = self.fileno(), self.gettimeout()
        try:
            _ssa.connect(fd, address)
            return
        except (BlockingIOError, InterruptedError):
            # Non-blocking (a timeout makes the descriptor non-blocking too), or a signal
            # interrupted a blocking connect: the handshake goes on in the background.
            if timeout == 0:
                raise
        if not _ready(fd, select.POLLOUT, timeout):  # writable once the handshake has ended
            raise _socket.timeout("timed out")
        err = _ssa.getsockopt(fd, _socket.SOL_SOCKET, _socket.SO_ERROR, 0)
        if err:
            raise _error(fd, err)

    def connect_ex(self, address):
        """connect() that returns an errno (0 on success) instead of raising it."""
        try:
            self.connect(address)
        except OSError as e:
            if e.errno is not None:
                return e.errno
            if isinstance(e, _socket.timeout):
                return errno.EWOULDBLOCK  # what socket.connect_ex returns on its timeout
            raise
        return 0

    # --- serving ---

    def bind(self, address):
        _ssa.bind(self.fileno(), self._local_address(address))

    def _local_address(self, address):
        """'' and host names as socket.bind() takes them: libssa binds address literals only."""
        if not (isinstance(address, tuple) and len(address) >= 2 and
                isinstance(address[0], str)):
            return address  # the C module gives the errors for bad addresses
        host = address[0]
        if host == "":
            host = "::" if self.family == _socket.AF_INET6 else "0.0.0.0"
        else:
            try:
                _socket.inet_pton(self.family, host)
                return address
            except OSError:
                host = _socket.getaddrinfo(host, None, self.family, _socket.SOCK_STREAM, 0,
                                           _socket.AI_PASSIVE)[0][4][0]
        return (host,) + address[1:]

    def listen(self, backlog=min(_socket.SOMAXCONN, 128)):
        _ssa.listen(self.fileno(), backlog)

    def accept(self):
        """Returns (ssa.socket, address) for the next handshaken connection; honours the timeout."""
        fd, timeout = self.fileno(), self.gettimeout()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                conn_fd, address = _ssa.accept4(fd, _socket.SOCK_CLOEXEC)
                break
            except InterruptedError:
                continue  # PEP 475: retried after the signal handler
            except BlockingIOError:
                if timeout == 0:
                    raise
            remaining = None if deadline is None else deadline - time.monotonic()
            if (remaining is not None and remaining <= 0) or \
                    not _ready(fd, select.POLLIN, remaining):
                raise _socket.timeout("timed out")
        sock = type(self)(self.family, self.type, self.proto, fileno=conn_fd)
        # As socket.accept(): without a default timeout the new socket blocks, whatever the
        # listener's timeout.
        if _socket.getdefaulttimeout() is None and self.gettimeout():
            sock.setblocking(True)
        return sock, address

    # --- options and names ---

    def setsockopt(self, level, optname, value):
        """Any level; value is an int, a str or path (IPPROTO_TLS strings) or bytes."""
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if level == IPPROTO_TLS and optname in _UINT64_OPTIONS and isinstance(value, int):
            value = value.to_bytes(8, sys.byteorder)
        _ssa.setsockopt(self.fileno(), level, optname, value)

    def getsockopt(self, level, optname, buflen=0):
        """An int, or bytes when buflen is given (strings come NUL-terminated, as from C)."""
        if buflen == 0 and level == IPPROTO_TLS and optname in _UINT64_OPTIONS:
            return int.from_bytes(_ssa.getsockopt(self.fileno(), level, optname, 8),
                                  sys.byteorder)
        return _ssa.getsockopt(self.fileno(), level, optname, buflen)

    def getsockopt_str(self, optname, level=IPPROTO_TLS):
        """A string option (TLS_PEER_IDENTITY, TLS_CHOSEN_CIPHER, TLS_ERROR...) as str."""
        for size in (256, 1 << 16, 1 << 20):  # ERANGE: the value is longer, try more room
            try:
                value = self.getsockopt(level, optname, size)
                break
            except OSError as e:
                if e.errno != errno.ERANGE or size == 1 << 20:
                    raise
        return value.split(b"\0", 1)[0].decode("utf-8", "replace")

    def getsockname(self):
        return _ssa.getsockname(self.fileno())

    def getpeername(self):
        return _ssa.getpeername(self.fileno())

    def shutdown(self, how):
        _ssa.shutdown(self.fileno(), how)

    def _real_close(self, _close=_ssa.close):
        # socket.close() ends here; _socket.socket.close would call close(2) itself.  The
        # default argument keeps _ssa reachable during interpreter shutdown.
        fd = self.detach()
        if fd >= 0:
            _close(fd)


def create_connection(address, timeout=_socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None,
                      *, cafile=None):
    """socket.create_connection() with TLS: the certificate is verified for the host given
    (TLS_REMOTE_HOSTNAME), against cafile when given (TLS_TRUSTED_PEER_CERTIFICATES),
    else against the policy's trust store."""
    host, port = address
    errors = []
    for family, type_, _, _, sockaddr in _socket.getaddrinfo(host, port, 0, _socket.SOCK_STREAM):
        sock = socket(family, type_, IPPROTO_TLS)
        try:
            sock.setsockopt(IPPROTO_TLS, _ssa.TLS_REMOTE_HOSTNAME, host)
            if cafile is not None:
                sock.setsockopt(IPPROTO_TLS, _ssa.TLS_TRUSTED_PEER_CERTIFICATES, cafile)
            if timeout is not _socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as e:
            sock.close()
            errors[:] = [e]  # as the stdlib: the last address's error is the one raised
    try:
        raise errors[0] if errors else OSError("getaddrinfo returns an empty list")
    finally:
        errors.clear()  # no reference cycle through the traceback


def create_server(address, *, family=_socket.AF_INET, backlog=None, reuse_port=False,
                  certfile=None, keyfile=None):
    """socket.create_server() with TLS.  certfile is a PEM chain, leaf first, and keyfile its
    key (default: certfile); without them the policy's server certificates are served."""
    sock = socket(family, _socket.SOCK_STREAM, IPPROTO_TLS)
    try:
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEPORT, 1)
        if certfile is not None:
            sock.setsockopt(IPPROTO_TLS, _ssa.TLS_CERTIFICATE_CHAIN, certfile)
            sock.setsockopt(IPPROTO_TLS, _ssa.TLS_PRIVATE_KEY,
                            certfile if keyfile is None else keyfile)
        sock.bind(address)
        if backlog is None:
            sock.listen()
        else:
            sock.listen(backlog)
        return sock
    except BaseException:
        sock.close()
        raise
