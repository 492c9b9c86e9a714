//! Tree path parsing and the tree's one gate (see `tanto::engine::fuzzing::tree_path`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tanto::engine::fuzzing::tree_path(data));
