#!/usr/bin/env bash
# ports/wget/run-suite.sh WGET LOGDIR
#
# Runs wget's own test suite (tests/: perl, testenv/: python, HTTPS tests included) from the
# port's build tree ($WGET_PORT_WORK/tree, made by build.sh) against the binary WGET, keeps the
# logs in LOGDIR and prints one line per test, "RESULT NAME", then the totals as
# "N passed, N failed, N skipped".
#
# The perl HTTPS tests connect to "WgetTestingServer", which the suite maps to localhost with
# HOSTALIASES; glibc applies that to DNS lookups only, which this machine has none of.  So, as
# root, the suite runs in a private mount namespace whose /etc/hosts names it; elsewhere those
# tests skip.  SSL_TESTS=1 turns the python HTTPS tests on.  Test-https-weboftrust always skips
# (upstream turned it off: its certificates expired).
set -euo pipefail

wget=$(readlink -f "${1:?usage: run-suite.sh WGET LOGDIR}")
logs=${2:?usage: run-suite.sh WGET LOGDIR}
tree=${WGET_PORT_WORK:-/tmp/wget-port-build}/tree
[ -x "$tree/src/wget" ] || { echo "run-suite.sh: no build tree in $tree: run build.sh" >&2; exit 1; }
deps="perl libhttp-daemon-perl libio-socket-ssl-perl python3"
missing=$(for p in $deps; do dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null |
	grep -q '^install ok installed' || echo "$p"; done)
if [ -n "$missing" ] && [ "$(id -u)" -eq 0 ]; then
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
mkdir -p "$logs"
logs=$(readlink -f "$logs")
hosts=$logs/hosts
# Test-no_proxy-env needs names under localhost (systemd's resolver gives them; files do not).
printf '127.0.0.1 localhost WgetTestingServer %s\n::1 localhost ip6-localhost\n' \
	"working1.localhost working2.localhost www.working1.localhost www.working2.localhost" >"$hosts"

# Old results would be taken for new ones.
find "$tree/tests" "$tree/testenv" -maxdepth 1 \( -name '*.log' -o -name '*.trs' \) -delete
run='export SSL_TESTS=1 WGET_PATH="$0"
make -j"$(nproc)" -C "$1/tests" check >"$2/tests.out" 2>&1 || true
make -j"$(nproc)" -C "$1/testenv" check >"$2/testenv.out" 2>&1 || true'
if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
	unshare -m sh -c "mount --bind '$hosts' /etc/hosts && $run" "$wget" "$tree" "$logs"
else
	echo "# not root or no mount namespace: the perl HTTPS tests will skip" >&2
	sh -c "$run" "$wget" "$tree" "$logs"
fi
for d in tests testenv; do
	mkdir -p "$logs/$d"
	cp "$tree/$d"/*.log "$tree/$d"/*.trs "$logs/$d/" 2>/dev/null || true
done
# One line per test from the automake result files.
for trs in "$logs"/tests/*.trs "$logs"/testenv/*.trs; do
	[ -e "$trs" ] || continue
	name=${trs%.trs}
	echo "$(sed -n 's/^:test-result: //p' "$trs") ${name#"$logs"/}"
done | sort -k2 >"$logs/results"
cat "$logs/results"
pass=$(grep -c '^PASS ' "$logs/results" || true)
fail=$(grep -cE '^(FAIL|ERROR|XPASS) ' "$logs/results" || true)
skip=$(grep -c '^SKIP ' "$logs/results" || true)
echo "$pass passed, $fail failed, $skip skipped"
