//! `tanto-wasm-tools`: what a C module's build needs besides clang, built with the
//! workspace instead of installed with `cargo install` (wit-bindgen-cli and wasm-tools
//! take minutes each to build; this reuses the wit-bindgen and wit-component the
//! workspace already compiles).
//!
//! ```text
//! tanto-wasm-tools c-bindings WIT_DIR WORLD OUT_DIR
//!     # = wit-bindgen c --world WORLD --out-dir OUT_DIR WIT_DIR
//! tanto-wasm-tools component-new CORE.wasm OUT.wasm
//!     # = wasm-tools component new CORE.wasm --adapt wasi_snapshot_preview1=<reactor adapter> -o OUT.wasm
//! ```
//!
//! The adapter is the reactor adapter of wasmtime 48 (the host's wasmtime), from the
//! `wasi-preview1-component-adapter-provider` crate: a core module built against
//! wasi-libc's preview1 imports becomes a component importing WASI 0.2.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wasi_preview1_component_adapter_provider::{WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER};
use wit_parser::{Resolve, WorldId};

const USAGE: &str = "usage:
  tanto-wasm-tools c-bindings WIT_DIR WORLD OUT_DIR
  tanto-wasm-tools component-new CORE.wasm OUT.wasm";

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match arguments.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["c-bindings", wit, world, out_dir] => c_bindings(Path::new(wit), world, Path::new(out_dir)),
        ["component-new", core, out] => component_new(Path::new(core), Path::new(out)),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(error) = outcome {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

/// The WIT package in `wit` (a folder of `.wit` files, dependencies in `deps/`) and its
/// world `world`.
fn world(wit: &Path, world: &str) -> Result<(Resolve, WorldId)> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_path(wit)
        .with_context(|| format!("cannot read the WIT package in {}", wit.display()))?;
    let id = resolve.select_world(&[package], Some(world))?;
    Ok((resolve, id))
}

/// Writes wit-bindgen's C bindings of `world` into `out_dir`: `<world>.h`, `<world>.c`
/// and `<world>_component_type.o`, the object to link into the module that carries the
/// world for `component-new` (Debian 12's lld 14 links it).
fn c_bindings(wit: &Path, world_name: &str, out_dir: &Path) -> Result<()> {
    let (mut resolve, id) = world(wit, world_name)?;
    let options = wit_bindgen_c::Opts::default();
    let mut files = wit_bindgen_core::Files::default();
    options.build().generate(&mut resolve, id, &mut files)?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    for (name, contents) in files.iter() {
        let path: PathBuf = out_dir.join(name);
        std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Makes the component `out` of the core module `core`, which carries its world (the
/// linked component-type object) and may import WASI preview1.
fn component_new(core: &Path, out: &Path) -> Result<()> {
    let bytes = std::fs::read(core).with_context(|| format!("cannot read the core module {}", core.display()))?;
    if bytes.get(4..8) != Some(&[1, 0, 0, 0]) {
        bail!("{} is not a core WebAssembly module", core.display());
    }
    let component = wit_component::ComponentEncoder::default()
        .module(&bytes)?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)?
        .validate(true)
        .encode()
        .with_context(|| format!("cannot make a component of {}", core.display()))?;
    std::fs::write(out, component).with_context(|| format!("cannot write {}", out.display()))
}
