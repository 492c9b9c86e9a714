"""The pipelines of the Rust guest tests/guests/api, in Python: each function returns
what the Rust one returns, byte for byte."""

from typing import Optional

import tanto
from tanto import Container, Directory, ExecError, Expect, dag

IMAGE = "busybox:latest"


def busybox() -> Container:
    return dag().container().from_(IMAGE)


@tanto.module(name="api")
class Api:
    """Every corner of the API."""

    @tanto.function
    def env_vars(self, name: str, value: str) -> str:
        """The environment of a command after setting `name` and removing `HOME`."""
        return (
            busybox()
            .with_env_variable(name, value)
            .with_env_variable("HOME", "/set-then-removed")
            .without_env_variable("HOME")
            .with_exec(["env"])
            .stdout()
        )

    @tanto.function
    def workdir(self, path: str) -> str:
        """The working directory a command sees."""
        return busybox().with_exec(["mkdir", "-p", path]).with_workdir(path).with_exec(["pwd"]).stdout()

    @tanto.function
    def entrypoint(self) -> str:
        """A command run through an entrypoint."""
        return busybox().with_entrypoint(["echo", "from-entrypoint"]).with_exec(["argument"], use_entrypoint=True).stdout()

    @tanto.function
    def new_file(self, contents: str) -> str:
        """A new file's mode, size and contents."""
        return (
            busybox()
            .with_new_file("/data/hello.txt", contents, permissions=0o600)
            .with_exec(["sh", "-c", "stat -c '%a %s' /data/hello.txt && cat /data/hello.txt"])
            .stdout()
        )

    @tanto.function
    def copy_filtered(self, source: Directory, include: list[str], exclude: list[str]) -> str:
        """The files of `source` copied with include/exclude filters, as `find` lists them."""
        return (
            busybox()
            .with_directory("/src", source, include=include, exclude=exclude)
            .with_exec(["sh", "-c", "cd /src && find . -type f | sort"])
            .stdout()
        )

    @tanto.function
    def read_file(self, text: str) -> str:
        """A file written by a command, read back with `file(path).contents()`."""
        container = busybox().with_exec(["sh", "-c", "mkdir -p /out && printf '%s' \"$0\" > /out/result.txt", text])
        file = container.file("/out/result.txt")
        return f"{file.name()} {file.size()} {file.contents()}"

    @tanto.function
    def read_dir(self) -> list[str]:
        """The entries of a directory made by a command."""
        return busybox().with_exec(["sh", "-c", "mkdir -p /out/sub && touch /out/a.txt /out/b.txt /out/sub/c.txt"]).directory("/out").entries(".")

    @tanto.function
    def build_dir(self, source: Directory) -> Directory:
        """A directory built with every directory operation, for `-o` to export."""
        copied = busybox().with_exec(["sh", "-c", "echo from-container > /made.txt"]).file("/made.txt")
        return (
            dag()
            .directory()
            .with_new_file("notes/new.txt", "new file\n")
            .with_new_file("bin/run.sh", "#!/bin/sh\necho run\n", permissions=0o755)
            .with_file("copied.txt", copied)
            .with_directory("tree", source)
            .without_file("tree/drop.txt")
        )

    @tanto.function
    def fail(self, expect: str) -> int:
        """The exit code of a command that prints to both streams and exits 3."""
        expectation = {"success": Expect.SUCCESS, "failure": Expect.FAILURE, "any": Expect.ANY}[expect]
        return busybox().with_exec(["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"], expect=expectation).exit_code()

    @tanto.function
    def streams(self) -> str:
        """The stdout and stderr of a failing command, with expect = any."""
        container = busybox().with_exec(["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"], expect=Expect.ANY)
        return f"out={container.stdout().strip()} err={container.stderr().strip()}"

    @tanto.function
    def catch(self) -> str:
        """A failing command's error, caught and described by the module."""
        try:
            busybox().with_exec(["sh", "-c", "echo broken >&2; exit 7"]).sync()
        except ExecError as error:
            return f"caught {error.exit_code} from {' '.join(error.command)} with {error.stderr_tail.strip()}"
        raise tanto.FailedError("the command should have failed")

    @tanto.function
    def stdin(self, text: str) -> str:
        """`text` fed to `cat` on standard input."""
        return busybox().with_exec(["cat"], stdin=text).stdout()

    @tanto.function
    def missing_program(self) -> str:
        """A program that does not exist."""
        return busybox().with_exec(["no-such-program"]).stdout()

    @tanto.function
    def greet(self, name: Optional[str] = None, times: int = 1) -> str:
        """Optional and default arguments (no Rust twin).

        Args:
            name: who to greet (everyone when absent)
            times: how often
        """
        return " ".join([f"hello {name or 'everyone'}"] * times)
