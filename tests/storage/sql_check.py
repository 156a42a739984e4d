"""A checker of the SQL written as strings in ``textgate.storage`` against the table metadata.

Statements for the transaction runner (``storage.txn``) are plain strings, often assembled
from pieces: module constants, conditions appended to a list, a table named by a caller. So
the checker reads SQL from two places:

- the modules' attributes once imported: whole statements kept in constants, and the
  statements of objects built at import, with every piece in place;
- the modules' source: every string literal that reads as SQL, whole statement or piece,
  with the module's constants put into its f-strings (other values left blank).

In each string it checks every name:

- after ``FROM``, ``JOIN``, ``INTO`` and ``UPDATE``: a table of the metadata (or a name the
  statement defines itself, ``WITH x AS (...)`` or ``(SELECT ...) x``);
- ``alias.column``: a column of the table the alias stands for (``excluded``: the table
  inserted into);
- any other name that is not an SQL word, a function, or an output name (``AS x``): a column
  of one of the tables in scope. A piece that names no table takes the tables named by the
  other strings of its function, else of its module, else any table.

It is a scanner, not a parser: it knows the SQL this code writes and refuses what it does
not know (an unknown word fails the check), so a new construct is added here on purpose.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import MetaData, TextClause

from textgate.storage.txn import Many, Query

__all__ = ["Found", "check_module", "check_sql", "collect", "storage_modules"]

# Words of the SQL this code writes (SQLite and PostgreSQL), and the types it casts to.
KEYWORDS = frozenset(
    re.findall(
        r"\w+",
        """
    select from where and or not in is null as on join left inner outer cross order by group
    having limit offset desc asc insert into values update set delete returning conflict do
    nothing case when then else end distinct union all exists between like escape with for
    skip locked nowait of true false any epoch bigint integer text double precision ignore
    """,
    )
)
_CAST = re.compile(r"::\w+")
_NAMED_PARAM = re.compile(r":\w+")
_FORMAT_FIELD = re.compile(r"\{\w*\}")
_STRING = re.compile(r"'(?:[^']|'')*'")
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?|\S")
_TABLE_BEFORE = frozenset({"from", "join", "into", "update"})
# A string is SQL when it starts as a statement, or has a bound parameter or an SQL clause
# word in capitals (the prose of error messages and logs has neither).
_LOOKS_SQL = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b|(?:[=<>(,]|\bIN|\bLIKE)\s*\?"
    r"|\b(WHERE|AND|OR|ORDER BY|GROUP BY|SET|FROM|JOIN|IS NULL|IS NOT NULL|ON CONFLICT"
    r"|RETURNING|LIMIT)\b"
)


@dataclass(frozen=True, slots=True)
class Found:
    """One SQL string: where it is and the scope it is checked in."""

    where: str
    """``module:line`` in the source, or ``module.attribute`` once imported."""
    sql: str
    scope: str = ""
    """The outermost function it is written in ("" at module or class level)."""


@dataclass(slots=True)
class _Names:
    tables: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)
    """alias -> table ("" for a subquery or a WITH name, whose columns are not checked)."""
    outputs: set[str] = field(default_factory=set)

    def add(self, other: _Names) -> None:
        self.tables |= other.tables
        self.aliases.update(other.aliases)
        self.outputs |= other.outputs


def storage_modules() -> list[str]:
    import textgate.storage

    root = Path(textgate.storage.__file__).parent
    return sorted(f"textgate.storage.{p.stem}" for p in root.glob("*.py") if p.stem != "__init__")


def collect(module_name: str, source: str | None = None) -> list[Found]:
    """Every SQL string of the module, from its source (``source`` stands in for the file
    when given) and from its attributes."""
    module = importlib.import_module(module_name)
    if source is None:
        assert module.__file__ is not None
        source = Path(module.__file__).read_text()
    return _from_source(module_name, source, vars(module)) + _from_attributes(
        module_name, vars(module)
    )


def _from_attributes(module_name: str, attrs: dict[str, object]) -> list[Found]:
    found: list[Found] = []

    def add(where: str, value: object) -> None:
        if isinstance(value, TextClause):
            value = value.text
        if isinstance(value, Query | Many):
            for sql in (value.sql, getattr(value, "pg_sql", None)):
                add(where, sql)
        elif isinstance(value, str) and _LOOKS_SQL.search(value):
            found.append(Found(f"{module_name}.{where}", value))

    for name, value in attrs.items():
        if name.startswith("__"):
            continue
        if type(value).__module__.startswith("textgate.storage"):
            for inner in getattr(type(value), "__slots__", ()) or vars(value):
                add(f"{name}.{inner}", getattr(value, inner, None))
        else:
            add(name, value)
    return found


def _from_source(module_name: str, source: str, constants: dict[str, object]) -> list[Found]:
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found: list[Found] = []

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = scope
            if not scope and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = child.name
            text: str | None = None
            if isinstance(child, ast.JoinedStr):
                text = _render(child, constants)
            elif isinstance(child, ast.Constant) and isinstance(child.value, str):
                text = None if id(child) in docstrings else child.value
            else:
                visit(child, inner)
                continue
            if text is not None and _LOOKS_SQL.search(text):
                found.append(Found(f"{module_name}:{child.lineno}", text, scope))

    visit(tree, "")
    return found


def _render(node: ast.JoinedStr, constants: dict[str, object]) -> str:
    """The f-string with module constants in place; other values become a blank (what they
    stand for is checked where it is written)."""
    out: list[str] = []
    for part in node.values:
        if isinstance(part, ast.Constant):
            out.append(str(part.value))
        elif isinstance(part, ast.FormattedValue):
            value = constants.get(part.value.id) if isinstance(part.value, ast.Name) else None
            out.append(str(value) if isinstance(value, str | int) else " ")
    return "".join(out)


def _tokens(sql: str) -> list[str]:
    sql = sql.replace("{in}", "(?)")
    for pattern, blank in ((_STRING, "''"), (_CAST, ""), (_NAMED_PARAM, "?"), (_FORMAT_FIELD, " ")):
        sql = pattern.sub(blank, sql)
    return _TOKEN.findall(sql)


def _is_name(tok: str) -> bool:
    return bool(tok) and (tok[0].isalpha() or tok[0] == "_") and tok.lower() not in KEYWORDS


def _names(sql: str, metadata: MetaData) -> _Names:
    """The tables a string names, the aliases it gives them and the output names it makes."""
    names = _Names()
    toks = [*_tokens(sql), "", "", ""]
    for i, tok in enumerate(toks[:-3]):
        low, nxt, after = tok.lower(), toks[i + 1], toks[i + 2]
        is_table = _is_name(nxt) and (
            low == "into"
            or (low in _TABLE_BEFORE and after != "(")  # not FROM a function
            or (low == "," and nxt in metadata.tables and after != "(")  # FROM a, b
        )
        if is_table:
            names.tables.add(nxt)
            alias = toks[i + 3] if after.lower() == "as" else after
            if _is_name(alias) and "." not in alias:
                names.aliases[alias] = nxt
        elif low == "as" and _is_name(nxt):
            if after == "(":  # WITH name AS (...)
                names.aliases[nxt] = ""
            names.outputs.add(nxt)
        elif tok == ")" and _is_name(nxt) and "." not in nxt:
            names.aliases[nxt] = ""  # (SELECT ...) name
    return names


def check_sql(sql: str, metadata: MetaData, context: _Names | None = None) -> list[str]:
    """The problems of one string. ``context``: the names of its function and module, for
    a piece that names no table or uses an alias given elsewhere."""
    own = _names(sql, metadata)
    names = _Names()
    if context is not None:
        names.add(context)
    names.add(own)
    scope_tables = own.tables or names.tables or set(metadata.tables)
    problems = [
        f"no table {t!r}"
        for t in sorted(own.tables)
        if t not in metadata.tables and names.aliases.get(t) != ""
    ]
    tables = [metadata.tables[t] for t in sorted(scope_tables) if t in metadata.tables]
    into = [t for t in tables if t.name in own.tables]
    toks = [*_tokens(sql), ""]
    for i, tok in enumerate(toks[:-1]):
        if not _is_name(tok):
            continue
        prev, nxt = (toks[i - 1].lower() if i else ""), toks[i + 1]
        if "." in tok:
            qualifier, column = tok.split(".")
            table = names.aliases.get(qualifier, qualifier)
            if qualifier.lower() == "excluded" and into:
                table = into[0].name
            if table in metadata.tables:
                if column not in metadata.tables[table].c:
                    problems.append(f"no column {column!r} in {table!r} ({tok})")
            elif table != "":
                problems.append(f"unknown table or alias {qualifier!r} ({tok})")
        elif not (
            nxt == "("  # a function
            or prev in _TABLE_BEFORE
            or (prev in {"as", ","} and tok in own.tables)
            or tok in names.aliases
            or tok in names.outputs
            or any(tok in t.c for t in tables)
        ):
            problems.append(f"no column {tok!r} in {', '.join(t.name for t in tables)}")
    return problems


def check_module(
    module_name: str, metadata: MetaData, source: str | None = None
) -> Iterator[tuple[Found, str]]:
    """Each problem of the module's SQL strings, with the string it is in."""
    found = collect(module_name, source)
    module_names = _Names()
    by_scope: dict[str, _Names] = {}
    for f in found:
        n = _names(f.sql, metadata)
        module_names.add(n)
        by_scope.setdefault(f.scope, _Names()).add(n)
    for f in found:
        context = _Names(aliases=dict(module_names.aliases), outputs=set(module_names.outputs))
        scope = by_scope[f.scope] if f.scope else _Names()
        context.add(scope)
        context.tables = scope.tables or module_names.tables
        for problem in check_sql(f.sql, metadata, context):
            yield f, problem
