//! The walk over the dependency graph: from the direct dependencies, breadth first, each
//! edge resolved (from the lock and the cache when they can answer), checked out,
//! hashed and followed into the module's own dependencies; then the lock it amounts to.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::debug;

use super::report::compare;
use super::{CycleMember, InstallError, InstallOptions, InstalledModule, LocalModule, Resolution, UpdateSelection};
use crate::git::{FetchTarget, GitError, GitSource, RemoteRefs};
use crate::hash::content_hash;
use crate::lockfile::{verify_hash, verify_tag};
use crate::manifest::{MANIFEST_NAME, read_dependencies};
use crate::reference::{Reference, VersionKind, VersionSpec, is_commit_like};
use crate::resolve::{Network, ResolveError, Resolved, ensure_commit, resolve};
use crate::schema::lock::{LockedModule, Lockfile};
use crate::schema::manifest::Dependencies;

/// Answers `list_remote_refs` once per URL for the whole run, so a monorepo with ten
/// modules is asked once; checks a URL only third-party modules declared before the
/// network is reached for it.
struct RunCache<'a> {
    inner: &'a dyn GitSource,
    remote_refs: Mutex<HashMap<String, RemoteRefs>>,
    /// URLs the user's own modules declared, and those only git modules did.
    declared: Mutex<Declared>,
}

#[derive(Default)]
struct Declared {
    by_user: BTreeSet<String>,
    by_third_parties: BTreeSet<String>,
}

impl RunCache<'_> {
    fn declare(&self, url: &str, by_third_party: bool) {
        let mut declared = self.declared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if by_third_party {
            declared.by_third_parties.insert(url.to_owned());
        } else {
            declared.by_user.insert(url.to_owned());
        }
    }

    fn check(&self, url: &str) -> Result<(), GitError> {
        let declared = self.declared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if declared.by_third_parties.contains(url) && !declared.by_user.contains(url) {
            drop(declared);
            self.inner.check_declared_url(url)?;
        }
        Ok(())
    }
}

impl GitSource for RunCache<'_> {
    fn list_remote_refs(&self, url: &str) -> Result<RemoteRefs, GitError> {
        let mut memo = self.remote_refs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(refs) = memo.get(url) {
            return Ok(refs.clone());
        }
        self.check(url)?;
        let refs = self.inner.list_remote_refs(url)?;
        memo.insert(url.to_owned(), refs.clone());
        Ok(refs)
    }
    fn list_cached_refs(&self, url: &str) -> Result<Option<RemoteRefs>, GitError> {
        self.inner.list_cached_refs(url)
    }
    fn fetch(&self, url: &str, target: &FetchTarget) -> Result<(), GitError> {
        self.check(url)?;
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
pub(super) fn satisfies(entry: &LockedModule, spec: Option<&VersionSpec>) -> bool {
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
        declared: Mutex::new(Declared::default()),
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
    git: &'a RunCache<'a>,
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
        if let Some(root) = &edge.checkout_root {
            refuse_outside(root, &manifest, &edge.alias)?;
        }
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
        // Edges out of a git checkout are a third party's; the user's own modules are
        // the root and its local dependencies.
        self.git.declare(&url, edge.checkout_root.is_some());
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
        refuse_outside(&checkout, &manifest, &reference.to_string())?;
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

/// Refuses `manifest` when, through a symlink (itself or a folder above it), it resolves
/// outside `checkout`: a third-party repository must not have a file of this machine read
/// as its manifest. An absent file is left to the caller's own error.
fn refuse_outside(checkout: &Path, manifest: &Path, dependency: &str) -> Result<(), InstallError> {
    if let (Ok(real), Ok(root)) = (manifest.canonicalize(), checkout.canonicalize())
        && !real.starts_with(&root)
    {
        return Err(InstallError::ManifestOutsideRepository {
            dependency: dependency.to_owned(),
            path: manifest.strip_prefix(checkout).unwrap_or(manifest).to_path_buf(),
        });
    }
    Ok(())
}
