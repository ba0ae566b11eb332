#!/usr/bin/env bash
# tests/fuzz.sh BUILD_DIR SECONDS -- builds tests/fuzz_options.c with clang's libFuzzer, ASan
# and UBSan against the core sources, runs it for SECONDS, and prints TAP:
#   ok 1 - fuzz options N runs
#   not ok 1 - fuzz options: <what crashed>   (followed by the report as "# " lines)
#   ok 1 # SKIP <why>                          (no clang or no libFuzzer runtime)
#
# BUILD_DIR is a configured build directory (for config.h).  The corpus is kept in
# BUILD_DIR/fuzz/corpus so that later runs start where earlier ones stopped; crash inputs are
# written to BUILD_DIR/fuzz/ (crash-*, timeout-*, leak-*); replay one with
#   BUILD_DIR/fuzz/fuzz_options BUILD_DIR/fuzz/crash-...
# Environment: CC (default clang), SSA_TEST_PKI (else the PKI is made with tests/pki.sh),
# FUZZ_JOBS (parallel workers, default 1); FUZZ_IGNORE_SIGPIPE=1 and FUZZ_IGNORE_FD_LEAKS=1
# turn those two checks off, to look past such a bug for others.
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: fuzz.sh BUILD_DIR SECONDS}" && pwd)
seconds=${2:?usage: fuzz.sh BUILD_DIR SECONDS}
cc=${CC:-clang}
out=$build/fuzz
mkdir -p "$out/corpus"
log=$out/fuzz.log

echo "1..1"
skip() {
	echo "ok 1 # SKIP $*"
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
sources=()
for f in "$src"/core/*.c; do
	case $(basename "$f") in ssa_run.c | ssa_policy_tool.c | ssad*.c) continue ;; esac
	sources+=("$f")
done
# shellcheck disable=SC2086
if ! "$cc" -std=gnu11 -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I"$src/core/include" -I"$src/core" -I"$build" $cflags \
	"$src/tests/fuzz_options.c" "${sources[@]}" \
	-o "$out/fuzz_options" $libs -lpthread -ldl >"$out/build.log" 2>&1; then
	echo "not ok 1 - fuzz options: build failed"
	sed 's/^/# /' "$out/build.log" | head -40
	exit 1
fi

if [ -z "${SSA_TEST_PKI:-}" ]; then
	export SSA_TEST_PKI=$out/pki
	bash "$src/tests/pki.sh" "$SSA_TEST_PKI" >"$out/pki.log" 2>&1 ||
		echo "# pki.sh failed; path options will point at missing files"
fi

# The policy of the fuzzed process: the defaults, and a short handshake timeout so that the
# connections to the silent listener do not pile up.
work=$(mktemp -d "${TMPDIR:-/tmp}/ssa-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
printf 'default = { handshake-timeout = 2.0; };\n' >"$work/policy.conf"
export SSA_CONFIG=$work/policy.conf
export TMPDIR=$work
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

jobs=${FUZZ_JOBS:-1}
extra=()
[ "$jobs" -gt 1 ] && extra=(-jobs="$jobs" -workers="$jobs")
# -detect_leaks=0: the engine frees sockets asynchronously, after the input that closed them,
# so libFuzzer's per-input leak check would run LSan on nearly every input (100 exec/s instead
# of 4000) for nothing; ASan still checks for leaks at exit.
# (The group's stderr also takes bash's own "Aborted" notice, which would break the TAP.)
{
	"$out/fuzz_options" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
		-max_len=2048 -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$out/" \
		"${extra[@]}" \
		"$out/corpus" >"$log" 2>&1
} 2>/dev/null
rc=$?

runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
[ -n "$runs" ] || runs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -1)
if [ "$rc" -eq 0 ]; then
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
	corpus=$(find "$out/corpus" -type f | wc -l)
	echo "ok 1 - fuzz options ${runs:-?} runs in ${seconds}s ($cov, corpus $corpus)"
	exit 0
fi
what=$(grep -m1 -E 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error:|SUMMARY:|deadly signal|ALARM|SIGPIPE raised|^[^#].*: (optlen|string|descriptors)' "$log")
artifact=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | sed 's/Test unit written to //')
echo "not ok 1 - fuzz options: ${what:-exit status $rc} after ${runs:-an unknown number of} runs"
echo "# artifact: ${artifact:-none}; full log: $log"
grep -E -A30 'ERROR:|runtime error:|deadly signal|ALARM|==[0-9]+==' "$log" | head -60 | sed 's/^/# /'
exit 1
