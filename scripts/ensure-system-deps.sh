#!/usr/bin/env bash
# Makes sure the system tools that bench/ and the tests need are installed:
#   nginx                   the upstream and the "nginx as reverse proxy" configuration
#   libnginx-mod-http-echo  lets the upstream nginx echo a 64 KiB POST body back
#   wrk                     the load generator
#   nghttp2-client          h2load, the load generator of the h2c scenarios
#   etcd-server             the etcd store's tests and examples/mesh run a loopback etcd
#   chromium                the admin page's tests drive it headless (playwright-core, no browser download)
# (taskset comes with util-linux, which every Debian has.)
# The harness runs nginx (and the tests etcd) with its own config and data in a temp folder;
# the system services are never used.
# As root, missing packages are installed with apt-get; otherwise the exact command
# is printed and the script exits 1.
set -euo pipefail

packages=(nginx libnginx-mod-http-echo wrk nghttp2-client etcd-server chromium)

is_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-system-deps: this script needs a Debian-like system (dpkg, apt-get);" >&2
  echo "install these yourself: ${packages[*]}" >&2
  exit 1
fi

missing=()
for package in "${packages[@]}"; do
  is_installed "$package" || missing+=("$package")
done
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-system-deps: missing ${missing[*]}; install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "ensure-system-deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
