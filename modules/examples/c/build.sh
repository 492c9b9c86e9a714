#!/bin/sh
# Builds build/checksums.wasm, the component of this module, from src/checksums.c:
# wit-bindgen's C bindings of tanto:core@0.2.0's `module` world, clang + wasi-libc for a
# core module (wasm32-wasi, preview1), then `component new` with the preview1 adapter.
#
# Tools (scripts/setup installs them): Debian's clang, lld, wasi-libc and
# libclang-rt-14-dev-wasm32; tanto-wasm-tools, built with this repository's workspace
# (`cargo build -p tanto-wasm-tools`), or TANTO_WASM_TOOLS naming it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
tools=${TANTO_WASM_TOOLS:-$repo/target/debug/tanto-wasm-tools}
cd "$here"
mkdir -p build
"$tools" c-bindings "$repo/wit/0.2.0" module build
clang --target=wasm32-wasi -mexec-model=reactor -Os -Wall -Wextra -Werror=implicit-function-declaration \
  -Ibuild -o build/checksums.core.wasm src/checksums.c build/module.c build/module_component_type.o
"$tools" component-new build/checksums.core.wasm build/checksums.wasm
