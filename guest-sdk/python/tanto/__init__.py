"""Write tanto pipeline modules in Python.

A module is a class decorated with `@tanto.module`; each of its methods decorated with
`@tanto.function` is a function callers run with `tanto call`. Type hints give the
schema (`str`, `bool`, `int`, `float`, `Container`, `Directory`, `File`, `Secret`,
`list[...]`, `Optional[...]`), the docstring the descriptions (an `Args:` section
describes the arguments), and parameter defaults the defaults::

    import tanto
    from tanto import dag

    @tanto.module
    class Hello:
        \"\"\"Greets from containers.\"\"\"

        @tanto.function
        def hello(self, name: str = "world") -> str:
            \"\"\"Says hello from a busybox container.

            Args:
                name: who to greet
            \"\"\"
            return dag().container().from_("busybox:latest").with_exec(["echo", f"hello, {name}"]).stdout()

Builder methods never fail or block; terminal methods (`stdout`, `sync`, `contents`, ...)
evaluate and raise a `TantoError` (`ExecError` carries the exit code and output tails).

This SDK targets `tanto:core@0.2.0`; `tanto call` builds the module with the pinned
componentize-py that `scripts/setup` installs.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, TypeVar, Union, overload

from ._api import CacheVolume, Client, Container, Directory, Expect, File, GitRef, GitRepository, NetworkProtocol, Secret, Service, Sharing, dag
from ._errors import BackendError, CancelledError, ExecError, FailedError, InvalidArgumentError, NotFoundError, TantoError
from ._schema import SchemaError

__all__ = [
    "BackendError",
    "CacheVolume",
    "CancelledError",
    "Client",
    "Container",
    "Directory",
    "ExecError",
    "Expect",
    "FailedError",
    "File",
    "GitRef",
    "GitRepository",
    "InvalidArgumentError",
    "NetworkProtocol",
    "NotFoundError",
    "SchemaError",
    "Secret",
    "Service",
    "Sharing",
    "TantoError",
    "dag",
    "function",
    "module",
]

__version__ = "0.2.0"

T = TypeVar("T", bound=type)
F = TypeVar("F", bound=Callable[..., Any])


@overload
def module(cls: T) -> T: ...
@overload
def module(*, name: Optional[str] = None) -> Callable[[T], T]: ...
def module(cls: Optional[T] = None, *, name: Optional[str] = None) -> Union[T, Callable[[T], T]]:
    """Makes a class the module: its `@tanto.function` methods are what it exports. The
    module is named after the class in kebab-case unless `name` is given; the class is
    made with no arguments."""

    def register(target: T) -> T:
        from . import _guest

        if name is not None:
            target._tanto_module_name = name  # type: ignore[attr-defined]
        _guest.register(target)
        return target

    return register(cls) if cls is not None else register


@overload
def function(method: F) -> F: ...
@overload
def function(*, name: Optional[str] = None) -> Callable[[F], F]: ...
def function(method: Optional[F] = None, *, name: Optional[str] = None) -> Union[F, Callable[[F], F]]:
    """Exports a method of the `@tanto.module` class, named in kebab-case (`build_image`
    → `build-image`) unless `name` is given."""

    def mark(target: F) -> F:
        from ._schema import kebab_case

        target._tanto_function = name or kebab_case(target.__name__)  # type: ignore[attr-defined]
        return target

    return mark(method) if method is not None else mark
