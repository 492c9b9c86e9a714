"""The exceptions the API raises, one per WIT `error` case."""

from __future__ import annotations

from typing import Sequence


class TantoError(Exception):
    """An error a module can handle: a failed command, a missing path, a rejected
    argument, a backend failure or a cancellation. Raise it (or `FailedError`) from a
    module function to fail with that error; any other exception fails the call as
    `failed` with its type and message."""

    #: The WIT `error` case this class stands for.
    case = "failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ExecError(TantoError):
    """A command ended with an exit code its `expect` did not allow."""

    case = "exec-failed"

    def __init__(self, command: Sequence[str], exit_code: int, stdout_tail: str, stderr_tail: str) -> None:
        #: The command as run (entrypoint included when it was used).
        self.command = list(command)
        #: The exit code the command ended with.
        self.exit_code = exit_code
        #: The last lines of the command's standard output.
        self.stdout_tail = stdout_tail
        #: The last lines of the command's standard error.
        self.stderr_tail = stderr_tail
        message = f"command {self.command!r} failed with exit code {exit_code}"
        if stderr_tail.strip():
            message += f":\n{stderr_tail.rstrip()}"
        super().__init__(message)


class NotFoundError(TantoError):
    """A path, image or function does not exist."""

    case = "not-found"


class InvalidArgumentError(TantoError):
    """An argument was rejected (bad path, bad address, bad value)."""

    case = "invalid-argument"


class BackendError(TantoError):
    """The container backend failed (Docker unreachable, commit failed, ...)."""

    case = "backend"


class CancelledError(TantoError):
    """The operation was cancelled (Ctrl-C, a deadline)."""

    case = "cancelled"


class FailedError(TantoError):
    """A module's own failure."""

    case = "failed"
