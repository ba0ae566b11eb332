"""The other Python face: ssa-run python3 with a plain socket.socket(AF_INET, SOCK_STREAM, 205)."""
import os
import subprocess
import sys

import pytest

from conftest import build_dir

PLAIN = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 205)
s.settimeout(10)
s.setsockopt(205, 85, sys.argv[1].encode() + b"\\0")
try:
    s.connect(("127.0.0.1", int(sys.argv[2])))
except OSError as e:
    print("error", e.errno, s.getsockopt(205, 100, 256).rstrip(b"\\0").decode())
    sys.exit(1)
s.sendall(b"preloaded\\n")
print("reply", s.recv(100).decode().strip())
print("peer", s.getsockopt(205, 93, 256).rstrip(b"\\0").decode())
"""


def ssa_run(*args):
    build = build_dir()
    if build is None:
        pytest.skip("no build directory with ssa-run (set SSA_BUILD_DIR)")
    env = dict(os.environ, SSA_PRELOAD=str(build / "core/.libs/libssa.so.0"))
    env.pop("PYTHONPATH", None)  # the plain interpreter: no ssa module involved
    return subprocess.run([str(build / "core/ssa-run"), sys.executable, "-c", PLAIN, *args],
                          env=env, capture_output=True, text=True, timeout=30)


def test_ssa_run_plain_socket(s_server):
    out = ssa_run("localhost", str(s_server))
    assert "reply dedaolerp" in out.stdout, out.stdout + out.stderr
    assert "peer /CN=localhost" in out.stdout


def test_ssa_run_wrong_host(s_server):
    out = ssa_run("wrong.test", str(s_server))
    assert out.returncode == 1
    assert "error 71 certificate verification failed" in out.stdout, out.stdout + out.stderr
