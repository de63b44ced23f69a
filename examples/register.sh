#!/usr/bin/env bash
# Registers one instance of a service with Weft's service registry, heartbeats every ttl/3,
# and deregisters when stopped (Ctrl-C, SIGTERM, or the end of the shell that started it).
# A service can run this beside itself and needs no Weft code; it only needs curl.
#
#   examples/register.sh SERVICE ADDRESS PORT
#
# Environment (all optional):
#   WEFT_ADMIN_URL    admin API of the proxy          (default http://127.0.0.1:9901)
#   WEFT_ADMIN_TOKEN  bearer token with write access  (default: none)
#   TTL_S             seconds without a heartbeat before the instance gets no traffic (default 15)
#   INSTANCE_VERSION  version label, for clusters that select one (e.g. v2)
#   INSTANCE_WEIGHT   round-robin weight (default 1)
#   INSTANCE_METADATA JSON object of labels, e.g. '{"zone":"a"}'
#
# If the proxy no longer knows the instance (its grace period passed, or its state was reset),
# the heartbeat answers 404 and the script registers again.

set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 SERVICE ADDRESS PORT" >&2
  exit 2
fi
service=$1 address=$2 port=$3
admin=${WEFT_ADMIN_URL:-http://127.0.0.1:9901}
ttl=${TTL_S:-15}
auth=()
[[ -n ${WEFT_ADMIN_TOKEN:-} ]] && auth=(-H "authorization: Bearer $WEFT_ADMIN_TOKEN")

body="{\"address\":\"$address\",\"port\":$port,\"ttl_s\":$ttl,\"weight\":${INSTANCE_WEIGHT:-1}"
[[ -n ${INSTANCE_VERSION:-} ]] && body+=",\"version\":\"$INSTANCE_VERSION\""
[[ -n ${INSTANCE_METADATA:-} ]] && body+=",\"metadata\":$INSTANCE_METADATA"
body+="}"

id=

register() {
  local reply
  # --fail-with-body: a refused registration (400 with the reason) stops the script with that reason.
  reply=$(curl -sS --fail-with-body ${auth[@]+"${auth[@]}"} -H 'content-type: application/json' -d "$body" "$admin/services/$service/instances") || {
    echo "register.sh: registration refused: $reply" >&2
    exit 1
  }
  id=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$reply")
  echo "register.sh: registered $service instance $id ($address:$port, ttl ${ttl}s)"
}

deregister() {
  [[ -n $id ]] && curl -sS -o /dev/null ${auth[@]+"${auth[@]}"} -X DELETE "$admin/services/$service/instances/$id" || true
  echo "register.sh: deregistered $service instance $id"
}

register
trap deregister EXIT
trap 'exit 0' INT TERM

# ttl/3 in seconds with millisecond precision, so a 1 s TTL heartbeats every 0.333 s.
interval=$(awk -v ttl="$ttl" 'BEGIN { printf "%.3f", ttl / 3 }')
while true; do
  # In the background, so a signal runs the trap at once instead of after the sleep.
  sleep "$interval" &
  wait $!
  status=$(curl -sS -o /dev/null -w '%{http_code}' ${auth[@]+"${auth[@]}"} -X PUT "$admin/services/$service/instances/$id/heartbeat" || true)
  case $status in
    200) ;;
    404) echo "register.sh: the proxy forgot instance $id; registering again" >&2; register ;;
    *) echo "register.sh: heartbeat failed (HTTP ${status:-none}); retrying" >&2 ;;
  esac
done
