#!/usr/bin/env bash
# `npm start`: prerequisites, build, then a local cluster running the example (created once, in the
# namespace `example`; `npm start -- --no-example` skips it). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/setup.sh
exec node dist/cli/src/main.js up "$@"
