#!/usr/bin/env bash
# tests/fuzz.sh BUILD_DIR SECONDS -- builds the two libFuzzer targets with clang, ASan and UBSan
# against the core sources, runs each for half of SECONDS, and prints TAP, one case a target:
#   ok 1 - fuzz options N runs ...      tests/fuzz_options.c: option and address parsing
#   ok 2 - fuzz protocol N runs ...     tests/fuzz_protocol.c: ssad's control protocol
#   not ok N - fuzz NAME: <what crashed>   (followed by the report as "# " lines)
#   ok N # SKIP <why>                      (no clang or no libFuzzer runtime)
#
# BUILD_DIR is a configured build directory (for config.h).  Each target keeps its corpus in
# BUILD_DIR/fuzz/corpus-NAME so that later runs start where earlier ones stopped; crash inputs
# are written to BUILD_DIR/fuzz/NAME-crash-* (or -timeout-*, -leak-*); replay one with
#   BUILD_DIR/fuzz/fuzz_NAME BUILD_DIR/fuzz/NAME-crash-...
# (with SSA_TEST_PKI=BUILD_DIR/fuzz/pki for the protocol target, as here).
# Environment: CC (default clang), SSA_TEST_PKI (else the PKI is made with tests/pki.sh),
# FUZZ_JOBS (parallel workers, default 1), FUZZ_TARGETS (default "options protocol");
# FUZZ_IGNORE_SIGPIPE=1, FUZZ_IGNORE_FD_LEAKS=1 and FUZZ_IGNORE_SOCKET_LEAKS=1 (protocol: no
# user-sockets limit in ssad's policy) turn those checks off, to look past such a bug for others.
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: fuzz.sh BUILD_DIR SECONDS}" && pwd)
seconds=${2:?usage: fuzz.sh BUILD_DIR SECONDS}
cc=${CC:-clang}
out=$build/fuzz
read -r -a targets <<<"${FUZZ_TARGETS:-options protocol}"
mkdir -p "$out"
# The corpus of the options target was BUILD_DIR/fuzz/corpus before there were two.
[ -d "$out/corpus" ] && [ ! -e "$out/corpus-options" ] && mv "$out/corpus" "$out/corpus-options"

echo "1..${#targets[@]}"
skip() {
	for i in "${!targets[@]}"; do
		echo "ok $((i + 1)) # SKIP $*"
	done
	exit 0
}

command -v "$cc" >/dev/null || skip "$cc not found"
[ -f "$build/config.h" ] || skip "$build/config.h not found: configure the build first"

# libFuzzer is in clang's runtime package (Debian: libclang-rt-NN-dev).
probe=$out/probe
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe.c"
"$cc" -fsanitize=fuzzer,address "$probe.c" -o "$probe" >"$probe.log" 2>&1 ||
	skip "$cc -fsanitize=fuzzer,address does not link (install libclang-rt-dev): $(head -c 200 "$probe.log")"

cflags=$(pkg-config --cflags openssl libconfig 2>/dev/null)
libs=$(pkg-config --libs openssl libconfig 2>/dev/null || echo "-lssl -lcrypto -lconfig")
# shellcheck disable=SC2206
common=(-std=gnu11 -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=undefined
	-I"$src/core/include" -I"$src/core" -I"$build" $cflags)

# The core is compiled once for both targets (fuzzer-no-link: coverage without a main).
# The options target has no ssad; the protocol target has ssad without its main (ssad.c).
mkdir -p "$out/obj"
lib_objs=()
ssad_objs=()
pids=()
: >"$out/build.log"
for f in "$src"/core/*.c; do
	base=$(basename "$f" .c)
	case $base in ssa_run | ssa_policy_tool | ssad) continue ;; esac
	obj=$out/obj/$base.o
	case $base in ssad*) ssad_objs+=("$obj") ;; *) lib_objs+=("$obj") ;; esac
	"$cc" "${common[@]}" -fsanitize=fuzzer-no-link,address,undefined -c "$f" -o "$obj" \
		>>"$out/build.log" 2>&1 &
	pids+=($!)
	# Two at a time: the CI machine has two cores.
	if [ ${#pids[@]} -ge 2 ]; then
		wait "${pids[0]}" || echo "$f (or the one before): compile failed" >>"$out/build.log"
		pids=("${pids[@]:1}")
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || echo "compile failed" >>"$out/build.log"
done
build_failed=$(grep -c 'compile failed\|error:' "$out/build.log")

link() { # name objects...
	local name=$1
	shift
	# shellcheck disable=SC2086
	"$cc" "${common[@]}" -fsanitize=fuzzer,address,undefined "$src/tests/fuzz_$name.c" "$@" \
		-o "$out/fuzz_$name" $libs -lpthread -ldl >"$out/build-$name.log" 2>&1
}

if [ -z "${SSA_TEST_PKI:-}" ]; then
	export SSA_TEST_PKI=$out/pki
	bash "$src/tests/pki.sh" "$SSA_TEST_PKI" >"$out/pki.log" 2>&1 ||
		echo "# pki.sh failed; path options will point at missing files"
fi

# The policy of the options target: the defaults, and a short handshake timeout so that the
# connections to the silent listener do not pile up.  (The protocol target writes ssad's own.)
work=$(mktemp -d "${TMPDIR:-/tmp}/ssa-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
printf 'default = { handshake-timeout = 2.0; };\n' >"$work/policy.conf"
export SSA_CONFIG=$work/policy.conf
export TMPDIR=$work
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
# At exit, LeakSanitizer: in ssad each engine thread keeps a scratch buffer for its life
# (ssa_app_read(), "freed with the process"); the threads end at exit, the buffers with them.
# With the suppressions of the ASan suites (tests/lsan.supp).
{
	cat "$src/tests/lsan.supp" 2>/dev/null
	echo 'leak:ssa_app_read'
} >"$work/lsan.supp"
export LSAN_OPTIONS=suppressions=$work/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

jobs=${FUZZ_JOBS:-1}
extra=()
[ "$jobs" -gt 1 ] && extra=(-jobs="$jobs" -workers="$jobs")
per_target=$((seconds / ${#targets[@]}))
[ "$per_target" -ge 1 ] || per_target=1
failed=0

# Conversations in fuzz_protocol.c's input format, from which the fuzzer finds deeper ones
# faster: each message is its op selector, field mode, op-specific bytes, descriptor mode, the
# descriptor pick, placement and framing (see build_request()).  Byte strings for printf.
socket4='\0\0\0\0\0\0'                 # SOCKET AF_INET with a fresh TCP socket
hostname='\1\0\0\5\144\0\0\0\0'        # SETSOCKOPT TLS_REMOTE_HOSTNAME "localhost" on A #0
# shellcheck disable=SC2059 # the variables hold escapes for printf, as the literals beside them
protocol_seeds() { # corpus directory
	local d=$1
	# A client: SOCKET, name, CONNECT to localhost (the silent listener), CONNECT_WAIT,
	# GETSOCKOPT TLS_ERROR, NAME (peer), LOOKUP.
	{
		printf "\0$socket4$hostname"'\5\1'
		head -c 260 /dev/zero
		printf '\0\0\0\0\0\0\0\6\0\0\0\0\0\2\7\0\24\0\0\0\0\11\1\0\0\0\0\13\0\0\0\0\0'
	} >"$d/seed-client"
	# A handshake inside ssad: a TLS listener, a client connecting to its port, the caller
	# waiting up to 126 ms for the accepted connection on the listener's A, then both ends
	# asked about.
	{
		printf "\0$socket4"'\4\5\0\0\0\0'"$socket4"'\1\0\0\5\144\0\1\0\0\5\0'
		head -c 28 /dev/zero
		printf '\1\3\0\1\0\0\372\376\6\0\0\1\0\0\2\7\0\15\0\1\0\0'
		printf '\371\1\5hello\2\7\0\22\0\2\0\0\11\0\0\2\0\0'
	} >"$d/seed-handshake"
	# A connection refused; one to a name, refused, whose three spare TCP sockets go unused.
	{
		printf "\0$socket4"'\5\0'
		head -c 28 /dev/zero
		printf '\1\1\0\0\0\0'
	} >"$d/seed-refused"
	{
		printf "\0$socket4"'\5\1'
		head -c 260 /dev/zero
		printf '\0\1\0\0\300\0\0'
	} >"$d/seed-refused-spares"
}

run() { # number name max_len timeout
	local n=$1 name=$2 max_len=$3 timeout=$4 rc runs what artifact cov corpus
	local log=$out/fuzz-$name.log

	if [ "$build_failed" -gt 0 ]; then
		echo "not ok $n - fuzz $name: build failed"
		sed 's/^/# /' "$out/build.log" | grep -v ' warning' | head -40
		failed=1
		return
	fi
	if [ "$name" = protocol ]; then
		link "$name" "${lib_objs[@]}" "${ssad_objs[@]}"
	else
		# The face with the engine linked in, not loaded: no ssa-engine.so beside the binary
		# (without this every TLS socket failed, and the target fuzzed nothing).
		local o objs=()
		for o in "${lib_objs[@]}"; do
			[ "${o##*/}" = ssa_engine_load.o ] || objs+=("$o")
		done
		link "$name" "${objs[@]}" "$src/tests/fuzz_engine_static.c"
	fi || {
		echo "not ok $n - fuzz $name: link failed"
		sed 's/^/# /' "$out/build-$name.log" | head -40
		failed=1
		return
	}
	mkdir -p "$out/corpus-$name"
	[ "$name" = protocol ] && protocol_seeds "$out/corpus-$name"
	# -detect_leaks=0: the engine frees sockets asynchronously, after the input that closed
	# them, so libFuzzer's per-input leak check would run LSan on nearly every input (100
	# exec/s instead of thousands) for nothing; ASan still checks for leaks at exit.
	# (The group's stderr also takes bash's own "Aborted" notice, which would break the TAP.)
	{
		"$out/fuzz_$name" -max_total_time="$per_target" -timeout="$timeout" \
			-rss_limit_mb=4096 -max_len="$max_len" -detect_leaks=0 -print_final_stats=1 \
			-artifact_prefix="$out/$name-" "${extra[@]}" \
			"$out/corpus-$name" >"$log" 2>&1
	} 2>/dev/null
	rc=$?

	# -a: the log holds the crash input, which may be binary.
	runs=$(grep -aoE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
	[ -n "$runs" ] || runs=$(grep -aoE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -1)
	if [ "$rc" -eq 0 ]; then
		cov=$(grep -aoE 'cov: [0-9]+' "$log" | tail -1)
		corpus=$(find "$out/corpus-$name" -type f | wc -l)
		echo "ok $n - fuzz $name ${runs:-?} runs in ${per_target}s ($cov, corpus $corpus)"
		return
	fi
	what=$(grep -a -m1 -E 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error:|SUMMARY:|deadly signal|ALARM|SIGPIPE raised|^fuzz_protocol: |^[^#].*: (optlen|string|descriptors)' "$log")
	artifact=$(grep -aoE 'Test unit written to [^ ]+' "$log" | tail -1 | sed 's/Test unit written to //')
	failed=1
	echo "not ok $n - fuzz $name: ${what:-exit status $rc} after ${runs:-an unknown number of} runs"
	echo "# artifact: ${artifact:-none}; full log: $log"
	grep -a -E -A30 'ERROR:|runtime error:|deadly signal|ALARM|==[0-9]+==|^fuzz_protocol: ' "$log" |
		head -60 | sed 's/^/# /'
}

for i in "${!targets[@]}"; do
	case ${targets[$i]} in
	options) run $((i + 1)) options 2048 30 ;;
	# A conversation may wait up to 10 s for a reply and 10 s for the engine to settle.
	protocol) run $((i + 1)) protocol 4096 60 ;;
	*) echo "not ok $((i + 1)) - fuzz ${targets[$i]}: no such target" && failed=1 ;;
	esac
done
exit "$failed"
