"""Clients: ssa.socket against openssl s_server and against an ssa server."""
import errno
import selectors
import socket
import threading
import time

import pytest

import ssa


def client(pki, hostname="localhost", timeout=10):
    s = ssa.socket()
    s.settimeout(timeout)
    s.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_REMOTE_HOSTNAME, hostname)
    s.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_TRUSTED_PEER_CERTIFICATES, str(pki / "ca.pem"))
    return s


def test_constants_and_class():
    assert socket.IPPROTO_TLS == ssa.IPPROTO_TLS == 205
    assert (ssa.TLS_REMOTE_HOSTNAME, ssa.TLS_HOSTNAME, ssa.TLS_ERROR, ssa.TLS_PEER_IDENTITY) == \
        (85, 86, 100, 93)
    assert (ssa.TLS_1_2, ssa.TLS_1_3, ssa.AF_HOSTNAME, ssa.TCP_UPGRADE_TLS) == \
        (0x0303, 0x0304, 43, 33)
    assert ssa.__version__
    with ssa.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TLS) as s:
        assert isinstance(s, socket.socket)
        assert s.family == socket.AF_INET and s.type == socket.SOCK_STREAM
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) == ssa.IPPROTO_TLS
        assert not s.get_inheritable()
    with ssa.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK) as s:
        assert s.type == socket.SOCK_STREAM and s.gettimeout() == 0


def test_s_server_data_both_ways(pki, s_server):
    with client(pki) as s:
        s.connect(("127.0.0.1", s_server))
        assert s.getpeername() == ("127.0.0.1", s_server)
        assert s.getsockname()[0] == "127.0.0.1"
        assert s.getsockopt_str(ssa.TLS_PEER_IDENTITY) == "/CN=localhost"
        # bytes with a buffer length, as socket.getsockopt gives them: NUL-terminated
        assert s.getsockopt(ssa.IPPROTO_TLS, ssa.TLS_PEER_IDENTITY, 1024) == b"/CN=localhost\0"
        assert s.getsockopt(ssa.IPPROTO_TLS, ssa.TLS_VERSION_CONN) in (ssa.TLS_1_2, ssa.TLS_1_3)
        assert s.getsockopt_str(ssa.TLS_CHOSEN_CIPHER).startswith("TLS_")
        assert s.getsockopt_str(ssa.TLS_PEER_CERTIFICATE_CHAIN).count("BEGIN CERTIFICATE") == 2
        assert s.getsockopt(ssa.IPPROTO_TLS, ssa.TLS_ID) > 0
        lines = [b"hello %d %s\n" % (i, b"x" * 1000 * i) for i in range(8)]
        s.sendall(b"".join(lines))
        with s.makefile("rb") as f:
            for line in lines:
                assert f.readline() == line[:-1][::-1] + b"\n"


def test_connect_by_name_verifies_that_name(pki, s_server):
    with ssa.socket() as s:
        s.settimeout(10)
        s.connect(("localhost", s_server))  # AF_HOSTNAME: resolved and verified by libssa
        assert s.getsockopt_str(ssa.TLS_REMOTE_HOSTNAME) == "localhost"
        s.sendall(b"abc\n")
        assert s.recv(100) == b"cba\n"


def test_create_connection(pki, s_server):
    with ssa.create_connection(("localhost", s_server), timeout=10,
                               cafile=pki / "ca.pem") as s:
        assert s.gettimeout() == 10
        s.sendall(b"create_connection\n")
        assert s.recv(100) == b"noitcennoc_etaerc\n"


def test_wrong_hostname_is_eproto_with_reason(pki, s_server):
    with client(pki, "wrong.test") as s:
        with pytest.raises(OSError) as e:
            s.connect(("127.0.0.1", s_server))
        assert e.value.errno == errno.EPROTO
        assert "certificate verification failed" in str(e.value)
        assert "wrong.test" in str(e.value)
        assert "wrong.test" in s.getsockopt_str(ssa.TLS_ERROR)


def test_untrusted_root_is_eproto(pki, s_server):
    with ssa.socket() as s:
        s.settimeout(10)
        s.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_TRUSTED_PEER_CERTIFICATES, pki / "unknown-root.pem")
        with pytest.raises(OSError) as e:
            s.connect(("localhost", s_server))
        assert e.value.errno == errno.EPROTO
        assert "certificate verification failed" in e.value.strerror


def test_blocking_connect_without_timeout(pki, s_server):
    with client(pki, timeout=None) as s:
        s.connect(("127.0.0.1", s_server))
        assert s.gettimeout() is None
        s.sendall(b"blocking\n")
        assert s.recv(100) == b"gnikcolb\n"


def test_connection_refused(pki):
    port = socket.create_server(("127.0.0.1", 0))  # bound and closed: nobody listens there
    free = port.getsockname()[1]
    port.close()
    with client(pki) as s:
        with pytest.raises(ConnectionRefusedError) as e:
            s.connect(("127.0.0.1", free))
        assert e.value.errno == errno.ECONNREFUSED
    with client(pki) as s:
        assert s.connect_ex(("127.0.0.1", free)) == errno.ECONNREFUSED


def test_socket_timeout_on_silent_peer(pki, tcp_silent):
    with client(pki, timeout=0.5) as s:
        start = time.monotonic()
        with pytest.raises(socket.timeout) as e:
            s.connect(("127.0.0.1", tcp_silent))
        assert e.value.errno is None  # Python's own timeout, as from socket.connect
        assert 0.4 < time.monotonic() - start < 5
    with client(pki, timeout=0.2) as s:
        assert s.connect_ex(("127.0.0.1", tcp_silent)) == errno.EWOULDBLOCK  # as the stdlib


def test_nonblocking_connect_with_selectors(pki, s_server):
    with client(pki) as s, selectors.DefaultSelector() as sel:
        s.setblocking(False)
        with pytest.raises(BlockingIOError) as e:
            s.connect(("127.0.0.1", s_server))
        assert e.value.errno == errno.EINPROGRESS
        sel.register(s, selectors.EVENT_WRITE)
        assert sel.select(10), "never writable"
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        assert s.connect_ex(("127.0.0.1", s_server)) == errno.EISCONN
        s.send(b"selectors\n")
        sel.modify(s, selectors.EVENT_READ)
        got = b""
        while not got.endswith(b"\n"):
            assert sel.select(10), "no answer"
            got += s.recv(100)
        assert got == b"srotceles\n"


def test_nonblocking_connect_failure_reported_by_so_error(pki, s_server):
    with client(pki, "wrong.test") as s, selectors.DefaultSelector() as sel:
        s.setblocking(False)
        assert s.connect_ex(("127.0.0.1", s_server)) == errno.EINPROGRESS
        sel.register(s, selectors.EVENT_WRITE)
        assert sel.select(10)
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.EPROTO
        assert "wrong.test" in s.getsockopt_str(ssa.TLS_ERROR)


def test_dup_shares_the_connection(pki, s_server):
    with client(pki) as s:
        s.connect(("127.0.0.1", s_server))
        with s.dup() as d:
            assert isinstance(d, ssa.socket)
            assert d.getsockopt_str(ssa.TLS_PEER_IDENTITY) == "/CN=localhost"
            d.sendall(b"dup\n")
            assert s.recv(100) == b"pud\n"
        s.sendall(b"still\n")  # closing the dup left the connection alone
        assert s.recv(100) == b"llits\n"
        with ssa.socket(fileno=s.detach()) as again:  # family and type asked from libssa
            assert (again.family, again.type) == (socket.AF_INET, socket.SOCK_STREAM)
            assert again.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) == ssa.IPPROTO_TLS
            again.settimeout(10)
            again.sendall(b"again\n")
            assert again.recv(100) == b"niaga\n"


def test_half_close_with_ssa_server(pki, echo_server):
    with ssa.create_connection(("localhost", echo_server.port), timeout=10,
                               cafile=pki / "ca.pem") as s:
        s.sendall(b"one\ntwo\n")
        s.shutdown(socket.SHUT_WR)  # close_notify; the server sees EOF and answers
        got = b""
        while chunk := s.recv(100):
            got += chunk
        assert got == b"echo one\necho two\n"


def test_threads_connect_at_once(pki, echo_server):
    """Blocking connects in threads run in parallel: the GIL is released in connect()."""
    results = []

    def one(i):
        with ssa.create_connection(("localhost", echo_server.port), timeout=10,
                                   cafile=pki / "ca.pem") as s:
            s.sendall(b"%d\n" % i)
            results.append(s.recv(100))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results) == sorted(b"echo %d\n" % i for i in range(8))
