#!/usr/bin/env bash
# Publishing a 50 MB image, two ways, timed in one script: `tanto call -m modules/ship
# publish` (its builds already cached, so what is timed is the process, the module and
# the push) against `docker push` of the very same image. Each run writes a new 50 MB
# payload, and each tool pushes to a registry of its own (Debian's docker-registry on
# 127.0.0.1), so neither finds layers the other uploaded. Reports medians and the
# tanto/docker ratio. Usage: benches/publish.sh [RUNS] [MEGABYTES]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
runs=${1:-5}
megabytes=${2:-50}

cargo build --release -p tanto --quiet
(cd modules && cargo build --release --target wasm32-wasip2 --quiet -p ship)
tanto=$PWD/target/release/tanto
scripts/make-busybox-image busybox:latest
work=$(mktemp -d)
export TANTO_CACHE_DIR=$work/cache
# No credentials are needed (the registries have no authentication), and the user's own
# are not read.
export DOCKER_CONFIG=$work/docker-config
mkdir -p "$DOCKER_CONFIG" && echo '{}' > "$DOCKER_CONFIG/config.json"
registry_pids=()
cleanup() {
  for pid in "${registry_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -E "^127\.0\.0\.1:[0-9]+/tanto-bench-publish:" | xargs -r docker image rm --no-prune >/dev/null 2>&1 || true
  "$tanto" cache prune --all >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# A registry on a free port, storing under $work; sets $registry_address. (Not run in a
# command substitution: the subshell would keep the pid the cleanup needs.)
start_registry() {
  local name=$1 port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$work/$name"
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$work/$name/storage" "$port" > "$work/$name/config.yml"
  /usr/bin/docker-registry serve "$work/$name/config.yml" >"$work/$name/log" 2>&1 &
  registry_pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
  registry_address="127.0.0.1:$port"
}
start_registry tanto-registry
tanto_registry=$registry_address
start_registry docker-registry
docker_registry=$registry_address

context=$work/context
mkdir -p "$context"
cat > "$context/Dockerfile" <<'DOCKERFILE'
FROM busybox:latest AS base
ARG VERSION
COPY payload.bin /app/payload.bin
FROM base AS test
ARG VERSION
RUN test -s /app/payload.bin && echo "payload ok $VERSION" > /test-report.txt
FROM base
CMD ["ls", "-l", "/app"]
DOCKERFILE

ship() { (cd modules/ship && "$tanto" --progress=quiet call "$@" --source="$context"); }

declare -a tanto_times docker_times
for run in $(seq "$runs"); do
  head -c "${megabytes}M" /dev/urandom > "$context/payload.bin"
  # Built (and tested) once, untimed: both tools push the same, already built image.
  ship test >/dev/null
  image=$(ship release --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["image"])')
  docker tag "$image" "$docker_registry/tanto-bench-publish:run$run"
  docker_push() { docker push "$docker_registry/tanto-bench-publish:run$run"; }
  tanto_publish() { ship publish --address="$tanto_registry/tanto-bench-publish:run$run"; }
  docker_times+=("$(time_ms docker_push)")
  tanto_times+=("$(time_ms tanto_publish)")
done

t=$(median "${tanto_times[@]}"); d=$(median "${docker_times[@]}")
echo "publish of a ${megabytes} MB image, median of $runs runs:"
printf '  tanto publish %6s ms   docker push %6s ms   ratio %s\n' "$t" "$d" "$(ratio "$t" "$d")"
echo "  tanto runs: ${tanto_times[*]}"
echo "  docker runs: ${docker_times[*]}"
