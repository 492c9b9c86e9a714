//! Builds every guest module under `guests/` for wasm32-wasip2 before the tests compile,
//! and generates `foreach_guest!`, so a guest without a test fails the build (the pattern
//! of wasmtime's test-programs).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let guests_dir = manifest_dir.join("guests");
    println!("cargo:rerun-if-changed={}", guests_dir.display());
    println!("cargo:rerun-if-changed={}", manifest_dir.join("../guest-sdk").display());
    println!("cargo:rerun-if-changed={}", manifest_dir.join("../wit").display());

    let mut guests: Vec<String> = std::fs::read_dir(&guests_dir)
        .expect("tests/guests exists")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    guests.sort();

    let target_dir = guests_dir.join("target");
    // The outer cargo's settings must not leak into the guest build (another target, its
    // flags, its target folder, whose lock it holds).
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--workspace"])
        .current_dir(&guests_dir)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "building the test guests failed (is the wasm32-wasip2 target installed? run scripts/setup)"
    );

    let wasm_dir = target_dir.join("wasm32-wasip2/release");
    let mut macro_body = String::new();
    for guest in &guests {
        let wasm = wasm_dir.join(format!("{}.wasm", guest.replace('-', "_")));
        assert!(wasm.is_file(), "guest {guest} produced no component at {}", wasm.display());
        macro_body.push_str(&format!("        $mac!({});\n", guest.replace('-', "_")));
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(
        out.join("guests.rs"),
        format!("/// Calls `$mac!(name)` for every guest in tests/guests.\n#[macro_export]\nmacro_rules! foreach_guest {{\n    ($mac:ident) => {{\n{macro_body}    }};\n}}\n"),
    )
    .expect("writing guests.rs");
    println!("cargo:rustc-env=TANTO_TEST_GUESTS_WASM={}", display(&wasm_dir));
    println!("cargo:rustc-env=TANTO_TEST_GUESTS_DIR={}", display(&guests_dir));
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
