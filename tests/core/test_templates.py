from __future__ import annotations

import pytest

from textgate.core.templates import fields_of, render, tags_in


@pytest.mark.parametrize(
    ("text", "pairs", "expected"),
    [
        (
            "Hi [Name], welcome to [City]",
            [("Name", "John"), ("City", "Cremona")],
            "Hi John, welcome to Cremona",
        ),
        ("Hi [name]", [("NAME", "Ann")], "Hi Ann"),
        ("Hi [Name] [Name]", [("Name", "Bo")], "Hi Bo Bo"),
        ("Code [Code], not [a tag]", [("Code", "42")], "Code 42, not [a tag]"),
        ("Hi [Unknown]", [("Name", "x")], "Hi [Unknown]"),
        ("no tags", [("Name", "x")], "no tags"),
        ("[A][B]", [("A", "[B]"), ("B", "b")], "[B]b"),
        ("Hi [Name]", [], "Hi [Name]"),
        ("last wins [N]", [("N", "1"), ("n", "2")], "last wins 2"),
    ],
)
def test_render(text: str, pairs: list[tuple[str, str]], expected: str) -> None:
    assert render(text, fields_of(pairs)) == expected


def test_tags_in() -> None:
    assert tags_in("[a] [b.c] [a] [not a tag]") == ["a", "b.c"]


def test_blank_names_are_ignored() -> None:
    assert fields_of([(" ", "x"), ("A ", "y")]) == {"a": "y"}
