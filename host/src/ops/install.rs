//! `tanto install`, `tanto uninstall` and `tanto update`: change the `[dependencies]` of
//! the nearest `tanto.toml` (in place, see [`crate::module::edit`]) and bring
//! `tanto.lock` in line with it.
//!
//! All three go through [`sync`], so they share one order of events: the edited
//! manifest is parsed and resolved **in memory** first (graph, commits, content hashes
//! and the sha256 of every prebuilt component), `--locked` is checked, and only then
//! are `tanto.toml` and `tanto.lock` written. A failed resolution leaves both files as
//! they were, the way uv leaves `pyproject.toml` alone when `uv add` cannot resolve.
//!
//! # What the lock pins
//!
//! Every git module gets its commit and the content hash of its folder (the registry
//! does that). A module that ships a prebuilt component (`component = "x.wasm"`) also
//! gets the component's sha256, which the loader checks before running it. A module
//! built from source gets no component digest: the build is a function of the pinned
//! sources and the local toolchain, and recording one machine's compiler output would
//! make `--locked` fail on every other machine.
//!
//! # Components
//!
//! Before writing anything, every git module's component is obtained, and the outcome
//! tells how: the prebuilt one (inside its checkout, and pinned), or one built from
//! source in the sandbox ([`crate::module::sandbox`]), never on the host unless the user
//! allowed it. A checkout with a path or symlink leading out of it is refused.

use std::path::{Component, Path, PathBuf};

use anyhow::Context as _;
use tanto_registry::install::{InstallError, InstallOptions, InstallReport, InstalledModule, LockMode, UpdateSelection, resolve_graph};
use tanto_registry::lockfile::{read_lockfile, write_lockfile};
use tanto_registry::reference::{Reference, Source, VersionSpec};
use tanto_registry::resolve::{Network, resolve};
use tanto_registry::schema::lock::{LOCKFILE_NAME, Lockfile};
use tanto_registry::schema::manifest::is_valid_name;

use super::deps::{
    BuildSettings, CheckoutError, GitModule, Origin, check_checkout, checkout_root, component_of, git_source, inside_checkout, inside_git_checkout,
    read_dependency_manifest,
};
use super::session::Session;
use crate::engine::{Digest, StepReporter};
use crate::error::{Diagnose, ErrorKind, Hint};
use crate::module::edit::{EditError, remove_dependency, set_dependency};
use crate::module::sandbox::UnsandboxedBuilds;
use crate::module::{MANIFEST_NAME, Manifest, Sdk, find_module_root};

/// What every command that may change `tanto.lock` needs.
#[derive(Clone, Debug)]
pub struct LockSettings {
    /// The nearest `tanto.toml` at or above this folder is the project.
    pub working_dir: PathBuf,
    /// The module cache (git repositories and checkouts).
    pub cache_root: PathBuf,
    /// `Offline`: only what the cache holds.
    pub network: Network,
    /// `Locked`: fail instead of changing `tanto.lock`.
    pub lock_mode: LockMode,
    /// Whether a third-party module may be built unconfined when no sandbox can be made.
    pub unsandboxed_builds: UnsandboxedBuilds,
    /// Where builds of modules show as steps.
    pub reporter: StepReporter,
}

/// `tanto install [REF] [--name NAME]`.
#[derive(Clone, Debug)]
pub struct InstallSettings {
    pub lock: LockSettings,
    /// The dependency to add; `None` installs what `tanto.toml` declares.
    pub add: Option<NewDependency>,
}

/// A dependency `tanto install REF` adds.
#[derive(Clone, Debug)]
pub struct NewDependency {
    /// As given; a relative local path is relative to `working_dir`.
    pub reference: Reference,
    /// The name to declare it under (default: [`Reference::default_name`]).
    pub name: Option<String>,
}

/// `tanto uninstall NAME`.
#[derive(Clone, Debug)]
pub struct UninstallSettings {
    pub lock: LockSettings,
    pub name: String,
}

/// `tanto update [NAME...]`.
#[derive(Clone, Debug)]
pub struct UpdateSettings {
    pub lock: LockSettings,
    /// The lock entries (names or ids) to move; empty moves every entry.
    pub names: Vec<String>,
}

/// What happened to `tanto.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestChange {
    Unchanged,
    Added { name: String, reference: Reference },
    Replaced { name: String, old: Reference, new: Reference },
    Removed { name: String, reference: Reference },
}

/// The result of a successful install, uninstall or update.
#[derive(Clone, Debug)]
pub struct LockOutcome {
    /// The folder holding `tanto.toml` and `tanto.lock`.
    pub project_root: PathBuf,
    pub lockfile_path: PathBuf,
    /// The lock as it now is on disk.
    pub lockfile: Lockfile,
    /// Differences from the previous lock.
    pub report: InstallReport,
    /// Whether `tanto.lock` was written.
    pub lockfile_changed: bool,
    pub manifest_change: ManifestChange,
    /// How the component of each git module was obtained, by lock id.
    pub components: Vec<ModuleComponent>,
}

/// How one git module's component was obtained by `install`, `update` or `uninstall`.
#[derive(Clone, Debug)]
pub struct ModuleComponent {
    /// The lock id (`name@version`).
    pub id: String,
    pub origin: Origin,
}

/// A request about dependencies that cannot work as asked.
#[derive(Debug, thiserror::Error)]
pub enum DependencyError {
    /// `--name` (or the reference's default name) holds characters a name cannot.
    #[error("`{name}` is not a valid dependency name")]
    InvalidName { name: String },
    /// The name is declared already, for another module.
    #[error("the dependency name `{name}` is already used by {existing} in {}", manifest.display())]
    NameTaken {
        name: String,
        existing: String,
        requested: String,
        manifest: PathBuf,
    },
    /// `uninstall` named a dependency `tanto.toml` does not declare.
    #[error("`{name}` is not a dependency in {}", manifest.display())]
    NotInstalled { name: String, manifest: PathBuf, installed: Vec<String> },
    /// `update --locked` found a newer version allowed.
    #[error("`{}` would change{}", path.display(), render_updates(report))]
    UpdateLocked { path: PathBuf, report: Box<InstallReport> },
    /// A dependency's `tanto.toml` is not one this tanto can use.
    #[error("dependency {id}: {error}")]
    DependencyManifest {
        id: String,
        #[source]
        error: crate::module::ManifestError,
    },
    /// A dependency's checkout names or links to something outside it.
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    /// A dependency declares a prebuilt component that its folder lacks.
    #[error("dependency {id} declares the prebuilt component `{}`, but its folder has no such file", component.display())]
    ComponentMissing { id: String, component: PathBuf },
    /// `tanto.toml` could not be edited.
    #[error("cannot edit {}", manifest.display())]
    Edit {
        manifest: PathBuf,
        #[source]
        error: EditError,
    },
    /// The edited `tanto.toml` cannot be written (a read-only folder, a full disk).
    #[error("cannot write {}", manifest.display())]
    WriteManifest {
        manifest: PathBuf,
        #[source]
        error: std::io::Error,
    },
}

impl Diagnose for DependencyError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::User
    }

    fn hint(&self) -> Option<Hint> {
        match self {
            DependencyError::InvalidName { .. } => Some(Hint::Registry(tanto_registry::Hint::RenameDependency)),
            DependencyError::NameTaken { name, requested, .. } => Some(Hint::InstallUnderAnotherName {
                name: name.clone(),
                requested: requested.clone(),
            }),
            DependencyError::NotInstalled { installed, .. } => Some(Hint::InstalledDependencies { names: installed.clone() }),
            DependencyError::UpdateLocked { .. } => Some(Hint::UpdateWithoutLocked),
            DependencyError::DependencyManifest { .. } | DependencyError::ComponentMissing { .. } | DependencyError::Checkout(_) => Some(Hint::UnusableRelease),
            DependencyError::Edit { .. } => None,
            DependencyError::WriteManifest { .. } => Some(Hint::WritableModuleFile {
                file: PathBuf::from("tanto.toml"),
            }),
        }
    }
}

fn render_updates(report: &InstallReport) -> String {
    let lines: Vec<String> = report
        .updated
        .iter()
        .map(|update| format!("\n  would update {} {}", update.new.name, update.describe_change()))
        .collect();
    if lines.is_empty() { String::new() } else { format!(":{}", lines.concat()) }
}

/// `tanto install`: adds `settings.add` to `tanto.toml` when given, then resolves and
/// writes `tanto.lock`.
pub async fn install(session: &Session, settings: InstallSettings) -> anyhow::Result<LockOutcome> {
    let outcome = blocking(move || install_blocking(settings)).await?;
    lock_written(session, &outcome).await?;
    Ok(outcome)
}

/// `tanto uninstall`: removes a dependency from `tanto.toml` and re-resolves the lock
/// (modules only it needed leave the lock).
pub async fn uninstall(session: &Session, settings: UninstallSettings) -> anyhow::Result<LockOutcome> {
    let outcome = blocking(move || uninstall_blocking(settings)).await?;
    lock_written(session, &outcome).await?;
    Ok(outcome)
}

/// `tanto update`: moves the named (or all) lock entries to the newest versions their
/// requirements allow.
pub async fn update(session: &Session, settings: UpdateSettings) -> anyhow::Result<LockOutcome> {
    let outcome = blocking(move || update_blocking(settings)).await?;
    lock_written(session, &outcome).await?;
    Ok(outcome)
}

/// Runs once `tanto.toml` and `tanto.lock` on disk agree, after `install`, `uninstall`
/// or `update` wrote them (or, with nothing to change or `--locked`, verified them), so
/// a plain `tanto install` also repairs stale generated files. The one place for work
/// that follows the lock, such as regenerating typed dependency bindings; a failure
/// here leaves both files written.
async fn lock_written(session: &Session, outcome: &LockOutcome) -> anyhow::Result<()> {
    // The typed dependency APIs follow the dependencies: regenerated for modules that keep
    // them (`tanto init` scaffolds src/dependencies.rs; `tanto develop` writes a Python
    // module's tanto_deps/), never forced on others.
    let manifest = Manifest::read(&outcome.project_root)?;
    let source = if manifest.source == Path::new(".") {
        outcome.project_root.clone()
    } else {
        outcome.project_root.join(&manifest.source)
    };
    let file = match manifest.sdk {
        Sdk::Rust => super::develop::BINDINGS_FILE,
        Sdk::Python => super::python_client::PYTHON_BINDINGS_FILE,
        // Their authors' own tools write their bindings.
        Sdk::Javascript | Sdk::C => return Ok(()),
    };
    if source.join(file).is_file() {
        super::develop::regenerate_bindings(session, &outcome.project_root)
            .await
            .with_context(|| format!("tanto.toml and tanto.lock are written, but regenerating {file} failed (fix it, then run `tanto develop`)"))?;
    }
    Ok(())
}

/// Git and file work runs off the async runtime's worker threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work).await.context("the dependency resolution task stopped")?
}

/// The project: its folder, its manifest text and what that text says.
struct Project {
    root: PathBuf,
    manifest_path: PathBuf,
    text: String,
    manifest: Manifest,
}

impl Project {
    fn find(working_dir: &Path) -> anyhow::Result<Project> {
        let root = find_module_root(working_dir)?;
        let manifest_path = root.join(MANIFEST_NAME);
        let text = std::fs::read_to_string(&manifest_path).map_err(|source| crate::module::ManifestError::Read {
            path: manifest_path.clone(),
            source,
        })?;
        let manifest = Manifest::parse(&manifest_path, &text)?;
        Ok(Project {
            root,
            manifest_path,
            text,
            manifest,
        })
    }
}

fn install_blocking(settings: InstallSettings) -> anyhow::Result<LockOutcome> {
    let InstallSettings { lock, add } = settings;
    let project = Project::find(&lock.working_dir)?;
    let (edited, change) = match add {
        Some(dependency) => add_dependency(&project, dependency, &lock)?,
        None => (None, ManifestChange::Unchanged),
    };
    sync(&project, edited, change, &lock, UpdateSelection::Nothing)
}

fn uninstall_blocking(settings: UninstallSettings) -> anyhow::Result<LockOutcome> {
    let UninstallSettings { lock, name } = settings;
    let project = Project::find(&lock.working_dir)?;
    let not_installed = || DependencyError::NotInstalled {
        name: name.clone(),
        manifest: project.manifest_path.clone(),
        installed: project.manifest.dependencies.iter().map(|(name, _)| name.to_owned()).collect(),
    };
    let reference = project.manifest.dependencies.get(&name).cloned().ok_or_else(not_installed)?;
    let edited = remove_dependency(&project.text, &name)
        .map_err(|error| DependencyError::Edit {
            manifest: project.manifest_path.clone(),
            error,
        })?
        .ok_or_else(not_installed)?;
    sync(
        &project,
        Some(edited),
        ManifestChange::Removed { name, reference },
        &lock,
        UpdateSelection::Nothing,
    )
}

fn update_blocking(settings: UpdateSettings) -> anyhow::Result<LockOutcome> {
    let UpdateSettings { lock, names } = settings;
    let project = Project::find(&lock.working_dir)?;
    let selection = if names.is_empty() {
        UpdateSelection::All
    } else {
        UpdateSelection::Modules(names)
    };
    // The locked check is made here rather than in `sync`, so the error names the
    // versions an update would move to instead of sending the user to `tanto install`.
    let resolve_only = LockSettings {
        lock_mode: LockMode::Write,
        ..lock.clone()
    };
    if lock.lock_mode == LockMode::Locked {
        let preview = resolve_in_memory(&project, &project.manifest, &resolve_only, selection.clone())?;
        if preview.existing.as_ref() != Some(&preview.lockfile) {
            return Err(DependencyError::UpdateLocked {
                path: project.root.join(LOCKFILE_NAME),
                report: Box::new(preview.report),
            }
            .into());
        }
    }
    sync(&project, None, ManifestChange::Unchanged, &lock, selection)
}

/// Declares `dependency` in the manifest text: returns the edited text (`None` when
/// the manifest already says exactly that) and the change.
fn add_dependency(project: &Project, dependency: NewDependency, settings: &LockSettings) -> anyhow::Result<(Option<String>, ManifestChange)> {
    let NewDependency { reference, name } = dependency;
    let reference = relative_to_project(reference, &settings.working_dir, &project.root)?;
    let name = name.unwrap_or_else(|| reference.default_name());
    if !is_valid_name(&name) {
        return Err(DependencyError::InvalidName { name }.into());
    }
    let existing = project.manifest.dependencies.get(&name);
    if let Some(existing) = existing
        && !same_module(existing, &reference)
    {
        return Err(DependencyError::NameTaken {
            name,
            existing: existing.to_string(),
            requested: reference.to_string(),
            manifest: project.manifest_path.clone(),
        }
        .into());
    }
    let reference = with_default_requirement(reference, settings)?;
    if existing == Some(&reference) {
        return Ok((None, ManifestChange::Unchanged));
    }
    let edited = set_dependency(&project.text, &name, &reference).map_err(|error| DependencyError::Edit {
        manifest: project.manifest_path.clone(),
        error,
    })?;
    let change = match existing {
        Some(old) => ManifestChange::Replaced {
            name,
            old: old.clone(),
            new: reference,
        },
        None => ManifestChange::Added { name, reference },
    };
    Ok((Some(edited), change))
}

/// Whether two references name the same module (whatever versions they ask for).
fn same_module(a: &Reference, b: &Reference) -> bool {
    match (a.source(), b.source()) {
        (Source::Local(a), Source::Local(b)) => a == b,
        (Source::Remote(_), Source::Remote(_)) => a.clone_url() == b.clone_url() && a.subpath() == b.subpath(),
        _ => false,
    }
}

/// A git reference given without a version is written with a caret requirement on the
/// newest release (`@^1.4.0`), as `cargo add` does: `tanto update` then stays within
/// that major version. Without version tags it is kept as written (the default branch).
fn with_default_requirement(reference: Reference, settings: &LockSettings) -> anyhow::Result<Reference> {
    if reference.is_local() || reference.version().is_some() {
        return Ok(reference);
    }
    let git = git_source(&settings.cache_root);
    let resolved = resolve(&git, &reference, settings.network)?;
    match resolved.version {
        Some(version) if version.pre.is_empty() => {
            let requirement = VersionSpec::parse(&format!("^{version}")).map_err(|kind| anyhow::anyhow!("`^{version}` is not a requirement: {kind}"))?;
            Ok(reference.with_version(Some(requirement)))
        }
        _ => Ok(reference),
    }
}

/// A relative local path given on the command line is relative to where the user
/// stands; in `tanto.toml` it is relative to the manifest. Rewrites the first into the
/// second (`./mods/x` from a subfolder becomes `./sub/mods/x`).
fn relative_to_project(reference: Reference, working_dir: &Path, project_root: &Path) -> anyhow::Result<Reference> {
    let Some(path) = reference.source().local_path() else {
        return Ok(reference);
    };
    if path.is_absolute() {
        return Ok(reference);
    }
    let absolute = normalize(&working_dir.join(path));
    let relative = relative_path(&absolute, &normalize(project_root));
    let text = match relative.to_str() {
        Some("") => ".".to_owned(),
        Some(text) if text.starts_with("..") => text.to_owned(),
        Some(text) => format!("./{text}"),
        None => return Ok(reference),
    };
    Ok(Reference::parse(&text)?)
}

/// Removes `.` and folds `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut normalized = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normalized.pop();
            }
            other => normalized.push(other),
        }
    }
    normalized
}

/// `path` relative to `base` (both absolute and normalized), with `..` where needed.
fn relative_path(path: &Path, base: &Path) -> PathBuf {
    let path_parts: Vec<Component> = path.components().collect();
    let base_parts: Vec<Component> = base.components().collect();
    let common = path_parts.iter().zip(&base_parts).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..base_parts.len() {
        relative.push("..");
    }
    for part in &path_parts[common..] {
        relative.push(part);
    }
    relative
}

/// A resolution that has not been written anywhere.
struct InMemory {
    existing: Option<Lockfile>,
    lockfile: Lockfile,
    report: InstallReport,
    modules: Vec<InstalledModule>,
    local_modules: Vec<tanto_registry::install::LocalModule>,
}

fn resolve_in_memory(project: &Project, manifest: &Manifest, settings: &LockSettings, update: UpdateSelection) -> anyhow::Result<InMemory> {
    let lockfile_path = project.root.join(LOCKFILE_NAME);
    let existing = read_lockfile(&lockfile_path)?;
    let git = git_source(&settings.cache_root);
    let options = InstallOptions {
        network: settings.network,
        lock_mode: settings.lock_mode,
        update,
    };
    let resolution = resolve_graph(&git, &project.root, &manifest.dependencies, existing.as_ref(), &options)?;
    let mut lockfile = resolution.lockfile;
    record_components(&mut lockfile, &resolution.modules)?;
    lockfile.normalize();
    let existing = existing.map(|mut existing| {
        existing.normalize();
        existing
    });
    Ok(InMemory {
        existing,
        lockfile,
        report: resolution.report,
        modules: resolution.modules,
        local_modules: resolution.local_modules,
    })
}

/// Resolves the (possibly edited) manifest, checks `--locked`, then writes `tanto.toml`
/// and `tanto.lock`.
fn sync(project: &Project, edited: Option<String>, change: ManifestChange, settings: &LockSettings, update: UpdateSelection) -> anyhow::Result<LockOutcome> {
    let manifest = match &edited {
        // The edited text is what gets written, so it is what gets resolved.
        Some(text) => Manifest::parse(&project.manifest_path, text)?,
        None => project.manifest.clone(),
    };
    let lockfile_path = project.root.join(LOCKFILE_NAME);
    let resolved = resolve_in_memory(project, &manifest, settings, update)?;
    if settings.lock_mode == LockMode::Locked && resolved.existing.as_ref() != Some(&resolved.lockfile) {
        return Err(InstallError::LockOutOfDate {
            path: lockfile_path,
            report: resolved.existing.is_some().then(|| Box::new(resolved.report)),
        }
        .into());
    }
    // Components before any file is written: a module that cannot be built (or whose
    // checkout points outside itself) leaves tanto.toml and tanto.lock as they were.
    let components = obtain_components(&resolved, settings)?;
    if let Some(text) = &edited {
        crate::util::write_atomic(&project.manifest_path, text.as_bytes()).map_err(|error| DependencyError::WriteManifest {
            manifest: project.manifest_path.clone(),
            error,
        })?;
    }
    let lockfile_changed = match settings.lock_mode {
        LockMode::Locked => false,
        LockMode::Write => match write_lockfile(&lockfile_path, &resolved.lockfile) {
            Ok(changed) => changed,
            Err(error) => {
                // tanto.toml and tanto.lock change together or not at all.
                if edited.is_some()
                    && let Err(restore) = crate::util::write_atomic(&project.manifest_path, project.text.as_bytes())
                {
                    tracing::warn!(%restore, path = %project.manifest_path.display(), "could not restore tanto.toml");
                }
                return Err(error.into());
            }
        },
    };
    tracing::info!(path = %lockfile_path.display(), changed = lockfile_changed, "tanto.lock in line with tanto.toml");
    Ok(LockOutcome {
        project_root: project.root.clone(),
        lockfile_path,
        lockfile: resolved.lockfile,
        report: resolved.report,
        lockfile_changed,
        manifest_change: change,
        components,
    })
}

/// The component of every git module of the resolution: its prebuilt one (checked
/// against the sha256 just pinned), or one built from source in the sandbox (once per
/// commit: later calls find it in the cache).
fn obtain_components(resolved: &InMemory, settings: &LockSettings) -> anyhow::Result<Vec<ModuleComponent>> {
    let build = BuildSettings {
        network: settings.network,
        unsandboxed: settings.unsandboxed_builds,
        reporter: settings.reporter.clone(),
    };
    let mut modules: Vec<GitModule> = resolved
        .modules
        .iter()
        .map(|module| GitModule {
            name: module.id.clone(),
            commit: module.commit.clone(),
            path: module.path.clone(),
        })
        .collect();
    modules.sort_by(|a, b| a.name.cmp(&b.name));
    // Local paths inside a git module's repository are third-party code too.
    modules.extend(
        resolved
            .local_modules
            .iter()
            .filter_map(|module| inside_git_checkout(&settings.cache_root, &module.path, &module.name)),
    );
    let mut components = Vec::new();
    for module in modules {
        check_checkout(&module.path, &module.name)?;
        let manifest = read_dependency_manifest(&module.path, &module.name)?;
        let entry = resolved.lockfile.find(&module.name);
        let obtained = component_of(&module.path, &manifest, Some(&module), entry, &settings.cache_root, build.clone())?;
        components.push(ModuleComponent {
            id: module.name,
            origin: obtained.origin,
        });
    }
    Ok(components)
}

/// Records the sha256 of every prebuilt component in the lock (see the module docs).
fn record_components(lockfile: &mut Lockfile, modules: &[InstalledModule]) -> Result<(), DependencyError> {
    for module in modules {
        // Third-party files: nothing in the checkout may lead out of it, and nothing is
        // read before that is known.
        check_checkout(&module.path, &module.id)?;
        let manifest_path = inside_checkout(&checkout_root(&module.path), &module.path, "manifest", Path::new(MANIFEST_NAME), &module.id)?;
        let manifest = Manifest::read(manifest_path.parent().unwrap_or(&module.path))
            .map_err(|error| DependencyError::DependencyManifest { id: module.id.clone(), error })?;
        let Some(component) = &manifest.component else {
            continue;
        };
        let component_path = inside_checkout(&checkout_root(&module.path), &module.path, "component", component, &module.id)?;
        let bytes = std::fs::read(component_path).map_err(|_| DependencyError::ComponentMissing {
            id: module.id.clone(),
            component: component.clone(),
        })?;
        lockfile.set_component(&module.id, &Digest::of_bytes(&bytes).to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_rewritten_relative_to_the_manifest() {
        let rewrite = |given: &str, working_dir: &str| {
            relative_to_project(Reference::parse(given).expect("reference"), Path::new(working_dir), Path::new("/p"))
                .expect("rewrite")
                .to_string()
        };
        assert_eq!(rewrite("./mods/x", "/p/sub"), "./sub/mods/x");
        assert_eq!(rewrite("../x", "/p/sub"), "./x");
        assert_eq!(rewrite("../x", "/p"), "../x");
        assert_eq!(rewrite("/abs/x", "/p/sub"), "/abs/x");
        assert_eq!(rewrite("github.com/o/r@^1", "/p/sub"), "github.com/o/r@^1");
    }

    #[test]
    fn same_module_ignores_versions_and_spelling() {
        let parse = |text: &str| Reference::parse(text).expect("reference");
        assert!(same_module(&parse("github.com/o/r/sub@^1"), &parse("https://github.com/o/r/sub@v2.0.0")));
        assert!(!same_module(&parse("github.com/o/r/sub@^1"), &parse("github.com/o/r@^1")));
        assert!(!same_module(&parse("github.com/o/r"), &parse("./r")));
    }
}
