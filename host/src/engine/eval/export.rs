//! Writing results to the host: a directory into a folder, a file to a path.

use std::path::Path;

use super::{blocking, local_error};
use crate::engine::objects::{Directory, File};
use crate::engine::{Engine, EngineError};

impl Engine {
    /// Writes the directory's content into `destination` on the host.
    pub async fn export_directory(&self, directory: &Directory, destination: &Path) -> Result<(), EngineError> {
        let tree = self.eval_tree(directory).await?;
        let destination = destination.to_path_buf();
        blocking(move || {
            std::fs::create_dir_all(&destination).map_err(local_error("cannot create the destination folder"))?;
            // Replaces what stands in the way itself, through a handle on the destination.
            Ok(tree.write_to(&destination)?)
        })
        .await
    }

    /// Writes the file to `destination` on the host.
    pub async fn export_file(&self, file: &File, destination: &Path) -> Result<(), EngineError> {
        let entry = self.eval_file(file).await?;
        let destination = destination.to_path_buf();
        blocking(move || {
            if let Some(parent) = destination.parent().filter(|parent| !parent.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(local_error("cannot create the destination folder"))?;
            }
            let bytes = entry.blob.read().map_err(local_error("cannot read the file"))?;
            std::fs::write(&destination, bytes).map_err(local_error("cannot write the file"))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&destination, std::fs::Permissions::from_mode(entry.mode)).map_err(local_error("cannot set the file's mode"))
        })
        .await
    }
}
