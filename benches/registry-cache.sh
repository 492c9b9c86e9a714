#!/usr/bin/env bash
# The shared registry cache, timed in one script: a 5-step pipeline (benches/module
# `build --steps=3`: a toolchain step, the source copied in, three steps reading it, a
# final step) is pushed from the machine's daemon to Debian's docker-registry on
# 127.0.0.1, then run on a second, empty dockerd (its own roots and bridge) two ways:
# cold (every step runs) and with `--cache-from` (every step pulled from the registry).
# Both start from an empty local cache and a daemon holding only busybox. Reports the
# medians and the registry/cold ratio. Usage: benches/registry-cache.sh [RUNS]
# (TANTO_BIN=path uses that tanto instead of building the release binary).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
runs=${1:-5}

if [ -z "${TANTO_BIN:-}" ]; then
  cargo build --release -p tanto --quiet
  TANTO_BIN=$PWD/target/release/tanto
fi
tanto=$TANTO_BIN
scripts/make-busybox-image busybox:latest
work=$(mktemp -d /tmp/tanto-bench-registry.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bridge=tb$$
bridge=${bridge:0:15}
subnet=$((150 + $$ % 40))
host_b=unix://$work/b/docker.sock
registry_pid= daemon_pid=
cleanup() {
  TANTO_CACHE_DIR=$work/cache-a "$tanto" cache prune --all >/dev/null 2>&1 || true
  docker images --filter "reference=127.0.0.1:$port/*" -q | sort -u | xargs -r docker rmi -f >/dev/null 2>&1 || true
  if [ -n "$daemon_pid" ]; then
    docker -H "$host_b" ps -aq | xargs -r docker -H "$host_b" rm -f >/dev/null 2>&1 || true
    kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true
  fi
  [ -n "$registry_pid" ] && { kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; }
  ip link delete "$bridge" 2>/dev/null || true
  grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The registry.
mkdir -p "$work/registry"
printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$work/registry" "$port" > "$work/registry.yml"
/usr/bin/docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
registry_pid=$!

# Daemon B: its own roots, socket and bridge (never --bridge=none: it deletes docker0).
ip link add "$bridge" type bridge
ip addr add "192.168.$subnet.1/24" dev "$bridge"
ip link set "$bridge" up
mkdir -p "$work/b"
dockerd --data-root="$work/b/data" --exec-root="$work/b/exec" --pidfile="$work/b/dockerd.pid" --host="$host_b" \
  --bridge="$bridge" --iptables=false --ip-masq=false > "$work/b/dockerd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 300); do docker -H "$host_b" version >/dev/null 2>&1 && break; sleep 0.2; done
docker save busybox:latest | docker -H "$host_b" load >/dev/null

mkdir -p "$work/src"
for index in $(seq 20); do printf 'source file %s\n' "$index" > "$work/src/file$index.txt"; done
location=registry://127.0.0.1:$port/bench/cache
call() { (cd benches/module && "$tanto" --progress=quiet call "$@" build --source="$work/src" --steps=3); }

# Build the module once and fill the registry from the machine's daemon.
TANTO_CACHE_DIR=$work/cache-a call --cache-to "$location" >/dev/null

# Daemon B back to holding only busybox, and an empty local cache.
# The daemon is this script's own: every image but busybox goes. The compiled module
# stays (it is not a step); the step records and extracted trees go.
reset_b() {
  local keep
  keep=$(docker -H "$host_b" image inspect -f '{{.Id}}' busybox:latest)
  docker -H "$host_b" images -a --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}' | while read -r id name; do
    if [ "$id" != "$keep" ]; then
      if [ "$name" = "<none>:<none>" ]; then echo "$id"; else echo "$name"; fi
    fi
  done | xargs -r docker -H "$host_b" rmi -f >/dev/null 2>&1 || true
  docker -H "$host_b" images -aq --no-trunc | grep -v "$keep" | xargs -r docker -H "$host_b" rmi -f >/dev/null 2>&1 || true
  rm -rf "$work/cache-b/ops" "$work/cache-b/trees"
}
cold() { TANTO_CACHE_DIR=$work/cache-b DOCKER_HOST=$host_b call; }
pulled() { TANTO_CACHE_DIR=$work/cache-b DOCKER_HOST=$host_b call --cache-from "$location"; }
[ "$(cold)" = "$(reset_b; pulled)" ] || { echo "the pulled run's output differs from the cold run's" >&2; exit 1; }

declare -a cold_ms pulled_ms
for run in $(seq "$runs"); do
  reset_b; cold_ms+=("$(time_ms cold)")
  reset_b; pulled_ms+=("$(time_ms pulled)")
done
c=$(median "${cold_ms[@]}"); p=$(median "${pulled_ms[@]}")
echo
echo "registry cache benchmark: 5 steps on an empty second daemon, median of $runs runs ($(nproc) cores)"
printf '  %-40s %6s ms\n' "cold (every step runs)" "$c"
printf '  %-40s %6s ms   ratio %s\n' "--cache-from (every step pulled)" "$p" "$(ratio "$p" "$c")"
