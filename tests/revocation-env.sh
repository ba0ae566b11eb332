# The revocation PKI of tests/pki-revocation.sh and its peers, for the suites that check
# revocation through ssad (sourced after tap.sh and ssad-env.sh, not run).  Gives $rp (the PKI),
# $ocsp_port and $crl_port (its URLs' ports), and the helpers below.
ocsp_port=$(free_port) crl_port=$(free_port)
rp=$work/rp
bash "$(dirname "${BASH_SOURCE[0]}")/pki-revocation.sh" "$rp" "$ocsp_port" "$crl_port" >"$work/pki.log" 2>&1 ||
	{ not_ok "revocation PKI" "$(cat "$work/pki.log")"; echo "1..$n"; exit 1; }
chmod -R a+rX "$rp"

# responder [PORT]: openssl ocsp for rev-int's certificates; waits for it to listen.
responder() {
	openssl ocsp -index "$rp/ca/index.txt" -port "${1:-$ocsp_port}" -rsigner "$rp/ocsp.pem" \
		-rkey "$rp/ocsp.key" -CA "$rp/rev-int.pem" -nmin 1 >"$work/ocsp.log" 2>&1 </dev/null &
	pids+=($!)
	responder_pid=$!
	wait_for_line "$work/ocsp.log" "[Ww]aiting for OCSP" || echo "# responder did not start"
}
crl_server() { # DIR: serves DIR on the CRL port
	python3 -m http.server "$crl_port" --bind 127.0.0.1 --directory "$1" >>"$work/http.log" 2>&1 &
	pids+=($!)
	crl_pid=$!
	wait_for_port "$crl_port" || echo "# CRL server did not start"
}
# serve LEAF [CHAIN]: openssl s_server (reversing lines) on a fresh port; sets $port.
serve() {
	local log
	port=$(free_port)
	log=$work/s_server.$port.log
	openssl s_server -accept "127.0.0.1:$port" -cert "$rp/$1.pem" -cert_chain "$rp/${2:-rev-int}.pem" \
		-key "$rp/$1.key" -rev >"$log" 2>&1 </dev/zero &
	pids+=($!)
	wait_for_line "$log" ACCEPT || echo "# s_server for $1 did not start"
}
stop() { kill "$@" 2>/dev/null; wait "$@" 2>/dev/null; }
