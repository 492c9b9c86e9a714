//! Checksums of a directory's files, computed in a busybox container. The same module is
//! written in Python (`../python`), JavaScript (`../javascript`) and C (`../c`); the four
//! return the same bytes.

use tanto_sdk::{Directory, Result, dag};

/// Every file's checksum, one `CHECKSUM  ./PATH` line per file, sorted by path. `$0` is
/// the checksum program, passed as an argument rather than spliced into the script; a
// name with spaces is one argument (one line of `find` is one path).
const SCRIPT: &str = "find . -type f | sort | while IFS= read -r file; do \"$0\" \"$file\" || exit; done";

#[derive(Default)]
struct Checksums;

/// Checksums of a directory's files.
#[tanto_sdk::module]
impl Checksums {
    /// The checksum of every file of `source`, as busybox's `<algorithm>sum` prints it,
    /// sorted by path.
    pub fn checksums(
        &self,
        #[arg(description = "the directory whose files are summed")] source: Directory,
        #[arg(description = "md5, sha1, sha256 or sha512", default = "sha256")] algorithm: String,
    ) -> Result<String> {
        dag()
            .container()
            .from("busybox:latest")
            .with_directory("/src", &source)
            .with_workdir("/src")
            .with_exec(["sh", "-c", SCRIPT, &format!("{algorithm}sum")])
            .stdout()
    }
}
