#!/usr/bin/env bash
# The in-house web server of the paper's Table 4 (issue 7): examples/tiny_httpd.c is a plain
# HTTP/1.0 server; the same file with IPPROTO_TCP changed to IPPROTO_TLS in its socket() call
# (a one-line diff, made here with sed) is an HTTPS server with the policy's certificate.
# curl fetches the same files from both; checksums, Content-Length, 404.  About 5 s.
set -uo pipefail
. "$(dirname "$0")/../tap.sh"
pki=${SSA_TEST_PKI:?}
src=$(cd "$(dirname "$0")/../.." && pwd)
suite_workdir

if ! pkg-config --exists ssa; then
	ok "in-house web server # SKIP libssa is not installed (pkg-config ssa): ./bootstrap build as root"
	echo "1..$n"
	exit 0
fi

cflags="-O2 -Wall -Wextra -Werror"
out=$(cc $cflags -o "$work/tiny_httpd" "$src/examples/tiny_httpd.c" 2>&1)
check "plain server builds without libssa, without a warning" "^$" "$out"
needed=$(readelf -d "$work/tiny_httpd" | grep NEEDED)
if grep -qE 'libssa|libssl|libcrypto|libgnutls' <<<"$needed"; then
	not_ok "the plain server links neither libssa nor a TLS library" "$needed"
else
	ok "the plain server links neither libssa nor a TLS library"
fi

sed '/= socket(/s/IPPROTO_TCP/IPPROTO_TLS/' "$src/examples/tiny_httpd.c" >"$work/tiny_httpd_tls.c"
diff -u "$src/examples/tiny_httpd.c" "$work/tiny_httpd_tls.c" >"$work/tls.diff"
changed=$(grep -E '^[-+][^-+]' "$work/tls.diff")
if [ "$(grep -c '^-' <<<"$changed")" = 1 ] && [ "$(grep -c '^+' <<<"$changed")" = 1 ] &&
	grep -q '^+	fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);$' <<<"$changed"; then
	ok "the TLS server is the plain one with one line changed: the socket() protocol"
else
	not_ok "the TLS server is the plain one with one line changed: the socket() protocol" \
		"$(cat "$work/tls.diff")"
fi
# shellcheck disable=SC2046
out=$(cc $cflags -o "$work/tiny_httpd_tls" "$work/tiny_httpd_tls.c" $(pkg-config --cflags --libs ssa) 2>&1)
check "TLS server builds with pkg-config ssa, without a warning" "^$" "$out"
check "ldd: the TLS server loads libssa and no TLS library" "^libssa$" \
	"$(ldd "$work/tiny_httpd_tls" | grep -oE 'lib(ssa|ssl|crypto|gnutls)[.-]' | tr -d '.-')"

printf 'default = { trust-file = "%s/ca.pem";\n server-certificates = ( { chain = "%s/localhost-chain.pem"; key = "%s/localhost.key"; } ); };\n' \
	"$pki" "$pki" "$pki" >"$work/ssa.conf"
export SSA_CONFIG=$work/ssa.conf

mkdir "$work/root" "$work/root/sub"
head -c 5000000 /dev/urandom >"$work/root/blob.bin"
echo '<h1>tiny</h1>' >"$work/root/index.html"
echo 'nested' >"$work/root/sub/n.txt"
sum=$(sha256sum <"$work/root/blob.bin" | cut -d' ' -f1)

start() { # BINARY: serves $work/root on a free port, sets $port
	port=$(free_port)
	"$1" "$work/root" "$port" >"$work/$(basename "$1").log" 2>&1 &
	pids+=($!)
	for _ in $(seq 250); do
		grep -q listening "$work/$(basename "$1").log" && return 0
		sleep 0.02
	done
}

fetch_checks() { # SCHEME CURL-ARGS...: the same checks over http and https
	local scheme=$1 base got
	shift
	base=$scheme://localhost:$port
	got=$(curl -sS "$@" "$base/blob.bin" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$sum" ] && ok "$scheme: GET /blob.bin, same sha256" ||
		not_ok "$scheme: GET /blob.bin, same sha256" "got $got, file $sum"
	check "$scheme: Content-Length is the file's size" "^Content-Length: 5000000"$'\r'"?$" \
		"$(curl -sS -I "$@" "$base/blob.bin")"
	check "$scheme: / is index.html, as text/html" "Content-Type: text/html" \
		"$(curl -sS -i "$@" "$base/")"
	check "$scheme: a file in a subdirectory" "^nested$" "$(curl -sS "$@" "$base/sub/n.txt")"
	check "$scheme: a missing file is 404" "^404$" \
		"$(curl -sS -o /dev/null -w '%{http_code}' "$@" "$base/missing")"
	check "$scheme: .. cannot climb out of the directory (404)" "^404$" \
		"$(curl -sS --path-as-is -o /dev/null -w '%{http_code}' "$@" "$base/../$(basename "$work")/root/index.html")"
	check "$scheme: POST is 501" "^501$" \
		"$(curl -sS -o /dev/null -w '%{http_code}' -d x "$@" "$base/blob.bin")"
}

start "$work/tiny_httpd"
fetch_checks http
# The plain server waits for the end of a request that never comes: curl gives up first.
out=$(curl -sS -m 2 --cacert "$pki/ca.pem" "https://localhost:$port/" 2>&1)
check "the plain server does not speak TLS (curl https fails)" "curl: \((35|28)\)" "$out"

start "$work/tiny_httpd_tls"
fetch_checks https --cacert "$pki/ca.pem"
out=$(curl -sS "https://localhost:$port/" 2>&1)
check "https: curl without the test CA refuses the certificate" "curl: \(60\)" "$out"
out=$(curl -sS "http://localhost:$port/" 2>&1)
check "the TLS server does not answer plain HTTP" "curl: \(52\)|curl: \(56\)" "$out"
check "the TLS server still serves after those failed handshakes" "^<h1>tiny</h1>$" \
	"$(curl -sS --cacert "$pki/ca.pem" "https://localhost:$port/")"
check "https: certificate is the policy's (issued to localhost by the test intermediate)" \
	"subject: CN=localhost.*|issuer: CN=SSA Test Intermediate" \
	"$(curl -sS -v -o /dev/null --cacert "$pki/ca.pem" "https://localhost:$port/" 2>&1)"

# docs/ports.md's table: its web server row is this one-line diff, and for every patch the
# script's lines written and taken out are what git counts as insertions and deletions.
table=$("$src/ports/count-lines.sh" 2>&1)
check "count-lines.sh: the web server row is 1 changed, 0 added, 0 removed" \
	"^\| in-house web server \| [^|]* \| 1 \| 1 \| 0 \| 0 \| 0 \| \+1 -1 \|" "$table"
for patch in "$src"/ports/*/*.patch; do
	[ -f "$patch" ] || continue
	port=$(basename "$(dirname "$patch")")
	[ "$(ls "$src/ports/$port/"*.patch | wc -l)" = 1 ] || continue # rows sum a port's patches
	want=$(git apply --numstat "$patch" | awk '{i += $1; d += $2} END {printf "+%d -%d", i, d}' |
		sed -E ':a; s/([0-9])([0-9]{3})($|,| )/\1,\2\3/; ta')
	got=$(grep "^| $port |" <<<"$table" | awk -F' [|] ' '{print $8}')
	[ "$got" = "$want" ] && ok "count-lines.sh: $port's diff +/- ($got) is git's count" ||
		not_ok "count-lines.sh: $port's diff +/- is git's count" "script: $got" "git apply --numstat: $want"
done

echo "1..$n"
