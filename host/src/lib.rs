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
//! 6. If anything failed, the error travels up typed; the CLI asks it (through
//!    [`error::Diagnose`]) whose fault it is and what to do, and prints `error:` and
//!    `hint:` with the exit code of its kind.
//!
//! # File overview
//!
//! * [`cli`]: the command line; `cli::report` turns an error into its exit code and
//!   hint line.
//! * [`ops`]: what each command does, as library functions (`call`, `init`, `install`,
//!   `publish`, `develop`, `cache`), a module's dependencies at call time (`deps`), and
//!   the books of compiled components, built components and the git cache
//!   (`module_cache`).
//! * [`module`]: `tanto.toml`, building modules, typing arguments.
//! * [`runtime`]: wasmtime engine, compiled-component cache, sandbox, host API.
//! * [`engine`]: graph objects, digests, evaluation (`engine::eval`, one file per kind
//!   of step: exec, copies, records, backend specs, volumes, extraction, terminal
//!   operations, export), trees (`engine::tree`: model, paths, filters, hash cache, host
//!   I/O, archives), single flight, the cache of steps and trees.
//! * [`backend`]: the `Backend` trait and its Docker implementation (bollard).
//! * [`telemetry`]: tracing and progress display.
//! * [`error`]: [`error::ErrorKind`], [`error::Diagnose`], [`error::UsageError`] and the
//!   one [`error::Hint`] enum, shared by every layer.
//! * `util`: file and process helpers (atomic writes, folder sizes, the process's owner
//!   name).
//!
//! Dependencies point one way: `cli → ops → module/runtime → engine → backend`; [`error`]
//! and `util` sit below all of them and depend on none.

pub mod backend;
pub mod cli;
pub mod engine;
pub mod error;
pub mod module;
pub mod ops;
pub mod runtime;
pub mod secrets;
pub mod telemetry;
mod util;
