"""Every operation of the served OpenAPI document, driven with generated requests (valid and
invalid) through the real HTTP server: none may answer with a server error, and the gateway
logs no unhandled exception while answering them.

Requests carry working credentials for each interface (the account's API key, its login,
an smsend session, a registered phone's token, the admin token), so that generated input
reaches the handlers rather than stopping at authentication. Generation is derandomized
(the same requests on every run) and bounded per operation, to keep the test short.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode

from tests.support import HTTP_TIMEOUT, Running, running_gateway
from textgate.config import Settings

ADMIN_TOKEN = "admin-token-for-generated-requests"
USERNAME = "fuzzer"
PASSWORD = "fuzzer-password-1"
# Examples per operation, of valid and of invalid input: the document has over a hundred
# operations, and the test must stay short on a busy 2-core machine.
EXAMPLES = {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 3}


@dataclass
class Credentials:
    api_key: str
    smsend: dict[str, str]
    device_token: str

    def headers_for(self, path: str) -> dict[str, str]:
        basic = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        if path.startswith("/v1/admin"):
            return {"authorization": f"Bearer {ADMIN_TOKEN}"}
        if path.startswith("/v1/"):
            return {"authorization": f"Bearer {self.api_key}"}
        if path == "/mobile/v1/device":
            return {"authorization": f"Bearer {self.api_key}"}
        if path.startswith("/mobile/v1/"):
            return {"authorization": f"Bearer {self.device_token}"}
        if path.startswith("/API/v1.0/REST/"):
            return dict(self.smsend)
        if path.lower().startswith(("/api/v2.0/", "/oauth2/")):
            return {"authorization": f"Basic {basic}"}
        return {"authorization": f"Bearer {self.api_key}"}


@dataclass
class Findings:
    server_errors: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_errors() -> Iterator[_Collect]:
    """ERROR records of the gateway and its HTTP server (uvicorn's loggers do not reach the
    root logger)."""
    handler = _Collect()
    loggers = [
        logging.getLogger(),
        logging.getLogger("uvicorn"),
        logging.getLogger("uvicorn.error"),
    ]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


async def _credentials(running: Running) -> Credentials:
    services = running.gateway.services
    account = await services.accounts.create("fuzz")
    api_key = (await services.accounts.issue_key(account.id)).token
    await services.credentials.set_login(account.id, USERNAME, PASSWORD)
    login = await running.client.get(
        "/API/v1.0/REST/login", params={"username": USERNAME, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    user_key, session_key = login.text.split(";")
    device = await running.client.post(
        "/mobile/v1/device",
        json={"name": "fuzz phone"},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert device.status_code == 201, device.text
    return Credentials(
        api_key=api_key,
        smsend={"user_key": user_key, "Session_key": session_key},
        device_token=device.json()["token"],
    )


def _exercise(raw: dict[str, Any], base_url: str, creds: Credentials) -> Findings:
    """Run every operation (blocking: schemathesis' requests are synchronous, so this runs
    in a thread while the gateway serves on the test's event loop)."""
    findings = Findings()
    schema = schemathesis.openapi.from_dict(raw)
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        headers = creds.headers_for(operation.path)
        for mode in EXAMPLES:
            if mode is GenerationMode.NEGATIVE and not _has_input(operation, headers):
                continue
            strategy = operation.as_strategy(mode)
            _run(strategy, EXAMPLES[mode], base_url, session, headers, findings)
    session.close()
    return findings


def _run(
    strategy: Any,
    examples: int,
    base_url: str,
    session: requests.Session,
    headers: dict[str, str],
    findings: Findings,
) -> None:
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def call(case: Case) -> None:
        # Credentials the case generated itself would be wrong ones: ours replace them.
        case.headers = {
            k: v for k, v in (case.headers or {}).items() if k.lower() not in _lower(headers)
        }
        response = case.call(
            base_url=base_url, session=session, headers=headers, timeout=HTTP_TIMEOUT
        )
        if response.status_code >= 500 and not _by_design(response):
            findings.server_errors.append(
                f"{response.status_code} {case.operation.label}: "
                f"{case.as_curl_command(headers=headers)}\n  -> {response.text[:300]}"
            )

    # Nothing invalid can be made of an operation without parameters or body.
    with contextlib.suppress(Unsatisfiable):
        call()


def _has_input(operation: Any, headers: dict[str, str]) -> bool:
    """Whether the operation has input that can be made invalid besides the credentials: a
    body, a query or header parameter, or a path parameter with a type or constraints (any
    text is a valid unconstrained path segment, and searching for an invalid one only burns
    the time budget)."""
    ours = _lower(headers)
    for parameter in operation.iter_parameters():
        if parameter.name.lower() in ours:
            continue
        schema = parameter.definition.get("schema", {})
        if (
            parameter.definition.get("in") != "path"
            or set(schema) - _PLAIN
            or (schema.get("type") != "string")
        ):
            return True
    return bool(operation.body.items)


# The keys of an unconstrained string parameter's schema.
_PLAIN = frozenset({"type", "title", "description"})


def _by_design(response: requests.Response) -> bool:
    """Answers in the 5xx range that their protocol prescribes: a SOAP fault travels with
    500 (SOAP 1.1, section 6.2: "the SOAP HTTP server MUST issue an HTTP 500 ... response
    and include a SOAP message in the response containing a SOAP Fault element"), and 501 is
    the device API's answer for what the gateway does not offer (one-time codes)."""
    if response.status_code == 501:
        return True
    return response.status_code == 500 and "<SOAP-ENV:Fault>" in response.text


def _lower(headers: dict[str, str]) -> set[str]:
    return {k.lower() for k in headers}


def _describe(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        text += f" ({type(exc).__name__}: {str(exc)[:200]})"
    return f"{record.name}: {text}"


async def test_generated_requests_get_no_server_error(
    db_url: str, tmp_path: Path, log_errors: _Collect
) -> None:
    gateway_settings = Settings(
        data_dir=tmp_path,
        database_url=db_url,
        demo_account=False,
        sqlite_synchronous="NORMAL",
        admin_token=ADMIN_TOKEN,
        # The phones' event stream stays open this long: generated requests open it too.
        android={"stream_max_seconds": 0.2},
        connectors=[{"name": "sim", "type": "simulator", "options": {"report_delay_ms": 50}}],
    )
    async with running_gateway(gateway_settings) as running:
        creds = await _credentials(running)
        raw = (await running.client.get("/openapi.json")).json()
        findings = await asyncio.to_thread(_exercise, raw, running.base_url, creds)
    logged = [_describe(r) for r in log_errors.records]
    problems = [*findings.server_errors, *logged]
    assert problems == [], "\n".join(problems)
