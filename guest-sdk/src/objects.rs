//! The pipeline API: the root [`Client`] and the [`Container`], [`Directory`], [`File`]
//! and [`Secret`] objects, thin wrappers over the host's resources that take idiomatic Rust
//! arguments.

use crate::bindings::tanto::core::{client as wit_client, types as wit};
use crate::error::Result;

/// Generates the methods of an object that wrap one method of its WIT resource each,
/// one table line per method: its doc comment, its signature and the WIT call.
///
/// ```text
/// /// This container with commands run in `path`.
/// fn with_workdir(path: String) -> Container = with_workdir(path);
/// ```
///
/// An argument is written as the kind of Rust argument it is; the method takes it as
/// the idiomatic type and hands the WIT call the converted value under the same name:
///
/// | table | the method takes | the WIT call gets |
/// |---|---|---|
/// | `String` | `impl Into<String>` | `&String` (read as `&str`) |
/// | `Strings` | `impl IntoIterator<Item = impl Into<String>>` | `&Vec<String>` |
/// | `Bytes` | `impl AsRef<[u8]>` | `&[u8]` |
/// | `&Directory`, `&File`, `&CacheVolume`, `&Secret` | a reference to the object | its WIT handle |
/// | `u32`, `Filter`, `BuildOptions` | the value | the value |
/// | `Sharing`, `ExecOptions` (an SDK record) | the record | the WIT record |
///
/// The WIT call's result becomes the return type through [`Wrap`]: a resource becomes
/// its object and a WIT error an [`Error`](crate::Error).
macro_rules! wrappers {
    ($object:ident {
        $(
            $(#[$attribute:meta])*
            fn $name:ident($($argument:ident: $(&$handle:ident)? $($kind:ident)?),*) -> $returned:ty = $wit_method:ident($($wit_argument:expr),*);
        )*
    }) => {
        impl $object {
            $(
                $(#[$attribute])*
                pub fn $name(&self, $($argument: $(&$handle)? $(argument_type!($kind))?),*) -> $returned {
                    $(
                        $(let $argument: &wit::$handle = &$argument.0;)?
                        $(let $argument = argument_value!($kind, $argument);)?
                    )*
                    Wrap::wrap(self.0.$wit_method($($wit_argument),*))
                }
            )*
        }
    };
}

/// The type a [`wrappers!`] method takes for an argument of `kind`.
macro_rules! argument_type {
    (String) => { impl Into<String> };
    (Strings) => { impl IntoIterator<Item = impl Into<String>> };
    (Bytes) => { impl AsRef<[u8]> };
    (u32) => { u32 };
    (Filter) => { Filter };
    (BuildOptions) => { BuildOptions };
    ($record:ident) => { $record };
}

/// The value a [`wrappers!`] method hands the WIT call for `argument`, of `kind`.
macro_rules! argument_value {
    (String, $argument:ident) => {
        &Into::<String>::into($argument)
    };
    (Strings, $argument:ident) => {
        &strings($argument)
    };
    (Bytes, $argument:ident) => {
        AsRef::<[u8]>::as_ref(&$argument)
    };
    (u32, $argument:ident) => {
        $argument
    };
    (Filter, $argument:ident) => {
        $argument
    };
    (BuildOptions, $argument:ident) => {
        $argument
    };
    ($record:ident, $argument:ident) => {
        wit::$record::from($argument)
    };
}

/// What a WIT resource method returns, as the SDK method returns it.
trait Wrap<Returned> {
    fn wrap(returned: Returned) -> Self;
}

/// Strings, numbers, lists of them and `()` are the same on both sides.
impl<T> Wrap<T> for T {
    fn wrap(returned: T) -> Self {
        returned
    }
}

impl<T: Wrap<Returned>, Returned> Wrap<std::result::Result<Returned, wit::Error>> for Result<T> {
    fn wrap(returned: std::result::Result<Returned, wit::Error>) -> Self {
        Ok(T::wrap(returned?))
    }
}

impl Wrap<wit::Container> for Container {
    fn wrap(returned: wit::Container) -> Self {
        Container(returned)
    }
}

impl Wrap<wit::Directory> for Directory {
    fn wrap(returned: wit::Directory) -> Self {
        Directory(returned)
    }
}

impl Wrap<wit::File> for File {
    fn wrap(returned: wit::File) -> Self {
        File(returned)
    }
}

impl Wrap<wit::GitRepository> for GitRepository {
    fn wrap(returned: wit::GitRepository) -> Self {
        GitRepository(returned)
    }
}

impl Wrap<wit::GitRef> for GitRef {
    fn wrap(returned: wit::GitRef) -> Self {
        GitRef(returned)
    }
}

impl Wrap<wit::Service> for Service {
    fn wrap(returned: wit::Service) -> Self {
        Service(returned)
    }
}

impl Wrap<wit::Secret> for Secret {
    fn wrap(returned: wit::Secret) -> Self {
        Secret(returned)
    }
}

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

    /// The git repository at `url` (`https://`, `http://`, `ssh://`, `git://` or
    /// `user@host:path`), read with the user's own git: credential helpers, SSH agent
    /// and `insteadOf` rules apply. Local paths and `file://` are refused.
    ///
    /// ```no_run
    /// let source = tanto_sdk::dag().git("https://github.com/acme/app").tag("v1.2.0").tree();
    /// ```
    pub fn git(&self, url: impl Into<String>) -> GitRepository {
        GitRepository(wit_client::git(&url.into()))
    }

    /// The file at `url` (`http://` or `https://`), downloaded when something reads it.
    /// A status other than 2xx fails evaluation ([`Error::NotFound`](crate::Error::NotFound)
    /// for 404).
    ///
    /// ```no_run
    /// let tool = tanto_sdk::dag().http("https://example.com/tool-1.0.tar.gz");
    /// ```
    pub fn http(&self, url: impl Into<String>) -> File {
        File(wit_client::http(&url.into()))
    }

    /// A secret named `name` holding `plaintext`, for
    /// [`Container::with_secret_variable`] and [`Container::with_mounted_secret`]. From
    /// now on the host scrubs the value from everything it shows.
    ///
    /// A value a module holds in a string has passed through the module; when it comes
    /// from the caller, take a [`Secret`] argument instead (`--token=env://TOKEN`).
    pub fn set_secret(&self, name: impl Into<String>, plaintext: impl Into<String>) -> Secret {
        Secret(wit_client::set_secret(&name.into(), &plaintext.into()))
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

    /// [`Client::call`] on a dependency whose schema declares a constructor, with the
    /// constructor's named arguments (those left out take the dependency's defaults), as
    /// `tanto call --name=value FUNCTION` gives them.
    ///
    /// ```no_run
    /// use tanto_sdk::value::IntoValue;
    ///
    /// let greeting: String = tanto_sdk::dag().call_constructed(
    ///     "greeter",
    ///     vec![("greeting", "hi".to_string().into_value())],
    ///     "greet",
    ///     vec![("name", "ada".to_string().into_value())],
    /// )?;
    /// # Ok::<(), tanto_sdk::Error>(())
    /// ```
    pub fn call_constructed<T: crate::value::FromValue>(
        &self,
        module: &str,
        constructor_arguments: Vec<(&str, crate::value::Value)>,
        function: &str,
        arguments: Vec<(&str, crate::value::Value)>,
    ) -> Result<T> {
        let owned = |arguments: Vec<(&str, crate::value::Value)>| -> Vec<(String, wit::Value)> {
            arguments.into_iter().map(|(name, value)| (name.to_owned(), value.into())).collect()
        };
        let value = wit_client::call_constructed(module, owned(constructor_arguments), function, owned(arguments))?;
        T::from_value(value.into()).map_err(|mismatch| crate::Error::Failed(format!("module `{module}`, function `{function}`: {mismatch}")))
    }
}

/// A persistent volume for caches, from [`Client::cache_volume`]. Its key, never its
/// contents, is part of a step's identity, so a warm cache speeds a step up without
/// changing what is cached about it.
#[derive(Debug)]
pub struct CacheVolume(wit::CacheVolume);

wrappers!(CacheVolume {
    /// The key the volume was made with.
    fn key() -> String = key();
});

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

/// A secret: a token, a password, a key, from a `secret` argument
/// (`--token=env://TOKEN`, `file://PATH`, `cmd://"COMMAND"`) or from
/// [`Client::set_secret`].
///
/// The host keeps its value in memory only: it never enters an image, its configuration
/// or history, the cache, a log or an error message (output that shows it reads `***`),
/// and no method reads it back. A step that uses it runs again when the value changes.
#[derive(Debug)]
pub struct Secret(wit::Secret);

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

/// How [`Directory::docker_build_opts`] builds: the Dockerfile's build arguments, the
/// stage to stop at and the secrets its `RUN --mount=type=secret,id=NAME` read.
///
/// ```no_run
/// # let source = tanto_sdk::dag().directory();
/// # let token = tanto_sdk::dag().set_secret("npm-token", "...");
/// use tanto_sdk::BuildOptions;
///
/// let tests = source.docker_build_opts("Dockerfile", BuildOptions::new().build_arg("VERSION", "1.2").target("test").secret(&token));
/// ```
#[derive(Debug, Clone, Default)]
pub struct BuildOptions<'a> {
    /// `ARG` values by name, in order (a name given twice keeps its last value).
    pub build_args: Vec<(String, String)>,
    /// The stage to stop at; the Dockerfile's last stage when `None`.
    pub target: Option<String>,
    /// Secrets the build reads by their name (a name given twice keeps the last one).
    pub secrets: Vec<&'a Secret>,
}

impl<'a> BuildOptions<'a> {
    /// No build arguments, the last stage, no secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// These options with the build argument `name` set to `value`.
    pub fn build_arg(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.build_args.push((name.into(), value.into()));
        self
    }

    /// These options stopping at stage `stage` (`FROM ... AS stage`).
    pub fn target(mut self, stage: impl Into<String>) -> Self {
        self.target = Some(stage.into());
        self
    }

    /// These options with `secret` readable by `RUN --mount=type=secret,id=NAME`, `NAME`
    /// being [`secret.name()`](Secret::name) (at `/run/secrets/NAME` unless the mount's
    /// `target=` says where). The value never enters the image or its history.
    pub fn secret(mut self, secret: &'a Secret) -> Self {
        self.secrets.push(secret);
        self
    }

    fn wit_build_args(&self) -> Vec<wit::BuildArg> {
        self.build_args
            .iter()
            .map(|(name, value)| wit::BuildArg {
                name: name.clone(),
                value: value.clone(),
            })
            .collect()
    }

    fn wit_secrets(&self) -> Vec<&'a wit::Secret> {
        self.secrets.iter().map(|secret| &secret.0).collect()
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

wrappers!(Container {
    /// This container with its root filesystem and configuration replaced by the image
    /// at `address` (`busybox:latest`, `docker.io/library/rust:1.95`, ...). The host
    /// uses a local image when there is one and pulls it otherwise.
    fn from(address: String) -> Container = from(address);

    /// This container after running `args` in it as `options` say.
    fn with_exec_opts(args: Strings, options: ExecOptions) -> Container = with_exec(args, &options);

    /// This container with the environment variable `name` set to `value`.
    fn with_env_variable(name: String, value: String) -> Container = with_env_variable(name, value);

    /// This container without the environment variable `name`.
    fn without_env_variable(name: String) -> Container = without_env_variable(name);

    /// This container with commands run in `path`.
    fn with_workdir(path: String) -> Container = with_workdir(path);

    /// This container with commands run as `name` (`user`, `uid`, `user:group`).
    fn with_user(name: String) -> Container = with_user(name);

    /// This container with the given entrypoint.
    fn with_entrypoint(args: Strings) -> Container = with_entrypoint(args);

    /// This container with the given default arguments (the image's `CMD`).
    fn with_default_args(args: Strings) -> Container = with_default_args(args);

    /// This container with the image label `name` set to `value`.
    fn with_label(name: String, value: String) -> Container = with_label(name, value);

    /// This container with the contents of `source` copied into `path`.
    fn with_directory(path: String, source: &Directory) -> Container = with_directory(path, source, &[], &[], None);

    /// This container with the paths of `source` that `filter` selects copied into
    /// `path`.
    fn with_directory_filtered(path: String, source: &Directory, filter: Filter) -> Container = with_directory(path, source, &filter.include, &filter.exclude, None);

    /// This container with the contents of `source` copied into `path`, owned by
    /// `owner`: `user`, `uid`, `user:group` or `uid:gid`, names looked up in the
    /// container's `/etc/passwd` and `/etc/group` (the other copying methods leave what
    /// they copy to root). `path` itself is not copied: an existing folder keeps its
    /// owner and mode, a missing one is made by root.
    fn with_directory_owner(path: String, source: &Directory, owner: String) -> Container = with_directory(path, source, &[], &[], Some(owner.as_str()));

    /// This container with `source` copied to `path`, with default permissions.
    fn with_file(path: String, source: &File) -> Container = with_file(path, source, None, None);

    /// This container with `source` copied to `path` with `permissions` (`0o755`).
    fn with_file_permissions(path: String, source: &File, permissions: u32) -> Container = with_file(path, source, Some(permissions), None);

    /// This container with `source` copied to `path`, owned by `owner` (as for
    /// [`with_directory_owner`](Container::with_directory_owner)).
    fn with_file_owner(path: String, source: &File, owner: String) -> Container = with_file(path, source, None, Some(owner.as_str()));

    /// This container with a new file at `path` holding `contents`, with default
    /// permissions.
    fn with_new_file(path: String, contents: String) -> Container = with_new_file(path, contents, None, None);

    /// This container with a new file at `path` holding `contents`, with `permissions`
    /// (`0o755` for a script).
    fn with_new_file_permissions(path: String, contents: String, permissions: u32) -> Container = with_new_file(path, contents, Some(permissions), None);

    /// This container with a new file at `path` holding `contents`, owned by `owner` (as
    /// for [`with_directory_owner`](Container::with_directory_owner)).
    fn with_new_file_owner(path: String, contents: String, owner: String) -> Container = with_new_file(path, contents, None, Some(owner.as_str()));

    /// This container with a new file at `path` holding `contents`, any bytes (a
    /// binary, an archive), with default permissions.
    fn with_new_file_bytes(path: String, contents: Bytes) -> Container = with_new_file_bytes(path, contents, None, None);

    /// This container with a new file at `path` holding `contents`, any bytes, with
    /// `permissions` (`0o755` for a program).
    fn with_new_file_bytes_permissions(path: String, contents: Bytes, permissions: u32) -> Container = with_new_file_bytes(path, contents, Some(permissions), None);

    /// This container without the file or link at `path` (unchanged when there is
    /// none).
    fn without_file(path: String) -> Container = without_file(path);

    /// This container without the directory at `path` and everything in it (unchanged
    /// when there is none).
    fn without_directory(path: String) -> Container = without_directory(path);

    /// This container with a symbolic link at `link_name` pointing to `target` (kept as
    /// a link; `target` may be relative to the link's folder).
    fn with_symlink(target: String, link_name: String) -> Container = with_symlink(target, link_name);

    /// This container with `source` mounted at `path` for the commands that follow.
    ///
    /// A mount is not part of the container's filesystem: it is not in
    /// [`directory`](Container::directory) results or in a published image.
    fn with_mounted_directory(path: String, source: &Directory) -> Container = with_mounted_directory(path, source);

    /// The file at `path` in this container.
    fn file(path: String) -> File = file(path);

    /// The directory at `path` in this container.
    fn directory(path: String) -> Directory = directory(path);

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
    fn with_mounted_cache(path: String, cache: &CacheVolume, sharing: Sharing) -> Container = with_mounted_cache(path, cache, sharing);

    /// This container with an empty in-memory file system (tmpfs) at `path` for the
    /// commands that follow.
    fn with_mounted_temp(path: String) -> Container = with_mounted_temp(path);

    /// This container with the environment variable `name` set to the value of
    /// `secret` for the commands that follow; never part of the image's configuration.
    ///
    /// The variable is set by `/bin/sh` when each command starts, so the image needs
    /// one; for an image without a shell, use
    /// [`with_mounted_secret`](Container::with_mounted_secret).
    ///
    /// ```no_run
    /// # let token = tanto_sdk::dag().set_secret("token", "example");
    /// use tanto_sdk::dag;
    ///
    /// let upload = dag()
    ///     .container()
    ///     .from("busybox:latest")
    ///     .with_secret_variable("TOKEN", &token)
    ///     .with_exec(["sh", "-c", "test -n \"$TOKEN\""]);
    /// ```
    fn with_secret_variable(name: String, secret: &Secret) -> Container = with_secret_variable(name, secret);

    /// This container with the value of `source` as a read-only file at `path` for the
    /// commands that follow (mode `0o400`, owned by the container's user when it is
    /// numeric, else root), on a mount that is never part of the image.
    fn with_mounted_secret(path: String, source: &Secret) -> Container = with_mounted_secret(path, source, None, None);

    /// This container with the value of `source` as a read-only file at `path`, owned
    /// by `owner` (`"1000"` or `"1000:1000"`: numeric ids) with `mode` (`0o440`).
    fn with_mounted_secret_owned(path: String, source: &Secret, owner: String, mode: u32) -> Container = with_mounted_secret(path, source, Some(owner.as_str()), Some(mode));

    /// The standard output of the last command. Runs every pending command.
    fn stdout() -> Result<String> = stdout();

    /// The standard error of the last command. Runs every pending command.
    fn stderr() -> Result<String> = stderr();

    /// The exit code of the last command. Runs every pending command.
    ///
    /// A command whose exit code its [`Expect`] does not allow fails evaluation, so this
    /// is where [`Expect::Any`] pays off.
    fn exit_code() -> Result<i32> = exit_code();

    /// Runs every pending command, for a pipeline whose effect matters and not its
    /// output.
    fn sync() -> Result<()> = sync();

    /// This container with `username` and the password in `secret` as its credentials for
    /// the registry of `address` (`ghcr.io`, `host:port`, or an image address), used by
    /// the [`from`](Container::from) and [`publish`](Container::publish) that follow. The
    /// password stays in the host's memory: never in an image, a cache key or a log.
    fn with_registry_auth(address: String, username: String, secret: &Secret) -> Container = with_registry_auth(address, username, secret);

    /// Pushes this container as an image to `address` (`registry/repository[:tag]`, tag
    /// `latest` when it names none) and returns `address@sha256:<digest>`.
    ///
    /// The image's configuration is exactly this container's (entrypoint, default
    /// arguments, environment, working directory, user, exposed ports, labels) and its
    /// files are this container's files. The host pushes with the credentials given by
    /// [`with_registry_auth`](Container::with_registry_auth), else the user's own for the
    /// registry (their Docker configuration); a registry that refuses them fails with
    /// [`Error::Backend`](crate::Error::Backend), naming the registry.
    fn publish(address: String) -> Result<String> = publish(address);

    /// This container as an image archive (`docker save` format, untagged): a file that
    /// `docker load` accepts and [`import`](Container::import) reads back. Returned from a
    /// function, `tanto call ... -o image.tar` saves it.
    fn export() -> File = export();

    /// Opens `cmd` (`/bin/sh` when empty) interactively in this container's state, on the
    /// user's terminal, and returns its exit code once it exits: a breakpoint for looking
    /// around (its files after every pending command, its environment, working directory,
    /// user and mounts). What is done in the shell does not change this container.
    ///
    /// Fails with [`Error::InvalidArgument`](crate::Error::InvalidArgument) when tanto
    /// has no interactive terminal (its input or output is a pipe, as in CI): remove the
    /// call before committing the pipeline.
    fn terminal(cmd: Strings) -> Result<i32> = terminal(cmd);

    /// This container with its root filesystem and configuration replaced by those of the
    /// one image in the archive `source` (`docker save` format). The archive's tags are
    /// ignored: importing never renames an image on the user's daemon.
    fn import(source: &File) -> Container = import(source);
});

impl Container {
    /// This container after running `args` in it, which must exit with code 0.
    ///
    /// The command runs without a shell: `["sh", "-c", "..."]` gives it one. Use
    /// [`with_exec_opts`](Container::with_exec_opts) to allow other exit codes, feed
    /// standard input or use the entrypoint.
    pub fn with_exec(&self, args: impl IntoIterator<Item = impl Into<String>>) -> Container {
        self.with_exec_opts(args, ExecOptions::default())
    }

    pub(crate) fn from_wit(container: wit::Container) -> Self {
        Container(container)
    }

    pub(crate) fn into_wit(self) -> wit::Container {
        self.0
    }
}

// Services.
wrappers!(Container {
    /// This container with TCP `port` exposed, beside the ports its image exposes
    /// (`EXPOSE`): a [`Service`] made from it listens there, and is ready once each of
    /// its TCP ports accepts connections. `publish` writes them into the image's
    /// configuration.
    fn with_exposed_port(port: u32) -> Container = with_exposed_port(port, wit::NetworkProtocol::Tcp, None);

    /// [`with_exposed_port`](Container::with_exposed_port) with a protocol and a
    /// description (UDP ports are not waited for: a service exposing only UDP is ready
    /// once its command runs).
    fn with_exposed_port_described(port: u32, protocol: NetworkProtocol, description: String) -> Container = with_exposed_port(port, protocol, Some(description.as_str()));

    /// This container's default command (entrypoint and default arguments) run as a
    /// [`Service`], with this container's mounts and secrets, as a step would have them.
    fn as_service() -> Service = as_service(&Vec::new(), false);

    /// `args` run as a [`Service`] (without the entrypoint).
    fn as_service_with_args(args: Strings) -> Service = as_service(args, false);

    /// `args` run as a [`Service`] after the container's entrypoint.
    fn as_service_with_entrypoint(args: Strings) -> Service = as_service(args, true);

    /// This container with `service` reachable at the host name `alias` by the commands
    /// that follow. The service starts before the first of them and stops once none is
    /// running; a step that binds it is cached by what the service runs.
    ///
    /// ```no_run
    /// use tanto_sdk::dag;
    ///
    /// let web = dag()
    ///     .container()
    ///     .from("busybox:latest")
    ///     .with_exposed_port(80)
    ///     .as_service_with_args(["httpd", "-f", "-p", "80", "-h", "/www"]);
    /// let page = dag()
    ///     .container()
    ///     .from("busybox:latest")
    ///     .with_service_binding("web", &web)
    ///     .with_exec(["wget", "-qO-", "http://web/"])
    ///     .stdout()?;
    /// # Ok::<(), tanto_sdk::Error>(())
    /// ```
    fn with_service_binding(alias: String, service: &Service) -> Container = with_service_binding(alias, service);
});

// Scoped mounts.
wrappers!(Container {
    /// This container without the mount at `path` (made by
    /// [`with_mounted_cache`](Container::with_mounted_cache),
    /// [`with_mounted_directory`](Container::with_mounted_directory), ...), for the
    /// commands that follow: they do not see it, and their cache keys no longer name it.
    /// A mount otherwise applies to every command after it. Unchanged when nothing is
    /// mounted at `path`.
    ///
    /// ```no_run
    /// use tanto_sdk::{Sharing, dag};
    ///
    /// let built = dag()
    ///     .container()
    ///     .from("debian:bookworm")
    ///     .with_mounted_cache("/var/cache/apt", &dag().cache_volume("apt"), Sharing::Locked)
    ///     .with_exec(["apt-get", "install", "-y", "gcc"])
    ///     .without_mount("/var/cache/apt")
    ///     .with_exec(["gcc", "--version"]);
    /// ```
    fn without_mount(path: String) -> Container = without_mount(path);
});

/// The transport protocol of a port exposed with
/// [`Container::with_exposed_port_described`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum NetworkProtocol {
    /// TCP: checked for readiness (the port must accept a connection).
    #[default]
    Tcp,
    /// UDP: not checked for readiness.
    Udp,
}

impl From<NetworkProtocol> for wit::NetworkProtocol {
    fn from(protocol: NetworkProtocol) -> Self {
        match protocol {
            NetworkProtocol::Tcp => wit::NetworkProtocol::Tcp,
            NetworkProtocol::Udp => wit::NetworkProtocol::Udp,
        }
    }
}

/// A container's command kept running in the background, from
/// [`Container::as_service`]: steps reach it over the network once they bind it with
/// [`Container::with_service_binding`]. Steps that bind the same service share one
/// running instance; it stops when none of them is running, and at the end of the run
/// at the latest. Returned from a function, `tanto call FUNCTION up` runs it with its
/// ports forwarded to the caller's machine.
#[derive(Debug)]
pub struct Service(wit::Service);

wrappers!(Service {
    /// `hostname:port` of its first exposed port, where steps that bind it reach it.
    fn endpoint() -> Result<String> = endpoint(None, None);

    /// `scheme://hostname:port` (`http://tanto-service-…:80`).
    fn endpoint_url(port: u32, scheme: String) -> Result<String> = endpoint(Some(port), Some(scheme.as_str()));

    /// Its name on the run's network: steps that bind it reach it by this name as well
    /// as by their alias.
    fn hostname() -> Result<String> = hostname();

    /// Starts it (if it is not running) and keeps it running until
    /// [`stop`](Service::stop) or the end of the run.
    fn start() -> Result<()> = start();

    /// Lets go of what [`start`](Service::start) held: it stops once no running step
    /// binds it.
    fn stop() -> Result<()> = stop();
});

impl Service {
    pub(crate) fn from_wit(service: wit::Service) -> Self {
        Service(service)
    }

    pub(crate) fn into_wit(self) -> wit::Service {
        self.0
    }
}

wrappers!(Directory {
    /// The names of the entries at `path` (relative to this directory, `.` for itself),
    /// sorted; subdirectories end with `/`.
    fn entries(path: String) -> Result<Vec<String>> = entries(path);

    /// The file at `path`.
    fn file(path: String) -> File = file(path);

    /// The subdirectory at `path`.
    fn directory(path: String) -> Directory = subdirectory(path);

    /// This directory with a new file at `path` holding `contents`, with default
    /// permissions.
    fn with_new_file(path: String, contents: String) -> Directory = with_new_file(path, contents, None);

    /// This directory with a new file at `path` holding `contents`, with `permissions`.
    fn with_new_file_permissions(path: String, contents: String, permissions: u32) -> Directory = with_new_file(path, contents, Some(permissions));

    /// This directory with a new file at `path` holding `contents`, any bytes, with
    /// default permissions.
    fn with_new_file_bytes(path: String, contents: Bytes) -> Directory = with_new_file_bytes(path, contents, None);

    /// This directory with a new file at `path` holding `contents`, any bytes, with
    /// `permissions`.
    fn with_new_file_bytes_permissions(path: String, contents: Bytes, permissions: u32) -> Directory = with_new_file_bytes(path, contents, Some(permissions));

    /// This directory with `source` copied to `path`, with default permissions.
    fn with_file(path: String, source: &File) -> Directory = with_file(path, source, None);

    /// This directory with `source` copied to `path` with `permissions`.
    fn with_file_permissions(path: String, source: &File, permissions: u32) -> Directory = with_file(path, source, Some(permissions));

    /// This directory with the contents of `source` copied into `path`.
    fn with_directory(path: String, source: &Directory) -> Directory = with_directory(path, source, &[], &[]);

    /// This directory with the paths of `source` that `filter` selects copied into
    /// `path`.
    fn with_directory_filtered(path: String, source: &Directory, filter: Filter) -> Directory = with_directory(path, source, &filter.include, &filter.exclude);

    /// This directory without the file or directory at `path`.
    fn without_file(path: String) -> Directory = without_file(path);

    /// The paths of the files, directories and links that match `pattern`, sorted. `*`
    /// does not cross `/`; `**` does.
    ///
    /// ```no_run
    /// # let source = tanto_sdk::dag().directory();
    /// let sources: Vec<String> = source.glob("**/*.rs")?;
    /// # Ok::<(), tanto_sdk::Error>(())
    /// ```
    fn glob(pattern: String) -> Result<Vec<String>> = glob(pattern);

    /// This directory with a symbolic link at `link_name` pointing to `target`. The link
    /// stays a link: exporting the directory writes a link, never what it points at.
    fn with_symlink(target: String, link_name: String) -> Directory = with_symlink(target, link_name);

    /// `sha256:<hex>` over the tree's content (each path, mode and file content): equal
    /// trees have equal digests, on any machine.
    fn digest() -> Result<String> = digest();

    /// A container from the image the Dockerfile at `dockerfile` (a path in this
    /// directory) builds with this directory as its context, through the Docker daemon's
    /// builder.
    fn docker_build(dockerfile: String) -> Container = docker_build(dockerfile, &[], None, &[]);

    /// [`docker_build`](Directory::docker_build) with build arguments, a target stage and
    /// build secrets.
    fn docker_build_opts(dockerfile: String, options: BuildOptions) -> Container = docker_build(dockerfile, &options.wit_build_args(), options.target.as_deref(), &options.wit_secrets());
});

impl Directory {
    pub(crate) fn from_wit(directory: wit::Directory) -> Self {
        Directory(directory)
    }

    pub(crate) fn into_wit(self) -> wit::Directory {
        self.0
    }
}

wrappers!(Secret {
    /// The name the secret was made with (for a `secret` argument, the reference the
    /// caller gave: `env://TOKEN`). Never the value.
    fn name() -> String = name();
});

impl Secret {
    pub(crate) fn from_wit(secret: wit::Secret) -> Self {
        Secret(secret)
    }

    pub(crate) fn into_wit(self) -> wit::Secret {
        self.0
    }
}

wrappers!(File {
    /// The file's contents as UTF-8 text. Fails with
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when they are not UTF-8:
    /// read those with [`contents_bytes`](File::contents_bytes).
    fn contents() -> Result<String> = contents();

    /// The file's contents, any bytes.
    fn contents_bytes() -> Result<Vec<u8>> = contents_bytes();

    /// The file's size in bytes.
    fn size() -> Result<u64> = size();

    /// The file's name: the last component of its path. Does not evaluate anything.
    fn name() -> String = name();

    /// `sha256:<hex>` of the file's contents.
    fn digest() -> Result<String> = digest();
});

impl File {
    pub(crate) fn from_wit(file: wit::File) -> Self {
        File(file)
    }

    pub(crate) fn into_wit(self) -> wit::File {
        self.0
    }
}

/// A remote git repository, from [`Client::git`]. Pick a ref of it; nothing is fetched
/// until the ref's tree or commit is read.
#[derive(Debug)]
pub struct GitRepository(wit::GitRepository);

wrappers!(GitRepository {
    /// The branch `name`.
    fn branch(name: String) -> GitRef = branch(name);

    /// The tag `name`, annotated or not.
    fn tag(name: String) -> GitRef = tag(name);

    /// The commit with the full id `id` (40 hexadecimal digits).
    fn commit(id: String) -> GitRef = commit(id);

    /// Any ref the repository advertises: a full name (`refs/pull/1/head`), or a branch
    /// or tag name.
    fn git_ref(name: String) -> GitRef = ref_(name);
});

/// A ref of a git repository (a branch, a tag, a commit), resolved to a commit when
/// read.
#[derive(Debug)]
pub struct GitRef(wit::GitRef);

wrappers!(GitRef {
    /// The files of the commit: no `.git`, links kept as links, submodules left out.
    /// Each commit is fetched once, then read from the cache.
    fn tree() -> Directory = tree();

    /// The full id of the commit this ref resolves to (asks the remote for a branch or
    /// a tag).
    fn commit() -> Result<String> = commit();
});
