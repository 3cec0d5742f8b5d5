#!/usr/bin/env bash
# `npm test`: bootstrap (including Chromium), then every test suite in order, stopping
# at the first failure:
#   1. the Rust engine, natively: cargo test --release (unit + property tests)
#   2. the TypeScript SDK: type check, then vitest (unit and conformance tests, and the
#      packaging test on the packed tarball)
#   3. the browser tests: Playwright + system Chromium (playwright.config.ts at the top
#      level): the SDK's pages (project sdk) and the demo page (project demo)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# A supported Node LTS first in PATH for everything below (fetched once when needed).
source scripts/node-env.sh

log() { printf '[rustdht] %s\n' "$*"; }
current_step="bootstrap"
started=$SECONDS
trap 'status=$?; if [ $status -ne 0 ]; then printf "\n[rustdht] FAILED: %s (exit %s). The output above says why.\n" "$current_step" "$status" >&2; fi' EXIT

bash scripts/bootstrap.sh --browser
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# --- 1. engine ------------------------------------------------------------------------
# Native tests run on the default cargo (rustup's pinned toolchain when present,
# otherwise Debian's /usr/bin/cargo).
current_step="engine tests (cargo test --release -p rustdht-core)"
cargo_bin=$(command -v cargo || echo /usr/bin/cargo)
log "1/3 engine: cargo test --release -p rustdht-core ($("$cargo_bin" --version), $cargo_bin)"
mkdir -p target/test-logs
cargo_log=target/test-logs/cargo-test.log
step_start=$SECONDS
"$cargo_bin" test --release -p rustdht-core 2>&1 | tee "$cargo_log"
# One line per test binary: unit tests in src/, each tests/*.rs file, doc-tests. Suites
# whose sources use proptest are marked: each of their tests runs hundreds of cases.
prop_sources=$(grep -rl 'proptest!' core-rs/src core-rs/tests 2>/dev/null | tr '\n' ' ' || true)
awk -v prop_sources="$prop_sources" '
  function mark(name, source) { return index(prop_sources, source) ? name " [proptest]" : name }
  /^ *Running unittests/ { suite = mark("unit tests (src/)", "core-rs/src/") }
  /^ *Running tests\//   { suite = mark($2, "core-rs/" $2) }
  /^ *Doc-tests/         { suite = "doc-tests" }
  /^test result:/ {
    for (i = 1; i <= NF; i++) if ($(i) ~ /^(passed|failed|ignored);?$/) n[$(i)] = $(i-1)
    printf "[rustdht]     %-40s %s passed, %s failed, %s ignored\n", suite, n["passed;"], n["failed;"], n["ignored;"]
    total += n["passed;"]
  }
  END { printf "[rustdht]     %-40s %d passed\n", "total", total }
' "$cargo_log"
log "1/3 engine: ok ($((SECONDS - step_start)) s)"

# --- 2. SDK ---------------------------------------------------------------------------
current_step="SDK type check (tsc -p sdk-ts/tsconfig.json: sources, tests, configs)"
log "2/3 SDK: type check (sources, tests, configs), then vitest (unit, conformance, packaging tests)"
step_start=$SECONDS
node_modules/.bin/tsc -p sdk-ts/tsconfig.json
# The demo's Playwright tests and the top-level playwright.config.ts (the page itself is
# checked when bootstrap builds it).
node_modules/.bin/tsc -p demo/test/tsconfig.json
current_step="SDK tests (vitest: sdk-ts/test/**/*.test.ts)"
(cd sdk-ts && ../node_modules/.bin/vitest run)
log "2/3 SDK: ok ($((SECONDS - step_start)) s)"

# --- 3. browser -----------------------------------------------------------------------
current_step="browser tests (Playwright + Chromium: sdk-ts/test/browser, demo/test)"
log "3/3 browser: Playwright in ${RUSTDHT_CHROMIUM:-/usr/bin/chromium} (projects sdk and demo)"
step_start=$SECONDS
node_modules/.bin/playwright test
log "3/3 browser: ok ($((SECONDS - step_start)) s); screenshots in test-results/, report in playwright-report/"

current_step="done"
log "all tests passed in $((SECONDS - started)) s"
