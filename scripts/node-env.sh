# Sourced (not run) by the npm entry points (start, test, build, bench): makes sure the
# `node` in PATH is a supported LTS, so everything after — npm ci, the build, the tests,
# the server — runs on it. Node 20 is past end of life and several dependencies need
# Node >= 22 (see sdk-ts/package.json "engines").
#
# When the machine's Node is outside that range (older than 22.13, or 23/25), Node RUSTDHT_NODE_VERSION (an LTS) is
# fetched once from the npm registry — the official binaries published as the npm
# package node-linux-<arch> — into .tools/ and put first in PATH. Nothing is downloaded
# from anywhere else; the machine's npm keeps working (it is plain JavaScript).

RUSTDHT_NODE_VERSION=${RUSTDHT_NODE_VERSION:-24.22.3}

rustdht_node_env() {
  local root supported arch dir tmp machine
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  command -v node >/dev/null 2>&1 \
    || { printf '[rustdht] ERROR: Node.js not found: install Node 24 LTS (npm comes with it)\n' >&2; return 1; }
  # The range of sdk-ts/package.json "engines": ^22.13 || ^24.3 || >= 26.
  supported=$(node -p 'const [a, b] = process.versions.node.split(".").map(Number); (a === 22 && b >= 13) || (a === 24 && b >= 3) || a >= 26')
  [ "$supported" = true ] && return 0
  machine=$(node --version)

  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) arch=x64 ;;
    Linux-aarch64) arch=arm64 ;;
    *)
      printf '[rustdht] ERROR: Node %s is not supported (RustDHT needs ^22.13, ^24.3 or >= 26) and no Node binary is known for %s: install Node 24 LTS\n' \
        "$(node --version)" "$(uname -sm)" >&2
      return 1 ;;
  esac
  dir="$root/.tools/node-v$RUSTDHT_NODE_VERSION-linux-$arch"
  if [ ! -x "$dir/bin/node" ]; then
    printf '[rustdht] Node %s is not supported: fetching Node %s (npm package node-linux-%s, ~50 MB) into .tools/…\n' \
      "$machine" "$RUSTDHT_NODE_VERSION" "$arch"
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && npm pack "node-linux-$arch@$RUSTDHT_NODE_VERSION" --silent >/dev/null); then
      rm -rf "$tmp"
      printf '[rustdht] ERROR: could not fetch node-linux-%s@%s from the npm registry\n' "$arch" "$RUSTDHT_NODE_VERSION" >&2
      return 1
    fi
    mkdir -p "$dir.partial"
    tar -xzf "$tmp"/node-linux-*.tgz -C "$dir.partial" --strip-components=1
    rm -rf "$tmp" "$dir"
    mv "$dir.partial" "$dir"
  fi
  export PATH="$dir/bin:$PATH"
  printf '[rustdht] node: %s from .tools/ (the machine has %s)\n' "$(node --version)" "$machine"
}

rustdht_node_env || exit 1
