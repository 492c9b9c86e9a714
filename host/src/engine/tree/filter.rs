//! Include/exclude glob patterns, as `with-directory` and host directories take them.

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::TreeError;
use super::path::parent_of;

/// Include/exclude glob patterns over paths relative to a directory's root.
///
/// Patterns are globs anchored at the root, not `.gitignore` patterns: `*.txt` matches
/// `a.txt` but not `sub/c.txt` (`**/*.txt` matches both), because `*` does not cross `/`.
/// Kept so on purpose: modules built against the released `tanto:core@0.1.0` rely on
/// these semantics, and the patterns are part of step digests, so a change of meaning
/// would also make old cache records answer for new results. A pattern that matches a
/// directory matches everything below it. With no include pattern everything is
/// included.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl Filter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, TreeError> {
        Ok(Self {
            include: build_globs(include)?,
            exclude: build_globs(exclude)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    fn matches_self_or_ancestor(set: &GlobSet, path: &str) -> bool {
        let mut current = Some(path);
        while let Some(candidate) = current {
            if set.is_match(candidate) {
                return true;
            }
            current = parent_of(candidate);
        }
        false
    }

    /// Whether the file or directory at `path` is kept. Directories that are only
    /// parents of kept paths are added back by [`Tree::filtered`](super::Tree::filtered).
    pub fn keeps(&self, path: &str) -> bool {
        if let Some(exclude) = &self.exclude
            && Self::matches_self_or_ancestor(exclude, path)
        {
            return false;
        }
        match &self.include {
            None => true,
            Some(include) => Self::matches_self_or_ancestor(include, path),
        }
    }

    /// Whether a walk must descend into directory `path` (something below may be kept).
    pub fn may_keep_below(&self, path: &str) -> bool {
        if let Some(exclude) = &self.exclude
            && Self::matches_self_or_ancestor(exclude, path)
        {
            return false;
        }
        true
    }
}

/// One pattern over tree paths, read as [`Filter`] reads its patterns.
fn glob(pattern: &str) -> Result<Glob, TreeError> {
    let trimmed = pattern.trim_start_matches("./").trim_matches('/');
    globset::GlobBuilder::new(trimmed)
        .literal_separator(true)
        .build()
        .or_else(|_| Glob::new(trimmed))
        .map_err(|error| TreeError::InvalidPattern {
            pattern: pattern.to_string(),
            reason: error.kind().to_string(),
        })
}

/// A matcher for `pattern` over tree paths (`Directory.glob`).
pub(super) fn glob_matcher(pattern: &str) -> Result<globset::GlobMatcher, TreeError> {
    Ok(glob(pattern)?.compile_matcher())
}

fn build_globs(patterns: &[String]) -> Result<Option<GlobSet>, TreeError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(glob(pattern)?);
    }
    builder.build().map(Some).map_err(|error| TreeError::InvalidPattern {
        pattern: patterns.join(", "),
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::engine::tree::tree_of;

    #[test]
    fn patterns_are_anchored_at_the_root() {
        let tree = tree_of(&[("a.txt", "a"), ("sub/c.txt", "c"), ("sub/d.md", "d")]);
        let kept = |include: &str| {
            let filtered = tree.filtered(&Filter::new(&[include.into()], &[]).unwrap());
            filtered.iter().map(|(path, _)| path.clone()).collect::<Vec<_>>()
        };
        assert_eq!(kept("*.txt"), ["a.txt"], "`*` stays at the root");
        assert_eq!(kept("**/*.txt"), ["a.txt", "sub", "sub/c.txt"]);
        assert_eq!(kept("/sub/*.md"), ["sub", "sub/d.md"], "a leading `/` changes nothing");
    }

    #[test]
    fn filters_include_and_exclude() {
        let tree = tree_of(&[("src/main.rs", "m"), ("src/lib.rs", "l"), ("README.md", "r"), ("target/out", "o")]);
        let filter = Filter::new(&["src/**".into(), "*.md".into()], &["src/lib.rs".into()]).unwrap();
        let filtered = tree.filtered(&filter);
        let paths: Vec<&String> = filtered.iter().map(|(path, _)| path).collect();
        assert_eq!(paths, vec!["README.md", "src", "src/main.rs"]);
        let only_dir = tree.filtered(&Filter::new(&["src".into()], &[]).unwrap());
        assert_eq!(only_dir.entries("src").unwrap(), vec!["lib.rs", "main.rs"]);
    }
}
