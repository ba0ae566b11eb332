#!/usr/bin/env bash
# Who may use the policy's keys, against a hostile local user (issue 13): profiles chosen by
# executable path authenticated nothing (item 3), a setuid program took SSA_* from its caller
# (item 5), and ssad without its user ran everything as root.  ssad runs as an administrator
# runs it (ssad-env.sh); every attack is made by ssa-bob, unprivileged.  Needs root.
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
build=$1
. "$(dirname "$0")/../ssad-env.sh"
connect=$build/tests/.libs/sec_profiles_connect
preload=$build/tests/.libs/sec_profiles_preload.so
policy_tool=$build/core/ssa-policy

# A second key only ssad may read (the first is ssad-env's policy.key, for localhost).
cp "$pki/other.key" "$work/pki/other-ssad.key"
chown ssad: "$work/pki/other-ssad.key" && chmod 600 "$work/pki/other-ssad.key"
# The administrator's profiled servers, and bob's own server (his code: here the same bytes).
cp "$serve" "$work/bin/profiled_serve"
cp "$serve" "$work/bin/alice_serve"
mkdir -m 755 "$work/bob"
cp "$serve" "$work/bob/my_serve"
chown -R ssa-bob: "$work/bob"

localhost_key="{ chain = \"$work/pki/localhost-chain.pem\"; key = \"$work/pki/policy.key\"; }"
other_key="{ chain = \"$work/pki/other-chain.pem\"; key = \"$work/pki/other-ssad.key\"; }"
cat >"$work/ssa.conf" <<EOF
default = {
  trust-file = "$work/pki/ca.pem";
  handshake-timeout = 5.0;
};
profiles = (
  { match = "$work/bin/profiled_serve";
    server-certificates = ( $localhost_key ); },
  { match = "$work/bin/alice_serve"; users = [ "ssa-alice" ];
    server-certificates = ( $localhost_key ); },
  { users = [ "ssa-alice" ];
    server-certificates = ( $other_key ); },
  { unix-groups = ( "ssa-alice", 64123 );
    server-certificates = ( $other_key ); }
);
EOF

# try_serve LOG COMMAND...: runs COMMAND PORT 1 (a tls_serve) and says what a client sees:
# the certificate served ("served CN = ...") or the server's own error line.
try_serve() {
	local log=$1 port pid
	shift
	port=$(free_port)
	: >"$log"
	"$@" "$port" 1 >"$log" 2>&1 &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 500); do
		grep -q listening "$log" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	if grep -q listening "$log"; then
		echo "served $(echo hi | timeout 10 openssl s_client -connect "127.0.0.1:$port" \
			-servername localhost -CAfile "$work/pki/ca.pem" 2>/dev/null |
			sed -n 's/^subject=//p' | head -1)"
	fi
	wait "$pid" 2>/dev/null
	cat "$log"
}
as_groups() { # SETPRIV-GROUPS COMMAND...: as ssa-bob with these supplementary groups
	local groups=$1
	shift
	setpriv --reuid=ssa-bob --regid=ssa-bob --groups="$groups" -- env -u SSA_CONFIG \
		LD_LIBRARY_PATH="$libdir" SSA_BACKEND=daemon SSA_DAEMON_SOCKET="$sock" "$@"
}

start_ssad || { not_ok "ssad starts" "$(cat "$work/ssad.log")"; echo "1..$n"; exit 1; }

# (a) Item 3: bob mounts his own server over the profiled path in a namespace of his own and
# runs it there.  The path is the profile's; the file is not: no key.
check "bob's own server bind-mounted over a profiled path (unshare -Urm) gets no key" \
	"no certificate to serve" \
	"$(try_serve "$work/a.log" as ssa-bob timeout 20 unshare -Urm sh -c \
		'mount --bind "$1" "$2" && shift && exec "$@"' sh "$work/bob/my_serve" \
		"$work/bin/profiled_serve")"
check "ssad says why: that path is not that file in its mount namespace" \
	"profiled_serve is not that file in ssad's mount namespace" "$(cat "$work/ssad.log")"
check "the profiled file itself still gets its profile's key (executable matching works)" \
	"^served CN = localhost" \
	"$(try_serve "$work/a2.log" as ssa-alice timeout 20 "$work/bin/profiled_serve")"

# (b) The profiled binary run by bob with his code preloaded: the executable is the profile's,
# but the profile names alice only.
out=$(try_serve "$work/b.log" as ssa-bob env LD_PRELOAD="$preload" timeout 20 \
	"$work/bin/alice_serve")
check "bob runs alice's profiled server with LD_PRELOAD: his code is in it" \
	"preload: foreign code runs" "$out"
check "... and the profile naming only alice gives it no key" "no certificate to serve" "$out"
check "alice runs it: match and users both hold, its key is served" "^served CN = localhost" \
	"$(try_serve "$work/b2.log" as ssa-alice timeout 20 "$work/bin/alice_serve")"

# (c) users = [ "ssa-alice" ] alone: whatever alice runs, and never bob.
check "users = [ alice ]: alice's server gets the profile's key" "^served CN = other.test" \
	"$(try_serve "$work/c.log" as ssa-alice timeout 20 "$serve")"
check "users = [ alice ]: bob's server does not" "no certificate to serve" \
	"$(try_serve "$work/c2.log" as ssa-bob timeout 20 "$serve")"

# (d) unix-groups = ( "ssa-alice", 64123 ): by name, by a bare number, as supplementary groups.
check "unix-groups: bob with alice's group as a supplementary group gets the key" \
	"^served CN = other.test" \
	"$(try_serve "$work/d.log" as_groups ssa-alice timeout 20 "$serve")"
check "unix-groups: bob with group 64123 (a number, no name) gets the key" \
	"^served CN = other.test" \
	"$(try_serve "$work/d2.log" as_groups 64123 timeout 20 "$serve")"
check "unix-groups: bob in neither group does not" "no certificate to serve" \
	"$(try_serve "$work/d3.log" as_groups ssa-bob timeout 20 "$serve")"

# The same profiles in-process (the key read with the program's rights: alice's own key).
cat >"$work/inproc.conf" <<EOF
default = { trust-file = "$work/pki/ca.pem"; };
profiles = ( { users = [ "ssa-alice" ];
  server-certificates = ( { chain = "$work/pki/other-chain.pem"; key = "$work/pki/alice.key"; } ); } );
EOF
chmod 644 "$work/inproc.conf"
inproc() { # USER COMMAND...
	local user=$1
	shift
	runuser -u "$user" -- env LD_LIBRARY_PATH="$libdir" SSA_BACKEND=inprocess \
		SSA_CONFIG="$work/inproc.conf" "$@"
}
check "in-process, users = [ alice ]: alice serves with the profile" "^served CN = other.test" \
	"$(try_serve "$work/i.log" inproc ssa-alice timeout 20 "$serve")"
check "in-process, users = [ alice ]: bob's program does not get the profile" \
	"no certificate to serve" "$(try_serve "$work/i2.log" inproc ssa-bob timeout 20 "$serve")"

# (e) ssa-policy check and ssad say which keys any user can use.
out=$("$policy_tool" check "$work/ssa.conf" 2>&1)
check "ssa-policy check: a key profile naming no users is valid (exit $?) but warned" \
	"ssa.conf:7: warning: server-certificates in profile 1, which names no users" "$out"
check "ssa-policy check: no warning for the profiles bound to users or groups" "^1$" \
	"$(grep -c warning <<<"$out")"
check "ssa-policy check: the file is OK" "ssa.conf: OK" "$out"
check "ssad logs the same warning at start" "warning: server-certificates in profile 1" \
	"$(cat "$work/ssad.log")"
printf 'default = {\n  server-certificates = ( %s );\n};\n' "$localhost_key" >"$work/default-keys.conf"
check "ssa-policy check: server certificates in the default profile are warned about" \
	"default-keys.conf:2: warning: server-certificates in the default profile" \
	"$("$policy_tool" check "$work/default-keys.conf" 2>&1)"
printf 'default = { };\nprofiles = ( { match = "/x";\n  users = [ "no-such-user-here" ]; } );\n' \
	>"$work/nouser.conf"
check "ssa-policy check: a user that does not exist is an error with its line" \
	"nouser.conf:3: users: no user \"no-such-user-here\"" \
	"$("$policy_tool" check "$work/nouser.conf" 2>&1)"
printf 'default = {\n  users = [ "ssa-alice" ];\n};\n' >"$work/defusers.conf"
check "ssa-policy check: users in the default profile is an error" \
	"defusers.conf:2: users: only in a profile" "$("$policy_tool" check "$work/defusers.conf" 2>&1)"
check "ssa-policy show --user: alice gets profile 2 for alice_serve" "# profile: profile 2 " \
	"$("$policy_tool" show "$work/ssa.conf" --exe "$work/bin/alice_serve" --user ssa-alice 2>&1)"
check "ssa-policy show --user: bob gets the default for it" "# profile: default" \
	"$("$policy_tool" show "$work/ssa.conf" --exe "$work/bin/alice_serve" --user ssa-bob 2>&1)"

# (f) Item 5: a setuid-root and a setgid copy of a libssa program, run by bob with an
# environment naming his own policy (his trust anchors) and his own "daemon".  It must hear
# none of it: the administrator's policy applies (here the built-in one, or /etc/ssa/ssa.conf,
# neither of which trusts the test CA).
if findmnt -no OPTIONS -T "$work" | grep -qw nosuid; then
	ok "# SKIP $work is on a nosuid file system"
else
	mkdir -m 755 "$work/setuid"
	cp "$connect" "$work/setuid/connect-suid"
	cp "$connect" "$work/setuid/connect-sgid"
	chown root:root "$work/setuid/"*
	chmod 4755 "$work/setuid/connect-suid"
	chmod 2755 "$work/setuid/connect-sgid"
	printf 'default = { trust-file = "%s"; };\n' "$work/pki/ca.pem" >"$work/bob/ssa.conf"
	chown ssa-bob: "$work/bob/ssa.conf"
	fport=$(free_port)
	openssl s_server -accept "127.0.0.1:$fport" -rev -cert "$work/pki/localhost-chain.pem" \
		-cert_chain "$work/pki/localhost-chain.pem" -key "$pki/localhost.key" \
		>"$work/f-server.log" 2>&1 &
	pids+=($!)
	wait_for_port "$fport"
	bobenv() { # COMMAND...: as ssa-bob with his own SSA_* settings
		runuser -u ssa-bob -- env SSA_BACKEND=inprocess SSA_CONFIG="$work/bob/ssa.conf" \
			SSA_DEBUG=1 "$@"
	}
	check "control: bob's own program hears his SSA_CONFIG (his anchors verify)" "reply: olleh" \
		"$(bobenv timeout 10 "$connect" "$fport" localhost 2>&1)"
	for kind in suid sgid; do
		out=$(bobenv timeout 10 "$work/setuid/connect-$kind" "$fport" localhost 2>&1)
		check "$kind copy run by bob: SSA_CONFIG of bob's is ignored (verification fails)" \
			"^uid [0-9]+ euid [0-9]+ egid [0-9]+.*connect: EPROTO: .*certificate" \
			"$(tr '\n' ' ' <<<"$out")"
		if grep -qE '^ssa\[[0-9]+\] [0-9]+\.[0-9]{6} ' <<<"$out"; then
			not_ok "$kind copy run by bob: SSA_DEBUG=1 is ignored" "$out"
		else
			ok "$kind copy run by bob: SSA_DEBUG=1 is ignored"
		fi
	done
	# Bob's "daemon": anything answering on a socket of his; it notes every caller.
	setpriv --reuid=ssa-bob --regid=ssa-bob --init-groups -- socat \
		"UNIX-LISTEN:$work/bob/fake.sock,fork,mode=666" \
		"SYSTEM:echo connected >>$work/bob/fake.log" 2>"$work/bob/socat.err" &
	pids+=($!)
	for _ in $(seq 250); do [ -S "$work/bob/fake.sock" ] && break; sleep 0.02; done
	out=$(runuser -u ssa-bob -- env SSA_BACKEND=daemon SSA_DAEMON_SOCKET="$work/bob/fake.sock" \
		timeout 10 "$work/setuid/connect-suid" "$fport" localhost 2>&1)
	check "setuid copy run by bob: SSA_BACKEND/SSA_DAEMON_SOCKET of bob's are ignored" \
		"^absent connect: EPROTO" \
		"$([ -s "$work/bob/fake.log" ] && echo "bob's daemon was called" || echo absent) \
$(grep connect: <<<"$out")"
	rm -rf "$work/setuid"
fi

# (g) ssad started as root where there is no user ssad (a mount namespace whose /etc/passwd
# lacks it): it refuses rather than running everything as root; --user root is explicit.
grep -v '^ssad:' /etc/passwd >"$work/passwd-without-ssad"
chmod 644 "$work/passwd-without-ssad"
nouser() { # LOG ARGS...: ssad in that namespace; its pid in $nouser_pid
	local log=$1
	shift
	unshare -m sh -c 'mount --bind "$1" /etc/passwd && shift && exec "$@"' sh \
		"$work/passwd-without-ssad" "$ssad" --config "$work/ssa.conf" "$@" >"$log" 2>&1 &
	nouser_pid=$!
	pids+=("$nouser_pid")
	wait_for_line "$log" "serving on|not starting" 10
}
nouser "$work/g.log" --socket "$work/run/nouser.sock"
grep -q "serving on" "$work/g.log" && kill "$nouser_pid"
wait "$nouser_pid" 2>/dev/null
check "no user ssad: ssad refuses to start, and says how to fix it (exit $?)" \
	"no user 'ssad' to run as: not starting.*--user root" "$(cat "$work/g.log")"
nouser "$work/g2.log" --socket "$work/run/nouser2.sock" --user root
check "no user ssad, --user root: it starts as root, and says what that costs" \
	"running entirely as root, without privilege separation.*serving on" \
	"$(tr '\n' ' ' <"$work/g2.log")"
kill "$nouser_pid" 2>/dev/null
echo "1..$n"
