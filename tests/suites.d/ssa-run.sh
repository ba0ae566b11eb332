#!/usr/bin/env bash
# ssa-run gives TLS to unmodified programs: a C program built without libssa, and Debian's
# python3 with plain socket.socket(AF_INET, SOCK_STREAM, 205).  Prints TAP.
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
pki=${SSA_TEST_PKI:?}
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
export SSA_PRELOAD=$build/core/.libs/libssa.so.0
ssa_run=$build/core/ssa-run


# openssl s_server -rev answers each line reversed.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl s_server -accept "127.0.0.1:$port" -cert "$pki/localhost.pem" -key "$pki/localhost.key" \
	-cert_chain "$pki/int.pem" -rev -ign_eof >"$work/s_server.log" 2>&1 </dev/zero &
server=$!
for _ in $(seq 200); do grep -q ACCEPT "$work/s_server.log" && break; sleep 0.02; done

out=$("$build/tests/plain_tls_client" localhost "$port" "$pki/ca.pem" $'hello\n' 2>&1)
check "without ssa-run, protocol 205 is refused by the kernel" "socket: Protocol not supported" "$out"

out=$("$ssa_run" "$build/tests/plain_tls_client" localhost "$port" "$pki/ca.pem" $'hello\n' 2>&1)
check "ssa-run: unmodified C program gets verified TLS" "reply: olleh" "$out"

out=$("$ssa_run" "$build/tests/plain_tls_client" wrong.test "$port" "$pki/ca.pem" $'hello\n' 2>&1)
check "ssa-run: C program sees EPROTO for a wrong host name" "connect: Protocol error \(certificate verification failed: certificate is not valid for wrong.test\)" "$out"

py='
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 205)
s.setsockopt(205, 85, sys.argv[1].encode() + b"\0")
s.setsockopt(205, 87, sys.argv[3].encode() + b"\0")
try:
    s.connect(("127.0.0.1", int(sys.argv[2])))
except OSError as e:
    print("connect:", e.errno, s.getsockopt(205, 100, 256).rstrip(b"\0").decode())
    sys.exit(1)
s.sendall(b"hello python\n")
print("reply:", s.recv(100).decode().strip())
print("peer:", s.getsockopt(205, 93, 256).rstrip(b"\0").decode())
s.close()
'
out=$("$ssa_run" python3 -c "$py" localhost "$port" "$pki/ca.pem" 2>&1)
check "ssa-run python3: plain socket.socket(AF_INET, SOCK_STREAM, 205) gets verified TLS" "reply: nohtyp olleh" "$out"
check "ssa-run python3: TLS_PEER_IDENTITY readable" "peer: /CN=localhost" "$out"

out=$("$ssa_run" python3 -c "$py" wrong.test "$port" "$pki/ca.pem" 2>&1)
check "ssa-run python3: wrong host name raises OSError EPROTO (71) with the reason" "connect: 71 certificate verification failed" "$out"

out=$("$ssa_run" /nonexistent/program 2>&1); rc=$?
check "ssa-run: missing program gives exit 127 and a message" "ssa-run: /nonexistent/program" "$out rc=$rc"
[ "$rc" -eq 127 ] && ok "ssa-run: exit status 127" || not_ok "ssa-run: exit status 127" "got $rc"

echo "1..$n"
