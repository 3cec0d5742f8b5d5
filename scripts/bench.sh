#!/usr/bin/env bash
# `npm run bench [-- options]`: bootstrap, then the benchmark runner (scripts/bench/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# A supported Node LTS first in PATH for everything below (fetched once when needed).
source scripts/node-env.sh
bash scripts/bootstrap.sh
exec node scripts/bench/run.mjs "$@"
