#!/usr/bin/env bash
# `npm start`: bootstrap (no browser needed; this also compiles the SDK to sdk-ts/dist
# and builds the demo page to demo/dist), then run a local development server:
# `rustdht serve` with its data in ./.rustdht/local, listening on loopback only, logging
# human-readable lines, and serving the demo page at http://127.0.0.1:7400/.
# Ctrl+C stops it cleanly. `node examples/quickstart.mjs` still runs the narrated tour.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# A supported Node LTS first in PATH for everything below (fetched once when needed).
source scripts/node-env.sh
bash scripts/bootstrap.sh

# bootstrap.sh compiled sdk-ts/dist (step "compiling TypeScript"); make sure the CLI is there.
[ -f sdk-ts/dist/cli/main.js ] || {
  printf '[rustdht] ERROR: sdk-ts/dist/cli/main.js is missing after the build\n' >&2
  exit 1
}
[ -f demo/dist/index.html ] || {
  printf '[rustdht] ERROR: demo/dist/index.html is missing after the build\n' >&2
  exit 1
}

# The default ports (7401 TCP, 7402 WebSockets, 7403 WebRTC Direct, HTTP 7400: /health,
# /metrics and the demo page at /), bound to 127.0.0.1: a dev node is reachable from this
# machine only.
args=(
  serve
  --data ./.rustdht/local
  --listen /ip4/127.0.0.1/tcp/7401
  --listen /ip4/127.0.0.1/tcp/7402/ws
  --listen /ip4/127.0.0.1/udp/7403/webrtc-direct
  --http 7400
  --log-format pretty
  --demo demo/dist
  # Bound to loopback only: every connection is from this machine (the demo in several
  # windows opens several a second), so libp2p's per-host connection limits are lifted
  # for loopback. Never use this behind a reverse proxy on the same host.
  --exempt-loopback
)
printf '[rustdht] starting a local server: node sdk-ts/dist/cli/main.js %s\n' "${args[*]}"
printf '[rustdht] (data in ./.rustdht/local; Ctrl+C stops it; `node sdk-ts/dist/cli/main.js --help` lists the commands)\n'
printf '\n[rustdht] ==> the demo page: http://127.0.0.1:7400/  (open it in two windows to watch them sync)\n\n'
exec node sdk-ts/dist/cli/main.js "${args[@]}"
