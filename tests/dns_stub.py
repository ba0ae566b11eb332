#!/usr/bin/env python3
"""A DNS stub for tests/suites.d/nonblock-resolve.sh (standard library only).

    dns_stub.py DIR

Answers UDP queries on 127.0.0.1:53 (run it inside a network namespace of the test's own):
slow.test IN A is 127.0.0.1, answered once DIR/go exists or DELAY seconds after the query,
whichever comes first, and DIR/answered is created before the answer leaves; every other name is
NXDOMAIN at once.  Each query and answer is logged on stdout; "ready" once it listens.
"""
import os
import socket
import struct
import sys
import threading
import time

DELAY = 2.0  # the slow name service that an event loop must not wait for


def question(packet):
    """The query's name (lower case), type, and the question section's bytes."""
    labels, i = [], 12
    while packet[i] != 0:
        n = packet[i]
        labels.append(packet[i + 1:i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    qtype = struct.unpack("!H", packet[i + 1:i + 3])[0]
    return ".".join(labels), qtype, packet[12:i + 5]


def answer(packet, addr, sock, where):
    qid = struct.unpack("!H", packet[:2])[0]
    name, qtype, qsection = question(packet)
    print("query %s type %d" % (name, qtype), flush=True)
    if name == "slow.test":
        deadline = time.monotonic() + DELAY
        while not os.path.exists(os.path.join(where, "go")) and time.monotonic() < deadline:
            time.sleep(0.01)
        records = b""
        if qtype == 1:
            records = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton("127.0.0.1")
        header = struct.pack("!HHHHHH", qid, 0x8180, 1, 1 if records else 0, 0, 0)
        open(os.path.join(where, "answered"), "w").close()
    else:
        header = struct.pack("!HHHHHH", qid, 0x8183, 1, 0, 0, 0)  # NXDOMAIN
        records = b""
    sock.sendto(header + qsection + records, addr)
    print("answered %s type %d" % (name, qtype), flush=True)


def main():
    where = sys.argv[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 53))
    print("ready", flush=True)
    while True:
        packet, addr = sock.recvfrom(4096)
        threading.Thread(target=answer, args=(packet, addr, sock, where), daemon=True).start()


if __name__ == "__main__":
    main()
