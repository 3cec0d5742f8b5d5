#!/usr/bin/env bash
# Brings a checkout to a runnable state: npm dependencies, the Rust→wasm32 toolchain,
# wasm-bindgen-cli at the exact version Cargo.lock pins, the WASM engine, the
# compiled TypeScript SDK and the demo page (demo/dist). Every step checks first and does nothing when its result is
# already present, so a second run takes seconds.
#
#   bash scripts/bootstrap.sh             # everything `npm start` / `npm run bench` need
#   bash scripts/bootstrap.sh --browser   # ... plus Chromium for the browser tests
#
# Only the npm, crates.io and Debian registries are used: no `rustup target add`, no
# Playwright browser download, no binaries from anywhere else.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$PWD

log() { printf '[rustdht] %s\n' "$*"; }
die() { printf '[rustdht] ERROR: %s\n' "$*" >&2; exit 1; }

want_browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    *) die "unknown option '$arg' (known: --browser)" ;;
  esac
done

# cargo-installed tools (wasm-bindgen) live here; a fresh shell may not have it in PATH.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# ---------------------------------------------------------------------------------------
# Debian packages. `apt-get update` runs at most once per bootstrap, and only when
# something actually has to be installed.
apt_updated=0
apt_install() {
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 \
      || die "need root (or sudo) to run: apt-get install -y $*"
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 \
    || die "apt-get not found: install these Debian packages (or equivalents) by hand: $*"
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update…"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -q >/dev/null \
      || die "apt-get update failed"
    apt_updated=1
  fi
  log "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "$@" >/dev/null \
    || die "apt-get install -y $* failed"
}

# ---------------------------------------------------------------------------------------
# Node itself: a supported LTS (>= 22), fetched from the npm registry when the
# machine's is older (scripts/node-env.sh; the npm entry points source it first too).
source scripts/node-env.sh
log "node $(node --version) ($(command -v node)), npm $(npm --version)"

# ---------------------------------------------------------------------------------------
# npm dependencies: `npm ci` whenever node_modules is missing or was installed from a
# different package-lock.json than the one checked out.
[ -f package-lock.json ] || die "package-lock.json is missing: run 'npm install' once to create it, and commit it"
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
npm_stamp=node_modules/.rustdht-package-lock.sha256
if [ ! -d node_modules ] || [ "$(cat "$npm_stamp" 2>/dev/null)" != "$lock_hash" ]; then
  log "installing npm dependencies (npm ci)…"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > "$npm_stamp"
else
  log "npm dependencies: up to date"
fi

# ---------------------------------------------------------------------------------------
# A C toolchain: cargo links build scripts and host tools with `cc`.
if ! command -v cc >/dev/null 2>&1; then
  log "no C compiler found (cargo needs 'cc' to link build scripts)"
  apt_install gcc libc6-dev
fi

# ---------------------------------------------------------------------------------------
# The Rust→wasm32 toolchain. If rustup has the wasm32 target, use it. Otherwise use
# Debian's rustc-web, whose standard library sources let cargo build std for wasm32
# (-Zbuild-std); its linker is rust-lld from lld-22.
if command -v rustup >/dev/null 2>&1 \
  && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  export RUSTDHT_WASM_ROUTE=rustup
  log "wasm toolchain: rustup $(rustc --version | cut -d' ' -f2) with its wasm32-unknown-unknown target"
else
  debian_toolchain_ok() {
    [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] && command -v rust-lld >/dev/null 2>&1 \
      && [ -d "$(/usr/bin/rustc --print sysroot 2>/dev/null)/lib/rustlib/src/rust/library/std" ]
  }
  if ! debian_toolchain_ok; then
    log "wasm toolchain missing: installing Debian's rustc-web, cargo-web, rust-web-src, lld-22"
    apt_install rustc-web cargo-web rust-web-src lld-22
    debian_toolchain_ok || die "Debian rustc-web is installed but /usr/bin/rustc, rust-lld or the std sources are still missing"
  fi
  export RUSTDHT_WASM_ROUTE=debian
  log "wasm toolchain: Debian rustc-web $(/usr/bin/rustc --version | cut -d' ' -f2) + build-std"
fi

# ---------------------------------------------------------------------------------------
# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly: the CLI and
# the crate agree on a private ABI that changes between patch releases.
wb_want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$wb_want" ] || die "no wasm-bindgen entry in Cargo.lock"
wb_have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$wb_have" != "$wb_want" ]; then
  installer_cargo=cargo
  command -v cargo >/dev/null 2>&1 || installer_cargo=/usr/bin/cargo
  log "installing wasm-bindgen-cli $wb_want (have: ${wb_have:-none}); cargo install takes a few minutes…"
  if ! "$installer_cargo" install --quiet --locked wasm-bindgen-cli --version "$wb_want"; then
    # The CLI's published lockfile can pin a crate version the registry no longer
    # serves (yanked). Resolving afresh within its semver ranges is the only way out.
    log "cargo install --locked failed (see above); retrying with fresh dependency resolution"
    "$installer_cargo" install --quiet wasm-bindgen-cli --version "$wb_want" \
      || die "could not install wasm-bindgen-cli $wb_want"
  fi
  wb_have=$(wasm-bindgen --version | awk '{ print $2 }')
  [ "$wb_have" = "$wb_want" ] || die "wasm-bindgen is $wb_have after install, expected $wb_want (is another wasm-bindgen earlier in PATH? $(command -v wasm-bindgen))"
else
  log "wasm-bindgen-cli $wb_have: matches Cargo.lock"
fi

# ---------------------------------------------------------------------------------------
# The engine (skips itself when core-rs/ and the lockfiles are unchanged).
node scripts/build-wasm.mjs

# ---------------------------------------------------------------------------------------
# The TypeScript SDK. dist/ is rebuilt from scratch so files whose source was deleted
# cannot linger in the package.
log "compiling TypeScript (sdk-ts/src → sdk-ts/dist)…"
rm -rf sdk-ts/dist
node_modules/.bin/tsc -p sdk-ts/tsconfig.build.json \
  || die "TypeScript build failed (see errors above)"
chmod 755 sdk-ts/dist/cli/main.js
# The `rustdht` bin, so `npx rustdht …` works from the repository root as it does in an
# app that installed the package. npm links workspace bins at install time only if the
# file existed then; dist/ is built after `npm ci`.
if [ ! -e node_modules/.bin/rustdht ]; then
  mkdir -p node_modules/.bin
  ln -sf ../rustdht/dist/cli/main.js node_modules/.bin/rustdht
fi

# ---------------------------------------------------------------------------------------
# The demo page (demo/ → demo/dist, served by `rustdht serve --demo demo/dist`): a type
# check and a Vite build, skipped when neither the demo nor what it bundles (the SDK's
# sources, the engine's bundler build, the lockfile) changed since the last build.
demo_stamp=target/demo-build.sha256
demo_hash=$(find demo/src demo/index.html demo/vite.config.ts demo/tsconfig.json demo/package.json \
    sdk-ts/src sdk-ts/pkg/bundler package-lock.json -type f -print0 2>/dev/null \
  | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ -f demo/dist/index.html ] && [ "$(cat "$demo_stamp" 2>/dev/null)" = "$demo_hash" ]; then
  log "demo page: up to date (demo/dist)"
else
  log "building the demo page (demo/ → demo/dist: tsc, vite build)…"
  (cd demo && ../node_modules/.bin/tsc -p tsconfig.json && ../node_modules/.bin/vite build --logLevel warn) \
    || die "demo build failed (see errors above)"
  mkdir -p target
  echo "$demo_hash" > "$demo_stamp"
fi

# ---------------------------------------------------------------------------------------
if [ "$want_browser" = 1 ]; then
  chromium_path=${RUSTDHT_CHROMIUM:-/usr/bin/chromium}
  if [ ! -x "$chromium_path" ]; then
    log "Chromium not found at $chromium_path: installing Debian's chromium"
    apt_install chromium
    [ -x "$chromium_path" ] || die "chromium installed but $chromium_path is still missing"
  fi
  log "browser: $("$chromium_path" --version 2>/dev/null | tail -n1)"
fi

log "bootstrap done ($REPO_ROOT)"
