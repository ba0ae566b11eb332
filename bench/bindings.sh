#!/usr/bin/env bash
# bench/bindings.sh -- each language binding of SSA against the language's own TLS, both sides
# in that language, in one run; writes a markdown table of medians and SSA ÷ native ratios.
#
#   bench/bindings.sh [--reps R] [--bytes N] [--bytes-python N] [--bytes-go N] [--bytes-php N]
#                     [--conns C] [--go-concurrency "1 4"] [--langs "python go php"]
#                     [--build-dir DIR] [--out FILE] [--timeout SECS] [--no-build]
#
# Per language, two variants, each with its own server process (127.0.0.1, port 0) and a new
# client process per measurement:
#   native  Python: ssl module (SSLContext); Go: crypto/tls; PHP: tls:// streams (openssl ext.)
#   ssa     the binding: Python `ssa` (SWIG), Go `ssa` (cgo), PHP `ssa://` (extension)
# Scenarios: bulk (client sends N bytes in 256 KiB writes, server discards them and replies
# 1 byte; MiB/s from the first byte to the reply) and full handshakes per second (C connections
# in all, each connect + handshake + 1-byte exchange + close, by K client threads each looping,
# after one untimed warm-up connection; K = 1, and each --go-concurrency value for Go).
# Everywhere: TLS 1.3 only, the EC P-256 leaf of a throwaway CA verified for "localhost", no
# client session cache and no tickets where the language lets a server refuse them (resumed
# handshakes are counted and must be 0), TCP_NODELAY on the connections.
# Repetitions are interleaved (native, ssa, native, ...); each cell is the median of R runs.
# Defaults: 3 reps; bulk 256M for Python and PHP, 1G for Go; 500 connections.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/stats.sh"
src=$(cd "$here/.." && pwd)
reps=3
declare -A bytes=([python]=256M [go]=1G [php]=256M)
conns=500
go_k="1 4"
langs="python go php"
build_dir=$src/_build
out=$here/BINDINGS-RESULTS.md
client_timeout=120
build=1
cmdline="bench/bindings.sh${*:+ $*}"

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--reps) reps=$2; shift 2 ;;
	--bytes) bytes[python]=$2; bytes[go]=$2; bytes[php]=$2; shift 2 ;;
	--bytes-python) bytes[python]=$2; shift 2 ;;
	--bytes-go) bytes[go]=$2; shift 2 ;;
	--bytes-php) bytes[php]=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	--go-concurrency) go_k=$2; shift 2 ;;
	--langs) langs=$2; shift 2 ;;
	--build-dir) build_dir=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--timeout) client_timeout=$2; shift 2 ;;
	--no-build) build=0; shift ;;
	*) usage ;;
	esac
done

variants="native ssa"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ssa-bindings-bench.XXXXXX")
declare -A server_pid=() port=() unavailable=() failed=() version=() label=()
cmd=()
started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')

log() { printf 'bindings.sh: %s\n' "$*" >&2; }

# Stop only the servers this script started, by pid, and remove the throwaway keys.
cleanup() {
	local k
	for k in "${!server_pid[@]}"; do
		kill "${server_pid[$k]}" 2>/dev/null || true
		wait "${server_pid[$k]}" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 256M, 1G, 4096 -> bytes
to_bytes() {
	local v=$1 n m=1
	case "$v" in
	*[kK]) m=1024 ;;
	*[mM]) m=$((1024 * 1024)) ;;
	*[gG]) m=$((1024 * 1024 * 1024)) ;;
	esac
	n=${v%[kKmMgG]}
	[[ "$n" =~ ^[0-9]+$ ]] || { log "bad size: $v"; exit 2; }
	echo $((n * m))
}

# A CA and a leaf for "localhost" (and 127.0.0.1), EC P-256, valid two days; the policy.
make_pki() {
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
	cat "$d/leaf.pem" "$d/ca.pem" >"$d/leaf-chain.pem"
	chmod 600 "$d"/*.key
	# The programs set the certificates, trust anchors, TLS 1.3 and no sessions per socket
	# where the binding can; the policy says the same for what it cannot (Go: no session
	# option), so every ssa variant runs under it.
	cat >"$tmp/ssa.conf" <<-EOF
		default = {
		  min-version = "TLS1.3";
		  trust-file = "$d/ca.pem";
		  session-lifetime = 0;
		  tickets = false;
		  server-certificates = ( { chain = "$d/leaf-chain.pem"; key = "$d/leaf.key"; } );
		};
	EOF
	if [ -x "$build_dir/core/ssa-policy" ] &&
		! "$build_dir/core/ssa-policy" check "$tmp/ssa.conf" >"$tmp/policy.log" 2>&1; then
		log "policy rejected: $(cat "$tmp/policy.log")"
		exit 1
	fi
	export SSA_CONFIG=$tmp/ssa.conf
}

build_libssa() {
	if [ "$build" = 1 ] && [ -f "$build_dir/Makefile" ]; then
		make -s -C "$build_dir" -j2 >"$tmp/make.log" 2>&1 ||
			{ log "make -C $build_dir failed:"; tail -n 20 "$tmp/make.log" >&2; exit 1; }
	fi
	[ -e "$build_dir/core/.libs/libssa.so" ] || { log "no $build_dir/core/.libs/libssa.so"; exit 1; }
}

# ---------------------------------------------------------------------------------------------
# Languages.  Each LANG has:
#   prepare_LANG            build what it needs; set unavailable[LANG,VARIANT] with the reason
#                           for what cannot run, version[LANG], label[LANG]
#   server_LANG VARIANT     sets the array cmd to the server command (prints "PORT n", serves
#                           until killed)
#   client_LANG VARIANT SCENARIO PORT   sets cmd to the client command (prints one RESULT line)
#   scenarios_LANG          the scenario ids: bulk, hs:K
# Adding a language is one more set of these functions and its name in --langs.

py=/usr/bin/python3

prepare_python() {
	label[python]="Python"
	if [ ! -x "$py" ]; then
		unavailable[python,native]="$py not found"
		unavailable[python,ssa]="$py not found"
		return 0
	fi
	version[python]="Python $("$py" -c 'import platform, ssl; print(platform.python_version(), "(" + ssl.OPENSSL_VERSION + ")")')"
	if [ "$build" = 1 ] && ! bash "$src/bindings/python/build.sh" "$build_dir" >"$tmp/py-build.log" 2>&1; then
		unavailable[python,ssa]="bindings/python/build.sh failed: $(tail -n1 "$tmp/py-build.log")"
		return 0
	fi
	if ! PYTHONPATH=$build_dir/bindings/python "$py" -c 'import ssa' >"$tmp/py-import.log" 2>&1; then
		unavailable[python,ssa]="import ssa failed: $(tail -n1 "$tmp/py-import.log")"
	fi
}
server_python() {
	cmd=(env PYTHONPATH="$build_dir/bindings/python" "$py" "$here/bindings/py_bench.py" server
		--variant "$1" --cert "$tmp/pki/leaf-chain.pem" --key "$tmp/pki/leaf.key")
}
client_python() {
	cmd=(env PYTHONPATH="$build_dir/bindings/python" "$py" "$here/bindings/py_bench.py" client
		--variant "$1" --port "$3" --ca "$tmp/pki/ca.pem")
	case "$2" in
	bulk) cmd+=(--scenario bulk --bytes "$(to_bytes "${bytes[python]}")") ;;
	hs:*) cmd+=(--scenario handshake --conns "$conns") ;;
	esac
}
scenarios_python() { echo "bulk hs:1"; }

prepare_go() {
	label[go]="Go"
	if ! command -v go >/dev/null; then
		unavailable[go,native]="go not installed (apt-get install golang-go)"
		unavailable[go,ssa]=${unavailable[go,native]}
		return 0
	fi
	version[go]=$(go version | awk '{ print $3 }')
	# As tests/suites.d/go.sh: the standard library and this build's libssa only.
	local libs=$build_dir/core/.libs
	if ! (cd "$here/bindings/go_bench" &&
		CGO_ENABLED=1 GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local \
			GOCACHE=$build_dir/go-cache GOPATH=$tmp/gopath \
			CGO_CFLAGS="-I$src/core/include" CGO_LDFLAGS="-L$libs -lssa -Wl,-rpath,$libs" \
			go build -o "$tmp/go_bench" .) >"$tmp/go-build.log" 2>&1; then
		unavailable[go,native]="go build failed: $(grep -m1 -v '^#' "$tmp/go-build.log" || true)"
		unavailable[go,ssa]=${unavailable[go,native]}
	fi
}
server_go() {
	cmd=("$tmp/go_bench" server -variant "$1" -cert "$tmp/pki/leaf-chain.pem" -key "$tmp/pki/leaf.key")
}
client_go() {
	cmd=("$tmp/go_bench" client -variant "$1" -port "$3" -ca "$tmp/pki/ca.pem")
	case "$2" in
	bulk) cmd+=(-scenario bulk -bytes "$(to_bytes "${bytes[go]}")") ;;
	hs:*) cmd+=(-scenario handshake -conns "$conns" -concurrency "${2#hs:}") ;;
	esac
}
scenarios_go() {
	local k s="bulk"
	for k in $go_k; do s+=" hs:$k"; done
	echo "$s"
}

# The extension is built from bindings/php in a copy, as tests/suites.d/php.sh does; the native
# variant runs without it (only PHP's openssl extension), the ssa variant with it.
php_ext=""
prepare_php() {
	label[php]="PHP"
	if ! command -v php >/dev/null; then
		unavailable[php,native]="php not installed (apt-get install php-cli)"
		unavailable[php,ssa]=${unavailable[php,native]}
		return 0
	fi
	version[php]="PHP $(php -r 'echo PHP_VERSION, " (openssl extension built with ", OPENSSL_VERSION_TEXT, ")";' 2>/dev/null || php -r 'echo PHP_VERSION;')"
	# The module list in a variable: grep -q on a pipe could end php -m with SIGPIPE (pipefail).
	local mods
	mods=$(php -m 2>/dev/null || true)
	grep -qx openssl <<<"$mods" || unavailable[php,native]="PHP's openssl extension is not loaded"
	local missing="" t
	for t in phpize php-config; do command -v "$t" >/dev/null || missing+=" $t"; done
	if [ -n "$missing" ]; then
		unavailable[php,ssa]="extension not built: missing$missing (apt-get install php-dev)"
		return 0
	fi
	if [ ! -f "$src/bindings/php/config.m4" ]; then
		unavailable[php,ssa]="no bindings/php/config.m4"
		return 0
	fi
	local ext=$tmp/php-ext
	mkdir -p "$ext"
	if ! (cd "$src/bindings/php" && cp config.m4 ./*.c ./*.h "$ext/" &&
		{ [ ! -f Makefile.frag ] || cp Makefile.frag "$ext/"; } &&
		cd "$ext" && phpize && ./configure --with-ssa="$build_dir" && make -j2) \
		>"$tmp/php-build.log" 2>&1; then
		unavailable[php,ssa]="extension build failed: $(grep -m1 -i 'error' "$tmp/php-build.log" || tail -n1 "$tmp/php-build.log")"
		return 0
	fi
	php_ext=$ext/modules/ssa.so
	if ! php -d extension="$php_ext" -r 'exit(in_array("ssa", stream_get_transports()) ? 0 : 1);' \
		>"$tmp/php-load.log" 2>&1; then
		unavailable[php,ssa]="extension does not load or has no ssa:// transport: $(tail -n1 "$tmp/php-load.log")"
		return 0
	fi
	grep -qx sockets <<<"$mods" ||
		unavailable[php,ssa]="the sockets extension is needed (TCP_NODELAY through socket_import_stream)"
	version[php]+=", ssa extension built from bindings/php"
}
php_cmd() { # VARIANT: php, with the extension for ssa only
	cmd=(php)
	[ "$1" = ssa ] && cmd+=(-d extension="$php_ext")
	cmd+=("$here/bindings/php_bench.php")
}
server_php() {
	php_cmd "$1"
	cmd+=(server --variant "$1" --cert "$tmp/pki/leaf-chain.pem" --key "$tmp/pki/leaf.key")
}
client_php() {
	php_cmd "$1"
	cmd+=(client --variant "$1" --port "$3" --ca "$tmp/pki/ca.pem")
	case "$2" in
	bulk) cmd+=(--scenario bulk --bytes "$(to_bytes "${bytes[php]}")") ;;
	hs:*) cmd+=(--scenario handshake --conns "$conns") ;;
	esac
}
scenarios_php() { echo "bulk hs:1"; }

# ---------------------------------------------------------------------------------------------
# The driver.

start_server() { # LANG VARIANT
	local l=$1 v=$2 p
	"server_$l" "$v"
	"${cmd[@]}" >"$tmp/server.$l.$v.out" 2>"$tmp/server.$l.$v.err" &
	server_pid[$l,$v]=$!
	for _ in $(seq 200); do
		p=$(awk '$1 == "PORT" { print $2; exit }' "$tmp/server.$l.$v.out")
		if [ -n "$p" ]; then port[$l,$v]=$p; return 0; fi
		kill -0 "${server_pid[$l,$v]}" 2>/dev/null || break
		sleep 0.05
	done
	stop_server "$l" "$v"
	unavailable[$l,$v]="server did not start: $(tail -n1 "$tmp/server.$l.$v.err")"
	log "$l $v: ${unavailable[$l,$v]}"
}

stop_server() {
	local k=$1,$2
	[ -n "${server_pid[$k]:-}" ] || return 0
	kill "${server_pid[$k]}" 2>/dev/null || true
	wait "${server_pid[$k]}" 2>/dev/null || true
	unset "server_pid[$k]"
}

field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

run_one() { # LANG VARIANT SCENARIO
	local l=$1 v=$2 s=$3 rc=0 line metric val tls resumed
	"client_$l" "$v" "$s" "${port[$l,$v]}"
	timeout "$client_timeout" "${cmd[@]}" >"$tmp/client.out" 2>"$tmp/client.err" || rc=$?
	line=$(grep -m1 '^RESULT ' "$tmp/client.out" || true)
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		if [ "$rc" -eq 124 ]; then
			failed[$l,$v,$s]="timed out after ${client_timeout}s"
		else
			failed[$l,$v,$s]="exit $rc: $(grep -v '^$' "$tmp/client.err" | tail -n1)"
		fi
		log "$l $v $s FAILED: ${failed[$l,$v,$s]}"
		return 0
	fi
	log "$l $v $s: $line"
	tls=$(field "$line" tls)
	if [ "$tls" != 1.3 ]; then
		failed[$l,$v,$s]="negotiated TLS $tls, not 1.3"
		log "$l $v $s: ${failed[$l,$v,$s]}"
		return 0
	fi
	if [ ! -e "$tmp/neg.$l.$v" ]; then
		log "$l $v negotiated: TLS $tls, $(field "$line" cipher)"
	fi
	echo "TLS $tls, $(field "$line" cipher)" >>"$tmp/neg.$l.$v"
	case "$s" in
	bulk) metric=mibps ;;
	*)
		metric=hps
		resumed=$(field "$line" resumed)
		echo "$resumed $(field "$line" conns)" >>"$tmp/resumed.$l.$v"
		if [ "$resumed" != 0 ] && [ "$resumed" != unknown ]; then
			failed[$l,$v,$s]="$resumed of $(field "$line" conns) handshakes resumed"
			log "$l $v $s: ${failed[$l,$v,$s]}"
			return 0
		fi
		;;
	esac
	val=$(field "$line" "$metric")
	echo "$val" >>"$tmp/res.$l.$v.$s"
}

cell() { # LANG VARIANT SCENARIO -> median or n/a
	local f="$tmp/res.$1.$2.$3"
	if [ -n "${unavailable[$1,$2]:-}" ] || [ -n "${failed[$1,$2,$3]:-}" ] || [ ! -s "$f" ]; then
		echo n/a
	else
		median <"$f"
	fi
}

scenario_label() { # LANG SCENARIO
	case "$2" in
	bulk) echo "bulk $(to_bytes "${bytes[$1]}" | awk '{ printf "%d MiB", $1 / 1048576 }'), MiB/s" ;;
	hs:*) echo "full handshakes/s, K=${2#hs:}" ;;
	esac
}

run_lang() {
	local l=$1 v s r
	"prepare_$l"
	for v in $variants; do
		if [ -n "${unavailable[$l,$v]:-}" ]; then
			log "$l $v: n/a (${unavailable[$l,$v]})"
		else
			start_server "$l" "$v"
		fi
	done
	for r in $(seq "$reps"); do
		log "$l: repetition $r of $reps"
		for s in $(scenarios_"$l"); do
			for v in $variants; do
				[ -n "${unavailable[$l,$v]:-}" ] || [ -n "${failed[$l,$v,$s]:-}" ] && continue
				run_one "$l" "$v" "$s"
			done
		done
	done
	for v in $variants; do
		stop_server "$l" "$v"
		if [ -s "$tmp/server.$l.$v.err" ]; then
			log "$l $v server stderr: $(head -n3 "$tmp/server.$l.$v.err")"
			head -n3 "$tmp/server.$l.$v.err" >"$tmp/server-notes.$l.$v"
		fi
	done
}

table() {
	local l s n a
	echo "| language | benchmark | native | SSA | SSA ÷ native |"
	echo "|---|---|---:|---:|---:|"
	for l in $langs; do
		for s in $(scenarios_"$l"); do
			n=$(cell "$l" native "$s")
			a=$(cell "$l" ssa "$s")
			echo "| ${label[$l]:-$l} | $(scenario_label "$l" "$s") | $n | $a | $(ratio "$a" "$n") |"
		done
	done
}

native_name() {
	case "$1" in
	python) echo "ssl module (SSLContext)" ;;
	go) echo "crypto/tls" ;;
	php) echo "tls:// streams (openssl extension)" ;;
	esac
}
ssa_name() {
	case "$1" in
	python) echo "\`ssa.socket\` (bindings/python)" ;;
	go) echo "\`ssa.Dialer\`/\`ssa.ListenConfig\` (bindings/go)" ;;
	php) echo "\`ssa://\` streams (bindings/php)" ;;
	esac
}

notes() {
	local l v s k any=0
	echo
	echo "Above 1 the binding is faster than the language's own TLS.  Both sides of every"
	echo "connection run in the language named, in two processes on 127.0.0.1."
	echo
	echo "### Variants and what was negotiated"
	for l in $langs; do
		for v in $variants; do
			local what neg="not measured" res=""
			if [ "$v" = native ]; then what=$(native_name "$l"); else what=$(ssa_name "$l"); fi
			[ -s "$tmp/neg.$l.$v" ] && neg=$(sort -u "$tmp/neg.$l.$v" | paste -sd';' -)
			if [ -s "$tmp/resumed.$l.$v" ]; then
				res=$(awk '{ if ($1 == "unknown") u = 1; else r += $1; n += $2 }
					END { printf "; resumed handshakes %s/%d", (u ? "not reported" : r), n }' \
					"$tmp/resumed.$l.$v")
			fi
			echo "- ${label[$l]:-$l} $v, $what: $neg$res"
		done
	done
	case " $langs " in *" php "*)
		echo
		echo "PHP's tls:// server cannot be told \`num_tickets = 0\`: with \`no_ticket\` it still"
		echo "sends two stateful TLS 1.3 tickets per connection, which its client never uses (each"
		echo "tls:// stream has an SSL_CTX of its own, and PHP offers no session), so its handshakes"
		echo "are full too; PHP reports no resumption flag.  That fresh SSL_CTX per stream also means"
		echo "PHP loads the certificate and key (server) and the CA file (client) for every connection."
		;;
	esac
	echo
	echo "### Not measured"
	for l in $langs; do
		for v in $variants; do
			[ -n "${unavailable[$l,$v]:-}" ] && echo "- ${label[$l]:-$l} $v: n/a — ${unavailable[$l,$v]}" && any=1
		done
	done
	while read -r k; do
		[ -n "$k" ] || continue
		IFS=, read -r l v s <<<"$k"
		echo "- ${label[$l]:-$l} $v $(scenario_label "$l" "$s"): n/a — ${failed[$k]}"
		any=1
	done < <(printf '%s\n' "${!failed[@]}" | sort)
	[ "$any" = 0 ] && echo "- nothing: every variant ran every benchmark"
	local sn=0
	for l in $langs; do
		for v in $variants; do
			if [ -s "$tmp/server-notes.$l.$v" ]; then
				[ "$sn" = 0 ] && echo && echo "### Server messages" && sn=1
				echo "- ${label[$l]:-$l} $v: $(paste -sd' ' "$tmp/server-notes.$l.$v")"
			fi
		done
	done
	echo
	echo "### Raw values (in run order)"
	for l in $langs; do
		for s in $(scenarios_"$l"); do
			for v in $variants; do
				[ -s "$tmp/res.$l.$v.$s" ] || continue
				echo "- ${label[$l]:-$l} $(scenario_label "$l" "$s"), $v: $(paste -sd' ' "$tmp/res.$l.$v.$s")"
			done
		done
	done
}

header() {
	local l
	echo "# SSA language bindings against each language's own TLS"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); kernel: $(uname -r); CPUs (nproc): $(nproc)" \
		"($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
	echo "- $(openssl version); libssa" \
		"$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"/\1/p' "$build_dir/config.h" 2>/dev/null)" \
		"from \`$build_dir\` (in-process engine, $(nproc) engine threads per process)"
	for l in $langs; do
		[ -n "${version[$l]:-}" ] && echo "- ${label[$l]}: ${version[$l]}"
	done
	echo "- command: \`$cmdline\` (run time $(($(date +%s) - started)) s; load average" \
		"$load_start before, $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?') after)"
	echo "- $reps repetitions, interleaved, medians shown; bulk in 256 KiB writes, timed from the" \
		"first byte to the server's 1-byte receipt; handshakes: $conns sequential connect +" \
		"full TLS 1.3 handshake + 1-byte exchange + close per run (K client threads share them," \
		"after one untimed warm-up connection); one server process per variant (Go: goroutine" \
		"per connection; Python and PHP: one connection after the other)"
	echo "- TLS: EC P-256 \`localhost\` leaf from a throwaway CA, verified by every client;" \
		"TLS 1.3 only; no session tickets (Python: \`OP_NO_TICKET\`, \`num_tickets = 0\`; Go:" \
		"\`SessionTicketsDisabled\`; ssa: \`TLS_SESSION_TTL = 0\`, policy" \
		"\`session-lifetime = 0\`), no client session cache (Go: no \`ClientSessionCache\`;" \
		"ssa: \`TLS_SESSION_REUSE = 0\`); ciphers as each side picks by default"
	echo "- TCP_NODELAY on every connection (Go's \`net\` sets it; Python sets it on the socket," \
		"PHP through the \`socket\` context option or, for \`ssa://\`, \`socket_import_stream\`;" \
		"the Go binding has no call for it, so go_bench sets it through \`ssa_setsockopt\` on the" \
		"Conn's descriptor, read by reflection).  Without it, a client's 1-byte write after its" \
		"Finished waits for the server's delayed ACK (about 40 ms) when no tickets are sent."
	echo
}

main() {
	local l
	command -v openssl >/dev/null || { log "the openssl command is needed for the certificates"; exit 1; }
	for l in $langs; do
		declare -F "prepare_$l" >/dev/null || { log "unknown language: $l"; exit 2; }
	done
	build_libssa
	make_pki
	for l in $langs; do
		run_lang "$l"
	done
	mkdir -p "$(dirname "$out")"
	{ header; table; notes; } >"$out"
	cat "$out"
	log "written to $out"
}

main
