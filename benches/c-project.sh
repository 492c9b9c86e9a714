#!/usr/bin/env bash
# A realistic build two ways, timed in one script: tanto (benches/module `c-build` and
# `c-fan-out`) against `docker build` of the same pipeline with BuildKit (Debian's docker
# client, DOCKER_BUILDKIT=1). The pipeline: a Debian base image made with debootstrap,
# `apt-get install gcc make` with an apt cache volume (`RUN --mount=type=cache` for
# BuildKit), a generated C project of FILES files copied in, `make -j2`, `make test`.
# Cases: cold (no step cached; the apt cache volume warm), fully cached, one source file
# changed, and a 4-way fan-out (one variant per -O level, then one step gathering the four
# build folders) cold and after one change. Which tool goes first alternates by run.
# Reports per-case medians and tanto/BuildKit ratios.
# Usage: benches/c-project.sh [RUNS] [FILES]; TANTO=path/to/tanto uses that binary
# (default: a release build). The debootstrapped root filesystem is cached in
# $TANTO_BENCH_CACHE (default ~/.cache/tanto-bench), so only the first run makes it.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
require_buildkit_docker
runs=${1:-5}
files=${2:-200}
debootstrap=$(command -v debootstrap || echo /usr/sbin/debootstrap)

if [ -z "${TANTO:-}" ]; then
  cargo build --release -p tanto --quiet
  TANTO=$PWD/target/release/tanto
fi
bench_cache=${TANTO_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tanto-bench}
work=$(mktemp -d)
export TANTO_CACHE_DIR=$work/cache
tag="tanto-bench-c-$$"
trap '"$buildkit_docker" rmi -f "$tag" >/dev/null 2>&1 || true; "$TANTO" cache prune --all --volumes >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# --- The base image: Debian from the machine's own mirror, debootstrapped once ---------
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
# The first non-security Debian mirror of the apt sources (deb822 or one-line format).
mirror=$( { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
  grep -oE '(URIs:|^deb) +[a-z]+://[^ ]+' | awk '$2 !~ /security/ && !found { print $2; found = 1 }')
[ -n "$mirror" ] || { echo "no Debian mirror found in /etc/apt/sources.list*" >&2; exit 1; }
rootfs_tar=$bench_cache/debian-$suite-minbase.tar
if [ ! -s "$rootfs_tar" ]; then
  echo "debootstrapping Debian $suite from $mirror into $rootfs_tar (once)" >&2
  mkdir -p "$bench_cache"
  rootfs=$(mktemp -d "$bench_cache/rootfs.XXXXXX")
  [ -x "$debootstrap" ] || { echo "debootstrap is needed (scripts/setup installs it), run as root" >&2; exit 1; }
  "$debootstrap" --variant=minbase "$suite" "$rootfs" "$mirror" >"$bench_cache/debootstrap.log" 2>&1 ||
    { tail -20 "$bench_cache/debootstrap.log" >&2; rm -rf "$rootfs"; exit 1; }
  # The image's apt uses the same mirror; downloaded lists and packages are not kept.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar --numeric-owner -C "$rootfs" -cf "$rootfs_tar.partial" . && mv "$rootfs_tar.partial" "$rootfs_tar"
  rm -rf "$rootfs"
fi
base="tanto-bench-debian:$suite-$(cksum <"$rootfs_tar" | cut -d' ' -f1)"
"$buildkit_docker" image inspect "$base" >/dev/null 2>&1 || "$buildkit_docker" import "$rootfs_tar" "$base" >/dev/null

# --- The C project: FILES functions, a main calling them all, a Makefile with a test ---
project=$work/context/project
mkdir -p "$project/src"
declare -A constant
write_function() { # index, constant
  constant[$1]=$2
  printf '#include "lib.h"\nint f%s(void) {\n  int acc = 0;\n  for (int i = 0; i < 10; i++) acc += (%d + %d) * i;\n  return acc;\n}\n' "$1" "$((10#$1))" "$2" >"$project/src/f$1.c"
}
write_expected() { # every function's value, 45 * (index + constant), in order
  for index in $(seq -w "$files"); do echo $((45 * (10#$index + ${constant[$index]}))); done >"$project/expected.txt"
}
for index in $(seq -w "$files"); do write_function "$index" 1; done
{
  for index in $(seq -w "$files"); do echo "int f$index(void);"; done
} >"$project/src/lib.h"
{
  echo '#include <stdio.h>'
  echo '#include "lib.h"'
  echo 'int main(void) {'
  for index in $(seq -w "$files"); do echo "  printf(\"%d\\n\", f$index());"; done
  echo '  return 0;'
  echo '}'
} >"$project/src/main.c"
cat >"$project/Makefile" <<'MAKEFILE'
CFLAGS ?= -O2
OBJECTS := $(patsubst src/%.c,build/%.o,$(wildcard src/*.c))
build/prog: $(OBJECTS)
	$(CC) $(CFLAGS) -o $@ $^
build/%.o: src/%.c src/lib.h | build
	$(CC) $(CFLAGS) -Isrc -c -o $@ $<
build:
	mkdir -p build
test: build/prog
	./build/prog >build/out.txt && cmp build/out.txt expected.txt
.PHONY: test
MAKEFILE
write_expected
change_one_file() { write_function "$(printf "%0${#files}d" 7)" "$((RANDOM + 2))"; write_expected; }

# --- The same pipelines as Dockerfiles ---------------------------------------------------
fan_in=$(sed -n 's/^const FAN_IN: &str = "\(.*\)";$/\1/p' benches/module/src/lib.rs)
apt_install=$(sed -n 's/^const APT_INSTALL: &str = "\(.*\)";$/\1/p' benches/module/src/lib.rs)
[ -n "$apt_install" ] && [ -n "$fan_in" ] || { echo "APT_INSTALL or FAN_IN not found in benches/module/src/lib.rs" >&2; exit 1; }
toolchain_stage() {
  echo "FROM $base AS toolchain"
  echo "RUN --mount=type=cache,target=/var/cache/apt/archives,sharing=locked $apt_install"
}
variant_stage() { # name, cflags
  echo "FROM toolchain AS $1"
  echo "COPY project/ /src/"
  echo "WORKDIR /src"
  echo "RUN make -j2 CFLAGS=$2"
  echo "RUN make test"
}
{
  toolchain_stage
  variant_stage build -O2
  echo "RUN cat build/out.txt"
} >"$work/context/Dockerfile.single"
levels=$(sed -n 's/^const FAN_OUT_LEVELS: \[&str; 4\] = \[\(.*\)\];$/\1/p' benches/module/src/lib.rs | tr -d '",')
[ -n "$levels" ] || { echo "FAN_OUT_LEVELS not found in benches/module/src/lib.rs" >&2; exit 1; }
{
  toolchain_stage
  for level in $levels; do variant_stage "variant$level" "-$level"; done
  echo "FROM toolchain"
  for level in $levels; do echo "COPY --from=variant$level /src/build /out/$level"; done
  echo "RUN $fan_in"
} >"$work/context/Dockerfile.fanout"

# --- Timing ------------------------------------------------------------------------------
tanto_single() { (cd benches/module && "$TANTO" --progress=quiet call "$@" c-build --base="$base" --source="$project" --cflags=-O2); }
tanto_fanout() { (cd benches/module && "$TANTO" --progress=quiet call "$@" c-fan-out --base="$base" --source="$project"); }
# Cold: every step runs again, as with BuildKit's --no-cache; both keep their cache mounts,
# and neither parses its pipeline anew (tanto keeps the compiled module, BuildKit its
# frontend).
tanto_single_cold() { tanto_single --no-cache; }
tanto_fanout_cold() { tanto_fanout --no-cache; }
buildkit() { DOCKER_BUILDKIT=1 "$buildkit_docker" build -q -t "$tag" -f "$work/context/Dockerfile.$1" "${@:2}" "$work/context"; }
buildkit_single() { buildkit single; }
buildkit_fanout() { buildkit fanout; }
buildkit_single_cold() { buildkit single --no-cache; }
buildkit_fanout_cold() { buildkit fanout --no-cache; }

# Both pipelines print what they computed: check they agree before timing them.
buildkit_single >/dev/null
[ "$(tanto_single)" = "$(docker run --rm "$tag" cat /src/build/out.txt)" ] ||
  { echo "tanto and BuildKit disagree on the single build's output" >&2; exit 1; }
buildkit_fanout >/dev/null
[ "$(tanto_fanout)" = "$(docker run --rm "$tag" cat /out/distinct)" ] ||
  { echo "tanto and BuildKit disagree on the fan-out's output" >&2; exit 1; }

cases=(single_cold single_cached single_changed fanout_cold fanout_changed)
declare -A times
for run in $(seq "$runs"); do
  if [ $((run % 2)) = 1 ]; then order=(tanto buildkit); else order=(buildkit tanto); fi
  for case in "${cases[@]}"; do
    case $case in
      single_cold) command=single_cold ;;
      single_cached) command=single ;;
      single_changed) change_one_file; command=single ;;
      fanout_cold) command=fanout_cold ;;
      fanout_changed) change_one_file; command=fanout ;;
    esac
    for tool in "${order[@]}"; do
      times[$tool.$case]+="$(time_ms "${tool}_$command") "
    done
  done
  echo "run $run of $runs: $(for case in "${cases[@]}"; do printf '%s %s/%s  ' "$case" "$(echo ${times[tanto.$case]} | awk '{ print $NF }')" "$(echo ${times[buildkit.$case]} | awk '{ print $NF }')"; done)" >&2
done

echo
echo "C project benchmark: Debian $suite, gcc+make via apt, $files C files, median of $runs runs ($(nproc) cores)"
for case in "${cases[@]}"; do
  # shellcheck disable=SC2086
  t=$(median ${times[tanto.$case]}); b=$(median ${times[buildkit.$case]})
  printf '  %-16s tanto %7s ms   BuildKit %7s ms   ratio %s\n' "$case" "$t" "$b" "$(ratio "$t" "$b")"
done
