//! What an installation changed in the lock, for the CLI to print.

use std::collections::BTreeMap;
use std::fmt;

use semver::Version;

use crate::schema::lock::{LockedModule, Lockfile};

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

impl ModuleSummary {
    pub(super) fn of(entry: &LockedModule) -> ModuleSummary {
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
pub(super) fn compare(old: &Lockfile, new: &Lockfile) -> InstallReport {
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
