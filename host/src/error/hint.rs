//! [`Hint`]: what a user can do about an error, as data, and its wording: the one place
//! a hint becomes text (as uv's `PubGrubHint`).

use std::fmt;
use std::io::ErrorKind as IoErrorKind;
use std::path::PathBuf;

use semver::Version;

/// A suggestion that accompanies an error. `Display` renders one sentence without a
/// `hint:` prefix: the CLI chooses the presentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hint {
    /// A hint of `tanto-registry`, in the CLI's wording where it names a flag or a command.
    Registry(tanto_registry::Hint),

    // ---- the machine ------------------------------------------------------------------
    /// The Docker daemon cannot be reached.
    StartDocker,
    /// A remote Docker engine (`tcp://`) did not answer.
    ReachRemoteEngine {
        address: String,
    },
    /// An engine reached through `ssh://` did not answer.
    CheckEngineSsh {
        address: String,
    },
    /// The TLS material for an engine is missing, unreadable or refused.
    CheckEngineTls {
        address: String,
    },
    /// `DOCKER_HOST` names no engine tanto can use.
    CheckDockerHost,
    /// A Docker context is missing or unreadable.
    CheckDockerContext {
        name: String,
    },
    /// An image is neither local nor pullable.
    ImageUnavailable,
    /// A registry refused the credentials it was given.
    CheckRegistryCredentials {
        registry: String,
    },
    /// A registry wants credentials and none were given.
    GiveRegistryCredentials {
        registry: String,
    },
    /// A file operation in tanto's own cache failed.
    CheckCacheFolder,
    /// Something tanto should have handled.
    ReportBug,

    // ---- modules and their manifests --------------------------------------------------
    /// No `tanto.toml` was found.
    CreateModule,
    /// `-m` names neither an existing path nor a module reference.
    CheckModulePath,
    /// A `tanto.toml` does not parse.
    FixManifestLine,
    /// A `[limits]` value is unusable.
    ManifestLimits,
    /// A function name is unknown.
    ListFunctions,

    // ---- building modules -------------------------------------------------------------
    /// The Rust toolchain lacks the `wasm32-wasip2` target.
    AddWasmTarget,
    /// There is no usable Rust toolchain.
    InstallRust,
    /// The module's code does not compile.
    FixCompileErrors,
    /// The module's crate builds no component.
    MakeCdylib,
    /// No sandbox can be made for a third-party build.
    InstallBubblewrap,
    /// The crates of a module could not be fetched.
    CheckCratesNetwork,
    /// componentize-py, which builds Python modules, is not installed.
    InstallComponentizePy,
    /// A Python module has no `main.py`.
    AddPythonMain,
    /// A Python module fails to import or to describe itself.
    FixPythonErrors,
    /// A module's pyproject.toml does not parse.
    FixPyprojectLine,
    /// pip could not install a Python module's packages.
    CheckPythonPackages,
    /// A Python module lists a package with native code.
    PurePythonPackages,
    /// A Python module's packages are not cached, and the call is offline.
    InstallPythonPackagesOnline,

    // ---- components ---------------------------------------------------------------------
    /// A file is no WebAssembly component at all.
    BuildWithSdk,
    /// A core module, where a component was expected.
    BuildForWasip2,
    /// A component for another world.
    UseTantoWorld,
    /// The record of a vendored SDK is unusable.
    RewriteSdkRecord {
        sdk_dir: PathBuf,
    },
    /// A vendored SDK is newer than this tanto's.
    UpgradeTantoOrVendorItsSdk,
    /// The module vendors an SDK older than this tanto's (shown before a build, not on
    /// an error): `tanto develop` updates it.
    DevelopOlderVendoredSdk {
        vendored: Version,
        host: Version,
    },
    /// The module vendors an SDK newer than this tanto's (shown before a build): tanto
    /// is the one to upgrade.
    UpgradeTantoForVendoredSdk {
        vendored: Version,
        host: Version,
    },
    /// An SDK update would overwrite the user's changes.
    ReapplySdkChanges {
        sdk: String,
    },
    /// A component built against a version of the API newer than every one served.
    UpgradeTantoFor {
        api: String,
    },
    /// A component built against a version of the API older than every one served.
    RebuildWithThisSdk,
    /// A module's `describe` declared an invalid schema.
    FixSchema,

    // ---- limits ---------------------------------------------------------------------------
    RaiseCpuLimit,
    RaiseMemoryLimit,
    /// The module made the host hold too much.
    DropObjectsOrRaiseMemory,
    DropObjects,
    RaiseTimeout,
    /// A stack overflow.
    EndlessRecursion,
    /// Too much data in one call between module and host.
    SmallerCalls,

    // ---- dependencies -------------------------------------------------------------------
    /// A module called a dependency it does not declare.
    DeclareDependency,
    /// The name `tanto install` would give is taken.
    InstallUnderAnotherName {
        name: String,
        requested: String,
    },
    /// `uninstall` named something else; these are the dependencies (none: it declares none).
    InstalledDependencies {
        names: Vec<String>,
    },
    /// `update --locked` would change the lock.
    UpdateWithoutLocked,
    /// A released module is broken (its manifest, its component, its paths).
    UnusableRelease,
    /// `tanto develop` wrote the dependencies' API, which `src/lib.rs` does not declare.
    DeclareDependenciesModule,
    /// A dependency's name cannot become a Rust identifier in the generated bindings.
    RenameDependencyForBindings {
        name: String,
    },
    /// A file tanto writes in the user's module (`tanto.toml`, `src/dependencies.rs`, the
    /// vendored SDK) cannot be read or written.
    WritableModuleFile {
        file: PathBuf,
    },

    // ---- publish --------------------------------------------------------------------------
    /// The prebuilt component named in `tanto.toml` is missing.
    BuildComponent,
    /// The prebuilt component is not committed.
    CommitComponent {
        component: PathBuf,
    },

    // ---- init -----------------------------------------------------------------------------
    /// The folder already holds a module.
    ChooseAnotherFolder,
    /// The module's name is not valid.
    NameTheModule,
    /// The folder already holds a Cargo project.
    InitInNewFolder,
    /// The module's folder or files cannot be written.
    WritableFolder,

    // ---- results ----------------------------------------------------------------------------
    /// `-o` names a path that cannot be written; `problem` is what writing it met.
    OutputPath {
        problem: IoErrorKind,
    },
    /// `-o` was given a result no path can hold (a container, a number, a list).
    ShowWithoutOutput,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use tanto_registry::Hint as RegistryHint;
        match self {
            Hint::Registry(RegistryHint::FillCache) => {
                f.write_str("run `tanto install` without --offline once, so the module is fetched into the cache")
            }
            Hint::Registry(RegistryHint::CheckNetwork { url }) => {
                write!(f, "check the network connection to {url} (proxy, firewall), or pass --offline if the cache already holds the module")
            }
            Hint::Registry(RegistryHint::KnownModules { names }) if names.is_empty() => {
                f.write_str("tanto.lock lists no modules yet: run `tanto install` first")
            }
            Hint::Registry(other) => write!(f, "{other}"),

            Hint::StartDocker => f.write_str(
                "start the Docker daemon (`scripts/setup` does it on a fresh machine) or point DOCKER_HOST at a running one; check with `docker info`",
            ),
            Hint::ReachRemoteEngine { address } => write!(
                f,
                "check that a Docker engine listens at {address} and that this machine reaches it (`docker -H {address} info`); DOCKER_HOST, else DOCKER_CONTEXT, else `docker context use` chooses the engine"
            ),
            Hint::CheckEngineSsh { address } => write!(
                f,
                "check that `ssh` reaches the host of {address} without a prompt (a key in your agent or ~/.ssh/config, the host in known_hosts) and that `docker system dial-stdio` runs there (`docker -H {address} info`)"
            ),
            Hint::CheckEngineTls { address } => write!(
                f,
                "the engine at {address} is reached with TLS: ca.pem, cert.pem and key.pem must be in DOCKER_CERT_PATH (else ~/.docker) or in the context's TLS folder, the engine's certificate must be signed by that ca.pem and name the host, and the engine must accept cert.pem (try `docker -H {address} --tlsverify info`)"
            ),
            Hint::CheckDockerHost => f.write_str(
                "DOCKER_HOST takes unix:///path/to/docker.sock, tcp://host:port (with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH for TLS) or ssh://[user@]host[:port]; unset it to use the local daemon",
            ),
            Hint::CheckDockerContext { name } => write!(
                f,
                "`docker context ls` lists the contexts; choose another with DOCKER_CONTEXT or `docker context use`, or inspect this one with `docker context inspect {name}`"
            ),
            Hint::ImageUnavailable => f.write_str(
                "the image is neither on this machine nor pullable: check the address, `docker pull` it, or build it locally (`docker image ls` lists what is here)",
            ),
            Hint::CheckRegistryCredentials { registry } => write!(
                f,
                "{registry} refused the user name or password: check the credentials your Docker configuration holds for it (`docker login {registry}`) or the ones given to `with-registry-auth`"
            ),
            Hint::GiveRegistryCredentials { registry } => write!(
                f,
                "{registry} needs credentials: run `docker login {registry}` (tanto reads your Docker configuration, DOCKER_CONFIG or ~/.docker/config.json) or give them with `with-registry-auth`"
            ),
            Hint::CheckCacheFolder => {
                f.write_str("a local file operation failed: check free space and permissions of the tanto cache (TANTO_CACHE_DIR)")
            }
            Hint::ReportBug => f.write_str("this is a bug in tanto: please report it with the output of `-vv`"),

            Hint::CreateModule => f.write_str("create a module with `tanto init --sdk=rust`, or name one with `-m PATH`"),
            Hint::CheckModulePath => f.write_str("check the path, or give a module reference such as github.com/owner/repo/module@v1.0.0"),
            Hint::FixManifestLine => f.write_str(
                "fix the line shown above; a tanto.toml has `name = \"...\"`, `sdk = \"rust\"` and optionally `[dependencies]` of module references",
            ),
            Hint::ManifestLimits => f.write_str(
                "`[limits]` takes cpu-seconds (a positive number), memory-mib (1 to 65536) and timeout (`90s`, `30m`, `2h`, at most 7d); each can only lower what the caller grants",
            ),
            Hint::ListFunctions => f.write_str("`tanto functions` lists the functions and their arguments"),

            Hint::AddWasmTarget => f.write_str("run `rustup target add wasm32-wasip2` (or `scripts/setup`)"),
            Hint::InstallRust => f.write_str("install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-wasip2`"),
            Hint::FixCompileErrors => f.write_str("fix the compile errors above, then call again"),
            Hint::InstallComponentizePy => f.write_str(
                "run `scripts/setup` (it installs componentize-py 0.25.1 into ~/.local/share/tanto/python), or set TANTO_COMPONENTIZE_PY to a componentize-py 0.25.1 executable",
            ),
            Hint::AddPythonMain => f.write_str("put the module's @tanto.module class in main.py (`tanto init --sdk=python` writes one)"),
            Hint::FixPythonErrors => f.write_str("fix the Python error above (file and line are in the traceback), then call again"),
            Hint::FixPyprojectLine => {
                f.write_str("fix the line shown above; the module's packages are `[project] dependencies = [\"name==1.0\", ...]`")
            }
            Hint::CheckPythonPackages => f.write_str(
                "check the requirements in pyproject.toml's `[project] dependencies` and the connection to PyPI; each package needs a pure-Python wheel (py3-none-any)",
            ),
            Hint::PurePythonPackages => f.write_str(
                "remove it from pyproject.toml's `[project] dependencies`, or use a pure-Python alternative (a py3-none-any wheel)",
            ),
            Hint::InstallPythonPackagesOnline => f.write_str("run once without --offline, so pip installs them into the cache"),
            Hint::MakeCdylib => f.write_str("set `[lib] crate-type = [\"cdylib\"]` in the module's Cargo.toml"),
            Hint::InstallBubblewrap => f.write_str(
                "install bubblewrap (`apt-get install bubblewrap`; `scripts/setup` does it), or pass --allow-unsandboxed-builds to run the module's build scripts on this machine with your privileges",
            ),
            Hint::CheckCratesNetwork => f.write_str("check the network connection to crates.io, or run without --offline once"),

            Hint::BuildWithSdk => f.write_str("a module is a WebAssembly component built with a tanto SDK (`tanto init --sdk=rust`)"),
            Hint::BuildForWasip2 => f.write_str(
                "build for the wasm32-wasip2 target, which produces a component (`cargo build --target wasm32-wasip2`), not wasm32-unknown-unknown or wasm32-wasip1",
            ),
            Hint::UseTantoWorld => f.write_str(
                "a tanto module imports `tanto:core/client` and exports `tanto:core/guest` of one version this tanto serves; build it with tanto-sdk (`tanto init --sdk=rust`)",
            ),
            Hint::RewriteSdkRecord { sdk_dir } => write!(
                f,
                "`tanto develop --force` replaces {} with this tanto's SDK and writes a new record",
                sdk_dir.display()
            ),
            Hint::UpgradeTantoOrVendorItsSdk => f.write_str("upgrade tanto; or run `tanto develop --force` to vendor this tanto's SDK instead"),
            Hint::DevelopOlderVendoredSdk { vendored, host } => write!(
                f,
                "this module vendors tanto-sdk {vendored} (sdk/), older than this tanto's {host}: run `tanto develop` to update it"
            ),
            Hint::UpgradeTantoForVendoredSdk { vendored, host } => {
                write!(f, "this module vendors tanto-sdk {vendored} (sdk/), newer than this tanto's {host}: upgrade tanto")
            }
            Hint::ReapplySdkChanges { sdk } => write!(
                f,
                "an update replaces the whole SDK: keep a copy of your changes, run `tanto develop --force` to vendor {sdk}, then apply them again if they are still needed"
            ),
            Hint::UpgradeTantoFor { api } => write!(f, "the module needs a newer tanto, one that serves {api}"),
            Hint::RebuildWithThisSdk => {
                f.write_str("rebuild the module with the tanto SDK of this tanto (`tanto init --sdk=rust` makes a module with it)")
            }
            Hint::FixSchema => f.write_str(
                "the module's author must fix its `describe`; modules built with a tanto SDK's macros always declare valid schemas",
            ),

            Hint::RaiseCpuLimit => f.write_str(
                "if the module really needs more, raise the budget with --cpu-limit=SECONDS (a module's `[limits]` in tanto.toml can lower it, never raise it)",
            ),
            Hint::RaiseMemoryLimit => f.write_str(
                "if the module really needs more, raise the limit with --memory-limit=MIB (a module's `[limits]` in tanto.toml can lower it, never raise it)",
            ),
            Hint::DropObjectsOrRaiseMemory => f.write_str(
                "drop objects the module no longer needs (and keep big strings out of keys and arguments), or raise the limit with --memory-limit=MIB",
            ),
            Hint::DropObjects => f.write_str("drop objects the module no longer needs"),
            Hint::RaiseTimeout => f.write_str("if the module really needs longer, raise the limit with --timeout=DURATION (`2h`)"),
            Hint::EndlessRecursion => f.write_str("look for a recursion without end in the module"),
            Hint::SmallerCalls => f.write_str("hand big data over in pieces, or as files a container makes rather than strings"),

            Hint::DeclareDependency => f.write_str("declare it under [dependencies] in tanto.toml with `tanto install REF --name NAME`"),
            Hint::InstallUnderAnotherName { name, requested } => write!(
                f,
                "install it under another name with `tanto install {requested} --name NAME`, or run `tanto uninstall {name}` first"
            ),
            Hint::InstalledDependencies { names } if names.is_empty() => f.write_str("tanto.toml declares no dependencies"),
            Hint::InstalledDependencies { names } => write!(f, "installed dependencies: {}", names.join(", ")),
            Hint::UpdateWithoutLocked => f.write_str("run `tanto update` without --locked to accept the new versions"),
            Hint::UnusableRelease => {
                f.write_str("this release of the module is unusable: depend on another version, or ask its maintainer to fix it")
            }

            Hint::DeclareDependenciesModule => {
                f.write_str("add `mod dependencies; use dependencies::Dependencies;` to src/lib.rs to call them as dag().NAME()")
            }

            Hint::RenameDependencyForBindings { name } => write!(
                f,
                "rename it: `tanto uninstall {name}`, then `tanto install REF --name NAME` with a name that starts with a letter"
            ),
            Hint::WritableModuleFile { file } => write!(
                f,
                "tanto writes {} in the module: make it a file you can read and write (or remove it), in a folder you can write to, then run the command again",
                file.display()
            ),

            Hint::BuildComponent => f.write_str("build the component, or fix `component = \"...\"` in tanto.toml"),
            Hint::CommitComponent { component } => write!(
                f,
                "commit it (`git add -f {}` if git ignores it), then publish again",
                component.display()
            ),

            Hint::ChooseAnotherFolder => f.write_str("choose another folder, or call the existing module with `tanto call`"),
            Hint::NameTheModule => f.write_str("pass a name with letters, digits, `-` and `_`: --name=my-module"),
            Hint::InitInNewFolder => f.write_str("create the module in a new folder: `tanto init --sdk=rust PATH`"),
            Hint::WritableFolder => f.write_str("create the module in a folder you can write to: `tanto init --sdk=rust PATH`"),

            Hint::OutputPath { problem } => match problem {
                IoErrorKind::NotADirectory => {
                    f.write_str("part of that path is a file, not a folder: pass -o a path whose folders exist or can be created")
                }
                IoErrorKind::IsADirectory => f.write_str("that path is a folder: pass -o the path of a file to create or replace"),
                IoErrorKind::PermissionDenied | IoErrorKind::ReadOnlyFilesystem => {
                    f.write_str("that place cannot be written: pass -o a path in a folder you can write to")
                }
                IoErrorKind::NotFound => f.write_str("the folder of that path does not exist: create it, or pass -o another path"),
                IoErrorKind::AlreadyExists => f.write_str("a file is where the folder would go: remove it, or pass -o another path"),
                IoErrorKind::StorageFull | IoErrorKind::QuotaExceeded => f.write_str("free some space there, or pass -o a path on another disk"),
                _ => f.write_str("pass -o a path in a folder you can write to"),
            },
            Hint::ShowWithoutOutput => {
                f.write_str("call it without -o: the result is printed (a container as its digest; --json adds its image)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_names_its_flags_in_registry_hints() {
        let fill = Hint::Registry(tanto_registry::Hint::FillCache).to_string();
        assert!(fill.contains("without --offline"), "{fill}");
        let empty = Hint::Registry(tanto_registry::Hint::KnownModules { names: Vec::new() }).to_string();
        assert_eq!(empty, "tanto.lock lists no modules yet: run `tanto install` first");
        // Hints the CLI does not reword read as the registry wrote them.
        let cycle = Hint::Registry(tanto_registry::Hint::BreakCycle);
        assert_eq!(cycle.to_string(), tanto_registry::Hint::BreakCycle.to_string());
    }

    #[test]
    fn an_unwritable_output_path_says_what_stood_in_the_way() {
        let hint = |problem| Hint::OutputPath { problem }.to_string();
        assert!(hint(IoErrorKind::NotADirectory).contains("is a file"));
        assert!(hint(IoErrorKind::IsADirectory).contains("is a folder"));
        assert!(hint(IoErrorKind::PermissionDenied).contains("cannot be written"));
        assert!(hint(IoErrorKind::Other).starts_with("pass -o"));
    }
}
