#!/usr/bin/env bash
# Security of session resumption (issue 13, items 2, 4 and 6), with both backends, TLS 1.2 and
# 1.3, against openssl s_client and gnutls-cli, the servers run by an unprivileged user:
#  - a session resumes only where a full handshake with the same settings would have been
#    accepted: never on a listener that requires a client certificate when the session has
#    none, never on a listener whose trust anchors differ (item 2);
#  - a client's cached session never stands in for the verification of another profile (4);
#  - ticket keys belong to a ticket-key file, or to one profile when it names none (6).
# Needs root (users).  Prints TAP.
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
. "$(dirname "$0")/../ssad-env.sh"
srv=$build/tests/.libs/sec_sessions_serve

# The files alice's servers use, hers to read; the clients here run as root.
s=$work/s
mkdir -m 755 "$s"
cp "$pki/ca.pem" "$pki/unknown-root.pem" "$pki/localhost-chain.pem" "$s/"
cp "$pki/localhost.key" "$s/alice-localhost.key"
chmod 644 "$s"/*.pem
chown ssa-alice: "$s/alice-localhost.key" && chmod 600 "$s/alice-localhost.key"
own="chain=$s/localhost-chain.pem,key=$s/alice-localhost.key"

# Two fleet key files of two keys each (the first issues tickets).
for k in k1 k2; do head -c 160 /dev/urandom >"$work/$k.key"; done
chown ssad: "$work"/k?.key && chmod 600 "$work"/k?.key
for p in serve_k1 serve_k2 serve_none serve_k1b; do cp "$srv" "$work/bin/$p"; done
cp "$client" "$work/bin/strict_client"
cat >"$work/ssa.conf" <<EOF
default = { trust-file = "$s/ca.pem"; handshake-timeout = 5.0; };
profiles = (
  { match = "$work/bin/strict_client"; trust-file = "$s/unknown-root.pem"; },
  { match = "$work/bin/serve_k1"; ticket-key-file = "$work/k1.key"; },
  { match = "$work/bin/serve_k2"; ticket-key-file = "$work/k2.key"; },
  { match = "$work/bin/serve_k1b"; ticket-key-file = "$work/k1.key"; },
  { match = "$work/bin/serve_none"; session-lifetime = 1; }
);
EOF
chmod 644 "$work/ssa.conf"
start_ssad || { not_ok "ssad starts" "$(cat "$work/ssad.log")"; echo "1..$n"; exit 1; }

# run_as BACKEND USER COMMAND...: a program of USER with the in-process backend or through ssad
run_as() {
	local backend=$1 user=$2
	shift 2
	if [ "$backend" = daemon ]; then
		as "$user" "$@"
	else
		runuser -u "$user" -- env LD_LIBRARY_PATH="$libdir" SSA_BACKEND=inprocess \
			SSA_CONFIG="$work/ssa.conf" "$@"
	fi
}

# start_server LOG BACKEND PROGRAM SPEC...: alice's server, waited for; sets port0, port1, ...
# The server itself is stopped at exit by the pid it prints (runuser would not pass a signal).
start_server() {
	local log=$1 backend=$2 prog=$3
	shift 3
	run_as "$backend" ssa-alice "$prog" "$@" >"$log" 2>&1 &
	pids+=($!)
	wait_for_line "$log" '^ready' || { echo "# server did not start: $(cat "$log")"; return 1; }
	pids+=("$(awk '$1 == "ready" {print $2}' "$log")")
	for i in $(seq 0 $(($# - 1))); do
		eval "port$i=$(awk -v i="$i" '$1 == "listening" && $2 == i {print $3}' "$log")"
	done
}

# hello PORT VERSION [s_client options...]: one connection; its output (the server's "ok")
hello() {
	local port=$1 version=$2
	shift 2
	echo x | timeout 10 openssl s_client "$version" -connect "127.0.0.1:$port" \
		-servername localhost -CAfile "$s/ca.pem" -quiet "$@" 2>&1
}
with_cert=(-cert "$pki/client.pem" -key "$pki/client.key" -cert_chain "$pki/int.pem")

# --- item 2: a session never carries a client across listeners whose settings differ ------
# Listener 0 asks for no certificate, 1 requires one under ca.pem, 2 requires one under
# another root, 3 is set up exactly as 0.
for backend in inprocess daemon; do
	log=$work/listeners-$backend.log
	start_server "$log" "$backend" "$srv" "$own" "auth=1,trust=$s/ca.pem,$own" \
		"auth=1,trust=$s/unknown-root.pem,$own" "$own" || continue
	for v in -tls1_2 -tls1_3; do
		tag="$backend ${v#-}"
		sess=$work/$backend$v
		hello "$port0" "$v" -sess_out "$sess.a" >/dev/null
		before=$(grep -c '^conn 1 ' "$log")
		out=$(hello "$port1" "$v" -sess_in "$sess.a")
		lines=$(grep '^conn 1 ' "$log" | tail -n +$((before + 1)))
		if [ -z "$lines" ]; then
			ok "$tag: a session from a listener without client certificates does not pass a listener that requires one"
		else
			not_ok "$tag: a session from a listener without client certificates does not pass a listener that requires one" \
				"accept() returned: $lines" "client: $out"
		fi

		hello "$port1" "$v" -sess_out "$sess.b" "${with_cert[@]}" >/dev/null
		before=$(grep -c '^conn 2 ' "$log")
		out=$(hello "$port2" "$v" -sess_in "$sess.b" "${with_cert[@]}")
		lines=$(grep '^conn 2 ' "$log" | tail -n +$((before + 1)))
		[ -z "$lines" ] && ok "$tag: a client certificate verified under other anchors is not accepted through its session" ||
			not_ok "$tag: a client certificate verified under other anchors is not accepted through its session" \
				"accept() returned: $lines" "client: $out"

		# Where the settings are the same, sessions still resume.
		hello "$port1" "$v" -sess_out "$sess.c" "${with_cert[@]}" >/dev/null
		hello "$port1" "$v" -sess_in "$sess.c" "${with_cert[@]}" >/dev/null
		check "$tag: a session resumes on its own listener that requires certificates, with the client's identity" \
			"conn 1 resumed=1 peer=.*SSA Test Client" "$(grep '^conn 1 ' "$log" | tail -1)"
		hello "$port0" "$v" -sess_out "$sess.d" >/dev/null
		hello "$port3" "$v" -sess_in "$sess.d" >/dev/null
		check "$tag: a session resumes on another listener of the program with the same settings" \
			"conn 3 resumed=1" "$(grep '^conn 3 ' "$log" | tail -1)"
	done
	out=$(timeout 10 gnutls-cli --resume --x509cafile "$s/ca.pem" --x509certfile "$pki/client-chain.pem" \
		--x509keyfile "$pki/client.key" -p "$port1" localhost </dev/null 2>&1)
	check "$backend: gnutls-cli --resume resumes on the listener that requires certificates" \
		"Resume Handshake was completed|This is a resumed session" "$out"
done

# --- item 4: a stricter profile never resumes a session verified under a looser one -------
for v in -tls1_2 -tls1_3; do
	port=$(free_port)
	openssl s_server "$v" -accept "127.0.0.1:$port" -cert "$s/localhost-chain.pem" \
		-cert_chain "$s/localhost-chain.pem" -key "$pki/localhost.key" -rev \
		>"$work/s_server$v.log" 2>&1 </dev/zero &
	pids+=($!)
	wait_for_line "$work/s_server$v.log" ACCEPT
	check "${v#-}: alice's default profile (anchors: the test CA) verifies the server" "reply: olleh" \
		"$(as ssa-alice timeout 10 "$client" connect "$port" localhost 2>&1)"
	check "${v#-}: her strict profile (another root) refuses it, session cached or not" \
		"connect: EPROTO" "$(as ssa-alice timeout 10 "$work/bin/strict_client" connect "$port" localhost 2>&1)"
	check "${v#-}: the default profile still resumes its own session" "round 1 resumed=1" \
		"$(as ssa-alice timeout 10 "$client" resume "$port" localhost 7 2>&1)"
done

# --- item 6: ticket keys per ticket-key file, per profile without one ---------------------
# The key name of a ticket: its first 16 bytes (RFC 5077 section 4).
ticket_name() { # SESSION-FILE
	openssl sess_id -in "$1" -noout -text 2>/dev/null | sed -n 's/^ *0000 - //p' |
		cut -c1-47 | tr -d ' -'
}
file_name() { head -c 16 "$1" | od -An -tx1 | tr -d ' \n'; }
k1=$(file_name "$work/k1.key") k2=$(file_name "$work/k2.key")
# The profile without a file starts last, and its random keys (session-lifetime = 1) rotate at once:
# they must not displace the fleet keys.
for p in serve_k1 serve_k2 serve_k1b serve_none; do
	start_server "$work/$p.log" daemon "$work/bin/$p" "$own"
	eval "port_$p=\$port0"
done
for v in -tls1_2 -tls1_3; do
	declare -A name=()
	for p in serve_k1 serve_k2 serve_none serve_k1b; do
		eval "port=\$port_$p"
		hello "$port" "$v" -sess_out "$work/$p$v.sess" >/dev/null
		name[$p]=$(ticket_name "$work/$p$v.sess")
	done
	names="k1=$k1 k2=$k2 got: ${name[*]@K}"
	[ "${name[serve_k1]}" = "$k1" ] && ok "${v#-}: the profile with key file 1 issues tickets under it, not under a random key made after" ||
		not_ok "${v#-}: the profile with key file 1 issues tickets under it, not under a random key made after" "$names"
	[ "${name[serve_k2]}" = "$k2" ] && ok "${v#-}: the profile with key file 2 issues tickets under it" ||
		not_ok "${v#-}: the profile with key file 2 issues tickets under it" "$names"
	[ -n "${name[serve_none]}" ] && [ "${name[serve_none]}" != "$k1" ] && [ "${name[serve_none]}" != "$k2" ] &&
		ok "${v#-}: the profile without a key file issues tickets under neither fleet key" ||
		not_ok "${v#-}: the profile without a key file issues tickets under neither fleet key" "$names"
	[ "${name[serve_k1b]}" = "$k1" ] && ok "${v#-}: another profile naming key file 1 shares its fleet key" ||
		not_ok "${v#-}: another profile naming key file 1 shares its fleet key" "$names"
done
# The fleet key still serves after the profile without a file made its random key.
hello "$port_serve_k1" -tls1_2 -sess_out "$work/k1-again.sess" >/dev/null
check "a fleet key is not replaced by another profile's random key" "^$k1\$" \
	"$(ticket_name "$work/k1-again.sess")"

echo "1..$n"
