#!/usr/bin/env bash
# `npm run build`: toolchain, WASM engine and TypeScript SDK, nothing else.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/node-env.sh"
exec bash "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh" "$@"
