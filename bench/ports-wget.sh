#!/usr/bin/env bash
# bench/ports-wget.sh -- the wget port (ports/wget, TLS by libssa) against Debian's
# /usr/bin/wget (GnuTLS), both downloading the same file from the same openssl s_server -WWW
# on loopback.
#
#   bench/ports-wget.sh [--reps R] [--size MIB] [--out FILE] [--no-write]
#
# Downloads a file of MIB MiB (default 1024) to /dev/null, R times with each wget (default 5),
# interleaved stock/port so that a drift of the machine does not land on one side only, with
# the same command line: wget -q --no-config --ca-certificate=CA -O /dev/null URL.  Prints a
# markdown report (medians, ratio port / stock in throughput) and writes it to FILE (default
# bench/PORTS-WGET-RESULTS.md) unless --no-write.  Builds the port with ports/wget/build.sh if
# ports/out/bin/wget is missing.  Only processes this script started are stopped, by pid.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/stats.sh"
top=$(cd "$here/.." && pwd)
cmdline="bench/ports-wget.sh${*:+ $*}"
reps=5 size=1024 out=$here/PORTS-WGET-RESULTS.md write=1

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	--reps) reps=${2:-}; shift 2 || usage ;;
	--size) size=${2:-}; shift 2 || usage ;;
	--out) out=${2:-}; shift 2 || usage ;;
	--no-write) write=0; shift ;;
	*) usage ;;
	esac
done
case "$reps$size" in '' | *[!0-9]*) usage ;; esac
[ "$reps" -ge 1 ] && [ "$size" -ge 1 ] || usage

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'ports-wget: %s\n' "$*" >&2; exit 1; }

port_wget=$top/ports/out/bin/wget
stock_wget=/usr/bin/wget
[ -x "$stock_wget" ] || die "no $stock_wget (Debian package wget)"
if [ ! -x "$port_wget" ]; then
	say "building the port"
	bash "$top/ports/wget/build.sh" >/dev/null
fi
"$stock_wget" --version | grep -q '+ssl/gnutls' || die "$stock_wget is not the GnuTLS build"

work=$(mktemp -d /tmp/wget-port-bench.XXXXXX)
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
bash "$top/tests/pki.sh" "$work/pki" >/dev/null 2>&1 || die "tests/pki.sh failed"
mkdir "$work/www"
truncate -s "${size}M" "$work/www/big.bin"
cat "$work/www/big.bin" >/dev/null # into the page cache before the first run

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work/www" && exec openssl s_server -quiet -WWW -accept "127.0.0.1:$port" \
	-cert "$work/pki/localhost.pem" -cert_chain "$work/pki/int.pem" \
	-key "$work/pki/localhost.key" </dev/null >"$work/s_server.log" 2>&1) &
server=$!
for _ in $(seq 100); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null &&
		break
	sleep 0.05
done
url=https://localhost:$port/big.bin

# The cipher and version each side gets, from one small request each (not timed).
printf 'default = { log-connections = true; };\n' >"$work/log.conf"
port_conn=$(SSA_CONFIG=$work/log.conf "$port_wget" -q --no-config --tries=1 \
	--ca-certificate="$work/pki/ca.pem" -O /dev/null --header='Range: bytes=0-0' "$url" 2>&1 |
	sed -n 's/^ssa\[[0-9]*\]: to localhost: //p' | head -n 1)
stock_conn=$(python3 - "$port" "$work/pki/ca.pem" <<'PY' 2>/dev/null || true
# The stock wget does not print what it negotiated; gnutls-cli, when present, shows what GnuTLS
# gets from this server with the same defaults.
import shutil, subprocess, sys
if shutil.which("gnutls-cli"):
    r = subprocess.run(["gnutls-cli", "--x509cafile", sys.argv[2], "-p", sys.argv[1], "localhost"],
                       input=b"", capture_output=True, timeout=10)
    for l in r.stdout.decode().splitlines():
        if "Description:" in l:
            print(l.split("Description:", 1)[1].strip())
PY
)

# run WGET: one download; prints its wall-clock seconds and the CPU seconds (user + system) of
# the wget process with all its threads (libssa's engine runs in them), which the other
# programs on a shared machine disturb less than the wall clock.
run() {
	python3 - "$1" --no-config -q --tries=1 --ca-certificate="$work/pki/ca.pem" -O /dev/null \
		"$url" <<'PY' || die "$1 failed to download $url"
import resource, subprocess, sys, time
t = time.monotonic()
rc = subprocess.run(sys.argv[1:]).returncode
wall = time.monotonic() - t
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.3f} {u.ru_utime + u.ru_stime:.3f}")
sys.exit(rc)
PY
}

stock_t=() port_t=() stock_c=() port_c=()
for i in $(seq "$reps"); do
	say "run $i/$reps"
	read -r w c < <(run "$stock_wget")
	stock_t+=("$w") stock_c+=("$c")
	read -r w c < <(run "$port_wget")
	port_t+=("$w") port_c+=("$c")
	say "stock ${stock_t[-1]} s (cpu ${stock_c[-1]}), port ${port_t[-1]} s (cpu ${port_c[-1]})"
done

ms=$(median <<<"${stock_t[*]}")
mp=$(median <<<"${port_t[*]}")
mbs() { awk -v s="$size" -v t="$1" 'BEGIN {printf "%.0f", s / t}'; }
ratio=$(ratio "$ms" "$mp")
cs=$(median <<<"${stock_c[*]}")
cp=$(median <<<"${port_c[*]}")
cratio=$(ratio "$cs" "$cp")

report=$(
	cat <<EOF
## wget port vs Debian's wget: ${size} MiB download on loopback

- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), $(uname -sr),
  load average at the end $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: noisy)
- Command: \`$cmdline\`
- Server: \`openssl s_server -WWW\` ($(openssl version | cut -d' ' -f1-2)), localhost certificate
  (EC P-256) of tests/pki.sh, file served from the page cache, the same server for both.
- Clients, same command line \`wget -q --no-config --tries=1 --ca-certificate=ca.pem -O /dev/null URL\`:
  stock \`$stock_wget\` ($(dpkg-query -W -f='${Version}' wget 2>/dev/null), GnuTLS$(
		[ -n "$stock_conn" ] && echo ", as gnutls-cli negotiates: $stock_conn")),
  port \`ports/out/bin/wget\` (libssa, in-process engine, default policy$(
		[ -n "$port_conn" ] && echo "; negotiated: $port_conn")).
- $reps runs each, interleaved; time of the whole command (start, handshake, transfer), and
  the CPU time of the wget process.

| | median s | median MiB/s | runs (s) | median CPU s | CPU runs (s) |
|---|---:|---:|---|---:|---|
| stock (GnuTLS) | $ms | $(mbs "$ms") | ${stock_t[*]} | $cs | ${stock_c[*]} |
| port (SSA) | $mp | $(mbs "$mp") | ${port_t[*]} | $cp | ${port_c[*]} |

Throughput ratio port / stock (wall clock): **${ratio}x** (target ≥ 0.9x).
CPU ratio stock / port (wget's own CPU time, its threads included; above 1 means the port
spends less): **${cratio}x**.
EOF
)
echo "$report"
if [ "$write" -eq 1 ]; then
	printf '# wget port benchmark results\n\nWritten by bench/ports-wget.sh; each run replaces this file.\n\n%s\n' \
		"$report" >"$out"
	say "written to $out"
fi
