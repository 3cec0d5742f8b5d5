#!/usr/bin/env bash
# `npm start`: bootstrap (no browser needed), then run the quickstart example, which
# opens a database, subscribes, writes, and explains what happens.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
printf '[rustdht] running examples/quickstart.mjs\n\n'
exec node examples/quickstart.mjs
