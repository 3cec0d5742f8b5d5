#!/usr/bin/env bash
# Mutation testing of the engine (core-rs) with cargo-mutants: each mutant is a small
# change to the code (a flipped condition, a replaced return value…); a mutant the
# tests do not catch ("missed") is a hole in the tests, or an equivalent change.
#
#   bash scripts/mutation/rust.sh namespace codec      # these modules (core-rs/src/<name>.rs)
#   bash scripts/mutation/rust.sh --diff main          # only the lines changed since main
#   bash scripts/mutation/rust.sh --list namespace     # list the mutants, run nothing
#
# Too slow for every CI run on two cores (each mutant rebuilds incrementally and runs
# the native tests: ~3–5 s each); run it on the module or diff you changed. Results:
# target/mutants/<name>/mutants.out/ (caught.txt, missed.txt, timeout.txt, unviable.txt).
# cargo-mutants is installed from crates.io on first use.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if ! command -v cargo-mutants >/dev/null 2>&1; then
  echo "[rustdht] installing cargo-mutants (cargo install --locked cargo-mutants; a few minutes)…"
  cargo install --locked cargo-mutants
fi

list=()
files=()
diff_base=""
while [ $# -gt 0 ]; do
  case "$1" in
    --list) list=(--list) ;;
    --diff) diff_base=${2:?--diff needs a git revision}; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) files+=(--file "core-rs/src/$1.rs") ;;
  esac
  shift
done

# The release profile's fat LTO and single codegen unit make every mutant a ~50 s
# rebuild; the tests run optimised either way, so mutants get a fast incremental
# release build (~3.5 s each: codec.rs's 85 mutants in ~10 min instead of ~75).
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_INCREMENTAL=true

name=all
args=(--package rustdht-core --jobs 1 --timeout-multiplier 3 -- --release)
if [ -n "$diff_base" ]; then
  name="diff-$(echo "$diff_base" | tr -c 'a-zA-Z0-9' '-')"
  git diff "$diff_base" -- core-rs > "target/mutants-$name.diff"
  args=(--in-diff "target/mutants-$name.diff" "${args[@]}")
elif [ ${#files[@]} -ne 0 ]; then
  name=$(printf '%s\n' "${files[@]}" | grep -v -- --file | xargs -n1 basename | sed 's/\.rs$//' | paste -sd- -)
  args=("${files[@]}" "${args[@]}")
fi
mkdir -p "target/mutants/$name"
echo "[rustdht] cargo mutants ${args[*]} ${list[*]}"
start=$SECONDS
status=0
cargo mutants "${list[@]}" --output "target/mutants/$name" "${args[@]}" || status=$?
[ ${#list[@]} -ne 0 ] && exit $status
out="target/mutants/$name/mutants.out"
count() { [ -f "$out/$1.txt" ] && wc -l < "$out/$1.txt" || echo 0; }
caught=$(count caught); missed=$(count missed); timeout=$(count timeout); unviable=$(count unviable)
viable=$((caught + missed + timeout))
score=$(awk -v c="$caught" -v t="$timeout" -v v="$viable" 'BEGIN { if (v > 0) printf "%.1f", 100 * (c + t) / v; else print "n/a" }')
echo "[rustdht] $name: caught $caught, missed $missed, timeout $timeout, unviable $unviable: score ${score}% in $((SECONDS - start)) s"
[ "$missed" -gt 0 ] && { echo "[rustdht] missed (add a test, or name it equivalent):"; cat "$out/missed.txt"; }
# cargo-mutants exits 2 when mutants were missed: the score above is the result.
[ "$status" -eq 2 ] && exit 0
exit $status
