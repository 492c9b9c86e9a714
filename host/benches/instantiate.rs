//! How fast a module starts: loading a component from the compiled cache, and a fresh
//! sandboxed store + instantiation + `describe` per call. Compared against compiling the
//! component from scratch, the peer a cache-less host would pay on every call.
//!
//! `TANTO_BENCH_COMPONENT=path/to/module.wasm cargo bench -p tanto --bench instantiate`

use std::sync::Arc;
use std::time::{Duration, Instant};

use tanto::backend::docker::DockerBackend;
use tanto::engine::{CacheMode, Engine, EngineSettings, NoProgress};
use tanto::runtime::{Callable, Limits, NoDependencies, Runtime, RuntimeSettings};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let Ok(component) = std::env::var("TANTO_BENCH_COMPONENT") else {
        eprintln!("set TANTO_BENCH_COMPONENT to a module component (.wasm) to run this benchmark");
        return;
    };
    let bytes = std::fs::read(&component).expect("the component is readable");
    let path = std::path::Path::new(&component);
    let runtime_for = |cache: &std::path::Path| {
        Arc::new(
            Runtime::new(RuntimeSettings {
                compiled_cache: cache.to_path_buf(),
                digest_stamps: cache.join("digests"),
            })
            .expect("runtime"),
        )
    };

    // Compiling from scratch: a new, empty compiled cache each time.
    let mut compiles = Vec::new();
    for _ in 0..5 {
        let cache = tempfile::tempdir().expect("tempdir");
        let runtime = runtime_for(cache.path());
        let started = Instant::now();
        runtime.load(path, &bytes).expect("the component loads");
        compiles.push(started.elapsed());
    }

    // Loading from the compiled cache.
    let cache = tempfile::tempdir().expect("tempdir");
    let runtime = runtime_for(cache.path());
    runtime.load(path, &bytes).expect("the component loads");
    let mut loads = Vec::new();
    for _ in 0..50 {
        let runtime = runtime_for(cache.path());
        let started = Instant::now();
        let module = runtime.load(path, &bytes).expect("the component loads");
        loads.push(started.elapsed());
        assert!(module.load.compiled_cache_hit);
    }

    // A fresh store, instantiation and a `describe` call, as every invocation does.
    let scratch = tempfile::tempdir().expect("tempdir");
    let settings = EngineSettings {
        cache_root: scratch.path().to_path_buf(),
        cache_mode: CacheMode::Use,
        parallelism: 1,
        max_download: tanto::engine::DEFAULT_CACHE_CEILING,
    };
    let pipeline = Arc::new(Engine::new(Arc::new(DockerBackend::new("bench")), settings, Arc::new(NoProgress)));
    let module = runtime.load(path, &bytes).expect("the component loads");
    let callable = Callable {
        module,
        limits: Limits::default(),
        dependencies: Arc::new(NoDependencies),
    };
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let mut instantiations = Vec::new();
    tokio.block_on(async {
        for _ in 0..200 {
            let started = Instant::now();
            runtime.describe(&callable, pipeline.clone()).await.expect("describe");
            instantiations.push(started.elapsed());
        }
    });

    let compile = median(compiles);
    let load = median(loads);
    let instantiate = median(instantiations);
    println!("compile from scratch: {:.2} ms (median of 5)", compile.as_secs_f64() * 1e3);
    println!(
        "load from compiled cache: {:.3} ms (median of 50), {:.0}x faster than compiling",
        load.as_secs_f64() * 1e3,
        compile.as_secs_f64() / load.as_secs_f64()
    );
    println!(
        "instantiate + describe in a fresh sandbox: {:.1} µs (median of 200)",
        instantiate.as_secs_f64() * 1e6
    );
}
