//! A module's dependencies at call time: resolving the graph recorded in `tanto.lock`,
//! building each dependency's component once per (commit, subpath, toolchain), and
//! handing the runtime [`Callable`]s that each see only their own dependencies.
//!
//! Resolution happens when a module first calls a dependency, from the local cache when
//! it can (no network for a warm cache) and online otherwise. The lock is never written
//! here: when it does not match `tanto.toml`, the call fails and says to run
//! `tanto install`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tanto_registry::git::{CacheLayout, GitCli, GitConfig};
use tanto_registry::install::{InstallOptions, InstalledModule, LocalModule, LockMode, UpdateSelection, resolve_graph};
use tanto_registry::lockfile::{VerifyError, read_lockfile, verify_component};
use tanto_registry::reference::Reference;
use tanto_registry::resolve::Network;
use tanto_registry::schema::lock::{LOCKFILE_NAME, Lockfile};
use tokio::sync::OnceCell;

use super::module_cache::ModuleCache;
use crate::engine::{Digest, StepReporter};
use crate::error::{Diagnose, ErrorKind, Hint, LocalError, UsageError};
use crate::module::build::{BuildError, Confinement, build_module, build_third_party};
use crate::module::python::build_python_module;
use crate::module::sandbox::UnsandboxedBuilds;
use crate::module::{Manifest, ManifestError, Sdk};
use crate::runtime::{Callable, Dependencies, Limits, LoadFileError, Runtime, RuntimeError};

/// How dependencies are fetched.
#[derive(Clone, Debug)]
pub struct DependencySettings {
    pub cache_root: PathBuf,
    /// `Offline`: only the local cache; a missing module is an error.
    pub network: Network,
    /// The limits the caller grants; a module's own `[limits]` can only lower them.
    pub limits: Limits,
    /// Whether a third-party module may be built unconfined when no sandbox can be made.
    pub unsandboxed: UnsandboxedBuilds,
    /// Where builds of dependencies show as steps.
    pub reporter: StepReporter,
}

impl DependencySettings {
    /// How third-party modules are built.
    pub fn build(&self) -> BuildSettings {
        BuildSettings {
            network: self.network,
            unsandboxed: self.unsandboxed,
            reporter: self.reporter.clone(),
        }
    }
}

/// The system `git` over the shared cache, with the process environment (credential
/// helpers, SSH agents and `insteadOf` mirrors work as for git users). A dependency a
/// third-party module declares may not lead to this machine's own addresses.
pub fn git_source(cache_root: &Path) -> GitCli {
    // What a repository may put in the cache is bounded as the engine's downloads are; a
    // ceiling that cannot be read is told about by the session that reads it.
    let ceiling = super::cache::max_size_from_env().unwrap_or(crate::engine::DEFAULT_CACHE_CEILING);
    let config = GitConfig::new()
        .with_declared_url_check(crate::engine::check_declared_module_url)
        .with_size_limit(ceiling);
    GitCli::new(config, CacheLayout::new(cache_root))
}

/// The graph of a project's dependencies, as `tanto.lock` records it.
struct Graph {
    modules: HashMap<String, InstalledModule>,
    local: Vec<LocalModule>,
    lockfile: Lockfile,
}

/// What every dependency of one call tree shares: the project, its lock, the graph.
struct Context {
    settings: DependencySettings,
    project_root: PathBuf,
    declared: tanto_registry::schema::manifest::Dependencies,
    graph: OnceCell<Arc<Graph>>,
    /// Components already loaded in this process, by component path.
    loaded: std::sync::Mutex<HashMap<PathBuf, crate::runtime::LoadedModule>>,
}

/// Whose dependencies a [`ModuleDependencies`] answers for.
#[derive(Clone)]
enum Scope {
    /// The module being called from the command line.
    Root,
    /// A git dependency, by lock id.
    Git(String),
    /// A local dependency, by path.
    Local(PathBuf),
}

/// The dependencies of one module in a project's graph.
pub struct ModuleDependencies {
    context: Arc<Context>,
    scope: Scope,
}

impl ModuleDependencies {
    /// The dependencies of the module at `project_root`, as its `manifest` declares them.
    pub fn for_project(project_root: &Path, manifest: &Manifest, settings: DependencySettings) -> Arc<dyn Dependencies> {
        if manifest.dependencies.is_empty() {
            return Arc::new(crate::runtime::NoDependencies);
        }
        Arc::new(Self {
            context: Arc::new(Context {
                settings,
                project_root: project_root.to_path_buf(),
                declared: manifest.dependencies.clone(),
                graph: OnceCell::new(),
                loaded: std::sync::Mutex::new(HashMap::new()),
            }),
            scope: Scope::Root,
        })
    }

    async fn graph(&self) -> Result<Arc<Graph>, RuntimeError> {
        self.context.graph.get_or_try_init(|| resolve_locked(self.context.clone())).await.cloned()
    }

    /// The module this scope's `name` refers to.
    fn find(&self, graph: &Graph, name: &str) -> Result<Target, RuntimeError> {
        let unknown = || RuntimeError::UnknownDependency {
            name: name.to_string(),
            declared: self.names_in(graph),
        };
        match &self.scope {
            Scope::Root => {
                let reference = self.context.declared.get(name).ok_or_else(unknown)?;
                if reference.is_local() {
                    return local_named(graph, name).ok_or_else(unknown);
                }
                // The lock has no root edges: the root's dependency is the entry from the
                // same source whose requirements include the one written in tanto.toml.
                let source = reference.source().to_string();
                let spec = reference.version().map(|version| version.to_string()).unwrap_or_default();
                graph
                    .modules
                    .values()
                    .filter(|module| module.source == source)
                    .max_by_key(|module| graph.lockfile.find(&module.id).is_some_and(|entry| entry.requirements.contains(&spec)))
                    .map(|module| Target::Git(module.clone()))
                    .ok_or_else(unknown)
            }
            Scope::Git(id) => {
                let module = graph.modules.get(id).ok_or_else(unknown)?;
                edges(graph, &module.dependencies, name).ok_or_else(unknown)
            }
            Scope::Local(path) => {
                let module = graph.local.iter().find(|module| &module.path == path).ok_or_else(unknown)?;
                edges(graph, &module.dependencies, name).ok_or_else(unknown)
            }
        }
    }

    fn names_in(&self, graph: &Graph) -> Vec<String> {
        match &self.scope {
            Scope::Root => self.context.declared.iter().map(|(name, _)| name.to_string()).collect(),
            Scope::Git(id) => graph.modules.get(id).map(|module| edge_names(graph, &module.dependencies)).unwrap_or_default(),
            Scope::Local(path) => graph
                .local
                .iter()
                .find(|module| &module.path == path)
                .map(|module| edge_names(graph, &module.dependencies))
                .unwrap_or_default(),
        }
    }
}

enum Target {
    Git(InstalledModule),
    Local(LocalModule),
}

fn local_named(graph: &Graph, name: &str) -> Option<Target> {
    graph
        .local
        .iter()
        .find(|module| module.name == name)
        .map(|module| Target::Local(module.clone()))
}

/// Among `edges` (lock ids of git modules, or paths of local ones), the one named `name`.
fn edges(graph: &Graph, edges: &[String], name: &str) -> Option<Target> {
    for edge in edges {
        if let Some(module) = graph.modules.get(edge).filter(|module| module.name == name) {
            return Some(Target::Git(module.clone()));
        }
        if let Some(module) = graph.local.iter().find(|module| module.path == Path::new(edge) && module.name == name) {
            return Some(Target::Local(module.clone()));
        }
    }
    None
}

fn edge_names(graph: &Graph, edges: &[String]) -> Vec<String> {
    edges
        .iter()
        .filter_map(|edge| {
            graph.modules.get(edge).map(|module| module.name.clone()).or_else(|| {
                graph
                    .local
                    .iter()
                    .find(|module| module.path == Path::new(edge))
                    .map(|module| module.name.clone())
            })
        })
        .collect()
}

/// `error` (typed, with its hint) as the reason a dependency cannot be called.
fn dependency_error(context: impl Into<String>, error: impl Diagnose) -> RuntimeError {
    RuntimeError::Dependency {
        context: context.into(),
        error: Box::new(error),
    }
}

/// A background task that ended without an answer: it panicked, a bug.
fn stopped(context: &str) -> impl FnOnce(tokio::task::JoinError) -> RuntimeError + '_ {
    move |error| RuntimeError::Internal {
        context: context.to_owned(),
        reason: error.to_string(),
    }
}

/// Resolves the project's graph from its lock without changing it: from the cache
/// first, online when the cache lacks something (unless offline).
async fn resolve_locked(context: Arc<Context>) -> Result<Arc<Graph>, RuntimeError> {
    tokio::task::spawn_blocking(move || {
        let lock_path = context.project_root.join(LOCKFILE_NAME);
        let existing = read_lockfile(&lock_path).map_err(|error| dependency_error("cannot read tanto.lock", error))?;
        // Local dependencies need no lock; git ones do (checked below).
        let existing = existing.unwrap_or_default();
        let git = git_source(&context.settings.cache_root);
        let options = |network| InstallOptions {
            network,
            lock_mode: LockMode::Locked,
            update: UpdateSelection::Nothing,
        };
        let resolution = match resolve_graph(&git, &context.project_root, &context.declared, Some(&existing), &options(Network::Offline)) {
            Ok(resolution) => resolution,
            Err(_) if context.settings.network == Network::Online => {
                resolve_graph(&git, &context.project_root, &context.declared, Some(&existing), &options(Network::Online))
                    .map_err(|error| dependency_error("cannot resolve the dependencies", error))?
            }
            Err(error) => return Err(dependency_error("cannot resolve the dependencies offline", error)),
        };
        if resolution.lockfile != existing {
            return Err(RuntimeError::LockOutOfDate {
                reason: "tanto.lock is missing or does not match the dependencies in tanto.toml".into(),
            });
        }
        Ok(Arc::new(Graph {
            modules: resolution.modules.into_iter().map(|module| (module.id.clone(), module)).collect(),
            local: resolution.local_modules,
            lockfile: resolution.lockfile,
        }))
    })
    .await
    .map_err(stopped("dependency resolution stopped"))?
}

#[async_trait::async_trait]
impl Dependencies for ModuleDependencies {
    async fn load(&self, runtime: &Arc<Runtime>, name: &str) -> Result<Callable, RuntimeError> {
        let graph = self.graph().await?;
        let target = self.find(&graph, name)?;
        let (root, scope, pinned_component) = match &target {
            Target::Git(module) => (module.path.clone(), Scope::Git(module.id.clone()), graph.lockfile.find(&module.id).cloned()),
            Target::Local(module) => (module.path.clone(), Scope::Local(module.path.clone()), None),
        };
        let git_module = match &target {
            Target::Git(module) => Some(GitModule {
                name: module.id.clone(),
                commit: module.commit.clone(),
                path: module.path.clone(),
            }),
            // A local path met inside a git checkout is part of a third-party repository.
            Target::Local(module) => inside_git_checkout(&self.context.settings.cache_root, &module.path, &module.name),
        };
        let context = || format!("dependency `{name}`");
        let manifest = match &git_module {
            Some(module) => read_dependency_manifest(&root, &module.name).map_err(|error| dependency_error(context(), error))?,
            None => Manifest::read(&root).map_err(|error| dependency_error(context(), error))?,
        };
        let settings = self.context.settings.clone();
        let manifest_for_build = manifest.clone();
        let root_for_build = root.clone();
        let wasm = tokio::task::spawn_blocking(move || {
            component_of(
                &root_for_build,
                &manifest_for_build,
                git_module.as_ref(),
                pinned_component.as_ref(),
                &settings.cache_root,
                settings.build(),
            )
        })
        .await
        .map_err(stopped("building a dependency stopped"))?
        .map_err(|error| dependency_error(context(), error))?
        .wasm;
        let module = {
            let cached = self.context.loaded.lock().ok().and_then(|loaded| loaded.get(&wasm).cloned());
            match cached {
                Some(module) => module,
                None => {
                    let module = runtime.load_file(&wasm).map_err(|error| match error {
                        LoadFileError::Read { path, source } => dependency_error(
                            context(),
                            LocalError {
                                context: format!("cannot read {}", path.display()),
                                error: source,
                            },
                        ),
                        LoadFileError::Load(error) => error,
                    })?;
                    if let Ok(mut loaded) = self.context.loaded.lock() {
                        loaded.insert(wasm.clone(), module.clone());
                    }
                    module
                }
            }
        };
        Ok(Callable {
            module,
            limits: limits_of(&manifest, &self.context.settings.limits),
            dependencies: Arc::new(ModuleDependencies {
                context: self.context.clone(),
                scope,
            }),
        })
    }

    fn names(&self) -> Vec<String> {
        match &self.scope {
            Scope::Root => self.context.declared.iter().map(|(name, _)| name.to_string()).collect(),
            _ => self.context.graph.get().map(|graph| self.names_in(graph)).unwrap_or_default(),
        }
    }
}

/// The sandbox limits of a module: the caller's `granted` limits (its flags, or the
/// defaults), lowered by the module's own `[limits]` where those are smaller. A module
/// never raises its limits. The manifest's values were checked when it was read; one
/// that is still unusable is ignored, which leaves the caller's limit.
pub fn limits_of(manifest: &Manifest, granted: &Limits) -> Limits {
    match manifest.limits.as_ref().map(|limits| limits.checked()) {
        Some(Ok(own)) => granted.lowered_by(own.cpu_time, own.memory_bytes, own.timeout),
        Some(Err(_)) | None => granted.clone(),
    }
}

/// An identity of the Rust toolchain, so components built by another compiler are not
/// mistaken for ours.
fn toolchain_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let version = std::process::Command::new(rustc)
            .arg("-vV")
            .output()
            .map(|output| output.stdout)
            .unwrap_or_default();
        Digest::of_bytes(&version).hex()[..16].to_string()
    })
}

/// How a module's component was obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The prebuilt component the module ships, with its sha256 (checked against the
    /// lock's pin when there is one).
    Prebuilt { digest: String },
    /// A third-party module built from source (now, or earlier and taken from the cache).
    Built { confinement: Confinement, cached: bool },
    /// The user's own (local) module, built on the host as cargo does.
    Local,
}

/// A module's component and how it was obtained.
#[derive(Clone, Debug)]
pub struct Obtained {
    pub wasm: PathBuf,
    pub origin: Origin,
}

/// What a git dependency is, for building it: where it was checked out, at which commit.
#[derive(Clone, Debug)]
pub struct GitModule {
    /// The lock id or the reference: how messages name it.
    pub name: String,
    pub commit: String,
    /// The module's folder inside its checkout.
    pub path: PathBuf,
}

/// How third-party modules are built.
#[derive(Clone, Debug)]
pub struct BuildSettings {
    /// `Offline`: their crates come from the local crate cache only.
    pub network: Network,
    pub unsandboxed: UnsandboxedBuilds,
    /// Where builds show as steps.
    pub reporter: StepReporter,
}

/// The component of a module: its prebuilt one (checked against the lock's pin), or one
/// built from source. Git modules are third-party code: everything their manifest names
/// must lie inside their checkout, and they are built once per (commit, subpath,
/// toolchain), in the sandbox, from a private copy of the checkout (see
/// [`build_third_party`]). A local module (`git` is `None`) is the user's own and builds
/// on the host.
pub fn component_of(
    root: &Path,
    manifest: &Manifest,
    git: Option<&GitModule>,
    entry: Option<&tanto_registry::schema::lock::LockedModule>,
    cache_root: &Path,
    build: BuildSettings,
) -> Result<Obtained, ComponentError> {
    let checkout = git.map(|module| checkout_root(&module.path));
    if let Some(component) = &manifest.component {
        let path = match (&checkout, git) {
            (Some(checkout), Some(module)) => inside_checkout(checkout, root, "component", component, &module.name)?,
            _ => root.join(component),
        };
        let bytes = std::fs::read(&path).map_err(|error| ComponentError::ReadPrebuilt {
            module: git.map(|module| module.name.clone()),
            path: path.clone(),
            error,
        })?;
        let digest = Digest::of_bytes(&bytes).to_string();
        if let Some(entry) = entry {
            verify_component(entry, &digest)?;
        }
        return Ok(Obtained {
            wasm: path,
            origin: Origin::Prebuilt { digest },
        });
    }
    let (Some(module), Some(checkout)) = (git, checkout) else {
        let built =
            build_module(manifest.sdk, &root.join(&manifest.source), cache_root, build.network, &build.reporter).map_err(|error| ComponentError::Build {
                root: root.to_path_buf(),
                error,
            })?;
        return Ok(Obtained {
            wasm: built.wasm,
            origin: Origin::Local,
        });
    };
    let source = inside_checkout(&checkout, root, "source", &manifest.source, &module.name)?;
    if manifest.sdk == Sdk::Python {
        // The checkout is immutable and componentize-py runs the module's Python only
        // inside WebAssembly, so it builds in place, once (the stamp keeps it).
        crate::module::python::refuse_named_locations(&source).map_err(ComponentError::ThirdParty)?;
        let built = build_python_module(&source, cache_root, build.network, &build.reporter).map_err(ComponentError::ThirdParty)?;
        return Ok(Obtained {
            wasm: built.wasm,
            origin: Origin::Built {
                confinement: Confinement::Componentize,
                cached: !built.rebuilt,
            },
        });
    }
    let crate_dir = source.strip_prefix(&checkout).unwrap_or(Path::new("")).to_path_buf();
    let subpath = module.path.strip_prefix(&checkout).unwrap_or(Path::new("")).to_path_buf();
    let key = Digest::of_bytes(format!("{}\0{}\0{}", module.commit, subpath.display(), toolchain_id()).as_bytes()).hex();
    let component = |confinement| {
        let suffix = match confinement {
            Confinement::Sandbox => "",
            Confinement::Host => "-unsandboxed",
            Confinement::Componentize => "-componentize",
        };
        ModuleCache::new(cache_root).built_dir().join(format!("{key}{suffix}.wasm"))
    };
    for confinement in [Confinement::Sandbox, Confinement::Host] {
        if component(confinement).is_file() {
            return Ok(Obtained {
                wasm: component(confinement),
                origin: Origin::Built { confinement, cached: true },
            });
        }
    }
    let work_folder = || LocalError::context("cannot create a build folder");
    let work = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in({
            let dir = cache_root.join("tmp");
            std::fs::create_dir_all(&dir).map_err(work_folder())?;
            dir
        })
        .map_err(work_folder())?;
    let copy = work.path().join("src");
    std::fs::create_dir_all(&copy).map_err(work_folder())?;
    copy_tree(&checkout, &checkout, &copy, &module.name)?;
    let (wasm, confinement) =
        build_third_party(work.path(), &crate_dir, &module.name, build.network, build.unsandboxed, &build.reporter).map_err(ComponentError::ThirdParty)?;
    crate::util::copy_atomic(&wasm, &component(confinement)).map_err(LocalError::context("cannot store the built component"))?;
    Ok(Obtained {
        wasm: component(confinement),
        origin: Origin::Built { confinement, cached: false },
    })
}

/// The module at `path` as third-party code, when `path` lies in a git checkout of the
/// cache (a local path dependency declared by a git module): it is built like the
/// repository it belongs to, never on the host.
pub fn inside_git_checkout(cache_root: &Path, path: &Path, name: &str) -> Option<GitModule> {
    let checkouts = ModuleCache::new(cache_root).checkouts_dir();
    let checkouts = checkouts.canonicalize().unwrap_or(checkouts);
    if !path.starts_with(&checkouts) {
        return None;
    }
    let checkout = checkout_root(path);
    let commit = checkout.file_name()?.to_str()?.to_owned();
    Some(GitModule {
        name: name.to_owned(),
        commit,
        path: path.to_path_buf(),
    })
}

/// Why a module's component (or, for a git dependency, its manifest) could not be
/// obtained.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    /// The checkout of a git dependency names or links to something outside it.
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    /// The `tanto.toml` of a git dependency is not one this tanto can use.
    #[error("{0}")]
    Manifest(ManifestError),
    /// The prebuilt component cannot be read; `module` names a git dependency.
    #[error("cannot read the prebuilt component{} {}: {error}", module.as_ref().map(|module| format!(" of {module}")).unwrap_or_default(), path.display())]
    ReadPrebuilt {
        module: Option<String>,
        path: PathBuf,
        error: std::io::Error,
    },
    /// The prebuilt component is not the one tanto.lock pins.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The user's own module did not build.
    #[error("cannot build {}: {error}", root.display())]
    Build { root: PathBuf, error: BuildError },
    /// A third-party module did not build.
    #[error("{0}")]
    ThirdParty(BuildError),
    /// A work folder or the cache could not be written.
    #[error(transparent)]
    Local(#[from] LocalError),
}

impl Diagnose for ComponentError {
    fn kind(&self) -> ErrorKind {
        match self {
            ComponentError::Checkout(error) => error.kind(),
            ComponentError::Manifest(_) | ComponentError::ReadPrebuilt { .. } => ErrorKind::User,
            ComponentError::Verify(error) => error.kind(),
            ComponentError::Build { error, .. } | ComponentError::ThirdParty(error) => error.kind(),
            ComponentError::Local(error) => error.kind(),
        }
    }

    fn hint(&self) -> Option<Hint> {
        match self {
            ComponentError::Checkout(error) => error.hint(),
            ComponentError::Manifest(_) | ComponentError::ReadPrebuilt { module: Some(_), .. } => Some(Hint::UnusableRelease),
            ComponentError::ReadPrebuilt { module: None, .. } => Some(Hint::BuildComponent),
            ComponentError::Verify(error) => Diagnose::hint(error),
            ComponentError::Build { error, .. } | ComponentError::ThirdParty(error) => error.hint(),
            ComponentError::Local(error) => error.hint(),
        }
    }
}

/// A path in a dependency's checkout that points outside it.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// Its `tanto.toml` names a path outside its repository.
    #[error("dependency {module}: `{field} = \"{}\"` in its tanto.toml points outside its repository; refusing to use it", path.display())]
    OutsideCheckout { module: String, field: &'static str, path: PathBuf },
    /// A symlink in its repository points outside it.
    #[error("dependency {module}: `{}` is a symlink to `{}`, outside its repository; refusing to use it", path.display(), target.display())]
    SymlinkOutside { module: String, path: PathBuf, target: PathBuf },
    #[error("dependency {module}: cannot read {}: {source}", path.display())]
    Io {
        module: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Diagnose for CheckoutError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::User
    }

    fn hint(&self) -> Option<Hint> {
        Some(Hint::UnusableRelease)
    }
}

/// `relative`, a path the manifest of the dependency in `module_dir` names, resolved
/// inside its `checkout` both lexically and after following symlinks; anything else is
/// refused before it is read.
pub fn inside_checkout(checkout: &Path, module_dir: &Path, field: &'static str, relative: &Path, module: &str) -> Result<PathBuf, CheckoutError> {
    let outside = || CheckoutError::OutsideCheckout {
        module: module.to_owned(),
        field,
        path: relative.to_path_buf(),
    };
    if relative.is_absolute() {
        return Err(outside());
    }
    let joined = normalize(&module_dir.join(relative));
    if !joined.starts_with(checkout) {
        return Err(outside());
    }
    if let Ok(real) = joined.canonicalize() {
        let root = checkout.canonicalize().map_err(|source| CheckoutError::Io {
            module: module.to_owned(),
            path: checkout.to_path_buf(),
            source,
        })?;
        if !real.starts_with(&root) {
            return Err(outside());
        }
    }
    Ok(joined)
}

/// Reads the manifest of the git dependency in `module_dir`, refusing a `tanto.toml` that
/// is a symlink out of its checkout.
pub fn read_dependency_manifest(module_dir: &Path, module: &str) -> Result<Manifest, ComponentError> {
    let checkout = checkout_root(module_dir);
    inside_checkout(&checkout, module_dir, "manifest", Path::new(crate::module::MANIFEST_NAME), module)?;
    Manifest::read(module_dir).map_err(ComponentError::Manifest)
}

/// Refuses the checkout of a dependency if any symlink in it points outside it.
pub fn check_checkout(module_dir: &Path, module: &str) -> Result<(), CheckoutError> {
    let checkout = checkout_root(module_dir);
    walk_checkout(&checkout, &checkout, module, &mut |_, _| Ok(()))
}

/// Removes `.` and folds `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut normalized = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                normalized.pop();
            }
            other => normalized.push(other),
        }
    }
    normalized
}

/// Visits every entry under `dir` (skipping `.git` and `target`) after checking that a
/// symlink stays inside `checkout`: its target must be relative, stay inside lexically,
/// and, when it exists, resolve inside.
fn walk_checkout(
    checkout: &Path,
    dir: &Path,
    module: &str,
    visit: &mut dyn FnMut(&Path, std::fs::FileType) -> Result<(), CheckoutError>,
) -> Result<(), CheckoutError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CheckoutError::Io {
            module: module.to_owned(),
            path,
            source,
        }
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(io(dir))?.collect::<Result<_, _>>().map_err(io(dir))?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type().map_err(io(&path))?;
        if kind.is_dir() && (entry.file_name() == ".git" || entry.file_name() == "target") {
            continue;
        }
        if kind.is_symlink() {
            let target = std::fs::read_link(&path).map_err(io(&path))?;
            let refused = || CheckoutError::SymlinkOutside {
                module: module.to_owned(),
                path: path.strip_prefix(checkout).unwrap_or(&path).to_path_buf(),
                target: target.clone(),
            };
            if target.is_absolute() || !normalize(&dir.join(&target)).starts_with(checkout) {
                return Err(refused());
            }
            if let Ok(real) = path.canonicalize()
                && !checkout.canonicalize().is_ok_and(|root| real.starts_with(root))
            {
                return Err(refused());
            }
        }
        visit(&path, kind)?;
        if kind.is_dir() {
            walk_checkout(checkout, &path, module, visit)?;
        }
    }
    Ok(())
}

/// The root of the git checkout holding `path` (checkouts hold whole repositories).
pub(crate) fn checkout_root(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|dir| {
            dir.parent()
                .and_then(Path::file_name)
                .is_some_and(|_| dir.join(".git").exists() || is_commit_dir(dir))
        })
        .map(Path::to_path_buf)
        .unwrap_or_else(|| path.to_path_buf())
}

/// Checkout folders are named by their 40-hex commit.
fn is_commit_dir(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.len() == 40 && name.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Copies the checkout `from` (whose root is `checkout`) to `to`, refusing it whole if a
/// symlink in it points outside: the copy is all its build will see.
fn copy_tree(checkout: &Path, from: &Path, to: &Path, module: &str) -> Result<(), CheckoutError> {
    walk_checkout(checkout, from, module, &mut |path, kind| {
        let relative = path.strip_prefix(from).unwrap_or(path);
        let target = to.join(relative);
        let io = |source| CheckoutError::Io {
            module: module.to_owned(),
            path: path.to_path_buf(),
            source,
        };
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(io)
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(path).map_err(io)?, &target).map_err(io)
        } else {
            std::fs::copy(path, &target).map(drop).map_err(io)
        }
    })
}

/// A remote reference given to `tanto call -m`, resolved and checked out: the module
/// folder, and the graph of its own dependencies from its own lock.
pub fn checkout_remote(reference: &Reference, settings: &DependencySettings) -> Result<PathBuf, RuntimeError> {
    let git = git_source(&settings.cache_root);
    let mut declared = tanto_registry::schema::manifest::Dependencies::new();
    declared
        .insert(reference.default_name(), reference.clone())
        .map_err(|name| dependency_error("invalid module name", UsageError::new(name)))?;
    let options = InstallOptions {
        network: settings.network,
        lock_mode: LockMode::Write,
        update: UpdateSelection::Nothing,
    };
    let scratch =
        tempfile::tempdir().map_err(|error| dependency_error(format!("cannot fetch {reference}"), LocalError::context("cannot create a folder")(error)))?;
    let resolution =
        resolve_graph(&git, scratch.path(), &declared, None, &options).map_err(|error| dependency_error(format!("cannot fetch {reference}"), error))?;
    resolution
        .modules
        .into_iter()
        .find(|module| module.name == reference.default_name())
        .map(|module| module.path)
        .ok_or_else(|| RuntimeError::Internal {
            context: format!("cannot fetch {reference}"),
            reason: "it resolved to no module".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkout folder named by a commit, as the cache lays them out, with a module in
    /// `mods/a` and a host folder beside it.
    fn layout() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let checkout = dir.path().join("checkouts").join("a".repeat(40));
        std::fs::create_dir_all(checkout.join("mods/a/src")).unwrap();
        std::fs::create_dir_all(checkout.join("shared")).unwrap();
        let host = dir.path().join("host");
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("secret"), "host secret").unwrap();
        (dir, checkout, host)
    }

    #[test]
    fn manifest_paths_stay_inside_the_checkout() {
        let (_dir, checkout, host) = layout();
        let module = checkout.join("mods/a");
        assert_eq!(checkout_root(&module), checkout);
        let inside = |path: &str| inside_checkout(&checkout, &module, "source", Path::new(path), "a@1.0.0");
        assert_eq!(inside(".").unwrap(), module);
        assert_eq!(inside("../../shared").unwrap(), checkout.join("shared"));
        for refused in ["/etc/passwd", "../../..", "../../../host/secret", "src/../../../../host"] {
            assert!(matches!(inside(refused), Err(CheckoutError::OutsideCheckout { .. })), "{refused} was accepted");
        }
        // A link inside that leads out is refused once resolved.
        std::os::unix::fs::symlink(&host, module.join("out")).unwrap();
        assert!(matches!(inside("out/secret"), Err(CheckoutError::OutsideCheckout { .. })));
        std::os::unix::fs::symlink("../../shared", module.join("in")).unwrap();
        assert_eq!(inside("in").unwrap(), module.join("in"));
    }

    #[test]
    fn links_out_of_a_checkout_refuse_it_and_links_inside_are_copied_as_links() {
        let (dir, checkout, host) = layout();
        let module = checkout.join("mods/a");
        std::fs::write(module.join("src/lib.rs"), "// lib").unwrap();
        std::os::unix::fs::symlink("lib.rs", module.join("src/alias.rs")).unwrap();
        std::os::unix::fs::symlink("../../shared", module.join("shared")).unwrap();
        let copy = dir.path().join("copy");
        std::fs::create_dir_all(&copy).unwrap();
        copy_tree(&checkout, &checkout, &copy, "a@1.0.0").unwrap();
        assert_eq!(std::fs::read_link(copy.join("mods/a/src/alias.rs")).unwrap(), Path::new("lib.rs"));
        assert_eq!(std::fs::read_to_string(copy.join("mods/a/src/alias.rs")).unwrap(), "// lib");
        check_checkout(&module, "a@1.0.0").unwrap();

        // `deep` leads inside; `src/through-link` is inside lexically (src/deep/../../.. is
        // the checkout) but physically climbs out through `deep`.
        std::os::unix::fs::symlink("../../../shared", module.join("src/deep")).unwrap();
        for (name, target) in [
            ("absolute", host.join("secret")),
            ("climbing", PathBuf::from("../../../../host/secret")),
            ("through-link", PathBuf::from("deep/../../..")),
        ] {
            let link = module.join("src").join(name);
            std::os::unix::fs::symlink(&target, &link).unwrap();
            let error = check_checkout(&module, "a@1.0.0").unwrap_err();
            assert!(
                matches!(&error, CheckoutError::SymlinkOutside { module, .. } if module == "a@1.0.0"),
                "{name}: {error}"
            );
            let fresh = dir.path().join(format!("copy-{name}"));
            std::fs::create_dir_all(&fresh).unwrap();
            assert!(copy_tree(&checkout, &checkout, &fresh, "a@1.0.0").is_err(), "{name}");
            std::fs::remove_file(&link).unwrap();
        }
    }
}
