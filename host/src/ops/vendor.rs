//! The Rust SDK vendored into a module's `sdk/` folder: which SDK a module holds, how it
//! compares with the one embedded in this binary ([`RUST_SDK_FILES`]), and bringing it up
//! to date without losing edits.
//!
//! `tanto init` and `tanto develop` write, beside the SDK's files, a record of what they
//! wrote ([`RECORD_FILE`]: the SDK's version and the sha256 of each file), as `cargo vendor`
//! writes `.cargo-checksum.json` beside each vendored crate. That record is how `develop`
//! tells a file tanto wrote from a file the user changed since. Everything here is derived
//! from [`RUST_SDK_FILES`] and the embedded `Cargo.toml`, so a new SDK version (other
//! files, another version number) needs no change in this file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

use semver::Version;
use serde::{Deserialize, Serialize};

use super::init::RUST_SDK_FILES;
use super::session::ModuleLocation;
use crate::cli::UsageError;
use crate::engine::Digest;
use crate::module::{Manifest, find_module_root};

/// Where a module vendors the SDK, relative to its crate (`tanto init` writes
/// `tanto-sdk = { path = "sdk" }` into the module's `Cargo.toml`).
pub const SDK_DIR: &str = "sdk";

/// The record of what tanto vendored, inside [`SDK_DIR`].
pub const RECORD_FILE: &str = ".tanto-vendored.json";

/// The package name of the Rust SDK; a `sdk/Cargo.toml` naming it marks a vendored SDK.
pub const SDK_PACKAGE: &str = "tanto-sdk";

/// Cargo's outputs when the SDK crate is built on its own (`cargo test` inside `sdk/`):
/// never vendored, so never counted as files of the SDK that is there.
const BUILD_OUTPUTS: [&str; 2] = ["target", "Cargo.lock"];

/// The version of the SDK embedded in this binary, from its `Cargo.toml`.
pub fn host_sdk_version() -> &'static Version {
    static VERSION: LazyLock<Version> = LazyLock::new(|| {
        let manifest = RUST_SDK_FILES.iter().find(|(path, _)| *path == "Cargo.toml").map(|(_, contents)| *contents);
        // The embedded manifest is part of this binary, checked by a unit test
        // (`the_embedded_sdk_has_a_version`): no user input reaches this.
        manifest
            .and_then(package_version)
            .expect("the embedded SDK's Cargo.toml names its package and version")
    });
    &VERSION
}

/// The version in a `Cargo.toml` whose package is the SDK.
fn package_version(manifest: &str) -> Option<Version> {
    #[derive(Deserialize)]
    struct CargoManifest {
        package: Package,
    }
    #[derive(Deserialize)]
    struct Package {
        name: String,
        version: String,
    }
    let manifest: CargoManifest = toml::from_str(manifest).ok()?;
    (manifest.package.name == SDK_PACKAGE).then_some(())?;
    Version::parse(&manifest.package.version).ok()
}

/// What tanto wrote into `sdk/`: the SDK's package and version, and the sha256 of each
/// file by its path under `sdk/` (always `/`-separated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    #[serde(rename = "//")]
    note: String,
    package: String,
    version: String,
    files: BTreeMap<String, String>,
}

const RECORD_NOTE: &str = "Written by tanto: the files of the vendored tanto SDK and their sha256, as tanto wrote them. \
    `tanto develop` replaces this folder with the SDK of the tanto that runs it, and refuses to overwrite a file that \
    differs from its checksum here unless --force. Edit neither the SDK nor this file.";

impl Record {
    /// The record of the SDK embedded in this binary.
    fn embedded() -> Self {
        Self {
            note: RECORD_NOTE.to_owned(),
            package: SDK_PACKAGE.to_owned(),
            version: host_sdk_version().to_string(),
            files: RUST_SDK_FILES
                .iter()
                .map(|(path, contents)| ((*path).to_owned(), checksum(contents.as_bytes())))
                .collect(),
        }
    }

    fn to_json(&self) -> String {
        // A map of strings always serializes.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The record in `sdk_dir`, if it is there and sound. A record names files to delete,
    /// so one whose paths leave `sdk/` (absolute, `..`) is refused, not obeyed.
    fn read(sdk_dir: &Path) -> Result<Option<Self>, String> {
        let path = sdk_dir.join(RECORD_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
        };
        let record: Record = serde_json::from_str(&text).map_err(|error| format!("{} is damaged: {error}", path.display()))?;
        if let Some(bad) = record.files.keys().find(|file| !is_inside(file)) {
            return Err(format!("{} names {bad:?}, a path outside sdk/", path.display()));
        }
        Ok(Some(record))
    }
}

fn checksum(bytes: &[u8]) -> String {
    Digest::of_bytes(bytes).hex()
}

/// Whether `path` is a relative path of normal components (no `..`, root or prefix).
fn is_inside(path: &str) -> bool {
    !path.is_empty() && Path::new(path).components().all(|component| matches!(component, Component::Normal(_)))
}

/// Writes the embedded SDK and its record into `sdk_dir` (a new module: `tanto init`).
pub fn write_sdk(sdk_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (path, contents) in RUST_SDK_FILES {
        let target = sdk_dir.join(path);
        write_file(&target, contents.as_bytes())?;
        written.push(target);
    }
    let record = sdk_dir.join(RECORD_FILE);
    write_file(&record, Record::embedded().to_json().as_bytes())?;
    written.push(record);
    Ok(written)
}

/// Replaces `path` through a sibling temporary file and a rename, so that an interrupted
/// update leaves each file either old or new, both of which the next `develop` accepts.
fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(parent)?;
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = parent.join(format!(".{name}.tanto-new"));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

/// The vendored SDK folder of the module whose crate is in `crate_dir`, if it vendors one.
/// Modules that depend on the SDK another way (a path into a tanto checkout, a registry)
/// have none, and nothing here concerns them.
fn vendored_sdk(crate_dir: &Path) -> Option<PathBuf> {
    // Without the `.` of a `source = "."`, for the paths shown to the user.
    let sdk_dir: PathBuf = crate_dir.join(SDK_DIR).components().collect();
    let names_sdk = std::fs::read_to_string(sdk_dir.join("Cargo.toml")).is_ok_and(|text| names_sdk_package(&text));
    (names_sdk || sdk_dir.join(RECORD_FILE).is_file()).then_some(sdk_dir)
}

/// Whether a `Cargo.toml` is the SDK's, whether or not its version is readable.
fn names_sdk_package(manifest: &str) -> bool {
    #[derive(Deserialize)]
    struct CargoManifest {
        package: Package,
    }
    #[derive(Deserialize)]
    struct Package {
        name: String,
    }
    toml::from_str::<CargoManifest>(manifest).is_ok_and(|manifest| manifest.package.name == SDK_PACKAGE)
}

/// The crate folder of a local module (`None` for a component file or a remote module).
fn crate_dir(location: &ModuleLocation) -> Option<PathBuf> {
    let root = match location {
        ModuleLocation::Path(path) if path.is_dir() => path.clone(),
        ModuleLocation::Search(start) => find_module_root(start).ok()?,
        ModuleLocation::Path(_) | ModuleLocation::Remote(_) => return None,
    };
    let manifest = Manifest::read(&root).ok()?;
    Some(root.join(&manifest.source))
}

/// How a module's vendored SDK compares with this tanto's, by version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SdkDrift {
    /// The module vendors an older SDK: `tanto develop` updates it.
    Older { vendored: Version, host: Version },
    /// The module vendors a newer SDK than this tanto knows: tanto is the one to upgrade.
    Newer { vendored: Version, host: Version },
}

impl fmt::Display for SdkDrift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SdkDrift::Older { vendored, host } => write!(
                f,
                "this module vendors {SDK_PACKAGE} {vendored} ({SDK_DIR}/), older than this tanto's {host}: run `tanto develop` to update it"
            ),
            SdkDrift::Newer { vendored, host } => write!(
                f,
                "this module vendors {SDK_PACKAGE} {vendored} ({SDK_DIR}/), newer than this tanto's {host}: upgrade tanto"
            ),
        }
    }
}

/// Whether the local module at `location` vendors an SDK of another version than this
/// tanto's. Cheap (two small files read), so it runs before every build of a local module;
/// anything unreadable is left for the build to report.
pub fn drift(location: &ModuleLocation) -> Option<SdkDrift> {
    let sdk_dir = vendored_sdk(&crate_dir(location)?)?;
    let vendored = package_version(&std::fs::read_to_string(sdk_dir.join("Cargo.toml")).ok()?)?;
    let host = host_sdk_version().clone();
    match vendored.cmp(&host) {
        std::cmp::Ordering::Less => Some(SdkDrift::Older { vendored, host }),
        std::cmp::Ordering::Greater => Some(SdkDrift::Newer { vendored, host }),
        std::cmp::Ordering::Equal => None,
    }
}

/// Whether `tanto develop` may overwrite what it did not write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overwrite {
    /// Refuse when a file to replace or delete differs from what tanto recorded writing,
    /// or when the update would downgrade the SDK.
    Refuse,
    /// Replace whatever is there (`--force`).
    Force,
}

/// What an SDK update changes, by path under `sdk/`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SdkChanges {
    pub updated: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// What `tanto develop` did to a module's vendored SDK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdkUpdate {
    /// The folder.
    pub sdk_dir: PathBuf,
    /// The version it held (`None`: its `Cargo.toml` was missing or unreadable).
    pub from: Option<Version>,
    /// The version it holds now, this tanto's.
    pub to: Version,
    pub changes: SdkChanges,
    /// Changes of the user's left in place (`path (why)`), in an SDK that is otherwise
    /// this tanto's.
    pub kept: Vec<String>,
    /// Whether the record was (re)written: always with changes, and alone for an SDK
    /// that was current but vendored before tanto kept records.
    pub recorded: bool,
}

impl SdkUpdate {
    /// Whether anything was written.
    pub fn wrote_nothing(&self) -> bool {
        !self.recorded && self.changes == SdkChanges::default()
    }
}

/// An update of a module's vendored SDK, checked and ready to write.
#[derive(Debug)]
pub struct SdkPlan {
    sdk_dir: PathBuf,
    from: Option<Version>,
    changes: SdkChanges,
    kept: Vec<String>,
    write_record: bool,
}

/// Checks what bringing the vendored SDK of the crate in `crate_dir` to this tanto's
/// would change; `None` when the module vendors no SDK.
///
/// An SDK of this tanto's version whose only differences from it are the user's is
/// current: those changes stay, and are reported. Anything else is an update, and an
/// update replaces the whole SDK (a mix of two versions does not build): if that would
/// overwrite or delete a file tanto did not write, or cannot vouch for, it is refused
/// unless [`Overwrite::Force`]. So is a downgrade.
///
/// Why refuse rather than overwrite or keep a backup: `sdk/` is tanto's, as a vendored
/// crate is cargo's (cargo refuses to build one whose files no longer match its
/// `.cargo-checksum.json`: "directory sources are not intended to be edited") and as
/// Dagger's generated SDK is Dagger's (`dagger develop` regenerates it wholesale). An edit
/// there is a local patch the user has to carry forward by hand, so it must not vanish in
/// an update; a backup folder left in the module would be committed by accident and go
/// stale, while version control already keeps the old files. So `develop` stops, names
/// the files, and `--force` says the user has seen them.
pub fn plan(crate_dir: &Path, overwrite: Overwrite) -> anyhow::Result<Option<SdkPlan>> {
    let Some(sdk_dir) = vendored_sdk(crate_dir) else {
        return Ok(None);
    };
    let record = match Record::read(&sdk_dir) {
        Ok(record) => record,
        Err(_) if overwrite == Overwrite::Force => None,
        Err(problem) => anyhow::bail!(UsageError::with_hint(
            format!("the record of the vendored SDK is unusable: {problem}"),
            format!(
                "`tanto develop --force` replaces {} with this tanto's SDK and writes a new record",
                sdk_dir.display()
            )
        )),
    };
    let from = std::fs::read_to_string(sdk_dir.join("Cargo.toml")).ok().as_deref().and_then(package_version);
    let host = host_sdk_version();

    // The files the vendored SDK consists of: those tanto recorded writing or, without a
    // record (an SDK vendored before tanto kept one), everything in the folder.
    let previous: BTreeSet<String> = match &record {
        Some(record) => record.files.keys().cloned().collect(),
        None => files_under(&sdk_dir)?,
    };
    // What tanto wrote and may replace, and what it did not write or cannot vouch for.
    let mut changes = SdkChanges::default();
    let mut theirs = SdkChanges::default();
    let mut reasons = Vec::new();
    let mut sort = |path: &str, bytes: &[u8], removal: bool, changes: &mut SdkChanges| {
        let reason = match &record {
            Some(record) => match record.files.get(path) {
                Some(sum) if *sum == checksum(bytes) => None,
                Some(_) => Some("changed since tanto wrote it"),
                None => Some("not written by tanto"),
            },
            None if removal => Some("not in this tanto's SDK"),
            None => Some("differs from this tanto's SDK"),
        };
        let list = |changes: &mut SdkChanges| {
            let list = if removal { &mut changes.removed } else { &mut changes.updated };
            list.push(path.to_owned());
        };
        match reason {
            None => list(changes),
            Some(reason) => {
                list(&mut theirs);
                reasons.push(format!("{path} ({reason})"));
            }
        }
    };
    for (path, contents) in RUST_SDK_FILES {
        match read_file(&sdk_dir.join(path))? {
            None => changes.added.push((*path).to_owned()),
            Some(bytes) if bytes == contents.as_bytes() => {}
            Some(bytes) => sort(path, &bytes, false, &mut changes),
        }
    }
    let embedded: BTreeSet<&str> = RUST_SDK_FILES.iter().map(|(path, _)| *path).collect();
    for path in previous.iter().filter(|path| !embedded.contains(path.as_str())) {
        if let Some(bytes) = read_file(&sdk_dir.join(path))? {
            sort(path, &bytes, true, &mut changes);
        }
    }

    // An SDK of this tanto's version whose only differences are the user's is current:
    // the user's changes stay. Anything else is an update, which replaces every file.
    let update = from.as_ref() != Some(host) || changes != SdkChanges::default();
    if overwrite == Overwrite::Refuse
        && let Some(vendored) = from.as_ref().filter(|vendored| *vendored > host)
    {
        anyhow::bail!(UsageError::with_hint(
            format!(
                "{} holds {SDK_PACKAGE} {vendored}, newer than this tanto's {host}: updating it would downgrade it",
                sdk_dir.display()
            ),
            "upgrade tanto; or run `tanto develop --force` to vendor this tanto's SDK instead"
        ));
    }
    let mut kept = Vec::new();
    match overwrite {
        _ if theirs == SdkChanges::default() => {}
        Overwrite::Force => {
            changes.updated.extend(theirs.updated);
            changes.removed.extend(theirs.removed);
        }
        Overwrite::Refuse if update => anyhow::bail!(refusal(&sdk_dir, from.as_ref(), record.is_some(), &reasons)),
        Overwrite::Refuse => kept = reasons,
    }
    changes.updated.sort();
    changes.removed.sort();
    // The record says what tanto wrote: it is not written over files tanto left alone.
    let write_record = kept.is_empty() && (changes != SdkChanges::default() || record.as_ref() != Some(&Record::embedded()));
    Ok(Some(SdkPlan {
        sdk_dir,
        from,
        changes,
        kept,
        write_record,
    }))
}

fn refusal(sdk_dir: &Path, from: Option<&Version>, has_record: bool, reasons: &[String]) -> UsageError {
    let host = host_sdk_version();
    let from = from.map(|version| format!(" {version}")).unwrap_or_default();
    let message = if has_record {
        format!(
            "updating the vendored SDK in {} ({SDK_PACKAGE}{from}) to {host} would overwrite changes of yours: {}",
            sdk_dir.display(),
            reasons.join(", ")
        )
    } else {
        format!(
            "the vendored SDK in {} ({SDK_PACKAGE}{from}) has no record of what tanto wrote ({RECORD_FILE}: an older tanto vendored it), so updating it to {host} cannot tell changes of yours from the older SDK's files: {}",
            sdk_dir.display(),
            reasons.join(", ")
        )
    };
    UsageError::with_hint(
        message,
        format!(
            "an update replaces the whole SDK: keep a copy of your changes, run `tanto develop --force` to vendor {SDK_PACKAGE} {host}, then apply them again if they are still needed"
        ),
    )
}

/// A file's bytes, `None` if there is no file (a folder or a link in its place is read as
/// absent, and replaced by the write).
fn read_file(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_file() => std::fs::read(path)
            .map(Some)
            .map_err(|error| anyhow::anyhow!("cannot read {}: {error}", path.display())),
        Ok(_) => Ok(None),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => anyhow::bail!("cannot read {}: {error}", path.display()),
    }
}

/// The files under `sdk_dir` as `/`-separated relative paths, but the record and cargo's
/// build outputs. Links are not followed.
fn files_under(sdk_dir: &Path) -> anyhow::Result<BTreeSet<String>> {
    let mut files = BTreeSet::new();
    let mut pending = vec![(sdk_dir.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|error| anyhow::anyhow!("cannot list {}: {error}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|error| anyhow::anyhow!("cannot list {}: {error}", dir.display()))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if prefix.is_empty() && (BUILD_OUTPUTS.contains(&name.as_str()) || name == RECORD_FILE) {
                continue;
            }
            let relative = format!("{prefix}{name}");
            let kind = entry
                .file_type()
                .map_err(|error| anyhow::anyhow!("cannot read {}: {error}", entry.path().display()))?;
            if kind.is_dir() {
                pending.push((entry.path(), format!("{relative}/")));
            } else if kind.is_file() {
                files.insert(relative);
            }
        }
    }
    Ok(files)
}

impl SdkPlan {
    /// Writes the update: changed files first, the record last, so that an update cut
    /// short leaves files that are each either as recorded or as embedded.
    pub fn apply(self) -> anyhow::Result<SdkUpdate> {
        let Self {
            sdk_dir,
            from,
            changes,
            kept,
            write_record,
        } = self;
        let contents: BTreeMap<&str, &str> = RUST_SDK_FILES.iter().copied().collect();
        let fail = |path: &Path, error: std::io::Error| anyhow::anyhow!("cannot update the vendored SDK: {}: {error}", path.display());
        for path in changes.updated.iter().chain(&changes.added) {
            let target = sdk_dir.join(path);
            let bytes = contents.get(path.as_str()).map(|text| text.as_bytes()).unwrap_or_default();
            // A folder where a file goes (the user's) makes the write fail, and says so.
            write_file(&target, bytes).map_err(|error| fail(&target, error))?;
        }
        for path in &changes.removed {
            let target = sdk_dir.join(path);
            std::fs::remove_file(&target).map_err(|error| fail(&target, error))?;
            // Folders the SDK no longer has (`wit/0.1.0/`) go with their last file.
            for parent in target.ancestors().skip(1).take_while(|dir| *dir != sdk_dir) {
                if std::fs::remove_dir(parent).is_err() {
                    break;
                }
            }
        }
        let recorded = write_record;
        if recorded {
            let record = sdk_dir.join(RECORD_FILE);
            write_file(&record, Record::embedded().to_json().as_bytes()).map_err(|error| fail(&record, error))?;
        }
        Ok(SdkUpdate {
            sdk_dir,
            from,
            to: host_sdk_version().clone(),
            changes,
            kept,
            recorded,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embedded(path: &str) -> &'static str {
        RUST_SDK_FILES.iter().find(|(embedded, _)| *embedded == path).unwrap().1
    }

    /// A module folder with the SDK as `tanto init` vendors it.
    fn vendored() -> tempfile::TempDir {
        let module = tempfile::tempdir().unwrap();
        write_sdk(&module.path().join(SDK_DIR)).unwrap();
        module
    }

    /// Rewrites the SDK of `module` as another tanto, whose SDK is `version` and has the
    /// files `files` (path, contents; `None` for a file it lacks), would have vendored it:
    /// the record matches.
    fn vendor_as(module: &Path, version: &str, files: &[(&str, Option<&str>)]) {
        let sdk = module.join(SDK_DIR);
        let manifest = embedded("Cargo.toml").replacen(&format!("version = \"{}\"", host_sdk_version()), &format!("version = \"{version}\""), 1);
        std::fs::write(sdk.join("Cargo.toml"), &manifest).unwrap();
        let mut record = Record::embedded();
        record.version = version.into();
        record.files.insert("Cargo.toml".into(), checksum(manifest.as_bytes()));
        for (path, contents) in files {
            match contents {
                Some(contents) => {
                    write_file(&sdk.join(path), contents.as_bytes()).unwrap();
                    record.files.insert((*path).into(), checksum(contents.as_bytes()));
                }
                None => {
                    std::fs::remove_file(sdk.join(path)).unwrap();
                    record.files.remove(*path);
                }
            }
        }
        std::fs::write(sdk.join(RECORD_FILE), record.to_json()).unwrap();
    }

    /// An SDK 0.0.1 whose `src/lib.rs` differs, with an extra `wit/0.0.1/tanto.wit` and
    /// without `macros/src/lib.rs`.
    fn make_old(module: &Path) {
        vendor_as(
            module,
            "0.0.1",
            &[
                ("src/lib.rs", Some("// the old SDK\n")),
                ("wit/0.0.1/tanto.wit", Some("package tanto:core@0.0.1;\n")),
                ("macros/src/lib.rs", None),
            ],
        );
    }

    fn assert_current(module: &Path) {
        let sdk = module.join(SDK_DIR);
        for (path, contents) in RUST_SDK_FILES {
            assert_eq!(std::fs::read_to_string(sdk.join(path)).unwrap(), *contents, "{path}");
        }
        assert_eq!(Record::read(&sdk).unwrap(), Some(Record::embedded()));
    }

    #[test]
    fn the_embedded_sdk_has_a_version() {
        assert_eq!(host_sdk_version(), &package_version(embedded("Cargo.toml")).unwrap());
        assert!(names_sdk_package(embedded("Cargo.toml")));
    }

    #[test]
    fn a_fresh_sdk_is_current() {
        let module = vendored();
        let plan = plan(module.path(), Overwrite::Refuse).unwrap().unwrap();
        assert_eq!(plan.changes, SdkChanges::default());
        assert!(plan.apply().unwrap().wrote_nothing());
    }

    #[test]
    fn a_module_without_a_vendored_sdk_is_left_alone() {
        let module = tempfile::tempdir().unwrap();
        assert!(plan(module.path(), Overwrite::Force).unwrap().is_none());
        // The repository's own modules use `path = "../../guest-sdk"`.
        let hello = Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules/hello");
        assert!(plan(&hello, Overwrite::Refuse).unwrap().is_none());
        assert_eq!(drift(&ModuleLocation::Path(hello)), None);
    }

    #[test]
    fn an_older_sdk_is_updated_and_what_it_no_longer_has_removed() {
        let module = vendored();
        std::fs::write(module.path().join("tanto.toml"), "name = \"m\"\nsdk = \"rust\"\n").unwrap();
        make_old(module.path());
        let location = ModuleLocation::Search(module.path().join("sdk/src"));
        assert_eq!(
            drift(&location),
            Some(SdkDrift::Older {
                vendored: Version::new(0, 0, 1),
                host: host_sdk_version().clone()
            })
        );
        let update = plan(module.path(), Overwrite::Refuse).unwrap().unwrap().apply().unwrap();
        assert_eq!(update.from, Some(Version::new(0, 0, 1)));
        assert_eq!(
            update.changes,
            SdkChanges {
                updated: vec!["Cargo.toml".into(), "src/lib.rs".into()],
                added: vec!["macros/src/lib.rs".into()],
                removed: vec!["wit/0.0.1/tanto.wit".into()],
            }
        );
        assert_current(module.path());
        assert!(!module.path().join("sdk/wit/0.0.1").exists(), "the emptied folder stays");
        assert_eq!(drift(&location), None);
        assert!(plan(module.path(), Overwrite::Refuse).unwrap().unwrap().apply().unwrap().wrote_nothing());
    }

    #[test]
    fn edits_are_kept_in_a_current_sdk_and_block_an_update_unless_forced() {
        let module = vendored();
        let sdk = module.path().join(SDK_DIR);
        // This tanto's SDK with a patch: current, the patch stays, the record too.
        let record = std::fs::read(sdk.join(RECORD_FILE)).unwrap();
        std::fs::write(sdk.join("macros/Cargo.toml"), "// patched by hand\n").unwrap();
        let update = plan(module.path(), Overwrite::Refuse).unwrap().unwrap().apply().unwrap();
        assert!(update.wrote_nothing(), "{update:?}");
        assert_eq!(update.kept, vec!["macros/Cargo.toml (changed since tanto wrote it)".to_owned()]);
        assert_eq!(std::fs::read_to_string(sdk.join("macros/Cargo.toml")).unwrap(), "// patched by hand\n");
        assert_eq!(std::fs::read(sdk.join(RECORD_FILE)).unwrap(), record);

        // An older SDK with patches: updating would overwrite them.
        make_old(module.path());
        std::fs::write(sdk.join("macros/Cargo.toml"), "// patched by hand\n").unwrap();
        std::fs::write(sdk.join("wit/0.0.1/tanto.wit"), "// patched too\n").unwrap();
        std::fs::write(sdk.join("NOTES.md"), "mine\n").unwrap();
        let error = plan(module.path(), Overwrite::Refuse).unwrap_err();
        let usage = error.downcast_ref::<UsageError>().unwrap();
        let expected = format!(
            "(tanto-sdk 0.0.1) to {} would overwrite changes of yours: macros/Cargo.toml (changed since tanto wrote it), wit/0.0.1/tanto.wit (changed since tanto wrote it)",
            host_sdk_version()
        );
        assert!(usage.message.ends_with(&expected), "{usage:?}");
        assert!(usage.hint.as_ref().unwrap().0.contains("tanto develop --force"), "{usage:?}");
        assert_eq!(std::fs::read_to_string(sdk.join("macros/Cargo.toml")).unwrap(), "// patched by hand\n");

        let update = plan(module.path(), Overwrite::Force).unwrap().unwrap().apply().unwrap();
        assert!(update.changes.updated.contains(&"macros/Cargo.toml".to_owned()), "{update:?}");
        assert_current(module.path());
        assert_eq!(std::fs::read_to_string(sdk.join("NOTES.md")).unwrap(), "mine\n", "not tanto's: kept");
    }

    #[test]
    fn an_sdk_vendored_before_records_is_recorded_or_needs_force() {
        let module = vendored();
        let sdk = module.path().join(SDK_DIR);
        std::fs::remove_file(sdk.join(RECORD_FILE)).unwrap();
        // As tanto wrote it: only the record is added.
        let update = plan(module.path(), Overwrite::Refuse).unwrap().unwrap().apply().unwrap();
        assert_eq!((update.recorded, update.changes), (true, SdkChanges::default()));
        assert_current(module.path());

        // The same version differing, with no record: changes of the user's, kept.
        std::fs::remove_file(sdk.join(RECORD_FILE)).unwrap();
        std::fs::write(sdk.join("src/lib.rs"), "// old or edited?\n").unwrap();
        let update = plan(module.path(), Overwrite::Refuse).unwrap().unwrap().apply().unwrap();
        assert!(update.wrote_nothing(), "{update:?}");
        assert_eq!(update.kept, vec!["src/lib.rs (differs from this tanto's SDK)".to_owned()]);
        assert!(!sdk.join(RECORD_FILE).exists(), "tanto did not write these files");

        // An older version, with no record: tanto cannot tell its files from edits.
        make_old(module.path());
        std::fs::remove_file(sdk.join(RECORD_FILE)).unwrap();
        write_file(&sdk.join("target/release/junk"), b"cargo's\n").unwrap();
        let error = plan(module.path(), Overwrite::Refuse).unwrap_err().to_string();
        assert!(error.contains("(tanto-sdk 0.0.1) has no record of what tanto wrote"), "{error}");
        assert!(
            error.ends_with(
                "Cargo.toml (differs from this tanto's SDK), src/lib.rs (differs from this tanto's SDK), wit/0.0.1/tanto.wit (not in this tanto's SDK)"
            ),
            "{error}"
        );
        let update = plan(module.path(), Overwrite::Force).unwrap().unwrap().apply().unwrap();
        assert_eq!(update.changes.removed, vec!["wit/0.0.1/tanto.wit".to_owned()]);
        assert_current(module.path());
        assert!(sdk.join("target/release/junk").is_file(), "build outputs are not the SDK's");
    }

    #[test]
    fn a_newer_sdk_is_not_downgraded_without_force() {
        let module = vendored();
        std::fs::write(module.path().join("tanto.toml"), "name = \"m\"\nsdk = \"rust\"\n").unwrap();
        vendor_as(module.path(), "99.0.0", &[]);
        let drifted = drift(&ModuleLocation::Path(module.path().into())).unwrap();
        assert_eq!(
            drifted,
            SdkDrift::Newer {
                vendored: Version::new(99, 0, 0),
                host: host_sdk_version().clone()
            }
        );
        assert!(drifted.to_string().ends_with(": upgrade tanto"), "{drifted}");
        let error = plan(module.path(), Overwrite::Refuse).unwrap_err().to_string();
        assert!(error.contains("would downgrade it"), "{error}");
        plan(module.path(), Overwrite::Force).unwrap().unwrap().apply().unwrap();
        assert_current(module.path());
    }

    #[test]
    fn a_record_cannot_make_develop_delete_outside_the_sdk() {
        let module = vendored();
        let sdk = module.path().join(SDK_DIR);
        let outside = module.path().join("precious.txt");
        std::fs::write(&outside, "keep\n").unwrap();
        let mut record = Record::embedded();
        record.files.insert("../precious.txt".into(), checksum(b"keep\n"));
        std::fs::write(sdk.join(RECORD_FILE), record.to_json()).unwrap();
        let error = plan(module.path(), Overwrite::Refuse).unwrap_err().to_string();
        assert!(error.contains("a path outside sdk/"), "{error}");
        plan(module.path(), Overwrite::Force).unwrap().unwrap().apply().unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep\n");
        assert_current(module.path());
    }
}
