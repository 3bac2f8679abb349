#!/usr/bin/env bash
# Prerequisites of `npm start` and `npm test` on a fresh Debian machine:
#   1. the Debian packages Berth runs (installed with apt-get when root, else the exact command),
#   2. npm ci when node_modules does not match package-lock.json,
#   3. the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/../.."

PACKAGES=(docker.io etcd-server nats-server busybox-static prometheus docker-registry iproute2 tar)
# command each package provides, to see what is missing without dpkg state
declare -A PROVIDES=([docker.io]=dockerd [etcd-server]=etcd [nats-server]=nats-server [busybox-static]=busybox [prometheus]=prometheus [docker-registry]=docker-registry [iproute2]=ip [tar]=tar)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! command -v "${PROVIDES[$p]}" >/dev/null 2>&1; then missing+=("$p"); fi
done
# busybox must be the static one (copied into images)
if command -v busybox >/dev/null 2>&1 && ! file -L "$(command -v busybox)" 2>/dev/null | grep -q 'statically linked' && [ ! -e /bin/busybox ]; then
  missing+=(busybox-static)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
