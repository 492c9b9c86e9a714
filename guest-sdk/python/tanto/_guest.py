"""The component's export: `describe` and `invoke` of the WIT `guest` interface, over the
class `@tanto.module` registered."""

from __future__ import annotations

import sys
import traceback
from typing import Any, Optional

from . import _api, _errors, _schema

# Imported with the module, at build time: a component has no files to import from when
# it runs (see `_api`).
try:
    from componentize_py_types import Err
    from wit_world.exports import guest
    from wit_world.imports import types
except ImportError:
    Err = guest = types = None  # type: ignore[assignment,misc]

# How many frames of a traceback an unexpected exception's error shows.
_TRACEBACK_FRAMES = 3

_registered: Optional[type] = None
_schema_cache: Optional[_schema.ModuleSchema] = None


def register(cls: type) -> None:
    global _registered, _schema_cache
    if _registered is not None and _registered is not cls:
        raise _schema.SchemaError(f"only one class may be a @tanto.module: {_registered.__name__} and {cls.__name__} both are")
    _registered = cls
    # Described now, so a bad hint fails the build (componentize imports the module),
    # not the first call.
    _schema_cache = _schema.module_schema(cls, getattr(cls, "_tanto_module_name", None))


def _module() -> tuple[type, _schema.ModuleSchema]:
    if _registered is None or _schema_cache is None:
        raise _schema.SchemaError("no class is decorated with @tanto.module: add it to the module's main.py")
    return _registered, _schema_cache


def _wit_type(types: Any, type_ref: _schema.TypeRef) -> Any:
    return types.TypeRef(getattr(types.TypeKind, type_ref.kind.upper()), type_ref.is_list, type_ref.optional)


_OBJECT_CLASSES = {
    "container": _api.Container,
    "directory": _api.Directory,
    "file": _api.File,
    "secret": _api.Secret,
    "service": _api.Service,
}


def _from_wit(types: Any, value: Any) -> Any:
    return _api.value_from_wit(value)


def _item(types: Any, kind: str, value: Any) -> Any:
    name = kind.capitalize()
    if kind in _OBJECT_CLASSES:
        if not isinstance(value, _OBJECT_CLASSES[kind]):
            raise TypeError(f"expected a {_OBJECT_CLASSES[kind].__name__}, got {type(value).__name__}")
        value = value._handle
    elif kind == "float":
        value = float(value)
    elif kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        raise TypeError(f"expected an int, got {type(value).__name__}")
    elif kind == "string" and not isinstance(value, str):
        raise TypeError(f"expected a str, got {type(value).__name__}")
    elif kind == "boolean" and not isinstance(value, bool):
        raise TypeError(f"expected a bool, got {type(value).__name__}")
    return getattr(types, f"Item_{name}")(value), getattr(types, f"Value_{name}")(value)


def _to_wit(types: Any, type_ref: _schema.TypeRef, value: Any) -> Any:
    if value is None:
        if type_ref.kind == _schema.VOID or type_ref.optional:
            return types.Value_None_()
        raise TypeError("returned None, but the return type is not Optional")
    if type_ref.kind == _schema.VOID:
        raise TypeError(f"returned a {type(value).__name__}, but the return type is None")
    if type_ref.is_list:
        if isinstance(value, (str, bytes)):
            raise TypeError("expected a list, got a str")
        return types.Value_List([_item(types, type_ref.kind, element)[0] for element in value])
    return _item(types, type_ref.kind, value)[1]


def _to_wit_error(types: Any, error: _errors.TantoError) -> Any:
    if isinstance(error, _errors.ExecError):
        return types.Error_ExecFailed(types.ExecFailure(error.command, error.exit_code, error.stdout_tail, error.stderr_tail))
    case = {
        "not-found": types.Error_NotFound,
        "invalid-argument": types.Error_InvalidArgument,
        "backend": types.Error_Backend,
        "cancelled": types.Error_Cancelled,
    }.get(error.case, types.Error_Failed)
    return case(error.message)


def _wit_arguments(arguments: list[_schema.Argument]) -> list[Any]:
    return [guest.Argument(argument.name, argument.description, _wit_type(types, argument.type), argument.default) for argument in arguments]


def _keywords(arguments: list[tuple[str, Any]], declared: list[_schema.Argument], what: str) -> dict[str, Any]:
    """Python keyword arguments from the named WIT values the host passed."""
    parameters = {argument.name: argument.parameter for argument in declared}
    keywords = {}
    for name, value in arguments:
        if name not in parameters:
            raise Err(types.Error_InvalidArgument(f"{what} has no argument {name}"))
        keywords[parameters[name]] = _from_wit(types, value)
    return keywords


class Guest:
    """The WIT `guest` export."""

    def describe(self) -> Any:
        _, schema = _module()
        return guest.ModuleSchema(
            schema.name,
            schema.description,
            [
                guest.Function(function.name, function.description, _wit_arguments(function.arguments), _wit_type(types, function.return_type))
                for function in schema.functions
            ],
            _wit_arguments(schema.constructor),
        )

    def invoke(self, constructor_arguments: list[tuple[str, Any]], function: str, arguments: list[tuple[str, Any]]) -> Any:
        cls, schema = _module()
        exported = next((candidate for candidate in schema.functions if candidate.name == function), None)
        if exported is None:
            known = ", ".join(candidate.name for candidate in schema.functions)
            raise Err(types.Error_NotFound(f"module {schema.name} has no function {function} (it has: {known})"))
        constructor = _keywords(constructor_arguments, schema.constructor, f"the constructor of {schema.name}")
        keywords = _keywords(arguments, exported.arguments, f"function {function}")
        try:
            # The object is made for each invocation, from the arguments the caller gave:
            # like a Rust module's `new`, it holds what they describe and nothing else.
            instance = cls(**constructor)
            result = getattr(instance, exported.method)(**keywords)
            return _to_wit(types, exported.return_type, result)
        except _errors.TantoError as error:
            raise Err(_to_wit_error(types, error)) from None
        except Err:
            raise
        except Exception as error:
            # The caller gets the exception and where it was raised: the traceback's
            # innermost frames (the module's log holds it whole).
            traceback.print_exc(file=sys.stderr)
            frames = "".join(traceback.format_tb(error.__traceback__)[-_TRACEBACK_FRAMES:]).rstrip()
            raise Err(types.Error_Failed(f"{type(error).__name__}: {error}\n{frames}")) from None
