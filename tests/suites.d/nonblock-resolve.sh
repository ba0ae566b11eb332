#!/usr/bin/env bash
# A non-blocking connect() with an AF_HOSTNAME address returns EINPROGRESS at once and resolves
# the name off the caller's thread (issue 15, item 8), in both backends.  The name service is a
# DNS stub (tests/dns_stub.py) that answers slowly, in a network and mount namespace of the
# suite's own: /etc/nsswitch.conf says "hosts: dns" and /etc/resolv.conf names the stub there.
# tests/resolve_probe.c checks the order of events (connect() returned before the stub
# answered), not the clock.  Needs root (namespaces).
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
probe=$build/tests/resolve_probe

if [ "$(id -u)" -ne 0 ] || ! unshare -n -m true 2>/dev/null; then
	echo "1..0 # SKIP needs root: network and mount namespaces"
	exit 0
fi
suite_workdir
sed 's/^hosts:.*/hosts: dns/' /etc/nsswitch.conf >"$work/nsswitch.conf"
grep -q '^hosts:' "$work/nsswitch.conf" || echo "hosts: dns" >>"$work/nsswitch.conf"
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:5\n' >"$work/resolv.conf"

# Inside the namespaces: loopback up, the name service swapped, the stub started and waited
# for, then the probe.  The probe's TAP lines come out on stdout.
inside() { # BACKEND-ENV...
	local d=$work/$1
	mkdir -p "$d"
	unshare -n -m bash -c '
		set -u
		d=$1 stub=$2 probe=$3 nss=$4 resolv=$5
		shift 5
		ip link set lo up || exit 3
		mount --bind "$nss" /etc/nsswitch.conf || exit 3
		mount --bind "$resolv" /etc/resolv.conf || exit 3
		python3 "$stub" "$d" >"$d/stub.log" 2>&1 &
		stub_pid=$!
		for _ in $(seq 250); do grep -q ready "$d/stub.log" && break; sleep 0.02; done
		grep -q ready "$d/stub.log" || { cat "$d/stub.log"; exit 3; }
		env "$@" timeout 60 "$probe" "$d"
		rc=$?
		kill "$stub_pid"
		exit $rc' _ "$d" "$src/tests/dns_stub.py" "$probe" "$work/nsswitch.conf" \
		"$work/resolv.conf" "${@:2}"
}

# The probe's cases as this suite's, named after the backend.
relay() { # BACKEND OUTPUT
	local line name notes=() state=""
	while IFS= read -r line; do
		case $line in
		"ok "* | "not ok "*)
			[ -n "$state" ] && { if [ "$state" = ok ]; then ok "$name"; else not_ok "$name" "${notes[@]}"; fi; }
			notes=()
			name="$1: ${line#* - }"
			[ "${line%% *}" = ok ] && state=ok || state=fail ;;
		"# "*) [ -n "$state" ] && notes+=("${line#\# }") ;;
		esac
	done <<<"$2"
	[ -n "$state" ] && { if [ "$state" = ok ]; then ok "$name"; else not_ok "$name" "${notes[@]}"; fi; }
	grep -qE '^(not )?ok ' <<<"$2" || not_ok "$1: the probe ran" "$2"
}

out=$(inside inprocess SSA_TEST_BACKEND=inprocess 2>&1)
relay in-process "$out"
out=$(inside daemon SSA_TEST_BACKEND=daemon SSA_TEST_SSAD="$build/core/ssad" 2>&1)
relay daemon "$out"
echo "1..$n"
