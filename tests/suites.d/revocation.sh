#!/usr/bin/env bash
# Revocation (issue 3's matrix): stapled OCSP, an OCSP responder, CRLs, soft and hard fail,
# and applications that may only tighten.  Real peers: openssl s_server -status_file,
# openssl ocsp as responder, python3's http.server for the CRL.  Prints TAP.
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
suite_workdir
probe=$build/tests/tls_probe

wait_port() { for _ in $(seq 250); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.02; done; return 1; }
start() { # start PORT COMMAND...: runs a peer in the background and waits for its port
	local port=$1
	shift
	"$@" >>"$work/peers.log" 2>&1 </dev/zero &
	pids+=($!)
	wait_port "$port" || echo "# peer on $port did not start: $*"
}
# openssl ocsp serves one connection at a time and gives up on a probe that sends nothing,
# so wait for what it prints instead of connecting.
start_responder() {
	openssl ocsp -index "$pki/ca/index.txt" -port "$ocsp_port" -rsigner "$pki/ocsp.pem" \
		-rkey "$pki/ocsp.key" -CA "$pki/rev-int.pem" >"$work/ocsp.log" 2>&1 </dev/null &
	pids+=($!)
	for _ in $(seq 250); do grep -qi "waiting for OCSP" "$work/ocsp.log" && return 0; sleep 0.02; done
	echo "# OCSP responder did not start: $(cat "$work/ocsp.log")"
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; pids=(); }

ocsp_port=$(free_port) crl_port=$(free_port)
pki=$work/pki
bash "$(dirname "$0")/../pki-revocation.sh" "$pki" "$ocsp_port" "$crl_port" >"$work/pki.log" 2>&1 ||
	{ not_ok "revocation PKI" "$(cat "$work/pki.log")"; echo "1..$n"; exit 1; }

policy() { # policy NAME SETTINGS...
	printf 'default = { trust-file = "%s/rev-ca.pem"; handshake-timeout = 6.0; %s };\n' "$pki" "$2" >"$work/$1.conf"
	echo "$work/$1.conf"
}
hard_stapled=$(policy hard-stapled 'ocsp-stapling = true; revocation-hard-fail = true;')
soft_stapled=$(policy soft-stapled 'ocsp-stapling = true;')
hard=$(policy hard 'revocation-hard-fail = true;')
soft=$(policy soft '')
ocsp_required=$(policy ocsp-required 'ocsp = true;')

# serve LEAF [s_server options]: an s_server on a fresh port; sets $port.
serve() {
	local leaf=$1
	shift
	port=$(free_port)
	start "$port" openssl s_server -accept "127.0.0.1:$port" -cert "$pki/$leaf.pem" \
		-cert_chain "$pki/rev-int.pem" -key "$pki/$leaf.key" "$@"
}
run() { SSA_CONFIG=$1 "$probe" 127.0.0.1 "$port" name=localhost "${@:2}" 2>&1; }

serve rev-good -status_file "$pki/good.der"
check "stapled OCSP good passes with hard fail" "^connected" "$(run "$hard_stapled")"
serve rev-revoked -status_file "$pki/revoked.der"
check "stapled OCSP revoked: EPROTO naming the staple" "EPROTO: certificate revoked: stapled OCSP says so" "$(run "$soft_stapled")"
serve rev-good
check "no staple, hard fail: EPROTO, status unknown" "EPROTO: revocation status unknown: no valid stapled OCSP response" "$(run "$hard_stapled")"
check "no staple, soft fail: connects" "^connected" "$(run "$soft_stapled")"
check "application turns stapling on (103=1) and it holds" "EPROTO: revocation status unknown" "$(run "$hard" 103=1)"
stop_all

start_responder
serve rev-revoked
check "OCSP responder says revoked: EPROTO" "EPROTO: certificate revoked: OCSP says so \(localhost\)" "$(run "$soft" 104=1)"
serve rev-good
check "OCSP responder says good: connects under hard fail" "^connected" "$(run "$hard" 104=1)"
check "policy requires OCSP: turning it off is EPERM naming the setting" "option 104=0: EPERM: .*ocsp = true" "$(run "$ocsp_required" 104=0)"
check "policy requires OCSP: TLS_REVOCATION_CHECKS=0 is EPERM too" "option 102=0: EPERM" "$(run "$ocsp_required" 102=0)"
stop_all

serve rev-good
check "OCSP responder down, hard fail: EPROTO unknown (no hang)" "EPROTO: revocation status unknown: OCSP responder did not answer" "$(run "$hard" 104=1)"
check "OCSP responder down, soft fail: connects" "^connected" "$(run "$soft" 104=1)"
serve rev-nourl
check "no OCSP URL in the certificate, hard fail: EPROTO" "EPROTO: revocation status unknown: certificate names no OCSP responder" "$(run "$hard" 104=1)"
stop_all

start "$crl_port" python3 -m http.server "$crl_port" --bind 127.0.0.1 --directory "$pki"
serve rev-revoked
check "CRL lists the certificate: EPROTO" "EPROTO: certificate revoked: CRL says so \(localhost\)" "$(run "$soft" 105=1)"
serve rev-good
check "CRL does not list it: connects under hard fail" "^connected" "$(run "$hard" 105=1)"
check "all checks on (102=1), CRL answers good, responder down: connects" "^connected" "$(run "$hard" 102=1)"
stop_all

echo "1..$n"
