#!/usr/bin/env bash
# The mesh demo: one etcd, three services (inventory in two versions), each beside its own Weft
# sidecar, all sidecars sharing the etcd. Ctrl-C stops everything. See notes/README-mesh.md.
#
#   frontend :3101  ◄─ inbound :15101 (admin :19101)     outbound :15201 (admin :19201) ─► orders
#   orders   :3102  ◄─ inbound :15102 (admin :19102)     outbound :15202 (admin :19202) ─► inventory
#   inventory v1 :3103 ◄─ inbound :15103 (admin :19103)
#   inventory v2 :3104 ◄─ inbound :15104 (admin :19104)
#   etcd :23790 (peer :23800), data in a temp folder
#
# Each service registers its inbound listener under its name through its sidecar's admin API
# (examples/register.sh, which heartbeats), and calls the next service by name through its
# sidecar's outbound listener. inventory calls nobody, so its sidecars have no outbound listener.
#
# Run from anywhere, after `npm ci && npm run build`. Needs etcd (Debian: etcd-server; or
# `bash scripts/ensure-system-deps.sh`) and curl. Logs go to a temp folder, kept after the stop.

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
etcd_bin=$(command -v etcd || true)
if [[ -z $etcd_bin ]]; then
  echo "mesh: etcd not found; install Debian's etcd-server (or run: bash scripts/ensure-system-deps.sh)" >&2
  exit 1
fi
for built in dist/examples/mesh/service.js filters/router/build/router.wasm filters/telemetry/build/telemetry.wasm; do
  [[ -f $built ]] || { echo "mesh: $built is missing; run npm run build first" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/weft-mesh.XXXXXX")
pids=()
names=()

stop_all() {
  trap - INT TERM EXIT
  echo
  echo "mesh: stopping"
  # Newest first: registrations deregister while their sidecars still answer; etcd goes last.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  kill "${sleeper:-}" 2>/dev/null || true
  rm -rf "$work/etcd"
  echo "mesh: stopped; logs in $work"
  exit 0
}
trap stop_all INT TERM EXIT

# start NAME COMMAND...: runs it in the background, output to $work/NAME.log
start() {
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

# wait_for WHAT COMMAND...: until COMMAND succeeds (10 s at most)
wait_for() {
  local what=$1
  shift
  for _ in $(seq 100); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "mesh: $what did not come up; see $work" >&2
  exit 1
}

start etcd "$etcd_bin" --name mesh --data-dir "$work/etcd" \
  --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
  --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
  --initial-cluster mesh=http://127.0.0.1:23800 --logger zap --log-level warn
wait_for etcd curl -sf http://127.0.0.1:23790/health

# sidecar SERVICE ROLE LISTEN ADMIN APP
sidecar() {
  start "$1-$2-sidecar" env MESH_SERVICE="$1" MESH_ROLE="$2" MESH_LISTEN="$3" MESH_ADMIN="$4" MESH_APP="$5" \
    node bin/weft.js run -c examples/mesh/sidecar.yaml
  wait_for "the $2 sidecar of $1" curl -sf "http://127.0.0.1:$4/ready"
}

# service NAME VERSION PORT INBOUND ADMIN [CALLS OUTBOUND]
service() {
  local name=$1 version=$2 port=$3 inbound=$4 admin=$5
  start "$name-$version" node dist/examples/mesh/service.js "$name" "$version" "$port" "${@:6}"
  wait_for "$name $version" curl -sf "http://127.0.0.1:$port/"
  start "$name-$version-register" env WEFT_ADMIN_URL="http://127.0.0.1:$admin" TTL_S=6 INSTANCE_VERSION="$version" \
    examples/register.sh "$name" 127.0.0.1 "$inbound"
}

sidecar frontend inbound 15101 19101 3101 # the first one seeds an empty etcd with the chain
sidecar frontend outbound 15201 19201 3101
sidecar orders inbound 15102 19102 3102
sidecar orders outbound 15202 19202 3102
sidecar inventory-v1 inbound 15103 19103 3103
sidecar inventory-v2 inbound 15104 19104 3104

service inventory v1 3103 15103 19103
service inventory v2 3104 15104 19104
service orders v1 3102 15102 19102 inventory 15202
service frontend v1 3101 15101 19101 orders 15201
wait_for "the registrations" sh -c 'curl -sf http://127.0.0.1:19201/services/frontend | grep -q "\"healthy\":1"'

cat <<EOF

mesh: up (logs in $work). Try:
  curl -s http://127.0.0.1:15101/hello      # frontend -> orders -> inventory, through the sidecars
  node bin/weft.js chain apply examples/mesh/canary.yaml --admin http://127.0.0.1:19202
More in notes/README-mesh.md. Ctrl-C stops everything.
EOF

while :; do
  sleep 3600 &
  sleeper=$!
  wait "$sleeper" || true
done
