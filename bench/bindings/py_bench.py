#!/usr/bin/python3
"""Python side of bench/bindings.sh: one server and one client, TLS from the ssl module
("native") or from the SSA binding ("ssa").

    py_bench.py server --variant native|ssa --cert CHAIN --key KEY
        listens on 127.0.0.1, port 0; prints "PORT n", then serves one connection after the
        other until killed.
    py_bench.py client --variant native|ssa --port P --ca CA.pem
                       --scenario bulk --bytes N | --scenario handshake --conns C
        prints one "RESULT key=value ..." line.

Wire protocol (the same in every language): the client's first byte says the scenario.
  'B' + 8-byte big-endian N + N bytes -> the server reads and discards them, replies 1 byte.
  'H'                                 -> the server replies 1 byte; both close.
Both variants: TLS 1.3 only, server certificate verified against CA.pem for "localhost", no
session tickets and no client session cache, so every handshake is a full one.
"""
import argparse
import os
import socket
import ssl
import struct
import sys
import time

CHUNK = 256 * 1024
HOST = "127.0.0.1"
NAME = "localhost"


def load_ssa():
    import ssa  # from PYTHONPATH=BUILD/bindings/python
    return ssa


# ---------------------------------------------------------------------------------------------
# TLS set-up per variant


def native_server_ctx(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    ctx.options |= ssl.OP_NO_TICKET
    ctx.num_tickets = 0
    return ctx


def native_client_ctx(ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + check_hostname
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(ca)
    ctx.options |= ssl.OP_NO_TICKET
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    return ctx


class Native:
    def __init__(self, args):
        self.args = args
        self.ctx = None

    def listen(self):
        self.ctx = native_server_ctx(self.args.cert, self.args.key)
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((HOST, 0))
        ls.listen(128)
        return ls

    def accept(self, ls):
        conn, _ = ls.accept()
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return self.ctx.wrap_socket(conn, server_side=True)  # handshake here
        except (ssl.SSLError, OSError):
            conn.close()
            raise

    def connect(self, port):
        if self.ctx is None:
            self.ctx = native_client_ctx(self.args.ca)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.connect((HOST, port))
            return self.ctx.wrap_socket(s, server_hostname=NAME)  # handshake + verification
        except BaseException:
            s.close()
            raise

    @staticmethod
    def negotiated(s):
        return s.version().replace("TLSv", ""), s.cipher()[0]

    @staticmethod
    def resumed(s):
        return 1 if s.session_reused else 0


class Ssa:
    def __init__(self, args):
        self.args = args
        self.ssa = load_ssa()

    def listen(self):
        ssa = self.ssa
        ls = ssa.socket(socket.AF_INET, socket.SOCK_STREAM, ssa.IPPROTO_TLS)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_CERTIFICATE_CHAIN, self.args.cert)
        ls.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_PRIVATE_KEY, self.args.key)
        ls.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_VERSION_MIN, ssa.TLS_1_3)
        ls.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_SESSION_TTL, 0)  # no session cache, no tickets
        ls.bind((HOST, 0))
        ls.listen(128)
        return ls

    def accept(self, ls):
        conn, _ = ls.accept()  # handshaken connections only
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # on the TCP connection
        return conn

    def connect(self, port):
        ssa = self.ssa
        s = ssa.socket(socket.AF_INET, socket.SOCK_STREAM, ssa.IPPROTO_TLS)
        try:
            s.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_REMOTE_HOSTNAME, NAME)
            s.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_TRUSTED_PEER_CERTIFICATES, self.args.ca)
            s.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_VERSION_MIN, ssa.TLS_1_3)
            s.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_SESSION_REUSE, 0)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # on the TCP connection
            s.connect((HOST, port))  # TCP + handshake + verification
            return s
        except BaseException:
            s.close()
            raise

    def negotiated(self, s):
        ssa = self.ssa
        v = s.getsockopt(ssa.IPPROTO_TLS, ssa.TLS_VERSION_CONN)
        version = {ssa.TLS_1_3: "1.3", ssa.TLS_1_2: "1.2"}.get(v, hex(v))
        return version, s.getsockopt_str(ssa.TLS_CHOSEN_CIPHER)

    def resumed(self, s):
        return s.getsockopt(self.ssa.IPPROTO_TLS, self.ssa.TLS_RESUMED_SESSION)


VARIANTS = {"native": Native, "ssa": Ssa}


# ---------------------------------------------------------------------------------------------


def recv_exact(s, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = s.recv_into(view[got:])
        if k == 0:
            raise ConnectionError("peer closed early")
        got += k
    return bytes(buf)


def serve(args):
    v = VARIANTS[args.variant](args)
    ls = v.listen()
    print(f"PORT {ls.getsockname()[1]}", flush=True)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        try:
            c = v.accept(ls)
        except (ssl.SSLError, OSError) as e:
            print(f"accept: {e}", file=sys.stderr, flush=True)
            continue
        try:
            op = recv_exact(c, 1)
            if op == b"B":
                (left,) = struct.unpack(">Q", recv_exact(c, 8))
                while left > 0:
                    k = c.recv_into(view, min(left, CHUNK))
                    if k == 0:
                        raise ConnectionError("client closed early")
                    left -= k
                c.sendall(b"k")
            elif op == b"H":
                c.sendall(b"h")
            else:
                raise ValueError(f"unknown scenario byte {op!r}")
        except (ssl.SSLError, OSError, ValueError) as e:
            print(f"connection: {e}", file=sys.stderr, flush=True)
        finally:
            c.close()


def client(args):
    v = VARIANTS[args.variant](args)
    if args.scenario == "bulk":
        n = args.bytes
        data = memoryview(os.urandom(CHUNK))
        s = v.connect(args.port)
        version, cipher = v.negotiated(s)
        t0 = time.perf_counter()
        s.sendall(b"B" + struct.pack(">Q", n))
        left = n
        while left > 0:
            k = min(left, CHUNK)
            s.sendall(data[:k])
            left -= k
        if recv_exact(s, 1) != b"k":
            raise ConnectionError("bad receipt")
        dt = time.perf_counter() - t0
        s.close()
        print(f"RESULT scenario=bulk bytes={n} secs={dt:.4f} mibps={n / dt / 1048576:.1f} "
              f"tls={version} cipher={cipher}", flush=True)
    else:
        def one():
            s = v.connect(args.port)
            s.sendall(b"H")
            if recv_exact(s, 1) != b"h":
                raise ConnectionError("bad reply")
            r = v.resumed(s)
            s.close()
            return r

        # One untimed connection first: contexts, trust store, engine threads.
        s = v.connect(args.port)
        version, cipher = v.negotiated(s)
        s.sendall(b"H")
        recv_exact(s, 1)
        s.close()
        resumed = 0
        t0 = time.perf_counter()
        for _ in range(args.conns):
            resumed += one()
        dt = time.perf_counter() - t0
        print(f"RESULT scenario=handshake conns={args.conns} concurrency=1 secs={dt:.4f} "
              f"hps={args.conns / dt:.1f} resumed={resumed} tls={version} cipher={cipher}",
              flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--ca")
    p.add_argument("--port", type=int)
    p.add_argument("--scenario", choices=["bulk", "handshake"])
    p.add_argument("--bytes", type=int, default=256 << 20)
    p.add_argument("--conns", type=int, default=500)
    args = p.parse_args()
    if args.role == "server":
        serve(args)
    else:
        client(args)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
