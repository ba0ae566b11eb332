# The daemon backend as an administrator runs it, for the suites that attack or exercise ssad
# (sourced after tap.sh, not run): ssad started as root, running as user ssad with a root
# monitor, and two unprivileged users, ssa-alice and ssa-bob (created here if missing).
#   . "$(dirname "$0")/../ssad-env.sh"      with $build set; needs root
# Gives $work (mode 755), $pids (killed at exit), $pki (the run's PKI), the administrator's
# copy of it in $work/pki (anchors readable by all, policy.key by ssad alone, alice.key by
# ssa-alice alone), $sock (ssad's socket), $ssad, $client, $serve, $libdir, and the helpers
# below (user_run and as exec the command, so a pid kept from $! is the program's own).
# A suite writes its policy to $work/ssa.conf, then calls start_ssad.
pki=${SSA_TEST_PKI:?}
ssad=$build/core/ssad
client=$build/tests/.libs/ssad_client
serve=$build/tests/.libs/tls_serve
libdir=$build/core/.libs

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root: users and network namespaces"
	exit 0
fi
for u in ssad ssa-alice ssa-bob; do
	id "$u" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$u"
done

work=$(mktemp -d /tmp/ssad-suite.XXXXXX)
chmod 755 "$work"
pids=()
ssad_env_cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap ssad_env_cleanup EXIT

mkdir -m 755 "$work/pki" "$work/run" "$work/bin"
cp "$pki/ca.pem" "$pki/localhost-chain.pem" "$pki/other-chain.pem" "$work/pki/"
cp "$pki/localhost.key" "$work/pki/policy.key"
cp "$pki/other.key" "$work/pki/alice.key"
chmod 644 "$work/pki/"*.pem
chown ssad: "$work/pki/policy.key" && chmod 600 "$work/pki/policy.key"
chown ssa-alice: "$work/pki/alice.key" && chmod 600 "$work/pki/alice.key"
sock=$work/run/ssad.sock

wait_for_line() { # FILE REGEX [SECONDS=5]: until FILE has a line matching REGEX
	local tries=$((${3:-5} * 50))
	for _ in $(seq "$tries"); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	return 1
}
wait_for_port() { # PORT [SECONDS=5]: until something listens on 127.0.0.1:PORT
	local tries=$((${2:-5} * 50))
	for _ in $(seq "$tries"); do
		ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
		sleep 0.02
	done
	return 1
}
start_ssad() { # [ARGS...]: ssad in the background on $work/ssa.conf, waited for
	local before
	before=$(grep -c "serving on" "$work/ssad.log" 2>/dev/null)
	chmod 644 "$work/ssa.conf"
	"$ssad" --config "$work/ssa.conf" --socket "$sock" "$@" >>"$work/ssad.log" 2>&1 &
	ssad_pid=$!
	pids+=("$ssad_pid")
	for _ in $(seq 250); do
		[ "$(grep -c "serving on" "$work/ssad.log" 2>/dev/null)" -gt "${before:-0}" ] && return 0
		sleep 0.02
	done
	return 1
}
user_run() { # USER COMMAND...: as that user; execs, so that $! is the command's own pid
	local user=$1
	shift
	setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$@"
}
as() { # USER COMMAND...: as that user, through ssad
	local user=$1
	shift
	user_run "$user" env -u SSA_CONFIG LD_LIBRARY_PATH="$libdir" SSA_BACKEND=daemon \
		SSA_DAEMON_SOCKET="$sock" "$@"
}
worker_pid() { pgrep -P "$ssad_pid" | head -1; }
fds_of() { ls "/proc/$1/fd" | wc -l; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
