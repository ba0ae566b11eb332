#!/usr/bin/env bash
# TLS 1.3 0-RTT (issue 4): sendto(MSG_FASTOPEN) on an unconnected TLS socket, a server that
# takes early data only when the policy allows it, replay refused, and openssl s_client /
# s_server -early_data on the other side.
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
pki=${SSA_TEST_PKI:?}
suite_workdir
probe=$build/tests/tls_probe serve=$build/tests/tls_serve

server() { # LOG PORT COUNT
	"$serve" "$2" "$3" >"$1" 2>&1 &
	pids+=($!)
	for _ in $(seq 250); do grep -q listening "$1" && return 0; sleep 0.02; done
}
policy() { # NAME EXTRA
	printf 'default = { trust-file = "%s/ca.pem"; handshake-timeout = 5.0; %s\n server-certificates = ( { chain = "%s/localhost-chain.pem"; key = "%s/localhost.key"; } ); };\n' \
		"$pki" "$2" "$pki" "$pki" >"$work/$1.conf"
	echo "$work/$1.conf"
}
on=$(policy on "early-data = true;")
off=$(policy off "")

port=$(free_port)
SSA_CONFIG=$on server "$work/on.log" "$port" 3
out=$(SSA_CONFIG=$on "$probe" 127.0.0.1 "$port" name=localhost fastopen=hello repeat=3)
check "MSG_FASTOPEN: every reply arrives" "resumed 2 of 3" "$out"
check "first connection: no session yet, so no early data" "conn 1 .* early=0" "$(cat "$work/on.log")"
check "later connections: the 6 bytes came as early data (TLS_EARLY_DATA_RECEIVED)" "conn 3 .*resumed=1 early=6" "$(cat "$work/on.log")"
wait "${pids[-1]}" 2>/dev/null

port=$(free_port)
SSA_CONFIG=$on server "$work/opt.log" "$port" 3
out=$(SSA_CONFIG=$on "$probe" 127.0.0.1 "$port" name=localhost 130=1 send=hello repeat=3)
check "TLS_EARLY_DATA: connect() at once, every reply arrives" "^reply: ok" "$out"
check "TLS_EARLY_DATA: the first write went as early data once a session existed" "conn 3 .*resumed=1 early=[1-9]" "$(cat "$work/opt.log")"
wait "${pids[-1]}" 2>/dev/null
out=$(SSA_CONFIG=$on timeout 10 "$probe" 127.0.0.1 "$(free_port)" name=localhost 130=1 send=hello 2>&1)
# The engine may learn of the refusal before the write (EPIPE, as on any socket whose
# connection has gone) or after it (the read's ECONNRESET): either way TLS_ERROR says why.
check "TLS_EARLY_DATA to a closed port: connect() succeeds, then the write or the read fails" \
	"^connected.*(write: EPIPE|read: ECONNRESET): network error: Connection refused" "$(tr '\n' ' ' <<<"$out")"

port=$(free_port)
SSA_CONFIG=$off server "$work/off.log" "$port" 3
out=$(SSA_CONFIG=$off "$probe" 127.0.0.1 "$port" name=localhost fastopen=hello repeat=3)
check "policy without early-data: data still arrives, after the handshake" "resumed 2 of 3" "$out"
check "policy without early-data: nothing was taken early" "conn 3 .*early=0" "$(cat "$work/off.log")"
wait "${pids[-1]}" 2>/dev/null

# openssl s_client against our server: a session first, then early data with it, then a replay.
port=$(free_port)
SSA_CONFIG=$on server "$work/ossl.log" "$port" 3
printf 'x\n' | timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
	-CAfile "$pki/ca.pem" -sess_out "$work/sess.pem" -ign_eof >/dev/null 2>&1
printf 'early from s_client\n' >"$work/early.txt"
out=$(printf '' | timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
	-CAfile "$pki/ca.pem" -sess_in "$work/sess.pem" -early_data "$work/early.txt" -ign_eof 2>&1)
check "openssl s_client -early_data: accepted by our server" "Early data was accepted" "$out"
out=$(printf '' | timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
	-CAfile "$pki/ca.pem" -sess_in "$work/sess.pem" -early_data "$work/early.txt" -ign_eof 2>&1)
check "the same ticket again (a replay): early data refused" "Early data was rejected" "$out"
sleep 0.2
check "our server read the early bytes and said how many" "conn 2 .*early=20" "$(cat "$work/ossl.log")"
wait "${pids[-1]}" 2>/dev/null

# Our client against openssl s_server -early_data (which prints what it got).
port=$(free_port)
openssl s_server -accept "127.0.0.1:$port" -cert "$pki/localhost.pem" -cert_chain "$pki/int.pem" \
	-key "$pki/localhost.key" -early_data >"$work/s_server.log" 2>&1 </dev/zero &
pids+=($!)
for _ in $(seq 250); do grep -q ACCEPT "$work/s_server.log" && break; sleep 0.02; done
SSA_CONFIG=$on timeout 3 "$probe" 127.0.0.1 "$port" name=localhost fastopen=zero-rtt repeat=2 >/dev/null 2>&1
check "openssl s_server -early_data receives our early data" "Early data received:|zero-rtt" "$(cat "$work/s_server.log")"

echo "1..$n"
