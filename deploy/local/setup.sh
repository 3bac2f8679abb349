#!/usr/bin/env bash
# Prerequisites of `npm start` and `npm test` on a fresh Debian machine:
#   1. the Debian packages Berth runs (installed with apt-get when root, else the exact command),
#   2. npm ci when node_modules does not match package-lock.json,
#   3. the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/../.."

# docker.io: dockerd (the engines); etcd-server (+ etcd-client for etcdctl): the store;
# nats-server: the event bus; busybox-static: the local image; prometheus, docker-registry:
# the metrics and registry tests; apache2-utils: htpasswd (bcrypt) for the registry test's users;
# iproute2: bridges and network namespaces of the test hosts; zsh: the test that loads
# `berth completion zsh`.
PACKAGES=(docker.io etcd-server etcd-client nats-server busybox-static prometheus docker-registry apache2-utils iproute2 tar zsh)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: install them with:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# npm ci only when the lock file changed since the last install.
stamp=node_modules/.berth-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

echo "setup: build"
npm run --silent build
