//! Confined tar extraction (see `tanto::engine::fuzzing::tar_unpack`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tanto::engine::fuzzing::tar_unpack(data));
