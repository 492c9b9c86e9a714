//! Reading the `[dependencies]` table from a `tanto.toml` file.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::schema::manifest::{Dependencies, parse_dependencies};

/// The manifest's file name in a module folder.
pub const MANIFEST_NAME: &str = "tanto.toml";

/// A manifest that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("could not read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is not valid, at this line and column.
    #[error("invalid `{}` at line {line}, column {column}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|last| last.chars().count() + 1).unwrap_or(1);
    (line, column)
}

/// Reads the `[dependencies]` of the `tanto.toml` at `path`. A parse error names the
/// file, the line and the column of the offending value.
pub fn read_dependencies(path: &Path) -> Result<Dependencies, ManifestError> {
    let text = fs::read_to_string(path).map_err(|source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_dependencies(&text).map_err(|error| {
        let (line, column) = error.span().map(|span| line_column(&text, span.start)).unwrap_or((1, 1));
        ManifestError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: error.message().trim().to_owned(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(MANIFEST_NAME);
        fs::write(
            &path,
            "name = \"app\"\n\n[dependencies]\ngood = \"github.com/o/r@^1\"\nbad = \"github.com/o@^1\"\n",
        )
        .expect("write");
        let error = read_dependencies(&path).expect_err("invalid");
        match &error {
            ManifestError::Parse { line, column, .. } => assert_eq!((*line, *column), (5, 7)),
            other => panic!("unexpected {other:?}"),
        }
        let rendered = error.to_string().replace(&dir.path().display().to_string(), "[DIR]");
        insta::assert_snapshot!(rendered);
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("a\nbc\nd", 0), (1, 1));
        assert_eq!(line_column("a\nbc\nd", 3), (2, 2));
        assert_eq!(line_column("a\nbc\nd", 5), (3, 1));
    }
}
