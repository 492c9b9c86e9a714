//! Where fetched repositories and checkouts live on disk.
//!
//! ```text
//! <root>/git/db/<key>/                  one bare repository per URL (fetch target)
//! <root>/git/db/<key>.lock              file lock held while that repository changes
//! <root>/git/checkouts/<key>/<commit>/  the full tree of one commit, read-only by convention
//! ```
//!
//! `<key>` is the URL with every character outside `[A-Za-z0-9._-]` turned into `-`
//! (shortened), then `-` and the first 16 hex digits of the URL's sha256: readable when
//! someone looks in the cache, and distinct for distinct URLs.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Paths inside a cache root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheLayout {
    root: PathBuf,
}

impl CacheLayout {
    /// A layout rooted at `root` (created lazily when something is stored).
    pub fn new(root: impl Into<PathBuf>) -> CacheLayout {
        CacheLayout { root: root.into() }
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory name used for `url` under `git/db` and `git/checkouts`.
    pub fn repository_key(url: &str) -> String {
        let readable: String = url
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_start_matches("ssh://")
            .trim_start_matches("git://")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .take(48)
            .collect();
        let readable = readable.trim_matches(['-', '.']);
        let digest = hex::encode(Sha256::digest(url.as_bytes()));
        format!("{readable}-{}", &digest[..16])
    }

    /// The bare repository caching `url`.
    pub fn database(&self, url: &str) -> PathBuf {
        self.root.join("git").join("db").join(Self::repository_key(url))
    }

    /// The lock file guarding [`CacheLayout::database`].
    pub fn database_lock(&self, url: &str) -> PathBuf {
        self.root.join("git").join("db").join(format!("{}.lock", Self::repository_key(url)))
    }

    /// The folder holding the checkouts of `url`.
    pub fn checkouts(&self, url: &str) -> PathBuf {
        self.root.join("git").join("checkouts").join(Self::repository_key(url))
    }

    /// The checkout of `commit` of `url`.
    pub fn checkout(&self, url: &str, commit: &str) -> PathBuf {
        self.checkouts(url).join(commit)
    }
}

/// The default cache root: `$TANTO_CACHE_DIR` when set and not empty, else
/// `<user cache dir>/tanto` (`~/.cache/tanto` on Linux). `None` when neither exists
/// (no home directory).
pub fn default_cache_root() -> Option<PathBuf> {
    match std::env::var_os("TANTO_CACHE_DIR") {
        Some(root) if !root.is_empty() => Some(PathBuf::from(root)),
        _ => dirs::cache_dir().map(|dir| dir.join("tanto")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_readable_and_distinct() {
        let a = CacheLayout::repository_key("https://github.com/acme/ci-modules");
        let b = CacheLayout::repository_key("https://github.com/acme/ci-modules.git");
        assert!(a.starts_with("github.com-acme-ci-modules-"), "{a}");
        assert_ne!(a, b);
        assert_eq!(a, CacheLayout::repository_key("https://github.com/acme/ci-modules"));
        let layout = CacheLayout::new("/cache");
        assert_eq!(
            layout.checkout("https://github.com/acme/ci-modules", "abc"),
            Path::new("/cache/git/checkouts").join(&a).join("abc")
        );
    }
}
