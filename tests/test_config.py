from __future__ import annotations

import os
from pathlib import Path

import pytest

from textgate.config import load_settings
from textgate.errors import ConfigError


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
    with pytest.raises(ConfigError, match="databse_url is not a setting"):
        load_settings(cfg)


def test_unknown_keys_are_refused_at_every_level(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        "[http]\nprot = 9000\n"
        "[webhooks]\nconcurency = 2\n"
        "[[connectors]]\nname = 'sim'\nin_dobut = 'fail'\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg)
    assert [p.split(" (")[0] for p in caught.value.problems] == [
        "http.prot is not a setting",
        "connectors[0].in_dobut is not a setting",
        "webhooks.concurency is not a setting",
    ]


def test_every_wrong_value_gets_its_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEXTGATE_HTTP__PORT", "0")
    monkeypatch.setenv("TEXTGATE_LOG_LEVEL", "loud")
    monkeypatch.setenv("TEXTGATE_DATABASE_URL", "mysql://app:s3cret@db/textgate")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    problems = caught.value.problems
    assert problems == (
        "database_url = 'mysql://app:***@db/textgate' (from TEXTGATE_DATABASE_URL): allowed: "
        "a URL starting with sqlite+aiosqlite:// or postgresql+asyncpg:// (the async drivers)",
        "log_level = 'LOUD' (from TEXTGATE_LOG_LEVEL): "
        "allowed: one of 'CRITICAL', 'ERROR', 'WARNING', 'INFO', 'DEBUG'",
        "http.port = '0' (from TEXTGATE_HTTP__PORT): allowed: an integer from 1 to 65535",
    )
    assert "s3cret" not in str(caught.value)


def test_environment_names_that_are_no_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TEXTGATE_"):
            monkeypatch.delenv(name)
    # Not settings, but not typos either: the phone command's, the test suite's.
    monkeypatch.setenv("TEXTGATE_PHONE_TOKEN", "x")
    monkeypatch.setenv("TEXTGATE_TEST_ANYTHING", "x")
    load_settings()
    monkeypatch.setenv("TEXTGATE_SECRET_KEY__PART", "x")
    monkeypatch.setenv("TEXTGATE_DISPATCHER", "x")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.problems == (
        "TEXTGATE_DISPATCHER is not a setting; did you mean TEXTGATE_DISPATCH?",
        "TEXTGATE_SECRET_KEY__PART is not a setting; did you mean TEXTGATE_SECRET_KEY?",
    )


def test_a_missing_config_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTGATE_CONFIG", str(tmp_path / "nowhere.toml"))
    with pytest.raises(ConfigError, match=r"nowhere\.toml' does not exist"):
        load_settings()


def test_the_demo_account_is_off_unless_asked_for() -> None:
    assert load_settings().demo_account is False
    assert load_settings(demo_account=True).demo_account is True
