"""Fixtures of the Python binding's tests: a test PKI, a policy, TLS peers on 127.0.0.1.

Environment: SSA_TEST_PKI (a directory made by tests/pki.sh; made here if unset) and
SSA_BUILD_DIR (the library's build directory, for ssa-run; guessed from where ssa was built).
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3]
_work = Path(tempfile.mkdtemp(prefix="ssa-pytest."))
PKI = Path(os.environ.get("SSA_TEST_PKI") or _work / "pki")

if not (PKI / "ca.pem").exists():
    subprocess.run(["bash", str(SRC / "tests/pki.sh"), str(PKI)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def write_policy(path, extra=""):
    """A policy trusting the test CA and serving the localhost chain."""
    path.write_text(f"""default = {{
  trust-file = "{PKI}/ca.pem";
  server-certificates = ( {{ chain = "{PKI}/localhost-chain.pem"; key = "{PKI}/localhost.key"; }} );
  {extra}
}};
""")
    return path


# libssa reads its policy once, with the first TLS socket: set it before any test runs.
os.environ["SSA_CONFIG"] = str(write_policy(_work / "ssa.conf", "handshake-timeout = 10;"))

import ssa  # noqa: E402  (after SSA_CONFIG, on purpose)


def pytest_unconfigure(config):
    shutil.rmtree(_work, ignore_errors=True)


@pytest.fixture(scope="session")
def pki():
    return PKI


@pytest.fixture
def work(tmp_path):
    return tmp_path


def build_dir():
    """The library's build directory: SSA_BUILD_DIR, or the one build.sh put ssa into."""
    guess = Path(ssa.__file__).resolve().parents[3]
    d = Path(os.environ.get("SSA_BUILD_DIR") or guess)
    return d if (d / "core/.libs/libssa.so.0").exists() else None


def run_python(code, *args, env=None, timeout=30):
    """Runs code in a fresh interpreter that imports this ssa; returns CompletedProcess."""
    full_env = dict(os.environ, PYTHONPATH=str(Path(ssa.__file__).resolve().parents[1]))
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def s_server(pki, tmp_path):
    """openssl s_server on 127.0.0.1 (localhost chain); -rev: answers each line reversed.
    Yields its port."""
    log = tmp_path / "s_server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", "127.0.0.1:0", "-rev",
             "-cert", pki / "localhost.pem", "-cert_chain", pki / "int.pem",
             "-key", pki / "localhost.key"],
            stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT)  # stdin open: it stays
    try:
        assert wait_for(lambda: "ACCEPT" in log.read_text()), log.read_text()
        line = next(l for l in log.read_text().splitlines() if l.startswith("ACCEPT"))
        yield int(line.rsplit(":", 1)[1])
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()


@pytest.fixture
def tcp_silent():
    """A plain TCP listener that never accepts nor speaks: TCP connects, TLS never starts."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


class EchoServer:
    """An ssa listener in a thread; each connection gets every line back as b"echo " + line."""

    def __init__(self, listener):
        self.listener = listener
        self.port = listener.getsockname()[1]
        self.accepted = []  # (socket, address), for tests that look at the server side
        self.errors = []
        self._stop = False
        listener.settimeout(0.1)  # so that the loop sees _stop
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop:
            try:
                conn, addr = self.listener.accept()
            except socket.timeout:
                continue
            except OSError as e:
                self.errors.append(e)
                return
            self.accepted.append((conn, addr))
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn):
        conn.settimeout(10)
        try:
            with conn.makefile("rb") as lines:
                for line in lines:
                    conn.sendall(b"echo " + line)
            conn.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.errors.append(e)

    def close(self):
        self._stop = True
        self._thread.join(5)
        self.listener.close()
        for conn, _ in self.accepted:
            conn.close()


@pytest.fixture
def echo_server(pki):
    server = EchoServer(ssa.create_server(("127.0.0.1", 0), certfile=pki / "localhost-chain.pem",
                                          keyfile=pki / "localhost.key"))
    yield server
    server.close()
