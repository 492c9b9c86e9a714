#!/usr/bin/env bash
# What a bound service costs a step: the time from the start of a step that binds a
# busybox `httpd` service to the step's command starting (tanto starts the service, waits
# until its port accepts connections, then runs the step), against the same by hand in
# one script: `docker network create`, `docker run -d` of the same service, a shell wait
# loop until its port accepts connections (bash's /dev/tcp, what `until nc -z` does), and
# `docker run` of the step. Both ends are read on one clock, /proc/uptime, which the
# step's command prints as it starts; tanto's start is the moment its `started` progress
# event arrives. Reports medians and the ratio tanto / script.
# Usage: benches/services.sh [RUNS]; TANTO=path/to/tanto uses that binary (default: a
# release build); the test guest services.wasm must be built (the test suite builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
runs=${1:-5}

if [ -z "${TANTO:-}" ]; then
  cargo build --release -p tanto --quiet
  TANTO=$PWD/target/release/tanto
fi
guest=$(ls tests/guests/target/wasm32-wasip2/*/services.wasm 2>/dev/null | head -1)
[ -n "$guest" ] || { echo "the test guest services.wasm is missing: build the tests (cargo test -p tanto-tests --no-run)" >&2; exit 1; }
scripts/make-busybox-image busybox:latest
work=$(mktemp -d)
export TANTO_CACHE_DIR=$work/cache
tag="bench-services-$$"
trap 'docker rm -f "$tag-web" >/dev/null 2>&1 || true; docker network rm "$tag" >/dev/null 2>&1 || true; "$TANTO" cache prune --all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

uptime_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }

# tanto: the step's `started` event, stamped on arrival, to the uptime its command prints.
tanto_run() {
  local page=$1 started ran
  # stderr (the progress) through the stamper, stdout (the step's output) to a file; the
  # pipeline ends when both have.
  "$TANTO" --progress=json call -m "$guest" timed --page="$page" 2>&1 >"$work/out" |
    perl -ne 'if (/"event":"started"/ && !$seen++) { open my $u, "<", "/proc/uptime"; my ($t) = split " ", <$u>; printf "%d\n", $t * 1000; }' >"$work/started"
  started=$(head -1 "$work/started")
  ran=$(head -1 "$work/out" | awk '{ printf "%d", $1 * 1000 }')
  [ -n "$started" ] && [ -n "$ran" ] || { echo "tanto printed no step start" >&2; exit 1; }
  echo $((ran - started))
}

# The same by hand: network, service, wait loop, step.
script_run() {
  local page=$1 started ran ip out
  started=$(uptime_ms)
  docker network create "$tag" >/dev/null
  docker run -d --name "$tag-web" --network "$tag" --network-alias web busybox:latest \
    sh -c "mkdir -p /www && echo '$page' > /www/index.html && exec httpd -f -p 80 -h /www" >/dev/null
  ip=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$tag\").IPAddress}}" "$tag-web")
  until (exec 3<>"/dev/tcp/$ip/80") 2>/dev/null; do sleep 0.01; done
  out=$(docker run --rm --network "$tag" busybox:latest sh -c "cut -d' ' -f1 /proc/uptime; wget -qO- http://web/index.html")
  ran=$(echo "$out" | head -1 | awk '{ printf "%d", $1 * 1000 }')
  docker rm -f "$tag-web" >/dev/null
  docker network rm "$tag" >/dev/null
  echo $((ran - started))
}

declare -a tanto script
for run in $(seq "$runs"); do
  # A new page each time: a new service, so the step is never answered from the cache.
  tanto+=("$(tanto_run "page-$$-$run-$RANDOM")")
  script+=("$(script_run "page-$$-$run-$RANDOM")")
done
t=$(median "${tanto[@]}"); s=$(median "${script[@]}")
echo "from the start of a step that binds an httpd service to the step's command starting, median of $runs runs:"
printf '  %-44s %6s ms   (%s)\n' "tanto (service started by the engine)" "$t" "${tanto[*]}"
printf '  %-44s %6s ms   (%s)\n' "docker run -d + wait loop + docker run" "$s" "${script[*]}"
echo "  ratio tanto / script: $(ratio "$t" "$s")"
