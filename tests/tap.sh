# TAP helpers for the shell suites in suites.d/ (sourced, not run): each suite counts its
# cases in $n and ends with `echo "1..$n"`.
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; shift; printf '# %s\n' "$@"; }
check() { # NAME EXPECTED-REGEX OUTPUT
	if grep -qE -- "$2" <<<"$3"; then ok "$1"; else not_ok "$1" "expected /$2/, got:" "$3"; fi
}
# A port free on 127.0.0.1 now (racy by nature: the peer binds it right after).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# $work, a temporary directory, and $pids, the servers a suite starts: all gone at exit.
suite_workdir() {
	work=$(mktemp -d)
	pids=()
	trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
}
