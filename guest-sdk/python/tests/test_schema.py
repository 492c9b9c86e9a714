"""Unit tests of the SDK's pure-Python parts: type hints, docstrings and defaults → the
module schema. They run on any CPython (`scripts/test` runs them with pytest)."""

from typing import List, Optional

import pytest

import tanto
from tanto import Container, Directory, File, Secret, Service
from tanto._schema import SchemaError, TypeRef, function_schema, kebab_case, module_schema, type_ref


@pytest.mark.parametrize(
    "hint, expected",
    [
        (str, TypeRef("string")),
        (bool, TypeRef("boolean")),
        (int, TypeRef("integer")),
        (float, TypeRef("float")),
        (Container, TypeRef("container")),
        (Directory, TypeRef("directory")),
        (File, TypeRef("file")),
        (Secret, TypeRef("secret")),
        (Service, TypeRef("service")),
        (None, TypeRef("void")),
        (list[str], TypeRef("string", is_list=True)),
        (List[Directory], TypeRef("directory", is_list=True)),
        (Optional[int], TypeRef("integer", optional=True)),
        (Optional[list[File]], TypeRef("file", is_list=True, optional=True)),
        (str | None, TypeRef("string", optional=True)),
    ],
)
def test_hints_become_types(hint, expected):
    assert type_ref(hint) == expected


@pytest.mark.parametrize("hint", [dict, bytes, list, tuple[str, int], int | str, list[list[str]], list[Optional[str]], tanto.CacheVolume])
def test_unsupported_hints_are_refused_with_their_name(hint):
    with pytest.raises(SchemaError, match="unsupported|element type"):
        type_ref(hint, "argument x")


def test_names_become_kebab_case():
    assert kebab_case("build_image") == "build-image"
    assert kebab_case("BuildImage") == "build-image"
    assert kebab_case("hello") == "hello"
    assert kebab_case("_private_thing_") == "private-thing"


def test_a_module_schema_from_hints_docstrings_and_defaults():
    @tanto.module(name="example")
    class Example:
        """Builds and tests things.

        More text.
        """

        @tanto.function
        def build_image(self, source: Directory, tag: str = "latest", retries: int = 3, verbose: bool = False, ratio: float = 0.5, flags: list[str] = ["-v"]) -> Container:
            """Builds the image.

            Args:
                source: the build context
                tag: the image's tag, continued
                    on a second line
            """
            raise AssertionError("not called")

        @tanto.function(name="check")
        def run_checks(self, token: Optional[Secret] = None, names: Optional[list[str]] = None) -> Optional[str]:
            raise AssertionError("not called")

        def helper(self) -> None:
            """Not exported: no @tanto.function."""

    schema = module_schema(Example, "example")
    assert schema.name == "example"
    assert schema.description == "Builds and tests things.\n\nMore text."
    assert [function.name for function in schema.functions] == ["build-image", "check"]

    build = schema.functions[0]
    assert build.description == "Builds the image."
    assert build.return_type == TypeRef("container")
    assert [(argument.name, argument.type, argument.default) for argument in build.arguments] == [
        ("source", TypeRef("directory"), None),
        ("tag", TypeRef("string"), '"latest"'),
        ("retries", TypeRef("integer"), "3"),
        ("verbose", TypeRef("boolean"), "false"),
        ("ratio", TypeRef("float"), "0.5"),
        ("flags", TypeRef("string", is_list=True), '["-v"]'),
    ]
    assert build.arguments[0].description == "the build context"
    assert build.arguments[1].description == "the image's tag, continued on a second line"

    check = schema.functions[1]
    assert check.method == "run_checks"
    assert check.return_type == TypeRef("string", optional=True)
    assert [(argument.name, argument.type, argument.default) for argument in check.arguments] == [
        ("token", TypeRef("secret", optional=True), None),
        ("names", TypeRef("string", is_list=True, optional=True), None),
    ]


def test_a_missing_hint_names_the_argument():
    def build(self, source) -> str:
        return ""

    with pytest.raises(SchemaError, match="argument source: needs a type hint"):
        function_schema(build)


def test_an_object_argument_cannot_have_a_default():
    def build(self, source: Directory = "/etc") -> str:  # type: ignore[assignment]
        return ""

    with pytest.raises(SchemaError, match="cannot have a default"):
        function_schema(build)


def test_a_default_must_match_its_type():
    def build(self, count: int = "3") -> str:  # type: ignore[assignment]
        return ""

    with pytest.raises(SchemaError, match="is not a integer|is not a"):
        function_schema(build)

    def flag(self, enabled: int = True) -> str:
        return ""

    with pytest.raises(SchemaError, match="is not a"):
        function_schema(flag)


def test_a_none_default_needs_optional():
    def build(self, name: str = None) -> str:  # type: ignore[assignment]
        return ""

    with pytest.raises(SchemaError, match="not Optional"):
        function_schema(build)


def test_init_parameters_are_the_constructor():
    class Build:
        """Builds the project."""

        def __init__(self, source: Directory, release: bool = False) -> None:
            """Takes the project.

            Args:
                source: the project's files
                release: build with optimizations
            """
            self.source = source
            self.release = release

        @tanto.function
        def test(self) -> str:
            return "ok"

    schema = module_schema(Build)
    assert [(argument.name, argument.type, argument.default, argument.description) for argument in schema.constructor] == [
        ("source", TypeRef("directory"), None, "the project's files"),
        ("release", TypeRef("boolean"), "false", "build with optimizations"),
    ]
    assert [function.name for function in schema.functions] == ["test"]


def test_a_class_without_init_has_no_constructor():
    class Plain:
        @tanto.function
        def hello(self) -> str:
            return "hi"

    assert module_schema(Plain).constructor == []


def test_a_constructor_argument_without_a_hint_is_refused():
    class Untyped:
        def __init__(self, source) -> None:
            self.source = source

    with pytest.raises(SchemaError, match="constructor, argument source: needs a type hint"):
        module_schema(Untyped)
