#!/usr/bin/env bash
# bench/run.sh -- the project's performance record: every scenario against every peer, R times
# each, medians and ratios to OpenSSL used directly, a markdown table and PNG plots.
#
#   bench/run.sh [--quick] [--reps R] [--out FILE] [--peers "tcp openssl ssa ssad stunnel hitch"]
#                [--scenarios "bulk rr hs idle"] [--timeout SECS] [--no-build] [--no-plots]
#                [--plot-dir DIR] [--shard-conns N] [--idle-conns "N ..."]
#
#   --quick    1 repetition, small sizes, short handshake runs: a smoke test of the harness
#              (about 3 minutes); the default is the full run (5 repetitions, about 25 minutes)
#
# Peers: tcp (the floor), openssl (the same programs calling OpenSSL: the limit we chase),
# ssa (IPPROTO_TLS, in-process engine), ssad (IPPROTO_TLS through the ssad daemon: only if an
# ssad binary is found), stunnel (plain client -> stunnel client -> TLS -> stunnel server ->
# plain server) and hitch (the same with hitch as the TLS server).
#
# Repetitions are interleaved (rep 1 of every scenario and peer, then rep 2, ...) so that a
# slow drift of the machine does not land on one peer only.  A (peer, scenario) that fails or
# times out once is not retried: it is shown as n/a with the reason.  Only processes this
# script started are stopped, by pid.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/stats.sh"
top=$(cd "$here/.." && pwd)
cmdline="bench/run.sh${*:+ $*}"
quick=0 reps="" out="$here/RESULTS.md" plot_dir="$here" build=1 plots=1
peers="tcp openssl ssa ssad stunnel hitch"
scenario_groups="bulk rr hs idle"
client_timeout=120 shard_conns="" idle_override=""

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1; shift ;;
	--reps) reps=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--peers) peers=$2; shift 2 ;;
	--scenarios) scenario_groups=$2; shift 2 ;;
	--timeout) client_timeout=$2; shift 2 ;;
	--no-build) build=0; shift ;;
	--no-plots) plots=0; shift ;;
	--plot-dir) plot_dir=$2; shift 2 ;;
	--shard-conns) shard_conns=$2; shift 2 ;;
	--idle-conns) idle_override=$2; shift 2 ;;
	*) usage ;;
	esac
done
for p in $peers; do
	case $p in tcp | openssl | ssa | ssad | stunnel | hitch) ;; *) echo "run.sh: unknown peer $p" >&2; usage ;; esac
done
for g in $scenario_groups; do
	case $g in bulk | rr | hs | idle) ;; *) echo "run.sh: unknown scenario group $g" >&2; usage ;; esac
done
case "${reps:-1}${shard_conns:-1}$client_timeout" in *[!0-9]*) echo "run.sh: --reps, --shard-conns and --timeout take whole numbers" >&2; exit 2 ;; esac

# The two sizes of run.  rr_budget bounds the bytes per direction of one request/response run,
# so that 1 MiB messages do not take 10,000 round trips.
if [ "$quick" = 1 ]; then
	: "${reps:=1}"
	bytes=128M rr_sizes="64 4096 65536 1048576" rr_count=1000 rr_budget=$((32 << 20))
	hs_ks="1 16 256" hs_secs=0.5 idle_ns="500 2000" idle_count=1000
else
	: "${reps:=5}"
	bytes=1G rr_sizes="64 4096 65536 1048576" rr_count=10000 rr_budget=$((512 << 20))
	hs_ks="1 16 256" hs_secs=2 idle_ns="1000 10000" idle_count=10000
fi
if [ -n "$idle_override" ]; then
	case "$idle_override" in *[!0-9\ ]* | " " | "") echo "run.sh: --idle-conns takes whole numbers" >&2; exit 2 ;; esac
	idle_ns=$idle_override
fi
[ "$reps" -ge 1 ] || { echo "run.sh: --reps must be at least 1" >&2; exit 2; }
idle_k=16 # threads opening the idle connections
idle_timeout=900

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ssa-bench.XXXXXX")
case $tmp in *[[:space:]]*) echo "run.sh: TMPDIR must not contain spaces" >&2; exit 2 ;; esac
declare -A unavailable=() failed=() c_bin=() c_transport=() c_port=() c_rport=() c_env=()
declare -A c_watch=() c_kill=() c_probe=()
started_pids="" load_pid=""
t_start=$(date +%s)

log() { printf 'run.sh: %s\n' "$*" >&2; }

# Stop only what this script started, by pid, children of hitch and ssad through their parent.
cleanup() {
	local p
	for p in $started_pids $load_pid; do kill "$p" 2>/dev/null || true; done
	for p in $started_pids $load_pid; do wait "$p" 2>/dev/null || true; done
	if [ -n "${SSA_BENCH_KEEP:-}" ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Setup: descriptors, certificates, binaries, tools

# 10,000 connections need more descriptors than the default soft limit; the hard limit is what
# an unprivileged (or capability-less) run can get, and idle runs are split into shards of
# processes that each stay under it.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)

# A CA and a leaf for "localhost" (and 127.0.0.1), EC P-256, valid two days.
make_certs() {
	local d=$tmp/pki
	mkdir -p "$d"
	openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key"
	openssl req -x509 -new -key "$d/ca.key" -sha256 -days 2 -subj "/CN=SSA bench CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$d/ca.pem"
	openssl ecparam -name prime256v1 -genkey -noout -out "$d/leaf.key"
	openssl req -new -key "$d/leaf.key" -subj "/CN=localhost" -out "$d/leaf.csr"
	printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$d/ext.cnf"
	openssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -sha256 -extfile "$d/ext.cnf" -out "$d/leaf.pem" 2>/dev/null
	cat "$d/leaf.pem" "$d/leaf.key" >"$d/leaf-key.pem" # hitch wants both in one file
	chmod 600 "$d"/*.key "$d/leaf-key.pem"
	# Policy for the daemon peer (the in-process peer sets the same through socket options).
	cat >"$tmp/ssa.conf" <<-EOF
		default = {
		  trust-file = "$d/ca.pem";
		  server-certificates = ( { chain = "$d/leaf.pem"; key = "$d/leaf.key"; } );
		};
	EOF
}

# The directory with a libssa.so to build against: the build of ./bootstrap, an in-tree build,
# else the installed one.
find_libssa() {
	local dir i
	# A build in progress (the directory is there, the library not yet): wait for it a while.
	for i in $(seq 120); do
		[ -d "$top/_build/core/.libs" ] && [ ! -e "$top/_build/core/.libs/libssa.so" ] || break
		[ "$i" = 1 ] && log "waiting (at most 2 min) for _build/core/.libs/libssa.so, being rebuilt"
		sleep 1
	done
	for dir in "$top/_build/core/.libs" "$top/core/.libs" "$(pkg-config --variable=libdir ssa 2>/dev/null || true)"; do
		[ -n "$dir" ] && [ -e "$dir/libssa.so" ] && { echo "$dir"; return 0; }
	done
	return 1
}

build_binaries() {
	local want_ssa=0 why=""
	case " $peers " in *" ssa "* | *" ssad "*) want_ssa=1 ;; esac
	if [ "$build" = 1 ]; then
		make -s -C "$here" all >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log" >&2; exit 1; }
	fi
	[ "$want_ssa" = 1 ] || return 0
	if ! libssa_from=$(find_libssa); then
		why="no libssa.so in _build/core/.libs, core/.libs or pkg-config's libdir (./bootstrap build, then rerun)"
	elif [ "$build" = 1 ] && ! make -s -C "$here" ssa SSA_LIBDIR="$libssa_from" >"$tmp/make-ssa.log" 2>&1; then
		why="make ssa failed: $(grep -m1 -i error "$tmp/make-ssa.log" || tail -n1 "$tmp/make-ssa.log")"
	elif [ ! -x "$here/bench_client_ssa" ] || [ ! -x "$here/bench_server_ssa" ]; then
		why="bench_client_ssa/bench_server_ssa not built (make -C bench ssa)"
	else
		# Someone may rebuild or reinstall libssa during a long run: the ssa peers load a copy
		# taken now (the binaries' RUNPATH gives way to LD_LIBRARY_PATH), with the engine
		# module beside it (build tree) or in ssa/ below it (installed), as libssa looks for it.
		mkdir -p "$tmp/lib/ssa"
		cp -aL "$libssa_from"/libssa.so* "$tmp/lib/"
		engine=
		for f in "$libssa_from"/ssa/ssa-engine.so "$libssa_from"/ssa-engine.so; do
			[ -z "$engine" ] && [ -e "$f" ] && engine=$f && cp -L "$f" "$tmp/lib/ssa/"
		done
		if [ -z "$engine" ]; then
			why="no ssa-engine.so beside $libssa_from/libssa.so (libssa's engine module)"
		elif ! grep -q "libssa\.so.*=> $tmp/lib/" <<<"$(LD_LIBRARY_PATH=$tmp/lib ldd "$here/bench_client_ssa")"; then
			# (not `ldd | grep -q`: grep quitting early makes ldd's SIGPIPE fail the pipeline)
			why="bench_client_ssa does not load libssa"
		fi
	fi
	if [ -n "$why" ]; then
		unavailable[ssa]=$why
		unavailable[ssad]=$why
	fi
}

find_ssad() {
	local b
	for b in "${BUILD:-}/core/ssad" "$top/_build/core/ssad" "$top/core/ssad" "$(command -v ssad || true)"; do
		[ -n "$b" ] && [ -x "$b" ] && [ ! -d "$b" ] && { echo "$b"; return 0; }
	done
	return 1
}

# Relays and plots come from Debian packages; install what is missing when we can.
need_tools() {
	local pkgs="" t
	case " $peers " in *" stunnel "* | *" hitch "*) command -v stunnel4 >/dev/null || pkgs+=" stunnel4" ;; esac
	case " $peers " in *" hitch "*) command -v hitch >/dev/null || pkgs+=" hitch" ;; esac
	[ "$plots" = 1 ] && ! command -v gnuplot >/dev/null && pkgs+=" gnuplot-nox"
	if [ -n "$pkgs" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		log "installing$pkgs"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs; } \
			>"$tmp/apt.log" 2>&1 || log "apt-get failed: $(tail -n1 "$tmp/apt.log")"
	fi
	for t in stunnel hitch; do
		case " $peers " in *" $t "*) ;; *) continue ;; esac
		command -v stunnel4 >/dev/null || unavailable[$t]="stunnel4 not installed (apt-get install stunnel4)"
	done
	case " $peers " in *" hitch "*) command -v hitch >/dev/null || unavailable[hitch]="hitch not installed (apt-get install hitch)" ;; esac
	if [ "$plots" = 1 ] && ! command -v gnuplot >/dev/null; then
		log "gnuplot not available: no plots"
		plots=0
	fi
	case " $peers " in *" ssad "*) ;; *) return 0 ;; esac
	if [ -z "${unavailable[ssad]:-}" ]; then
		if ! ssad_bin=$(find_ssad); then
			unavailable[ssad]="ssad not built: skipped"
		elif ! grep -aq SSA_DAEMON_SOCKET "$tmp"/lib/ssa/ssa-engine.so; then
			# an older library ignores SSA_BACKEND=daemon and would run in-process
			unavailable[ssad]="the libssa.so from $libssa_from has no daemon backend: skipped"
		else
			# a copy, like the library: the daemon and the library must be of one build
			cp "$ssad_bin" "$tmp/ssad"
			ssad_from=$ssad_bin
			ssad_bin=$tmp/ssad
		fi
	fi
}

# CPU time (clock ticks) of a process and its threads.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# The daemon peer is only what it says if the bytes go through ssad: its CPU time must move
# while 128 MiB cross a connection.
check_daemon_used() {
	local tag=$1 pid t0 t1
	pid=${c_watch[$tag]##*daemon:}
	pid=${pid%% *}
	t0=$(cpu_ticks "$pid")
	# shellcheck disable=SC2086
	env ${c_env[$tag]} timeout "$client_timeout" "${c_bin[$tag]}" --transport ssa --port "${c_port[$tag]}" \
		--ca "$tmp/pki/ca.pem" --scenario bulk --bytes 128M >/dev/null 2>"$tmp/$tag.check.err" || {
		chain_error="bulk check through ssad failed: $(tail -n1 "$tmp/$tag.check.err")"; return 1; }
	t1=$(cpu_ticks "$pid")
	[ $((t1 - t0)) -ge 3 ] || { chain_error="ssad used no CPU while 128 MiB went through: the library did not use the daemon"; return 1; }
}

# ---------------------------------------------------------------------------------------------
# Chains: the processes of one peer (server, relays or daemon) for one set of runs

next_port=$((20000 + RANDOM % 8000))
# A loopback port no socket uses now, in $port_out (the relays need fixed ports; bench_server
# takes port 0).  Not called in $(...): the counter must survive.
alloc_port() {
	local used
	used=$(ss -Htan 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }' | sort -u)
	while grep -qx "$next_port" <<<"$used"; do next_port=$((next_port + 1)); done
	port_out=$next_port
	next_port=$((next_port + 1))
}

# Wait (bounded) until something listens on 127.0.0.1:port and pid still lives.
wait_listen() {
	local port=$1 pid=$2 i
	for i in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || return 1
		[ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ] && return 0
		sleep 0.05
	done
	return 1
}

started() { started_pids+=" $1"; c_kill[$2]+=" $1"; }

# bench_server for chain $1 with transport $2 and binary suffix $3; echoes nothing, sets srv_port.
start_server() {
	local tag=$1 t=$2 sfx=$3 envs=$4 p pid
	: >"$tmp/$tag.server.out"
	# shellcheck disable=SC2086 # envs is a list of NAME=VALUE words
	env $envs "$here/bench_server$sfx" --transport "$t" --cert "$tmp/pki/leaf.pem" \
		--key "$tmp/pki/leaf.key" >"$tmp/$tag.server.out" 2>"$tmp/$tag.server.err" &
	pid=$!
	started "$pid" "$tag"
	c_watch[$tag]+=" server:$pid"
	for _ in $(seq 200); do
		p=$(awk '$1 == "PORT" { print $2; exit }' "$tmp/$tag.server.out")
		if [ -n "$p" ]; then srv_port=$p; return 0; fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	chain_error="server did not start: $(tail -n1 "$tmp/$tag.server.err")"
	return 1
}

# stunnel client: services full (no resumption) and resumed, plus the same two at log level
# info ("probe") used once to count resumed sessions from stunnel's own log.
start_stunnel_client() {
	local tag=$1 upstream=$2 pf pr ppf ppr pid conf
	conf=$tmp/$tag.stunnel-client.conf
	alloc_port; pf=$port_out
	alloc_port; pr=$port_out
	alloc_port; ppf=$port_out
	alloc_port; ppr=$port_out
	{
		printf '%s\n' "foreground = yes" "pid =" "syslog = no" "debug = 4" \
			"output = $tmp/$tag.stunnel-client.log"
		local svc resume debug port
		for svc in "full no 4 $pf" "resumed yes 4 $pr" "probe-full no 6 $ppf" "probe-resumed yes 6 $ppr"; do
			read -r name resume debug port <<<"$svc"
			printf '%s\n' "[$name]" "client = yes" "accept = 127.0.0.1:$port" \
				"connect = 127.0.0.1:$upstream" "CAfile = $tmp/pki/ca.pem" "verifyChain = yes" \
				"checkHost = localhost" "sni = localhost" "sessionResume = $resume" \
				"debug = $debug" "socket = l:TCP_NODELAY=1" "socket = r:TCP_NODELAY=1"
		done
	} >"$conf"
	stunnel4 "$conf" >"$tmp/$tag.stunnel-client.out" 2>&1 &
	pid=$!
	started "$pid" "$tag"
	c_watch[$tag]+=" relay:$pid"
	c_port[$tag]=$pf c_rport[$tag]=$pr c_probe[$tag]="$ppf $ppr"
	wait_listen "$ppr" "$pid" || { chain_error="stunnel client did not start: $(tail -n1 "$tmp/$tag.stunnel-client.out")"; return 1; }
}

start_stunnel_server() {
	local tag=$1 backend=$2 port pid conf
	conf=$tmp/$tag.stunnel-server.conf
	alloc_port; port=$port_out
	printf '%s\n' "foreground = yes" "pid =" "syslog = no" "debug = 4" \
		"output = $tmp/$tag.stunnel-server.log" "[tls]" "accept = 127.0.0.1:$port" \
		"connect = 127.0.0.1:$backend" "cert = $tmp/pki/leaf.pem" "key = $tmp/pki/leaf.key" \
		"socket = l:TCP_NODELAY=1" "socket = r:TCP_NODELAY=1" >"$conf"
	stunnel4 "$conf" >"$tmp/$tag.stunnel-server.out" 2>&1 &
	pid=$!
	started "$pid" "$tag"
	c_watch[$tag]+=" relay:$pid"
	wait_listen "$port" "$pid" || { chain_error="stunnel server did not start: $(tail -n1 "$tmp/$tag.stunnel-server.out")"; return 1; }
	relay_port=$port
}

# hitch refuses to run its workers as root: they run as nobody (the key is read before).
start_hitch() {
	local tag=$1 backend=$2 port pid conf
	conf=$tmp/$tag.hitch.conf
	alloc_port; port=$port_out
	printf '%s\n' "frontend = \"[127.0.0.1]:$port\"" "backend = \"[127.0.0.1]:$backend\"" \
		"pem-file = \"$tmp/pki/leaf-key.pem\"" "workers = $(nproc)" "daemon = off" \
		"tls-protos = TLSv1.2 TLSv1.3" >"$conf"
	[ "$(id -u)" = 0 ] && printf '%s\n' 'user = "nobody"' 'group = "nogroup"' >>"$conf"
	hitch --config="$conf" >"$tmp/$tag.hitch.out" 2>&1 &
	pid=$!
	started "$pid" "$tag"
	c_watch[$tag]+=" relay:$pid"
	wait_listen "$port" "$pid" || { chain_error="hitch did not start: $(grep -m1 -i error "$tmp/$tag.hitch.out" || tail -n1 "$tmp/$tag.hitch.out")"; return 1; }
	relay_port=$port
}

start_ssad() {
	local tag=$1 sock pid args=()
	sock=$tmp/$tag.ssad.sock
	args=(--socket "$sock" --config "$tmp/ssa.conf")
	# As root ssad drops to user ssad when it exists; the bench keeps it root so that it can
	# read the throwaway key in our private temp dir.
	if [ "$(id -u)" = 0 ] && "$ssad_bin" --help 2>&1 | grep -q -- '--user'; then args+=(--user root); fi
	"$ssad_bin" "${args[@]}" >"$tmp/$tag.ssad.out" 2>&1 &
	pid=$!
	started "$pid" "$tag"
	c_watch[$tag]+=" daemon:$pid"
	# listening, not only bound: the socket file appears at bind(), before listen()
	for _ in $(seq 200); do
		[ -S "$sock" ] && [[ $(ss -Hxl 2>/dev/null) == *"$sock "* ]] && { ssad_sock=$sock; return 0; }
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	chain_error="ssad did not start: $(tail -n1 "$tmp/$tag.ssad.out")"
	return 1
}

# Start every process of peer $1 as chain $2; 1 with chain_error set on failure.
start_chain() {
	local peer=$1 tag=$2
	c_watch[$tag]="" c_kill[$tag]="" c_env[$tag]="" c_bin[$tag]="$here/bench_client"
	c_transport[$tag]=tcp chain_error=""
	case $peer in
	tcp | openssl)
		c_transport[$tag]=$peer
		start_server "$tag" "$peer" "" "" || return 1
		c_port[$tag]=$srv_port c_rport[$tag]=$srv_port
		;;
	ssa | ssad)
		c_transport[$tag]=ssa c_bin[$tag]="$here/bench_client_ssa"
		if [ "$peer" = ssa ]; then
			# explicit: "auto" would pick a daemon that happens to run
			c_env[$tag]="LD_LIBRARY_PATH=$tmp/lib SSA_BACKEND=inprocess"
		else
			start_ssad "$tag" || return 1
			c_env[$tag]="LD_LIBRARY_PATH=$tmp/lib SSA_BACKEND=daemon SSA_DAEMON_SOCKET=$ssad_sock SSA_CONFIG=$tmp/ssa.conf"
		fi
		start_server "$tag" ssa _ssa "${c_env[$tag]}" || return 1
		c_port[$tag]=$srv_port c_rport[$tag]=$srv_port
		;;
	stunnel | hitch)
		start_server "$tag" tcp "" "" || return 1
		if [ "$peer" = stunnel ]; then
			start_stunnel_server "$tag" "$srv_port" || return 1
		else
			start_hitch "$tag" "$srv_port" || return 1
		fi
		start_stunnel_client "$tag" "$relay_port" || return 1
		;;
	esac
}

stop_chain() {
	local p keep=""
	for p in ${c_kill[$1]}; do kill "$p" 2>/dev/null || true; done
	for p in ${c_kill[$1]}; do wait "$p" 2>/dev/null || true; done
	for p in $started_pids; do
		case " ${c_kill[$1]} " in *" $p "*) ;; *) keep+=" $p" ;; esac
	done
	started_pids=$keep
	c_kill[$1]=""
}

# "role:pid,..." of the chain's processes and all their descendants (hitch's workers, ssad's
# helpers), for the idle client's memory readings.
watch_list() {
	local item role pid out="" queue kids
	for item in ${c_watch[$1]}; do
		role=${item%%:*} queue=${item#*:}
		while [ -n "$queue" ]; do
			set -- $queue
			pid=$1; shift; queue="$*"
			out+="${out:+,}$role:$pid"
			kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null | tr '\n' ' ') || kids=""
			queue="$queue $kids"
			queue=$(echo $queue)
		done
	done
	echo "$out"
}

# Resumed/total for the relays' probe services, read from stunnel's log at level info.
probe_relay() {
	local tag=$1 peer=$2 ppf ppr log n r
	log=$tmp/$tag.stunnel-client.log
	read -r ppf ppr <<<"${c_probe[$tag]}"
	"$here/bench_client" --transport tcp --port "$ppf" --scenario handshake --conns 50 \
		--concurrency 4 >/dev/null 2>&1 || true
	n=$(grep -c 'TLS connected: previous session reused' "$log" || true)
	r=$(grep -c 'TLS connected: new session negotiated' "$log" || true)
	echo "$peer full: $n/$((n + r))" >>"$tmp/relay-resumption"
	grep -m1 -o 'TLSv[0-9.]* ciphersuite: [A-Z0-9_]*' "$log" | sed "s/^/$peer: /" >>"$tmp/relay-cipher" || true
	"$here/bench_client" --transport tcp --port "$ppr" --scenario handshake --conns 50 \
		--concurrency 4 >/dev/null 2>&1 || true
	echo "$peer resumed: $(($(grep -c 'TLS connected: previous session reused' "$log" || true) - n))/$((
		$(grep -c 'TLS connected: ' "$log" || true) - n - r))" >>"$tmp/relay-resumption"
}

# ---------------------------------------------------------------------------------------------
# Scenarios.  Ids: bulk, rr:SIZE, hs:full:K, hs:res:K, idle:N.  Results: $tmp/res/PEER/ID.METRIC

field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

record() { mkdir -p "$tmp/res/$1"; echo "$4" >>"$tmp/res/$1/$2.$3"; }

rr_count_for() {
	local c=$((rr_budget / $1))
	[ "$c" -gt "$rr_count" ] && c=$rr_count
	[ "$c" -lt 20 ] && c=20
	echo "$c"
}

client_args() {
	case $1 in
	bulk) echo "--scenario bulk --bytes $bytes" ;;
	rr:*) echo "--scenario pingpong --size ${1#rr:} --count $(rr_count_for "${1#rr:}")" ;;
	hs:*) echo "--scenario handshake --duration $hs_secs --concurrency ${1##*:}" ;;
	esac
}

run_one() {
	local peer=$1 s=$2 tag=$1 rc=0 line port extra=""
	port=${c_port[$tag]}
	case $s in
	hs:res:*)
		port=${c_rport[$tag]}
		[ "${c_transport[$tag]}" != tcp ] && extra=--resume
		;;
	esac
	# shellcheck disable=SC2046,SC2086 # word lists on purpose
	env ${c_env[$tag]} timeout "$client_timeout" "${c_bin[$tag]}" --transport "${c_transport[$tag]}" \
		--port "$port" --ca "$tmp/pki/ca.pem" --servername localhost $(client_args "$s") $extra \
		>"$tmp/client.out" 2>"$tmp/client.err" || rc=$?
	line=$(grep -m1 '^RESULT ' "$tmp/client.out" || true)
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		if [ "$rc" -eq 124 ]; then failed[$peer,$s]="timed out after ${client_timeout}s"
		else failed[$peer,$s]="exit $rc: $(grep -v '^$' "$tmp/client.err" | tail -n1)"; fi
		log "$peer $s FAILED: ${failed[$peer,$s]}"
		return 0
	fi
	log "$peer $s: $line"
	case $s in
	bulk) record "$peer" "$s" mibps "$(field "$line" mibps)" ;;
	rr:*)
		record "$peer" "$s" median_us "$(field "$line" median_us)"
		record "$peer" "$s" p99_us "$(field "$line" p99_us)"
		;;
	hs:*)
		record "$peer" "$s" hps "$(field "$line" hps)"
		echo "$(field "$line" resumed) $(field "$line" conns)" >>"$tmp/res/$peer/$s.resumed"
		;;
	esac
	case $s in bulk | rr:*) echo "$(field "$line" tls) $(field "$line" cipher)" >>"$tmp/neg.$peer" ;; esac
}

# Wait (bounded) until every file in $2... has a line starting with $1 or its client exited.
wait_lines() {
	local what=$1 deadline=$(($(date +%s) + idle_timeout)) f pid all
	shift
	while :; do
		all=1
		for f in "$@"; do
			pid=$(cat "$f.pid")
			grep -q "^$what" "$f" || ! kill -0 "$pid" 2>/dev/null || all=0
		done
		[ "$all" = 1 ] && return 0
		[ "$(date +%s)" -gt "$deadline" ] && return 1
		sleep 0.1
	done
}

# N idle connections over S shards (fresh chains, each under the descriptor limit); shard 0
# also times 64-byte round trips on one active connection once all N are open.
run_idle() {
	local peer=$1 n=$2 s="idle:$2" fpc shards cap i per tag outs=() pids=() rc line key
	case $peer in ssa) fpc=3 ;; ssad) fpc=6 ;; stunnel | hitch) fpc=2 ;; *) fpc=1 ;; esac
	cap=$(((nofile - 300) / fpc))
	[ -n "$shard_conns" ] && [ "$shard_conns" -lt "$cap" ] && cap=$shard_conns
	shards=$(((n + cap - 1) / cap))
	rm -f "$tmp/go" "$tmp/release"
	for ((i = 0; i < shards; i++)); do
		tag=idle$i
		if ! start_chain "$peer" "$tag"; then
			failed[$peer,$s]=$chain_error
			log "$peer $s FAILED: $chain_error"
			for ((j = 0; j <= i; j++)); do stop_chain "idle$j"; done
			return 0
		fi
	done
	for ((i = 0; i < shards; i++)); do
		tag=idle$i per=$((n / shards + (i < n % shards ? 1 : 0)))
		local extra="" f=$tmp/idle.$i.out
		[ "$i" = 0 ] && extra="--active --size 64 --count $idle_count"
		: >"$f"
		# shellcheck disable=SC2086
		env ${c_env[$tag]} timeout "$idle_timeout" "${c_bin[$tag]}" --transport "${c_transport[$tag]}" \
			--port "${c_port[$tag]}" --ca "$tmp/pki/ca.pem" --servername localhost --scenario idle \
			--conns "$per" --concurrency "$idle_k" --watch "$(watch_list "$tag")" \
			--go-file "$tmp/go" --release-file "$tmp/release" $extra >"$f" 2>"$f.err" &
		echo $! >"$f.pid"
		pids+=("$!") outs+=("$f")
	done
	wait_lines OPENED "${outs[@]}" || true
	touch "$tmp/go"
	wait_lines RESULT "${outs[@]}" || true
	touch "$tmp/release"
	rc=0
	for ((i = 0; i < shards; i++)); do wait "${pids[$i]}" || rc=$?; done
	for ((i = 0; i < shards; i++)); do stop_chain "idle$i"; done
	local lines=""
	for f in "${outs[@]}"; do
		line=$(grep -m1 '^RESULT ' "$f" || true)
		if [ -z "$line" ]; then
			failed[$peer,$s]="exit $rc: $(grep -v '^$' "$f.err" | tail -n1)"
			log "$peer $s FAILED: ${failed[$peer,$s]}"
			return 0
		fi
		lines+="$line"$'\n'
	done
	log "$peer $s ($shards shard(s)): $(head -n1 <<<"$lines")"
	# Sum the per-role deltas over shards: KiB per connection overall and per role.
	for key in rss pss; do
		record "$peer" "$s" "${key}_per_conn" "$(tr ' ' '\n' <<<"$lines" |
			awk -F= -v k="${key}_kib." -v n="$n" 'index($1, k) == 1 { t += $2 } END { printf "%.2f\n", t / n }')"
		tr ' ' '\n' <<<"$lines" | awk -F= -v k="${key}_kib." -v n="$n" 'index($1, k) == 1 {
			r = substr($1, length(k) + 1); t[r] += $2 } END { for (r in t) printf "%s=%.2f ", r, t[r] / n }' \
			>>"$tmp/res/$peer/$s.${key}_roles"
		echo >>"$tmp/res/$peer/$s.${key}_roles"
	done
	line=$(head -n1 <<<"$lines")
	record "$peer" "$s" median_us "$(field "$line" median_us)"
	record "$peer" "$s" p99_us "$(field "$line" p99_us)"
	echo "$shards" >"$tmp/res/$peer/$s.shards"
}

# ---------------------------------------------------------------------------------------------
# Report

cell() { # peer scenario metric -> median or n/a
	local f="$tmp/res/$1/$2.$3"
	if [ -n "${unavailable[$1]:-}" ] || [ -n "${failed[$1,$2]:-}" ] || [ ! -s "$f" ]; then
		echo n/a
	else
		median <"$f"
	fi
}

scenarios=""
build_scenarios() {
	local s k n
	for g in $scenario_groups; do
		case $g in
		bulk) scenarios+=" bulk" ;;
		rr) for s in $rr_sizes; do scenarios+=" rr:$s"; done ;;
		hs) for k in $hs_ks; do scenarios+=" hs:full:$k"; done
		    for k in $hs_ks; do scenarios+=" hs:res:$k"; done ;;
		idle) for n in $idle_ns; do scenarios+=" idle:$n"; done ;;
		esac
	done
}

human_size() {
	awk -v b="$1" 'BEGIN { if (b >= 1048576) printf "%g MiB", b / 1048576; else if (b >= 1024) printf "%g KiB", b / 1024; else printf "%d B", b }'
}

scenario_label() {
	case $1 in
	bulk) echo "bulk $bytes" ;;
	rr:*) echo "request/response $(human_size "${1#rr:}")" ;;
	hs:full:*) echo "full handshakes, ${1##*:} clients" ;;
	hs:res:*) echo "resumed handshakes, ${1##*:} clients" ;;
	idle:*) echo "${1#idle:} idle connections" ;;
	esac
}

metrics_of() {
	case $1 in
	bulk) echo mibps ;;
	rr:*) echo "median_us p99_us" ;;
	hs:*) echo hps ;;
	idle:*) echo "rss_per_conn pss_per_conn median_us p99_us" ;;
	esac
}

metric_label() {
	case $1:$2 in
	*:mibps) echo "MiB/s ↑" ;;
	idle*:median_us) echo "64 B round trip on 1 active, median µs ↓" ;;
	idle*:p99_us) echo "64 B round trip on 1 active, p99 µs ↓" ;;
	*:median_us) echo "round trip median µs ↓" ;;
	*:p99_us) echo "round trip p99 µs ↓" ;;
	*:hps) echo "handshakes/s ↑" ;;
	*:rss_per_conn) echo "RSS KiB per connection ↓" ;;
	*:pss_per_conn) echo "PSS KiB per connection ↓" ;;
	esac
}

fmt() { awk -v v="$1" 'BEGIN { if (v == "n/a") print v; else if (v + 0 >= 100) printf "%.0f", v; else if (v + 0 >= 10) printf "%.1f", v; else printf "%.2f", v }'; }

table() {
	local s m p base v hdr="| scenario | metric |" sep="|---|---|"
	for p in $peers; do hdr+=" $p |"; sep+="---:|"; done
	echo "$hdr"; echo "$sep"
	for s in $scenarios; do
		for m in $(metrics_of "$s"); do
			local row
			row="| $(scenario_label "$s") | $(metric_label "$s" "$m") |"
			base=$(cell openssl "$s" "$m")
			for p in $peers; do
				v=$(cell "$p" "$s" "$m")
				if [ "$p" = openssl ] || [ "$(ratio "$v" "$base")" = n/a ]; then row+=" $(fmt "$v") |"
				else row+=" $(fmt "$v") ($(ratio "$v" "$base")×) |"; fi
			done
			echo "$row"
		done
	done
}

# Long-form medians for the plots and for anyone who wants to compare runs.
write_tsv() {
	local s m p
	printf 'peer\tscenario\tmetric\tmedian\truns\n'
	for s in $scenarios; do
		for m in $(metrics_of "$s"); do
			for p in $peers; do
				[ -s "$tmp/res/$p/$s.$m" ] || continue
				printf '%s\t%s\t%s\t%s\t%s\n' "$p" "$s" "$m" "$(cell "$p" "$s" "$m")" \
					"$(paste -sd' ' "$tmp/res/$p/$s.$m")"
			done
		done
	done
}

# Issue 8's targets, as measured ratios (not assertions).
targets() {
	local p s r v best k
	echo
	echo "### Targets (ratio to openssl; met or not, as measured)"
	tgt() { # label value op limit
		local st="n/a"
		[ "$2" != n/a ] && st=$(awk -v v="$2" -v op="$3" -v l="$4" 'BEGIN {
			if ((op == ">=" && v >= l) || (op == "<=" && v <= l)) print "met"; else print "not met" }')
		echo "- $1: $2 (target $3 $4): $st"
	}
	tgt "ssa bulk" "$(ratio "$(cell ssa bulk mibps)" "$(cell openssl bulk mibps)")" ">=" 0.8
	for k in $hs_ks; do
		tgt "ssa full handshakes, $k clients" "$(ratio "$(cell ssa hs:full:$k hps)" "$(cell openssl hs:full:$k hps)")" ">=" 0.9
	done
	for k in $hs_ks; do
		tgt "ssa resumed handshakes, $k clients" "$(ratio "$(cell ssa hs:res:$k hps)" "$(cell openssl hs:res:$k hps)")" ">=" 0.9
	done
	tgt "ssa 64 B round trip" "$(ratio "$(cell ssa rr:64 median_us)" "$(cell openssl rr:64 median_us)")" "<=" 1.3
	for n in $idle_ns; do
		tgt "ssa RSS per idle connection ($n)" "$(ratio "$(cell ssa idle:$n rss_per_conn)" "$(cell openssl idle:$n rss_per_conn)")" "<=" 1.5
	done
	tgt "ssad bulk" "$(ratio "$(cell ssad bulk mibps)" "$(cell openssl bulk mibps)")" ">=" 0.7
	for p in ssa ssad; do
		local ahead=0 behind="" total=0
		for s in $scenarios; do
			for m in $(metrics_of "$s"); do
				v=$(cell "$p" "$s" "$m")
				best=""
				for r in stunnel hitch; do
					local w
					w=$(cell "$r" "$s" "$m")
					[ "$w" = n/a ] && continue
					best+=" $w"
				done
				[ "$v" = n/a ] || [ -z "$best" ] && continue
				total=$((total + 1))
				# lower is better for times and memory, higher for rates
				if awk -v v="$v" -v m="$m" -v b="$best" 'BEGIN { n = split(b, a, " ")
					for (i = 1; i <= n; i++) if ((m ~ /us|conn/) ? v >= a[i] : v <= a[i]) exit 1 }'; then
					ahead=$((ahead + 1))
				else
					behind+="${behind:+; }$(scenario_label "$s") $m"
				fi
			done
		done
		if [ "$total" = 0 ]; then echo "- $p ahead of stunnel and hitch: n/a"
		else echo "- $p ahead of both stunnel and hitch on $ahead of $total figures${behind:+ (not on: $behind)}"; fi
	done
}

# How each figure moves as connections grow: handshake rates against one client, memory per
# connection and the 64 B round trip against the same with no idle connections around.
growth() {
	local p k n line v base
	echo
	echo "### Growth with connections (medians)"
	for p in $peers; do
		[ -d "$tmp/res/$p" ] || continue
		line=""
		for kind in full res; do
			base=$(cell "$p" "hs:$kind:1" hps)
			[ "$base" = n/a ] && continue
			line+="${line:+; }${kind/res/resumed} handshakes/s vs 1 client:"
			for k in $hs_ks; do
				[ "$k" = 1 ] && continue
				line+=" ×$(ratio "$(cell "$p" "hs:$kind:$k" hps)" "$base") at $k"
			done
		done
		v=""
		for n in $idle_ns; do
			[ "$(cell "$p" "idle:$n" rss_per_conn)" = n/a ] && continue
			v+="${v:+ → }$(fmt "$(cell "$p" "idle:$n" rss_per_conn)") KiB at $n"
		done
		[ -n "$v" ] && line+="${line:+; }RSS per connection: $v"
		base=$(cell "$p" rr:64 median_us)
		v=""
		for n in $idle_ns; do
			[ "$(cell "$p" "idle:$n" median_us)" = n/a ] && continue
			v+="${v:+,} $(fmt "$(cell "$p" "idle:$n" median_us)") µs with $n idle"
		done
		[ -n "$v" ] && line+="${line:+; }64 B round trip: $(fmt "$base") µs alone,$v"
		if [ -n "$line" ]; then echo "- $p: $line"; fi
	done
}

notes() {
	local p s m k
	echo
	echo "Cells: median over the repetitions, and (×) the ratio to openssl in the same row: above 1"
	echo "is better for ↑ figures (MiB/s, handshakes/s), below 1 for ↓ ones (µs, KiB)."
	targets
	echo
	echo "### Not measured"
	local any=0
	for p in $peers; do
		[ -n "${unavailable[$p]:-}" ] && echo "- $p: ${unavailable[$p]}" && any=1
	done
	while read -r k; do
		[ -n "$k" ] && echo "- ${k%%,*} $(scenario_label "${k#*,}"): n/a — ${failed[$k]}" && any=1
	done < <(printf '%s\n' "${!failed[@]}" | sort)
	[ "$any" = 0 ] && echo "- nothing: every peer ran every scenario"
	echo
	echo "### Noise: spread of the repetitions, (max − min) / median, over the rows"
	echo "(medians of round trips, rates and memory; p99 rows apart, as they move most)"
	spread() { # file -> spread in percent
		sort -g "$1" | awk '{ v[NR] = $1 } END {
			med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			if (med == 0) print 0; else printf "%.1f\n", 100 * (v[NR] - v[1]) / (med < 0 ? -med : med) }'
	}
	summary() { # spreads -> "median X%, worst Y%"
		tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END {
			if (NR) printf "median %s%%, worst %s%%", v[int((NR + 1) / 2)], v[NR]; else printf "n/a" }'
	}
	for p in $peers; do
		[ -d "$tmp/res/$p" ] || continue
		local f main="" tail=""
		for s in $scenarios; do
			for m in $(metrics_of "$s"); do
				f=$tmp/res/$p/$s.$m
				[ -s "$f" ] || continue
				if [ "$m" = p99_us ]; then tail+=" $(spread "$f")"; else main+=" $(spread "$f")"; fi
			done
		done
		echo "- $p: $(summary "$main"); p99 rows: $(summary "$tail")"
	done
	if [ -s "$tmp/load" ]; then
		echo "- load average (1 min) sampled every 10 s during the run: $(sort -g "$tmp/load" | awk '{ v[NR] = $1 } END { printf "min %s, median %s, max %s", v[1], v[int((NR + 1) / 2)], v[NR] }')"
	fi
	growth
	echo
	echo "### Idle connections: where the memory is (KiB per connection, RSS; median run)"
	for s in $scenarios; do
		case $s in idle:*) ;; *) continue ;; esac
		for p in $peers; do
			[ -s "$tmp/res/$p/$s.rss_roles" ] || continue
			echo "- $s $p ($(cat "$tmp/res/$p/$s.shards") shard(s)): $(sort "$tmp/res/$p/$s.rss_roles" | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')"
		done
	done
	echo
	echo "### Handshake resumption (resumed/total over all reps)"
	for p in $peers; do
		for s in $scenarios; do
			[ -s "$tmp/res/$p/$s.resumed" ] || continue
			awk -v l="$p $s" '{ if ($1 == "unknown") u = 1; else r += $1; n += $2 }
				END { printf "- %s: %s/%d\n", l, (u ? "unknown" : r), n }' "$tmp/res/$p/$s.resumed"
		done
	done | grep -v '^- tcp ' | grep -v '^- stunnel \|^- hitch ' || true
	[ -s "$tmp/relay-resumption" ] && sed 's/^/- (stunnel client log, probe at start: 50 + 4 warm-up handshakes, 4 clients) /' "$tmp/relay-resumption"
	echo
	echo "### Negotiated (bulk and request/response connections)"
	for p in $peers; do
		[ -s "$tmp/neg.$p" ] || continue
		echo "- $p: $(sort -u "$tmp/neg.$p" | awk '{
			printf "%s%s", (NR > 1 ? "; " : ""), ($1 == "none" ? "no TLS at the client" : "TLS " $1 ", " $2) }')"
	done
	[ -s "$tmp/relay-cipher" ] && sed 's/^/- between the relays (stunnel client log) /' "$tmp/relay-cipher"
	echo
	echo "### Raw values (in run order)"
	for s in $scenarios; do
		for m in $(metrics_of "$s"); do
			for p in $peers; do
				[ -s "$tmp/res/$p/$s.$m" ] || continue
				echo "- $s $m $p: $(paste -sd' ' "$tmp/res/$p/$s.$m")"
			done
		done
	done
}

header() {
	local wall=$1
	echo "# SSA benchmark"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(uname -srm); CPUs: $(nproc)" \
		"($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)); memory: $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "- $(openssl version); $(stunnel4 -version 2>&1 | grep -m1 '^stunnel' || echo 'stunnel: none'); $(hitch --version 2>&1 | head -n1 || echo 'hitch: none')"
	echo "- project commit: $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown); libssa from ${libssa_from:-nowhere}; ssad from ${ssad_from:-nowhere}"
	echo "- command: \`$cmdline\`; wall time: $((wall / 60)) min $((wall % 60)) s"
	echo "- $reps repetition(s), medians shown; bulk $bytes in 256 KiB writes; request/response" \
		"up to $rr_count round trips per size (at most $((rr_budget >> 20)) MiB each way; +100 warm-up);" \
		"handshakes: $hs_secs s per run, each client loops connect + handshake + 1-byte exchange + close;" \
		"idle: N connections opened by $idle_k threads, memory read before and after in every process" \
		"that holds them, then $idle_count 64 B round trips on one more connection"
	echo "- everything on one machine over 127.0.0.1, nothing pinned; TLS 1.3, EC P-256 server" \
		"certificate from a throwaway CA, verified with host name localhost"
	echo
	echo "Peers: **tcp** plain TCP (floor) · **openssl** the same client and server calling OpenSSL" \
		"directly (the limit) · **ssa** IPPROTO_TLS, in-process engine · **ssad** IPPROTO_TLS through" \
		"the ssad daemon · **stunnel** TCP client → stunnel client → TLS → stunnel server → TCP server ·" \
		"**hitch** the same with hitch as the TLS server. See bench/README.md."
	echo
}

# ---------------------------------------------------------------------------------------------
# Plots (gnuplot): throughput and round trip against message size, handshakes per second
# against concurrency, idle memory and round trip against connection count.

plot_data() { # scenario-prefix metric peer -> "x median" lines
	local pre=$1 m=$2 p=$3 s x v
	for s in $scenarios; do
		case $s in "$pre"*) ;; *) continue ;; esac
		x=${s##*:}
		v=$(cell "$p" "$s" "$m")
		[ "$v" = n/a ] && continue
		echo "$x $v"
	done
}

make_plots() {
	local p d=$tmp/plot gp=$tmp/plot/plots.gp
	mkdir -p "$d" "$plot_dir"
	for p in $peers; do
		plot_data rr: median_us "$p" >"$d/rr.$p"
		awk '{ printf "%s %.3f\n", $1, $1 / ($2 / 1e6) / 1048576 }' "$d/rr.$p" >"$d/rrtp.$p"
		plot_data hs:full: hps "$p" >"$d/hsf.$p"
		plot_data hs:res: hps "$p" >"$d/hsr.$p"
		plot_data idle: rss_per_conn "$p" >"$d/mem.$p"
		plot_data idle: median_us "$p" >"$d/idlert.$p"
	done
	local nodata=""
	for p in $peers; do [ -s "$d/rr.$p" ] || [ -s "$d/hsf.$p" ] || [ -s "$d/mem.$p" ] || nodata+=" $p"; done
	[ -n "$nodata" ] && nodata=" — no data:$nodata"
	plotline() { # file-prefix -> gnuplot plot clause over the peers that have data
		local pre=$1 q c="" i=1
		for q in $peers; do
			[ -s "$d/$pre.$q" ] || { i=$((i + 1)); continue; }
			c+="${c:+, }'$d/$pre.$q' using 1:2 with linespoints ls $i title '$q'"
			i=$((i + 1))
		done
		echo "${c:-NaN notitle}"
	}
	{
		echo "set terminal pngcairo size 1400,560 font 'sans,11'"
		echo "set grid; set key top left"
		local i=1 col
		for col in '#000000' '#d62728' '#1f77b4' '#17becf' '#2ca02c' '#ff7f0e'; do
			echo "set style line $i lc rgb '$col' lw 2 pt $((i + 4)) ps 1.2"
			i=$((i + 1))
		done
		echo "set output '$plot_dir/plot-message-size.png'"
		echo "set multiplot layout 1,2 title 'Request/response on one connection ($reps rep(s), medians)$nodata'"
		echo "set logscale xy; set xlabel 'message size (bytes)'"
		echo "set ylabel 'round trip, median (µs, lower is better)'; set title 'Round trip'"
		echo "plot $(plotline rr)"
		echo "set ylabel 'MiB/s one way = size / round trip (higher is better)'; set title 'Throughput'"
		echo "plot $(plotline rrtp)"
		echo "unset multiplot"
		echo "set output '$plot_dir/plot-handshakes.png'"
		echo "set multiplot layout 1,2 title 'Handshakes per second against concurrent clients ($reps rep(s), medians)$nodata'"
		echo "set logscale xy; set xlabel 'concurrent clients'"
		echo "set ylabel 'handshakes/s (higher is better)'; set key top right"
		echo "set title 'Full handshakes'"
		echo "plot $(plotline hsf)"
		echo "set title 'Resumed handshakes'"
		echo "plot $(plotline hsr)"
		echo "unset multiplot"
		echo "set output '$plot_dir/plot-idle.png'"
		echo "set multiplot layout 1,2 title 'Idle connections ($reps rep(s), medians)$nodata'"
		echo "set logscale x; unset logscale y; set yrange [0:*]; set xlabel 'idle TLS connections'; set key top right"
		echo "set ylabel 'RSS KiB per connection, all processes (lower is better)'; set title 'Memory per connection'"
		echo "plot $(plotline mem)"
		echo "set ylabel '64 B round trip on one active connection, median (µs)'; set title 'Round trip among the idle'"
		echo "plot $(plotline idlert)"
		echo "unset multiplot"
	} >"$gp"
	if gnuplot "$gp" 2>"$d/gnuplot.err"; then
		log "plots: $plot_dir/plot-message-size.png plot-handshakes.png plot-idle.png"
	else
		log "gnuplot failed: $(head -n3 "$d/gnuplot.err")"
	fi
}

# ---------------------------------------------------------------------------------------------

main() {
	local r s p
	command -v openssl >/dev/null || { log "the openssl command is needed for the certificates"; exit 1; }
	command -v ss >/dev/null || { log "ss (iproute2) is needed to find free ports"; exit 1; }
	(while sleep 10; do cut -d" " -f1 /proc/loadavg; done >"$tmp/load") &
	load_pid=$!
	make_certs
	build_binaries
	need_tools
	build_scenarios
	log "peers: $peers; scenarios:$scenarios; $reps rep(s); descriptor limit $nofile"
	for p in $peers; do
		[ -n "${unavailable[$p]:-}" ] && { log "$p: n/a (${unavailable[$p]})"; continue; }
		if ! start_chain "$p" "$p"; then
			unavailable[$p]=$chain_error
			log "$p: n/a ($chain_error)"
			stop_chain "$p"
			continue
		fi
		case $p in
		stunnel | hitch) probe_relay "$p" "$p" ;;
		ssad)
			if ! check_daemon_used "$p"; then
				unavailable[$p]=$chain_error
				log "$p: n/a ($chain_error)"
				stop_chain "$p"
			fi
			;;
		esac
	done
	for r in $(seq "$reps"); do
		log "repetition $r of $reps"
		for s in $scenarios; do
			for p in $peers; do
				[ -n "${unavailable[$p]:-}" ] || [ -n "${failed[$p,$s]:-}" ] && continue
				case $s in
				idle:*) run_idle "$p" "${s#idle:}" ;;
				*) run_one "$p" "$s" ;;
				esac
			done
		done
	done
	for p in $peers; do [ -n "${c_kill[$p]:-}" ] && stop_chain "$p"; done
	kill "$load_pid" 2>/dev/null || true
	wait "$load_pid" 2>/dev/null || true
	load_pid=""
	local wall=$(($(date +%s) - t_start))
	mkdir -p "$(dirname "$out")"
	{ header "$wall"; table; notes; } >"$out"
	write_tsv >"${out%.md}.tsv"
	[ "$plots" = 1 ] && make_plots
	cat "$out"
	log "written to $out and ${out%.md}.tsv in $((wall / 60)) min $((wall % 60)) s"
}

main
