#!/usr/bin/env bash
# The main job: a TLS server and a client through the SSA, with a CA made here and now.
# The server names no certificate and the client no trust anchor: the policy (SSA_CONFIG) has both.
set -euo pipefail
build=${1:?usage: demo.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
server_pid= ssad_pid=
cleanup() {
	for p in $server_pid $ssad_pid; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

echo "== making a CA, an intermediate and a certificate for localhost in $work/pki"
bash "$src/tests/pki.sh" "$work/pki" >/dev/null
cat > "$work/ssa.conf" <<CONF
default = {
  trust-file = "$work/pki/ca.pem";
  server-certificates = ( { chain = "$work/pki/localhost-chain.pem"; key = "$work/pki/localhost.key"; } );
};
CONF
export SSA_CONFIG=$work/ssa.conf
echo "== policy ($SSA_CONFIG):"; sed 's/^/   /' "$SSA_CONFIG"
"$build/core/ssa-policy" check "$SSA_CONFIG"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$build/examples/tls_echo_server" "$port" 2 > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q listening "$work/server.log" && break; sleep 0.05; done
cat "$work/server.log"

echo "== the client links libssa and no TLS library (libssa loads its engine with the first TLS socket):"
ldd "$build/examples/.libs/tls_client" | grep -E 'lib(ssa|ssl|crypto|gnutls)[.-]' | sed 's/^[[:space:]]*/   /'
echo "== SSA client:"
"$build/examples/tls_client" localhost "$port" "hello through the Secure Socket API"
echo "== openssl s_client, verifying the same server:"
printf 'hello from openssl s_client, bye\n' | timeout 10 openssl s_client -connect "127.0.0.1:$port" \
	-servername localhost -CAfile "$work/pki/ca.pem" -verify_return_error -quiet 2>/dev/null |
	sed 's/^/   s_client received: /'
wait "$server_pid" 2>/dev/null || true
server_pid=
echo "== server log:"; sed 's/^/   /' "$work/server.log"

echo "== the same programs through ssad, the daemon backend (SSA_BACKEND=daemon):"
# ssad would run as user ssad, who cannot read this demo's files: it stays our user here.
"$build/core/ssad" --config "$SSA_CONFIG" --socket "$work/ssad.sock" --user "$(id -un)" \
	>"$work/ssad.log" 2>&1 &
ssad_pid=$!
for _ in $(seq 100); do grep -q "serving on" "$work/ssad.log" && break; sleep 0.05; done
sed 's/^/   /' "$work/ssad.log"
export SSA_BACKEND=daemon SSA_DAEMON_SOCKET=$work/ssad.sock
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$build/examples/tls_echo_server" "$port" 1 > "$work/server2.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q listening "$work/server2.log" && break; sleep 0.05; done
"$build/examples/tls_client" localhost "$port" "hello through ssad"
wait "$server_pid" 2>/dev/null || true
server_pid=
echo "demo: OK"
