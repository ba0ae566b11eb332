#!/usr/bin/env bash
# libssa's face and its engine module: a program linked with libssa links no TLS library and
# maps none until its first TLS socket; the module's calls stay its own even when the program
# exports libconfig's names (lighttpd does); a missing module is a clear error, never a crash.
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
pki=${SSA_TEST_PKI:?}
suite_workdir
face=$build/core/.libs/libssa.so.0
module=$build/core/.libs/ssa-engine.so
probe=$build/tests/engine_probe
tls_libs='lib(ssl|crypto|gnutls)[.-]'

check "ldd libssa.so: no TLS library" "^$" "$(ldd "$face" | grep -E "$tls_libs")"
check "the engine module is where the face looks for it, and links OpenSSL" "libssl.so.3" \
	"$(ldd "$module" | grep -E "$tls_libs")"
check "the module exports one symbol, the table the face calls" "^ssa_engine_module$" \
	"$(nm -D --defined-only "$module" | awk '{print $3}')"

port=$(free_port)
openssl s_server -accept "127.0.0.1:$port" -cert "$pki/localhost.pem" -key "$pki/localhost.key" \
	-cert_chain "$pki/int.pem" -rev -ign_eof >"$work/s_server.log" 2>&1 </dev/zero &
pids+=($!)
for _ in $(seq 200); do grep -q ACCEPT "$work/s_server.log" && break; sleep 0.02; done
printf 'default = { trust-file = "%s/ca.pem"; };\n' "$pki" >"$work/policy.conf"

out=$(SSA_BACKEND=inprocess SSA_CONFIG=$work/policy.conf timeout 20 "$probe" localhost "$port" \
	"$pki/ca.pem" 2>&1)
check "before any TLS socket, no TLS library is mapped" "plain: tls-library=no" "$out"
check "socket(IPPROTO_TLS) loads the engine, and OpenSSL with it" "tls: tls-library=yes" "$out"
check "a program exporting config_init()/config_read() still gets its policy read and TLS" \
	"reply: gnip" "$out"

# The face alone, without its module beside it.
mkdir -p "$work/lib"
cp "$face" "$work/lib/"
real_probe=$build/tests/.libs/engine_probe
out=$(LD_LIBRARY_PATH=$work/lib SSA_BACKEND=inprocess timeout 20 "$real_probe" localhost "$port" \
	"$pki/ca.pem" 2>&1)
rc=$?
check "no module: socket(IPPROTO_TLS) fails as a kernel without the protocol" \
	"socket: Protocol not supported" "$out"
check "no module: one line on stderr says why" \
	"ssa: TLS sockets unavailable: cannot load the engine: .*ssa-engine.so" "$out"
check "no module: a clean exit status, no crash" "^1$" "$rc"
check "no module: plain sockets still work" "plain: tls-library=no" "$out"

# A module from another build is refused, not run.
cp "$module" "$work/lib/ssa-engine.so"
printf 'ssa_engine_modulX' | dd of="$work/lib/ssa-engine.so" conv=notrunc status=none \
	bs=1 seek="$(grep -boa 'ssa_engine_module' "$work/lib/ssa-engine.so" | head -1 | cut -d: -f1)"
out=$(LD_LIBRARY_PATH=$work/lib SSA_BACKEND=inprocess timeout 20 "$real_probe" localhost "$port" \
	"$pki/ca.pem" 2>&1)
check "a module without the table is refused with its path" \
	"ssa: TLS sockets unavailable: .*ssa-engine.so has no ssa_engine_module" "$out"

echo "1..$n"
