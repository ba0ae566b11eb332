#!/usr/bin/env bash
# Certificate verification matrix (issue 3): an SSA client (tests/tls_probe) against
# openssl s_server presenting certificates from tests/pki-matrix.sh.  What must be refused
# (SHA-1 signatures, small keys, intermediates that are not CAs, missing intermediates,
# wildcards beyond one whole label, addresses written as names, old protocol versions, ciphers
# without forward secrecy or AEAD) fails with EPROTO and a TLS_ERROR naming the reason; what must
# work (RSA 2048/4096, P-256/P-384, Ed25519, chains of three and four, wildcards, IP SANs)
# connects.  Prints TAP.
set -uo pipefail
build=$1
work=$(mktemp -d)
n=0 failed=0 pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
probe=$build/tests/tls_probe
libssa=$build/core/.libs/libssa.so

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)) failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '# %s\n' "$@"; }
check() { # NAME EXPECTED-REGEX OUTPUT
	if grep -qE -- "$2" <<<"$3"; then ok "$1"; else not_ok "$1" "expected /$2/, got:" "$3"; fi
}
free_port() { # [ADDRESS]
	python3 -c 'import socket,sys; a=sys.argv[1]; s=socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET); s.bind((a,0)); print(s.getsockname()[1])' "${1:-127.0.0.1}"
}
wait_port() { for _ in $(seq 250); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.02; done; return 1; }
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; pids=(); }

pki=$work/pki
bash "$(dirname "$0")/../pki-matrix.sh" "$pki" >"$work/pki.log" 2>&1 ||
	{ not_ok "matrix PKI" "$(cat "$work/pki.log")"; echo "1..$n"; exit 1; }

policy() { # policy NAME SETTINGS
	printf 'default = { trust-file = "%s/root.pem"; handshake-timeout = 5.0; %s };\n' "$pki" "$2" >"$work/$1.conf"
	echo "$work/$1.conf"
}
plain=$(policy plain '')
tls13=$(policy tls13 'min-version = "TLS1.3";')
tls12=$(policy tls12 'max-version = "TLS1.2";')
depth1=$(policy depth1 'verify-depth = 1;')
level3=$(policy level3 'security-level = 3;')

# serve LEAF [s_server options]: s_server for LEAF (with its intermediates) on 127.0.0.1 and a
# fresh port; sets $port and $log (what the server printed).  Stops the previous server.
serve() { serve_on 127.0.0.1 "$@"; }
serve_on() {
	local addr=$1 leaf=$2 ints=()
	shift 2
	stop_all
	port=$(free_port "$addr") log=$work/server-$port.log
	[ -f "$pki/$leaf-ints.pem" ] && ints=(-cert_chain "$pki/$leaf-ints.pem")
	[[ $addr == *:* ]] && addr="[$addr]"
	openssl s_server -accept "$addr:$port" -cert "$pki/$leaf.pem" -key "$pki/$leaf.key" \
		"${ints[@]}" -www "$@" >"$log" 2>&1 </dev/zero &
	pids+=($!)
	wait_port "${addr//[\[\]]/}" "$port" || echo "# s_server for $leaf did not start: $(cat "$log")"
}
# run POLICY [OPTION...]: tls_probe to 127.0.0.1:$port.
run() { SSA_CONFIG=$1 "$probe" 127.0.0.1 "$port" "${@:2}" 2>&1; }
# run6 POLICY: the same to [::1]:$port, without a host name.  tls_probe speaks IPv4 only, so
# this calls libssa's socket()/connect()/getsockopt() through Python's ctypes.
run6() {
	SSA_CONFIG=$1 python3 - "$libssa" "$port" <<'PY' 2>&1
import ctypes, errno, socket, struct, sys
lib = ctypes.CDLL(sys.argv[1], use_errno=True)
fd = lib.socket(socket.AF_INET6, socket.SOCK_STREAM, 205)  # IPPROTO_TLS
addr = struct.pack("=HHI16sI", socket.AF_INET6, socket.htons(int(sys.argv[2])), 0,
                   socket.inet_pton(socket.AF_INET6, "::1"), 0)
if fd < 0 or lib.connect(fd, addr, len(addr)) < 0:
    err = ctypes.get_errno()
    why, size = ctypes.create_string_buffer(256), ctypes.c_uint32(256)
    lib.getsockopt(fd, 205, 100, why, ctypes.byref(size))  # TLS_ERROR
    print("connect: %s: %s" % (errno.errorcode.get(err, err), why.value.decode()))
    sys.exit(1)
print("connected")
PY
}
# refused NAME WHY OUTPUT: EPROTO and a TLS_ERROR saying WHY (an extended regex).
refused() { check "$1" "^connect: EPROTO: $2" "$3"; }
bad_cert() { refused "$1" "certificate verification failed: $2" "$3"; }
# server_said NAME REGEX: the server's log shows why it gave up (the client only sees an alert).
server_said() { check "$1" "$2" "$(cat "$log")"; }

# --- Key types and chain lengths that must verify, over TLS 1.3 and 1.2.
for leaf in rsa2048 rsa4096 p256 p384 ed25519; do
	serve $leaf
	check "$leaf leaf connects" "^connected" "$(run "$plain" name=localhost)"
done
serve ed25519-ca
check "Ed25519 leaf by an Ed25519 intermediate connects" "^connected" "$(run "$plain" name=localhost)"
serve ed25519 -tls1_2
check "Ed25519 leaf over TLS 1.2 connects" "^connected" "$(run "$plain" name=localhost)"
serve p256
check "chain of three (root, int, leaf) connects" "^connected" "$(run "$plain" name=localhost)"
check "host names match case-insensitively (LOCALHOST)" "^connected" "$(run "$plain" name=LOCALHOST)"
serve chain4
check "chain of four (root, int, int2, leaf) connects" "^connected" "$(run "$plain" name=localhost)"

# --- Signatures and keys too weak: s_server itself needs security level 0 to present them.
weak=(-cipher DEFAULT@SECLEVEL=0)
serve sha1 "${weak[@]}"
bad_cert "leaf signed with SHA-1: EPROTO, digest too weak" "CA signature digest algorithm too weak \(localhost\)" "$(run "$plain" name=localhost)"
serve sha1 "${weak[@]}" -tls1_2
bad_cert "leaf signed with SHA-1 over TLS 1.2: EPROTO, digest too weak" "CA signature digest algorithm too weak \(localhost\)" "$(run "$plain" name=localhost)"
serve sha1-int "${weak[@]}"
bad_cert "intermediate signed with SHA-1: EPROTO, digest too weak" "CA signature digest algorithm too weak \(localhost\)" "$(run "$plain" name=localhost)"
serve rsa1024 "${weak[@]}"
bad_cert "RSA 1024 leaf: EPROTO, key too weak" "EE certificate key too weak \(localhost\)" "$(run "$plain" name=localhost)"
serve rsa1024-int "${weak[@]}"
bad_cert "RSA 1024 intermediate: EPROTO, CA key too weak" "CA certificate key too weak \(localhost\)" "$(run "$plain" name=localhost)"

# --- Chains that do not lead to the root.
serve notca
bad_cert "issuer with basicConstraints CA:false: EPROTO, invalid CA" "invalid CA certificate \(localhost\)" "$(run "$plain" name=localhost)"
serve nobc
bad_cert "issuer without basicConstraints: EPROTO, invalid CA" "invalid CA certificate \(localhost\)" "$(run "$plain" name=localhost)"
serve nobc-ku
bad_cert "issuer without basicConstraints but keyCertSign: EPROTO, invalid CA" "invalid CA certificate \(localhost\)" "$(run "$plain" name=localhost)"
serve pathlen
bad_cert "CA below a pathlen:0 intermediate: EPROTO, path length" "path length constraint exceeded \(localhost\)" "$(run "$plain" name=localhost)"
serve noint
bad_cert "intermediate not sent and not trusted: EPROTO, no issuer" "unable to get local issuer certificate \(localhost\)" "$(run "$plain" name=localhost)"
serve eku-client
bad_cert "leaf for clientAuth only: EPROTO, unsuitable purpose" "unsuitable certificate purpose \(localhost\)" "$(run "$plain" name=localhost)"
serve critext
bad_cert "unknown critical extension: EPROTO" "unhandled critical extension \(localhost\)" "$(run "$plain" name=localhost)"
serve nc
bad_cert "name outside the issuer's nameConstraints: EPROTO" "permitted subtree violation \(localhost\)" "$(run "$plain" name=localhost)"

# --- Host names: a wildcard stands for exactly one whole label.
serve wildcard
check "*.example.test matches a.example.test" "^connected" "$(run "$plain" name=a.example.test)"
bad_cert "*.example.test does not match a.b.example.test" "certificate is not valid for a\.b\.example\.test$" "$(run "$plain" name=a.b.example.test)"
bad_cert "*.example.test does not match example.test" "certificate is not valid for example\.test$" "$(run "$plain" name=example.test)"
serve wild2
bad_cert "*.*.example.test does not match a.b.example.test" "certificate is not valid for a\.b\.example\.test$" "$(run "$plain" name=a.b.example.test)"
serve partial
bad_cert "partial wildcard f*.example.test does not match foo.example.test" "certificate is not valid for foo\.example\.test$" "$(run "$plain" name=foo.example.test)"
serve wildtld
bad_cert "*.test does not match example.test" "certificate is not valid for example\.test$" "$(run "$plain" name=example.test)"
serve cn-only
bad_cert "CN=localhost without subjectAltName is not matched (RFC 9525 6.3)" "certificate is not valid for localhost$" "$(run "$plain" name=localhost)"

# --- Addresses: with no host name set the certificate must name the address connected to.
serve ip4
check "IP:127.0.0.1 matches 127.0.0.1 with no host name" "^connected" "$(run "$plain")"
check "IP:127.0.0.1 matches TLS_REMOTE_HOSTNAME 127.0.0.1" "^connected" "$(run "$plain" name=127.0.0.1)"
serve ip6
bad_cert "IP:::1 does not match 127.0.0.1" "certificate is not valid for the connected address$" "$(run "$plain")"
serve dnsip
bad_cert "DNS:127.0.0.1 does not match the address 127.0.0.1" "certificate is not valid for the connected address$" "$(run "$plain")"
bad_cert "DNS:127.0.0.1 does not match TLS_REMOTE_HOSTNAME 127.0.0.1" "certificate is not valid for 127\.0\.0\.1$" "$(run "$plain" name=127.0.0.1)"
serve dnsonly
bad_cert "DNS:localhost does not match the address 127.0.0.1" "certificate is not valid for the connected address$" "$(run "$plain")"
if [ -f "$libssa" ]; then
	serve_on ::1 ip6
	check "IP:::1 matches ::1 with no host name" "^connected" "$(run6 "$plain")"
	serve_on ::1 ip4
	bad_cert "IP:127.0.0.1 does not match ::1" "certificate is not valid for the connected address$" "$(run6 "$plain")"
else
	ok "IP:::1 matches ::1 # SKIP no $libssa"
	ok "IP:127.0.0.1 does not match ::1 # SKIP no $libssa"
fi

# --- Protocol versions and ciphers.
serve p256 -tls1_3
check "TLS 1.3 server connects" "^connected" "$(run "$plain" name=localhost)"
serve p256 -tls1_2
check "TLS 1.2 server (ECDHE-ECDSA) connects" "^connected" "$(run "$plain" name=localhost)"
refused "min-version TLS1.3 refuses a TLS 1.2 server" "TLS handshake failed: .*protocol version" "$(run "$tls13" name=localhost)"
serve rsa2048 -tls1_2
check "TLS 1.2 server (ECDHE-RSA) connects" "^connected" "$(run "$plain" name=localhost)"
serve p256 -tls1_3
check "min-version TLS1.3 connects to a TLS 1.3 server" "^connected" "$(run "$tls13" name=localhost)"
refused "max-version TLS1.2 refuses a TLS 1.3-only server" "TLS handshake failed: .*protocol version" "$(run "$tls12" name=localhost)"
for v in 1.0:-tls1 1.1:-tls1_1; do
	serve rsa2048 "${v#*:}" "${weak[@]}"
	refused "TLS ${v%:*}-only server: EPROTO, protocol version" "TLS handshake failed: .*protocol version" "$(run "$plain" name=localhost)"
	server_said "TLS ${v%:*}-only server saw no common version" "unsupported protocol"
done
serve rsa2048 -tls1_2 -cipher AES128-GCM-SHA256
refused "static RSA key exchange (no forward secrecy): EPROTO, handshake failure" "TLS handshake failed: .*handshake failure" "$(run "$plain" name=localhost)"
server_said "static-RSA server saw no shared cipher" "no shared cipher"
serve rsa2048 -tls1_2 -cipher ECDHE-RSA-AES128-SHA
refused "ECDHE with CBC (not AEAD): EPROTO, handshake failure" "TLS handshake failed: .*handshake failure" "$(run "$plain" name=localhost)"
server_said "CBC-only server saw no shared cipher" "no shared cipher"

# --- Policy limits on chains and keys.
serve p256
check "verify-depth 1 allows root, int, leaf" "^connected" "$(run "$depth1" name=localhost)"
check "security-level 3 accepts a P-256 chain" "^connected" "$(run "$level3" name=localhost)"
serve chain4
bad_cert "verify-depth 1 refuses a chain of four" "certificate chain too long \(localhost\)" "$(run "$depth1" name=localhost)"
serve rsa2048
bad_cert "security-level 3 refuses an RSA 2048 leaf" "EE certificate key too weak \(localhost\)" "$(run "$level3" name=localhost)"
stop_all

echo "1..$n"
[ "$failed" -eq 0 ]
