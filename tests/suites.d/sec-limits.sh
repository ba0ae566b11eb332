#!/usr/bin/env bash
# Issue 13, items 7, 9 and 16: one unprivileged user cannot exhaust ssad's descriptors, memory
# or threads, nor hold up other users' connections to it.
#   7  a listener that never accepts, flooded: the queue for accept() is bounded by the
#      backlog, counts against the owner's user-sockets, and goes when the clients go;
#   9  stalled half-sent requests announcing the largest data: memory bounded, connections
#      closed after the request deadline, other users served meanwhile;
#  16  a user at its connection limit knocking again and again: refused before identification
#      (no monitor round trip, no profile), other users served meanwhile.
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
. "$(dirname "$0")/../ssad-env.sh"
attack=$build/tests/.libs/sec_limits_attack
[ -x "$attack" ] || attack=$build/tests/sec_limits_attack

# Both programs in $work/quota share a profile with a small user-sockets.
mkdir -m 755 "$work/quota"
cp "$attack" "$work/quota/sec_limits_attack"
cp "$client" "$work/quota/ssad_client"
cat >"$work/ssa.conf" <<EOF
default = {
  trust-file = "$work/pki/ca.pem";
  handshake-timeout = 5.0;
  server-certificates = ( { chain = "$work/pki/localhost-chain.pem"; key = "$work/pki/policy.key"; } );
};
profiles = ( { match = "$work/quota/"; user-sockets = 40; } );
EOF
start_ssad --verbose || { not_ok "ssad starts" "$(cat "$work/ssad.log")"; echo "1..$n"; exit 1; }
worker=$(worker_pid)

settle_fds() { # LIMIT [SECONDS=15]: until ssad holds at most LIMIT descriptors
	for _ in $(seq $((${2:-15} * 10))); do
		[ "$(fds_of "$worker")" -le "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
bob_uid=$(id -u ssa-bob)

# --- 7: a listener that never accepts, and a flood of clients --------------------------------
exec {listen_in}> >(as ssa-bob "$attack" listen 16 >"$work/listen.log" 2>&1)
wait_for_line "$work/listen.log" "^listening [0-9]+" 10
lport=$(awk '/^listening/ {print $2}' "$work/listen.log")
sleep 0.5 # the listener's engine settles; descriptors counted from here
fds0=$(fds_of "$worker")
# 64 = the listen backlog (16) raised to ssad's floor for handshakes (SSA_MIN_PENDING); three
# descriptors each (T, E, A), and a few records in flight to accept() (two each).
bound=$((fds0 + 3 * 64 + 40))
exec {flood_in}> >(runuser -u ssa-bob -- "$attack" flood "$lport" 400 8 >"$work/flood.log" 2>&1)
wait_for_line "$work/flood.log" "^handshaken" 30
during=$(fds_of "$worker")
if [ "$during" -le "$bound" ]; then
	ok "400 clients of a listener that never accepts: ssad holds $fds0 -> $during descriptors (bound $bound)"
else
	not_ok "400 clients of a listener that never accepts: ssad's descriptors stay within the backlog" \
		"$fds0 -> $during, bound $bound; $(cat "$work/flood.log")"
fi
check "beyond the backlog the clients are not handshaken (the kernel's backlog holds them)" \
	"^handshaken ([0-9]|[0-9][0-9]|1[0-2][0-9]) of 400" "$(cat "$work/flood.log")"
exec {flood_in}>&-
wait_for_line "$work/flood.log" "^dropped" 10
if settle_fds $((fds0 + 2)); then
	ok "the clients gone, queued connections leave the queue: descriptors back to $fds0"
else
	not_ok "the clients gone, queued connections leave the queue and close" \
		"$fds0 -> $(fds_of "$worker") after the clients left"
fi
exec {listen_in}>&-

# Queued connections are the owner's sockets: they count against its user-sockets (40).
exec {qlisten_in}> >(as ssa-bob "$work/quota/sec_limits_attack" listen 128 >"$work/qlisten.log" 2>&1)
wait_for_line "$work/qlisten.log" "^listening [0-9]+" 10
qport=$(awk '/^listening/ {print $2}' "$work/qlisten.log")
exec {qflood_in}> >(runuser -u ssa-bob -- "$attack" flood "$qport" 60 6 >"$work/qflood.log" 2>&1)
wait_for_line "$work/qflood.log" "^handshaken" 30
check "a listener whose owner may hold 40 sockets: no more than 39 connections wait for accept()" \
	"^handshaken ([0-9]|[0-3][0-9]) of 60" "$(cat "$work/qflood.log")"
check "while they wait, the owner's own socket() meets its user-sockets limit" \
	"opened [0-9]+: EMFILE" "$(as ssa-bob "$work/quota/ssad_client" fill 10 2>&1)"
check "ssad says why it refused the connections" "uid $bob_uid: user-sockets limit \(40\) reached: [0-9]+ connections refused" \
	"$(grep -m1 "user-sockets limit" "$work/ssad.log")"
exec {qflood_in}>&-
wait_for_line "$work/qflood.log" "^dropped" 10
exec {qlisten_in}>&-
sleep 3 # the sweeper forgets closed sockets every 2 s
check "the clients and the listener gone, the owner's sockets are its own again" \
	"opened 10: OK" "$(as ssa-bob "$work/quota/ssad_client" fill 10 2>&1)"

# --- 9: stalled half-sent requests -----------------------------------------------------------
settle_fds "$fds0" 10
echo 5 >"/proc/$worker/clear_refs" # VmHWM from now on
rss0=$(rss_kib "$worker")
exec {stall_out}< <(runuser -u ssa-bob -- "$attack" stall "$sock" 300 15 2>&1)
read -r -t 60 line <&"$stall_out"
check "bob: 300 control connections announce 5 MiB requests and stall before the last byte" \
	"^stalled 300" "${line:-nothing}"
check "meanwhile alice is served" "opened 3: OK" "$(as ssa-alice timeout 10 "$client" fill 3 2>&1)"
read -r -t 60 line <&"$stall_out"
check "ssad closes every stalled connection (request deadline, memory budget)" \
	"^closed 300 of 300" "${line:-nothing}"
exec {stall_out}<&-
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$worker/status")
if [ $((hwm - rss0)) -lt 65536 ]; then
	ok "ssad's memory stays bounded under them (RSS $rss0 KiB, peak $hwm KiB)"
else
	not_ok "ssad's memory stays bounded under them (under +64 MiB)" "RSS $rss0 KiB, peak $hwm KiB"
fi
check "ssad says why it dropped them" "uid $bob_uid, .*(request not complete in time|memory budget), disconnected" \
	"$(grep -m1 -E "in time|budget|disconnected" "$work/ssad.log")"
threads=$(ls "/proc/$worker/task" | wc -l)
if settle_fds "$fds0" 10 && [ "$threads" -lt 64 ]; then
	ok "their threads and descriptors are gone ($threads threads)"
else
	not_ok "their threads and descriptors are gone" "$threads threads, $(fds_of "$worker") descriptors (was $fds0)"
fi

# --- 16: a user at its connection limit knocking ---------------------------------------------
identified() { grep -cE "uid $bob_uid .*: profile" "$work/ssad.log"; }
before=$(identified)
exec {idle_in}> >(runuser -u ssa-bob -- "$attack" idle "$sock" 256 >"$work/idle.log" 2>&1)
wait_for_line "$work/idle.log" "^held 256 of 256" 10
for _ in $(seq 100); do # their threads have identified them
	[ "$(identified)" -ge $((before + 256)) ] && break
	sleep 0.1
done
ident0=$(identified)
knockers=()
for i in 1 2 3 4; do
	runuser -u ssa-bob -- "$attack" knock "$sock" 6 >"$work/knock$i.log" 2>&1 &
	knockers+=($!)
done
sleep 1
check "while bob knocks at his limit from four processes, alice is served" "opened 3: OK" \
	"$(as ssa-alice timeout 10 "$client" fill 3 2>&1)"
wait "${knockers[@]}"
knocked=$(cat "$work"/knock*.log | awk '{s += $2} END {print s + 0}')
ident1=$(identified)
if [ "$knocked" -gt 1000 ] && [ $((ident1 - ident0)) -lt 16 ]; then
	ok "bob's $knocked refused connections were refused before identification ($((ident1 - ident0)) identified)"
else
	not_ok "bob's refused connections are refused before identification (monitor, profile)" \
		"$knocked knocks, $((ident1 - ident0)) identified"
fi
exec {idle_in}>&-

# Anchors a caller sends are parsed and held by ssad: at most 1,000 certificates a file (the
# audit's 6,000 distinct ones took 34 MB and 2.8 s of ssad's CPU each, and stayed cached).
mkdir -m 755 "$work/anchors"
for count in 1000 1001 5000; do
	for _ in $(seq "$count"); do cat "$work/pki/ca.pem"; done >"$work/anchors/ca-$count.pem"
done
chmod 644 "$work/anchors/"*
out=$(as ssa-bob timeout 60 "$attack" anchors "$work/anchors/ca-1000.pem" \
	"$work/anchors/ca-1001.pem" "$work/anchors/ca-5000.pem" 2>&1)
check "an anchor file of 1,000 certificates is taken through ssad" "ca-1000.pem: OK" "$out"
check "one of 1,001 is refused, with the reason" "ca-1001.pem: EINVAL: .*more than 1000 certificates" "$out"
check "one of 5,000 too" "ca-5000.pem: EINVAL: .*more than 1000 certificates" "$out"

# Users who come and go: ssad keeps counts for 4,096 users at once, and a user who holds
# nothing gives its place up (once taken, places were never given back: any 4,096 uids, as
# from a user namespace with subordinate ids, shut every later user out for good).
out=$(timeout 120 python3 "$SSA_TEST_SRCDIR/tests/sec_limits_uids.py" "$sock" 300000 4200 2>&1)
check "after 4,200 users came and went, a new user is still served" "^answered" "$out"

echo "1..$n"
