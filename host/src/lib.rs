//! tanto: CI/CD pipelines written as WebAssembly components, run on Docker, cached by
//! content.
//!
//! # Overview
//!
//! A pipeline module is a WASI component that imports the `tanto:core` API (`wit/`) and
//! exports `describe` and `invoke`. A call flows through the crate like this:
//!
//! 1. [`cli`] parses `tanto call FUNCTION --arg=value` into settings and calls
//!    [`ops::call::call`].
//! 2. [`ops`] finds the module's `tanto.toml`, has [`module::build`] rebuild the
//!    component if its sources changed, and loads it into the [`runtime`].
//! 3. [`runtime`] compiles the component once (cached on disk), instantiates it in a
//!    fresh sandboxed store and asks it to `describe` itself; [`module::args`] types the
//!    command-line arguments from that schema; then the runtime `invoke`s the function.
//! 4. The module's API calls build a lazy graph of [`engine`] objects (containers,
//!    directories, files). Nothing runs until a terminal method (`stdout`, `sync`, ...)
//!    asks: then the [`engine`] evaluates the graph, answering from its content-addressed
//!    cache where it can and running the rest on the [`backend`] (Docker).
//! 5. The result comes back through the runtime as a [`runtime::Value`] and [`ops`]
//!    renders it; [`telemetry`] showed progress on stderr all along.
//!
//! # File overview
//!
//! * [`cli`]: the command line, error rendering with hints and exit codes.
//! * [`ops`]: what each command does, as library functions.
//! * [`module`]: `tanto.toml`, building modules, typing arguments.
//! * [`runtime`]: wasmtime engine, compiled-component cache, sandbox, host API.
//! * [`engine`]: graph objects, digests, evaluation, single flight, the op cache.
//! * [`backend`]: the `Backend` trait and its Docker implementation (bollard).
//! * [`telemetry`]: tracing and progress display.
//!
//! Dependencies point one way: `cli → ops → module/runtime → engine → backend`.

pub mod backend;
pub mod cli;
pub mod engine;
pub mod error;
pub mod module;
pub mod ops;
pub mod runtime;
pub mod telemetry;
mod util;
