#!/usr/bin/env bash
# Soak (issue 15, item 6): tests/soak.c drives a pool of 32 client threads, each job one
# connection to tests/soak_peer.py (Python's ssl) with a seeded random size and end: completed
# echoes checked by checksum, peer resets, peer FIN without close_notify, peer reset while we
# write, our close() mid-transfer, our child killed with SIGKILL mid-write; STARTTLS on a
# quarter of the transfers, resumption on.  In both backends: in-process, and through an ssad
# started here, 25 s of rounds each (about a minute in all).  After a warm-up round and after
# the soak, the program and ssad's worker are measured: no descriptor or thread growth (through
# ssad the program may keep up to 16 more: the library's pool of idle connections to ssad), RSS
# within 16 MiB.  Seed: SSA_SOAK_SEED (printed).
# Needs root (ssad as the administrator runs it).
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
. "$(dirname "$0")/../ssad-env.sh"
soak=$build/tests/.libs/soak
seed=${SSA_SOAK_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
warm=80 jobs=120 threads=32 seconds=25
rss_slack_kib=$((16 * 1024))
echo "# seed $seed (SSA_SOAK_SEED=$seed repeats the jobs); per backend $warm warm-up jobs, then rounds of $jobs for ${seconds} s, $threads at a time"

cat >"$work/ssa.conf" <<EOF2
default = {
  trust-file = "$work/pki/ca.pem";
  handshake-timeout = 10.0;
  server-certificates = ( { chain = "$work/pki/localhost-chain.pem"; key = "$work/pki/policy.key"; } );
};
EOF2
start_ssad || { not_ok "ssad starts" "$(cat "$work/ssad.log")"; echo "1..$n"; exit 1; }
worker=$(worker_pid)

python3 "$SSA_TEST_SRCDIR/tests/soak_peer.py" "$work/pki/localhost-chain.pem" "$pki/localhost.key" \
	>"$work/peer.log" 2>&1 &
pids+=($!)
wait_for_line "$work/peer.log" "^ports " 10 || { not_ok "the peer starts" "$(cat "$work/peer.log")"; echo "1..$n"; exit 1; }
read -r _ tls_port plain_port <"$work/peer.log"

threads_of() { awk '/^Threads/ {print $2}' "/proc/$1/status"; }

# soak_run BACKEND: the soak through BACKEND; its output in $work/soak-BACKEND.log.  For the
# daemon, ssad's worker is measured while the program waits after its warm-up, and again once
# the program has exited and ssad has let its connections go (bounded wait).
soak_run() {
	local backend=$1 log=$work/soak-$1.log fifo=$work/go-$1 pid fd0 th0 rss0 fd1 th1 rss1
	mkfifo "$fifo"
	if [ "$backend" = daemon ]; then
		as ssa-alice timeout 150 "$soak" run "$tls_port" "$plain_port" "$seed" $warm $jobs $threads $seconds
	else
		env LD_LIBRARY_PATH="$libdir" SSA_BACKEND=inprocess SSA_CONFIG="$work/ssa.conf" \
			timeout 150 "$soak" run "$tls_port" "$plain_port" "$seed" $warm $jobs $threads $seconds
	fi <"$fifo" >"$log" 2>"$log.err" &
	pid=$!
	exec {go}>"$fifo"
	if ! wait_for_line "$log" "^warm " 100; then
		exec {go}>&-
		not_ok "$backend: the warm-up round ends" "$(cat "$log" "$log.err")"
		return
	fi
	if [ "$backend" = daemon ]; then
		fd0=$(fds_of "$worker") th0=$(threads_of "$worker") rss0=$(rss_kib "$worker")
	fi
	echo go >&$go
	exec {go}>&-
	wait "$pid"
	check "$backend: the program exits 0 (no descriptor or thread growth, RSS within 16 MiB)" \
		"^0 .*growth ok" "$? $(grep -E '^(warm|after|growth)' "$log" | tr '\n' ' ') $(cat "$log.err")"
	local sum
	sum=$(grep '^completed' "$log")
	echo "# $backend: $(grep '^jobs' "$log"): $sum"
	read -r _ done _ ok _ cut _ reset _ eof _ other _ setup _ starttls _ resumed _ closed \
		_ killed _ pnotify _ pcut <<<"$sum"
	check "$backend: every completed transfer passes its checksum" "^yes" \
		"$([ "${done:-0}" -gt 0 ] && [ "$ok" = "$done" ] && echo yes) $sum $(cat "$log.err")"
	check "$backend: every cut is seen as ECONNRESET or EPIPE, none as a clean end of file" "^yes" \
		"$([ "${cut:-0}" -gt 0 ] && [ "$reset" = "$cut" ] && [ "$eof" = 0 ] && echo yes) $sum $(cat "$log.err")"
	check "$backend: no other error, every connection set up" "^yes" \
		"$([ "$other" = 0 ] && [ "$setup" = 0 ] && echo yes) $sum $(cat "$log.err")"
	check "$backend: STARTTLS and resumption happened" "^yes" \
		"$([ "${starttls:-0}" -gt 0 ] && [ "${resumed:-0}" -gt 0 ] && echo yes) $sum"
	check "$backend: the peer saw close_notify for each close() mid-transfer, a cut for each kill" \
		"^yes" "$([ "${closed:-0}" -gt 0 ] && [ "${killed:-0}" -gt 0 ] && [ "$pnotify" = "$closed" ] &&
			[ "$pcut" = "$killed" ] && echo yes) $sum"
	if [ "$backend" = daemon ]; then
		for _ in $(seq 500); do # ssad closes the program's connections as it sees them end
			[ "$(fds_of "$worker")" -le "$fd0" ] && break
			sleep 0.02
		done
		fd1=$(fds_of "$worker") th1=$(threads_of "$worker") rss1=$(rss_kib "$worker")
		check "ssad's worker: no descriptor or thread growth, RSS within 16 MiB" "^yes" \
			"$([ "$fd1" -le "$fd0" ] && [ "$th1" -le "$th0" ] &&
				[ "$rss1" -le $((rss0 + rss_slack_kib)) ] && echo yes) fds $fd0 -> $fd1, threads $th0 -> $th1, rss $rss0 -> $rss1 KiB"
		echo "# ssad worker: fds $fd0 -> $fd1, threads $th0 -> $th1, rss $rss0 -> $rss1 KiB"
	fi
}

soak_run inprocess
soak_run daemon
check "ssad still serves after the soak" "^$" "$(kill -0 "$ssad_pid" 2>&1)"
echo "1..$n"
