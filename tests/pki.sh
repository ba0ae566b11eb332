#!/usr/bin/env bash
# tests/pki.sh DIR -- create the SSA test PKI in DIR with the openssl CLI.
#
# Idempotent: if DIR already holds a complete PKI that still passes the checks below, nothing is
# regenerated (so concurrent or repeated test runs see stable files).  Otherwise everything is
# built in a staging directory, checked, and only then moved into DIR.
#
# All certificates are issued with `openssl ca` because it is the only OpenSSL 3.0 command that
# accepts explicit -startdate/-enddate; that is what the expired and not-yet-valid leaves need,
# and backdating the CAs lets the expired leaf sit inside its issuer's validity.
# Dates are relative to now, so the PKI never silently goes stale.
set -euo pipefail

die() { echo "pki.sh: error: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
command -v openssl >/dev/null || die "openssl not found in PATH"
DIR=$1
mkdir -p "$DIR" || die "cannot create $DIR"
DIR=$(cd "$DIR" && pwd)

# What each certificate is; write_readme expands this into one line per file (DIR/README).
DESCS=(
  "ca|root CA \"SSA Test Root\", the only trust anchor"
  "int|intermediate CA \"SSA Test Intermediate\" (CA:true, pathlen:1) signed by the root"
  "int2|second-level intermediate CA (pathlen:0) under int, for chains of four"
  "unknown-root|root CA \"Unknown Root\", never trusted"
  "localhost|leaf by int, SAN DNS:localhost IP:127.0.0.1 IP:::1"
  "example|leaf by int, SAN DNS:example.test DNS:www.example.test"
  "other|leaf by int, SAN DNS:other.test (SNI selection)"
  "wildcard|leaf by int, SAN DNS:*.wild.test"
  "deep|localhost leaf by int2 (chain of four with the root)"
  "expired|localhost leaf by int, notAfter one day in the past"
  "notyet|localhost leaf by int, notBefore one year in the future"
  "wronghost|leaf by int, SAN DNS:wrong.test only"
  "selfsigned|self-signed localhost certificate (CA:false), not from the test CA"
  "unknownca|localhost leaf issued by Unknown Root"
  "ipv4only|leaf by int, SAN IP:127.0.0.1 only, no DNS name"
  "ipv6only|leaf by int, SAN IP:::1 only, no DNS name"
  "client|client-auth leaf by int, CN \"SSA Test Client\", EKU clientAuth"
  "rsa2048|localhost leaf by int with an RSA 2048 key (all other keys are EC P-256)"
)
# Leaves that must verify against ca.pem, with the name or address each must match.
GOOD_LEAVES="localhost:localhost example:www.example.test other:other.test wildcard:a.wild.test
  deep:localhost ipv4only:127.0.0.1 ipv6only:::1 rsa2048:localhost"

# ---------------------------------------------------------------------------------------------
# Building.

# date_rel "+1 year" -> YYYYMMDDHHMMSSZ in UTC, the format `openssl ca -startdate` takes.
date_rel() { date -u -d "$1" +%Y%m%d%H%M%SZ; }

ec_key()  { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
rsa_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1"; }

# Minimal `openssl ca` configuration: one database per issuer so serials never collide.
write_ca_conf() { # issuer_name
  local d="$W/ca-$1"
  mkdir -p "$d/new"
  : >"$d/index.txt"
  # Random serials: certificates of a rebuilt PKI must not reuse old serial numbers.
  openssl rand -hex 16 >"$d/serial"
  cat >"$d/ca.cnf" <<EOF
[ca]
default_ca = this
[this]
dir = $d
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
organizationName = optional
EOF
}

# issue NAME ISSUER START END EXTENSIONS...: CSR for W/NAME.key, signed by ISSUER
# ("self" = self-signed), extensions given as lines of an extfile.
issue() {
  local name=$1 issuer=$2 start=$3 end=$4 cn=$5; shift 5
  printf '%s\n' "$@" >"$W/$name.ext"
  openssl req -new -key "$W/$name.key" -subj "/CN=$cn" -out "$W/$name.csr"
  local conf args=()
  if [ "$issuer" = self ]; then
    write_ca_conf "$name"
    conf="$W/ca-$name/ca.cnf"
    args=(-selfsign -keyfile "$W/$name.key")
  else
    conf="$W/ca-$issuer/ca.cnf"
    args=(-cert "$W/$issuer.pem" -keyfile "$W/$issuer.key")
  fi
  openssl ca -batch -notext -config "$conf" "${args[@]}" -in "$W/$name.csr" \
    -startdate "$start" -enddate "$end" -extfile "$W/$name.ext" -out "$W/$name.pem"
}

CA_EXT=("basicConstraints = critical, CA:true" "keyUsage = critical, keyCertSign, cRLSign"
        "subjectKeyIdentifier = hash" "authorityKeyIdentifier = keyid:always")
SERVER_EXT=("basicConstraints = critical, CA:false" "keyUsage = critical, digitalSignature"
            "extendedKeyUsage = serverAuth" "subjectKeyIdentifier = hash"
            "authorityKeyIdentifier = keyid:always")

make_ca() { # name issuer cn [pathlen]
  ec_key "$W/$1.key"
  local ext=("${CA_EXT[@]}")
  [ -n "${4:-}" ] && ext[0]="basicConstraints = critical, CA:true, pathlen:$4"
  [ "$2" = self ] && ext[3]="authorityKeyIdentifier = keyid"
  issue "$1" "$2" "$CA_START" "$CA_END" "$3" "${ext[@]}"
  write_ca_conf "$1"
}

# leaf NAME ISSUER CN SAN [START END]: EC server leaf plus NAME-chain.pem.
leaf() {
  local name=$1 issuer=$2 cn=$3 san=$4 start=${5:-$LEAF_START} end=${6:-$LEAF_END}
  [ -f "$W/$name.key" ] || ec_key "$W/$name.key"
  issue "$name" "$issuer" "$start" "$end" "$cn" "${SERVER_EXT[@]}" "subjectAltName = $san"
  chain "$name" "$issuer"
}

# NAME-chain.pem = leaf followed by the intermediates up to (not including) a root.
chain() {
  local name=$1 issuer=$2
  cat "$W/$name.pem" >"$W/$name-chain.pem"
  while [ "$issuer" = int ] || [ "$issuer" = int2 ]; do
    cat "$W/$issuer.pem" >>"$W/$name-chain.pem"
    [ "$issuer" = int2 ] && issuer=int || issuer=root
  done
}

build() {
  CA_START=$(date_rel "-2 years") CA_END=$(date_rel "+20 years")
  LEAF_START=$(date_rel "-1 day") LEAF_END=$(date_rel "+10 years")
  local lh="DNS:localhost, IP:127.0.0.1, IP:::1"

  make_ca ca self "SSA Test Root"
  make_ca int ca "SSA Test Intermediate" 1
  make_ca int2 int "SSA Test Intermediate 2" 0
  make_ca unknown-root self "Unknown Root"

  leaf localhost int localhost "$lh"
  leaf example int example.test "DNS:example.test, DNS:www.example.test"
  leaf other int other.test "DNS:other.test"
  leaf wildcard int "*.wild.test" "DNS:*.wild.test"
  leaf deep int2 localhost "$lh"
  leaf expired int localhost "$lh" "$(date_rel '-1 year')" "$(date_rel '-1 day')"
  leaf notyet int localhost "$lh" "$(date_rel '+1 year')" "$(date_rel '+2 years')"
  leaf wronghost int wrong.test "DNS:wrong.test"
  leaf unknownca unknown-root localhost "$lh"
  leaf ipv4only int "SSA IPv4-only leaf" "IP:127.0.0.1"
  leaf ipv6only int "SSA IPv6-only leaf" "IP:::1"
  rsa_key "$W/rsa2048.key"
  SERVER_EXT[1]="keyUsage = critical, digitalSignature, keyEncipherment"
  leaf rsa2048 int localhost "$lh"

  # A self-signed end-entity certificate (CA:false), as a careless admin would make one.
  ec_key "$W/selfsigned.key"
  issue selfsigned self "$LEAF_START" "$LEAF_END" localhost \
    "basicConstraints = critical, CA:false" "keyUsage = critical, digitalSignature" \
    "extendedKeyUsage = serverAuth" "subjectAltName = $lh"
  chain selfsigned self

  ec_key "$W/client.key"
  issue client int "$LEAF_START" "$LEAF_END" "SSA Test Client" \
    "basicConstraints = critical, CA:false" "keyUsage = critical, digitalSignature" \
    "extendedKeyUsage = clientAuth" "authorityKeyIdentifier = keyid:always"
  chain client int

  ec_key "$W/mismatch.key"
  # Bytes that no PEM parser may accept: text without armour, a NUL, and high bytes.
  printf 'this is not a PEM file\n\x00\x01\x02\xfe\xff-----END CERTIFICATE-----\n' \
    >"$W/garbage.pem"

  mkdir -p "$W/cadir"
  cp "$W/ca.pem" "$W/cadir/ca.pem"
  openssl rehash "$W/cadir"
}

# ---------------------------------------------------------------------------------------------
# Checking.  Every check names the file and what is wrong with it.

fail() { echo "pki.sh: check failed: $*" >&2; return 1; }

# verify_out D LEAF [verify options...]: output of openssl verify of D/LEAF.pem.
verify_out() {
  local d=$1 leaf=$2; shift 2
  openssl verify -CAfile "$d/ca.pem" -untrusted "$d/$leaf-chain.pem" "$@" "$d/$leaf.pem" 2>&1
}

check_good() { # D leaf name-or-ip
  local d=$1 leaf=$2 id=$3 opt=-verify_hostname
  [[ $id =~ ^[0-9.]+$|: ]] && opt=-verify_ip
  verify_out "$d" "$leaf" -purpose sslserver "$opt" "$id" | grep -q ': OK$' ||
    fail "$leaf.pem does not verify for $id: $(verify_out "$d" "$leaf" "$opt" "$id")"
  # The brief's form too: intermediates from int.pem only (int2 for the deep leaf).
  local u="$d/int.pem"
  [ "$leaf" = deep ] && u="$d/deep-chain.pem"
  openssl verify -CAfile "$d/ca.pem" -untrusted "$u" "$d/$leaf.pem" >/dev/null 2>&1 ||
    fail "$leaf.pem does not verify with -untrusted $(basename "$u")"
}

check_bad() { # D leaf expected-error-substring [options]
  local d=$1 leaf=$2 want=$3; shift 3
  local out; out=$(verify_out "$d" "$leaf" "$@" || true)
  grep -q "$want" <<<"$out" || fail "$leaf.pem: expected '$want', got: $out"
}

same_key() { # D cert key -> true if the key belongs to the certificate
  [ "$(openssl x509 -in "$1/$2" -noout -pubkey)" = "$(openssl pkey -in "$1/$3" -pubout)" ]
}

check() {
  local d=$1 f pair
  for f in ca int int2 unknown-root localhost example other wildcard deep expired notyet \
           wronghost selfsigned unknownca ipv4only ipv6only client rsa2048; do
    [ -s "$d/$f.pem" ] && [ -s "$d/$f.key" ] || fail "$f.pem or $f.key missing" || return 1
    same_key "$d" "$f.pem" "$f.key" || fail "$f.key does not match $f.pem" || return 1
    case $f in ca|int|int2|unknown-root) ;;
      *) [ -s "$d/$f-chain.pem" ] || fail "$f-chain.pem missing" || return 1 ;;
    esac
  done
  for pair in $GOOD_LEAVES; do check_good "$d" "${pair%%:*}" "${pair#*:}" || return 1; done
  openssl verify -CApath "$d/cadir" -untrusted "$d/int.pem" "$d/localhost.pem" >/dev/null 2>&1 ||
    fail "cadir/ does not work as a CApath" || return 1
  openssl verify -CAfile "$d/ca.pem" -untrusted "$d/int.pem" -purpose sslclient \
    "$d/client.pem" >/dev/null 2>&1 || fail "client.pem does not verify as a client" || return 1
  check_bad "$d" expired "certificate has expired" || return 1
  check_bad "$d" notyet "certificate is not yet valid" || return 1
  check_bad "$d" wronghost "hostname mismatch" -verify_hostname localhost || return 1
  check_bad "$d" selfsigned "self-signed certificate" || return 1
  check_bad "$d" unknownca "unable to get local issuer certificate" || return 1
  check_bad "$d" ipv4only "IP address mismatch" -verify_ip ::1 || return 1
  check_bad "$d" ipv4only "hostname mismatch" -verify_hostname localhost || return 1
  check_bad "$d" localhost "hostname mismatch" -verify_hostname example.test || return 1
  # Depth: leaf + int2 + int + root = four certificates.
  [ "$(grep -c 'BEGIN CERTIFICATE' "$d/deep-chain.pem")" = 3 ] ||
    fail "deep-chain.pem should hold 3 certificates" || return 1
  [ "$(grep -c 'BEGIN CERTIFICATE' "$d/localhost-chain.pem")" = 2 ] ||
    fail "localhost-chain.pem should hold 2 certificates" || return 1
  same_key "$d" localhost.pem mismatch.key && { fail "mismatch.key matches localhost.pem"; return 1; }
  openssl x509 -in "$d/garbage.pem" -noout 2>/dev/null && { fail "garbage.pem parses"; return 1; }
  [ -s "$d/garbage.pem" ] || fail "garbage.pem missing"
}

# One line per file, from DESCS and the chain each leaf got.
write_readme() {
  local entry name desc
  echo "README: this list; made by tests/pki.sh, which checks every file below"
  for entry in "${DESCS[@]}"; do
    name=${entry%%|*} desc=${entry#*|}
    echo "$name.pem: $desc"
    echo "$name.key: private key of $name.pem"
    [ -f "$DIR/$name-chain.pem" ] &&
      echo "$name-chain.pem: $name.pem followed by its intermediates ($(chain_names "$name")), no root"
  done
  echo "cadir/ca.pem, cadir/$(cd "$DIR/cadir" && ls -- *.0): ca.pem as a hashed trust directory"
  echo "mismatch.key: EC P-256 key that does not match localhost.pem"
  echo "garbage.pem: non-PEM bytes (text, NUL, high bytes, a stray END line)"
}

# chain_names NAME -> the intermediates chain() appended for NAME.
chain_names() {
  case $1 in deep) echo "int2.pem, int.pem" ;; selfsigned|unknownca) echo "none" ;;
    *) echo "int.pem" ;; esac
}

# ---------------------------------------------------------------------------------------------

# Two runs on one DIR at once would mix files of two PKIs: serialize them.
if command -v flock >/dev/null; then
  exec 9>"$DIR/.lock"
  flock 9
fi

if [ -f "$DIR/README" ] && check "$DIR" 2>/dev/null; then
  exit 0 # already complete and valid
fi

W=$(mktemp -d "$DIR/.build.XXXXXX")
trap 'rm -rf "$W"' EXIT
LOG=$W/openssl.log
# set -e is ignored inside functions called from a condition, so run build in a plain subshell.
set +e
(set -e; build) >"$LOG" 2>&1
rc=$?
set -e
if [ $rc -ne 0 ]; then
  tail -n 20 "$LOG" >&2
  die "building the PKI failed (openssl output above)"
fi
check "$W" || die "the freshly built PKI failed its checks (see above)"

# Move into place: leaves and keys first, README last, so README means "complete".
rm -f "$DIR/README"
for f in "$W"/*.pem "$W"/*.key; do mv -f "$f" "$DIR/"; done
rm -rf "$DIR/cadir" && mv "$W/cadir" "$DIR/cadir"
write_readme >"$DIR/README.tmp" && mv "$DIR/README.tmp" "$DIR/README"
check "$DIR" || die "the PKI in $DIR is wrong after installing it"
echo "pki.sh: test PKI ready in $DIR"
