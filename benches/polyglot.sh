#!/usr/bin/env bash
# Measures the checksums module of modules/examples in Rust, JavaScript and C: the first
# build from source, the first call (the component compiled by wasmtime, the step run),
# and a cached call (compiled cache and step cache hits). Prints medians and each
# language's ratio to Rust. Usage: benches/polyglot.sh [RUNS] (run scripts/setup first)
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
runs=${1:-3}

cargo build --release -p tanto -p tanto-wasm-tools --quiet
tanto=$PWD/target/release/tanto
scripts/make-busybox-image busybox:latest
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/source/sub"
printf 'one\n' > "$work/source/a.txt"
printf 'two\n' > "$work/source/sub/b.txt"

# The Rust module outside the repository's target folders, so its first build is a cargo
# build of the module and the SDK (their crates already fetched), as a new module's is.
rust_build() {
  rm -rf "$work/rust"
  cp -r modules/examples/rust "$work/rust"
  sed -i "s|path = \"../../../guest-sdk\"|path = \"$PWD/guest-sdk\"|" "$work/rust/Cargo.toml"
  printf '[workspace]\n' >> "$work/rust/Cargo.toml"
  (cd "$work/rust" && cargo build --release --target wasm32-wasip2 --quiet)
}
javascript_build() { rm -rf modules/examples/javascript/build && (cd modules/examples/javascript && npm run --silent build); }
c_build() { rm -rf modules/examples/c/build && TANTO_WASM_TOOLS=$PWD/target/release/tanto-wasm-tools modules/examples/c/build.sh; }

declare -A component=(
  [rust]="$work/rust/target/wasm32-wasip2/release/checksums.wasm"
  [javascript]="$PWD/modules/examples/javascript/build/checksums.wasm"
  [c]="$PWD/modules/examples/c/build/checksums.wasm"
)
declare -A build first cached size
for language in rust javascript c; do
  b=() f=() k=()
  for run in $(seq "$runs"); do
    b+=("$(time_ms "${language}_build")")
    rm -rf "$work/cache"
    call=("$tanto" --progress=quiet call -m "${component[$language]}" checksums --source="$work/source")
    f+=("$(TANTO_CACHE_DIR=$work/cache time_ms "${call[@]}")")
    k+=("$(TANTO_CACHE_DIR=$work/cache time_ms "${call[@]}")")
  done
  build[$language]=$(median "${b[@]}") first[$language]=$(median "${f[@]}") cached[$language]=$(median "${k[@]}")
  size[$language]=$(stat -c %s "${component[$language]}")
done

echo
echo "polyglot benchmark: the checksums module, median of $runs runs ($(nproc) cores), ms (ratio to Rust)"
printf '  %-11s %12s %18s %18s %18s\n' language component "first build" "first call" "cached call"
for language in rust javascript c; do
  printf '  %-11s %9s KB %10s (%5s) %10s (%5s) %10s (%5s)\n' "$language" $((size[$language] / 1024)) \
    "${build[$language]}" "$(ratio "${build[$language]}" "${build[rust]}")" \
    "${first[$language]}" "$(ratio "${first[$language]}" "${first[rust]}")" \
    "${cached[$language]}" "$(ratio "${cached[$language]}" "${cached[rust]}")"
done
