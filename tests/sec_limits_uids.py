"""Many users come and go at ssad (tests/suites.d/sec-limits.sh): as root, a child per uid in
[FIRST, FIRST + COUNT) connects to ssad's socket and leaves; then one more new uid asks ssad a
question (SSA_OP_LOOKUP, core/ssa_proto.h) and prints "answered" or "refused".

    python3 sec_limits_uids.py SOCKET FIRST COUNT
"""
import os
import socket
import struct
import sys

MAGIC = 0x53534131
OP_LOOKUP = 12


def as_uid(uid, work):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            code = work()
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1]


def knock(path):
    def work():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
        return 0
    return work


def ask(path):
    def work():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
            r, w = os.pipe()
            socket.send_fds(s, [struct.pack("<IIiiiIIi", MAGIC, OP_LOOKUP, 0, 0, 0, 0, 0, 0)], [r])
            reply = s.recv(32, socket.MSG_WAITALL)
        print("answered" if len(reply) == 32 else "refused", flush=True)
        return 0
    return work


def main():
    path, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for uid in range(first, first + count):
        as_uid(uid, knock(path))
    as_uid(first + count, ask(path))


main()
