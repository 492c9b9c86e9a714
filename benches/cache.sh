#!/usr/bin/env bash
# The same pipeline two ways, timed in one script: tanto (benches/module `build`: a
# toolchain step, the source copied in, N steps that read it) against `docker build` of
# the equivalent Dockerfile with BuildKit (Debian's docker client, DOCKER_BUILDKIT=1).
# Reports medians and tanto/BuildKit ratios for a cold run (every step runs again: `tanto
# call --no-cache` and `docker build --no-cache`, neither parsing its pipeline anew), a
# fully cached re-run and a re-run after changing one source file, and what a fully
# cached `tanto call` spends its time on. Usage: benches/cache.sh [RUNS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
require_buildkit_docker
runs=${1:-5}
steps=${2:-5}

cargo build --release -p tanto --quiet
tanto=$PWD/target/release/tanto
scripts/make-busybox-image busybox:latest
work=$(mktemp -d)
export TANTO_CACHE_DIR=$work/cache
trap 'TANTO_CACHE_DIR=$work/cache "$tanto" cache prune --all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

mkdir -p "$work/context/src"
for index in $(seq 20); do printf 'source file %s\n' "$index" > "$work/context/src/file$index.txt"; done
{
  echo "FROM busybox:latest"
  echo "RUN sleep 1 && echo toolchain > /toolchain"
  echo "COPY src/ /src/"
  echo "WORKDIR /src"
  for step in $(seq "$steps"); do echo "RUN cat /src/*.txt | wc -c > /step$step && sleep 0.2"; done
  echo 'RUN cat /step*'
} > "$work/context/Dockerfile"

tanto_run() { (cd benches/module && "$tanto" --progress=quiet call "$@" build --source="$work/context/src" --steps="$steps"); }
buildkit_run() { DOCKER_BUILDKIT=1 "$buildkit_docker" build -q -t tanto-bench-buildkit "$@" "$work/context"; }
# Cold without throwing anything away: the user's own BuildKit cache stays untouched.
tanto_cold_run() { tanto_run --no-cache; }
buildkit_cold_run() { buildkit_run --no-cache; }
touch_source() { printf 'changed %s\n' "$RANDOM$RANDOM" > "$work/context/src/file7.txt"; }

# Build the module once; warm both tools' binaries.
tanto_run >/dev/null
buildkit_run >/dev/null

declare -a tanto_cold buildkit_cold tanto_cached buildkit_cached tanto_changed buildkit_changed
for run in $(seq "$runs"); do
  tanto_cold+=("$(time_ms tanto_cold_run)")
  buildkit_cold+=("$(time_ms buildkit_cold_run)")
  tanto_cached+=("$(time_ms tanto_run)")
  buildkit_cached+=("$(time_ms buildkit_run)")
  touch_source
  tanto_changed+=("$(time_ms tanto_run)")
  buildkit_changed+=("$(time_ms buildkit_run)")
done
"$buildkit_docker" rmi -f tanto-bench-buildkit >/dev/null 2>&1 || true

report() {
  local name=$1 t b
  t=$(median "${@:2:$runs}"); b=$(median "${@:$((runs + 2))}")
  printf '  %-34s tanto %6s ms   BuildKit %6s ms   ratio %s\n' "$name" "$t" "$b" "$(ratio "$t" "$b")"
}
echo
echo "cache benchmark: $steps steps over a 20-file source, median of $runs runs ($(nproc) cores)"
report "cold run" "${tanto_cold[@]}" "${buildkit_cold[@]}"
report "fully cached re-run" "${tanto_cached[@]}" "${buildkit_cached[@]}"
report "re-run after changing one file" "${tanto_changed[@]}" "${buildkit_changed[@]}"

# Where a fully cached call spends its time.
echo "  fully cached tanto call, broken down (debug timings of one run):"
(cd benches/module && TANTO_LOG=tanto::timing=debug "$tanto" --progress=quiet call build --source="$work/context/src" --steps="$steps" 2>&1 >/dev/null | sed 's/^/    /' | grep -v '^ *$' || true)
