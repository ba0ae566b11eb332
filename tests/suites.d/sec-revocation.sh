#!/usr/bin/env bash
# Revocation under attack (issue 13, items 8 and 13, and the chain and nextUpdate findings),
# against real peers: openssl ocsp as responder, python3's http.server for CRLs, a black hole
# (accepts, never answers), openssl s_server.  ssad as root with users ssa-alice and ssa-bob.
#   8   a user's black-hole responders do not starve another user's checks; a caller in its
#       own network namespace has its status fetched from there, never from ssad's
#   13  resumption works with ocsp and crl on, both backends; a certificate revoked after the
#       first handshake is refused on resumption
#   chain: an intermediate revoked with the leaf good is refused
#   nextUpdate: a CRL without nextUpdate is not used
# Prints TAP.
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
. "$(dirname "$0")/../ssad-env.sh"
probe=$build/tests/.libs/tls_probe
resume=$build/tests/.libs/sec_revocation_resume
mkcrl=$build/tests/sec_revocation_crl
export LD_LIBRARY_PATH=$libdir
asu() { # USER COMMAND...: as `as` does, bounded (a hang fails the test, not the suite)
	local user=$1
	shift
	timeout 90 runuser -u "$user" -- env -u SSA_CONFIG LD_LIBRARY_PATH="$libdir" \
		SSA_BACKEND=daemon SSA_DAEMON_SOCKET="$sock" "$@"
}

. "$(dirname "$0")/../revocation-env.sh"
hole_port=$(free_port) ns_port=$(free_port)

# leaf NAME OCSP-URL CRL-URL: another leaf of rev-int (the PKI's issuing CA).
leaf() {
	local ext=("basicConstraints=critical,CA:false" "keyUsage=critical,digitalSignature"
		"extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1"
		"authorityKeyIdentifier=keyid" "authorityInfoAccess=OCSP;URI:$2")
	[ -n "${3:-}" ] && ext+=("crlDistributionPoints=URI:$3")
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$rp/$1.key" 2>/dev/null
	openssl req -new -key "$rp/$1.key" -subj "/CN=localhost" -out "$rp/$1.csr" 2>/dev/null
	printf '%s\n' "${ext[@]}" >"$rp/$1.ext"
	openssl ca -batch -notext -config "$rp/ca/ca.cnf" -cert "$rp/rev-int.pem" \
		-keyfile "$rp/rev-int.key" -in "$rp/$1.csr" -extfile "$rp/$1.ext" -out "$rp/$1.pem" 2>/dev/null
}
ocsp_url=http://127.0.0.1:$ocsp_port crl_url=http://127.0.0.1:$crl_port/rev-int.crl
leaf rev-hole "http://127.0.0.1:$hole_port"
leaf rev-ns "http://127.0.0.1:$ns_port"
for t in o-in o-d c-in c-d; do leaf "rev-later-$t" "$ocsp_url" "$crl_url"; done
# revoke LEAF: in the responder's index and in the CRL served.
revoke() {
	openssl ca -config "$rp/ca/ca.cnf" -cert "$rp/rev-int.pem" -keyfile "$rp/rev-int.key" \
		-revoke "$rp/$1.pem" 2>/dev/null
	openssl ca -config "$rp/ca/ca.cnf" -cert "$rp/rev-int.pem" -keyfile "$rp/rev-int.key" \
		-gencrl -out "$rp/rev-int.crl.pem" 2>/dev/null
	openssl crl -in "$rp/rev-int.crl.pem" -outform DER -out "$rp/rev-int.crl.new" &&
		mv "$rp/rev-int.crl.new" "$rp/rev-int.crl"
	stop "$responder_pid" # openssl ocsp 3.0 reads its index once
	: >"$work/ocsp.log"
	responder
}

# A second chain for the intermediate's own check: rev-ca > rev-int2 > rev-sub, each CA with
# its CRL (rev-ca.crl, rev-int2.crl) on the CRL server.
mkca() { # DIR: an openssl-ca database
	mkdir -p "$1/new"
	: >"$1/index.txt"
	openssl rand -hex 16 >"$1/serial"
	echo 1000 >"$1/crlnumber"
	sed "s|^dir = .*|dir = $1|" "$rp/ca/ca.cnf" >"$1/ca.cnf"
}
mkca "$rp/root"
mkca "$rp/int2"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$rp/rev-int2.key" 2>/dev/null
openssl req -new -key "$rp/rev-int2.key" -subj "/CN=SSA Revocation Test CA 2" -out "$rp/rev-int2.csr" 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:true,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" \
	"subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" \
	"crlDistributionPoints=URI:http://127.0.0.1:$crl_port/rev-ca.crl" >"$rp/rev-int2.ext"
openssl ca -batch -notext -config "$rp/root/ca.cnf" -cert "$rp/rev-ca.pem" -keyfile "$rp/rev-ca.key" \
	-in "$rp/rev-int2.csr" -extfile "$rp/rev-int2.ext" -out "$rp/rev-int2.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$rp/rev-sub.key" 2>/dev/null
openssl req -new -key "$rp/rev-sub.key" -subj "/CN=localhost" -out "$rp/rev-sub.csr" 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:false" "keyUsage=critical,digitalSignature" \
	"extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	"authorityKeyIdentifier=keyid" "crlDistributionPoints=URI:http://127.0.0.1:$crl_port/rev-int2.crl" >"$rp/rev-sub.ext"
openssl ca -batch -notext -config "$rp/int2/ca.cnf" -cert "$rp/rev-int2.pem" -keyfile "$rp/rev-int2.key" \
	-in "$rp/rev-sub.csr" -extfile "$rp/rev-sub.ext" -out "$rp/rev-sub.pem" 2>/dev/null
gencrl() { # CA-DIR CERT KEY OUT.der
	openssl ca -config "$1/ca.cnf" -cert "$2" -keyfile "$3" -gencrl -out "$4.pem" 2>/dev/null &&
		openssl crl -in "$4.pem" -outform DER -out "$4"
}
gencrl "$rp/root" "$rp/rev-ca.pem" "$rp/rev-ca.key" "$rp/rev-ca.crl"
gencrl "$rp/int2" "$rp/rev-int2.pem" "$rp/rev-int2.key" "$rp/rev-int2.crl"
# A CRL of rev-int without nextUpdate, listing nothing, in a directory of its own.
mkdir -p "$rp/nonext"
"$mkcrl" "$rp/rev-int.pem" "$rp/rev-int.key" "$rp/nonext/rev-int.crl" ||
	not_ok "a CRL without nextUpdate can be made"
chmod -R a+rX "$rp"
chmod a+r "$rp"/*.key

# --- peers ---
# black_hole PORT LOG: accepts connections and never answers; logs each one.
black_hole() {
	python3 -u -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1024); held = []
print("listening", flush=True)
while True:
    c, _ = s.accept(); held.append(c); print("accepted", flush=True)
' "$1" >"$2" 2>&1 &
	pids+=($!)
	wait_for_line "$2" listening || echo "# black hole on $1 did not start"
}

policy() { # FILE SETTINGS: a policy trusting the revocation PKI's root
	printf 'default = { trust-file = "%s/rev-ca.pem"; handshake-timeout = %s; %s };\n' \
		"$rp" "${3:-10.0}" "$2" >"$1"
	chmod 644 "$1"
}

# ssad: every check hard-fails, statuses are not remembered (each resumption rechecks).
policy "$work/ssa.conf" 'revocation-hard-fail = true; revocation-cache-time = 0;' 20.0
start_ssad || { not_ok "ssad starts" "$(cat "$work/ssad.log")"; echo "1..$n"; exit 1; }
responder
crl_server "$rp"

# --- item 8: fairness ---
black_hole "$hole_port" "$work/hole.log"
# bob's server handshakes any number of connections at once (openssl s_server takes one at a
# time, which would pace bob's checks by its own).
cat "$rp/rev-hole.pem" "$rp/rev-int.pem" >"$rp/rev-hole-chain.pem"
python3 -u -c '
import socket, ssl, sys, threading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(certfile=sys.argv[1], keyfile=sys.argv[2])
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1024)
print("port", s.getsockname()[1], flush=True)
def hold(c):
    try:
        ctx.wrap_socket(c, server_side=True).recv(1)
    except Exception:
        pass
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=hold, args=(c,), daemon=True).start()
' "$rp/rev-hole-chain.pem" "$rp/rev-hole.key" >"$work/hole-server.log" 2>&1 &
pids+=($!)
wait_for_line "$work/hole-server.log" "^port " || echo "# bob's server did not start"
hole_server=$(awk '/^port / {print $2}' "$work/hole-server.log")
serve rev-good
good_server=$port
: >"$work/bob.out"
bob_pids=()
# Each of bob's connects gives up after a second, so his checks pile up as fast as he likes.
for _ in $(seq 16); do
	(while [ ! -e "$work/bob.stop" ]; do
		as ssa-bob timeout 1 "$probe" 127.0.0.1 "$hole_server" name=localhost 104=1 >>"$work/bob.out" 2>&1
	done) &
	bob_pids+=($!)
done
wait_for_line "$work/hole.log" accepted 20 || echo "# bob's connects never reached the black hole"
for _ in $(seq 100); do [ "$(grep -c accepted "$work/hole.log")" -ge 2 ] && break; sleep 0.1; done
out=$(asu ssa-alice "$probe" 127.0.0.1 "$good_server" name=localhost 104=1 2>&1)
check "8: while bob's connects wait on a black-hole responder, alice's OCSP check completes" \
	"^connected" "$out"
touch "$work/bob.stop"
wait "${bob_pids[@]}"

# --- item 8: the caller's network reach ---
black_hole "$ns_port" "$work/decoy.log" # in ssad's namespace: must never be asked
cat >"$work/in-ns.sh" <<EOF
set -u
ip link set lo up
openssl ocsp -index "$rp/ca/index.txt" -port $ns_port -rsigner "$rp/ocsp.pem" -rkey "$rp/ocsp.key" \
	-CA "$rp/rev-int.pem" >"$work/ns-ocsp.log" 2>&1 </dev/null &
o=\$!
openssl s_server -accept 127.0.0.1:4433 -cert "$rp/rev-ns.pem" -cert_chain "$rp/rev-int.pem" \
	-key "$rp/rev-ns.key" -rev >"$work/ns-server.log" 2>&1 </dev/zero &
s=\$!
for _ in \$(seq 250); do grep -q "aiting for OCSP" "$work/ns-ocsp.log" && grep -q ACCEPT "$work/ns-server.log" && break; sleep 0.02; done
"$probe" 127.0.0.1 4433 name=localhost 104=1
kill \$o \$s
EOF
chmod 644 "$work/in-ns.sh"
: >"$work/ns-ocsp.log" >"$work/ns-server.log"
chmod 666 "$work/ns-ocsp.log" "$work/ns-server.log"
out=$(asu ssa-alice unshare -rn bash "$work/in-ns.sh" 2>&1)
check "8: a caller in its own network namespace: its status is fetched from there" "^connected" "$out"
check "8: ... and ssad never asked the responder's address in its own namespace" "^0$" \
	"$(grep -c accepted "$work/decoy.log")"

# --- item 13: resumption with revocation on, both backends ---
inproc=$work/inproc.conf
policy "$inproc" 'revocation-hard-fail = true; revocation-cache-time = 0;'
touch "$work/open"
serve rev-good
for m in 104 105; do
	name=$([ $m = 104 ] && echo ocsp || echo crl)
	out=$(timeout 60 env SSA_CONFIG="$inproc" "$resume" 127.0.0.1 "$port" localhost "$work/open" $m=1 2>&1)
	check "13: in-process, $name on: the second connection resumes" "2: connected resumed=1" "$out"
	out=$(asu ssa-alice "$resume" 127.0.0.1 "$port" localhost "$work/open" $m=1 2>&1)
	check "13: through ssad, $name on: the second connection resumes" "2: connected resumed=1" "$out"
done

# revoked_later LEAF OPTION BACKEND...: revoked between the handshakes; output in $work/LEAF.out
# (not in a subshell: the peers it starts must be in $pids).
revoked_later() {
	local leaf=$1 opt=$2 gate=$work/gate.$1 p
	shift 2
	serve "$leaf"
	"$@" "$resume" 127.0.0.1 "$port" localhost "$gate" "$opt" >"$work/$leaf.out" 2>&1 &
	p=$!
	wait_for_line "$work/$leaf.out" waiting 30 || echo "# $leaf: no first connection"
	revoke "$leaf"
	touch "$gate"
	wait "$p"
}
revoked_later rev-later-o-in 104=1 env SSA_CONFIG="$inproc"
check "13: in-process, ocsp: first handshake good" "1: connected" "$(cat "$work/rev-later-o-in.out")"
check "13: in-process, ocsp: revoked since, refused on resumption" \
	"2: connect: EPROTO: certificate revoked: OCSP says so" "$(cat "$work/rev-later-o-in.out")"
revoked_later rev-later-o-d 104=1 asu ssa-alice
check "13: through ssad, ocsp: revoked since, refused on resumption" \
	"2: connect: EPROTO: certificate revoked: OCSP says so" "$(cat "$work/rev-later-o-d.out")"
revoked_later rev-later-c-in 105=1 env SSA_CONFIG="$inproc"
check "13: in-process, crl: revoked since, refused on resumption" \
	"2: connect: EPROTO: certificate revoked: CRL says so" "$(cat "$work/rev-later-c-in.out")"
revoked_later rev-later-c-d 105=1 asu ssa-alice
check "13: through ssad, crl: revoked since, refused on resumption" \
	"2: connect: EPROTO: certificate revoked: CRL says so" "$(cat "$work/rev-later-c-d.out")"

# --- the chain: rev-int2 revoked by the root, its leaf good ---
crl_policy=$work/crl.conf
policy "$crl_policy" 'crl = true; revocation-hard-fail = true;'
serve rev-sub rev-int2
check "chain: leaf and intermediate good: connects" "^connected" \
	"$(SSA_CONFIG=$crl_policy "$probe" 127.0.0.1 "$port" name=localhost 2>&1)"
openssl ca -config "$rp/root/ca.cnf" -cert "$rp/rev-ca.pem" -keyfile "$rp/rev-ca.key" \
	-revoke "$rp/rev-int2.pem" 2>/dev/null
gencrl "$rp/root" "$rp/rev-ca.pem" "$rp/rev-ca.key" "$rp/rev-ca.crl"
check "chain: the intermediate revoked, the leaf good: refused" \
	"EPROTO: certificate revoked: CRL, for CA certificate .*CA 2 says so" \
	"$(SSA_CONFIG=$crl_policy "$probe" 127.0.0.1 "$port" name=localhost 2>&1)"

# --- a CRL without nextUpdate ---
stop "$crl_pid"
crl_server "$rp/nonext"
serve rev-good
check "nextUpdate: a CRL without it is not used (hard fail: unknown)" \
	"EPROTO: revocation status unknown: CRL has no nextUpdate" \
	"$(SSA_CONFIG=$crl_policy "$probe" 127.0.0.1 "$port" name=localhost 2>&1)"

echo "1..$n"
