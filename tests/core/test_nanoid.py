"""Phone ids: the app's 21-character nanoid format, never read as a command-line option."""

from __future__ import annotations

from textgate.core.devices import nanoid


def test_ids_have_the_apps_shape_and_no_leading_dash() -> None:
    ids = [nanoid() for _ in range(5000)]
    assert all(len(i) == 21 for i in ids)
    assert all(i[0].isalnum() for i in ids)  # "-J..." would be taken for an option
    assert any("-" in i[1:] or "_" in i[1:] for i in ids)  # the rest keeps the full alphabet
    assert len(set(ids)) == len(ids)
