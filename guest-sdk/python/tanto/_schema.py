"""A module's schema from its Python definitions: type hints, docstrings and defaults.

Pure Python, with no import of the component bindings, so that it runs (and is tested) on
any CPython: ``_guest`` turns these records into the WIT ``module-schema``.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

# The element kinds of the WIT `type-kind` enum, by name.
VOID = "void"
STRING = "string"
BOOLEAN = "boolean"
INTEGER = "integer"
FLOAT = "float"
CONTAINER = "container"
DIRECTORY = "directory"
FILE = "file"
SECRET = "secret"
SERVICE = "service"

_SCALARS = {str: STRING, bool: BOOLEAN, int: INTEGER, float: FLOAT}
_OBJECTS = (CONTAINER, DIRECTORY, FILE, SECRET, SERVICE)


class SchemaError(TypeError):
    """A module definition that cannot be described: an unsupported type hint, a
    missing hint, a default a caller could not give."""


@dataclass(frozen=True)
class TypeRef:
    """A value's type: an element kind, optionally a list, optionally optional."""

    kind: str
    is_list: bool = False
    optional: bool = False


@dataclass(frozen=True)
class Argument:
    """An argument of a function: `default` is a JSON literal, or None when required."""

    name: str
    description: str
    type: TypeRef
    default: Optional[str] = None
    # The Python parameter's name (the schema's name is kebab-case).
    parameter: str = ""


@dataclass(frozen=True)
class Function:
    name: str
    description: str
    arguments: list[Argument] = field(default_factory=list)
    return_type: TypeRef = TypeRef(VOID)
    # The Python method's name.
    method: str = ""


@dataclass(frozen=True)
class ModuleSchema:
    name: str
    description: str
    functions: list[Function] = field(default_factory=list)
    # The arguments of the class's `__init__`: given before the function (`tanto call
    # --name=value FUNCTION`) and passed to every invocation.
    constructor: list[Argument] = field(default_factory=list)


def kebab_case(name: str) -> str:
    """A Python name as the schema and the CLI spell it: `build_image` → `build-image`,
    `BuildImage` → `build-image`."""
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", name.strip("_"))
    return re.sub(r"[_\-]+", "-", name).lower()


def _is_none(hint: Any) -> bool:
    return hint is None or hint is type(None)


def type_ref(hint: Any, where: str = "a value") -> TypeRef:
    """The schema type of a type hint: `str`, `bool`, `int`, `float`, `Container`,
    `Directory`, `File`, `Secret`, `Service`, `list[...]` of those, `Optional[...]` (or `X | None`)
    of any of them, and `None` for a function that returns nothing."""
    if _is_none(hint):
        return TypeRef(VOID)
    origin = typing.get_origin(hint)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        members = [member for member in typing.get_args(hint) if not _is_none(member)]
        if len(members) != 1 or len(members) == len(typing.get_args(hint)):
            raise SchemaError(f"{where}: unsupported union {hint!r}: only Optional[X] (X | None) is supported")
        inner = type_ref(members[0], where)
        if inner.optional or inner.kind == VOID:
            raise SchemaError(f"{where}: unsupported type {hint!r}")
        return TypeRef(inner.kind, inner.is_list, True)
    if origin in (list, typing.List):
        (element,) = typing.get_args(hint) or (None,)
        if element is None:
            raise SchemaError(f"{where}: a list needs its element type, e.g. list[str]")
        inner = type_ref(element, where)
        if inner.is_list or inner.optional or inner.kind == VOID:
            raise SchemaError(f"{where}: unsupported list element {element!r}: lists hold str, bool, int, float, Container, Directory, File, Secret or Service")
        return TypeRef(inner.kind, True, False)
    if hint in _SCALARS:
        return TypeRef(_SCALARS[hint])
    kind = getattr(hint, "_tanto_kind", None)
    if isinstance(hint, type) and kind in _OBJECTS:
        return TypeRef(kind)
    raise SchemaError(f"{where}: unsupported type {hint!r}: use str, bool, int, float, Container, Directory, File, Secret, Service, list[...] or Optional[...]")


def description(item: Any) -> str:
    """The docstring of `item`, dedented and trimmed, or an empty string."""
    return inspect.getdoc(item) or ""


def _default_literal(value: Any, kind: TypeRef, where: str) -> Optional[str]:
    """The JSON literal of a parameter's default (None for `None`: an absent optional)."""
    if value is None:
        if not kind.optional:
            raise SchemaError(f"{where}: the default is None but the type is not Optional[...]")
        return None
    if kind.kind in _OBJECTS:
        # A default object would be a host path or an image the module names itself.
        raise SchemaError(f"{where}: a {kind.kind} argument cannot have a default (only None)")
    if isinstance(value, (tuple, list)):
        value = list(value)
    expected = {STRING: str, BOOLEAN: bool, INTEGER: int, FLOAT: (int, float)}[kind.kind]
    values = value if kind.is_list and isinstance(value, list) else [value]
    if kind.is_list and not isinstance(value, list):
        raise SchemaError(f"{where}: the default {value!r} is not a list")
    for element in values:
        if not isinstance(element, expected) or (kind.kind != BOOLEAN and isinstance(element, bool)):
            raise SchemaError(f"{where}: the default {element!r} is not a {kind.kind}")
    return json.dumps(value)


def _argument_descriptions(doc: str) -> tuple[str, dict[str, str]]:
    """Splits a docstring into the function's description and its arguments' ones, from
    an `Args:` section (Google style: `name: text`, continued on indented lines)."""
    lines = doc.splitlines()
    for index, line in enumerate(lines):
        if line.strip() in ("Args:", "Arguments:"):
            head = "\n".join(lines[:index]).strip()
            arguments: dict[str, str] = {}
            current = None
            for entry in lines[index + 1 :]:
                if not entry.strip():
                    continue
                if not entry.startswith((" ", "\t")):
                    break
                match = re.match(r"\s+(\w+)(?:\s*\([^)]*\))?:\s*(.*)", entry)
                if match and (current is None or len(entry) - len(entry.lstrip()) <= indent):
                    current = match.group(1)
                    indent = len(entry) - len(entry.lstrip())
                    arguments[current] = match.group(2).strip()
                elif current is not None:
                    arguments[current] = (arguments[current] + " " + entry.strip()).strip()
            return head, arguments
    return doc.strip(), {}


def function_schema(method: Callable[..., Any], name: Optional[str] = None) -> Function:
    """The schema of a module method: its parameters after `self`, typed by their hints,
    described by the docstring's `Args:` section, with their defaults."""
    function_name = name or kebab_case(method.__name__)
    try:
        hints = typing.get_type_hints(method)
    except Exception as error:  # a hint naming something undefined
        raise SchemaError(f"function {function_name}: cannot read its type hints: {error}") from error
    summary, argument_docs = _argument_descriptions(description(method))
    arguments = []
    parameters = list(inspect.signature(method).parameters.values())
    for parameter in parameters[1:]:
        where = f"function {function_name}, argument {parameter.name}"
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise SchemaError(f"{where}: *args and **kwargs are not supported")
        if parameter.name not in hints:
            raise SchemaError(f"{where}: needs a type hint")
        kind = type_ref(hints[parameter.name], where)
        if kind.kind == VOID:
            raise SchemaError(f"{where}: an argument cannot be None")
        default = None
        if parameter.default is not parameter.empty:
            default = _default_literal(parameter.default, kind, where)
            if default is None:
                kind = TypeRef(kind.kind, kind.is_list, True)
        arguments.append(Argument(kebab_case(parameter.name), argument_docs.get(parameter.name, ""), kind, default, parameter.name))
    returned = type_ref(hints.get("return"), f"function {function_name}, return type")
    return Function(function_name, summary, arguments, returned, method.__name__)


def module_schema(cls: type, name: Optional[str] = None) -> ModuleSchema:
    """The schema of a `@tanto.module` class: its `@tanto.function` methods, in the order
    they are defined, and its constructor's arguments (the parameters of `__init__`)."""
    functions = []
    seen = set()
    for klass in reversed(cls.__mro__):
        for attribute, value in vars(klass).items():
            exported = getattr(value, "_tanto_function", None)
            if exported is None or attribute in seen:
                continue
            seen.add(attribute)
            functions.append(function_schema(value, exported))
    constructor = []
    if cls.__init__ is not object.__init__:
        constructor = function_schema(cls.__init__, "constructor").arguments
    return ModuleSchema(name or kebab_case(cls.__name__), description(cls), functions, constructor)
