"""Every table and column named in the SQL strings of ``textgate.storage`` exists in the
schema (``storage.tables``), and the check fails when one is misspelled."""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path

import pytest

from tests.storage.sql_check import check_module, check_sql, collect, storage_modules
from textgate.storage.outbox import Outbox
from textgate.storage.tables import mail_outbox, metadata

_RUNNER_CALLS = frozenset({"Query", "Many", "in_list", "text"})


def _problems(module: str, source: str | None = None) -> list[str]:
    return [f"{f.where}: {p} in {f.sql!r}" for f, p in check_module(module, metadata, source)]


def _source(module: str) -> str:
    file = importlib.import_module(module).__file__
    assert file is not None
    return Path(file).read_text()


def test_every_sql_string_names_tables_and_columns_of_the_schema() -> None:
    problems = [p for module in storage_modules() for p in _problems(module)]
    assert problems == []


@functools.cache
def _attributes() -> frozenset[str]:
    """The names of the attributes (module constants, attributes of objects built at import)
    whose statements are checked."""
    return frozenset(f.where.rsplit(".", 1)[-1] for m in storage_modules() for f in collect(m))


# The runner itself: ``in_list`` rewrites the template it is given, checked where written.
_RUNNER = "textgate.storage.txn"


@pytest.mark.parametrize("module", [m for m in storage_modules() if m != _RUNNER])
def test_every_statement_handed_to_the_database_is_read(module: str) -> None:
    """Each call that hands SQL over (``Query``, ``Many``, ``in_list``, ``text``) has its
    statement among the strings checked: written in place, a checked attribute, or a
    variable of the module given a checked string or attribute."""
    tree = ast.parse(_source(module))
    checked_lines = {int(f.where.rsplit(":", 1)[1]) for f in collect(module) if ":" in f.where}
    attributes = _attributes()
    parameters = {
        a.arg
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        for a in f.args.args + f.args.kwonlyargs
    }
    unread = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _RUNNER_CALLS
            and node.args
        ):
            continue
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and arg.value == "":
            continue  # Query("") runs only on PostgreSQL, its pg_sql is read on its own
        lines = {n.lineno for n in ast.walk(arg) if isinstance(n, ast.Constant | ast.JoinedStr)}
        if lines & checked_lines:
            continue
        if isinstance(arg, ast.Name) and (
            arg.id in attributes
            or arg.id in parameters  # checked where the callers write it
            or _assigned(tree, arg, checked_lines, attributes)
        ):
            continue
        if isinstance(arg, ast.Attribute) and arg.attr in attributes:
            continue
        unread.append(f"{module}:{node.lineno}: {ast.unparse(arg)}")
    assert unread == []


def _assigned(
    tree: ast.AST, name: ast.Name, checked_lines: set[int], attributes: frozenset[str]
) -> bool:
    """Whether a variable of that name is given (or extended with) a checked string or
    attribute."""
    for node in ast.walk(tree):
        targets: list[ast.expr]
        value: ast.expr | None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets, value = [node.target], node.value
        else:
            continue
        named = [n for t in targets for n in (t, *getattr(t, "elts", ()))]
        if value is None or not any(isinstance(n, ast.Name) and n.id == name.id for n in named):
            continue
        if any(
            (isinstance(n, ast.Constant | ast.JoinedStr) and n.lineno in checked_lines)
            or (isinstance(n, ast.Name) and n.id in attributes)
            for n in ast.walk(value)
        ):
            return True
    return False


@pytest.mark.parametrize(
    ("module", "written", "misspelled", "wrong"),
    [
        # a column set by an UPDATE on the dispatch path
        ("textgate.storage.queue", "report_check_at = ?", "report_chek_at = ?", "report_chek_at"),
        # a table read by the report path
        (
            "textgate.storage.reports",
            "FROM pending_reports",
            "FROM pending_report",
            "pending_report",
        ),
        # a column in the column list of an INSERT of the order path
        (
            "textgate.storage.orders",
            "INSERT INTO message_targets (message_id, target_id)",
            "INSERT INTO message_targets (message_id, targt_id)",
            "targt_id",
        ),
        # a column in the column list of a ledger INSERT (the order path's charge)
        (
            "textgate.storage.credits",
            "INSERT INTO ledger (account_id, kind, amount, balance_after,",
            "INSERT INTO ledger (account_id, kind, amount, balance_afterwards,",
            "balance_afterwards",
        ),
        # a clause appended in a function, on an alias given in a module constant
        (
            "textgate.storage.device_sweep",
            " ORDER BY m.created_at, m.id",
            " ORDER BY m.created, m.id",
            "created",
        ),
    ],
)
def test_a_misspelled_name_fails_the_check(
    module: str, written: str, misspelled: str, wrong: str
) -> None:
    source = _source(module)
    assert written in source
    assert _problems(module, source) == []
    problems = _problems(module, source.replace(written, misspelled, 1))
    assert any(repr(wrong) in p for p in problems), problems
    assert all(wrong in p for p in problems), problems


def test_queue_statements_are_built_on_the_schema() -> None:
    """The queues' ``Outbox`` builds its statements on the table's columns (SQLAlchemy
    Core), so a column the table lacks fails when the module is imported."""
    Outbox(mail_outbox, done_status="sent", done_column="sent_at")
    with pytest.raises(KeyError, match="sent_on"):
        Outbox(mail_outbox, done_status="sent", done_column="sent_on")


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("SELECT d.nam FROM devices d WHERE d.id = ?", "no column 'nam' in 'devices' (d.nam)"),
        ("SELECT id FROM device WHERE id = ?", "no table 'device'"),
        ("UPDATE messages SET stauts = ? WHERE id = ?", "no column 'stauts' in messages"),
        ("SELECT x.id FROM messages m", "unknown table or alias 'x' (x.id)"),
        ("DELETE FROM ledger WHERE acount_id = ?", "no column 'acount_id' in ledger"),
        # the row an upsert proposed (``excluded``)
        (
            "INSERT INTO link_leases (connector, bind_index, owner, expires_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (connector, bind_index)"
            " DO UPDATE SET owner = excluded.ownr",
            "no column 'ownr' in 'link_leases' (excluded.ownr)",
        ),
    ],
)
def test_the_checker_names_what_is_wrong(sql: str, problem: str) -> None:
    assert problem in check_sql(sql, metadata)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT m.id, COUNT(*) AS n FROM messages m JOIN orders o ON o.id = m.order_id"
        " WHERE m.status IN {in} GROUP BY m.id ORDER BY n DESC LIMIT 5",
        "INSERT INTO link_members (connector, owner, expires_at) VALUES (?, ?, ?)"
        " ON CONFLICT (connector, owner) DO UPDATE SET expires_at = excluded.expires_at",
        "SELECT x.n FROM (SELECT COUNT(*) AS n FROM ledger) x",
        "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now",
    ],
)
def test_the_checker_accepts_what_the_schema_has(sql: str) -> None:
    assert check_sql(sql, metadata) == []
