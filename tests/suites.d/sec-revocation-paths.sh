#!/usr/bin/env bash
# Revocation on every path that starts a handshake (issue 13, item 8, after its first fix):
# through ssad the library sends its own sockets for the checks' fetches, with connect(), and
# with a STARTTLS upgrade (TCP_UPGRADE_TLS) and an early-data connect (sendto MSG_FASTOPEN,
# and connect() with TLS_EARLY_DATA) as well.  For ocsp, then crl, hard fail, against openssl
# ocsp as responder and python3's http.server for the CRL, with openssl s_server as peer: each
# path connects to a good certificate and is refused a revoked one, as ssa-alice through ssad
# and in-process.  Prints TAP.
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
. "$(dirname "$0")/../ssad-env.sh"
probe=$build/tests/.libs/tls_probe
upgrade=$build/tests/.libs/sec_revocation_upgrade

. "$(dirname "$0")/../revocation-env.sh"

# --- peers ---
responder
crl_server "$rp"
serve rev-good
good=$port
serve rev-revoked
revoked=$port

# run BACKEND PROGRAM ARGS...: as ssa-alice, through ssad or in-process, bounded.
run() {
	local backend=$1
	shift
	if [ "$backend" = ssad ]; then
		as ssa-alice timeout 60 "$@" 2>&1
	else
		user_run ssa-alice env SSA_CONFIG="$work/ssa.conf" SSA_BACKEND=inprocess \
			LD_LIBRARY_PATH="$libdir" timeout 60 "$@" 2>&1
	fi
}
# paths BACKEND METHOD SAYS: each path, to the good certificate and to the revoked one.
paths() {
	local b=$1 m=$2 says=$3
	check "$b, $m: STARTTLS upgrade, good certificate: connects" "^reply: olleh" \
		"$(run "$b" "$upgrade" 127.0.0.1 "$good" localhost)"
	check "$b, $m: STARTTLS upgrade, revoked certificate: refused as revoked" \
		"^upgrade: EPROTO: certificate revoked: $says says so" \
		"$(run "$b" "$upgrade" 127.0.0.1 "$revoked" localhost)"
	check "$b, $m: sendto(MSG_FASTOPEN), good certificate: connects" "^reply: olleh" \
		"$(run "$b" "$probe" 127.0.0.1 "$good" name=localhost fastopen=hello)"
	check "$b, $m: sendto(MSG_FASTOPEN), revoked certificate: refused as revoked" \
		"^connect: EPROTO: certificate revoked: $says says so" \
		"$(run "$b" "$probe" 127.0.0.1 "$revoked" name=localhost fastopen=hello)"
	check "$b, $m: TLS_EARLY_DATA connect, good certificate: connects" "^reply: olleh" \
		"$(run "$b" "$probe" 127.0.0.1 "$good" name=localhost 130=1 send=hello)"
	# connect() has returned: the refusal comes with the first read (ECONNRESET)
	check "$b, $m: TLS_EARLY_DATA connect, revoked certificate: refused as revoked" \
		"^read: [A-Z]+: certificate revoked: $says says so" \
		"$(run "$b" "$probe" 127.0.0.1 "$revoked" name=localhost 130=1 send=hello)"
}

for m in ocsp crl; do
	says=$([ $m = ocsp ] && echo OCSP || echo CRL)
	# Hard fail, nothing remembered: each connection fetches its status anew.
	printf 'default = { trust-file = "%s/rev-ca.pem"; handshake-timeout = 10.0; %s = true;
 revocation-hard-fail = true; revocation-cache-time = 0; };\n' \
		"$rp" "$m" >"$work/ssa.conf"
	if [ -n "${ssad_pid:-}" ]; then
		kill "$ssad_pid" 2>/dev/null
		wait "$ssad_pid" 2>/dev/null
	fi
	start_ssad || { not_ok "ssad starts ($m)" "$(tail -5 "$work/ssad.log")"; echo "1..$n"; exit 1; }
	paths ssad $m $says
	paths in-process $m $says
done

echo "1..$n"
