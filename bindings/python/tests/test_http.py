"""http.server over socketserver on an ssa listener; http.client and curl as clients."""
import http.client
import http.server
import shutil
import socketserver
import subprocess
import threading

import pytest

import ssa


class TLSHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """HTTPServer whose socket is an ssa.socket: TLS with no other change."""

    daemon_threads = True

    def __init__(self, address, handler, certfile, keyfile):
        super().__init__(address, handler, bind_and_activate=False)
        self.socket.close()  # the plain socket TCPServer made
        self.socket = ssa.socket(self.address_family, self.socket_type)
        self.socket.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_CERTIFICATE_CHAIN, certfile)
        self.socket.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_PRIVATE_KEY, keyfile)
        self.server_bind()
        self.server_activate()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: several requests per connection

    def do_GET(self):
        module = type(self.request).__module__  # "ssa": the request is an ssa.socket
        body = b"hello %s over %s\n" % (self.path.encode(), module.encode())
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(pki):
    server = TLSHTTPServer(("127.0.0.1", 0), Handler, str(pki / "localhost-chain.pem"),
                           str(pki / "localhost.key"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_http_client_get(pki, http_server):
    conn = http.client.HTTPConnection("localhost", http_server, timeout=10)
    conn.sock = ssa.create_connection(("localhost", http_server), timeout=10,
                                      cafile=pki / "ca.pem")
    for path in ("/one", "/two"):  # the same connection, twice
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == b"hello %s over ssa\n" % path.encode()
    conn.close()


def test_curl_get(pki, http_server):
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    out = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", str(pki / "ca.pem"),
                          f"https://localhost:{http_server}/curl"],
                         capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"hello /curl over ssa\n"


def test_curl_refuses_untrusted_server(pki, http_server):
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    out = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert",
                          str(pki / "unknown-root.pem"), f"https://localhost:{http_server}/"],
                         capture_output=True, timeout=20)
    assert out.returncode != 0
