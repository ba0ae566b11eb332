#!/usr/bin/env bash
# pki-revocation.sh DIR OCSP_PORT CRL_PORT: a small PKI whose leaves point at an OCSP responder
# (http://127.0.0.1:OCSP_PORT) and a CRL (http://127.0.0.1:CRL_PORT/rev-int.crl).
#   rev-ca.pem          the trust anchor
#   rev-int.pem/.key    the issuing CA, with its openssl-ca database in ca/ (for `openssl ocsp`)
#   rev-good, rev-revoked, rev-nourl (no OCSP URL, no CRL)   leaves for localhost, with -chain.pem
#   ocsp.pem/.key       the responder's certificate (EKU OCSPSigning, by rev-int)
#   rev-int.crl         DER CRL of rev-int listing rev-revoked
#   good.der, revoked.der  OCSP responses to staple (openssl s_server -status_file)
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 DIR OCSP_PORT CRL_PORT" >&2; exit 2; }
mkdir -p "$1"
D=$(cd "$1" && pwd)
ocsp_url=http://127.0.0.1:$2
crl_url=http://127.0.0.1:$3/rev-int.crl
cd "$D"
mkdir -p ca/new
: >ca/index.txt
openssl rand -hex 16 >ca/serial
echo 1000 >ca/crlnumber
cat >ca/ca.cnf <<CNF
[ca]
default_ca = this
[this]
dir = $D/ca
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
crlnumber = \$dir/crlnumber
default_md = sha256
default_days = 3650
default_crl_days = 7
policy = anything
unique_subject = no
[anything]
commonName = supplied
CNF

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key rev-ca.key
openssl req -x509 -new -key rev-ca.key -subj "/CN=SSA Revocation Test Root" -days 3650 \
	-addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	-out rev-ca.pem 2>/dev/null
key rev-int.key
openssl req -new -key rev-int.key -subj "/CN=SSA Revocation Test CA" -out rev-int.csr 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:true,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" \
	"subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >rev-int.ext
openssl x509 -req -in rev-int.csr -CA rev-ca.pem -CAkey rev-ca.key -CAcreateserial -days 3650 \
	-extfile rev-int.ext -out rev-int.pem 2>/dev/null

# leaf NAME EXTRA-EXTENSIONS...
leaf() {
	local name=$1
	shift
	key "$name.key"
	openssl req -new -key "$name.key" -subj "/CN=localhost" -out "$name.csr" 2>/dev/null
	printf '%s\n' "basicConstraints=critical,CA:false" "keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		"authorityKeyIdentifier=keyid" "$@" >"$name.ext"
	openssl ca -batch -notext -config ca/ca.cnf -cert rev-int.pem -keyfile rev-int.key \
		-in "$name.csr" -extfile "$name.ext" -out "$name.pem" 2>/dev/null
	cat "$name.pem" rev-int.pem >"$name-chain.pem"
}
urls=("authorityInfoAccess=OCSP;URI:$ocsp_url" "crlDistributionPoints=URI:$crl_url")
leaf rev-good "${urls[@]}"
leaf rev-revoked "${urls[@]}"
leaf rev-nourl

key ocsp.key
openssl req -new -key ocsp.key -subj "/CN=SSA OCSP Responder" -out ocsp.csr 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:false" "keyUsage=critical,digitalSignature" \
	"extendedKeyUsage=critical,OCSPSigning" >ocsp.ext
openssl ca -batch -notext -config ca/ca.cnf -cert rev-int.pem -keyfile rev-int.key \
	-in ocsp.csr -extfile ocsp.ext -out ocsp.pem 2>/dev/null

openssl ca -config ca/ca.cnf -cert rev-int.pem -keyfile rev-int.key -revoke rev-revoked.pem \
	-crl_reason keyCompromise 2>/dev/null
openssl ca -config ca/ca.cnf -cert rev-int.pem -keyfile rev-int.key -gencrl -out rev-int.crl.pem \
	2>/dev/null
openssl crl -in rev-int.crl.pem -outform DER -out rev-int.crl

# respond NAME OUT: an OCSP response for leaf NAME, made offline.
respond() {
	openssl ocsp -issuer rev-int.pem -cert "$1.pem" -no_nonce -reqout "$1.req" 2>/dev/null
	openssl ocsp -index ca/index.txt -rsigner ocsp.pem -rkey ocsp.key -CA rev-int.pem \
		-reqin "$1.req" -respout "$2" -ndays 1 2>/dev/null
}
respond rev-good good.der
respond rev-revoked revoked.der
openssl ocsp -respin revoked.der -resp_text -noverify 2>/dev/null | grep -q "Cert Status: revoked" ||
	{ echo "pki-revocation.sh: revoked.der does not say revoked" >&2; exit 1; }
openssl ocsp -respin good.der -resp_text -noverify 2>/dev/null | grep -q "Cert Status: good" ||
	{ echo "pki-revocation.sh: good.der does not say good" >&2; exit 1; }
