#!/usr/bin/env bash
# What the code promises about itself: formatting by the checked-in .clang-format, and a
# library that exports its API and nothing else (hidden visibility + core/libssa.sym).
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
src=$(cd "$(dirname "$0")/../.." && pwd)

if command -v clang-format >/dev/null; then
	bad=$(cd "$src" && for f in core/*.c core/*.h core/include/ssa/*.h examples/*.c; do
		clang-format --style=file "$f" | cmp -s - "$f" || echo "$f"
	done)
	[ -z "$bad" ] && ok "core/ and examples/ are formatted by .clang-format" ||
		not_ok "core/ and examples/ are formatted by .clang-format" "run clang-format -i on:" $bad
else
	echo "ok $((n += 1)) - clang-format # SKIP not installed"
fi

lib=$build/core/.libs/libssa.so
want="accept accept4 bind close connect getpeername getsockname getsockopt listen sendto setsockopt shutdown socket"
want="$want $(grep -o 'ssa_[a-z0-9_]*(' "$src/core/include/ssa/ssa.h" | tr -d '(' | sort -u | tr '\n' ' ')"
got=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBVWiu]$/ {print $3}' | sed 's/@.*//' | sort -u | tr '\n' ' ')
want=$(tr ' ' '\n' <<<"$want" | grep . | sort -u | tr '\n' ' ')
[ "$got" = "$want" ] && ok "libssa exports exactly the POSIX face and <ssa/ssa.h>" ||
	not_ok "libssa exports exactly the POSIX face and <ssa/ssa.h>" "exported: $got" "expected: $want"
echo "1..$n"
