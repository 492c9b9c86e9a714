//! The pipeline API: the root [`Client`] and the [`Container`], [`Directory`] and
//! [`File`] objects, thin wrappers over the host's resources that take idiomatic Rust
//! arguments.

use crate::bindings::tanto::core::{client as wit_client, types as wit};
use crate::error::Result;

/// The root of the pipeline API.
///
/// ```no_run
/// let greeting = tanto_sdk::dag()
///     .container()
///     .from("busybox:latest")
///     .with_exec(["echo", "hi"])
///     .stdout()?;
/// # Ok::<(), tanto_sdk::Error>(())
/// ```
pub fn dag() -> Client {
    Client { _private: () }
}

/// The root of the pipeline API, returned by [`dag()`]: creates new containers and
/// directories.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    // Keeps construction in `dag()`, so a later version can give the client state.
    _private: (),
}

impl Client {
    /// A new container with an empty root filesystem; start it with
    /// [`Container::from`].
    pub fn container(&self) -> Container {
        Container(wit_client::container())
    }

    /// A new empty directory.
    pub fn directory(&self) -> Directory {
        Directory(wit_client::directory())
    }

    /// The cache volume named `key`: a persistent folder kept between runs (a package
    /// manager's download cache, a compiler's incremental cache), created on first use.
    /// Mount it with [`Container::with_mounted_cache`].
    pub fn cache_volume(&self, key: impl Into<String>) -> CacheVolume {
        CacheVolume(wit_client::cache_volume(&key.into()))
    }

    /// Evaluates all `containers` at once and waits for them: a module runs on one
    /// thread, so this is how independent branches of a pipeline run in parallel. Fails
    /// with the first error.
    ///
    /// ```no_run
    /// use tanto_sdk::dag;
    ///
    /// let base = dag().container().from("busybox:latest");
    /// let lint = base.with_exec(["sh", "-c", "echo lint"]);
    /// let test = base.with_exec(["sh", "-c", "echo test"]);
    /// dag().sync_all([&lint, &test])?;
    /// # Ok::<(), tanto_sdk::Error>(())
    /// ```
    pub fn sync_all<'a>(&self, containers: impl IntoIterator<Item = &'a Container>) -> Result<()> {
        let handles: Vec<&wit::Container> = containers.into_iter().map(|container| &container.0).collect();
        Ok(wit_client::sync_all(&handles)?)
    }

    /// Calls `function` of the dependency this module declares as `module` in its
    /// `tanto.toml`, with named arguments, and converts its result to `T`.
    ///
    /// The dependency runs in a sandbox of its own; containers, directories and files
    /// pass to it and back by handle. Usually called through the typed API that
    /// `tanto develop` generates (`dag().hello().hello(...)`) rather than directly.
    ///
    /// ```no_run
    /// use tanto_sdk::value::IntoValue;
    ///
    /// let greeting: String = tanto_sdk::dag().call("hello", "hello", vec![("name", "ada".to_string().into_value())])?;
    /// # Ok::<(), tanto_sdk::Error>(())
    /// ```
    pub fn call<T: crate::value::FromValue>(&self, module: &str, function: &str, arguments: Vec<(&str, crate::value::Value)>) -> Result<T> {
        let arguments: Vec<(String, wit::Value)> = arguments.into_iter().map(|(name, value)| (name.to_owned(), value.into())).collect();
        let value = wit_client::call(module, function, arguments)?;
        T::from_value(value.into()).map_err(|mismatch| crate::Error::Failed(format!("module `{module}`, function `{function}`: {mismatch}")))
    }
}

/// A persistent volume for caches, from [`Client::cache_volume`]. Its key, never its
/// contents, is part of a step's identity, so a warm cache speeds a step up without
/// changing what is cached about it.
#[derive(Debug)]
pub struct CacheVolume(wit::CacheVolume);

impl CacheVolume {
    /// The key the volume was made with.
    pub fn key(&self) -> String {
        self.0.key()
    }
}

/// How concurrent users of one [`CacheVolume`] share it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Sharing {
    /// Every user mounts the same volume at the same time (the default; fine for caches
    /// whose tools lock on their own, like cargo's or Go's).
    #[default]
    Shared,
    /// Each concurrent user gets a volume of its own.
    Private,
    /// Users take turns: one at a time.
    Locked,
}

impl From<Sharing> for wit::Sharing {
    fn from(sharing: Sharing) -> Self {
        match sharing {
            Sharing::Shared => wit::Sharing::Shared,
            Sharing::Private => wit::Sharing::Private,
            Sharing::Locked => wit::Sharing::Locked,
        }
    }
}

/// A container: a root filesystem, its configuration and the commands run on it.
///
/// Immutable: every `with_*` method returns a new container and leaves this one as it
/// was, so one base can start several pipelines. Nothing runs until an evaluating method
/// ([`stdout`](Container::stdout), [`stderr`](Container::stderr),
/// [`exit_code`](Container::exit_code), [`sync`](Container::sync)) needs it.
#[derive(Debug)]
pub struct Container(wit::Container);

/// A directory tree, immutable: every `with_*` method returns a new directory.
///
/// A module gets directories as arguments (the caller's source tree), from
/// [`Client::directory`], or from [`Container::directory`].
#[derive(Debug)]
pub struct Directory(wit::Directory);

/// A file: a path in a directory, in a container, or new contents.
#[derive(Debug)]
pub struct File(wit::File);

/// Which exit codes of a command count as success, so that
/// [`Container::with_exec_opts`] can run commands that are expected to fail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Expect {
    /// Only exit code 0.
    #[default]
    Success,
    /// Any exit code but 0.
    Failure,
    /// Every exit code.
    Any,
}

/// How [`Container::with_exec_opts`] runs its command. The default is what
/// [`Container::with_exec`] does: expect success, no standard input, no entrypoint.
///
/// ```no_run
/// use tanto_sdk::{ExecOptions, Expect, dag};
///
/// let lint = dag()
///     .container()
///     .from("busybox:latest")
///     .with_exec_opts(
///         ["sh", "-c", "grep -c TODO"],
///         ExecOptions { expect: Expect::Any, stdin: Some("TODO: one\n".into()), ..Default::default() },
///     );
/// let todo_count = lint.stdout()?;
/// # Ok::<(), tanto_sdk::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ExecOptions {
    /// Which exit codes count as success; any other fails evaluation with
    /// [`Error::ExecFailed`](crate::Error::ExecFailed).
    pub expect: Expect,
    /// Text written to the command's standard input, which is then closed. `None` gives
    /// the command an empty, closed standard input.
    pub stdin: Option<String>,
    /// Prefix the command with the container's entrypoint.
    pub use_entrypoint: bool,
}

/// Which paths of a source directory [`Container::with_directory_filtered`] and
/// [`Directory::with_directory_filtered`] copy: glob patterns over paths relative to the
/// source. An empty `include` includes everything; `exclude` wins over `include`.
///
/// ```no_run
/// # let source = tanto_sdk::dag().directory();
/// use tanto_sdk::{Filter, dag};
///
/// let build = dag()
///     .container()
///     .from("rust:1")
///     .with_directory_filtered("/src", &source, Filter::new().exclude(["target/", ".git/"]));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    /// Only copy paths matching one of these patterns (everything when empty).
    pub include: Vec<String>,
    /// Never copy paths matching one of these patterns.
    pub exclude: Vec<String>,
}

impl Filter {
    /// A filter that copies everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// This filter, also copying only paths that match one of `patterns`.
    pub fn include(mut self, patterns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.include.extend(patterns.into_iter().map(Into::into));
        self
    }

    /// This filter, also skipping paths that match one of `patterns`.
    pub fn exclude(mut self, patterns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.exclude.extend(patterns.into_iter().map(Into::into));
        self
    }
}

/// Collects the words of a command or a list of patterns.
fn strings(words: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
    words.into_iter().map(Into::into).collect()
}

impl From<Expect> for wit::Expect {
    fn from(expect: Expect) -> Self {
        match expect {
            Expect::Success => wit::Expect::Success,
            Expect::Failure => wit::Expect::Failure,
            Expect::Any => wit::Expect::Any,
        }
    }
}

impl From<ExecOptions> for wit::ExecOptions {
    fn from(options: ExecOptions) -> Self {
        wit::ExecOptions {
            expect: options.expect.into(),
            stdin: options.stdin,
            use_entrypoint: options.use_entrypoint,
        }
    }
}

impl Container {
    /// This container with its root filesystem and configuration replaced by the image
    /// at `address` (`busybox:latest`, `docker.io/library/rust:1.95`, ...). The host
    /// uses a local image when there is one and pulls it otherwise.
    pub fn from(&self, address: impl Into<String>) -> Container {
        Container(self.0.from(&address.into()))
    }

    /// This container after running `args` in it, which must exit with code 0.
    ///
    /// The command runs without a shell: `["sh", "-c", "..."]` gives it one. Use
    /// [`with_exec_opts`](Container::with_exec_opts) to allow other exit codes, feed
    /// standard input or use the entrypoint.
    pub fn with_exec(&self, args: impl IntoIterator<Item = impl Into<String>>) -> Container {
        self.with_exec_opts(args, ExecOptions::default())
    }

    /// This container after running `args` in it as `options` say.
    pub fn with_exec_opts(&self, args: impl IntoIterator<Item = impl Into<String>>, options: ExecOptions) -> Container {
        Container(self.0.with_exec(&strings(args), &options.into()))
    }

    /// This container with the environment variable `name` set to `value`.
    pub fn with_env_variable(&self, name: impl Into<String>, value: impl Into<String>) -> Container {
        Container(self.0.with_env_variable(&name.into(), &value.into()))
    }

    /// This container without the environment variable `name`.
    pub fn without_env_variable(&self, name: impl Into<String>) -> Container {
        Container(self.0.without_env_variable(&name.into()))
    }

    /// This container with commands run in `path`.
    pub fn with_workdir(&self, path: impl Into<String>) -> Container {
        Container(self.0.with_workdir(&path.into()))
    }

    /// This container with commands run as `name` (`user`, `uid`, `user:group`).
    pub fn with_user(&self, name: impl Into<String>) -> Container {
        Container(self.0.with_user(&name.into()))
    }

    /// This container with the given entrypoint.
    pub fn with_entrypoint(&self, args: impl IntoIterator<Item = impl Into<String>>) -> Container {
        Container(self.0.with_entrypoint(&strings(args)))
    }

    /// This container with the given default arguments (the image's `CMD`).
    pub fn with_default_args(&self, args: impl IntoIterator<Item = impl Into<String>>) -> Container {
        Container(self.0.with_default_args(&strings(args)))
    }

    /// This container with the image label `name` set to `value`.
    pub fn with_label(&self, name: impl Into<String>, value: impl Into<String>) -> Container {
        Container(self.0.with_label(&name.into(), &value.into()))
    }

    /// This container with the contents of `source` copied into `path`.
    pub fn with_directory(&self, path: impl Into<String>, source: &Directory) -> Container {
        self.with_directory_filtered(path, source, Filter::new())
    }

    /// This container with the paths of `source` that `filter` selects copied into
    /// `path`.
    pub fn with_directory_filtered(&self, path: impl Into<String>, source: &Directory, filter: Filter) -> Container {
        Container(self.0.with_directory(&path.into(), &source.0, &filter.include, &filter.exclude))
    }

    /// This container with `source` copied to `path`, with default permissions.
    pub fn with_file(&self, path: impl Into<String>, source: &File) -> Container {
        Container(self.0.with_file(&path.into(), &source.0, None))
    }

    /// This container with `source` copied to `path` with `permissions` (`0o755`).
    pub fn with_file_permissions(&self, path: impl Into<String>, source: &File, permissions: u32) -> Container {
        Container(self.0.with_file(&path.into(), &source.0, Some(permissions)))
    }

    /// This container with a new file at `path` holding `contents`, with default
    /// permissions.
    pub fn with_new_file(&self, path: impl Into<String>, contents: impl Into<String>) -> Container {
        Container(self.0.with_new_file(&path.into(), &contents.into(), None))
    }

    /// This container with a new file at `path` holding `contents`, with `permissions`
    /// (`0o755` for a script).
    pub fn with_new_file_permissions(&self, path: impl Into<String>, contents: impl Into<String>, permissions: u32) -> Container {
        Container(self.0.with_new_file(&path.into(), &contents.into(), Some(permissions)))
    }

    /// This container with a new file at `path` holding `contents`, any bytes (a
    /// binary, an archive), with default permissions.
    pub fn with_new_file_bytes(&self, path: impl Into<String>, contents: impl AsRef<[u8]>) -> Container {
        Container(self.0.with_new_file_bytes(&path.into(), contents.as_ref(), None))
    }

    /// This container with a new file at `path` holding `contents`, any bytes, with
    /// `permissions` (`0o755` for a program).
    pub fn with_new_file_bytes_permissions(&self, path: impl Into<String>, contents: impl AsRef<[u8]>, permissions: u32) -> Container {
        Container(self.0.with_new_file_bytes(&path.into(), contents.as_ref(), Some(permissions)))
    }

    /// This container with `source` mounted at `path` for the commands that follow.
    ///
    /// A mount is not part of the container's filesystem: it is not in
    /// [`directory`](Container::directory) results or in a published image.
    pub fn with_mounted_directory(&self, path: impl Into<String>, source: &Directory) -> Container {
        Container(self.0.with_mounted_directory(&path.into(), &source.0))
    }

    /// The file at `path` in this container.
    pub fn file(&self, path: impl Into<String>) -> File {
        File(self.0.file(&path.into()))
    }

    /// The directory at `path` in this container.
    pub fn directory(&self, path: impl Into<String>) -> Directory {
        Directory(self.0.directory(&path.into()))
    }

    /// This container with `cache` mounted at `path` for the commands that follow,
    /// shared with other users as `sharing` says.
    ///
    /// ```no_run
    /// use tanto_sdk::{Sharing, dag};
    ///
    /// let build = dag()
    ///     .container()
    ///     .from("golang:1.22")
    ///     .with_mounted_cache("/root/go/pkg/mod", &dag().cache_volume("go-mod"), Sharing::Shared)
    ///     .with_exec(["go", "build", "./..."]);
    /// ```
    pub fn with_mounted_cache(&self, path: impl Into<String>, cache: &CacheVolume, sharing: Sharing) -> Container {
        Container(self.0.with_mounted_cache(&path.into(), &cache.0, sharing.into()))
    }

    /// This container with an empty in-memory file system (tmpfs) at `path` for the
    /// commands that follow.
    pub fn with_mounted_temp(&self, path: impl Into<String>) -> Container {
        Container(self.0.with_mounted_temp(&path.into()))
    }

    /// The standard output of the last command. Runs every pending command.
    pub fn stdout(&self) -> Result<String> {
        Ok(self.0.stdout()?)
    }

    /// The standard error of the last command. Runs every pending command.
    pub fn stderr(&self) -> Result<String> {
        Ok(self.0.stderr()?)
    }

    /// The exit code of the last command. Runs every pending command.
    ///
    /// A command whose exit code its [`Expect`] does not allow fails evaluation, so this
    /// is where [`Expect::Any`] pays off.
    pub fn exit_code(&self) -> Result<i32> {
        Ok(self.0.exit_code()?)
    }

    /// Runs every pending command, for a pipeline whose effect matters and not its
    /// output.
    pub fn sync(&self) -> Result<()> {
        Ok(self.0.sync()?)
    }

    pub(crate) fn from_wit(container: wit::Container) -> Self {
        Container(container)
    }

    pub(crate) fn into_wit(self) -> wit::Container {
        self.0
    }
}

impl Directory {
    /// The names of the entries at `path` (relative to this directory, `.` for itself),
    /// sorted; subdirectories end with `/`.
    pub fn entries(&self, path: impl Into<String>) -> Result<Vec<String>> {
        Ok(self.0.entries(&path.into())?)
    }

    /// The file at `path`.
    pub fn file(&self, path: impl Into<String>) -> File {
        File(self.0.file(&path.into()))
    }

    /// The subdirectory at `path`.
    pub fn directory(&self, path: impl Into<String>) -> Directory {
        Directory(self.0.subdirectory(&path.into()))
    }

    /// This directory with a new file at `path` holding `contents`, with default
    /// permissions.
    pub fn with_new_file(&self, path: impl Into<String>, contents: impl Into<String>) -> Directory {
        Directory(self.0.with_new_file(&path.into(), &contents.into(), None))
    }

    /// This directory with a new file at `path` holding `contents`, with `permissions`.
    pub fn with_new_file_permissions(&self, path: impl Into<String>, contents: impl Into<String>, permissions: u32) -> Directory {
        Directory(self.0.with_new_file(&path.into(), &contents.into(), Some(permissions)))
    }

    /// This directory with a new file at `path` holding `contents`, any bytes, with
    /// default permissions.
    pub fn with_new_file_bytes(&self, path: impl Into<String>, contents: impl AsRef<[u8]>) -> Directory {
        Directory(self.0.with_new_file_bytes(&path.into(), contents.as_ref(), None))
    }

    /// This directory with a new file at `path` holding `contents`, any bytes, with
    /// `permissions`.
    pub fn with_new_file_bytes_permissions(&self, path: impl Into<String>, contents: impl AsRef<[u8]>, permissions: u32) -> Directory {
        Directory(self.0.with_new_file_bytes(&path.into(), contents.as_ref(), Some(permissions)))
    }

    /// This directory with `source` copied to `path`, with default permissions.
    pub fn with_file(&self, path: impl Into<String>, source: &File) -> Directory {
        Directory(self.0.with_file(&path.into(), &source.0, None))
    }

    /// This directory with `source` copied to `path` with `permissions`.
    pub fn with_file_permissions(&self, path: impl Into<String>, source: &File, permissions: u32) -> Directory {
        Directory(self.0.with_file(&path.into(), &source.0, Some(permissions)))
    }

    /// This directory with the contents of `source` copied into `path`.
    pub fn with_directory(&self, path: impl Into<String>, source: &Directory) -> Directory {
        self.with_directory_filtered(path, source, Filter::new())
    }

    /// This directory with the paths of `source` that `filter` selects copied into
    /// `path`.
    pub fn with_directory_filtered(&self, path: impl Into<String>, source: &Directory, filter: Filter) -> Directory {
        Directory(self.0.with_directory(&path.into(), &source.0, &filter.include, &filter.exclude))
    }

    /// This directory without the file or directory at `path`.
    pub fn without_file(&self, path: impl Into<String>) -> Directory {
        Directory(self.0.without_file(&path.into()))
    }

    /// `sha256:<hex>` over the tree's content (each path, mode and file content): equal
    /// trees have equal digests, on any machine.
    pub fn digest(&self) -> Result<String> {
        Ok(self.0.digest()?)
    }

    pub(crate) fn from_wit(directory: wit::Directory) -> Self {
        Directory(directory)
    }

    pub(crate) fn into_wit(self) -> wit::Directory {
        self.0
    }
}

impl File {
    /// The file's contents as UTF-8 text. Fails with
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when they are not UTF-8:
    /// read those with [`contents_bytes`](File::contents_bytes).
    pub fn contents(&self) -> Result<String> {
        Ok(self.0.contents()?)
    }

    /// The file's contents, any bytes.
    pub fn contents_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.0.contents_bytes()?)
    }

    /// The file's size in bytes.
    pub fn size(&self) -> Result<u64> {
        Ok(self.0.size()?)
    }

    /// The file's name: the last component of its path. Does not evaluate anything.
    pub fn name(&self) -> String {
        self.0.name()
    }

    /// `sha256:<hex>` of the file's contents.
    pub fn digest(&self) -> Result<String> {
        Ok(self.0.digest()?)
    }

    pub(crate) fn from_wit(file: wit::File) -> Self {
        File(file)
    }

    pub(crate) fn into_wit(self) -> wit::File {
        self.0
    }
}
