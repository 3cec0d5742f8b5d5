#!/usr/bin/env bash
# `npm run bench [-- options]`: bootstrap, then the benchmark runner (scripts/bench/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
exec node scripts/bench/run.mjs "$@"
