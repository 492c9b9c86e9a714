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
use tanto_registry::lockfile::{read_lockfile, verify_component};
use tanto_registry::reference::Reference;
use tanto_registry::resolve::Network;
use tanto_registry::schema::lock::{LOCKFILE_NAME, Lockfile};
use tokio::sync::OnceCell;

use crate::engine::Digest;
use crate::module::build::build_rust_module;
use crate::module::{Manifest, Sdk};
use crate::runtime::{Callable, Dependencies, Limits, Runtime, RuntimeError};

/// How dependencies are fetched.
#[derive(Clone, Debug)]
pub struct DependencySettings {
    pub cache_root: PathBuf,
    /// `Offline`: only the local cache; a missing module is an error.
    pub network: Network,
    /// The limits the caller grants; a module's own `[limits]` can only lower them.
    pub limits: Limits,
}

/// The system `git` over the shared cache, with the process environment (credential
/// helpers, SSH agents and `insteadOf` mirrors work as for git users).
pub fn git_source(cache_root: &Path) -> GitCli {
    GitCli::new(GitConfig::new(), CacheLayout::new(cache_root))
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

fn dependency_error(context: &str, error: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Dependency {
        message: format!("{context}: {error}"),
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
    .map_err(|error| dependency_error("dependency resolution stopped", error))?
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
        let manifest = Manifest::read(&root).map_err(|error| dependency_error(&format!("dependency `{name}`"), error))?;
        let settings = self.context.settings.clone();
        let target_commit = match &target {
            Target::Git(module) => Some((module.commit.clone(), module.path.clone())),
            Target::Local(_) => None,
        };
        let manifest_for_build = manifest.clone();
        let root_for_build = root.clone();
        let wasm = tokio::task::spawn_blocking(move || {
            component_of(
                &root_for_build,
                &manifest_for_build,
                target_commit,
                pinned_component.as_ref(),
                &settings.cache_root,
            )
        })
        .await
        .map_err(|error| dependency_error("building a dependency stopped", error))??;
        let module = {
            let cached = self.context.loaded.lock().ok().and_then(|loaded| loaded.get(&wasm).cloned());
            match cached {
                Some(module) => module,
                None => {
                    let bytes = std::fs::read(&wasm).map_err(|error| dependency_error(&format!("cannot read {}", wasm.display()), error))?;
                    let module = runtime.load(&wasm, &bytes)?;
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

/// The component of a module: its prebuilt one (checked against the lock's pin), or one
/// built from source. Git modules are built once per (commit, subpath, toolchain), from
/// a copy of the checkout so the cached tree stays exactly what the lock hashed.
pub fn component_of(
    root: &Path,
    manifest: &Manifest,
    git: Option<(String, PathBuf)>,
    entry: Option<&tanto_registry::schema::lock::LockedModule>,
    cache_root: &Path,
) -> Result<PathBuf, RuntimeError> {
    if let Some(component) = &manifest.component {
        let path = root.join(component);
        let bytes = std::fs::read(&path).map_err(|error| dependency_error(&format!("cannot read the prebuilt component {}", path.display()), error))?;
        if let Some(entry) = entry {
            verify_component(entry, &Digest::of_bytes(&bytes).to_string()).map_err(|error| RuntimeError::Dependency { message: error.to_string() })?;
        }
        return Ok(path);
    }
    match manifest.sdk {
        Sdk::Rust => {}
    }
    let Some((commit, module_path)) = git else {
        let built = build_rust_module(&root.join(&manifest.source), cache_root)
            .map_err(|error| dependency_error(&format!("cannot build {}", root.display()), error))?;
        return Ok(built.wasm);
    };
    let checkout = checkout_root(&module_path);
    let subpath = module_path.strip_prefix(&checkout).unwrap_or(Path::new("")).to_path_buf();
    let key = Digest::of_bytes(format!("{commit}\0{}\0{}", subpath.display(), toolchain_id()).as_bytes()).hex();
    let component = cache_root.join("modules").join(format!("{key}.wasm"));
    if component.is_file() {
        return Ok(component);
    }
    let work = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in({
            let dir = cache_root.join("tmp");
            std::fs::create_dir_all(&dir).map_err(|error| dependency_error("cannot create a build folder", error))?;
            dir
        })
        .map_err(|error| dependency_error("cannot create a build folder", error))?;
    copy_tree(&checkout, work.path()).map_err(|error| dependency_error(&format!("cannot copy {}", checkout.display()), error))?;
    let source = work.path().join(&subpath).join(&manifest.source);
    let built = build_rust_module(&source, &work.path().join(".tanto-build"))
        .map_err(|error| dependency_error(&format!("cannot build the dependency at {}", module_path.display()), error))?;
    crate::util::copy_atomic(&built.wasm, &component).map_err(|error| dependency_error("cannot store the built component", error))?;
    Ok(component)
}

/// The root of the git checkout holding `path` (checkouts hold whole repositories).
fn checkout_root(path: &Path) -> PathBuf {
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

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if entry.file_name() == ".git" || entry.file_name() == "target" {
                continue;
            }
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// A remote reference given to `tanto call -m`, resolved and checked out: the module
/// folder, and the graph of its own dependencies from its own lock.
pub fn checkout_remote(reference: &Reference, settings: &DependencySettings) -> Result<PathBuf, RuntimeError> {
    let git = git_source(&settings.cache_root);
    let mut declared = tanto_registry::schema::manifest::Dependencies::new();
    declared
        .insert(reference.default_name(), reference.clone())
        .map_err(|name| dependency_error("invalid module name", name))?;
    let options = InstallOptions {
        network: settings.network,
        lock_mode: LockMode::Write,
        update: UpdateSelection::Nothing,
    };
    let scratch = tempfile::tempdir().map_err(|error| dependency_error("cannot create a folder", error))?;
    let resolution =
        resolve_graph(&git, scratch.path(), &declared, None, &options).map_err(|error| dependency_error(&format!("cannot fetch {reference}"), error))?;
    resolution
        .modules
        .into_iter()
        .find(|module| module.name == reference.default_name())
        .map(|module| module.path)
        .ok_or_else(|| dependency_error(&format!("cannot fetch {reference}"), "it resolved to no module"))
}
