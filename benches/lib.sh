# Shared helpers of the benchmark scripts: timing, medians, ratios.

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# Runs "$@" and prints how many milliseconds it took (its output goes to /dev/null).
time_ms() {
  local start end
  start=$(now_ms)
  "$@" >/dev/null 2>&1 || { echo "benchmark command failed: $*" >&2; "$@" >&2; exit 1; }
  end=$(now_ms)
  echo $((end - start))
}

# The median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -n | awk '{ values[NR] = $1 } END { if (NR % 2) print values[(NR + 1) / 2]; else print (values[NR / 2] + values[NR / 2 + 1]) / 2 }'; }

# a / b with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Sets buildkit_docker to Debian's docker client, which builds with BuildKit
# (DOCKER_BUILDKIT=1) where a newer client would need buildx: the peer of the BuildKit
# benchmarks. Exits when it is missing.
require_buildkit_docker() {
  buildkit_docker=/usr/bin/docker
  [ -x "$buildkit_docker" ] || { echo "Debian's docker client ($buildkit_docker) is needed for BuildKit builds" >&2; exit 1; }
}
