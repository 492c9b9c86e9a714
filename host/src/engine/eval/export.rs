//! Writing results to the host: a directory into a folder, a file to a path, a
//! container as an image archive. What the
//! destination refuses is told apart from a failure to evaluate the result, because the
//! former is the user's to fix.

use std::io;
use std::path::{Path, PathBuf};

use crate::engine::objects::{Container, Directory, File};
use crate::engine::tree::{Blob, TreeError};
use crate::engine::{Engine, EngineError};

/// Why a result could not be written to the host.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Evaluating the result failed, or reading its bytes from the cache.
    #[error(transparent)]
    Evaluate(#[from] EngineError),
    /// The destination refused: `path` (the destination, or a path inside it) cannot be
    /// written for `error`.
    #[error("cannot write {}: {error}", path.display())]
    Destination { path: PathBuf, error: io::Error },
}

/// `error` as the destination's refusal to take `path`.
fn refused(path: &Path) -> impl FnOnce(io::Error) -> ExportError {
    let path = path.to_path_buf();
    move |error| ExportError::Destination { path, error }
}

/// Runs `work` on a blocking thread.
async fn blocking(work: impl FnOnce() -> Result<(), ExportError> + Send + 'static) -> Result<(), ExportError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| EngineError::Local(format!("a background task failed: {error}")))?
}

impl Engine {
    /// Writes the directory's content into `destination` on the host.
    pub async fn export_directory(&self, directory: &Directory, destination: &Path) -> Result<(), ExportError> {
        let tree = self.eval_tree(directory).await?;
        let destination = destination.to_path_buf();
        blocking(move || {
            std::fs::create_dir_all(&destination).map_err(refused(&destination))?;
            // Replaces what stands in the way itself, through a handle on the destination.
            tree.write_to(&destination).map_err(|error| match error {
                TreeError::Write { path, error } => ExportError::Destination { path, error },
                other => ExportError::Evaluate(other.into()),
            })
        })
        .await
    }

    /// Writes the container's image archive (`docker save` format) to `destination`.
    pub async fn export_container(&self, container: &Container, destination: &Path) -> Result<(), ExportError> {
        self.export_file(&container.export(), destination).await
    }

    /// Writes the file to `destination` on the host.
    pub async fn export_file(&self, file: &File, destination: &Path) -> Result<(), ExportError> {
        let entry = self.eval_file(file).await?;
        let destination = destination.to_path_buf();
        blocking(move || {
            if let Some(parent) = destination.parent().filter(|parent| !parent.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(refused(parent))?;
            }
            // Streamed: a file may be an image archive of gigabytes.
            match &entry.blob {
                Blob::Host(source) => {
                    let mut source = std::fs::File::open(source).map_err(|error| EngineError::Local(format!("cannot read the file: {error}")))?;
                    let mut output = std::fs::File::create(&destination).map_err(refused(&destination))?;
                    io::copy(&mut source, &mut output).map_err(refused(&destination))?;
                }
                Blob::Bytes(bytes) => std::fs::write(&destination, bytes).map_err(refused(&destination))?,
            }
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&destination, std::fs::Permissions::from_mode(entry.mode)).map_err(refused(&destination))
        })
        .await
    }
}
