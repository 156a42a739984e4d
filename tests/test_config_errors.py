"""Settings that cannot run stop ``textgate serve`` (and the other commands) before anything
starts: one line on stderr naming the key, the value and what is allowed, exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import free_port
from textgate.config import Settings
from textgate.errors import ConfigError, NotFound
from textgate.runtime import Gateway
from textgate.startup import key_fingerprint
from textgate.storage.secrets import load_key

# Starting the interpreter and importing the gateway takes seconds on a loaded machine.
TIMEOUT = 120


def run_cli(
    *args: str, data_dir: Path, db_url: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # The parent's TEXTGATE_* (the test suite's own) stay out: only the case's settings.
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("TEXTGATE_")}
    clean.update(
        TEXTGATE_DATA_DIR=str(data_dir),
        TEXTGATE_DATABASE_URL=db_url,
        TEXTGATE_HTTP__PORT=str(free_port()),
    )
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "textgate", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused start printed."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


SMPP_WITHOUT_HOST = json.dumps(
    [{"name": "carrier", "type": "smpp", "options": {"system_id": "esme", "password": "pw"}}]
)

ENV_CASES = {
    "unknown variable": (
        {"TEXTGATE_HTTP_PORT": "9000"},
        "error: TEXTGATE_HTTP_PORT is not a setting; did you mean TEXTGATE_HTTP__PORT?",
    ),
    "negative port": (
        {"TEXTGATE_HTTP__PORT": "-1"},
        "error: http.port = '-1' (from TEXTGATE_HTTP__PORT): allowed: an integer from 1 to 65535",
    ),
    "port above 65535": (
        {"TEXTGATE_HTTP__PORT": "65536"},
        "error: http.port = '65536' (from TEXTGATE_HTTP__PORT): "
        "allowed: an integer from 1 to 65535",
    ),
    "smpp connector without host": (
        {"TEXTGATE_CONNECTORS": SMPP_WITHOUT_HOST},
        "error: connectors[0].options.host is required: "
        "the address of the SMSC connector 'carrier' binds to",
    ),
    "unknown connector type": (
        {"TEXTGATE_CONNECTORS": json.dumps([{"name": "x", "type": "smtp"}])},
        "error: connectors[0].type = 'smtp' (from TEXTGATE_CONNECTORS): "
        "allowed: one of 'simulator', 'smpp', 'android', 'smsend', 'generic_http', "
        "'mailup', 'smsmobileapi', 'twilio', 'vonage'",
    ),
    "generic connector template with an unknown placeholder": (
        {
            "TEXTGATE_CONNECTORS": json.dumps(
                [
                    {
                        "name": "up",
                        "type": "generic_http",
                        "options": {"url": "https://api.example.com/sms/{to}", "id_path": "id"},
                    }
                ]
            )
        },
        "error: connectors[0].options.url = 'https://api.example.com/sms/{to}': "
        "unknown placeholder {to}; allowed: {recipient}, {recipient_digits}, {sender}, {text}, "
        "{message_id}, {encoding}, {segments}, {valid_until}, {validity_seconds}, "
        "{callback_url}, {api_key}, {username}, {password}",
    ),
    "connector option of the wrong type": (
        {
            "TEXTGATE_CONNECTORS": json.dumps(
                [{"name": "sim", "type": "simulator", "options": {"latency_ms": "slow"}}]
            )
        },
        "error: connectors[0].options.latency_ms = 'slow': "
        "should be a valid number, unable to parse string as a number",
    ),
    "tls certificate without its key": (
        {"TEXTGATE_HTTP__TLS_CERT_FILE": str(Path(__file__))},
        "error: http.tls_cert_file and http.tls_key_file go together: set both or neither",
    ),
    "tls certificate file missing": (
        {"TEXTGATE_HTTP__TLS_CERT_FILE": "/no/such/cert.pem"},
        "error: http.tls_cert_file = '/no/such/cert.pem' (from TEXTGATE_HTTP__TLS_CERT_FILE): "
        "Path does not point to a file",
    ),
    "smpp server tls key without its certificate": (
        {"TEXTGATE_SMPP_SERVER__TLS_KEY_FILE": str(Path(__file__))},
        "error: smpp_server.tls_cert_file and smpp_server.tls_key_file go together: "
        "set both or neither",
    ),
    "smpp server tls certificate file missing": (
        {
            "TEXTGATE_SMPP_SERVER__TLS_CERT_FILE": "/no/such/cert.pem",
            "TEXTGATE_SMPP_SERVER__TLS_KEY_FILE": str(Path(__file__)),
        },
        "error: smpp_server.tls_cert_file = '/no/such/cert.pem' "
        "(from TEXTGATE_SMPP_SERVER__TLS_CERT_FILE): Path does not point to a file",
    ),
    "trusted proxy that is no address": (
        {"TEXTGATE_HTTP__TRUSTED_PROXIES": '["10.0.0.300"]'},
        "error: http.trusted_proxies[0] = '10.0.0.300' (from TEXTGATE_HTTP__TRUSTED_PROXIES): "
        "value is not a valid IPv4 or IPv6 network",
    ),
    "android priority beyond the app's byte": (
        {
            "TEXTGATE_CONNECTORS": json.dumps(
                [{"name": "phones", "type": "android", "options": {"high_priority": 300}}]
            )
        },
        'error: connectors[0].options = {"high_priority": 300}: '
        "android high_priority must be from 0 to 127",
    ),
    "unknown time zone": (
        {"TEXTGATE_DEFAULT_TIMEZONE": "Europe/Milano"},
        "error: default_timezone = 'Europe/Milano' (from TEXTGATE_DEFAULT_TIMEZONE): "
        "allowed: an IANA time zone such as Europe/Rome or UTC",
    ),
    "smpp server bind limit of zero": (
        {"TEXTGATE_SMPP_SERVER__MAX_BINDS_PER_ACCOUNT": "0"},
        "error: smpp_server.max_binds_per_account = '0' "
        "(from TEXTGATE_SMPP_SERVER__MAX_BINDS_PER_ACCOUNT): allowed: an integer from 1 to 1000",
    ),
    "route to no connector": (
        {"TEXTGATE_ROUTING__QUALITY": json.dumps({"high": "premium"})},
        "error: routing.quality.high = 'premium': allowed: the name of a connector ('simulator')",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(ENV_CASES))
def test_a_bad_environment_setting_is_one_line_and_status_2(
    case: str, db_url: str, tmp_path: Path
) -> None:
    env, line = ENV_CASES[case]
    result = run_cli("serve", data_dir=tmp_path / "data", db_url=db_url, env=env)
    assert refused(result) == line


TOML_CASES = {
    "typo in a section": (
        "[http]\nprot = 9000\n",
        "error: http.prot is not a setting (in {path}); did you mean port? "
        "([http] has: host, keep_alive_seconds, max_body_bytes, port, tls_cert_file, "
        "tls_key_file, trusted_proxies)",
    ),
    "typo at the top": (
        "databse_url = 'sqlite+aiosqlite:///x.db'\n",
        "error: databse_url is not a setting (in {path}); did you mean database_url?",
    ),
    "wrong type": (
        "[dispatch]\nbatch_size = 'many'\n",
        "error: dispatch.batch_size = 'many' (in {path}): allowed: an integer from 1 to 5000",
    ),
    "wrong boolean": (
        "[webhooks]\nenabled = 'maybe'\n",
        "error: webhooks.enabled = 'maybe' (in {path}): allowed: true or false",
    ),
    "zero lease": (
        "[dispatch]\nlease_seconds = 0\n",
        "error: dispatch.lease_seconds = 0 (in {path}): allowed: a number greater than 0",
    ),
    "typo in the smpp server section": (
        "[smpp_server]\nenabled = true\nmax_bind_per_account = 2\n",
        "error: smpp_server.max_bind_per_account is not a setting (in {path}); "
        "did you mean max_binds_per_account? ([smpp_server] has: bind_timeout_seconds, "
        "deliver, enabled, enquire_link_seconds, host, login_recheck_seconds, "
        "max_binds_per_account, port, reassembly_max_parts, reassembly_timeout_seconds, "
        "response_timeout_seconds, tls_cert_file, tls_key_file, window)",
    ),
    "unknown smpp option": (
        "[[connectors]]\nname = 'carrier'\ntype = 'smpp'\n"
        "options = { host = 'smsc.example.net', pasword = 'secret' }\n",
        "error: connectors[0].options.pasword is not an option of smpp connectors; "
        "did you mean password?",
    ),
    "routing rule to no connector": (
        "[[routing.rules]]\nname = 'fr'\ncountries = ['FR']\nconnectors = ['nowhere']\n",
        "error: routing.rules[0].connectors[0] = 'nowhere': "
        "allowed: the name of a connector ('simulator')",
    ),
    "routing rule with a country that is none": (
        "[[routing.rules]]\nname = 'x'\ncountries = ['XX']\nconnectors = ['simulator']\n",
        "error: routing.rules[0].countries[0] = 'XX' (in {path}): "
        "allowed: an ISO 3166-1 alpha-2 country code such as FR",
    ),
    "not TOML": (
        "[http\nport = 1\n",
        "error: {path} is not valid TOML: "
        "Expected ']' at the end of a table declaration (at line 1, column 6)",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(TOML_CASES))
def test_a_bad_config_file_is_one_line_and_status_2(case: str, db_url: str, tmp_path: Path) -> None:
    text, line = TOML_CASES[case]
    config = tmp_path / "textgate.toml"
    config.write_text(text)
    result = run_cli("serve", "--config", str(config), data_dir=tmp_path / "data", db_url=db_url)
    assert refused(result) == line.format(path=config)


@pytest.mark.slow
def test_a_secret_in_a_bad_value_is_not_printed(db_url: str, tmp_path: Path) -> None:
    connectors = [
        {
            "name": "carrier",
            "type": "smpp",
            "options": {"host": "h", "password": "hunter2-secret", "window": 0},
        }
    ]
    result = run_cli(
        "serve",
        data_dir=tmp_path / "data",
        db_url=db_url,
        env={"TEXTGATE_CONNECTORS": json.dumps(connectors)},
    )
    line = refused(result)
    assert line == (
        'error: connectors[0].options = {"host": "h", "password": "***", "window": 0}: '
        "window must be at least 1"
    )


@pytest.mark.slow
async def test_a_second_key_for_one_database_is_refused(db_url: str, tmp_path: Path) -> None:
    """Two processes with their own key files against one database: the second refuses, in
    one line, whether it is `serve`, `worker` or a command that opens the database."""
    first = Gateway(Settings(data_dir=tmp_path / "first", database_url=db_url))
    await first.start(dispatch=False, migrate=True)
    await first.stop()
    stored = (tmp_path / "first" / "secret.key").read_text().strip()
    theirs = key_fingerprint(stored)[:12]

    second = tmp_path / "second"
    for command in (["serve"], ["worker"], ["account", "create", "shop"]):
        result = run_cli(*command, data_dir=second, db_url=db_url)
        mine = key_fingerprint((second / "secret.key").read_text().strip())[:12]
        assert refused(result) == (
            f"error: secret_key (from the key file {second / 'secret.key'}, fingerprint "
            f"{mine}) is not the key this database was first used with (fingerprint "
            f"{theirs}): every process sharing a database needs the same secret_key"
        ), command
    # Nothing was written by the refused commands.
    check = Gateway(Settings(data_dir=tmp_path / "first", database_url=db_url))
    await check.start(dispatch=False, migrate=False)
    try:
        with pytest.raises(NotFound):
            await check.services.accounts.by_name("shop")
    finally:
        await check.stop()


async def test_the_same_key_in_another_data_dir_is_accepted(db_url: str, tmp_path: Path) -> None:
    a = Gateway(Settings(data_dir=tmp_path / "a", database_url=db_url, secret_key="shared key"))
    await a.start(dispatch=False, migrate=True)
    # A second process with the same key starts, while the first one runs.
    b = Gateway(Settings(data_dir=tmp_path / "b", database_url=db_url, secret_key="shared key"))
    await b.start(dispatch=False, migrate=True)
    await b.stop()
    c = Gateway(Settings(data_dir=tmp_path / "a", database_url=db_url, secret_key="another"))
    with pytest.raises(ConfigError, match="is not the key this database was first used with"):
        await c.start(dispatch=False, migrate=True)
    await c.stop()
    await a.stop()


def test_processes_starting_together_agree_on_the_key_file(tmp_path: Path) -> None:
    """The key file is made by whichever start comes first; the others read it whole, and
    no draft is left behind."""
    data_dir = tmp_path / "data"
    barrier = threading.Barrier(16)

    def start() -> str:
        barrier.wait()
        return load_key(data_dir)

    with ThreadPoolExecutor(16) as pool:
        keys = list(pool.map(lambda _: start(), range(16)))
    assert len(set(keys)) == 1 and keys[0]
    assert [p.name for p in data_dir.iterdir()] == ["secret.key"]
