#!/usr/bin/env bash
# bench/ports-lighttpd.sh -- the lighttpd port (ports/lighttpd, TLS by libssa) against Debian's
# lighttpd with mod_openssl, both serving the same files with the same settings on loopback.
#
#   bench/ports-lighttpd.sh [--reps R] [--duration SECS] [--conns C] [--load "C1 C2 ..."]
#                           [--out FILE] [--no-write]
#
# Measures, R times each (default 5), interleaved stock/port so that a drift of the machine
# does not land on one side only: wrk requests per second for a small static file with
# keep-alive, and with a new TLS connection per request (-H 'Connection: close'); and the time
# of a 1 GiB download with curl -o /dev/null.  Keep-alive is measured again with each number of
# concurrent connections in --load (default "1 8 128"), to show how the cost grows with load.
# Prints a markdown report (medians, ratios port ÷ stock) and writes it to FILE (default
# bench/PORTS-LIGHTTPD-RESULTS.md) unless --no-write.
#
# Needs root the first time, to install the Debian packages lighttpd, lighttpd-mod-openssl and
# wrk: the stock server runs as /usr/sbin/lighttpd with this script's own configuration; the
# system service is neither started nor enabled.  Only processes this script started are
# stopped, by pid.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/stats.sh"
top=$(cd "$here/.." && pwd)
cmdline="bench/ports-lighttpd.sh${*:+ $*}"
reps=5 duration=10 conns=32 load="1 8 128" out=$here/PORTS-LIGHTTPD-RESULTS.md write=1

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--reps) reps=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	--load) load=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--no-write) write=0; shift ;;
	*) usage ;;
	esac
done
case "$reps$duration$conns${load// /}" in *[!0-9]*) usage ;; esac
[ "$reps" -ge 1 ] && [ "$duration" -ge 1 ] && [ "$conns" -ge 1 ] || usage

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'ports-lighttpd: %s\n' "$*" >&2; exit 1; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

install_stock() {
	local need=() p guard=""
	for p in lighttpd lighttpd-mod-openssl wrk curl; do installed "$p" || need+=("$p"); done
	[ ${#need[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages: ${need[*]} (run as root once)"
	# The package would start and enable its service: forbid the start for the install...
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		guard=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$guard"
		chmod 755 "$guard"
	fi
	say "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
		>/dev/null || { [ -z "$guard" ] || rm -f "$guard"; die "apt-get install failed"; }
	[ -z "$guard" ] || rm -f "$guard"
	# ...and leave it disabled.
	update-rc.d lighttpd disable >/dev/null 2>&1 || true
	rm -f /etc/systemd/system/multi-user.target.wants/lighttpd.service
}

install_stock
[ -x /usr/lib/lighttpd/mod_openssl.so ] || [ -f /usr/lib/lighttpd/mod_openssl.so ] ||
	die "/usr/lib/lighttpd/mod_openssl.so is missing"
say "building the port if needed"
bash "$top/ports/lighttpd/build.sh" >&2
port_bin=$top/ports/out/sbin/lighttpd

work=$(mktemp -d /tmp/lighttpd-port-bench.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

say "test PKI and files in $work"
bash "$top/tests/pki.sh" "$work/pki" >"$work/pki.log" 2>&1 || die "tests/pki.sh failed: $(tail -3 "$work/pki.log")"
pki=$work/pki
mkdir -p "$work/www"
head -c 1024 /dev/urandom | base64 -w 76 | head -c 1024 >"$work/www/index.html"
head -c 1073741824 /dev/urandom >"$work/www/large.bin"
# No session resumption on either side, so that every new connection is a full handshake: wrk
# keeps its session across reconnections (SSL_clear), and the two servers' defaults differ
# (libssa resumes every reconnection, stock lighttpd about every other one).
printf 'default = { handshake-timeout = 10.0; session-lifetime = 0; };\n' >"$work/ssa.conf"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# conf NAME PORT EXTRA: one configuration, the same for both but for EXTRA.
conf() {
	cat >"$work/$1.conf" <<EOF
server.document-root = "$work/www"
server.bind = "127.0.0.1"
server.port = $2
server.errorlog = "$work/$1.error.log"
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 60
ssl.engine = "enable"
ssl.pemfile = "$pki/localhost-chain.pem"
ssl.privkey = "$pki/localhost.key"
$3
EOF
}

stock_port=$(free_port)
conf stock "$stock_port" 'server.modules += ("mod_openssl")
ssl.openssl.ssl-conf-cmd = ("Options" => "-SessionTicket")'
port_port=$(free_port)
conf port "$port_port" ''

start() { # NAME BINARY PORT [args]
	local name=$1 bin=$2 port=$3
	shift 3
	SSA_CONFIG=$work/ssa.conf "$bin" -D -f "$work/$name.conf" "$@" >"$work/$name.out" 2>&1 &
	pids+=($!)
	for _ in $(seq 200); do
		curl -s --cacert "$pki/ca.pem" -o /dev/null "https://localhost:$port/index.html" && return 0
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.05
	done
	die "$name did not start: $(cat "$work/$name.out" "$work/$name.error.log" 2>/dev/null | tail -5)"
}
start stock /usr/sbin/lighttpd "$stock_port" -m /usr/lib/lighttpd
start port "$port_bin" "$port_port"

stock_ver=$(/usr/sbin/lighttpd -v | head -1)
port_ver=$("$port_bin" -v | head -1)
for side in stock port; do
	p=${side}_port
	curl -sv --cacert "$pki/ca.pem" -o /dev/null "https://localhost:${!p}/index.html" 2>"$work/$side.curl" ||
		die "$side: curl failed"
	tls=$(grep -oE 'SSL connection using [^ ]+ / [^ ]+' "$work/$side.curl" | sed 's/SSL connection using //')
	printf -v "${side}_tls" '%s' "$tls"
done

# wrk_rps SIDE CONNS HEADER-ARGS...: one wrk run; prints requests/s, keeps wrk's output.
wrk_rps() {
	local side=$1 c=$2 p=${1}_port log
	shift 2
	log=$work/wrk.$side.$RANDOM.log
	timeout $((duration + 60)) wrk -t1 -c"$c" -d"${duration}s" "$@" "https://localhost:${!p}/index.html" >"$log" 2>&1 ||
		die "wrk failed on $side: $(tail -3 "$log")"
	if grep -qE 'Non-2xx|Socket errors' "$log"; then
		grep -E 'Non-2xx|Socket errors' "$log" | sed "s/^/$side: /" >>"$work/errors"
	fi
	awk '/^Requests\/sec:/ {print $2}' "$log"
}

dl_secs() { # SIDE: seconds for the 1 GiB download
	local p=${1}_port size secs
	read -r size secs < <(curl -s --max-time 300 --cacert "$pki/ca.pem" -o /dev/null \
		-w '%{size_download} %{time_total}\n' "https://localhost:${!p}/large.bin")
	[ "$size" = 1073741824 ] || die "$1: the 1 GiB download got ${size:-no} bytes in ${secs:-?} s"
	echo "$secs"
}

: >"$work/errors"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A res
for r in $(seq "$reps"); do
	for side in stock port; do
		say "rep $r/$reps: $side"
		res[$side.ka]+="$(wrk_rps "$side" "$conns") "
		res[$side.close]+="$(wrk_rps "$side" "$conns" -H 'Connection: close') "
		res[$side.dl]+="$(dl_secs "$side") "
		for c in $load; do res[$side.ka$c]+="$(wrk_rps "$side" "$c") "; done
	done
done

fmt() { awk -v v="$1" 'BEGIN {printf "%.0f", v}'; }

ka_s=$(median <<<"${res[stock.ka]}") ka_p=$(median <<<"${res[port.ka]}")
cl_s=$(median <<<"${res[stock.close]}") cl_p=$(median <<<"${res[port.close]}")
dl_s=$(median <<<"${res[stock.dl]}") dl_p=$(median <<<"${res[port.dl]}")
mibs() { awk -v s="$1" 'BEGIN {printf "%.0f", 1024/s}'; }
load_rows() {
	local c s p
	for c in $load; do
		s=$(median <<<"${res[stock.ka$c]}") p=$(median <<<"${res[port.ka$c]}")
		echo "| $c | $(fmt "$s") | $(fmt "$p") | $(ratio "$p" "$s") | $(paired "ka$c") |"
	done
}
# Median of the ratios of each repetition's port and stock runs, which ran one after the other:
# steadier than the ratio of medians when other work on the machine comes and goes.
paired() { # KEY [inverse]
	paste -d' ' <(tr ' ' '\n' <<<"${res[port.$1]}" | grep .) <(tr ' ' '\n' <<<"${res[stock.$1]}" | grep .) |
		awk -v inv="${2:-0}" '{r = inv ? $2 / $1 : $1 / $2; printf "%s ", r}' | median | xargs printf '%.2f'
}

report() {
	cat <<EOF
# The lighttpd port against stock lighttpd with mod_openssl

- date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(uname -sr) $(uname -m); CPUs: $(nproc) ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); load average (1, 5, 15 min) at the start: $load_start, at the end: $(cut -d' ' -f1-3 /proc/loadavg)
- command: \`$cmdline\`
- stock: \`/usr/sbin/lighttpd\` ($stock_ver, Debian packages lighttpd and lighttpd-mod-openssl), TLS in mod_openssl: $stock_tls
- port: \`ports/out/sbin/lighttpd\` ($port_ver, ports/lighttpd), TLS by libssa $(pkg-config --modversion ssa) (in-process engine, SSA_ENGINE_THREADS default): $port_tls
- both: the same configuration but for \`server.modules += ("mod_openssl")\`, on 127.0.0.1, server certificate EC P-256 (tests/pki.sh, localhost chain), keep-alive up to 1,000,000 requests; no session resumption (stock: \`ssl.openssl.ssl-conf-cmd = ("Options" => "-SessionTicket")\`, its session cache being off by default; port: policy \`session-lifetime = 0\`)
- wrk 4.1.0: \`wrk -t1 -c$conns -d${duration}s https://localhost:PORT/index.html\` (a 1 KiB file), and the same with \`-H 'Connection: close'\` (a full TLS 1.3 handshake per request); 1 GiB: \`curl -s --cacert ca.pem -o /dev/null -w '%{time_total}' https://localhost:PORT/large.bin\`
- repetitions: $reps, stock and port interleaved; medians shown; client and servers share the machine's $(nproc) CPUs

| scenario | metric | stock (mod_openssl) | port (libssa) | port ÷ stock | median of paired ratios |
|---|---|---:|---:|---:|---:|
| keep-alive, 1 KiB file | requests/s (higher is better) | $(fmt "$ka_s") | $(fmt "$ka_p") | $(ratio "$ka_p" "$ka_s") | $(paired ka) |
| new connection per request | requests/s (higher is better) | $(fmt "$cl_s") | $(fmt "$cl_p") | $(ratio "$cl_p" "$cl_s") | $(paired close) |
| 1 GiB download | seconds (lower is better) | $dl_s | $dl_p | $(ratio "$dl_p" "$dl_s") | $(paired dl) |
| 1 GiB download | MiB/s (higher is better) | $(mibs "$dl_s") | $(mibs "$dl_p") | $(ratio "$dl_s" "$dl_p") | $(paired dl 1) |

Keep-alive as the load grows (\`wrk -t1 -cN\`, the same 1 KiB file; requests/s, medians):

| concurrent connections | stock (mod_openssl) | port (libssa) | port ÷ stock | median of paired ratios |
|---:|---:|---:|---:|---:|
$(load_rows)

All runs (stock | port):
- keep-alive requests/s: ${res[stock.ka]}| ${res[port.ka]}
- Connection: close requests/s: ${res[stock.close]}| ${res[port.close]}
- 1 GiB seconds: ${res[stock.dl]}| ${res[port.dl]}

wrk errors: $(if [ -s "$work/errors" ]; then sort "$work/errors" | uniq -c | tr '\n' ';'; else echo none; fi)
EOF
}

report | tee "$work/report.md"
if [ "$write" -eq 1 ]; then
	cp "$work/report.md" "$out"
	say "written to $out"
fi
