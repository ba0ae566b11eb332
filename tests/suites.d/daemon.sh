#!/usr/bin/env bash
# The daemon backend (issue 5) as an administrator runs it: ssad started as root, running as
# user ssad with a root monitor, serving the programs of two unprivileged users, ssa-alice and
# ssa-bob (created here if missing).  Privilege separation, isolation between users, rights of
# the caller, exec, faults (callers killed at every phase, ssad killed and restarted), hostile
# requests, per-user limits, socket activation.  Needs root (users, namespaces).
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
. "$(dirname "$0")/../ssad-env.sh"
netns=ssa-test-$$
cleanup() {
	ip netns del "$netns" 2>/dev/null
	ssad_env_cleanup
}
trap cleanup EXIT

# A copy of the client under another name gets a profile of its own (chosen by executable).
cp "$client" "$work/bin/limited_client"
cat >"$work/ssa.conf" <<EOF
default = {
  trust-file = "$work/pki/ca.pem";
  handshake-timeout = 5.0;
  server-certificates = ( { chain = "$work/pki/localhost-chain.pem"; key = "$work/pki/policy.key"; } );
};
profiles = ( { match = "$work/bin/limited_client"; user-sockets = 20; } );
EOF

start_ssad || { not_ok "ssad starts" "$(cat "$work/ssad.log")"; echo "1..$n"; exit 1; }
worker=$(worker_pid)
check "ssad: a root monitor and a worker running as user ssad" "^root ssad$" \
	"$(ps -o user= -p "$ssad_pid" | tr -d ' ') $(ps -o user= -p "$worker" | tr -d ' ')"
check "the socket is open to every user, the policy key to ssad alone" \
	"^srw-rw-rw-.*cat: .*Permission denied" \
	"$(ls -l "$sock") $(runuser -u ssa-alice -- cat "$work/pki/policy.key" 2>&1)"

# An unprivileged server with the policy's certificate, whose key its user cannot read.
port=$(free_port)
as ssa-alice "$serve" "$port" 3 >"$work/alice-serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 250); do grep -q listening "$work/alice-serve.log" && break; sleep 0.02; done
out=$(echo hello | timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
	-CAfile "$work/pki/ca.pem" -verify_return_error -quiet 2>&1)
check "alice serves with the policy certificate (key unreadable to her): openssl s_client verifies" \
	"^ok" "$out"
check "bob's client reaches alice's server through ssad" "reply: ok" \
	"$(as ssa-bob timeout 10 "$client" connect "$port" localhost 2>&1)"
check "a wrong host name is refused with the reason" "EPROTO: .*not valid for wrong.example" \
	"$(as ssa-bob timeout 10 "$client" connect "$port" wrong.example 2>&1)"

# Files named in options are read with the caller's rights.
check "bob cannot use alice's private key through ssad" "key: EINVAL: .*alice.key: Permission denied" \
	"$(as ssa-bob "$client" key "$work/pki/other-chain.pem" "$work/pki/alice.key" 2>&1)"
check "alice can use her own key" "key: OK" \
	"$(as ssa-alice "$client" key "$work/pki/other-chain.pem" "$work/pki/alice.key" 2>&1)"
check "bob cannot make ssad read the policy key for him" "key: EINVAL: .*policy.key: Permission denied" \
	"$(as ssa-bob "$client" key "$work/pki/localhost-chain.pem" "$work/pki/policy.key" 2>&1)"
check "a port below 1024 is refused to alice, as for her own TCP socket" "bind: EACCES" \
	"$(as ssa-alice "$client" bind 443 2>&1)"

# The TCP socket is the caller's: in a namespace of its own it reaches that namespace only.
if ip netns add "$netns" 2>/dev/null && ip -n "$netns" link set lo up; then
	nsport=$(free_port)
	ip netns exec "$netns" openssl s_server -accept "127.0.0.1:$nsport" -rev -naccept 1 \
		-cert "$work/pki/localhost-chain.pem" -cert_chain "$work/pki/localhost-chain.pem" \
		-key "$pki/localhost.key" >"$work/ns-server.log" 2>&1 &
	pids+=($!)
	sleep 0.5
	check "from outside the namespace its server cannot be reached (the port is not ours)" \
		"ECONNREFUSED" "$(as ssa-alice timeout 10 "$client" connect "$nsport" localhost 2>&1)"
	check "from inside, through ssad (which lives outside), it can: the socket is the caller's" \
		"reply: olleh" \
		"$(ip netns exec "$netns" runuser -u ssa-alice -- env LD_LIBRARY_PATH="$libdir" \
			SSA_BACKEND=daemon SSA_DAEMON_SOCKET="$sock" timeout 10 "$client" connect "$nsport" localhost 2>&1)"
else
	ok "# SKIP network namespaces unavailable"
fi

# No request names a socket by number or id: only the descriptor itself is proof.
forged=$(as ssa-bob timeout 10 "$client" forge "$sock" 2>&1)
check "forged: getsockopt on a socket ssad never made" "of our own making: EBADF" "$forged"
check "forged: a request that carries no socket" "naming no socket: EBADF" "$forged"
check "forged: a TLS socket around a unix socket" "around a unix socket: EINVAL" "$forged"
check "forged: around a TCP socket of the wrong family" "another family: EINVAL" "$forged"
check "forged: an unknown operation" "unknown operation: EOPNOTSUPP" "$forged"
check "forged: a request claiming 1 GiB is cut off" "1 GiB of data: disconnected" "$forged"
check "forged: garbage ends that connection" "after garbage: disconnected" "$forged"
check "ssad serves others after all that" "reply: ok" \
	"$(as ssa-alice timeout 10 "$client" connect "$port" localhost 2>&1)"

# Sessions never cross users, even under the same TLS_CONTEXT.
rport=$(free_port)
openssl s_server -accept "127.0.0.1:$rport" -rev -cert "$work/pki/localhost-chain.pem" \
	-cert_chain "$work/pki/localhost-chain.pem" -key "$pki/localhost.key" >"$work/resume.log" 2>&1 &
pids+=($!)
sleep 0.5
check "alice resumes her own session (TLS_CONTEXT 42)" "round 1 resumed=1" \
	"$(as ssa-alice timeout 10 "$client" resume "$rport" localhost 42 2>&1)"
check "bob with TLS_CONTEXT 42 never gets alice's session" "round 0 resumed=0" \
	"$(as ssa-bob timeout 10 "$client" resume "$rport" localhost 42 2>&1)"

# A program that closed stdin and moves its connection onto 0 (inetd style) keeps it to itself.
check "stdin closed, connection dup2()ed onto 0: its bytes only (daemon backend)" "reply: olleh" \
	"$(as ssa-alice timeout 10 "$client" stdin0 "$rport" localhost 2>&1)"
printf 'default = { trust-file = "%s"; };\n' "$work/pki/ca.pem" >"$work/client.conf"
chmod 644 "$work/client.conf"
check "the same in-process" "reply: olleh" \
	"$(runuser -u ssa-alice -- env LD_LIBRARY_PATH="$libdir" SSA_BACKEND=inprocess \
		SSA_CONFIG="$work/client.conf" timeout 10 "$client" stdin0 "$rport" localhost 2>&1)"

# Per-user limits: one user's flood leaves the others served.
check "alice's limited_client, whose profile says user-sockets = 20: EMFILE" \
	"opened (1?[0-9]|20): EMFILE" "$(as ssa-alice "$work/bin/limited_client" fill 25 2>&1)"
check "meanwhile bob opens his" "opened 5: OK" "$(as ssa-bob "$client" fill 5 2>&1)"

# exec: an inetd-style server hands the accepted TLS socket to a program it executes.
iport=$(free_port)
as ssa-alice "$client" inetd "$iport" "$client" handler >"$work/inetd.log" 2>&1 &
pids+=($!)
for _ in $(seq 250); do grep -q listening "$work/inetd.log" && break; sleep 0.02; done
out=$(echo "over exec" | timeout 10 openssl s_client -connect "127.0.0.1:$iport" \
	-servername localhost -CAfile "$work/pki/ca.pem" -quiet 2>&1)
check "a program exec'd on an accepted TLS socket reads, writes and asks TLS options" \
	"handler: tls cipher=TLS_.* id=yes line=over exec" "$out"

# Faults: callers killed at every phase must leave nothing behind in ssad.  gnutls-serv serves
# them all at once (s_server would take them one by one).
cport=$(free_port)
gnutls-serv -p "$cport" --echo --x509certfile "$work/pki/localhost-chain.pem" \
	--x509keyfile "$pki/localhost.key" >"$work/churn-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 250); do grep -q "listening" "$work/churn-server.log" && break; sleep 0.02; done
churn() { # PHASE N
	as ssa-bob timeout 300 "$client" churn "$cport" localhost "$2" "$1" 2>&1
}
settle_fds() { # BASELINE: wait until ssad's descriptors come back to it
	for _ in $(seq 150); do [ "$(fds_of "$worker")" -le "$1" ] && return 0; sleep 0.1; done
	return 1
}
churn handshake 50 >/dev/null
churn transfer 50 >/dev/null
churn open 50 >/dev/null
sleep 1
fds0=$(fds_of "$worker") rss0=$(rss_kib "$worker")
out="$(churn handshake 3000) $(churn transfer 3000) $(churn open 1250)"
check "10,000 TLS sockets of killed callers (3,000 mid-handshake, 3,000 mid-transfer, 10,000 open)" \
	"handshake: 3000 of 3000.*transfer: 3000 of 3000.*open: 1250 of 1250" "$out"
if settle_fds "$fds0"; then
	ok "ssad's descriptors come back to $fds0 after them"
else
	not_ok "ssad's descriptors come back to $fds0 after them" "now $(fds_of "$worker")"
fi
rss1=$(rss_kib "$worker")
if [ $((rss1 - rss0)) -lt 16384 ]; then
	ok "ssad's memory does not grow with them (RSS $rss0 -> $rss1 KiB)"
else
	not_ok "ssad's memory does not grow with them" "RSS $rss0 -> $rss1 KiB"
fi

# ssad killed: live connections see ECONNRESET, new sockets fail clearly, and after a restart
# the same program makes new connections without being restarted itself.
hport=$(free_port)
openssl s_server -accept "127.0.0.1:$hport" -rev -cert "$work/pki/localhost-chain.pem" \
	-cert_chain "$work/pki/localhost-chain.pem" -key "$pki/localhost.key" >"$work/hold-server.log" 2>&1 &
pids+=($!)
sleep 0.5
exec {hold_in}> >(as ssa-alice timeout 60 "$client" hold "$hport" localhost >"$work/hold.log" 2>&1)
for _ in $(seq 250); do grep -q connected "$work/hold.log" && break; sleep 0.02; done
doomed=$(worker_pid)
{ kill -KILL "$ssad_pid" && wait "$ssad_pid"; } 2>/dev/null
for _ in $(seq 100); do [ -d "/proc/$doomed" ] || break; sleep 0.02; done # its parent-death signal
echo read >&"$hold_in"
echo new >&"$hold_in"
sleep 0.5
start_ssad
echo new >&"$hold_in"
sleep 1
exec {hold_in}>&-
sleep 0.3
hold=$(tr '\n' ' ' <"$work/hold.log")
check "ssad killed: the live connection reads ECONNRESET" "read: ECONNRESET" "$hold"
check "ssad killed: a new socket fails with ECONNREFUSED and says why" \
	"ssad is not running at .*socket: ECONNREFUSED" "$hold"
check "ssad restarted: the same program connects again" "new: connected.*reply: olleh" "$hold"

# A broken policy stops ssad at start, with the file and line.
printf 'default = {\n  min-version = ;\n};\n' >"$work/broken.conf"
out=$("$ssad" --config "$work/broken.conf" --socket "$work/run/broken.sock" 2>&1)
check "ssad refuses a broken policy, naming file and line (exit $?)" "broken.conf:2: " "$out"

# The policy may let programs fall back to in-process TLS when ssad is not running.
printf 'default = { trust-file = "%s"; daemon-fallback = true; };\n' "$work/pki/ca.pem" >"$work/fallback.conf"
chmod 644 "$work/fallback.conf"
check "daemon-fallback = true: no ssad, TLS in-process" "reply: olleh" \
	"$(runuser -u ssa-alice -- env LD_LIBRARY_PATH="$libdir" SSA_BACKEND=daemon \
		SSA_DAEMON_SOCKET="$work/run/none.sock" SSA_CONFIG="$work/fallback.conf" \
		timeout 10 "$client" connect "$rport" localhost 2>&1)"

# systemd socket activation: the listening socket arrives as descriptor 3.
if command -v systemd-socket-activate >/dev/null; then
	asock=$work/run/activated.sock
	systemd-socket-activate -l "$asock" "$ssad" --config "$work/ssa.conf" >"$work/activate.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do [ -S "$asock" ] && break; sleep 0.05; done
	chmod 666 "$asock"
	check "socket activation: ssad started by its first caller serves it" "reply: olleh" \
		"$(runuser -u ssa-alice -- env LD_LIBRARY_PATH="$libdir" SSA_BACKEND=daemon \
			SSA_DAEMON_SOCKET="$asock" timeout 10 "$client" connect "$rport" localhost 2>&1)"
else
	ok "# SKIP systemd-socket-activate not installed"
fi
echo "1..$n"
