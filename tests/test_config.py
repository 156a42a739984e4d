from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from textgate.config import load_settings


def test_defaults_are_embedded() -> None:
    s = load_settings()
    assert s.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert (s.http.host, s.http.port) == ("127.0.0.1", 8080)
    assert [c.type for c in s.connectors] == ["simulator"]


def test_toml_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "textgate.toml"
    cfg.write_text(
        'database_url = "postgresql+asyncpg://db/textgate"\n'
        "[http]\nport = 9000\n"
        "[dispatch]\nbatch_size = 50\n"
        '[[connectors]]\nname = "fast"\ntype = "simulator"\noptions = { latency_ms = 5 }\n'
    )
    s = load_settings(cfg)
    assert s.http.port == 9000 and s.dispatch.batch_size == 50
    assert s.connectors[0].name == "fast" and s.connectors[0].options == {"latency_ms": 5}
    assert not s.is_sqlite
    monkeypatch.setenv("TEXTGATE_HTTP__PORT", "9100")
    monkeypatch.setenv("TEXTGATE_LOG_LEVEL", "DEBUG")
    s = load_settings(cfg)
    assert s.http.port == 9100 and s.log_level == "DEBUG" and s.dispatch.batch_size == 50


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("databse_url = 'typo'\n")
    with pytest.raises(ValidationError):
        load_settings(cfg)
