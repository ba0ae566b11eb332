"""Bad input and misuse: always a Python exception with the right errno, never a crash."""
import errno
import gc
import itertools
import socket
import warnings

import pytest

import ssa
from conftest import run_python, write_policy

TLS = ssa.IPPROTO_TLS


@pytest.fixture
def s():
    with ssa.socket() as sock:
        yield sock


@pytest.mark.parametrize("value", [[1], None, 1.5, {"a": 1}, object()])
def test_setsockopt_wrong_type(s, value):
    with pytest.raises(TypeError):
        s.setsockopt(TLS, ssa.TLS_REMOTE_HOSTNAME, value)


def test_setsockopt_bad_values(s):
    with pytest.raises(ValueError):
        s.setsockopt(TLS, ssa.TLS_REMOTE_HOSTNAME, "local\0host")
    with pytest.raises(OverflowError):
        s.setsockopt(TLS, ssa.TLS_SESSION_TTL, 1 << 40)
    with pytest.raises(OSError) as e:
        s.setsockopt(TLS, ssa.TLS_REMOTE_HOSTNAME, "x" * 100000)
    assert e.value.errno == errno.EINVAL and "bad length" in e.value.strerror
    with pytest.raises(OSError) as e:
        s.setsockopt(TLS, ssa.TLS_REMOTE_HOSTNAME, "not a host name!")
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        s.setsockopt(TLS, 129, 1)
    assert e.value.errno == errno.ENOPROTOOPT
    with pytest.raises(OSError) as e:
        s.setsockopt(TLS, ssa.TLS_PEER_IDENTITY, "x")  # read-only
    assert e.value.errno == errno.ENOPROTOOPT
    with pytest.raises(OSError) as e:
        s.setsockopt(TLS, ssa.TLS_TRUSTED_PEER_CERTIFICATES, "/nonexistent/ca.pem")
    assert e.value.errno == errno.EINVAL and "/nonexistent/ca.pem" in e.value.strerror


def test_option_round_trips(s):
    s.setsockopt(TLS, ssa.TLS_REMOTE_HOSTNAME, b"example.test\0")  # bytes as from C
    assert s.getsockopt_str(ssa.TLS_REMOTE_HOSTNAME) == "example.test"
    s.setsockopt(TLS, ssa.TLS_SESSION_TTL, 60)
    assert s.getsockopt(TLS, ssa.TLS_SESSION_TTL) == 60
    s.setsockopt(TLS, ssa.TLS_VERSION_MIN, ssa.TLS_1_3)
    assert s.getsockopt(TLS, ssa.TLS_VERSION_MIN) == ssa.TLS_1_3
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)  # acts on the TCP connection
    assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    assert "TLS_AES_256_GCM_SHA384" in s.getsockopt_str(ssa.TLS_TRUSTED_CIPHERS)


def test_getsockopt_errors(s):
    with pytest.raises(OSError) as e:
        s.getsockopt(TLS, ssa.TLS_PEER_IDENTITY, 256)
    assert e.value.errno == errno.ENOTCONN
    s.setsockopt(TLS, ssa.TLS_REMOTE_HOSTNAME, "localhost")
    with pytest.raises(OSError) as e:
        s.getsockopt(TLS, ssa.TLS_REMOTE_HOSTNAME, 3)  # too small: ERANGE, as SO_PEERSEC
    assert e.value.errno == errno.ERANGE
    for bad in (-1, 1 << 30):
        with pytest.raises(OSError):
            s.getsockopt(TLS, ssa.TLS_REMOTE_HOSTNAME, bad)
    with pytest.raises(TypeError):
        s.getsockopt(TLS, ssa.TLS_REMOTE_HOSTNAME, "256")


def test_bad_addresses(s):
    with pytest.raises(OSError) as e:
        s.connect(("x" * 100000, 443))
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        s.connect(("a" * 300, 443))
    assert e.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        s.connect("127.0.0.1:443")
    with pytest.raises(TypeError):
        s.connect(("127.0.0.1", "443"))
    with pytest.raises(OverflowError):
        s.connect(("127.0.0.1", 70000))
    with pytest.raises(ValueError):
        s.connect(("local\0host", 443))
    with pytest.raises(OSError) as e:
        s.connect(("::1", 443))  # IPv6 on an AF_INET socket
    assert e.value.errno == errno.EAFNOSUPPORT


def test_unresolvable_name(s):
    s.settimeout(10)
    with pytest.raises(OSError) as e:
        s.connect(("no-such-host.invalid", 443))
    assert e.value.errno == errno.EHOSTUNREACH and "no-such-host.invalid" in e.value.strerror


def test_unsupported_socket_kinds():
    with pytest.raises(OSError) as e:
        ssa.socket(socket.AF_INET, socket.SOCK_DGRAM)
    assert e.value.errno == errno.EPROTONOSUPPORT
    with pytest.raises(OSError) as e:
        ssa.socket(socket.AF_UNIX)
    assert e.value.errno == errno.EAFNOSUPPORT


def test_closed_socket_is_ebadf():
    s = ssa.socket()
    s.close()
    s.close()  # twice is harmless, as for socket.socket
    calls = [lambda: s.connect(("127.0.0.1", 1)), lambda: s.bind(("127.0.0.1", 0)),
             s.listen, s.accept, s.getsockname, s.getpeername,
             lambda: s.shutdown(socket.SHUT_RDWR),
             lambda: s.setsockopt(TLS, ssa.TLS_REMOTE_HOSTNAME, "localhost"),
             lambda: s.getsockopt(TLS, ssa.TLS_ERROR, 256),
             lambda: s.getsockopt_str(ssa.TLS_ERROR), lambda: s.send(b"x")]
    for call in calls:
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EBADF


def test_phase_errors(pki, echo_server):
    s = ssa.create_connection(("localhost", echo_server.port), timeout=10,
                              cafile=pki / "ca.pem")
    with s:
        with pytest.raises(OSError) as e:
            s.setsockopt(TLS, ssa.TLS_REMOTE_HOSTNAME, "other.test")
        assert e.value.errno == errno.EISCONN
        with pytest.raises(OSError) as e:
            s.connect(("127.0.0.1", echo_server.port))
        assert e.value.errno == errno.EISCONN
        with pytest.raises(OSError):
            s.listen()
    with ssa.socket() as fresh:
        with pytest.raises(OSError) as e:
            fresh.getpeername()
        assert e.value.errno == errno.ENOTCONN
        with pytest.raises(OSError) as e:
            fresh.shutdown(socket.SHUT_WR)
        assert e.value.errno == errno.ENOTCONN
        with pytest.raises(OSError) as e:
            fresh.accept()
        assert e.value.errno == errno.EINVAL


def test_garbage_everywhere_never_crashes(pki):
    """Every method with every kind of junk argument: exceptions only."""
    junk = [None, -1, 0, 2 ** 31, 2 ** 64, -(2 ** 63), 1.5, "", "x" * 5000, b"", b"\0" * 300,
            (), ("127.0.0.1",), ("127.0.0.1", -1), ("127.0.0.1", 1, 2, 3, 4), [1], object()]
    s = ssa.socket()
    for name in ("connect", "connect_ex", "bind", "listen", "shutdown", "getsockopt_str"):
        for arg in junk:
            try:
                getattr(s, name)(arg)
            except (OSError, TypeError, ValueError, OverflowError):
                pass
    for level, opt, value in itertools.product([TLS, socket.SOL_SOCKET, -1, 2 ** 40],
                                               [ssa.TLS_REMOTE_HOSTNAME, ssa.TLS_ID, 0, -5],
                                               junk):
        for call in (lambda: s.setsockopt(level, opt, value),
                     lambda: s.getsockopt(level, opt, value)):
            try:
                call()
            except (OSError, TypeError, ValueError, OverflowError):
                pass
    s.close()
    for args in [(socket.AF_INET, -2), (-2, socket.SOCK_STREAM), (2 ** 40,), ("x",)]:
        with pytest.raises((OSError, TypeError, OverflowError)):
            ssa.socket(*args)


def test_garbage_collected_socket(pki, echo_server):
    s = ssa.create_connection(("localhost", echo_server.port), timeout=10,
                              cafile=pki / "ca.pem")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        del s  # closed by the finalizer with close(2): libssa notices on its own
        gc.collect()
    with ssa.create_connection(("localhost", echo_server.port), timeout=10,
                               cafile=pki / "ca.pem") as t:
        t.sendall(b"after\n")
        assert t.recv(100) == b"echo after\n"


def test_policy_handshake_timeout(work, tcp_silent):
    """A blocking connect to a peer that never answers the handshake: the policy's
    handshake-timeout gives ETIMEDOUT with the reason."""
    policy = write_policy(work / "ssa.conf", "handshake-timeout = 1;")
    out = run_python("""
import sys, time, ssa
s = ssa.socket()
start = time.monotonic()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except TimeoutError as e:
    print(e.errno, round(time.monotonic() - start), e.strerror)
""", tcp_silent, env={"SSA_CONFIG": str(policy)})
    assert out.stdout.startswith(f"{errno.ETIMEDOUT} 1 "), out.stdout + out.stderr
    assert "TLS handshake timed out" in out.stdout


def test_broken_policy_is_reported(work):
    (work / "bad.conf").write_text("default = { min-version = \"TLS9\"; };\n")
    out = run_python("""
import ssa
s = ssa.socket()
try:
    s.connect(("127.0.0.1", 1))
except OSError as e:
    print(e.errno, e.strerror)
""", env={"SSA_CONFIG": str(work / "bad.conf")})
    assert out.stdout.startswith(f"{errno.EPROTO} "), out.stdout + out.stderr
    assert "bad.conf:1" in out.stdout
