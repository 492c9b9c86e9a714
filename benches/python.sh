#!/usr/bin/env bash
# A Python module against the same Rust module, both as `tanto init` writes them, timed in
# one script: the first build (componentize-py against cargo), the first call after it
# (which compiles the component: 18 MB of Python against ~0.1 MB of Rust), and a fully
# cached `tanto call container-echo --text=hi stdout` (the component loaded from the
# compiled cache, the step from the step cache). Reports medians and Python/Rust ratios;
# the cached Python call must stay under 100 ms. Usage: benches/python.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
runs=${1:-10}

cargo build --release -p tanto --quiet
tanto=$PWD/target/release/tanto
scripts/make-busybox-image busybox:latest
work=$(mktemp -d)
export TANTO_CACHE_DIR=$work/cache
trap '"$tanto" cache prune --all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

(cd "$work" && "$tanto" --progress=quiet init rust-module --sdk=rust && "$tanto" --progress=quiet init python-module --sdk=python) 2>/dev/null
call() { (cd "$work/$1-module" && "$tanto" --progress=quiet call container-echo --text=hi stdout); }
build() { (cd "$work/$1-module" && "$tanto" --progress=quiet functions >/dev/null); }

# First build, then the first call (the compile), once each: they are minutes, not noise.
rust_build=$(time_ms build rust)
python_build=$(time_ms build python)
# `functions` compiled the component already: drop the compiled copies to time a compile.
rm -rf "$TANTO_CACHE_DIR/components"
rust_compile=$(time_ms call rust)
python_compile=$(time_ms call python)

declare -a rust_cached python_cached
for _ in $(seq "$runs"); do
  rust_cached+=("$(time_ms call rust)")
  python_cached+=("$(time_ms call python)")
done
rust_median=$(median "${rust_cached[@]}")
python_median=$(median "${python_cached[@]}")

echo "Python module against the same Rust module (tanto init), $runs cached runs:"
printf '  %-38s Python %7s ms   Rust %7s ms   ratio %s\n' "first build (componentize-py / cargo)" "$python_build" "$rust_build" "$(ratio "$python_build" "$rust_build")"
printf '  %-38s Python %7s ms   Rust %7s ms   ratio %s\n' "first call (compiles the component)" "$python_compile" "$rust_compile" "$(ratio "$python_compile" "$rust_compile")"
printf '  %-38s Python %7s ms   Rust %7s ms   ratio %s\n' "cached call (median)" "$python_median" "$rust_median" "$(ratio "$python_median" "$rust_median")"
printf '  component size: Python %s bytes, compiled %s bytes\n' \
  "$(stat -c %s "$TANTO_CACHE_DIR"/builds/*-python.wasm)" "$(du -cb "$TANTO_CACHE_DIR"/components/*.cwasm | tail -n1 | cut -f1)"
if awk -v t="$python_median" 'BEGIN { exit !(t >= 100) }'; then
  echo "error: a cached call of the Python module took $python_median ms (the bar is 100 ms)" >&2
  exit 1
fi
