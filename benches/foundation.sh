#!/usr/bin/env bash
# Measures the foundation: `tanto call hello` cold (first build + compile) and warm, the
# wasmtime instantiate time from the compiled cache, and a 3-step `with-exec` pipeline
# against the same three `docker run` commands in a shell script. Prints medians and the
# tanto/docker ratio. Usage: benches/foundation.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
runs=${1:-5}

cargo build --release -p tanto --quiet
tanto=$PWD/target/release/tanto
scripts/make-busybox-image busybox:latest
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A copy of modules/hello outside the repository's target folder, so "cold" includes the
# cargo build of the module (dependencies already fetched) and the wasmtime compile.
cold=()
for run in $(seq "$runs"); do
  rm -rf "$work/hello" "$work/cache"
  cp -r modules/hello "$work/hello"
  sed -i "s|path = \"../../guest-sdk\"|path = \"$PWD/guest-sdk\"|" "$work/hello/Cargo.toml"
  printf '[workspace]\n' >> "$work/hello/Cargo.toml"
  cold+=("$(cd "$work/hello" && TANTO_CACHE_DIR=$work/cache time_ms "$tanto" --progress=quiet call hello --name="cold-$run")")
done
# Warm: module built, component compiled, step cached.
warm=()
for run in $(seq "$runs"); do
  warm+=("$(cd "$work/hello" && TANTO_CACHE_DIR=$work/cache time_ms "$tanto" --progress=quiet call hello --name=cold-1)")
done
# Warm but uncached step: the same, with a new argument each time (one container runs).
warm_step=()
for run in $(seq "$runs"); do
  warm_step+=("$(cd "$work/hello" && TANTO_CACHE_DIR=$work/cache time_ms "$tanto" --progress=quiet call hello --name="warm-$run-$RANDOM")")
done

# The 3-step pipeline, uncached (a new nonce per run), against three docker runs.
(cd benches/module && TANTO_CACHE_DIR=$work/cache "$tanto" --progress=quiet call three-steps --nonce=warmup >/dev/null)
pipeline=()
docker_runs=()
cat > "$work/three.sh" <<'SCRIPT'
#!/bin/sh
set -e
docker run --rm busybox:latest sh -c "echo one $1 > /one"
docker run --rm busybox:latest sh -c "echo two $1 > /two"
docker run --rm busybox:latest sh -c "echo one $1; echo two $1"
SCRIPT
chmod +x "$work/three.sh"
for run in $(seq "$runs"); do
  nonce="run-$run-$RANDOM"
  pipeline+=("$(cd benches/module && TANTO_CACHE_DIR=$work/cache time_ms "$tanto" --progress=quiet call three-steps --nonce="$nonce")")
  docker_runs+=("$(time_ms "$work/three.sh" "$nonce")")
done

instantiate=$(TANTO_BENCH_COMPONENT="$work/hello/target/wasm32-wasip2/release/hello.wasm" cargo bench -p tanto --bench instantiate --quiet 2>/dev/null | grep -E '^(compile|load|instantiate)' | sed 's/^/  /' || true)

echo
echo "foundation benchmark, median of $runs runs ($(nproc) cores)"
echo "  tanto call hello, cold (cargo build + compile + run):  $(median "${cold[@]}") ms"
echo "  tanto call hello, warm, step cached:                   $(median "${warm[@]}") ms"
echo "  tanto call hello, warm, step runs (1 container):       $(median "${warm_step[@]}") ms"
echo "${instantiate:-  (cargo bench -p tanto --bench instantiate failed)}"
p=$(median "${pipeline[@]}"); d=$(median "${docker_runs[@]}")
echo "  3-step with-exec pipeline (tanto call, uncached):      $p ms"
echo "  the same 3 commands as docker run (shell script):      $d ms"
echo "  ratio tanto / docker run:                              $(ratio "$p" "$d")"
