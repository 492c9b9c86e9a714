//! Write tanto pipeline modules in Rust.
//!
//! A tanto module is a WebAssembly component. Its functions build pipelines out of
//! containers, directories and files; the tanto host turns those calls into a lazy graph
//! of container operations, runs it on Docker and caches every step by content. This
//! crate is everything a Rust module needs:
//!
//! * [`dag()`] is the root of the API: [`Client::container`] and [`Client::directory`]
//!   start new pipelines, and the builder methods of [`Container`], [`Directory`] and
//!   [`File`] extend them.
//! * [`#[tanto_sdk::module]`](macro@module) turns an `impl` block into the module's
//!   exported functions, with their documentation and argument types as the schema that
//!   `tanto functions` shows and `tanto call` types its arguments with.
//! * [`Error`] is what a failing step returns (a command's exit code and output tails, a
//!   missing path, ...), and what a module function returns to fail.
//!
//! ```no_run
//! use tanto_sdk::{Directory, Result, dag};
//!
//! #[derive(Default)]
//! struct Hello;
//!
//! /// Greets from containers.
//! #[tanto_sdk::module]
//! impl Hello {
//!     /// Says hello from a busybox container.
//!     pub fn hello(&self, #[arg(description = "who to greet", default = "world")] name: String) -> Result<String> {
//!         dag()
//!             .container()
//!             .from("busybox:latest")
//!             .with_exec(["echo", &format!("hello, {name}")])
//!             .stdout()
//!     }
//!
//!     /// Prints a file of `source`, read inside a container.
//!     pub fn cat(&self, source: Directory, path: String) -> Result<String> {
//!         dag()
//!             .container()
//!             .from("busybox:latest")
//!             .with_directory("/src", &source)
//!             .with_exec(["cat", &format!("/src/{path}")])
//!             .stdout()
//!     }
//! }
//! ```
//!
//! # Evaluation
//!
//! Builder methods (`with_*`, `from`, `file`, `directory`) never fail and never block:
//! they describe a new immutable object. Only the terminal methods (`stdout`, `stderr`,
//! `exit_code`, `sync`, `contents`, `contents_bytes`, `size`, `entries`, `digest`) run
//! what is needed to answer, and they return a [`Result`].
//!
//! # API version
//!
//! This SDK builds modules against `tanto:core@0.2.0` (`wit/0.2.0`); `tanto functions`
//! shows the version a module speaks. A tanto host serves every released version, so a
//! module built against an older one keeps running unchanged.
//!
//! # Building
//!
//! A module is a `cdylib` crate built with `cargo build --release --target
//! wasm32-wasip2`, which produces the component directly. On other targets the crate
//! compiles so that `cargo check`, `cargo clippy` and unit tests of a module's
//! [`Module::describe`] and [`Module::invoke`] work natively, but calling the pipeline
//! API there panics: only the tanto host implements it.

#![warn(missing_docs)]

mod error;
mod export;
mod objects;
pub mod schema;
pub mod value;

pub use error::{Error, Result};
pub use export::Module;
pub use objects::{
    BuildOptions, CacheVolume, Client, Container, Directory, ExecOptions, Expect, File, Filter, GitRef, GitRepository, NetworkProtocol, Secret, Service,
    Sharing, dag,
};

/// Exports the `pub fn`s of an `impl` block as the module's functions.
///
/// Put it on the inherent `impl` block of the module's type; a crate has one such block.
/// Every `pub fn` in it that takes `&self` or no receiver becomes a function of the
/// module (but `new`, see below); other functions stay private helpers. Each call gets a
/// new value from the block's constructor `new`, or from `Default::default()` when it has
/// none.
///
/// ```no_run
/// use tanto_sdk::{Container, Directory, Result, dag};
///
/// #[derive(Default)]
/// struct Ci;
///
/// /// Builds and tests the project.
/// #[tanto_sdk::module]
/// impl Ci {
///     /// Runs the test suite of `source`.
///     ///
///     /// Fails when a test fails.
///     pub fn test(
///         &self,
///         #[arg(description = "the project's source tree")] source: Directory,
///         #[arg(description = "the Rust image", default = "rust:1")] image: String,
///         #[arg(description = "extra `cargo test` arguments")] extra: Option<Vec<String>>,
///     ) -> Result<String> {
///         self.builder(&image, &source)
///             .with_exec(["cargo", "test"].into_iter().map(String::from).chain(extra.unwrap_or_default()))
///             .stdout()
///     }
///
///     /// A container ready to build `source`.
///     pub fn build_env(&self, source: Directory, #[arg(default = 2)] jobs: i64) -> Container {
///         self.builder("rust:1", &source).with_env_variable("CARGO_BUILD_JOBS", jobs.to_string())
///     }
///
///     // Not `pub`: a helper, not exported.
///     fn builder(&self, image: &str, source: &Directory) -> Container {
///         dag().container().from(image).with_directory("/src", source).with_workdir("/src")
///     }
/// }
/// ```
///
/// # Constructor
///
/// A `pub fn new` without receiver, returning `Self` or `Result<Self>`, is the module's
/// constructor, as Dagger's module constructors: its arguments (typed and described like
/// a function's, `#[arg]` included) are given before the function, `tanto call
/// --source=. --image=rust:1 test`, passed to every call, and usually kept in the
/// struct's fields. The module's type then need not implement [`Default`].
///
/// ```no_run
/// use tanto_sdk::{Container, Directory, Result, dag};
///
/// /// Builds and tests the project in `source`.
/// struct Ci {
///     source: Directory,
///     image: String,
/// }
///
/// #[tanto_sdk::module]
/// impl Ci {
///     /// The project: its sources and the image to build them in.
///     pub fn new(
///         #[arg(description = "the project's source tree")] source: Directory,
///         #[arg(description = "the Rust image", default = "rust:1")] image: String,
///     ) -> Self {
///         Ci { source, image }
///     }
///
///     /// Runs the tests: `tanto call --source=. test`.
///     pub fn test(&self) -> Result<String> {
///         self.builder().with_exec(["cargo", "test"]).stdout()
///     }
///
///     fn builder(&self) -> Container {
///         dag().container().from(&self.image).with_directory("/src", &self.source).with_workdir("/src")
///     }
/// }
/// ```
///
/// # Schema
///
/// * The module's name is the crate's name (`CARGO_PKG_NAME`) and its description the
///   doc comment of the `impl` block.
/// * Function and argument names are the Rust names in kebab-case: `build_env` is called
///   as `tanto call build-env --source=. --jobs=4`.
/// * A function's description is its doc comment. An argument's description and
///   default come from `#[arg(description = "...", default = <literal>)]`, an attribute
///   the macro removes; both are optional.
/// * The constructor's arguments are the schema's `constructor`, described the same way;
///   a module without a `pub fn new` declares none and takes none.
///
/// # Types
///
/// | Rust | schema | when absent |
/// |---|---|---|
/// | `String`, `bool`, `i64`, `f64` | `string`, `boolean`, `integer`, `float` | required, unless `#[arg(default = ...)]` gives a literal of the type (`"text"`, `true`, `3`, `1.5`) |
/// | [`Container`], [`Directory`], [`File`], [`Secret`] | `container`, `directory`, `file`, `secret` | required |
/// | `Vec<T>`, `T` one of the above | `list<T>` | required |
/// | `Option<T>`, `T` one of the above | optional `T` | `None` (an `Option` takes no default) |
///
/// A function returns one of these types, `()`, or `Result<T>` of them (with
/// [`tanto_sdk::Error`](Error) or any error type that converts into it). Any other
/// type, a `&mut self` or `self` receiver, a generic, `async` or `unsafe` function, or an
/// argument that is a pattern rather than a name is a compile error pointing at it.
///
/// # Invocation
///
/// When the host invokes a function, a missing required argument, an argument the
/// function does not take, or a value of the wrong type fails with
/// [`Error::InvalidArgument`] naming the function and the argument, and an unknown
/// function fails with [`Error::NotFound`] listing the module's functions. The
/// generated [`Module`] implementation does this; test it natively with
/// [`Module::describe`] and [`Module::invoke`].
pub use tanto_sdk_macros::module;

/// The bindings wit-bindgen generates for the `tanto:core` world.
///
/// Private on purpose: module authors use the types re-exported above, so the generated
/// names and ownership conventions can change with wit-bindgen without breaking modules.
mod bindings {
    wit_bindgen::generate!({
        path: "wit/0.2.0",
        world: "tanto:core/module@0.2.0",
    });
}

/// Support for the code `#[tanto_sdk::module]` generates. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{Arguments, Export, argument_type, default_json, default_value, return_type};
}
