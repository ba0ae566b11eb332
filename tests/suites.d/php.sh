#!/usr/bin/env bash
# The PHP extension: builds bindings/php against BUILD_DIR's libssa (phpize, configure, make, in
# a copy under /tmp) and runs its .phpt tests with the extension's `make test` (PHP's
# run-tests.php) under Debian's PHP.  Prints TAP, one line per .phpt.
#   tests/suites.d/php.sh BUILD_DIR
# Needs php-cli and php-dev (apt-get install php-cli php-dev); the tests also use openssl and
# curl.  SSA_TEST_PKI (set by tests/run-all) names the test PKI; it is made here if unset.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: php.sh BUILD_DIR}" && pwd)
work=$(mktemp -d /tmp/ssa-php.XXXXXX)
trap 'rm -rf "$work"' EXIT

fail_early() { # NAME LOG
	echo "not ok 1 - $1"
	sed 's/^/# /' "$2" | tail -40
	echo "1..1"
	exit 1
}

: >"$work/tools.log"
for tool in php phpize php-config; do
	command -v "$tool" >/dev/null 2>&1 || echo "$tool not found" >>"$work/tools.log"
done
[ -s "$work/tools.log" ] && fail_early "PHP and its headers (apt-get install php-cli php-dev)" "$work/tools.log"
[ -e "$build/core/.libs/libssa.so" ] || {
	echo "no $build/core/.libs/libssa.so: build the library first" >"$work/tools.log"
	fail_early "libssa built in $build" "$work/tools.log"
}

if [ -z "${SSA_TEST_PKI:-}" ]; then
	export SSA_TEST_PKI=$work/pki
	bash "$src/tests/pki.sh" "$SSA_TEST_PKI" >"$work/pki.log" 2>&1 ||
		fail_early "make the test PKI" "$work/pki.log"
fi
export SSA_TEST_SRCDIR=$src
# The tests' own temporary files (policies, peers' logs) go where the trap removes them.
mkdir -p "$work/tmp"
export TMPDIR=$work/tmp

# A copy of the sources only, so that phpize's and configure's files never land in the source
# tree and an in-place build there (objects, Makefile) never leaks into this one.
ext=$work/ext
mkdir -p "$ext/tests"
(
	cd "$src/bindings/php" &&
		cp config.m4 Makefile.frag ./*.c ./*.h "$ext/" &&
		cp tests/*.phpt tests/*.inc "$ext/tests/" &&
		cp -R tests/www "$ext/tests/"
) || {
	echo "cannot copy $src/bindings/php" >"$work/tools.log"
	fail_early "copy the extension's sources" "$work/tools.log"
}
(
	cd "$ext" &&
		phpize &&
		./configure --with-ssa="$build" &&
		make -j2
) >"$work/build.log" 2>&1 || fail_early "build the PHP extension (phpize, configure, make)" "$work/build.log"

# run-tests.php: no questions, no colours, one result line per test.  In a process group of its
# own, killed afterwards: a test that timed out leaves its PHP process and peers behind.
NO_INTERACTION=1 NO_COLOR=1 TEST_PHP_ARGS="-q --no-color --no-progress --set-timeout 120" \
	setsid bash -c 'cd "$1" && exec timeout 1200 make test' php-tests "$ext" >"$work/test.log" 2>&1 &
tests_pid=$!
wait "$tests_pid"
rc=$?
kill -KILL -- "-$tests_pid" 2>/dev/null

n=0 failed=0
while IFS= read -r line; do
	line=${line%$'\r'}
	case "$line" in
	PASS\ * | WARN\ * | SKIP\ * | XFAIL\ * | FAIL\ * | BORK\ * | LEAK\ *) ;;
	*) continue ;;
	esac
	result=${line%% *}
	rest=${line#* }
	file=$(sed -n 's/.*\[\(tests\/[^]]*\.phpt\)\].*/\1/p' <<<"$rest")
	[ -n "$file" ] || continue
	desc=${rest%% \[tests/*}
	name="$(basename "$file" .phpt): $desc"
	n=$((n + 1))
	case "$result" in
	PASS | WARN)
		echo "ok $n - $name"
		;;
	SKIP)
		reason=$(sed -n 's/.*reason: //p' <<<"$rest")
		echo "ok $n - $name # SKIP ${reason:-skipped}"
		;;
	XFAIL)
		echo "ok $n - $name # TODO expected failure"
		;;
	*)
		failed=$((failed + 1))
		echo "not ok $n - $name ($result)"
		base=$ext/${file%.phpt}
		for f in "$base.diff" "$base.out"; do
			[ -s "$f" ] || continue
			echo "# --- $(basename "$f")"
			awk '{ print "#   " $0 }' "$f" | head -40
		done
		;;
	esac
done <"$work/test.log"

if [ "$n" -eq 0 ] || { [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; }; then
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - make test (exit status $rc, $((n - 1)) results)"
	sed 's/^/# /' "$work/test.log" | tail -30
fi
echo "1..$n"
[ "$failed" -eq 0 ]
