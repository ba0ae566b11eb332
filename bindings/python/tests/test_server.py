"""Servers: ssa listeners accepting Python and command-line clients."""
import select
import socket
import subprocess
import threading
import time

import pytest

import ssa
from conftest import EchoServer, run_python


def test_python_client_to_ssa_server(pki, echo_server):
    with ssa.create_connection(("localhost", echo_server.port), timeout=10,
                               cafile=pki / "ca.pem") as s:
        s.sendall(b"ping\n")
        assert s.recv(100) == b"echo ping\n"
        conn, addr = echo_server.accepted[-1]
        assert isinstance(conn, ssa.socket)
        assert addr == s.getsockname() == conn.getpeername()  # the real TCP addresses
        assert conn.getsockname() == s.getpeername() == ("127.0.0.1", echo_server.port)
        assert conn.getsockopt_str(ssa.TLS_HOSTNAME) == "localhost"  # the SNI the client sent
        assert conn.gettimeout() == 10  # set by the echo thread; accept gave a blocking socket


def test_policy_server_certificates(pki):
    """No certificate set by the program: the policy's server-certificates are served."""
    server = EchoServer(ssa.create_server(("127.0.0.1", 0)))
    try:
        with ssa.create_connection(("localhost", server.port), timeout=10) as s:
            s.sendall(b"policy\n")
            assert s.recv(100) == b"echo policy\n"
            assert s.getsockopt_str(ssa.TLS_PEER_IDENTITY) == "/CN=localhost"
    finally:
        server.close()


def test_listen_without_certificate_says_why(work, pki):
    (work / "empty.conf").write_text("default = { };\n")
    out = run_python("""
import errno, ssa
s = ssa.socket()
s.bind(("127.0.0.1", 0))
try:
    s.listen()
except OSError as e:
    print(errno.errorcode[e.errno], e.strerror)
""", env={"SSA_CONFIG": str(work / "empty.conf")})
    assert out.stdout.startswith("EINVAL "), out.stdout + out.stderr
    assert "no certificate to serve: set TLS_CERTIFICATE_CHAIN" in out.stdout


def test_accept_timeout_and_nonblocking(pki):
    with ssa.create_server(("127.0.0.1", 0), certfile=pki / "localhost-chain.pem",
                           keyfile=pki / "localhost.key") as listener:
        listener.settimeout(0.3)
        with pytest.raises(socket.timeout):
            listener.accept()
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_failed_handshakes_never_reach_accept(pki):
    with ssa.create_server(("127.0.0.1", 0), certfile=pki / "localhost-chain.pem",
                           keyfile=pki / "localhost.key") as listener:
        port = listener.getsockname()[1]
        plain = socket.create_connection(("127.0.0.1", port))
        plain.sendall(b"GET / HTTP/1.0\r\n\r\n")  # not TLS: its handshake fails
        r, _, _ = select.select([listener], [], [], 0.5)
        assert r == [], "listener readable without a handshaken connection"
        plain.close()
        good = ssa.create_connection(("localhost", port), timeout=10, cafile=pki / "ca.pem")
        r, _, _ = select.select([listener], [], [], 10)
        assert r == [listener]
        listener.settimeout(10)
        conn, addr = listener.accept()
        assert addr == good.getsockname()
        conn.close()
        good.close()


def test_blocking_accept_releases_the_gil(pki):
    """A thread blocked in accept() lets the main thread connect to it."""
    listener = ssa.create_server(("127.0.0.1", 0), certfile=pki / "localhost-chain.pem",
                                 keyfile=pki / "localhost.key")
    got = []
    t = threading.Thread(target=lambda: got.append(listener.accept()), daemon=True)
    t.start()
    time.sleep(0.1)
    with ssa.create_connection(("localhost", listener.getsockname()[1]), timeout=10,
                               cafile=pki / "ca.pem"):
        t.join(10)
    assert got and isinstance(got[0][0], ssa.socket)
    got[0][0].close()
    listener.close()


def test_openssl_s_client_to_ssa_server(pki, echo_server):
    proc = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{echo_server.port}",
         "-servername", "localhost", "-verify_return_error", "-CAfile", pki / "ca.pem",
         "-quiet"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    watchdog = threading.Timer(20, proc.kill)  # s_client would wait for the server forever
    watchdog.start()
    try:
        proc.stdin.write(b"from s_client\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"echo from s_client\n"
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()


def test_ipv6(pki):
    try:
        listener = ssa.create_server(("::1", 0), family=socket.AF_INET6,
                                     certfile=pki / "localhost-chain.pem",
                                     keyfile=pki / "localhost.key")
    except OSError as e:
        pytest.skip(f"no IPv6 loopback: {e}")
    server = EchoServer(listener)
    try:
        with ssa.socket(socket.AF_INET6) as s:
            s.settimeout(10)
            s.connect(("::1", server.port))  # no name: the certificate must hold ::1
            assert s.getpeername()[:2] == ("::1", server.port)
            assert len(s.getsockname()) == 4
            s.sendall(b"six\n")
            assert s.recv(100) == b"echo six\n"
    finally:
        server.close()
