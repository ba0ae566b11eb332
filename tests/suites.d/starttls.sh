#!/usr/bin/env bash
# STARTTLS (TCP_UPGRADE_TLS, issue 4): an SMTP-style exchange (greeting, EHLO, STARTTLS, then
# TLS on the same descriptor) between our client and server, against openssl s_client
# -starttls smtp, and an upgrade straight after connect against openssl s_server.
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
pki=${SSA_TEST_PKI:?}
suite_workdir
smtp=$build/tests/starttls_smtp

serve() { # PORT: one SMTP session in the background, waited for
	"$smtp" server "$1" >"$work/server.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 250); do grep -q listening "$work/server.log" && return 0; sleep 0.02; done
}
printf 'default = { trust-file = "%s/ca.pem"; handshake-timeout = 5.0;\n server-certificates = ( { chain = "%s/localhost-chain.pem"; key = "%s/localhost.key"; } ); };\n' \
	"$pki" "$pki" "$pki" >"$work/ssa.conf"
export SSA_CONFIG=$work/ssa.conf

port=$(free_port)
serve "$port"
out=$(timeout 10 "$smtp" client "$port" localhost 2>&1)
check "our client: plaintext EHLO, STARTTLS, then verified TLS" "upgraded, server /CN=localhost" "$out"
check "our client: the reply came over TLS" "250 ok \(over TLS\)" "$out"
wait "${pids[-1]}" 2>/dev/null
check "our server: upgraded and read the client's commands over TLS" "server heard: QUIT" "$(cat "$work/server.log")"

port=$(free_port)
serve "$port"
out=$(printf 'EHLO s_client\r\nQUIT\r\n' | timeout 10 openssl s_client -starttls smtp \
	-connect "127.0.0.1:$port" -servername localhost -CAfile "$pki/ca.pem" -verify_return_error \
	-ign_eof 2>&1)
check "openssl s_client -starttls smtp: verified against our server" "Verify return code: 0 \(ok\)" "$out"
check "openssl s_client -starttls smtp: SMTP goes on over TLS" "250 ok \(over TLS\)" "$out"
wait "${pids[-1]}" 2>/dev/null

port=$(free_port)
serve "$port"
out=$(timeout 10 "$smtp" client "$port" wrong.test 2>&1)
check "our client: wrong host name refused at the upgrade (EPROTO)" "upgrade: Protocol error \(certificate verification failed: certificate is not valid for wrong.test\)" "$out"
kill "${pids[-1]}" 2>/dev/null
wait 2>/dev/null

# openssl s_server speaks TLS at once: an upgrade before any plaintext.
port=$(free_port)
openssl s_server -accept "127.0.0.1:$port" -cert "$pki/localhost.pem" -cert_chain "$pki/int.pem" \
	-key "$pki/localhost.key" -rev >"$work/s_server.log" 2>&1 </dev/zero &
pids+=($!)
for _ in $(seq 250); do grep -q ACCEPT "$work/s_server.log" && break; sleep 0.02; done
out=$(timeout 10 python3 - "$build/core/.libs/libssa.so.0" "$port" <<'PY' 2>&1
import ctypes, socket, sys
lib = ctypes.CDLL(sys.argv[1], use_errno=True)
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
name = b"localhost\0"
if lib.ssa_setsockopt(s.fileno(), socket.IPPROTO_TCP, 33, name, len(name)) != 0:
    print("upgrade failed", ctypes.get_errno()); sys.exit(1)
s.sendall(b"hello\n")
print("reply:", s.recv(100).decode().strip())
PY
)
check "upgrade straight after connect, against openssl s_server" "reply: olleh" "$out"

echo "1..$n"
