#!/usr/bin/env bash
# Mutation testing of the SDK (sdk-ts) with StrykerJS and its vitest runner.
#
#   bash scripts/mutation/ts.sh sdk-ts/src/network/wire/varint.ts   # these files (globs work)
#   bash scripts/mutation/ts.sh --diff main                    # files changed since main
#   bash scripts/mutation/ts.sh --tests 'test/network/sync-*.test.ts,test/unit/x.test.ts' FILE
#       # only these test files (comma-separated, relative to sdk-ts/): static mutants
#       # rerun every related test file, so narrowing is what makes a large module affordable
#   --timeoutMS 5000   # StrykerJS's per-mutant timeout (default 20000): for mutants that hang
#   --disableBail      # every covering test runs for every mutant (its killedBy lists them all)
#
# Configuration: stryker.config.mjs (at the root, so its sandbox keeps the tsconfig chain). Report: target/stryker/mutation.html and
# .json; survivors are listed at the end of the run. Slow (each mutant reruns the
# tests that cover it): run it on what you changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/node-env.sh
files=()
options=()
while [ $# -gt 0 ]; do
  case "$1" in
    --diff)
      base=${2:?--diff needs a git revision}; shift
      while IFS= read -r f; do files+=("$f"); done < <(git diff --name-only --diff-filter=AM "$base" -- 'sdk-ts/src/*.ts')
      ;;
    --tests) export RUSTDHT_MUTATION_TESTS=${2:?--tests needs a comma-separated list of test files}; shift ;;
    --timeoutMS) options+=(--timeoutMS "${2:?--timeoutMS needs a number of milliseconds}"); shift ;;
    --disableBail) options+=(--disableBail) ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "[rustdht] unknown option $1 (see --help)" >&2; exit 64 ;;
    *) files+=("$1") ;;
  esac
  shift
done
[ ${#files[@]} -ne 0 ] || { echo "[rustdht] nothing to mutate: name files (e.g. sdk-ts/src/outbox.ts) or --diff REV" >&2; exit 64; }
mutate=$(IFS=,; echo "${files[*]}")
echo "[rustdht] stryker run ${options[*]}${options[*]:+ }--mutate $mutate${RUSTDHT_MUTATION_TESTS:+ (tests: $RUSTDHT_MUTATION_TESTS)}"
start=$SECONDS
node_modules/.bin/stryker run "${options[@]}" --mutate "$mutate"
echo "[rustdht] done in $((SECONDS - start)) s; report: target/stryker/mutation.html"
