//! Paths inside a tree: the one gate every entry passes ([`validate_relative`]), and
//! normalizing and joining the paths modules and containers name.

use super::TreeError;

/// The longest name of one path component, as on Linux (`NAME_MAX`).
pub const MAX_NAME_LEN: usize = 255;
/// The longest path in a tree, as on Linux (`PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;

/// Checks that `path` is a normal relative path, the only kind a tree holds: not empty,
/// `/`-separated components that are neither empty, `.` nor `..`, no NUL byte, and within
/// Linux's length limits. A `\` is an ordinary byte of a name (as it is on Linux), never
/// a separator. Every entry enters a tree through [`Tree::insert_with_parents`](super::Tree::insert_with_parents), which
/// calls this, so no tree can hold a path that climbs out of the folder it is written to.
pub fn validate_relative(path: &str) -> Result<(), TreeError> {
    let invalid = |reason| {
        Err(TreeError::InvalidPath {
            path: path.to_string(),
            reason,
        })
    };
    if path.is_empty() {
        return invalid("it is empty");
    }
    if path.len() > MAX_PATH_LEN {
        return invalid("it is longer than 4096 bytes");
    }
    if path.contains('\0') {
        return invalid("it contains a NUL byte");
    }
    if path.starts_with('/') {
        return invalid("it is absolute");
    }
    for component in path.split('/') {
        match component {
            "" => return invalid("it has an empty component"),
            "." | ".." => return invalid("it has a `.` or `..` component"),
            name if name.len() > MAX_NAME_LEN => return invalid("a component is longer than 255 bytes"),
            _ => {}
        }
    }
    Ok(())
}

/// Normalizes a path inside a tree: drops leading `/`, `.` and empty components and
/// resolves `..`, refusing to climb above the root, NUL bytes and names longer than
/// Linux allows. The root is `""`.
pub fn normalize_relative(path: &str) -> Result<String, TreeError> {
    if path.contains('\0') {
        return Err(TreeError::InvalidPath {
            path: path.to_string(),
            reason: "it contains a NUL byte",
        });
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(TreeError::InvalidPath {
                        path: path.to_string(),
                        reason: "it climbs above the root with `..`",
                    });
                }
            }
            part => parts.push(part),
        }
    }
    let normal = parts.join("/");
    if !normal.is_empty() {
        // What is left is a normal relative path; this also holds it to the length limits.
        validate_relative(&normal)?;
    }
    Ok(normal)
}

/// Joins two relative paths, either of which may be the root `""`.
pub fn join(base: &str, path: &str) -> String {
    match (base.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (_, true) => base.to_string(),
        _ => format!("{base}/{path}"),
    }
}

pub(super) fn parent_of(path: &str) -> Option<&str> {
    path.rfind('/').map(|index| &path[..index])
}

#[cfg(test)]
mod tests {
    use super::super::{Entry, Tree};
    use super::*;
    use crate::engine::tree::tree_of;

    #[test]
    fn normalizes_paths_and_refuses_escapes() {
        assert_eq!(normalize_relative("/a/./b//c/").unwrap(), "a/b/c");
        assert_eq!(normalize_relative("a/../b").unwrap(), "b");
        assert_eq!(normalize_relative("/").unwrap(), "");
        assert!(normalize_relative("../etc").is_err());
    }

    #[test]
    fn only_normal_relative_paths_enter_a_tree() {
        for bad in ["", "/abs", "a/../b", "..", "a//b", "a/./b", "a/", "nul\0byte", &"x".repeat(256)] {
            assert!(validate_relative(bad).is_err(), "{bad:?}");
            let mut tree = Tree::new();
            assert!(tree.insert_with_parents(bad, Entry::Directory { mode: 0o755 }).is_err(), "{bad:?}");
        }
        for good in ["a", "a/b", "a\\..\\b", ".hidden", "..."] {
            validate_relative(good).unwrap();
        }
        assert!(normalize_relative("a\0b").is_err());
        // A backslash is a byte of a name, not a separator.
        let tree = tree_of(&[("a\\..\\..\\x", "1")]);
        assert_eq!(tree.entries("").unwrap(), vec!["a\\..\\..\\x"]);
    }
}
