"""Frozen, slotted dataclasses built at a mutable one's cost.

``@dataclass(frozen=True)`` makes ``__init__`` assign every field through
``object.__setattr__(self, name, value)`` (the class's own ``__setattr__`` refuses), a
global lookup and a generic call per field: about six times what a mutable dataclass's
``__init__`` costs (1.6 µs against 0.27 for fifteen fields on the benchmark VM). The hot
path builds about eighteen such values a message (the request, the message, the claim, the
PDUs, the report, the outcome...): that generated code was a tenth of the gateway's samples
through SMPP, and this halves it (bench/RESULTS.md, "Kept: frozen values without
`object.__setattr__`"; bench/frozen_init.py).

``quick_init`` replaces such a class's ``__init__`` with one that stores each field through
its slot's own descriptor (``member_descriptor.__set__``, what ``object.__setattr__`` ends
in after its lookups). The instance is as frozen as before: the class's ``__setattr__`` and
``__delattr__`` are untouched. Only the plain shape is accepted (every field in ``__init__``,
no ``__post_init__``, no ``InitVar``); anything else keeps dataclasses' own ``__init__``
by raising at import, so a class cannot silently lose its checks.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, TypeVar

T = TypeVar("T")

_MISSING = dataclasses.MISSING


class _Unset:
    """Marks a parameter whose default comes from a factory (dataclasses' own idea)."""

    def __repr__(self) -> str:
        return "<factory default>"


_UNSET = _Unset()


def quick_init(cls: type[T]) -> type[T]:
    """Give the frozen, slotted dataclass ``cls`` a cheaper ``__init__`` (same signature)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__qualname__}: quick_init takes a frozen, slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__qualname__}: quick_init would skip __post_init__")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    scope: dict[str, Any] = {"_UNSET": _UNSET}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for f in fields:
        if not f.init:
            raise TypeError(f"{cls.__qualname__}.{f.name}: quick_init needs it in __init__")
        param = f.name
        if f.default is not _MISSING:
            scope[f"_d_{f.name}"] = f.default
            param += f"=_d_{f.name}"
        elif f.default_factory is not _MISSING:
            scope[f"_f_{f.name}"] = f.default_factory
            param += "=_UNSET"
            body.append(f"    if {f.name} is _UNSET: {f.name} = _f_{f.name}()")
        (keyword if f.kw_only else positional).append(param)
        scope[f"_s_{f.name}"] = _slot(cls, f.name).__set__
        body.append(f"    _s_{f.name}(self, {f.name})")
    signature = ["self", *positional]
    if keyword:
        signature += ["*", *keyword]
    source = f"def __init__({', '.join(signature)}) -> None:\n" + "\n".join(body or ["    pass"])
    exec(source, scope)  # noqa: S102 - dataclasses builds its __init__ the same way
    init = scope["__init__"]
    if _shape(init) != _shape(cls.__init__):  # an InitVar, say: not a plain class
        raise TypeError(f"{cls.__qualname__}: quick_init cannot match its __init__")
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.dataclass_init = cls.__init__  # what it replaces (bench/frozen_init.py times both)
    cls.__init__ = init  # type: ignore[method-assign]  # the point of this function
    return cls


def _shape(init: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.kind) for p in inspect.signature(init).parameters.values()]


def _slot(cls: type, name: str) -> Any:
    """The member descriptor of slot ``name`` (on ``cls`` or the base that declared it)."""
    for klass in cls.__mro__:
        found = klass.__dict__.get(name)
        if found is not None and type(found).__name__ == "member_descriptor":
            return found
    raise TypeError(f"{cls.__qualname__}.{name} is not a slot")
