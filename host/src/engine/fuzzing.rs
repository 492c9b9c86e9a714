//! Properties the fuzz targets check (`fuzz/`, run by `benches/fuzz.sh`): each function
//! takes arbitrary bytes and panics when a confinement guarantee breaks. They live in the
//! crate, not in `fuzz/`, so the same bodies run under libFuzzer (`cargo fuzz`, nightly)
//! and under the stable random harness (`cargo run -p tanto --example fuzz`).

use std::fs;
use std::path::Path;

use super::archive;
use super::tree::{Entry, FileEntry, Tree, normalize_relative, validate_relative};

/// Tree path parsing and the tree's one gate: `data` is read as lines of
/// `OP PATH [TARGET]` (`f` file, `d` folder, `l` link, `n` normalize). Checks that
/// whatever enters a tree is a normal relative path, that `normalize_relative` never
/// climbs, and that writing the tree changes nothing outside the folder it is written to.
pub fn tree_path(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut tree = Tree::new();
    for line in text.lines().take(64) {
        let mut words = line.splitn(3, ' ');
        let (Some(operation), Some(path)) = (words.next(), words.next()) else {
            continue;
        };
        let target = words.next().unwrap_or("");
        if let Ok(normal) = normalize_relative(path) {
            assert!(
                normal.is_empty() || validate_relative(&normal).is_ok(),
                "normalize_relative({path:?}) gave {normal:?}"
            );
        }
        if validate_relative(path).is_ok() {
            assert!(!path.starts_with('/') && !path.contains('\0'), "{path:?}");
            assert!(path.split('/').all(|part| !matches!(part, "" | "." | "..")), "{path:?}");
        }
        tree = match operation {
            "f" => tree
                .clone()
                .with_file(path, FileEntry::from_bytes(target.as_bytes().to_vec(), 0o644))
                .unwrap_or(tree),
            "d" => tree.clone().with_tree(path, &Tree::new(), &Default::default()).unwrap_or(tree),
            "l" => tree.clone().with_symlink(path, target).unwrap_or(tree),
            "x" => tree.clone().without(path).unwrap_or(tree),
            _ => tree,
        };
    }
    for (path, _) in tree.iter() {
        assert!(validate_relative(path).is_ok(), "the tree holds {path:?}");
        if let Some((parent, _)) = path.rsplit_once('/') {
            assert!(
                tree.iter().any(|(other, entry)| other == parent && matches!(entry, Entry::Directory { .. })),
                "{path:?} has no parent folder"
            );
        }
    }
    let scene = Scene::new();
    // Failures (a name too long for the file system, say) are fine; escapes are not.
    let _ = tree.write_to(&scene.destination);
    let _ = tree.write_to(&scene.destination);
    scene.assert_confined();
}

/// Tar extraction: unpacks `data` as an archive and checks that nothing outside the
/// destination was created or changed, whatever the archive holds.
pub fn tar_unpack(data: &[u8]) {
    let scene = Scene::new();
    let _ = archive::unpack(data, &scene.destination);
    scene.assert_confined();
}

/// A destination folder inside a base folder that also holds a victim file and folder.
struct Scene {
    base: tempfile::TempDir,
    destination: std::path::PathBuf,
    victim_mode: u32,
}

const VICTIM_BYTES: &str = "victim";

impl Scene {
    fn new() -> Self {
        let base = tempfile::tempdir().expect("a temporary folder");
        // Deep enough that `../../x` from inside stays within `base` for short climbs,
        // and a victim at each level.
        let destination = base.path().join("a/b/destination");
        fs::create_dir_all(&destination).expect("destination");
        for level in ["", "a", "a/b"] {
            fs::write(base.path().join(level).join("victim"), VICTIM_BYTES).expect("victim");
        }
        let victim_mode = mode_of(&base.path().join("victim"));
        Self {
            base,
            destination,
            victim_mode,
        }
    }

    #[track_caller]
    fn assert_confined(&self) {
        let mut names = Vec::new();
        collect(self.base.path(), &self.destination, &mut names);
        names.sort();
        assert_eq!(
            names,
            vec!["a", "a/b", "a/b/destination", "a/b/victim", "a/victim", "victim"],
            "something was created outside the destination"
        );
        for level in ["", "a", "a/b"] {
            let victim = self.base.path().join(level).join("victim");
            let metadata = fs::symlink_metadata(&victim).expect("the victim exists");
            assert!(metadata.is_file(), "{} was replaced", victim.display());
            assert_eq!(
                fs::read_to_string(&victim).expect("the victim reads"),
                VICTIM_BYTES,
                "{} changed",
                victim.display()
            );
            assert_eq!(mode_of(&victim), self.victim_mode, "{} changed mode", victim.display());
        }
        // Leave the destination removable whatever modes the input set.
        make_removable(&self.destination);
    }
}

/// Names under `root`, relative, not descending into `skip`; links are not followed.
fn collect(root: &Path, skip: &Path, names: &mut Vec<String>) {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            names.push(path.strip_prefix(root).unwrap_or(&path).display().to_string());
            if path != skip && fs::symlink_metadata(&path).is_ok_and(|metadata| metadata.is_dir()) {
                pending.push(path);
            }
        }
    }
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::symlink_metadata(path).map(|metadata| metadata.permissions().mode()).unwrap_or(0)
}

fn make_removable(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o755));
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if fs::symlink_metadata(&path).is_ok_and(|metadata| metadata.is_dir()) {
                pending.push(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_properties_hold_for_known_attacks() {
        tree_path(b"l 0 /etc\nf a\\..\\0\\x pwned\nf 0/passwd pwned\nl up ../../..\nf up/victim pwned\nn ../../victim\n");
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_link_name_literal("../..").unwrap();
        header.set_path("up").unwrap();
        header.set_cksum();
        builder.append(&header, std::io::empty()).unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(5);
        header.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"up/victim");
        header.set_cksum();
        builder.append(&header, &b"pwned"[..]).unwrap();
        tar_unpack(&builder.into_inner().unwrap());
    }
}
