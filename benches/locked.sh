#!/usr/bin/env bash
# How long a `locked` cache volume is held: BRANCHES steps in parallel, each mounting the
# same locked volume while it sleeps a second and writes MEGABYTES MB into its snapshot
# (benches/module `locked-fan-out`, new every run), against the same with BuildKit
# (`RUN --mount=type=cache,sharing=locked` in one stage per branch). The steps run one at
# a time either way; what differs is whether a step's snapshot is made while it holds the
# volume. Reports medians and tanto/BuildKit ratios; with TANTO_BEFORE=path/to/tanto,
# that binary is timed too, in the same runs.
# Usage: benches/locked.sh [RUNS] [BRANCHES] [MEGABYTES]; TANTO=path/to/tanto uses that
# binary (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
require_buildkit_docker
runs=${1:-5}
branches=${2:-4}
megabytes=${3:-100}

if [ -z "${TANTO:-}" ]; then
  cargo build --release -p tanto --quiet
  TANTO=$PWD/target/release/tanto
fi
scripts/make-busybox-image busybox:latest
work=$(mktemp -d)
export TANTO_CACHE_DIR=$work/cache
tag="tanto-bench-locked-$$"
trap '"$buildkit_docker" rmi -f "$tag" >/dev/null 2>&1 || true; "$TANTO" cache prune --all --volumes >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

mkdir -p "$work/context"
{
  for branch in $(seq 0 $((branches - 1))); do
    echo "FROM busybox:latest AS branch$branch"
    echo "ARG NONCE"
    echo "RUN --mount=type=cache,target=/cache,sharing=locked sh -c 'sleep 1 && head -c ${megabytes}000000 /dev/urandom > /data && echo $branch \$0 > /done' \"\$NONCE\""
  done
  echo "FROM busybox:latest"
  for branch in $(seq 0 $((branches - 1))); do echo "COPY --from=branch$branch /done /done$branch"; done
  echo 'RUN cat /done*'
} >"$work/context/Dockerfile"

tanto_with() { (cd benches/module && "$1" --progress=quiet call locked-fan-out --branches="$branches" --megabytes="$megabytes" --nonce="$nonce"); }
tanto_run() { tanto_with "$TANTO"; }
before_run() { tanto_with "$TANTO_BEFORE"; }
buildkit_run() { DOCKER_BUILDKIT=1 "$buildkit_docker" build -q -t "$tag" --build-arg NONCE="$nonce" "$work/context"; }

tools=(tanto buildkit)
[ -n "${TANTO_BEFORE:-}" ] && tools+=(before)
# Build the module once; warm both tools' binaries.
nonce=warm-$$
for tool in "${tools[@]}"; do "${tool}_run" >/dev/null; done

declare -A times
for run in $(seq "$runs"); do
  # Which tool goes first turns with each run.
  order=("${tools[@]:$((run % ${#tools[@]}))}" "${tools[@]:0:$((run % ${#tools[@]}))}")
  for tool in "${order[@]}"; do
    nonce=$tool-$run-$$-$RANDOM
    times[$tool]+="$(time_ms "${tool}_run") "
  done
done

echo
echo "locked-volume benchmark: $branches branches of 1 s + $megabytes MB, median of $runs runs ($(nproc) cores)"
# shellcheck disable=SC2086
buildkit=$(median ${times[buildkit]})
for tool in "${tools[@]}"; do
  [ "$tool" = buildkit ] && continue
  # shellcheck disable=SC2086
  t=$(median ${times[$tool]})
  printf '  %-8s %7s ms   BuildKit %7s ms   ratio %s\n' "$tool" "$t" "$buildkit" "$(ratio "$t" "$buildkit")"
done
