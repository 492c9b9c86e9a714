"""Checksums of a directory's files, computed in a busybox container: the module of
../rust, in Python. tanto builds it with componentize-py when a source changed."""

import tanto
from tanto import Directory, dag

# Every file's checksum, one `CHECKSUM  ./PATH` line per file, sorted by path. `$0` is
# the checksum program, passed as an argument rather than spliced into the script; a
# name with spaces is one argument (one line of `find` is one path).
SCRIPT = 'find . -type f | sort | while IFS= read -r file; do "$0" "$file" || exit; done'


@tanto.module(name="checksums")
class Checksums:
    """Checksums of a directory's files."""

    @tanto.function
    def checksums(self, source: Directory, algorithm: str = "sha256") -> str:
        """The checksum of every file of `source`, as busybox's `<algorithm>sum` prints it,
        sorted by path.

        Args:
            source: the directory whose files are summed
            algorithm: md5, sha1, sha256 or sha512
        """
        return (
            dag()
            .container()
            .from_("busybox:latest")
            .with_directory("/src", source)
            .with_workdir("/src")
            .with_exec(["sh", "-c", SCRIPT, f"{algorithm}sum"])
            .stdout()
        )
