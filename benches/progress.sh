#!/usr/bin/env bash
# What showing progress costs: a fully cached call of STEPS independent steps (the test
# guest `cache`, `parallel-sleeps`), timed with the live view on a pseudo terminal
# (`script` from util-linux), with plain lines, with JSON and with nothing
# (`--progress=quiet`), in one script. Reports medians and the ratio of each display to
# quiet. Usage: benches/progress.sh [RUNS] [STEPS]; TANTO=path/to/tanto uses that binary
# (default: a release build); the guest must be built (the test suite builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
runs=${1:-5}
steps=${2:-200}

if [ -z "${TANTO:-}" ]; then
  cargo build --release -p tanto --quiet
  TANTO=$PWD/target/release/tanto
fi
guest=$(ls tests/guests/target/wasm32-wasip2/*/cache.wasm 2>/dev/null | head -1)
[ -n "$guest" ] || { echo "the test guest cache.wasm is missing: build the tests (cargo test -p tanto-tests --no-run)" >&2; exit 1; }
scripts/make-busybox-image busybox:latest
work=$(mktemp -d)
export TANTO_CACHE_DIR=$work/cache TANTO GUEST=$guest STEPS=$steps NONCE="bench-progress-$$-$RANDOM"
trap '"$TANTO" cache prune --all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
unset CI NO_COLOR TANTO_PROGRESS
export TERM=xterm-256color

call() { "$TANTO" --progress="$1" call -m "$GUEST" parallel-sleeps --count="$STEPS" --seconds=0 --nonce="$NONCE"; }
quiet_run() { call quiet; }
plain_run() { call plain; }
json_run() { call json; }
# The live view needs a terminal: `script` gives it one (its own cost is measured too).
tty_run() { script -qefc '"$TANTO" --progress=tty call -m "$GUEST" parallel-sleeps --count="$STEPS" --seconds=0 --nonce="$NONCE"' /dev/null; }
script_quiet_run() { script -qefc '"$TANTO" --progress=quiet call -m "$GUEST" parallel-sleeps --count="$STEPS" --seconds=0 --nonce="$NONCE"' /dev/null; }

# The first call runs the steps; every timed call is fully cached.
call quiet >/dev/null 2>&1

declare -a quiet plain json tty script_quiet
for run in $(seq "$runs"); do
  quiet+=("$(time_ms quiet_run)")
  plain+=("$(time_ms plain_run)")
  json+=("$(time_ms json_run)")
  tty+=("$(time_ms tty_run)")
  script_quiet+=("$(time_ms script_quiet_run)")
done
q=$(median "${quiet[@]}"); sq=$(median "${script_quiet[@]}")
echo "fully cached call of $steps steps, median of $runs runs:"
printf '  %-28s %6s ms\n' "quiet" "$q"
printf '  %-28s %6s ms   ratio to quiet %s\n' "plain" "$(median "${plain[@]}")" "$(ratio "$(median "${plain[@]}")" "$q")"
printf '  %-28s %6s ms   ratio to quiet %s\n' "json" "$(median "${json[@]}")" "$(ratio "$(median "${json[@]}")" "$q")"
printf '  %-28s %6s ms\n' "quiet on a pty (script)" "$sq"
printf '  %-28s %6s ms   ratio to quiet on a pty %s\n' "tty on a pty (script)" "$(median "${tty[@]}")" "$(ratio "$(median "${tty[@]}")" "$sq")"
