"""The pipeline API: `dag()` and the `Container`, `Directory`, `File`, `Secret`,
`CacheVolume`, `GitRepository` and `GitRef` objects, thin wrappers over the host's
resources that take keyword arguments and raise `TantoError`s.

Builder methods (`with_*`, `from_`, `file`, `directory`) never fail and never block: they
return a new immutable object. Only the terminal methods (`stdout`, `stderr`,
`exit_code`, `sync`, `contents`, `contents_bytes`, `size`, `entries`, `glob`, `digest`,
`publish`, `commit`) run what is needed to answer; they raise a `TantoError` when it fails.
"""

from __future__ import annotations

import enum
from typing import Any, Iterable, Mapping, Optional, Sequence

from . import _errors

# The bindings componentize-py generates exist only inside the component, and must be
# imported when the module is (at build time): a component has no files to import from
# when it runs. Plain CPython (the SDK's unit tests) has none of them.
try:
    from componentize_py_types import Err as _Err
    from wit_world.imports import client as _wit_client
    from wit_world.imports import types as _wit_types
except ImportError:
    _Err = _wit_client = _wit_types = None


def _types() -> Any:
    return _wit_types


def _client() -> Any:
    return _wit_client


def error_from_wit(error: Any) -> _errors.TantoError:
    """The exception for a WIT `error` value."""
    types = _types()
    if isinstance(error, types.Error_ExecFailed):
        failure = error.value
        return _errors.ExecError(failure.command, failure.exit_code, failure.stdout_tail, failure.stderr_tail)
    for case, exception in (
        (types.Error_NotFound, _errors.NotFoundError),
        (types.Error_InvalidArgument, _errors.InvalidArgumentError),
        (types.Error_Backend, _errors.BackendError),
        (types.Error_Cancelled, _errors.CancelledError),
    ):
        if isinstance(error, case):
            return exception(error.value)
    return _errors.FailedError(getattr(error, "value", repr(error)))


def _evaluate(call: Any, *arguments: Any) -> Any:
    """Runs a terminal WIT method, turning its `result` error into a `TantoError`."""
    try:
        return call(*arguments)
    except _Err as error:
        raise error_from_wit(error.value) from None


def _strings(values: Iterable[str], what: str) -> list[str]:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a list of strings, not a single string")
    return [str(value) for value in values]


class Expect(enum.Enum):
    """Which exit codes of a command count as success."""

    SUCCESS = "success"
    FAILURE = "failure"
    ANY = "any"

    def _wit(self) -> Any:
        return getattr(_types().Expect, self.name)


class Sharing(enum.Enum):
    """How concurrent users of one cache volume share it."""

    SHARED = "shared"
    PRIVATE = "private"
    LOCKED = "locked"

    def _wit(self) -> Any:
        return getattr(_types().Sharing, self.name)


class _Object:
    """A host object: a handle on a WIT resource."""

    __slots__ = ("_handle",)
    _tanto_kind = ""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def __repr__(self) -> str:
        return f"<tanto.{type(self).__name__}>"


class Secret(_Object):
    """A secret: a token, a password, a key. The host keeps its value in memory only and
    scrubs it from everything it shows; no method reads it back."""

    _tanto_kind = "secret"

    def name(self) -> str:
        """The name the secret was made with."""
        return self._handle.name()


class CacheVolume(_Object):
    """A persistent volume kept between runs, identified by its key."""

    def key(self) -> str:
        """The key the volume was made with."""
        return self._handle.key()


class File(_Object):
    """A file: a path in a directory, in a container, or new contents."""

    _tanto_kind = "file"

    def contents(self) -> str:
        """The file's contents as UTF-8 text (`InvalidArgumentError` when they are not)."""
        return _evaluate(self._handle.contents)

    def contents_bytes(self) -> bytes:
        """The file's contents, any bytes."""
        return bytes(_evaluate(self._handle.contents_bytes))

    def size(self) -> int:
        """The file's size in bytes."""
        return _evaluate(self._handle.size)

    def name(self) -> str:
        """The file's name (the last component of its path)."""
        return self._handle.name()

    def digest(self) -> str:
        """`sha256:<hex>` of the file's contents."""
        return _evaluate(self._handle.digest)


class Directory(_Object):
    """A directory tree, immutable: every `with_*` returns a new directory."""

    _tanto_kind = "directory"

    def entries(self, path: str = ".") -> list[str]:
        """The names of the entries at `path`, sorted; subdirectories end with `/`."""
        return list(_evaluate(self._handle.entries, path))

    def file(self, path: str) -> File:
        """The file at `path`."""
        return File(self._handle.file(path))

    def directory(self, path: str) -> "Directory":
        """The subdirectory at `path`."""
        return Directory(self._handle.subdirectory(path))

    def with_new_file(self, path: str, contents: str | bytes, *, permissions: Optional[int] = None) -> "Directory":
        """This directory with a new file at `path` holding `contents` (text or bytes)."""
        if isinstance(contents, (bytes, bytearray)):
            return Directory(self._handle.with_new_file_bytes(path, bytes(contents), permissions))
        return Directory(self._handle.with_new_file(path, contents, permissions))

    def with_file(self, path: str, source: File, *, permissions: Optional[int] = None) -> "Directory":
        """This directory with `source` copied to `path`."""
        return Directory(self._handle.with_file(path, source._handle, permissions))

    def with_directory(self, path: str, source: "Directory", *, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> "Directory":
        """This directory with the contents of `source` copied into `path`, filtered by
        the glob patterns `include` and `exclude`."""
        return Directory(self._handle.with_directory(path, source._handle, _strings(include, "include"), _strings(exclude, "exclude")))

    def without_file(self, path: str) -> "Directory":
        """This directory without the file or directory at `path`."""
        return Directory(self._handle.without_file(path))

    def glob(self, pattern: str) -> list[str]:
        """The paths that match `pattern`, sorted (`*` does not cross `/`; `**` does)."""
        return list(_evaluate(self._handle.glob, pattern))

    def with_symlink(self, target: str, link_name: str) -> "Directory":
        """This directory with a symbolic link at `link_name` pointing to `target`."""
        return Directory(self._handle.with_symlink(target, link_name))

    def digest(self) -> str:
        """`sha256:<hex>` over the tree's content: each path, mode and file content."""
        return _evaluate(self._handle.digest)

    def docker_build(
        self,
        dockerfile: str = "Dockerfile",
        *,
        build_args: Optional[dict[str, str]] = None,
        target: Optional[str] = None,
        secrets: Sequence["Secret"] = (),
    ) -> "Container":
        """A container from the image the Dockerfile at `dockerfile` builds with this
        directory as its context. `secrets` are mounted by name (`RUN
        --mount=type=secret,id=NAME`) for the commands that ask, never in the image."""
        types = _types()
        arguments = [types.BuildArg(name, value) for name, value in (build_args or {}).items()]
        return Container(self._handle.docker_build(dockerfile, arguments, target, [secret._handle for secret in secrets]))


class NetworkProtocol(enum.Enum):
    """The transport protocol of an exposed port."""

    TCP = "tcp"
    UDP = "udp"

    def _wit(self) -> Any:
        return getattr(_types().NetworkProtocol, self.name)


class Service(_Object):
    """A container's command kept running in the background, reached by the steps that
    bind it (`Container.with_service_binding`)."""

    _tanto_kind = "service"

    def endpoint(self, port: Optional[int] = None, scheme: Optional[str] = None) -> str:
        """`scheme://hostname:port` (`hostname:port` without a scheme) where binding
        steps reach this service; `port` defaults to its first exposed port."""
        return _evaluate(self._handle.endpoint, port, scheme)

    def hostname(self) -> str:
        """The name this service has on the run's network."""
        return _evaluate(self._handle.hostname)

    def start(self) -> None:
        """Starts this service and keeps it running until `stop` or the end of the run."""
        _evaluate(self._handle.start)

    def stop(self) -> None:
        """Lets go of what `start` held: the service stops once no step binds it."""
        _evaluate(self._handle.stop)


class Container(_Object):
    """A container: a root filesystem, its configuration and the commands run on it."""

    _tanto_kind = "container"

    def from_(self, address: str) -> "Container":
        """A container whose root filesystem is the image at `address`."""
        return Container(self._handle.from_(address))

    def with_exec(self, args: Sequence[str], *, expect: Expect = Expect.SUCCESS, stdin: Optional[str] = None, use_entrypoint: bool = False) -> "Container":
        """This container after running `args` in it. A command whose exit code `expect`
        does not allow fails evaluation with an `ExecError`."""
        options = _types().ExecOptions(expect._wit(), stdin, use_entrypoint)
        return Container(self._handle.with_exec(_strings(args, "args"), options))

    def with_env_variable(self, name: str, value: str) -> "Container":
        """This container with the environment variable `name` set to `value`."""
        return Container(self._handle.with_env_variable(name, value))

    def without_env_variable(self, name: str) -> "Container":
        """This container without the environment variable `name`."""
        return Container(self._handle.without_env_variable(name))

    def with_workdir(self, path: str) -> "Container":
        """This container with commands run in `path`."""
        return Container(self._handle.with_workdir(path))

    def with_user(self, name: str) -> "Container":
        """This container with commands run as `name` (`user`, `uid`, `user:group`)."""
        return Container(self._handle.with_user(name))

    def with_entrypoint(self, args: Sequence[str]) -> "Container":
        """This container with the given entrypoint."""
        return Container(self._handle.with_entrypoint(_strings(args, "args")))

    def with_default_args(self, args: Sequence[str]) -> "Container":
        """This container with the given default arguments (the image's `CMD`)."""
        return Container(self._handle.with_default_args(_strings(args, "args")))

    def with_label(self, name: str, value: str) -> "Container":
        """This container with the image label `name` set to `value`."""
        return Container(self._handle.with_label(name, value))

    def with_directory(self, path: str, source: Directory, *, include: Sequence[str] = (), exclude: Sequence[str] = (), owner: Optional[str] = None) -> "Container":
        """This container with the contents of `source` copied into `path`, owned by
        `owner` (root when None)."""
        return Container(self._handle.with_directory(path, source._handle, _strings(include, "include"), _strings(exclude, "exclude"), owner))

    def with_file(self, path: str, source: File, *, permissions: Optional[int] = None, owner: Optional[str] = None) -> "Container":
        """This container with `source` copied to `path`."""
        return Container(self._handle.with_file(path, source._handle, permissions, owner))

    def with_new_file(self, path: str, contents: str | bytes, *, permissions: Optional[int] = None, owner: Optional[str] = None) -> "Container":
        """This container with a new file at `path` holding `contents` (text or bytes)."""
        if isinstance(contents, (bytes, bytearray)):
            return Container(self._handle.with_new_file_bytes(path, bytes(contents), permissions, owner))
        return Container(self._handle.with_new_file(path, contents, permissions, owner))

    def without_file(self, path: str) -> "Container":
        """This container without the file or link at `path`."""
        return Container(self._handle.without_file(path))

    def without_directory(self, path: str) -> "Container":
        """This container without the directory at `path` and everything in it."""
        return Container(self._handle.without_directory(path))

    def with_symlink(self, target: str, link_name: str) -> "Container":
        """This container with a symbolic link at `link_name` pointing to `target`."""
        return Container(self._handle.with_symlink(target, link_name))

    def with_mounted_directory(self, path: str, source: Directory) -> "Container":
        """This container with `source` mounted at `path` for the commands that follow."""
        return Container(self._handle.with_mounted_directory(path, source._handle))

    def with_mounted_cache(self, path: str, cache: CacheVolume, *, sharing: Sharing = Sharing.SHARED) -> "Container":
        """This container with `cache` mounted at `path` for the commands that follow."""
        return Container(self._handle.with_mounted_cache(path, cache._handle, sharing._wit()))

    def with_mounted_temp(self, path: str) -> "Container":
        """This container with an empty tmpfs at `path` for the commands that follow."""
        return Container(self._handle.with_mounted_temp(path))

    def without_mount(self, path: str) -> "Container":
        """This container without the mount at `path` for the commands that follow."""
        return Container(self._handle.without_mount(path))

    def with_secret_variable(self, name: str, secret: Secret) -> "Container":
        """This container with the variable `name` set to the value of `secret` for the
        commands that follow; never part of the image."""
        return Container(self._handle.with_secret_variable(name, secret._handle))

    def with_mounted_secret(self, path: str, source: Secret, *, owner: Optional[str] = None, mode: Optional[int] = None) -> "Container":
        """This container with the value of `source` as a read-only file at `path`."""
        return Container(self._handle.with_mounted_secret(path, source._handle, owner, mode))

    def with_exposed_port(self, port: int, protocol: NetworkProtocol = NetworkProtocol.TCP, description: Optional[str] = None) -> "Container":
        """This container with `port` exposed: a service made from it listens there."""
        return Container(self._handle.with_exposed_port(port, protocol._wit(), description))

    def as_service(self, args: Sequence[str] = (), *, use_entrypoint: bool = False) -> Service:
        """This container's command (`args`, or its default command when empty) run as a
        service."""
        return Service(self._handle.as_service(_strings(args, "args"), use_entrypoint))

    def with_service_binding(self, alias: str, service: Service) -> "Container":
        """This container with `service` reachable at the host name `alias` by the
        commands that follow."""
        return Container(self._handle.with_service_binding(alias, service._handle))

    def terminal(self, cmd: Sequence[str] = ()) -> int:
        """Opens `cmd` (`/bin/sh` when empty) interactively in this container's state on
        the user's terminal and returns its exit code."""
        return _evaluate(self._handle.terminal, _strings(cmd, "cmd"))

    def with_registry_auth(self, address: str, username: str, secret: Secret) -> "Container":
        """This container with credentials for the registry of `address`."""
        return Container(self._handle.with_registry_auth(address, username, secret._handle))

    def file(self, path: str) -> File:
        """The file at `path` in this container."""
        return File(self._handle.file(path))

    def directory(self, path: str) -> Directory:
        """The directory at `path` in this container."""
        return Directory(self._handle.directory(path))

    def stdout(self) -> str:
        """The standard output of the last command."""
        return _evaluate(self._handle.stdout)

    def stderr(self) -> str:
        """The standard error of the last command."""
        return _evaluate(self._handle.stderr)

    def exit_code(self) -> int:
        """The exit code of the last command."""
        return _evaluate(self._handle.exit_code)

    def sync(self) -> "Container":
        """Evaluates this container (runs every pending command) and returns it."""
        _evaluate(self._handle.sync)
        return self

    def publish(self, address: str) -> str:
        """Pushes this container as an image to `address`; returns `address@sha256:...`."""
        return _evaluate(self._handle.publish, address)

    def export(self) -> File:
        """This container as an image archive (`docker save` format)."""
        return File(self._handle.export())

    def import_(self, source: File) -> "Container":
        """A container from the one image in the archive `source`."""
        return Container(self._handle.import_(source._handle))


class GitRef(_Object):
    """A ref of a git repository, resolved to a commit when evaluated."""

    def tree(self) -> Directory:
        """The files of the commit, without `.git`."""
        return Directory(self._handle.tree())

    def commit(self) -> str:
        """The full id of the commit this ref resolves to."""
        return _evaluate(self._handle.commit)


class GitRepository(_Object):
    """A remote git repository."""

    def branch(self, name: str) -> GitRef:
        return GitRef(self._handle.branch(name))

    def tag(self, name: str) -> GitRef:
        return GitRef(self._handle.tag(name))

    def commit(self, id: str) -> GitRef:
        return GitRef(self._handle.commit(id))

    def ref(self, name: str) -> GitRef:
        return GitRef(self._handle.ref(name))


class Client:
    """The root of the API; `dag()` returns it."""

    def container(self) -> Container:
        """A new container with an empty root filesystem; start it with `from_`."""
        return Container(_client().container())

    def directory(self) -> Directory:
        """A new empty directory."""
        return Directory(_client().directory())

    def cache_volume(self, key: str) -> CacheVolume:
        """The cache volume named `key`, created on first use."""
        return CacheVolume(_client().cache_volume(key))

    def git(self, url: str) -> GitRepository:
        """The git repository at `url`."""
        return GitRepository(_client().git(url))

    def http(self, url: str) -> File:
        """The file at `url`, downloaded when evaluated."""
        return File(_client().http(url))

    def set_secret(self, name: str, plaintext: str) -> Secret:
        """A secret named `name` holding `plaintext` (scrubbed from all output)."""
        return Secret(_client().set_secret(name, plaintext))

    def sync_all(self, containers: Iterable[Container]) -> None:
        """Evaluates `containers` concurrently; raises the first error."""
        _evaluate(_client().sync_all, [container._handle for container in containers])

    def call(
        self,
        module: str,
        function: str,
        arguments: Optional[Mapping[str, Any]] = None,
        *,
        constructor: Optional[Mapping[str, Any]] = None,
    ) -> Any:
        """Calls `function` of the dependency this module names `module` in its tanto.toml,
        with named arguments (`{"name": "ada"}`, kebab-case as `tanto functions` shows
        them) and, for a dependency with a constructor, `constructor`'s. Objects pass by
        handle; the result comes back as a Python value or object. The typed client
        `tanto develop` writes in `tanto_deps/` makes these calls for you.

        Raises a `TantoError`: `NotFoundError` for an undeclared dependency or function,
        the dependency's own error when it fails."""
        named = _named_values(arguments)
        if constructor is None:
            result = _evaluate(_client().call, module, function, named)
        else:
            result = _evaluate(_client().call_constructed, module, _named_values(constructor), function, named)
        return value_from_wit(result)


_DAG = Client()


def dag() -> Client:
    """The root of the pipeline API."""
    return _DAG


# The kinds of a value, in the order they are tried (`bool` before `int`: a bool is an int).
_VALUE_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "Boolean"),
    (int, "Integer"),
    (float, "Float"),
    (str, "String"),
    (Container, "Container"),
    (Directory, "Directory"),
    (File, "File"),
    (Secret, "Secret"),
    (Service, "Service"),
)


def _wit_case(value: Any) -> tuple[str, Any]:
    """The WIT case name of a scalar or object, and what it carries."""
    for kind, case in _VALUE_KINDS:
        if isinstance(value, kind):
            return case, value._handle if isinstance(value, _Object) else value
    raise TypeError(f"a {type(value).__name__} cannot be passed to a module: pass a str, bool, int, float, Container, Directory, File, Secret, Service, a list of one of them, or None")


def value_to_wit(value: Any) -> Any:
    """A WIT `value` from a Python one, its kind told by its type."""
    types = _types()
    if value is None:
        return types.Value_None_()
    if isinstance(value, (list, tuple)):
        items = []
        for element in value:
            case, carried = _wit_case(element)
            items.append(getattr(types, f"Item_{case}")(carried))
        return types.Value_List(items)
    case, carried = _wit_case(value)
    return getattr(types, f"Value_{case}")(carried)


def _named_values(arguments: Optional[Mapping[str, Any]]) -> list[tuple[str, Any]]:
    return [(str(name), value_to_wit(value)) for name, value in (arguments or {}).items()]


_OBJECT_CASES = {"Container": Container, "Directory": Directory, "File": File, "Secret": Secret, "Service": Service}


def value_from_wit(value: Any) -> Any:
    """The Python value of a WIT `value` (or list `item`): objects wrapped, `none` as None."""
    types = _types()
    if isinstance(value, types.Value_None_):
        return None
    if isinstance(value, types.Value_List):
        return [value_from_wit(item) for item in value.value]
    for case, cls in _OBJECT_CASES.items():
        if isinstance(value, (getattr(types, f"Value_{case}"), getattr(types, f"Item_{case}"))):
            return cls(value.value)
    return value.value
