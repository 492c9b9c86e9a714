"""Unit tests of how `dag().call` turns Python values into WIT values and back, against
the types componentize-py generates for the WIT (`stubs/`, the same classes a module
sees inside its component)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "stubs"))

from wit_world.imports import types  # noqa: E402

import tanto  # noqa: E402
from tanto import _api  # noqa: E402


@pytest.fixture(autouse=True)
def wit_types(monkeypatch):
    monkeypatch.setattr(_api, "_wit_types", types)


def test_scalars_and_none_take_the_case_of_their_type():
    assert _api.value_to_wit("hi") == types.Value_String("hi")
    # A bool is an int in Python; it must stay a boolean.
    assert _api.value_to_wit(True) == types.Value_Boolean(True)
    assert _api.value_to_wit(3) == types.Value_Integer(3)
    assert _api.value_to_wit(2.5) == types.Value_Float(2.5)
    assert _api.value_to_wit(None) == types.Value_None_()


def test_objects_pass_their_handle_and_come_back_wrapped():
    handle = object()
    value = _api.value_to_wit(tanto.Directory(handle))
    assert value == types.Value_Directory(handle)
    back = _api.value_from_wit(value)
    assert isinstance(back, tanto.Directory) and back._handle is handle
    listed = _api.value_to_wit([tanto.Container(handle)])
    assert listed == types.Value_List([types.Item_Container(handle)])
    (container,) = _api.value_from_wit(listed)
    assert isinstance(container, tanto.Container) and container._handle is handle


def test_results_come_back_as_python_values():
    assert _api.value_from_wit(types.Value_None_()) is None
    assert _api.value_from_wit(types.Value_String("out")) == "out"
    assert _api.value_from_wit(types.Value_List([types.Item_Integer(1), types.Item_Integer(2)])) == [1, 2]


@pytest.mark.parametrize("value", [{"a": 1}, b"bytes", [[1]], tanto.CacheVolume(None)])
def test_what_no_module_takes_is_refused_with_its_type(value):
    with pytest.raises(TypeError, match="cannot be passed to a module"):
        _api.value_to_wit(value)
