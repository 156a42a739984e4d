"""``quick_init``: the same values and the same refusals as dataclasses' own ``__init__``,
and nothing it cannot copy faithfully."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from typing import Any

import pytest

from textgate.core.frozen import quick_init


def plain() -> type[Any]:
    @dataclass(frozen=True, slots=True)
    class Plain:
        a: int
        b: str
        c: float = 1.5
        d: tuple[int, ...] = ()
        e: list[int] = field(default_factory=list)

    return Plain


def keywords() -> type[Any]:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Keywords:
        a: int
        b: str = "x"
        c: dict[str, int] = field(default_factory=dict)

    return Keywords


def mixed() -> type[Any]:
    @dataclass(frozen=True, slots=True)
    class Mixed:
        a: int
        b: int = 2
        c: int = field(default=3, kw_only=True)
        d: int = field(kw_only=True, default_factory=lambda: 4)

    return Mixed


def child() -> type[Any]:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Base:
        a: int
        b: str = ""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Child(Base):
        c: bytes = b""

    return Child


# (class, args, kwargs): each built by the class as dataclasses made it, then by quick_init's
# (each class is made afresh for each side).
CASES: list[tuple[Callable[[], type[Any]], tuple[Any, ...], dict[str, Any]]] = [
    (plain, (1, "b"), {}),
    (plain, (1, "b", 2.5, (3,), [4]), {}),
    (plain, (1,), {"b": "b", "e": [9]}),
    (keywords, (), {"a": 1}),
    (keywords, (), {"a": 1, "b": "y", "c": {"k": 1}}),
    (mixed, (1,), {}),
    (mixed, (1, 5), {"c": 6, "d": 7}),
    (child, (), {"a": 1}),
    (child, (), {"a": 1, "b": "b", "c": b"c"}),
]

# (class, args, kwargs) that dataclasses' own __init__ refuses: quick_init's must too.
REFUSED: list[tuple[Callable[[], type[Any]], tuple[Any, ...], dict[str, Any]]] = [
    (plain, (), {}),
    (plain, (1, "b", 1.0, (), [], "extra"), {}),
    (plain, (1, "b"), {"zzz": 1}),
    (keywords, (1,), {}),
    (mixed, (1, 2, 3), {}),
    (child, (), {"b": "b"}),
]


def _pair(make: Callable[[], type[Any]]) -> tuple[type[Any], type[Any]]:
    """Two copies of a class: with dataclasses' ``__init__``, and with quick_init's."""
    return make(), quick_init(make())


@pytest.mark.parametrize(("cls", "args", "kwargs"), CASES)
def test_builds_what_dataclasses_builds(
    cls: Callable[[], type[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    original, quick = _pair(cls)
    assert original.__init__ is not quick.__init__
    want, got = original(*args, **kwargs), quick(*args, **kwargs)
    assert dataclasses.astuple(got) == dataclasses.astuple(want)
    assert repr(got) == repr(want)
    assert [p.name for p in inspect.signature(quick).parameters.values()] == [
        p.name for p in inspect.signature(original).parameters.values()
    ]


@pytest.mark.parametrize(("cls", "args", "kwargs"), REFUSED)
def test_refuses_what_dataclasses_refuses(
    cls: Callable[[], type[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    original, quick = _pair(cls)
    with pytest.raises(TypeError):
        original(*args, **kwargs)
    with pytest.raises(TypeError):
        quick(*args, **kwargs)


def test_factories_run_once_per_instance() -> None:
    _, quick = _pair(plain)
    x, y = quick(1, "b"), quick(1, "b")
    assert x.e == [] and x.e is not y.e


def test_instances_stay_frozen() -> None:
    _, quick = _pair(child)
    value = quick(a=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.a = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        del value.b
    assert dataclasses.replace(value, b="z") == quick(a=1, b="z")


def test_the_gateways_values_keep_their_fields() -> None:
    from textgate.connectors.smpp.pdutypes import SubmitSm

    pdu = SubmitSm(sequence_number=7, destination_addr="336", short_message=b"hi")
    assert (pdu.sequence_number, pdu.destination_addr, pdu.short_message) == (7, "336", b"hi")
    assert pdu.command_status == 0 and pdu.tlvs == SubmitSm(sequence_number=1).tlvs


@dataclass(frozen=True, slots=True)
class WithPost:
    a: int

    def __post_init__(self) -> None:
        raise AssertionError("never built")


@dataclass(frozen=True, slots=True)
class WithInitVar:
    a: int
    seed: InitVar[int] = 0


@dataclass(frozen=True, slots=True)
class WithoutInit:
    a: int
    b: int = field(default=0, init=False)


@dataclass(slots=True)
class Mutable:
    a: int


@dataclass(frozen=True)
class NoSlots:
    a: int


class NotADataclass:
    __slots__ = ("a",)


@pytest.mark.parametrize(
    "cls", [WithPost, WithInitVar, WithoutInit, Mutable, NoSlots, NotADataclass]
)
def test_refuses_classes_it_cannot_copy(cls: type[Any]) -> None:
    with pytest.raises(TypeError):
        quick_init(cls)
