#!/usr/bin/env python3
"""The peer of tests/soak.c (tests/suites.d/soak.sh): a TLS server, Python's ssl, that acts out
each way a connection can end.  Usage: soak_peer.py CHAIN KEY; prints "ports TLS PLAIN" once
listening (both on 127.0.0.1, port 0), then serves until killed.

On the TLS port the client sends one command line, then:
  echo N      N bytes follow; they are sent back, then close_notify (a completed transfer)
  rst N K     K bytes of N are sent back, then a TCP RST (SO_LINGER 0)
  fin N K     K bytes of N are sent back, then a TCP FIN without close_notify
  sink N K    the client writes N bytes; after K of them the peer resets (the client is
              mid-write: it must see EPIPE or ECONNRESET)
  hold        the client reads a byte then stops (it is killed, or closes mid-write); the peer
              reads to the end and counts how the stream ended
  stats       one line back: "killed-notify A killed-cut B"
The PLAIN port speaks a STARTTLS preamble ("220 ready" / "STARTTLS" / "220 go"), then TLS and
the same commands."""
import socket, ssl, struct, sys, threading

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
lock = threading.Lock()
ends = {"notify": 0, "cut": 0}


def line_of(s):
    """One line, a byte at a time: nothing after it may be consumed (STARTTLS)."""
    out = b""
    while not out.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            raise EOFError
        out += b
    return out.decode().split()


def read_exact(s, n):
    data = bytearray()
    while len(data) < n:
        b = s.recv(min(65536, n - len(data)))
        if not b:
            raise EOFError
        data += b
    return bytes(data)


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def hold(s):
    how = "notify"
    try:
        s.sendall(b"x")
        while s.recv(65536):
            pass
    except (ssl.SSLEOFError, ConnectionResetError, ssl.SSLError, OSError):
        how = "cut"
    with lock:
        ends[how] += 1
    s.close()


def session(s):
    cmd = line_of(s)
    if cmd[0] == "echo":
        s.sendall(read_exact(s, int(cmd[1])))
        s.unwrap()  # close_notify, and the client's in turn
        s.close()
    elif cmd[0] in ("rst", "fin"):
        n, k = int(cmd[1]), int(cmd[2])
        s.sendall(read_exact(s, n)[:k])
        if cmd[0] == "rst":
            reset(s)
        else:
            s.shutdown(socket.SHUT_RDWR)  # a FIN; SSLSocket.shutdown sends no close_notify
            s.close()
    elif cmd[0] == "sink":
        read_exact(s, int(cmd[2]))
        reset(s)
    elif cmd[0] == "hold":
        hold(s)
    elif cmd[0] == "stats":
        with lock:
            s.sendall(b"killed-notify %d killed-cut %d\n" % (ends["notify"], ends["cut"]))
        s.unwrap()
        s.close()


def serve(conn, starttls):
    try:
        conn.settimeout(60)
        if starttls:
            conn.sendall(b"220 ready\r\n")
            if line_of(conn)[0] != "STARTTLS":
                return conn.close()
            conn.sendall(b"220 go\r\n")
        session(ctx.wrap_socket(conn, server_side=True, suppress_ragged_eofs=False))
    except Exception:
        conn.close()  # a cut from the client's side: nothing to count here


def loop(listener, starttls):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, starttls), daemon=True).start()


listeners = []
for _ in range(2):
    l = socket.socket()
    l.bind(("127.0.0.1", 0))
    l.listen(256)
    listeners.append(l)
threading.Thread(target=loop, args=(listeners[1], True), daemon=True).start()
print("ports %d %d" % (listeners[0].getsockname()[1], listeners[1].getsockname()[1]), flush=True)
loop(listeners[0], False)
