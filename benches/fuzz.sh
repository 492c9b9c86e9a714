#!/usr/bin/env bash
# Fuzzes tree path parsing and tar extraction for SECONDS each (default 300); not part
# of CI. With a nightly toolchain it uses `cargo fuzz` (installed if missing) on the
# targets in fuzz/; otherwise, or with FUZZ_ENGINE=stable, the stable random harness
# `cargo run -p tanto --example fuzz`, which runs the same property checks
# (tanto::engine::fuzzing). Prints how long each target ran without a failure; a failing
# input is saved under fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-300}"
targets=(tree_path tar_unpack)
engine="${FUZZ_ENGINE:-auto}"

if [ "$engine" = auto ]; then
  if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then engine=libfuzzer; else engine=stable; fi
fi

if [ "$engine" = libfuzzer ]; then
  if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
  fi
  for target in "${targets[@]}"; do
    # Built first, so the time printed is the fuzzing alone.
    (cd fuzz && cargo +nightly fuzz build -O "$target")
    echo "==> cargo fuzz run $target for ${seconds}s" >&2
    start=$(date +%s)
    (cd fuzz && cargo +nightly fuzz run -O "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048)
    echo "$target: ran $(( $(date +%s) - start ))s under libFuzzer without a failure"
  done
else
  cargo build --release -p tanto --example fuzz
  for target in "${targets[@]}"; do
    echo "==> stable harness: $target for ${seconds}s" >&2
    target/release/examples/fuzz "$target" "$seconds"
  done
fi
