#!/usr/bin/env bash
# How streams end (issue 13, items 10-12), against real peers (Python's ssl, openssl s_client):
#  10. only the program's orderly close(), shutdown() or exit() gives close_notify; a program
#      killed mid-response is a cut the peer sees as truncation, in both backends;
#  11. ssad killed under a live connection: the program reads ECONNRESET after the data
#      already queued, whatever it had done (written nothing, a request, received data);
#  12. ssad killed under a listener: accept() says why, a poll loop does not spin.
# Needs root (users, ssad as the administrator runs it).
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
. "$(dirname "$0")/../ssad-env.sh"
prog=$build/tests/.libs/sec_ends_prog

cat >"$work/ssa.conf" <<EOF
default = {
  trust-file = "$work/pki/ca.pem";
  handshake-timeout = 5.0;
  server-certificates = ( { chain = "$work/pki/localhost-chain.pem"; key = "$work/pki/policy.key"; } );
};
EOF
start_ssad || { not_ok "ssad starts" "$(cat "$work/ssad.log")"; echo "1..$n"; exit 1; }

# The peer: a Python ssl client that sends a request and reads the response to its end, saying
# how it ended.  suppress_ragged_eofs=False: an EOF without close_notify is an error.
cat >"$work/peer.py" <<'EOF'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
s.sendall(b"GET /\n")
data = b""
try:
    while True:
        b = s.recv(4096)
        if not b:
            print("end: close_notify")
            break
        data += b
except ssl.SSLEOFError as e:
    print("end: truncated (%s)" % e)
except Exception as e:
    print("end: %s %s" % (type(e).__name__, e))
print("data: %s" % data.decode(errors="replace"))
EOF

# serve_case BACKEND HOW [KILL]: the program serves one response as HOW says; KILL: the suite
# then kills it (or, for "fork", its child) with SIGKILL once the peer has the partial data
# or the parent closed.  Prints the peer's view.
serve_case() {
	local backend=$1 how=$2 kill=${3:-} log=$work/serve-$1-$2.log
	: >"$log"
	exec {in}> >(if [ "$backend" = daemon ]; then
		exec runuser -u ssa-alice -- env LD_LIBRARY_PATH="$libdir" SSA_BACKEND=daemon \
			SSA_DAEMON_SOCKET="$sock" timeout 30 "$prog" serve "$how"
	else
		exec env LD_LIBRARY_PATH="$libdir" SSA_BACKEND=inprocess SSA_CONFIG="$work/ssa.conf" \
			timeout 30 "$prog" serve "$how"
	fi >"$log" 2>&1)
	local ppid=$!
	wait_for_line "$log" "^port [0-9]+" 10 || { echo "no port: $(cat "$log")"; return; }
	local port
	port=$(sed -n 's/^port //p' "$log")
	python3 "$work/peer.py" "$port" "$work/pki/ca.pem" >"$log.peer" 2>&1 &
	local peer=$!
	if [ -n "$kill" ]; then
		local victim
		if [ "$how" = fork ]; then
			wait_for_line "$log" "^parent closed" 10
			victim=$(sed -n 's/^child //p' "$log")
		else
			wait_for_line "$log" "^wrote" 10
			victim=$(pgrep -f "sec_ends_prog serve $how" | while read -r p; do
				[ "$(ps -o comm= -p "$p")" = sec_ends_prog ] && echo "$p"; done | head -1)
		fi
		[ -n "$victim" ] && kill -KILL "$victim"
	fi
	wait "$peer"
	exec {in}>&-
	wait "$ppid" 2>/dev/null
	tr '\n' ' ' <"$log.peer"
}

for backend in inprocess daemon; do
	out=$(serve_case "$backend" hang kill)
	check "$backend: a server killed mid-response: the peer sees the truncation, no close_notify" \
		"end: truncated .*data: partial response" "$out"
	check "$backend: a server that close()s: the peer reads close_notify after the response" \
		"end: close_notify .*data: partial response" "$(serve_case "$backend" close)"
	check "$backend: a server that exit()s without close(): close_notify, as for TCP's FIN" \
		"end: close_notify .*data: partial response" "$(serve_case "$backend" exit)"
	check "$backend: shutdown(SHUT_WR), then killed: close_notify (the program ended the stream)" \
		"end: close_notify .*data: partial response" "$(serve_case "$backend" shutdown kill)"
	check "$backend: close() of a dup()ed descriptor, the original closed first: close_notify" \
		"end: close_notify .*data: partial response" "$(serve_case "$backend" dup)"
done
# Through ssad the descriptor is shared between processes like a kernel socket's: the parent's
# close() of one copy is no end of the stream, and the child that holds the last one is killed.
check "daemon: parent closes its copy, the forked child holding the last one is killed: a cut" \
	"end: truncated .*data: partial response" "$(serve_case daemon fork kill)"

# openssl s_client as the peer: the same two ends, as its own words say them.
sclient_case() { # HOW [kill]
	local log=$work/sclient-$1.log
	exec {in}> >(runuser -u ssa-alice -- env LD_LIBRARY_PATH="$libdir" SSA_BACKEND=daemon \
		SSA_DAEMON_SOCKET="$sock" timeout 30 "$prog" serve "$1" >"$log" 2>&1)
	local ppid=$!
	wait_for_line "$log" "^port [0-9]+" 10
	local port
	port=$(sed -n 's/^port //p' "$log")
	(echo "GET /"; sleep 5) | timeout 20 openssl s_client -connect "127.0.0.1:$port" \
		-servername localhost -CAfile "$work/pki/ca.pem" -verify_return_error -quiet \
		>"$log.peer" 2>&1 &
	local peer=$!
	wait_for_line "$log" "^wrote" 10
	if [ "${2:-}" = kill ]; then
		pkill -KILL -f "sec_ends_prog serve $1"
	fi
	wait "$peer"
	exec {in}>&-
	wait "$ppid" 2>/dev/null
	tr '\n' ' ' <"$log.peer"
}
out=$(sclient_case hang kill)
check "daemon: openssl s_client, server killed mid-response: 'unexpected eof while reading'" \
	"partial response.*unexpected eof while reading" "$out"
out=$(sclient_case close)
if grep -q "unexpected eof" <<<"$out"; then
	not_ok "daemon: openssl s_client, server closes: no 'unexpected eof'" "$out"
else
	check "daemon: openssl s_client, server closes: no 'unexpected eof'" "partial response" "$out"
fi

# Item 11: ssad killed under a live connection, in three states of the program.  The peer
# answers "echo" and leaves "hold" unanswered.
cat >"$work/echo.py" <<'EOF'
import socket, ssl, sys, threading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(8)
print("port %d" % ls.getsockname()[1], flush=True)
def serve(c):
    try:
        s = ctx.wrap_socket(c, server_side=True)
        while True:
            line = s.recv(4096)
            if not line:
                break
            if line.startswith(b"echo"):
                s.sendall(b"echoed\n")
    except Exception:
        pass
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
python3 "$work/echo.py" "$work/pki/localhost-chain.pem" "$pki/localhost.key" >"$work/echo.log" 2>&1 &
pids+=($!)
wait_for_line "$work/echo.log" "^port" 10
eport=$(sed -n 's/^port //p' "$work/echo.log")
declare -A hold_in hold_log
for state in nothing request received; do
	hold_log[$state]=$work/hold-$state.log
	exec {fd}> >(as ssa-alice timeout 60 "$prog" hold "$eport" localhost "$state" \
		>"${hold_log[$state]}" 2>&1)
	hold_in[$state]=$fd
	wait_for_line "${hold_log[$state]}" "^ready" 10
done
doomed=$(worker_pid)
{ kill -KILL "$ssad_pid" && wait "$ssad_pid"; } 2>/dev/null
for _ in $(seq 250); do [ -d "/proc/$doomed" ] || break; sleep 0.02; done # parent-death signal
for state in nothing request received; do
	echo go >&"${hold_in[$state]}"
done
for state in nothing request received; do
	wait_for_line "${hold_log[$state]}" "read: (EOF|E[A-Z]+|[A-Z][a-z])" 10
	exec {hold_in[$state]}>&-
done
check "ssad killed, the program had written nothing: it reads ECONNRESET" \
	"^read: ECONNRESET$" "$(cat "${hold_log[nothing]}" | grep read)"
check "ssad killed, the program's request unanswered: it reads ECONNRESET" \
	"^read: ECONNRESET$" "$(cat "${hold_log[request]}" | grep read)"
check "ssad killed, the program had received data: it reads the data, then ECONNRESET" \
	"read: data read: ECONNRESET" "$(grep read "${hold_log[received]}" | tr '\n' ' ')"

# Item 12: ssad killed under a listener.
start_ssad || { not_ok "ssad restarts" "$(tail -5 "$work/ssad.log")"; echo "1..$n"; exit 1; }
exec {lp_in}> >(as ssa-alice timeout 60 "$prog" listen-poll >"$work/listen-poll.log" 2>&1)
wait_for_line "$work/listen-poll.log" "^ready" 10
doomed=$(worker_pid)
{ kill -KILL "$ssad_pid" && wait "$ssad_pid"; } 2>/dev/null
for _ in $(seq 250); do [ -d "/proc/$doomed" ] || break; sleep 0.02; done
echo go >&"$lp_in"
wait_for_line "$work/listen-poll.log" "^accept again" 10
exec {lp_in}>&-
lp=$(tr '\n' ' ' <"$work/listen-poll.log")
check "ssad killed: accept() on the listener fails with ECONNRESET (the service is gone)" \
	"accept: ECONNRESET" "$lp"
wakeups=$(sed -n 's/^wakeups //p' "$work/listen-poll.log")
if [ -n "$wakeups" ] && [ "$wakeups" -le 2 ]; then
	ok "ssad killed: a poll loop on the listener wakes $wakeups time(s) in 20 polls, no spin"
else
	not_ok "ssad killed: a poll loop on the listener does not spin" "$lp"
fi
check "ssad killed: a later accept() still says why" "accept again: ECONNRESET" "$lp"

echo "1..$n"
