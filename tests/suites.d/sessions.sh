#!/usr/bin/env bash
# Sessions and ALPN (issue 4): client resumption, a fleet of two servers on one port that
# resume each other's sessions through a shared ticket-key file (and do not without it),
# TLS_SESSION_REUSE = 0, and ALPN against curl.  Prints TAP.
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
pki=${SSA_TEST_PKI:?}
suite_workdir
probe=$build/tests/tls_probe serve=$build/tests/tls_serve

# server LOG PORT COUNT [args...]: a tls_serve in the background, waited for by its output
server() {
	local log=$1
	shift
	"$serve" "$@" >"$log" 2>&1 &
	pids+=($!)
	for _ in $(seq 250); do grep -q listening "$log" && return 0; sleep 0.02; done
	echo "# server did not start: $(cat "$log")"
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; pids=(); }

head -c 160 /dev/urandom >"$work/tickets.key" # two keys: the first issues, both are accepted
policy() { # NAME EXTRA
	printf 'default = { trust-file = "%s/ca.pem"; handshake-timeout = 5.0;\n server-certificates = ( { chain = "%s/localhost-chain.pem"; key = "%s/localhost.key"; } );\n %s };\n' \
		"$pki" "$pki" "$pki" "$2" >"$work/$1.conf"
	echo "$work/$1.conf"
}
shared=$(policy shared "ticket-key-file = \"$work/tickets.key\";")
own=$(policy own "")
N=24

port=$(free_port)
SSA_CONFIG=$own server "$work/one.log" "$port" "$N"
out=$(SSA_CONFIG=$own "$probe" 127.0.0.1 "$port" name=localhost send=x repeat=$N)
check "one server: every connection after the first resumes" "resumed $((N - 1)) of $N" "$out"
check "the server saw them as resumed" "conn $N alpn= resumed=1" "$(cat "$work/one.log")"
stop_all

# Against openssl s_server: the client side of resumption with another implementation.
port=$(free_port)
openssl s_server -accept "127.0.0.1:$port" -cert "$pki/localhost.pem" -cert_chain "$pki/int.pem" \
	-key "$pki/localhost.key" -rev >"$work/s_server.log" 2>&1 </dev/zero &
pids+=($!)
for _ in $(seq 250); do grep -q ACCEPT "$work/s_server.log" && break; sleep 0.02; done
out=$(SSA_CONFIG=$own "$probe" 127.0.0.1 "$port" name=localhost send=x repeat=4)
check "against openssl s_server: every connection after the first resumes" "resumed 3 of 4" "$out"
stop_all

port=$(free_port)
SSA_CONFIG=$own server "$work/one.log" "$port" 4
out=$(SSA_CONFIG=$own "$probe" 127.0.0.1 "$port" name=localhost send=x repeat=4 108=0)
check "TLS_SESSION_REUSE = 0: no connection resumes" "resumed 0 of 4" "$out"
stop_all

# Two processes on one port (SO_REUSEPORT): the kernel spreads connections over both.
port=$(free_port)
SSA_CONFIG=$shared server "$work/a.log" "$port" "$N" reuseport
SSA_CONFIG=$shared server "$work/b.log" "$port" "$N" reuseport
out=$(SSA_CONFIG=$shared "$probe" 127.0.0.1 "$port" name=localhost send=x repeat=$N)
served_a=$(grep -c '^conn' "$work/a.log") served_b=$(grep -c '^conn' "$work/b.log")
check "fleet sharing ticket-key-file: every connection after the first resumes" "resumed $((N - 1)) of $N" "$out"
[ "$served_a" -gt 0 ] && [ "$served_b" -gt 0 ] && ok "fleet: both servers served ($served_a + $served_b)" ||
	not_ok "fleet: both servers served" "a served $served_a, b served $served_b"
stop_all

port=$(free_port)
SSA_CONFIG=$own server "$work/a.log" "$port" "$N" reuseport
SSA_CONFIG=$own server "$work/b.log" "$port" "$N" reuseport
out=$(SSA_CONFIG=$own "$probe" 127.0.0.1 "$port" name=localhost send=x repeat=$N)
resumed=$(sed -n 's/^resumed \([0-9]*\) of.*/\1/p' <<<"$out")
[ -n "$resumed" ] && [ "$resumed" -lt $((N - 1)) ] && ok "fleet with a key each: sessions from the other server do not resume ($resumed of $N)" ||
	not_ok "fleet with a key each: sessions from the other server do not resume" "$out"
stop_all

port=$(free_port)
SSA_CONFIG=$own server "$work/alpn.log" "$port" 3 alpn=h2,http/1.1
curl_alpn() { curl -sv --max-time 5 --cacert "$pki/ca.pem" --resolve "localhost:$port:127.0.0.1" "$@" "https://localhost:$port/" 2>&1; }
out=$(curl_alpn --http2)
check "ALPN: curl --http2 gets h2" "ALPN.*server accepted h2" "$out"
out=$(curl_alpn --http1.1)
check "ALPN: curl --http1.1 gets http/1.1" "ALPN.*server accepted http/1.1" "$out"
sleep 0.2
check "ALPN: the server reads the negotiated protocol" "alpn=h2" "$(cat "$work/alpn.log")"
stop_all

port=$(free_port)
SSA_CONFIG=$own server "$work/alpn.log" "$port" 1 alpn=h2
out=$(curl_alpn --http1.1)
check "ALPN without overlap: the handshake fails (no_application_protocol)" "no application protocol|alert number 120|SSL_ERROR|error:0A000460" "$out"
stop_all

echo "1..$n"
