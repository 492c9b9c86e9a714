//! How `install`, `uninstall` and `update` tell the user what changed (on stderr, like
//! cargo and uv): one line per module that moved, counts, and a note when two versions
//! of one module are installed side by side.

use std::collections::HashMap;

use tanto_registry::install::{InstallReport, ModuleSummary};

use crate::module::build::Confinement;
use crate::ops::deps::Origin;
use crate::ops::install::{LockOutcome, ManifestChange};

/// The report of `tanto install` and `tanto uninstall`.
pub(super) fn install_summary(outcome: &LockOutcome) -> String {
    let mut lines = Vec::new();
    match &outcome.manifest_change {
        ManifestChange::Unchanged => {}
        ManifestChange::Added { name, reference } => lines.push(format!("Added {name} = \"{reference}\" to tanto.toml")),
        ManifestChange::Replaced { name, old, new } => lines.push(format!("Changed {name} from \"{old}\" to \"{new}\" in tanto.toml")),
        ManifestChange::Removed { name, reference } => lines.push(format!("Removed {name} (\"{reference}\") from tanto.toml")),
    }
    let report = &outcome.report;
    lines.extend(change_lines(report));
    if outcome.lockfile_changed {
        lines.push(counts(report));
    } else {
        lines.push(format!("tanto.lock is up to date ({})", modules(outcome.lockfile.modules.len())));
    }
    lines.extend(duplicate_notes(report));
    lines.extend(component_lines(outcome));
    lines.join("\n")
}

/// How each git module's component was obtained: the user sees whether third-party code
/// was built, and where.
fn component_lines(outcome: &LockOutcome) -> Vec<String> {
    outcome
        .components
        .iter()
        .map(|component| {
            let how = match &component.origin {
                Origin::Prebuilt { .. } => "prebuilt component, sha256 pinned in tanto.lock",
                Origin::Built {
                    confinement: Confinement::Sandbox,
                    cached: false,
                } => "built from source in the sandbox (no network, read-only toolchain)",
                Origin::Built {
                    confinement: Confinement::Sandbox,
                    cached: true,
                } => "built from source in the sandbox (cached)",
                Origin::Built {
                    confinement: Confinement::Host,
                    ..
                } => "built from source on this machine, NOT sandboxed (--allow-unsandboxed-builds)",
                Origin::Built {
                    confinement: Confinement::Componentize,
                    ..
                } => "built from source by componentize-py (its Python runs inside WebAssembly only)",
                Origin::Local => "built from source on this machine (a local module)",
            };
            format!("  {}: {how}", component.id)
        })
        .collect()
}

fn counts(report: &InstallReport) -> String {
    format!(
        "Updated tanto.lock: {} added, {} updated, {} removed, {} unchanged",
        report.added.len(),
        report.updated.len(),
        report.removed.len(),
        report.unchanged.len()
    )
}

/// The report of `tanto update`: `name old → new` per module that moved (with both
/// commits when a tag moved and only the commit changed).
pub(super) fn update_summary(outcome: &LockOutcome) -> String {
    let report = &outcome.report;
    let mut lines = change_lines(report);
    if lines.is_empty() {
        lines.push(format!("Everything is up to date ({})", modules(outcome.lockfile.modules.len())));
    } else {
        lines.push(counts(report));
    }
    lines.extend(duplicate_notes(report));
    lines.extend(component_lines(outcome));
    lines.join("\n")
}

fn modules(count: usize) -> String {
    match count {
        1 => "1 module".to_owned(),
        count => format!("{count} modules"),
    }
}

fn change_lines(report: &InstallReport) -> Vec<String> {
    let mut lines = Vec::new();
    for added in &report.added {
        lines.push(format!("  + {} {} ({})", added.name, added.describe_version(), added.source));
    }
    for update in &report.updated {
        lines.push(format!("  ~ {} {} ({})", update.new.name, update.describe_change(), update.new.source));
    }
    for removed in &report.removed {
        lines.push(format!("  - {} {} ({})", removed.name, removed.describe_version(), removed.source));
    }
    lines
}

/// `lib 1.2.0 and lib 2.0.0 both installed: ...` for every source locked more than once.
fn duplicate_notes(report: &InstallReport) -> Vec<String> {
    let current: HashMap<&str, &ModuleSummary> = report
        .added
        .iter()
        .chain(&report.unchanged)
        .chain(report.updated.iter().map(|update| &update.new))
        .map(|summary| (summary.id.as_str(), summary))
        .collect();
    report
        .duplicates
        .iter()
        .map(|duplicate| {
            let versions: Vec<String> = duplicate
                .ids
                .iter()
                .map(|id| match current.get(id.as_str()) {
                    Some(summary) => format!("{} {}", summary.name, summary.describe_version()),
                    None => id.clone(),
                })
                .collect();
            let (listed, quantifier) = match versions.split_last() {
                Some((last, rest)) if rest.len() == 1 => (format!("{} and {last}", rest[0]), "both"),
                Some((last, rest)) => (format!("{} and {last}", rest.join(", ")), "all"),
                None => (String::new(), "all"),
            };
            format!("note: {listed} {quantifier} installed: each module runs in its own sandbox")
        })
        .collect()
}
