//! A tree as a tar archive that a container extracts at `/`.

use std::fs;
use std::io::{self, Read};

use super::path::join;
use super::{Blob, Entry, Tree, TreeError, io_error, normalize_relative};

impl Tree {
    /// A tar archive that, extracted at `/`, puts this tree's content at `destination`
    /// (absolute). The destination and its parents get no entries of their own, so
    /// existing directories keep their owner and mode (a `/tmp` stays `1777`); missing
    /// ones are created by the extractor.
    pub fn to_tar(&self, destination: &str) -> Result<Vec<u8>, TreeError> {
        self.to_tar_owned(destination, Owner::ROOT)
    }

    /// [`Tree::to_tar`] with every entry owned by `owner`.
    pub fn to_tar_owned(&self, destination: &str, owner: Owner) -> Result<Vec<u8>, TreeError> {
        self.write_tar_owned(destination, Vec::new(), owner)
    }

    /// [`Tree::to_tar`] written to `writer` as it is built (a file, for archives too big
    /// to hold in memory); returns the writer.
    pub fn write_tar<W: io::Write>(&self, destination: &str, writer: W) -> Result<W, TreeError> {
        self.write_tar_owned(destination, writer, Owner::ROOT)
    }

    /// [`Tree::write_tar`] with every entry owned by `owner`.
    pub fn write_tar_owned<W: io::Write>(&self, destination: &str, writer: W, owner: Owner) -> Result<W, TreeError> {
        let prefix = normalize_relative(destination)?;
        let mut builder = tar::Builder::new(writer);
        builder.mode(tar::HeaderMode::Deterministic);
        for (path, entry) in &self.entries {
            let name = join(&prefix, path);
            append_entry(&mut builder, &name, entry, owner)?;
        }
        builder.into_inner().map_err(io_error("cannot build archive"))
    }
}

/// Numeric owner of the entries of an archive a container extracts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    pub const ROOT: Owner = Owner { uid: 0, gid: 0 };
}

fn append_entry<W: io::Write>(builder: &mut tar::Builder<W>, name: &str, entry: &Entry, owner: Owner) -> Result<(), TreeError> {
    let mut header = tar::Header::new_gnu();
    header.set_mtime(0);
    header.set_uid(u64::from(owner.uid));
    header.set_gid(u64::from(owner.gid));
    let context = || format!("cannot add {name} to an archive");
    match entry {
        Entry::Directory { mode } => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(*mode);
            header.set_size(0);
            builder.append_data(&mut header, format!("{name}/"), io::empty()).map_err(io_error(context()))
        }
        Entry::File(file) => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(file.mode);
            header.set_size(file.size);
            match &file.blob {
                Blob::Host(path) => {
                    let source = fs::File::open(path).map_err(io_error(format!("cannot read {}", path.display())))?;
                    // The file may have changed since it was hashed; never let the archive
                    // and the header disagree about its length.
                    builder.append_data(&mut header, name, source.take(file.size)).map_err(io_error(context()))
                }
                Blob::Bytes(bytes) => builder.append_data(&mut header, name, &bytes[..]).map_err(io_error(context())),
            }
        }
        Entry::Symlink { target } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            builder.append_link(&mut header, name, target).map_err(io_error(context()))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::tree::tree_of;

    #[test]
    fn tar_has_no_entries_for_the_destination_or_its_parents() {
        let tree = tree_of(&[("x/y.txt", "hello")]);
        let bytes = tree.to_tar("/tmp/dest").unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|entry| entry.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["tmp/dest/x/", "tmp/dest/x/y.txt"]);
    }
}
