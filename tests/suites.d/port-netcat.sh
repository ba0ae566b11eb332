#!/usr/bin/env bash
# The netcat port (ports/netcat, issue 7): netcat-traditional 1.10-47 with -S, TLS through the
# SSA for connect and listen.  Built against the installed libssa if missing or stale; links no
# TLS library; moves 256 MiB each way between two ports and against openssl s_server/s_client
# with equal SHA-256; refuses a wrong host name, saying why; plain nc still speaks plain TCP.
# Run time: about 30 s on 2 idle cores, most of it the six 256 MiB transfers (SSA_NC_MIB=N
# moves N MiB instead).
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
pki=${SSA_TEST_PKI:?}
src=$(cd "$(dirname "$0")/../.." && pwd)
nc=$src/ports/out/bin/nc
mib=${SSA_NC_MIB:-256}
suite_workdir

if ! pkg-config --exists ssa; then
	ok "netcat port # SKIP libssa is not installed (pkg-config ssa): ./bootstrap build as root"
	echo "1..$n"
	exit 0
fi

# Stale: older than its patch, its build script or the installed header.
stale=no
[ -x "$nc" ] || stale=yes
for f in "$src/ports/netcat/ssa.patch" "$src/ports/netcat/build.sh" \
	"$(pkg-config --variable=includedir ssa)/ssa/in_tls.h"; do
	[ -x "$nc" ] && [ "$f" -nt "$nc" ] && stale=yes
done
if [ $stale = yes ]; then
	if out=$("$src/ports/netcat/build.sh" 2>&1); then
		ok "built ports/out/bin/nc (patch or library newer than the binary)"
	else
		not_ok "build ports/netcat" "$out"
		echo "1..$n"
		exit 1
	fi
fi

needed=$(readelf -d "$nc" | grep NEEDED)
if grep -q 'libssa\.so' <<<"$needed" && ! grep -qE 'libssl|libcrypto|libgnutls' <<<"$needed"; then
	ok "nc links libssa and no TLS library"
else
	not_ok "nc links libssa and no TLS library" "$needed"
fi
check "ldd: no TLS library" "^$" "$(ldd "$nc" | grep -E 'lib(ssl|crypto|gnutls)[.-]')"
tls_syms=$(nm -D --undefined-only "$nc" | grep -E ' (SSL_|TLS_|EVP_|gnutls_)' || true)
if [ -z "$tls_syms" ]; then ok "nc calls no TLS library function"; else not_ok "nc calls no TLS library function" "$tls_syms"; fi
check "nc -h documents -S" "-S[[:space:]]+TLS" "$("$nc" -h 2>&1)"

printf 'default = { trust-file = "%s/ca.pem"; handshake-timeout = 5.0;\n server-certificates = ( { chain = "%s/localhost-chain.pem"; key = "%s/localhost.key"; } ); };\n' \
	"$pki" "$pki" "$pki" >"$work/ssa.conf"
export SSA_CONFIG=$work/ssa.conf

wait_listen() { # PORT: until something listens on it (5 s at most)
	for _ in $(seq 250); do
		[ -n "$(ss -Hltn "sport = :$1")" ] && return 0
		sleep 0.02
	done
	return 1
}
same() { # NAME SUM-FILE
	local got
	got=$(cut -d' ' -f1 "$2")
	if [ "$got" = "$sum" ]; then ok "$1"; else not_ok "$1" "sha256 $got, sent $sum"; fi
}
s_server() { # PORT ARGS...: openssl s_server with the localhost chain, for one connection
	local port=$1
	shift
	exec openssl s_server -accept "127.0.0.1:$port" -cert "$pki/localhost.pem" \
		-cert_chain "$pki/int.pem" -key "$pki/localhost.key" -naccept 1 "$@"
}
s_client() { # PORT ARGS...: openssl s_client verifying "localhost" against the test CA
	local port=$1
	shift
	timeout 120 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
		-verify_hostname localhost -CAfile "$pki/ca.pem" -verify_return_error "$@"
}

head -c $((mib << 20)) /dev/urandom >"$work/data"
sum=$(sha256sum <"$work/data" | cut -d' ' -f1)

# nc -S to nc -S, both ways.  -q 0: shutdown(SHUT_WR) at the end of stdin, then exit.
port=$(free_port)
"$nc" -S -l -s 127.0.0.1 -p "$port" </dev/null 2>"$work/l1.err" | sha256sum >"$work/l1.sum" &
pids+=($!)
wait_listen "$port"
timeout 120 "$nc" -S -q 0 localhost "$port" <"$work/data" 2>"$work/c1.err"
wait "${pids[-1]}"
same "nc -S -> nc -S -l: $mib MiB, same sha256" "$work/l1.sum"

port=$(free_port)
"$nc" -S -l -s 127.0.0.1 -q 0 -p "$port" <"$work/data" 2>"$work/l2.err" &
pids+=($!)
wait_listen "$port"
timeout 120 "$nc" -S localhost "$port" </dev/null 2>"$work/c2.err" | sha256sum >"$work/c2.sum"
same "nc -S -l -> nc -S: $mib MiB, same sha256" "$work/c2.sum"
wait "${pids[-1]}"

# Against openssl s_server.  Its stdin must stay open (EOF ends it) and be silent (it takes
# commands there): a FIFO nobody writes to.
mkfifo "$work/hold"
exec 7<>"$work/hold"
port=$(free_port)
(s_server "$port" -quiet <&7 2>"$work/s3.err") | sha256sum >"$work/s3.sum" &
pids+=($!)
wait_listen "$port"
timeout 120 "$nc" -S -q 0 localhost "$port" <"$work/data" 2>"$work/c3.err"
wait "${pids[-1]}"
same "nc -S -> openssl s_server: $mib MiB, same sha256" "$work/s3.sum"

# openssl s_server -WWW serves the file after a one-line HTTP/1.0 header block.
port=$(free_port)
(cd "$work" && s_server "$port" -WWW -quiet <&7 >/dev/null 2>"$work/s4.err") &
pids+=($!)
wait_listen "$port"
printf 'GET /data HTTP/1.0\r\n\r\n' | timeout 120 "$nc" -S localhost "$port" 2>"$work/c4.err" |
	{ IFS= read -r status; read -r _; read -r _; echo "$status" >"$work/c4.status"; sha256sum; } >"$work/c4.sum"
check "openssl s_server -WWW -> nc -S: HTTP/1.0 200" "^HTTP/1.0 200" "$(cat "$work/c4.status")"
same "openssl s_server -WWW -> nc -S: $mib MiB, same sha256" "$work/c4.sum"
wait "${pids[-1]}" 2>/dev/null

# openssl s_client verifies our listener; -nocommands: the data holds lines starting with Q or R.
port=$(free_port)
"$nc" -S -l -s 127.0.0.1 -p "$port" </dev/null 2>"$work/l5.err" | sha256sum >"$work/l5.sum" &
pids+=($!)
wait_listen "$port"
s_client "$port" -nocommands <"$work/data" >"$work/s5.out" 2>&1
wait "${pids[-1]}"
check "openssl s_client -> nc -S -l: certificate verified" "Verify return code: 0 \(ok\)" "$(cat "$work/s5.out")"
same "openssl s_client -> nc -S -l: $mib MiB, same sha256" "$work/l5.sum"

port=$(free_port)
"$nc" -S -l -s 127.0.0.1 -q 0 -p "$port" <"$work/data" 2>"$work/l6.err" &
pids+=($!)
wait_listen "$port"
s_client "$port" -quiet </dev/null 2>"$work/s6.err" | sha256sum >"$work/s6.sum"
same "nc -S -l -> openssl s_client -quiet: $mib MiB, same sha256" "$work/s6.sum"
wait "${pids[-1]}"

# Refusals.  The listener (on 127.0.0.2) has the certificate of localhost and 127.0.0.1.
port=$(free_port)
"$nc" -S -l -s 127.0.0.2 -p "$port" </dev/null >"$work/l7.out" 2>&1 &
pids+=($!)
wait_listen "$port"
out=$(echo secret | timeout 20 "$nc" -S 127.0.0.2 "$port" 2>&1)
rc=$?
check "nc -S 127.0.0.2: refused, TLS_ERROR says why" "^TLS: certificate verification failed: certificate is not valid for 127\.0\.0\.2" "$out"
check "nc -S 127.0.0.2: exit status 1" "^1$" "$rc"
kill "${pids[-1]}" 2>/dev/null
wait "${pids[-1]}" 2>/dev/null
check "nc -S -l never saw the refused client's data" "^$" "$(cat "$work/l7.out")"

port=$(free_port)
openssl s_server -accept "127.0.0.1:$port" -cert "$pki/wronghost.pem" -cert_chain "$pki/int.pem" \
	-key "$pki/wronghost.key" -naccept 1 -quiet <&7 >"$work/s8.out" 2>&1 &
pids+=($!)
wait_listen "$port"
out=$(echo secret | timeout 20 "$nc" -S localhost "$port" 2>&1)
check "nc -S localhost to a wrong.test certificate: refused, TLS_ERROR says why" \
	"^TLS: certificate verification failed: certificate is not valid for localhost" "$out"
kill "${pids[-1]}" 2>/dev/null
wait "${pids[-1]}" 2>/dev/null
check "openssl s_server never got the data" "^$" "$(grep secret "$work/s8.out")"

printf 'default = { trust-file = "%s/ca.pem"; };\n' "$pki" >"$work/nocert.conf"
out=$(SSA_CONFIG=$work/nocert.conf timeout 10 "$nc" -S -l -s 127.0.0.1 -p "$(free_port)" </dev/null 2>&1)
check "nc -S -l without a certificate in the policy: TLS_ERROR says so" "^TLS listen: no certificate" "$out"
out=$(timeout 10 "$nc" -S -u localhost 53 </dev/null 2>&1)
check "nc -S -u: refused (no DTLS), not silently plain UDP" "Can't get socket : Protocol not supported" "$out"

# Without -S nothing changed: plain TCP both ways, and what -S sends is a TLS ClientHello.
port=$(free_port)
"$nc" -l -s 127.0.0.1 -p "$port" </dev/null 2>/dev/null | sha256sum >"$work/l9.sum" &
pids+=($!)
wait_listen "$port"
head -c 1048576 "$work/data" | timeout 20 "$nc" -q 0 127.0.0.1 "$port"
wait "${pids[-1]}"
sum=$(head -c 1048576 "$work/data" | sha256sum | cut -d' ' -f1)
same "plain nc -> plain nc -l: 1 MiB, same sha256" "$work/l9.sum"

port=$(free_port)
timeout 20 python3 -c '
import socket, sys
s = socket.create_server(("127.0.0.1", int(sys.argv[1])))
c, _ = s.accept()
c.sendall(b"plain hello\n")
c.shutdown(socket.SHUT_WR)
print(c.recv(100).decode().strip())
' "$port" >"$work/py.out" 2>&1 &
pids+=($!)
wait_listen "$port"
out=$(echo "plain reply" | timeout 20 "$nc" -q 1 127.0.0.1 "$port" 2>&1)
wait "${pids[-1]}"
check "plain nc reads a plain TCP server" "^plain hello$" "$out"
check "plain nc writes plain TCP" "^plain reply$" "$(cat "$work/py.out")"

port=$(free_port)
"$nc" -l -s 127.0.0.1 -p "$port" -w 5 </dev/null >"$work/hello.bin" 2>/dev/null &
pids+=($!)
wait_listen "$port"
timeout 20 "$nc" -S -w 2 localhost "$port" </dev/null >/dev/null 2>&1
wait "${pids[-1]}"
check "what nc -S sends first is a TLS handshake record (plain nc -l saw 16 03)" "^1603" \
	"$(head -c 2 "$work/hello.bin" | od -An -tx1 | tr -d ' \n')"

echo "1..$n"
