#!/usr/bin/env bash
# Unmodified programs through ssa-run (issue 15, item 7), in both backends: socat as a TLS
# server in fork mode (SOCKET-LISTEN:2:205:...,fork) with the policy's certificate, answering
# curl; socat as a client (SOCKET-CONNECT:2:205:...) verifying openssl s_server by its IP SAN;
# Python's socketserver.ForkingTCPServer on protocol 205; and getsockname() on a TLS socket
# that is not connected answering as TCP's does (socat warned "getsockname(...): Transport
# endpoint is not connected" after a refused connect).  Needs root (ssad's test environment).
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
. "$(dirname "$0")/../ssad-env.sh"
command -v socat >/dev/null || { echo "1..0 # SKIP socat is not installed"; exit 0; }
export SSA_PRELOAD=$build/core/.libs/libssa.so.0
ssa_run=$build/core/ssa-run
cat >"$work/ssa.conf" <<EOF2
default = {
  trust-file = "$work/pki/ca.pem";
  handshake-timeout = 5.0;
  server-certificates = ( { chain = "$work/pki/localhost-chain.pem"; key = "$work/pki/policy.key"; } );
};
EOF2
start_ssad || { not_ok "ssad starts" "$(cat "$work/ssad.log")"; echo "1..$n"; exit 1; }

# socat's generic socket address for 127.0.0.1:PORT: struct sockaddr_in without its family
# (port in network order, the address, eight bytes of zero), in hex.
sockaddr_hex() { printf 'x%04x7f0000010000000000000000' "$1"; }

# An HTTP/1.0 answer to one request, for socat's EXEC.
cat >"$work/respond.sh" <<'EOF2'
#!/bin/sh
read -r line
printf 'HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n'
EOF2
chmod 755 "$work/respond.sh"

# Python's ForkingTCPServer, made on protocol 205: one line in, "pid: line" out, per child.
cat >"$work/forking.py" <<'EOF2'
import os, socket, socketserver, sys

class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline().decode().strip()
        self.wfile.write(("%d: %s\n" % (os.getpid(), line)).encode())

class TLSForkingServer(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    def __init__(self, address, handler):
        socketserver.BaseServer.__init__(self, address, handler)
        self.socket = socket.socket(self.address_family, self.socket_type, 205)
        self.server_bind()
        self.server_activate()

with TLSForkingServer(("127.0.0.1", 0), Handler) as srv:
    print("listening on", srv.server_address[1], flush=True)
    srv.serve_forever()
EOF2

# A client of the standard ssl module (not through SSA): sends its name, prints the answer.
cat >"$work/client.py" <<'EOF2'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall((sys.argv[3] + "\n").encode())
        print(s.makefile().readline().strip())
EOF2

# getsockname() of a TLS socket and a TCP socket side by side, in the states where the TLS
# socket has no TCP socket of its own to ask: after a refused connect(), and a listener's
# inherited by a forked child.  Prints "same" for each state where the answers agree.
cat >"$work/names.py" <<'EOF2'
import os, select, socket, sys

def refused(proto):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
    except BlockingIOError:
        pass
    select.select([], [s], [], 10)
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    try:
        name = s.getsockname()[0]
    except OSError as e:
        name = "errno %d" % e.errno
    return err, name

def fresh(proto, family):
    with socket.socket(family, socket.SOCK_STREAM, proto) as s:
        try:
            return s.getsockname()[:2]
        except OSError as e:
            return "errno %d" % e.errno

def in_child(proto):
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
    l.bind(("127.0.0.1", 0))
    l.listen(4)
    want = l.getsockname()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            got = l.getsockname()
        except OSError as e:
            got = "errno %d" % e.errno
        os.write(w, ("same" if got == want else "%r, not %r" % (got, want)).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    return os.read(r, 200).decode()

tcp, tls = refused(0), refused(205)
print("refused:", "same" if tls == tcp else "TCP %r, TLS %r" % (tcp, tls))
for fam in (socket.AF_INET, socket.AF_INET6):
    a, b = fresh(0, fam), fresh(205, fam)
    print("fresh %d:" % fam, "same" if a == b else "TCP %r, TLS %r" % (a, b))
print("child listener:", in_child(205))
EOF2

for backend in inprocess daemon; do
	if [ "$backend" = daemon ]; then
		env=(env -u SSA_CONFIG SSA_BACKEND=daemon SSA_DAEMON_SOCKET="$sock")
	else
		env=(env SSA_BACKEND=inprocess SSA_CONFIG="$work/ssa.conf")
	fi
	run() { "${env[@]}" "$ssa_run" "$@"; }

	# socat, fork mode, the policy's certificate; curl verifies it.
	port=$(free_port)
	run socat -d -d "SOCKET-LISTEN:2:205:$(sockaddr_hex "$port"),reuseaddr,fork" \
		"EXEC:$work/respond.sh" >"$work/socat-$backend.log" 2>&1 &
	socat_pid=$!
	pids+=("$socat_pid")
	wait_for_line "$work/socat-$backend.log" "listening on" 10
	out=""
	for i in 1 2 3; do
		out+="$(timeout 10 curl -sS --cacert "$work/pki/ca.pem" "https://localhost:$port/" 2>&1) "
	done
	check "$backend: socat SOCKET-LISTEN:2:205 fork server, the policy's certificate: 3 curl requests in turn" \
		"^ok ok ok $" "$out"
	for i in 1 2 3 4 5 6; do
		timeout 10 curl -sS --cacert "$work/pki/ca.pem" "https://localhost:$port/" \
			>"$work/curl-$backend-$i.out" 2>&1 &
	done
	wait_curls=$(jobs -p | grep -vxF "$socat_pid" | grep -vxF "${ssad_pid:-}")
	for p in $wait_curls; do wait "$p"; done
	out=$(cat "$work"/curl-"$backend"-*.out | tr '\n' ' ')
	check "$backend: socat fork server: 6 concurrent curl requests" "^(ok ){6}$" "$out"
	check "$backend: socat's log has no getsockname warning" "^none$" \
		"$(grep -h 'W getsockname' "$work/socat-$backend.log" || echo none)"
	kill "$socat_pid" 2>/dev/null
	wait "$socat_pid" 2>/dev/null

	# socat as a client, verifying the server's IP SAN (127.0.0.1, no DNS name).
	for leaf in ipv4only wronghost; do
		openssl s_server -accept 127.0.0.1:0 -cert "$pki/$leaf.pem" -key "$pki/$leaf.key" \
			-cert_chain "$pki/int.pem" -rev -ign_eof >"$work/s_server-$leaf.log" 2>&1 </dev/zero &
		s_pid=$!
		pids+=("$s_pid")
		wait_for_line "$work/s_server-$leaf.log" "^ACCEPT" 10
		sport=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$work/s_server-$leaf.log")
		out=$(echo hello | timeout 10 "${env[@]}" "$ssa_run" socat -d -d - \
			"SOCKET-CONNECT:2:205:$(sockaddr_hex "$sport")" 2>&1)
		if [ "$leaf" = ipv4only ]; then
			check "$backend: socat SOCKET-CONNECT:2:205 verifies 127.0.0.1 by the certificate's IP SAN" \
				"olleh" "$out"
		else
			check "$backend: socat SOCKET-CONNECT:2:205 refuses a certificate without 127.0.0.1" \
				"E connect.*Protocol error" "$out"
		fi
		kill "$s_pid" 2>/dev/null
		wait "$s_pid" 2>/dev/null
	done

	# Python's ForkingTCPServer on protocol 205, answering the ssl module's clients.
	run python3 "$work/forking.py" >"$work/forking-$backend.log" 2>&1 &
	py_pid=$!
	pids+=("$py_pid")
	wait_for_line "$work/forking-$backend.log" "listening on" 10
	pport=$(sed -n 's/^listening on //p' "$work/forking-$backend.log")
	out=""
	for i in 1 2 3; do
		out+="$(timeout 15 python3 "$work/client.py" "$pport" "$work/pki/ca.pem" "seq$i" 2>&1) "
	done
	for i in 1 2 3 4; do
		timeout 15 python3 "$work/client.py" "$pport" "$work/pki/ca.pem" "con$i" \
			>"$work/py-$backend-$i.out" 2>&1 &
	done
	for p in $(jobs -p | grep -vxF "$py_pid" | grep -vxF "${ssad_pid:-}"); do wait "$p"; done
	out+=$(cat "$work"/py-"$backend"-*.out | tr '\n' ' ')
	check "$backend: socketserver.ForkingTCPServer on protocol 205 serves 3 clients in turn and 4 at once" \
		"^[0-9]+: seq1 [0-9]+: seq2 [0-9]+: seq3 [0-9]+: con1 [0-9]+: con2 [0-9]+: con3 [0-9]+: con4 $" "$out"
	kill "$py_pid" 2>/dev/null
	wait "$py_pid" 2>/dev/null

	# getsockname() before a connection, as TCP answers it.
	closed=$(free_port)
	out=$(timeout 20 "${env[@]}" "$ssa_run" python3 "$work/names.py" "$closed" 2>&1)
	check "$backend: getsockname() after a refused connect() answers as TCP, not ENOTCONN" \
		"refused: same" "$out"
	check "$backend: getsockname() on a new socket answers as TCP (IPv4 and IPv6)" \
		"fresh 2: same.*fresh 10: same" "$(tr '\n' ' ' <<<"$out")"
	check "$backend: getsockname() on a listener inherited by a forked child gives its address" \
		"child listener: same" "$out"
	out=$(echo hi | timeout 10 "${env[@]}" "$ssa_run" socat -d -d - \
		"SOCKET-CONNECT:2:205:$(sockaddr_hex "$closed")" 2>&1)
	check "$backend: socat to a closed port: connection refused, no getsockname warning" \
		"^refused$" "$(grep -q 'W getsockname' <<<"$out" && echo "$out" ||
			{ grep -q 'Connection refused' <<<"$out" && echo refused || echo "$out"; })"
done
echo "1..$n"
