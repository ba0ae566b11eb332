#!/usr/bin/env bash
# bench/run.sh -- run every scenario for every available transport, R times each, and write
# a markdown table of the medians with ratios to the openssl transport.
#
#   bench/run.sh [--reps R] [--out FILE] [--bytes N] [--pp-sizes "64 16384"]
#                [--pp-count C] [--hs-conns C] [--hs-concurrency K]
#                [--transports "tcp openssl ssa"] [--timeout SECS] [--no-build]
#
# Repetitions are interleaved (rep 1 of every scenario and transport, then rep 2, ...) so
# that a slow drift of the machine does not land on one transport only.  Every number in the
# table is the median of the values the clients printed; the raw values are listed below it.
# A (transport, scenario) that fails or times out once is not retried: it is shown as n/a
# with the reason, which also bounds the run time when a transport is broken.
#
# The ssa transport uses bench_*_ssa, built by `make ssa` against ../core/.libs/libssa.so
# (or SSA_CFLAGS/SSA_LIBS from the environment); SSA_CONFIG and SSA_BACKEND pass through.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
reps=5
out="$here/RESULTS.md"
bytes=1G
pp_sizes="64 16384"
pp_count=10000
hs_conns=2000
hs_k=4
transports="tcp openssl ssa"
client_timeout=60
build=1
cmdline="bench/run.sh${*:+ $*}"

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--reps) reps=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--bytes) bytes=$2; shift 2 ;;
	--pp-sizes) pp_sizes=$2; shift 2 ;;
	--pp-count) pp_count=$2; shift 2 ;;
	--hs-conns) hs_conns=$2; shift 2 ;;
	--hs-concurrency) hs_k=$2; shift 2 ;;
	--transports) transports=$2; shift 2 ;;
	--timeout) client_timeout=$2; shift 2 ;;
	--no-build) build=0; shift ;;
	*) usage ;;
	esac
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ssa-bench.XXXXXX")
declare -A server_pid=() port=() unavailable=() failed=()

# Stop only the servers this script started, by pid, and remove the throwaway keys.
cleanup() {
	local t
	for t in "${!server_pid[@]}"; do
		kill "${server_pid[$t]}" 2>/dev/null || true
		wait "${server_pid[$t]}" 2>/dev/null || true
	done
	if [ -n "${SSA_BENCH_KEEP:-}" ]; then echo "run.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf 'run.sh: %s\n' "$*" >&2; }

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
	chmod 600 "$d"/*.key
}

bin_suffix() { [ "$1" = ssa ] && echo _ssa || echo ""; }

# Build what can be built; a transport whose binaries are missing becomes n/a with the reason.
build_binaries() {
	if [ "$build" = 1 ]; then
		make -s -C "$here" all >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log" >&2; exit 1; }
	fi
	case " $transports " in *" ssa "*) ;; *) return 0 ;; esac
	if [ "$build" = 1 ]; then
		if [ -z "${SSA_LIBS:-}" ] && [ ! -e "$here/../_build/core/.libs/libssa.so" ] && [ ! -e "$here/../core/.libs/libssa.so" ]; then
			unavailable[ssa]="core/.libs/libssa.so not built yet (build the library, then rerun)"
			return 0
		fi
		if ! make -s -C "$here" ssa >"$tmp/make-ssa.log" 2>&1; then
			unavailable[ssa]="make ssa failed: $(grep -m1 -i error "$tmp/make-ssa.log" || tail -n1 "$tmp/make-ssa.log")"
			return 0
		fi
	fi
	if [ ! -x "$here/bench_client_ssa" ] || [ ! -x "$here/bench_server_ssa" ]; then
		unavailable[ssa]="bench_client_ssa/bench_server_ssa not built (make -C bench ssa)"
	elif ! grep -q 'libssa\.so.*=> /' <<<"$(ldd "$here/bench_client_ssa")"; then
		# (not `ldd | grep -q`: grep quitting early makes ldd's SIGPIPE fail the pipeline)
		unavailable[ssa]="bench_client_ssa does not load libssa ($(ldd "$here/bench_client_ssa" | grep libssa || echo 'not linked'))"
	fi
}

# Start one server; on success record its pid and port, else mark the transport n/a.
start_server() {
	local t=$1 sfx p
	sfx=$(bin_suffix "$t")
	"$here/bench_server$sfx" --transport "$t" --cert "$tmp/pki/leaf.pem" --key "$tmp/pki/leaf.key" \
		>"$tmp/server.$t.out" 2>"$tmp/server.$t.err" &
	server_pid[$t]=$!
	for _ in $(seq 100); do
		p=$(awk '$1 == "PORT" { print $2; exit }' "$tmp/server.$t.out")
		if [ -n "$p" ]; then port[$t]=$p; return 0; fi
		if ! kill -0 "${server_pid[$t]}" 2>/dev/null; then break; fi
		sleep 0.05
	done
	kill "${server_pid[$t]}" 2>/dev/null || true
	wait "${server_pid[$t]}" 2>/dev/null || true
	unset "server_pid[$t]"
	unavailable[$t]="server did not start: $(tail -n1 "$tmp/server.$t.err")"
}

# Client arguments for one scenario id: bulk, pingpong:SIZE, handshake, resumed.
scenario_args() {
	case "$1" in
	bulk) echo "--scenario bulk --bytes $bytes" ;;
	pingpong:*) echo "--scenario pingpong --size ${1#pingpong:} --count $pp_count" ;;
	handshake) echo "--scenario handshake --conns $hs_conns --concurrency $hs_k" ;;
	resumed) echo "--scenario handshake --conns $hs_conns --concurrency $hs_k --resume" ;;
	esac
}

# value of key=... in a RESULT line
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# Metrics a scenario contributes, as "metric" names of RESULT fields.
metrics_of() {
	case "$1" in
	bulk) echo mibps ;;
	pingpong:*) echo "median_us p99_us" ;;
	handshake | resumed) echo hps ;;
	esac
}

run_one() {
	local t=$1 s=$2 sfx rc=0 line m
	sfx=$(bin_suffix "$t")
	# shellcheck disable=SC2046  # scenario_args is a list of words on purpose
	timeout "$client_timeout" "$here/bench_client$sfx" --transport "$t" --port "${port[$t]}" \
		--ca "$tmp/pki/ca.pem" --servername localhost $(scenario_args "$s") \
		>"$tmp/client.out" 2>"$tmp/client.err" || rc=$?
	line=$(grep -m1 '^RESULT ' "$tmp/client.out" || true)
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		if [ "$rc" -eq 124 ]; then
			failed[$t,$s]="timed out after ${client_timeout}s"
		else
			failed[$t,$s]="exit $rc: $(grep -v '^$' "$tmp/client.err" | tail -n1)"
		fi
		log "$t $s FAILED: ${failed[$t,$s]}"
		return 0
	fi
	log "$line"
	for m in $(metrics_of "$s"); do
		field "$line" "$m" >>"$tmp/res.$t.$s.$m"
	done
	case "$s" in
	handshake) echo "$(field "$line" resumed) $(field "$line" conns)" >>"$tmp/res.$t.resumed" ;;
	resumed) echo "$(field "$line" resumed) $(field "$line" conns)" >>"$tmp/res.$t.resumed2" ;;
	*) echo "$(field "$line" tls) $(field "$line" cipher)" >>"$tmp/neg.$t" ;;
	esac
}

# Median of the numbers in a file (mean of the middle two for an even count).
median() {
	sort -g "$1" | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit 1
		if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

cell() { # transport scenario metric -> median or n/a
	local f="$tmp/res.$1.$2.$3"
	if [ -n "${unavailable[$1]:-}" ] || [ -n "${failed[$1,$2]:-}" ] || [ ! -s "$f" ]; then
		echo n/a
	else
		median "$f"
	fi
}

ratio() { # value base -> value/base with two decimals, or n/a
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

scenario_label() {
	case "$1" in
	bulk) echo "bulk $bytes" ;;
	pingpong:*) echo "pingpong ${1#pingpong:} B" ;;
	handshake) echo "handshake (K=$hs_k)" ;;
	resumed) echo "resumed handshake (K=$hs_k)" ;;
	esac
}

metric_label() {
	case "$1" in
	mibps) echo "MiB/s (higher is better)" ;;
	median_us) echo "median RTT µs (lower is better)" ;;
	p99_us) echo "p99 RTT µs (lower is better)" ;;
	hps) echo "handshakes/s (higher is better)" ;;
	esac
}

table() {
	local s m t base v hdr="| scenario | metric |" sep="|---|---|"
	for t in $transports; do hdr+=" $t |"; sep+="---:|"; done
	for t in $transports; do [ "$t" != openssl ] && hdr+=" $t ÷ openssl |" && sep+="---:|"; done
	echo "$hdr"; echo "$sep"
	for s in $scenarios; do
		for m in $(metrics_of "$s"); do
			local row ratios=""
			row="| $(scenario_label "$s") | $(metric_label "$m") |"
			base=$(cell openssl "$s" "$m")
			for t in $transports; do
				v=$(cell "$t" "$s" "$m"); row+=" $v |"
				[ "$t" != openssl ] && ratios+=" $(ratio "$v" "$base") |"
			done
			echo "$row$ratios"
		done
	done
}

notes() {
	local t s m k
	echo
	echo "Ratios are value ÷ openssl value of the same row: above 1 is better for MiB/s and"
	echo "handshakes/s, below 1 is better for round-trip times."
	echo
	echo "### Not measured"
	local any=0
	for t in $transports; do
		[ -n "${unavailable[$t]:-}" ] && echo "- $t: n/a — ${unavailable[$t]}" && any=1
	done
	while read -r k; do
		[ -n "$k" ] && echo "- ${k%%,*} ${k#*,}: n/a — ${failed[$k]}" && any=1
	done < <(printf '%s\n' "${!failed[@]}" | sort)
	[ "$any" = 0 ] && echo "- nothing: every transport ran every scenario"
	echo
	echo "### Handshake resumption (resumed/total over all reps; must be 0 for full handshakes)"
	for t in $transports; do
		[ -s "$tmp/res.$t.resumed" ] || continue
		awk -v t="$t" '{ if ($1 == "unknown") u = 1; else r += $1; n += $2 }
			END { printf "- %s: %s/%d\n", t, (u ? "unknown (TLS_RESUMED_SESSION not answered)" : r), n }' \
			"$tmp/res.$t.resumed"
	done
	echo
	echo "### Resumed-handshake runs (resumed/total; the first of each client is full)"
	for t in $transports; do
		[ -s "$tmp/res.$t.resumed2" ] || continue
		awk -v t="$t" '{ if ($1 == "unknown") u = 1; else r += $1; n += $2 }
			END { printf "- %s: %s/%d\n", t, (u ? "unknown" : r), n }' "$tmp/res.$t.resumed2"
	done
	echo
	echo "### Negotiated (bulk and pingpong connections)"
	for t in $transports; do
		[ -s "$tmp/neg.$t" ] || continue
		echo "- $t: $(sort -u "$tmp/neg.$t" | awk '{
			printf "%s%s", (NR > 1 ? "; " : ""), ($1 == "none" ? "no TLS" : "TLS " $1 ", " $2) }')"
	done
	echo
	echo "### Raw values (in run order)"
	for s in $scenarios; do
		for m in $(metrics_of "$s"); do
			for t in $transports; do
				[ -s "$tmp/res.$t.$s.$m" ] || continue
				echo "- $(scenario_label "$s"), $m, $t: $(paste -sd' ' "$tmp/res.$t.$s.$m")"
			done
		done
	done
}

header() {
	echo "# SSA benchmark"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(uname -srm); CPUs: $(nproc)" \
		"($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
	echo "- $(openssl version); client and server on the same machine over 127.0.0.1"
	echo "- command: \`$cmdline\`"
	echo "- repetitions: $reps, medians shown; bulk $bytes in 256 KiB writes; pingpong" \
		"$pp_count round trips (+100 warm-up) per size; handshake $hs_conns connections," \
		"$hs_k client threads, server thread per connection"
	echo "- TLS: server cert EC P-256 from a throwaway CA, verified with host name localhost;" \
		"openssl client: TLS 1.3 default, no tickets, no session cache"
	echo
}

main() {
	local r s t
	command -v openssl >/dev/null || { log "openssl command needed for the certificates"; exit 1; }
	make_certs
	build_binaries
	for t in $transports; do
		[ -n "${unavailable[$t]:-}" ] && { log "$t: n/a (${unavailable[$t]})"; continue; }
		start_server "$t"
	done
	scenarios="bulk"
	for s in $pp_sizes; do scenarios+=" pingpong:$s"; done
	scenarios+=" handshake resumed"
	for r in $(seq "$reps"); do
		log "repetition $r of $reps"
		for s in $scenarios; do
			for t in $transports; do
				[ -n "${unavailable[$t]:-}" ] || [ -n "${failed[$t,$s]:-}" ] && continue
				run_one "$t" "$s"
			done
		done
	done
	for t in "${!server_pid[@]}"; do
		[ -s "$tmp/server.$t.err" ] && log "server $t stderr: $(head -n3 "$tmp/server.$t.err")"
	done
	mkdir -p "$(dirname "$out")"
	{ header; table; notes; } >"$out"
	cat "$out"
	log "written to $out"
}

main
