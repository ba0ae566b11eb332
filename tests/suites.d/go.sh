#!/usr/bin/env bash
# The Go binding (bindings/go): gofmt, then `go test -race -v` against the library in BUILD_DIR,
# each top-level Go test turned into a TAP case.
#   tests/suites.d/go.sh BUILD_DIR
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: go.sh BUILD_DIR}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0

not_ok() { # NAME FILE-WITH-DETAILS
	n=$((n + 1))
	echo "not ok $n - $1"
	tail -40 "$2" | sed 's/^/# /'
}

if ! command -v go >/dev/null && [ "$(id -u)" -eq 0 ]; then
	apt-get install -y golang-go >"$work/apt.log" 2>&1 || cat "$work/apt.log" >&2
fi
if ! command -v go >/dev/null; then
	echo "go: not installed (apt-get install golang-go)" >"$work/err"
	not_ok "Go toolchain" "$work/err"
	echo "1..$n"
	exit 1
fi

if [ -z "${SSA_TEST_PKI:-}" ]; then
	export SSA_TEST_PKI=$work/pki
	bash "$src/tests/pki.sh" "$SSA_TEST_PKI" >"$work/pki.log" 2>&1 || {
		not_ok "test PKI" "$work/pki.log"
		echo "1..$n"
		exit 1
	}
fi

# Only the standard library and this build's libssa: no module proxy, no installed headers.
libs=$build/core/.libs
export CGO_ENABLED=1 GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local
export GOCACHE=$build/go-cache GOPATH=$work/gopath
export CGO_CFLAGS="-I$src/core/include" CGO_LDFLAGS="-L$libs -lssa -Wl,-rpath,$libs"
cd "$src/bindings/go" || exit 1

if out=$(gofmt -l . 2>&1) && [ -z "$out" ]; then
	n=$((n + 1))
	echo "ok $n - gofmt"
else
	echo "$out" >"$work/gofmt"
	not_ok "gofmt: files not formatted" "$work/gofmt"
fi

go test -race -v -count=1 -timeout 5m . >"$work/go.out" 2>&1
rc=$?

# "--- PASS: TestX (0.01s)" at the start of a line ends a top-level test; go test -v has
# already printed its log, indented, since "=== RUN   TestX": that goes into TAP comments when
# the test failed.
exec 3<"$work/go.out"
log=$work/test.log cases=0
: >"$log"
while IFS= read -r line <&3; do
	case $line in
	"=== RUN "*) : >"$log" ;;
	"    "*) echo "${line#    }" >>"$log" ;;
	"--- PASS: "* | "--- FAIL: "* | "--- SKIP: "*)
		name=${line#--- *: }
		name=${name%% (*}
		cases=$((cases + 1))
		case $line in
		"--- PASS"*) n=$((n + 1)) && echo "ok $n - $name" ;;
		"--- SKIP"*) n=$((n + 1)) && echo "ok $n - $name # SKIP" ;;
		*) not_ok "$name" "$log" ;;
		esac
		;;
	esac
done
exec 3<&-

if [ "$rc" -ne 0 ] && ! grep -q '^--- FAIL: ' "$work/go.out"; then
	# A build failure, a panic or a timeout: no test said FAIL, so say it here.
	not_ok "go test -race exited with status $rc after $cases tests" "$work/go.out"
fi
echo "1..$n"
[ "$rc" -eq 0 ]
