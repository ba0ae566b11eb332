#!/usr/bin/env bash
# pki-matrix.sh DIR: the PKI of the certificate-verification matrix (suites.d/verify-matrix.sh).
# One trust anchor, root.pem ("SSA Matrix Root", EC P-256); every leaf NAME comes as NAME.pem,
# NAME.key, NAME-chain.pem (leaf + intermediates, as a server sends it) and NAME-ints.pem (the
# intermediates alone, absent when there are none).  Unless said otherwise a leaf is EC P-256,
# signed with SHA-256 by "int" (root -> int -> leaf) for DNS:localhost, IP:127.0.0.1.
#
# Leaves that must verify:
#   rsa2048 rsa4096 p256 p384 ed25519   key types (p256 is also the chain of three)
#   ed25519-ca    Ed25519 leaf by an Ed25519 intermediate
#   chain4        root -> int -> int2 -> leaf
#   wildcard      DNS:*.example.test only
#   ip4, ip6      IP:127.0.0.1 only, IP:::1 only (no DNS name)
# Leaves that must not:
#   sha1          leaf signed with SHA-1;  sha1-int: its intermediate is signed with SHA-1
#   rsa1024       RSA 1024 leaf;           rsa1024-int: by an RSA 1024 intermediate
#   notca         by an intermediate with basicConstraints CA:false
#   nobc          by an intermediate without basicConstraints (and without keyUsage)
#   nobc-ku       by an intermediate without basicConstraints but keyUsage keyCertSign
#   pathlen       by a CA under an intermediate with pathlen:0
#   noint         NAME-chain.pem holds the leaf only (its intermediate is never sent)
#   wild2         DNS:*.*.example.test (multi-label wildcard)
#   partial       DNS:f*.example.test (partial-label wildcard)
#   dnsip         DNS:127.0.0.1 (an address written as a DNS name)
#   dnsonly       DNS:localhost only (must not match a bare address)
#   eku-client    extendedKeyUsage clientAuth only
#   cn-only       CN=localhost and no subjectAltName (RFC 9525 section 6.3: CN is never matched)
#   wildtld       DNS:*.test (a wildcard over a single label)
#   critext       carries an unknown critical extension
#   nc            by an intermediate whose nameConstraints permit only DNS:allowed.test
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
cd "$1"

key() { # key TYPE FILE
	case $1 in
	p256 | p384) openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:P-${1#p}" -out "$2" ;;
	rsa*) openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${1#rsa}" -out "$2" ;;
	ed25519) openssl genpkey -algorithm ED25519 -out "$2" ;;
	esac 2>/dev/null
}

CA_EXT=("basicConstraints=critical,CA:true" "keyUsage=critical,keyCertSign,cRLSign")
LEAF_EXT=("basicConstraints=critical,CA:false" "keyUsage=critical,digitalSignature,keyEncipherment")
LOCALHOST="subjectAltName=DNS:localhost,IP:127.0.0.1"

# cert NAME KEYTYPE ISSUER DIGEST SUBJECT EXTENSION...: NAME.pem signed by ISSUER ("self" for
# a root) with DIGEST ("-" for the key type's own, as Ed25519 needs).  Also writes NAME-path.pem,
# NAME and the intermediates above it, without the root.
cert() {
	local name=$1 type=$2 issuer=$3 md=$4 subj=$5 sign
	shift 5
	key "$type" "$name.key"
	openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr" 2>/dev/null
	printf '%s\n' "subjectKeyIdentifier=hash" "$@" >"$name.ext"
	if [ "$issuer" = self ]; then
		sign=(-signkey "$name.key")
	else
		echo "authorityKeyIdentifier=keyid" >>"$name.ext"
		sign=(-CA "$issuer.pem" -CAkey "$issuer.key" -set_serial "0x$(openssl rand -hex 16)")
	fi
	[ "$md" = - ] || sign+=("-$md")
	openssl x509 -req -in "$name.csr" "${sign[@]}" -days 3650 -extfile "$name.ext" \
		-out "$name.pem" 2>/dev/null
	if [ "$issuer" = self ]; then : >"$name-path.pem"; else cat "$name.pem" "$issuer-path.pem" >"$name-path.pem"; fi
}
ca() { cert "$1" "$2" "$3" "$4" "/CN=SSA Matrix $1" "${@:5}"; }
# leaf NAME KEYTYPE ISSUER DIGEST CN SAN [EXTENSION...]: a server certificate (EKU $EKU,
# serverAuth unless set) and its files.
leaf() {
	local name=$1 issuer=$3
	cert "$1" "$2" "$3" "$4" "/CN=$5" "$6" "${LEAF_EXT[@]}" "extendedKeyUsage=${EKU:-serverAuth}" "${@:7}"
	cat "$name.pem" "$issuer-path.pem" >"$name-chain.pem"
	if [ -s "$issuer-path.pem" ]; then cp "$issuer-path.pem" "$name-ints.pem"; else rm -f "$name-ints.pem"; fi
}

cert root p256 self sha256 "/CN=SSA Matrix Root" "${CA_EXT[@]}"
ca int p256 root sha256 "${CA_EXT[@]}"
ca int2 p256 int sha256 "${CA_EXT[@]}"
ca int-ed25519 ed25519 root sha256 "${CA_EXT[@]}"
ca int-sha1 p256 root sha1 "${CA_EXT[@]}"
ca int-rsa1024 rsa1024 root sha256 "${CA_EXT[@]}"
ca int-notca p256 root sha256 "basicConstraints=critical,CA:false" "keyUsage=critical,keyCertSign,cRLSign"
ca int-nobc p256 root sha256
ca int-nobc-ku p256 root sha256 "keyUsage=critical,keyCertSign,cRLSign"
ca int-pathlen0 p256 root sha256 "basicConstraints=critical,CA:true,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign"
ca int-under-pathlen0 p256 int-pathlen0 sha256 "${CA_EXT[@]}"
ca int-nc p256 root sha256 "${CA_EXT[@]}" "nameConstraints=critical,permitted;DNS:allowed.test"

leaf rsa2048 rsa2048 int sha256 localhost "$LOCALHOST"
leaf rsa4096 rsa4096 int sha256 localhost "$LOCALHOST"
leaf p256 p256 int sha256 localhost "$LOCALHOST"
leaf p384 p384 int sha384 localhost "$LOCALHOST"
leaf ed25519 ed25519 int sha256 localhost "$LOCALHOST"
leaf ed25519-ca ed25519 int-ed25519 - localhost "$LOCALHOST"
leaf chain4 p256 int2 sha256 localhost "$LOCALHOST"
leaf wildcard p256 int sha256 "*.example.test" "subjectAltName=DNS:*.example.test"
leaf ip4 p256 int sha256 127.0.0.1 "subjectAltName=IP:127.0.0.1"
leaf ip6 p256 int sha256 ::1 "subjectAltName=IP:::1"

leaf sha1 p256 int sha1 localhost "$LOCALHOST"
leaf sha1-int p256 int-sha1 sha256 localhost "$LOCALHOST"
leaf rsa1024 rsa1024 int sha256 localhost "$LOCALHOST"
leaf rsa1024-int p256 int-rsa1024 sha256 localhost "$LOCALHOST"
leaf notca p256 int-notca sha256 localhost "$LOCALHOST"
leaf nobc p256 int-nobc sha256 localhost "$LOCALHOST"
leaf nobc-ku p256 int-nobc-ku sha256 localhost "$LOCALHOST"
leaf pathlen p256 int-under-pathlen0 sha256 localhost "$LOCALHOST"
leaf noint p256 int sha256 localhost "$LOCALHOST"
cp noint.pem noint-chain.pem
rm -f noint-ints.pem
leaf wild2 p256 int sha256 "*.*.example.test" "subjectAltName=DNS:*.*.example.test"
leaf partial p256 int sha256 "f*.example.test" "subjectAltName=DNS:f*.example.test"
leaf dnsip p256 int sha256 127.0.0.1 "subjectAltName=DNS:127.0.0.1"
leaf dnsonly p256 int sha256 localhost "subjectAltName=DNS:localhost"
EKU=clientAuth leaf eku-client p256 int sha256 localhost "$LOCALHOST"
leaf cn-only p256 int sha256 localhost "# no subjectAltName"
leaf wildtld p256 int sha256 "*.test" "subjectAltName=DNS:*.test"
leaf critext p256 int sha256 localhost "$LOCALHOST" "1.3.6.1.4.1.55555.1=critical,ASN1:NULL"
leaf nc p256 int-nc sha256 localhost "$LOCALHOST"

# The must-pass leaves verify with openssl itself, so a failure of the suite is the SSA's.
for n in rsa2048 rsa4096 p256 p384 ed25519 ed25519-ca chain4 wildcard ip4 ip6; do
	ints=()
	[ -f "$n-ints.pem" ] && ints=(-untrusted "$n-ints.pem")
	openssl verify -CAfile root.pem "${ints[@]}" -purpose sslserver "$n.pem" >/dev/null ||
		{ echo "pki-matrix.sh: $n does not verify" >&2; exit 1; }
done
# And the signature digests and key sizes are what the names say.
openssl x509 -in sha1.pem -noout -text | grep -q "Signature Algorithm: ecdsa-with-SHA1" ||
	{ echo "pki-matrix.sh: sha1.pem is not signed with SHA-1" >&2; exit 1; }
openssl x509 -in rsa1024.pem -noout -text | grep -q "Public-Key: (1024 bit)" ||
	{ echo "pki-matrix.sh: rsa1024.pem has no 1024-bit key" >&2; exit 1; }
