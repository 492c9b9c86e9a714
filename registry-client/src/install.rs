//! Resolving a module's whole dependency graph into `tanto.lock`.
//!
//! [`install`] reads `tanto.toml` and `tanto.lock` in a project folder, resolves every
//! direct and transitive dependency ([`resolve_graph`]), and writes the lock (or, in
//! [`LockMode::Locked`], fails if it would change). [`update`] is the same with the
//! named (or all) lock entries released so they move to the newest allowed version.
//!
//! # Rules
//!
//! * **Pins are honoured.** A dependency whose source is in the lock, with a locked
//!   entry that still satisfies its version spec (same tag, branch or commit, or a
//!   version the requirement matches), keeps that entry's commit; only `update`
//!   moves it.
//! * **The lock and the cache come first.** A kept entry whose commit the cache holds
//!   is used without asking the network, as cargo builds from `Cargo.lock` and its
//!   caches: an install that the lock fully determines works with no network and
//!   without `--offline`. Only what the lock does not determine (a new or changed
//!   dependency, an entry released by `update`) or the cache does not hold is asked
//!   of the remote. A kept entry that followed a tag and has to be fetched is first
//!   checked against the remote: a tag that now points elsewhere is an error, never
//!   a silent change (a tag moving upstream never changes what a warm cache installs
//!   either: the locked commit is used; `update` shows and accepts the move).
//!   Every checkout of a kept entry is hashed and compared with the lock.
//! * **One entry per (source, commit).** Dependents that land on the same source and
//!   commit share one entry (and one fetch and checkout); its `requirements` list
//!   every spec that led there. Different commits of one source coexist as distinct
//!   entries (`name@1.2.0`, `name@2.0.0`), reported in [`InstallReport::duplicates`]:
//!   each module runs in its own sandbox, so that is allowed.
//! * **A module's dependencies** are the `[dependencies]` of the `tanto.toml` in its
//!   checked-out subpath. Local path dependencies are followed (relative to the
//!   manifest naming them; inside a git module they must stay inside its repository)
//!   but never locked: their content is the work tree.
//! * **Entry names** are the dependency name the first dependent used (direct
//!   dependencies first, then breadth first in name order). Should two different
//!   modules end up with the same id, the later one gets a `-2`, `-3`… suffix.
//!
//! Building components is the host's job: the result lists each module's checkout
//! folder and commit, and the host records component digests with
//! [`Lockfile::set_component`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use semver::Version;
use tracing::{debug, info};

use crate::git::{FetchTarget, GitError, GitSource, RemoteRefs};
use crate::hash::{HashError, content_hash};
use crate::hint::Hint;
use crate::lockfile::{LockfileError, VerifyError, read_lockfile, verify_hash, verify_tag, write_lockfile};
use crate::manifest::{MANIFEST_NAME, ManifestError, read_dependencies};
use crate::reference::{Reference, VersionKind, VersionSpec, is_commit_like};
use crate::resolve::{Network, ResolveError, Resolved, ensure_commit, resolve};
use crate::schema::lock::{LOCKFILE_NAME, LockedModule, Lockfile};
use crate::schema::manifest::Dependencies;

/// Whether the lockfile may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockMode {
    /// Write `tanto.lock` when the resolution differs from it.
    #[default]
    Write,
    /// Fail when `tanto.lock` is missing or would change (CI).
    Locked,
}

/// Which lock entries may move to a newer version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UpdateSelection {
    /// None: every pin that still satisfies its spec is kept.
    #[default]
    Nothing,
    /// Every entry.
    All,
    /// The entries with these names or ids.
    Modules(Vec<String>),
}

/// How to install.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstallOptions {
    /// Online or offline (cache only).
    pub network: Network,
    /// Whether the lockfile may change.
    pub lock_mode: LockMode,
    /// Which entries to move to the newest allowed version.
    pub update: UpdateSelection,
}

/// A git module ready for the host: where its checkout is and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledModule {
    /// Lock entry id (`name@version`).
    pub id: String,
    /// Dependency name.
    pub name: String,
    /// Source as written, without version.
    pub source: String,
    /// Resolved commit.
    pub commit: String,
    /// The module folder: the checkout joined with the subpath.
    pub path: PathBuf,
    /// Ids (for git modules) or paths (for local ones) of its dependencies.
    pub dependencies: Vec<String>,
}

/// A local-path module met in the graph (not locked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalModule {
    /// Dependency name.
    pub name: String,
    /// Canonical path of the module folder.
    pub path: PathBuf,
    /// Ids (for git modules) or paths (for local ones) of its dependencies.
    pub dependencies: Vec<String>,
}

/// What a lock entry was resolved to, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSummary {
    pub id: String,
    pub name: String,
    pub source: String,
    pub version: Option<Version>,
    pub tag: Option<String>,
    pub branch: Option<String>,
    pub commit: String,
}

/// A lock entry that moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleUpdate {
    pub old: ModuleSummary,
    pub new: ModuleSummary,
}

/// Several entries of one source (distinct commits) in the same lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub source: String,
    pub ids: Vec<String>,
}

/// What changed in the lock, for the CLI to print.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstallReport {
    pub added: Vec<ModuleSummary>,
    pub updated: Vec<ModuleUpdate>,
    pub removed: Vec<ModuleSummary>,
    pub unchanged: Vec<ModuleSummary>,
    pub duplicates: Vec<Duplicate>,
}

/// The resolved graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The lock describing the graph.
    pub lockfile: Lockfile,
    /// Git modules, in lock order.
    pub modules: Vec<InstalledModule>,
    /// Local modules met on the way.
    pub local_modules: Vec<LocalModule>,
    /// Differences from the previous lock.
    pub report: InstallReport,
}

/// The outcome of [`install`] / [`update`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    /// The resolved graph.
    pub resolution: Resolution,
    /// Where the lock is.
    pub lockfile_path: PathBuf,
    /// Whether `tanto.lock` was written.
    pub lockfile_changed: bool,
}

/// Installation failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Lockfile(#[from] LockfileError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A dependency could not be resolved.
    #[error("{error}{}", required_by.as_ref().map(|by| format!("\n  required by {by}")).unwrap_or_default())]
    Resolve {
        dependency: String,
        required_by: Option<String>,
        error: Box<ResolveError>,
    },
    /// A checkout could not be made.
    #[error("could not check out {dependency}: {error}")]
    Checkout { dependency: String, error: Box<GitError> },
    /// A checkout could not be hashed.
    #[error("could not hash {dependency}: {error}")]
    Hash { dependency: String, error: HashError },
    /// The resolved folder is not a module.
    #[error("{dependency} is not a module: `{subpath}` at commit {commit} has no {MANIFEST_NAME}")]
    NotAModule { dependency: String, subpath: String, commit: String },
    /// A local dependency does not exist.
    #[error("local dependency {dependency} not found at `{}`", path.display())]
    LocalNotFound { dependency: String, path: PathBuf },
    /// A local dependency of a git module points outside its repository.
    #[error("local dependency {dependency} of a git module points outside its repository: `{}`", path.display())]
    LocalOutsideRepository { dependency: String, path: PathBuf },
    /// Locked mode, and the lock would change.
    #[error("`{}` is out of date with tanto.toml{}", path.display(), render_changes(report.as_deref()))]
    LockOutOfDate { path: PathBuf, report: Option<Box<InstallReport>> },
    /// `update` named a module the lock does not have.
    #[error("`{name}` is not in tanto.lock")]
    UnknownModule { name: String, known: Vec<String> },
    /// Modules depend on each other in a circle. `cycle` starts and ends with the same
    /// module; each depends on the next.
    #[error("the dependencies form a cycle: {}{}", render_cycle_names(cycle), render_cycle_edges(cycle))]
    Cycle { cycle: Vec<CycleMember> },
}

/// A module of a dependency cycle, as the error names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleMember {
    /// The dependency name it was first met under.
    pub name: String,
    /// `1.2.0 (github.com/acme/lib)` for a git module, `(./mods/x)` for a local one.
    pub location: String,
}

fn render_cycle_names(cycle: &[CycleMember]) -> String {
    cycle.iter().map(|member| member.name.as_str()).collect::<Vec<_>>().join(" → ")
}

fn render_cycle_edges(cycle: &[CycleMember]) -> String {
    cycle
        .windows(2)
        .map(|pair| format!("\n  {} {} depends on {}", pair[0].name, pair[0].location, pair[1].name))
        .collect()
}

fn render_changes(report: Option<&InstallReport>) -> String {
    let Some(report) = report else {
        return " (no tanto.lock)".to_owned();
    };
    let mut parts = Vec::new();
    for added in &report.added {
        parts.push(format!("  would add {added}"));
    }
    for updated in &report.updated {
        parts.push(format!("  would update {updated}"));
    }
    for removed in &report.removed {
        parts.push(format!("  would remove {removed}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(":\n{}", parts.join("\n"))
    }
}

impl InstallError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            InstallError::Manifest(_) => None,
            InstallError::Lockfile(error) => error.hint(),
            InstallError::Verify(error) => error.hint(),
            InstallError::Resolve { error, .. } => error.hint(),
            InstallError::Checkout { error, .. } => error.hint(),
            InstallError::Hash { .. } => None,
            InstallError::NotAModule { subpath, .. } => Some(Hint::CheckSubpath { subpath: subpath.clone() }),
            InstallError::LocalNotFound { .. } | InstallError::LocalOutsideRepository { .. } => None,
            InstallError::LockOutOfDate { .. } => Some(Hint::RunInstall),
            InstallError::UnknownModule { known, .. } => Some(Hint::KnownModules { names: known.clone() }),
            InstallError::Cycle { .. } => Some(Hint::BreakCycle),
        }
    }
}

/// Installs the dependencies of the module in `project_dir`: reads `tanto.toml` and
/// `tanto.lock`, resolves, and writes the lock (see [`LockMode`]).
pub fn install(git: &dyn GitSource, project_dir: &Path, options: &InstallOptions) -> Result<Installation, InstallError> {
    let dependencies = read_dependencies(&project_dir.join(MANIFEST_NAME))?;
    let lockfile_path = project_dir.join(LOCKFILE_NAME);
    let existing = read_lockfile(&lockfile_path)?;
    let resolution = resolve_graph(git, project_dir, &dependencies, existing.as_ref(), options)?;
    let lockfile_changed = match options.lock_mode {
        LockMode::Locked => {
            let unchanged = match &existing {
                Some(existing) => same_lock(existing, &resolution.lockfile),
                None => false,
            };
            if !unchanged {
                return Err(InstallError::LockOutOfDate {
                    path: lockfile_path,
                    report: existing.is_some().then(|| Box::new(resolution.report)),
                });
            }
            false
        }
        LockMode::Write => write_lockfile(&lockfile_path, &resolution.lockfile)?,
    };
    info!(
        path = %lockfile_path.display(),
        changed = lockfile_changed,
        modules = resolution.modules.len(),
        "dependencies installed"
    );
    Ok(Installation {
        resolution,
        lockfile_path,
        lockfile_changed,
    })
}

/// [`install`] with the named lock entries (names or ids; all when `names` is empty)
/// moved to the newest version their specs allow. The report lists old → new.
pub fn update(git: &dyn GitSource, project_dir: &Path, names: &[String], options: &InstallOptions) -> Result<Installation, InstallError> {
    let options = InstallOptions {
        update: if names.is_empty() {
            UpdateSelection::All
        } else {
            UpdateSelection::Modules(names.to_vec())
        },
        ..options.clone()
    };
    install(git, project_dir, &options)
}

fn same_lock(a: &Lockfile, b: &Lockfile) -> bool {
    let mut a = a.clone();
    let mut b = b.clone();
    a.normalize();
    b.normalize();
    a == b
}

/// Answers `list_remote_refs` once per URL for the whole run, so a monorepo with ten
/// modules is asked once.
struct RunCache<'a> {
    inner: &'a dyn GitSource,
    remote_refs: Mutex<HashMap<String, RemoteRefs>>,
}

impl GitSource for RunCache<'_> {
    fn list_remote_refs(&self, url: &str) -> Result<RemoteRefs, GitError> {
        let mut memo = self.remote_refs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(refs) = memo.get(url) {
            return Ok(refs.clone());
        }
        let refs = self.inner.list_remote_refs(url)?;
        memo.insert(url.to_owned(), refs.clone());
        Ok(refs)
    }
    fn list_cached_refs(&self, url: &str) -> Result<Option<RemoteRefs>, GitError> {
        self.inner.list_cached_refs(url)
    }
    fn fetch(&self, url: &str, target: &FetchTarget) -> Result<(), GitError> {
        self.inner.fetch(url, target)
    }
    fn find_commit(&self, url: &str, commit: &str) -> Result<Option<String>, GitError> {
        self.inner.find_commit(url, commit)
    }
    fn checkout(&self, url: &str, commit: &str) -> Result<PathBuf, GitError> {
        self.inner.checkout(url, commit)
    }
}

struct Edge {
    from: Option<usize>,
    alias: String,
    reference: Reference,
    /// Folder that relative local paths are relative to.
    base_dir: PathBuf,
    /// For edges out of a git checkout: the checkout root local paths must stay in.
    checkout_root: Option<PathBuf>,
}

// One graph per run holds a handful of nodes; boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
enum NodeKind {
    Git {
        source: String,
        subpath: Option<String>,
        resolved: Resolved,
        hash: String,
        component: Option<String>,
        path: PathBuf,
    },
    Local {
        path: PathBuf,
    },
}

struct Node {
    name: String,
    kind: NodeKind,
    requirements: BTreeSet<String>,
    dependencies: BTreeSet<usize>,
}

#[derive(Hash, PartialEq, Eq)]
enum NodeKey {
    Git { source: String, commit: String },
    Local(PathBuf),
}

/// Whether a locked entry still satisfies a version spec (see the module docs).
fn satisfies(entry: &LockedModule, spec: Option<&VersionSpec>) -> bool {
    let Some(spec) = spec else {
        return true;
    };
    let raw = spec.as_str();
    if let Some(tag) = &entry.tag
        && (tag == raw || tag.ends_with(&format!("/{raw}")))
    {
        return true;
    }
    if entry.branch.as_deref() == Some(raw) {
        return true;
    }
    if is_commit_like(raw) && entry.commit.starts_with(&raw.to_ascii_lowercase()) {
        return true;
    }
    match (spec.kind(), &entry.version) {
        (VersionKind::Exact(wanted), Some(version)) => wanted == version,
        (VersionKind::Requirement(requirement), Some(version)) => requirement.matches(version),
        _ => false,
    }
}

fn is_released(entry: &LockedModule, update: &UpdateSelection) -> bool {
    match update {
        UpdateSelection::Nothing => false,
        UpdateSelection::All => true,
        UpdateSelection::Modules(names) => names.iter().any(|name| name == &entry.name || name == &entry.id()),
    }
}

/// Resolves `dependencies` (the direct ones, with relative local paths relative to
/// `root_dir`) and everything they depend on, honouring `existing` (see the module
/// docs). Nothing is written.
pub fn resolve_graph(
    git: &dyn GitSource,
    root_dir: &Path,
    dependencies: &Dependencies,
    existing: Option<&Lockfile>,
    options: &InstallOptions,
) -> Result<Resolution, InstallError> {
    let empty = Lockfile::new();
    let existing = existing.unwrap_or(&empty);
    if let UpdateSelection::Modules(names) = &options.update {
        for name in names {
            let known = existing.modules.iter().any(|entry| &entry.name == name || &entry.id() == name);
            if !known {
                let mut known: Vec<String> = existing.modules.iter().map(|entry| entry.name.clone()).collect();
                known.sort();
                known.dedup();
                return Err(InstallError::UnknownModule { name: name.clone(), known });
            }
        }
    }
    let git = RunCache {
        inner: git,
        remote_refs: Mutex::new(HashMap::new()),
    };
    let mut graph = Graph {
        git: &git,
        existing,
        options,
        nodes: Vec::new(),
        by_key: HashMap::new(),
        by_edge: HashMap::new(),
    };
    let mut queue: VecDeque<Edge> = dependencies
        .iter()
        .map(|(alias, reference)| Edge {
            from: None,
            alias: alias.to_owned(),
            reference: reference.clone(),
            base_dir: root_dir.to_path_buf(),
            checkout_root: None,
        })
        .collect();
    while let Some(edge) = queue.pop_front() {
        graph.visit(edge, &mut queue)?;
    }
    if let Some(cycle) = graph.find_cycle() {
        return Err(InstallError::Cycle { cycle });
    }
    Ok(graph.finish())
}

struct Graph<'a> {
    git: &'a dyn GitSource,
    existing: &'a Lockfile,
    options: &'a InstallOptions,
    nodes: Vec<Node>,
    by_key: HashMap<NodeKey, usize>,
    /// (source, version spec) → node, so identical edges resolve once.
    by_edge: HashMap<(String, Option<String>), usize>,
}

impl Graph<'_> {
    fn required_by(&self, edge: &Edge) -> Option<String> {
        edge.from.map(|index| {
            let node = &self.nodes[index];
            match &node.kind {
                NodeKind::Git { resolved, .. } => format!("{} {resolved}", node.name),
                NodeKind::Local { path } => format!("{} ({})", node.name, path.display()),
            }
        })
    }

    fn link(&mut self, from: Option<usize>, to: usize, spec: Option<&VersionSpec>) {
        if let Some(spec) = spec {
            self.nodes[to].requirements.insert(spec.as_str().to_owned());
        }
        // A module that depends on its own commit is kept as a self-edge: a cycle of one,
        // refused by `find_cycle` like any other.
        if let Some(from) = from {
            self.nodes[from].dependencies.insert(to);
        }
    }

    /// The first dependency cycle in discovery order, if any.
    ///
    /// Refused, as cargo refuses cyclic packages: a module's schema and typed API come
    /// from its dependencies', which a cycle makes circular, and calls between modules
    /// of a cycle could recurse without end. A cycle is always a mistake in some
    /// manifest, so the error names every module on it.
    fn find_cycle(&self) -> Option<Vec<CycleMember>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let mut marks = vec![Mark::New; self.nodes.len()];
        for start in 0..self.nodes.len() {
            if marks[start] != Mark::New {
                continue;
            }
            // Depth-first, iteratively: the path so far, each node with the
            // dependencies it still has to visit.
            let mut path: Vec<(usize, std::collections::btree_set::Iter<'_, usize>)> = vec![(start, self.nodes[start].dependencies.iter())];
            marks[start] = Mark::OnPath;
            while let Some((node, next)) = path.last_mut() {
                let node = *node;
                match next.next() {
                    Some(&dependency) => match marks[dependency] {
                        Mark::New => {
                            marks[dependency] = Mark::OnPath;
                            path.push((dependency, self.nodes[dependency].dependencies.iter()));
                        }
                        Mark::OnPath => {
                            let from = path.iter().position(|(index, _)| *index == dependency).unwrap_or(0);
                            let mut cycle: Vec<CycleMember> = path[from..].iter().map(|(index, _)| self.cycle_member(*index)).collect();
                            cycle.push(self.cycle_member(dependency));
                            return Some(cycle);
                        }
                        Mark::Done => {}
                    },
                    None => {
                        marks[node] = Mark::Done;
                        path.pop();
                    }
                }
            }
        }
        None
    }

    fn cycle_member(&self, index: usize) -> CycleMember {
        let node = &self.nodes[index];
        let location = match &node.kind {
            NodeKind::Git { source, resolved, .. } => {
                let short = &resolved.commit[..resolved.commit.len().min(12)];
                // As `ModuleSummary::describe_version` reads a lock entry.
                let version = match (&resolved.version, &resolved.tag, &resolved.branch) {
                    (Some(version), _, _) => version.to_string(),
                    (None, Some(name), _) | (None, None, Some(name)) => format!("{name}@{short}"),
                    (None, None, None) => short.to_owned(),
                };
                format!("{version} ({source})")
            }
            NodeKind::Local { path } => format!("({})", path.display()),
        };
        CycleMember {
            name: node.name.clone(),
            location,
        }
    }

    fn visit(&mut self, edge: Edge, queue: &mut VecDeque<Edge>) -> Result<(), InstallError> {
        match edge.reference.source().local_path() {
            Some(path) => {
                let path = path.to_path_buf();
                self.visit_local(edge, &path, queue)
            }
            None => self.visit_remote(edge, queue),
        }
    }

    fn visit_local(&mut self, edge: Edge, path: &Path, queue: &mut VecDeque<Edge>) -> Result<(), InstallError> {
        let joined = edge.base_dir.join(path);
        let canonical = joined.canonicalize().map_err(|_| InstallError::LocalNotFound {
            dependency: edge.alias.clone(),
            path: joined.clone(),
        })?;
        if let Some(root) = &edge.checkout_root {
            let root = root.canonicalize().unwrap_or_else(|_| root.clone());
            if !canonical.starts_with(&root) {
                return Err(InstallError::LocalOutsideRepository {
                    dependency: edge.alias.clone(),
                    path: joined,
                });
            }
        }
        let key = NodeKey::Local(canonical.clone());
        if let Some(&index) = self.by_key.get(&key) {
            self.link(edge.from, index, None);
            return Ok(());
        }
        let manifest = canonical.join(MANIFEST_NAME);
        if !manifest.is_file() {
            return Err(InstallError::LocalNotFound {
                dependency: edge.alias.clone(),
                path: manifest,
            });
        }
        let dependencies = read_dependencies(&manifest)?;
        let index = self.nodes.len();
        self.nodes.push(Node {
            name: edge.alias.clone(),
            kind: NodeKind::Local { path: canonical.clone() },
            requirements: BTreeSet::new(),
            dependencies: BTreeSet::new(),
        });
        self.by_key.insert(key, index);
        self.link(edge.from, index, None);
        for (alias, reference) in dependencies.iter() {
            queue.push_back(Edge {
                from: Some(index),
                alias: alias.to_owned(),
                reference: reference.clone(),
                base_dir: canonical.clone(),
                checkout_root: edge.checkout_root.clone(),
            });
        }
        Ok(())
    }

    fn visit_remote(&mut self, edge: Edge, queue: &mut VecDeque<Edge>) -> Result<(), InstallError> {
        let reference = &edge.reference;
        let source = reference.source().to_string();
        let spec = reference.version();
        let edge_key = (source.clone(), spec.map(|spec| spec.as_str().to_owned()));
        if let Some(&index) = self.by_edge.get(&edge_key) {
            self.link(edge.from, index, spec);
            return Ok(());
        }
        let resolve_error = |error: ResolveError, graph: &Self| InstallError::Resolve {
            dependency: edge.alias.clone(),
            required_by: graph.required_by(&edge),
            error: Box::new(error),
        };
        let Some(url) = reference.clone_url() else {
            return Ok(());
        };
        let network = self.options.network;

        // A lock entry that still satisfies the spec is kept, unless released by update.
        let pinned: Option<&LockedModule> = self
            .existing
            .modules
            .iter()
            .filter(|entry| entry.source == source && satisfies(entry, spec))
            .filter(|entry| !is_released(entry, &self.options.update))
            .max_by(|a, b| a.version.cmp(&b.version).then_with(|| b.commit.cmp(&a.commit)));

        let (resolved, expected) = match pinned {
            Some(entry) => {
                debug!(dependency = %edge.alias, id = %entry.id(), "keeping locked version");
                let git_error = |error: GitError, graph: &Self| {
                    resolve_error(
                        ResolveError::Git {
                            reference: reference.to_string(),
                            error,
                        },
                        graph,
                    )
                };
                // The lock names the commit: when the cache holds it, the network has
                // nothing to add (see "Pins are honoured" in the module docs).
                let cached = self.git.find_commit(&url, &entry.commit).map_err(|error| git_error(error, self))?;
                let commit = match cached {
                    Some(commit) => commit,
                    None => {
                        if network == Network::Online && entry.tag.is_some() {
                            let refs = self.git.list_remote_refs(&url).map_err(|error| git_error(error, self))?;
                            verify_tag(entry, &refs)?;
                        }
                        let target = match &entry.tag {
                            Some(tag) => FetchTarget::Tag(tag.clone()),
                            None => FetchTarget::Commit(entry.commit.clone()),
                        };
                        ensure_commit(self.git, reference, &url, &entry.commit, &target, network).map_err(|error| resolve_error(error, self))?
                    }
                };
                let resolved = Resolved {
                    reference: reference.clone(),
                    version: entry.version.clone(),
                    tag: entry.tag.clone(),
                    branch: entry.branch.clone(),
                    commit,
                };
                (resolved, Some(entry))
            }
            None => {
                let resolved = resolve(self.git, reference, network).map_err(|error| resolve_error(error, self))?;
                debug!(dependency = %edge.alias, %resolved, "resolved");
                (resolved, None)
            }
        };

        let key = NodeKey::Git {
            source: source.clone(),
            commit: resolved.commit.clone(),
        };
        if let Some(&index) = self.by_key.get(&key) {
            self.by_edge.insert(edge_key, index);
            self.link(edge.from, index, spec);
            return Ok(());
        }
        let checkout = self.git.checkout(&url, &resolved.commit).map_err(|error| InstallError::Checkout {
            dependency: edge.alias.clone(),
            error: Box::new(error),
        })?;
        let subpath = reference.subpath().map(str::to_owned);
        let module_dir = match &subpath {
            Some(subpath) => checkout.join(subpath),
            None => checkout.clone(),
        };
        let manifest = module_dir.join(MANIFEST_NAME);
        if !manifest.is_file() {
            return Err(InstallError::NotAModule {
                dependency: reference.to_string(),
                subpath: subpath.unwrap_or_else(|| ".".to_owned()),
                commit: resolved.commit.clone(),
            });
        }
        let hash = content_hash(&module_dir).map_err(|error| InstallError::Hash {
            dependency: edge.alias.clone(),
            error,
        })?;
        if let Some(entry) = expected
            && entry.commit == resolved.commit
        {
            verify_hash(entry, &hash, &module_dir)?;
        }
        let component = expected
            .filter(|entry| entry.commit == resolved.commit)
            .and_then(|entry| entry.component.clone());
        let dependencies = read_dependencies(&manifest)?;

        let index = self.nodes.len();
        self.nodes.push(Node {
            name: edge.alias.clone(),
            kind: NodeKind::Git {
                source,
                subpath,
                resolved,
                hash,
                component,
                path: module_dir.clone(),
            },
            requirements: BTreeSet::new(),
            dependencies: BTreeSet::new(),
        });
        self.by_key.insert(key, index);
        self.by_edge.insert(edge_key, index);
        self.link(edge.from, index, spec);
        for (alias, reference) in dependencies.iter() {
            queue.push_back(Edge {
                from: Some(index),
                alias: alias.to_owned(),
                reference: reference.clone(),
                base_dir: module_dir.clone(),
                checkout_root: Some(checkout.clone()),
            });
        }
        Ok(())
    }

    fn finish(self) -> Resolution {
        // Ids: `name@version`, made unique in discovery order.
        let mut ids: Vec<String> = Vec::with_capacity(self.nodes.len());
        let mut names: Vec<String> = Vec::with_capacity(self.nodes.len());
        let mut taken: BTreeSet<String> = BTreeSet::new();
        for node in &self.nodes {
            match &node.kind {
                NodeKind::Git { resolved, .. } => {
                    let mut name = node.name.clone();
                    let mut suffix = 1;
                    loop {
                        let id = entry_id(&name, resolved);
                        if taken.insert(id.clone()) {
                            ids.push(id);
                            break;
                        }
                        suffix += 1;
                        name = format!("{}-{suffix}", node.name);
                    }
                    names.push(name);
                }
                NodeKind::Local { path } => {
                    ids.push(path.display().to_string());
                    names.push(node.name.clone());
                }
            }
        }
        let dependency_ids = |node: &Node| -> Vec<String> {
            let mut list: Vec<String> = node.dependencies.iter().map(|&index| ids[index].clone()).collect();
            list.sort();
            list
        };

        let mut lockfile = Lockfile::new();
        let mut modules = Vec::new();
        let mut local_modules = Vec::new();
        for (index, node) in self.nodes.iter().enumerate() {
            match &node.kind {
                NodeKind::Git {
                    source,
                    subpath,
                    resolved,
                    hash,
                    component,
                    path,
                } => {
                    let git_dependencies: Vec<String> = node
                        .dependencies
                        .iter()
                        .filter(|&&dependency| matches!(self.nodes[dependency].kind, NodeKind::Git { .. }))
                        .map(|&dependency| ids[dependency].clone())
                        .collect();
                    lockfile.modules.push(LockedModule {
                        name: names[index].clone(),
                        source: source.clone(),
                        requirements: node.requirements.iter().cloned().collect(),
                        version: resolved.version.clone(),
                        tag: resolved.tag.clone(),
                        branch: resolved.branch.clone(),
                        commit: resolved.commit.clone(),
                        subpath: subpath.clone(),
                        hash: hash.clone(),
                        component: component.clone(),
                        dependencies: git_dependencies,
                    });
                    modules.push(InstalledModule {
                        id: ids[index].clone(),
                        name: names[index].clone(),
                        source: source.clone(),
                        commit: resolved.commit.clone(),
                        path: path.clone(),
                        dependencies: dependency_ids(node),
                    });
                }
                NodeKind::Local { path } => local_modules.push(LocalModule {
                    name: node.name.clone(),
                    path: path.clone(),
                    dependencies: dependency_ids(node),
                }),
            }
        }
        lockfile.normalize();
        modules.sort_by(|a, b| a.id.cmp(&b.id));
        let report = compare(self.existing, &lockfile);
        Resolution {
            lockfile,
            modules,
            local_modules,
            report,
        }
    }
}

fn entry_id(name: &str, resolved: &Resolved) -> String {
    match &resolved.version {
        Some(version) => format!("{name}@{version}"),
        None => format!("{name}@{}", &resolved.commit[..resolved.commit.len().min(12)]),
    }
}

impl ModuleSummary {
    fn of(entry: &LockedModule) -> ModuleSummary {
        ModuleSummary {
            id: entry.id(),
            name: entry.name.clone(),
            source: entry.source.clone(),
            version: entry.version.clone(),
            tag: entry.tag.clone(),
            branch: entry.branch.clone(),
            commit: entry.commit.clone(),
        }
    }

    /// `1.2.0`, `main@0123456789ab` or `0123456789ab`: how the entry reads to a user.
    pub fn describe_version(&self) -> String {
        let short = &self.commit[..self.commit.len().min(12)];
        match (&self.version, &self.tag, &self.branch) {
            (Some(version), _, _) => version.to_string(),
            (None, Some(tag), _) => format!("{tag}@{short}"),
            (None, None, Some(branch)) => format!("{branch}@{short}"),
            _ => short.to_owned(),
        }
    }
}

impl fmt::Display for ModuleSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.name, self.describe_version(), self.source)
    }
}

impl ModuleUpdate {
    /// `1.2.0 → 1.3.0`; when only the commit changed (a tag moved upstream and
    /// `update` accepted it), `1.2.0 moved 1a2b3c4 → 5d6e7f8`, so the move is never
    /// reported as "no change".
    pub fn describe_change(&self) -> String {
        let old = self.old.describe_version();
        let new = self.new.describe_version();
        if old == new && self.old.commit != self.new.commit {
            format!("{new} moved {} → {}", short_commit(&self.old.commit), short_commit(&self.new.commit))
        } else {
            format!("{old} → {new}")
        }
    }
}

/// The 7-digit abbreviation git shows by default.
fn short_commit(commit: &str) -> &str {
    &commit[..commit.len().min(7)]
}

impl fmt::Display for ModuleUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.new.name, self.describe_change(), self.new.source)
    }
}

/// Differences between two locks: unchanged by id and commit, updated when one source
/// lost an entry and gained another, added and removed otherwise.
fn compare(old: &Lockfile, new: &Lockfile) -> InstallReport {
    let mut report = InstallReport::default();
    let mut old_left: Vec<&LockedModule> = old.modules.iter().collect();
    let mut new_left: Vec<&LockedModule> = Vec::new();
    for entry in &new.modules {
        match old_left.iter().position(|old| old.source == entry.source && old.commit == entry.commit) {
            Some(position) => {
                old_left.remove(position);
                report.unchanged.push(ModuleSummary::of(entry));
            }
            None => new_left.push(entry),
        }
    }
    for entry in new_left {
        let same_source = |old: &&LockedModule| old.source == entry.source;
        let position = old_left
            .iter()
            .position(|old| same_source(old) && old.name == entry.name)
            .or_else(|| old_left.iter().position(same_source));
        match position {
            Some(position) => {
                let old = old_left.remove(position);
                report.updated.push(ModuleUpdate {
                    old: ModuleSummary::of(old),
                    new: ModuleSummary::of(entry),
                });
            }
            None => report.added.push(ModuleSummary::of(entry)),
        }
    }
    report.removed = old_left.into_iter().map(ModuleSummary::of).collect();
    let mut by_source: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for entry in &new.modules {
        by_source.entry(&entry.source).or_default().push(entry.id());
    }
    report.duplicates = by_source
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(source, ids)| Duplicate {
            source: source.to_owned(),
            ids,
        })
        .collect();
    report
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::git::{FakeGit, FakeRepository};

    fn commit(n: u8) -> String {
        format!("{n:02x}").repeat(20)
    }

    const LIB: &str = "https://github.com/acme/lib";
    const APP: &str = "https://github.com/acme/app";

    fn fake(root: &Path) -> FakeGit {
        let git = FakeGit::new(root.join("cache"));
        git.set_repository(
            LIB,
            FakeRepository::new()
                .commit(&commit(1), &[("tanto.toml", "name = \"lib\"\n")])
                .commit(&commit(2), &[("tanto.toml", "name = \"lib\"\n# 1.1\n")])
                .commit(&commit(3), &[("tanto.toml", "name = \"lib\"\n# 2.0\n")])
                .tag("v1.0.0", &commit(1))
                .tag("v1.1.0", &commit(2))
                .tag("v2.0.0", &commit(3)),
        );
        git.set_repository(
            APP,
            FakeRepository::new()
                .commit(
                    &commit(10),
                    &[("tanto.toml", "name = \"app\"\n[dependencies]\nlib = \"github.com/acme/lib@^2\"\n")],
                )
                .tag("v1.0.0", &commit(10)),
        );
        git
    }

    fn deps(entries: &[(&str, &str)]) -> Dependencies {
        let mut dependencies = Dependencies::new();
        for (name, reference) in entries {
            dependencies
                .insert((*name).to_owned(), Reference::parse(reference).expect("reference"))
                .expect("name");
        }
        dependencies
    }

    #[test]
    fn transitive_graph_with_two_versions_of_one_module() {
        let root = tempfile::tempdir().expect("tempdir");
        let git = fake(root.path());
        let dependencies = deps(&[
            ("app", "github.com/acme/app@^1"),
            ("lib", "github.com/acme/lib@^1"),
            ("lib-again", "github.com/acme/lib@~1.1"),
        ]);
        let resolution = resolve_graph(&git, root.path(), &dependencies, None, &InstallOptions::default()).expect("resolve");
        let ids: Vec<String> = resolution.lockfile.modules.iter().map(LockedModule::id).collect();
        assert_eq!(ids, ["app@1.0.0", "lib@1.1.0", "lib@2.0.0"]);
        let lib1 = resolution.lockfile.find("lib@1.1.0").expect("lib 1");
        assert_eq!(lib1.requirements, ["^1", "~1.1"]);
        let app = resolution.lockfile.find("app@1.0.0").expect("app");
        assert_eq!(app.dependencies, ["lib@2.0.0"]);
        assert_eq!(
            resolution.report.duplicates,
            [Duplicate {
                source: "github.com/acme/lib".into(),
                ids: vec!["lib@1.1.0".into(), "lib@2.0.0".into()],
            }]
        );
        assert_eq!(resolution.report.added.len(), 3);
        // Each (source, commit) is fetched once although two edges lead to lib 1.1.0.
        let lib_fetches = git.fetches().iter().filter(|(url, _)| url == LIB).count();
        assert_eq!(lib_fetches, 2);
    }

    #[test]
    fn pins_are_kept_until_updated() {
        let root = tempfile::tempdir().expect("tempdir");
        let git = fake(root.path());
        let dependencies = deps(&[("lib", "github.com/acme/lib@^1")]);
        let options = InstallOptions::default();
        let mut first = resolve_graph(&git, root.path(), &dependencies, None, &options).expect("resolve");
        // Pretend the lock was made when 1.0.0 was the newest.
        first.lockfile.modules[0].version = Some(Version::new(1, 0, 0));
        first.lockfile.modules[0].tag = Some("v1.0.0".into());
        first.lockfile.modules[0].commit = commit(1);
        git.fetch(LIB, &FetchTarget::Tag("v1.0.0".into())).expect("fetch");
        first.lockfile.modules[0].hash = content_hash(&git.checkout(LIB, &commit(1)).expect("checkout")).expect("hash");
        let lock = first.lockfile;

        let kept = resolve_graph(&git, root.path(), &dependencies, Some(&lock), &options).expect("resolve");
        assert_eq!(kept.lockfile, lock);
        assert_eq!(kept.report.unchanged.len(), 1);

        let updated = resolve_graph(
            &git,
            root.path(),
            &dependencies,
            Some(&lock),
            &InstallOptions {
                update: UpdateSelection::Modules(vec!["lib".into()]),
                ..InstallOptions::default()
            },
        )
        .expect("update");
        assert_eq!(updated.report.updated.len(), 1);
        assert_eq!(updated.report.updated[0].to_string(), "lib 1.0.0 → 1.1.0 (github.com/acme/lib)");

        let unknown = resolve_graph(
            &git,
            root.path(),
            &dependencies,
            Some(&lock),
            &InstallOptions {
                update: UpdateSelection::Modules(vec!["nope".into()]),
                ..InstallOptions::default()
            },
        )
        .expect_err("unknown module");
        assert!(matches!(unknown, InstallError::UnknownModule { .. }));

        // A changed requirement no longer matches the pin and moves it.
        let moved = resolve_graph(&git, root.path(), &deps(&[("lib", "github.com/acme/lib@^2")]), Some(&lock), &options).expect("resolve");
        assert_eq!(moved.report.updated[0].to_string(), "lib 1.0.0 → 2.0.0 (github.com/acme/lib)");
    }

    /// The fake's cache with the network gone: every remote operation fails as an
    /// unreachable host does, and is counted.
    struct Disconnected<'a> {
        cache: &'a FakeGit,
        attempts: Mutex<Vec<String>>,
    }

    impl Disconnected<'_> {
        fn unreachable(&self, command: &str, url: &str) -> GitError {
            self.attempts.lock().expect("attempts").push(format!("{command} {url}"));
            GitError::Failed {
                command: format!("git {command} {url}"),
                url: Some(url.to_owned()),
                kind: crate::git::FailureKind::NetworkUnreachable,
                stderr: "fatal: unable to connect: Network is unreachable".to_owned(),
            }
        }
    }

    impl GitSource for Disconnected<'_> {
        fn list_remote_refs(&self, url: &str) -> Result<RemoteRefs, GitError> {
            Err(self.unreachable("ls-remote", url))
        }
        fn list_cached_refs(&self, url: &str) -> Result<Option<RemoteRefs>, GitError> {
            self.cache.list_cached_refs(url)
        }
        fn fetch(&self, url: &str, _target: &FetchTarget) -> Result<(), GitError> {
            Err(self.unreachable("fetch", url))
        }
        fn find_commit(&self, url: &str, commit: &str) -> Result<Option<String>, GitError> {
            self.cache.find_commit(url, commit)
        }
        fn checkout(&self, url: &str, commit: &str) -> Result<PathBuf, GitError> {
            self.cache.checkout(url, commit)
        }
    }

    #[test]
    fn a_complete_lock_and_a_warm_cache_need_no_network() {
        let root = tempfile::tempdir().expect("tempdir");
        let git = fake(root.path());
        // An untagged commit, depended on by id.
        git.set_repository(LIB, git.repository(LIB).commit(&commit(5), &[("tanto.toml", "name = \"lib\"\n# work\n")]));
        let dependencies = deps(&[
            ("app", "github.com/acme/app@^1"),
            ("lib", "github.com/acme/lib@v1.0.0"),
            ("head", "github.com/acme/lib@0505050"),
        ]);
        let options = InstallOptions::default();
        let first = resolve_graph(&git, root.path(), &dependencies, None, &options).expect("resolve online");

        // Online mode, no network: the lock determines every commit and the cache holds them.
        let disconnected = Disconnected {
            cache: &git,
            attempts: Mutex::new(Vec::new()),
        };
        let again = resolve_graph(&disconnected, root.path(), &dependencies, Some(&first.lockfile), &options).expect("resolve from lock and cache");
        assert_eq!(again.lockfile, first.lockfile);
        assert_eq!(again.report.unchanged.len(), 4);
        assert_eq!(disconnected.attempts.lock().expect("attempts").as_slice(), [] as [String; 0]);

        // What the lock does not determine goes to the network (and fails here).
        let more = deps(&[
            ("app", "github.com/acme/app@^1"),
            ("lib", "github.com/acme/lib@v1.0.0"),
            ("lib1", "github.com/acme/lib@~1.1"),
        ]);
        let error = resolve_graph(&disconnected, root.path(), &more, Some(&first.lockfile), &options).expect_err("lib ~1.1 is not locked");
        assert!(matches!(&error, InstallError::Resolve { dependency, .. } if dependency == "lib1"), "{error}");
        assert_eq!(disconnected.attempts.lock().expect("attempts").as_slice(), [format!("ls-remote {LIB}")]);

        // So does what the cache does not hold: a cold cache fetches the locked commits,
        // checking first that the tags still point at them.
        let cold = FakeGit::new(root.path().join("cold"));
        cold.set_repository(LIB, git.repository(LIB));
        cold.set_repository(APP, git.repository(APP));
        let fetched = resolve_graph(&cold, root.path(), &dependencies, Some(&first.lockfile), &options).expect("resolve into a cold cache");
        assert_eq!(fetched.lockfile, first.lockfile);
        let mut targets: Vec<FetchTarget> = cold.fetches().into_iter().map(|(_, target)| target).collect();
        targets.sort_by_key(|target| format!("{target:?}"));
        assert_eq!(
            targets,
            [
                FetchTarget::Commit(commit(5)),
                FetchTarget::Tag("v1.0.0".into()),
                FetchTarget::Tag("v1.0.0".into()),
                FetchTarget::Tag("v2.0.0".into())
            ]
        );
    }

    #[test]
    fn a_moved_tag_is_kept_from_the_cache_refused_when_fetched_and_shown_by_update() {
        let root = tempfile::tempdir().expect("tempdir");
        let git = fake(root.path());
        let dependencies = deps(&[("lib", "github.com/acme/lib@^1")]);
        let options = InstallOptions::default();
        let lock = resolve_graph(&git, root.path(), &dependencies, None, &options).expect("resolve").lockfile;
        assert_eq!(lock.modules[0].commit, commit(2));

        // v1.1.0 is re-tagged upstream.
        let moved = git
            .repository(LIB)
            .commit(&commit(4), &[("tanto.toml", "name = \"lib\"\n# 1.1, again\n")])
            .tag("v1.1.0", &commit(4));
        git.set_repository(LIB, moved.clone());
        let kept = resolve_graph(&git, root.path(), &dependencies, Some(&lock), &options).expect("the cache holds the locked commit");
        assert_eq!(kept.lockfile, lock);

        let cold = FakeGit::new(root.path().join("cold"));
        cold.set_repository(LIB, moved);
        let error = resolve_graph(&cold, root.path(), &dependencies, Some(&lock), &options).expect_err("fetching a moved tag");
        assert!(matches!(error, InstallError::Verify(VerifyError::TagMoved { .. })), "{error}");

        let updated = resolve_graph(
            &git,
            root.path(),
            &dependencies,
            Some(&lock),
            &InstallOptions {
                update: UpdateSelection::All,
                ..InstallOptions::default()
            },
        )
        .expect("update accepts the move");
        assert_eq!(updated.report.updated.len(), 1);
        assert_eq!(updated.report.updated[0].describe_change(), "1.1.0 moved 0202020 → 0404040");
        assert_eq!(updated.report.updated[0].to_string(), "lib 1.1.0 moved 0202020 → 0404040 (github.com/acme/lib)");
    }

    fn module(name: &str, dependencies: &[(&str, &str)]) -> String {
        let mut manifest = format!("name = \"{name}\"\n[dependencies]\n");
        for (alias, reference) in dependencies {
            manifest.push_str(&format!("{alias} = \"{reference}\"\n"));
        }
        manifest
    }

    #[test]
    fn dependency_cycles_are_refused_naming_the_cycle() {
        let root = tempfile::tempdir().expect("tempdir");
        let git = fake(root.path());
        let a = "https://github.com/acme/cycle-a";
        let b = "https://github.com/acme/cycle-b";
        git.set_repository(
            a,
            FakeRepository::new()
                .commit(&commit(20), &[("tanto.toml", &module("a", &[("b", "github.com/acme/cycle-b@^1")]))])
                .tag("v1.0.0", &commit(20)),
        );
        git.set_repository(
            b,
            FakeRepository::new()
                .commit(
                    &commit(21),
                    &[(
                        "tanto.toml",
                        &module("b", &[("lib", "github.com/acme/lib@^1"), ("a", "github.com/acme/cycle-a@^1")]),
                    )],
                )
                .tag("v1.0.0", &commit(21)),
        );
        let cycle_of = |dependencies: &Dependencies| match resolve_graph(&git, root.path(), dependencies, None, &InstallOptions::default()) {
            Err(error @ InstallError::Cycle { .. }) => error,
            other => panic!("expected a cycle, got {other:?}"),
        };
        let error = cycle_of(&deps(&[("a", "github.com/acme/cycle-a@^1")]));
        let InstallError::Cycle { cycle } = &error else { unreachable!() };
        let names: Vec<&str> = cycle.iter().map(|member| member.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "a"]);
        assert_eq!(error.hint(), Some(Hint::BreakCycle));
        insta::assert_snapshot!("cycle", format!("error: {error}\nhint: {}", Hint::BreakCycle));

        // Entering the cycle through b names it from b.
        let error = cycle_of(&deps(&[("lib", "github.com/acme/lib@^1"), ("b", "github.com/acme/cycle-b@^1")]));
        assert!(error.to_string().starts_with("the dependencies form a cycle: b → a → b\n"), "{error}");

        // A module that depends on its own release.
        let itself = "https://github.com/acme/itself";
        git.set_repository(
            itself,
            FakeRepository::new()
                .commit(&commit(22), &[("tanto.toml", &module("itself", &[("me", "github.com/acme/itself@^1")]))])
                .tag("v1.0.0", &commit(22)),
        );
        let error = cycle_of(&deps(&[("tool", "github.com/acme/itself@^1")]));
        assert_eq!(
            error.to_string(),
            "the dependencies form a cycle: tool → tool\n  tool 1.0.0 (github.com/acme/itself) depends on tool"
        );

        // Local modules.
        let project = root.path().join("project");
        for (name, dependency) in [("x", "../y"), ("y", "../x")] {
            fs::create_dir_all(project.join(name)).expect("mkdir");
            fs::write(project.join(name).join("tanto.toml"), module(name, &[("next", dependency)])).expect("write");
        }
        let error = cycle_of(&deps(&[("x", "./project/x")]));
        assert!(error.to_string().starts_with("the dependencies form a cycle: x → next → x\n"), "{error}");

        // A major of a module depending on another major of itself is no cycle.
        git.set_repository(
            itself,
            FakeRepository::new()
                .commit(&commit(23), &[("tanto.toml", &module("itself", &[]))])
                .tag("v1.0.0", &commit(23))
                .commit(&commit(24), &[("tanto.toml", &module("itself", &[("old", "github.com/acme/itself@^1")]))])
                .tag("v2.0.0", &commit(24)),
        );
        let resolution = resolve_graph(
            &git,
            root.path(),
            &deps(&[("tool", "github.com/acme/itself@^2")]),
            None,
            &InstallOptions::default(),
        )
        .expect("no cycle");
        let ids: Vec<String> = resolution.lockfile.modules.iter().map(LockedModule::id).collect();
        assert_eq!(ids, ["old@1.0.0", "tool@2.0.0"]);
    }

    #[test]
    fn pinned_versions_satisfy_specs() {
        let entry = LockedModule {
            name: "m".into(),
            source: "github.com/o/r/sub".into(),
            requirements: vec![],
            version: Some(Version::new(1, 2, 0)),
            tag: Some("sub/v1.2.0".into()),
            branch: None,
            commit: commit(7),
            subpath: Some("sub".into()),
            hash: String::new(),
            component: None,
            dependencies: vec![],
        };
        let spec = |raw: &str| VersionSpec::parse(raw).expect("spec");
        for yes in ["^1", "1.2.0", "v1.2.0", "sub/v1.2.0", "~1.2", &commit(7)[..9]] {
            assert!(satisfies(&entry, Some(&spec(yes))), "{yes}");
        }
        for no in ["^2", "1.2.1", "main"] {
            assert!(!satisfies(&entry, Some(&spec(no))), "{no}");
        }
        assert!(satisfies(&entry, None));
    }
}
