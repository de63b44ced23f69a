#!/usr/bin/env bash
# Makes a small CA and two service identities for the mTLS example, with openssl:
#   certs/ca.crt                      the mesh CA both sidecars trust
#   certs/svc-a.{crt,key}             service A's identity  spiffe://weft.local/svc-a (client certificate)
#   certs/svc-b.{crt,key}             service B's identity  spiffe://weft.local/svc-b (server certificate, 127.0.0.1)
# Run it from anywhere; it writes next to itself. Certificates last 30 days.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p certs
cd certs

ec() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "$@" 2>/dev/null; }

ec -x509 -keyout ca.key -out ca.crt -days 30 -subj "/CN=weft-mesh-ca"

issue() { # name, subject, extensions
  ec -keyout "$1.key" -out "$1.csr" -subj "$2"
  printf '%b' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 30 -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

issue svc-a "/CN=svc-a/O=weft-mesh" "subjectAltName=URI:spiffe://weft.local/svc-a\nextendedKeyUsage=clientAuth\n"
issue svc-b "/CN=svc-b/O=weft-mesh" "subjectAltName=URI:spiffe://weft.local/svc-b,IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"
echo "certificates in $(pwd): ca.crt svc-a.crt svc-a.key svc-b.crt svc-b.key"
