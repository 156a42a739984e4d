"""No secret reaches a log record at any level: every logger of the process (the gateway's,
the HTTP server's, SQLAlchemy's, the database drivers') is turned to DEBUG while clients use
a MailUp ListSecret, a webhook signing secret, an API key and a password login."""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Iterator

from sqlalchemy import text

from tests.support import running_gateway
from textgate.config import Settings, WebhookSettings
from textgate.storage.db import Database
from textgate.storage.txn import Query, Txn

USERNAME, PASSWORD = "m10001", "correct horse battery staple"
IT = "+393350000001"


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        # What any handler could write: the merged message, the raw arguments, the traceback.
        parts = [record.getMessage(), repr(record.args), repr(record.msg)]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        self.records.append((record.name, " ".join(parts)))


@contextlib.contextmanager
def _all_logs_at_debug() -> Iterator[_Everything]:
    handler = _Everything()
    root = logging.getLogger()
    loggers = [root] + [
        logging.getLogger(name)
        for name, found in list(logging.root.manager.loggerDict.items())
        if isinstance(found, logging.Logger)
    ]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        # Loggers that do not pass records up (uvicorn's) get the handler themselves.
        if lg is root or not lg.propagate:
            lg.addHandler(handler)
    try:
        yield handler
    finally:
        for lg, level in saved:
            lg.setLevel(level)
            lg.removeHandler(handler)


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_secrets_reach_no_log_record(settings: Settings) -> None:
    tuned = settings.model_copy(
        update={"webhooks": WebhookSettings(allow_private_targets=True, enabled=False)}
    )
    with _all_logs_at_debug() as logs:
        async with running_gateway(tuned) as running:
            # Loggers made while the gateway started (uvicorn configures its own) count too.
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy"):
                logging.getLogger(name).setLevel(logging.DEBUG)
            services = running.gateway.services
            account = await services.accounts.create("acme")
            api_key = (await services.accounts.issue_key(account.id)).token
            bearer = {"Authorization": f"Bearer {api_key}"}
            await running.gateway.credentials.set_login(account.id, USERNAME, PASSWORD)
            mailing = await services.lists.create(
                account.id, "customers", default_prefix="39", sms_sender="ACME"
            )
            c = running.client
            # MailUp: the ListSecret made, read back, and used to send and to look up.
            made = await c.post(
                f"/api/v2.0/lists/{mailing.list_id}/listsecret",
                json={"ListGUID": mailing.guid},
                headers=_basic(USERNAME, PASSWORD),
            )
            assert made.status_code == 200, made.text
            list_secret = made.json()["Data"]["ListSecret"]
            shown = await c.get(
                f"/api/v2.0/lists/{mailing.list_id}/listsecret", headers=_basic(USERNAME, PASSWORD)
            )
            assert shown.json()["Data"]["ListSecret"] == list_secret
            sent = await c.post(
                f"/api/v2.0/sms/10001/{mailing.list_id}",
                json={
                    "Content": "Your code is 1234",
                    "ListGuid": mailing.guid,
                    "ListSecret": list_secret,
                    "Recipient": IT,
                },
            )
            assert sent.status_code == 200, sent.text
            looked = await c.get(
                f"/api/v2.0/sms/10001/{mailing.list_id}/{sent.json()['Data']['DeliveryId']}",
                params={"ListGuid": mailing.guid, "ListSecret": list_secret},
            )
            assert looked.status_code == 200, looked.text
            wrong = await c.post(
                f"/api/v2.0/sms/10001/{mailing.list_id}",
                json={
                    "Content": "x",
                    "ListGuid": mailing.guid,
                    "ListSecret": list_secret[::-1],
                    "Recipient": IT,
                },
            )
            assert wrong.status_code == 400
            # A webhook's signing secret, made and rotated.
            hook = await c.post(
                "/v1/webhooks",
                json={"url": "http://127.0.0.1:9/hook", "events": ["message.*"]},
                headers=bearer,
            )
            assert hook.status_code == 201, hook.text
            rotated = await c.post(f"/v1/webhooks/{hook.json()['id']}/secret", headers=bearer)
            assert rotated.status_code in (200, 201), rotated.text
            # The API key at work, and a password login (smsend) with a wrong one first.
            assert (await c.get("/v1/account", headers=bearer)).status_code == 200
            refused = await c.get(
                "/API/v1.0/REST/login", params={"username": USERNAME, "password": "nope"}
            )
            assert refused.status_code == 401
            login = await c.get(
                "/API/v1.0/REST/login", params={"username": USERNAME, "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            session_key = login.text.split(";")[1]
    secrets = {
        "ListSecret": list_secret,
        "webhook secret": hook.json()["secret"],
        "rotated webhook secret": rotated.json()["secret"],
        "API key": api_key,
        "API key secret part": api_key.split("_", 2)[2],
        "password": PASSWORD,
        "smsend session key": session_key,
    }
    # The test's own HTTP client logs the URLs it calls (the gateway's are its own affair).
    texts = [
        text
        for logger, text in logs.records
        if not (logger == "httpx" and running.base_url in text)
    ]
    assert len(texts) > 100, "the capture saw (next to) nothing"
    assert any(logger.startswith("aiosqlite") for logger, _ in logs.records) or not (
        running.gateway.db.is_sqlite
    ), "the database driver's records were not captured"
    for name, secret in secrets.items():
        leaks = [t for t in texts if secret in t]
        assert not leaks, f"{name} in a log record: {leaks[0][:500]}"


async def test_statement_arguments_and_rows_reach_no_log_record(db_url: str) -> None:
    """Whatever a statement carries (a secret a future change might put in one) stays out of
    the logs, on both ways the gateway talks to its database."""
    marker = "tg-marker-7f3a9c1e"
    with _all_logs_at_debug() as logs:
        db = Database(db_url)
        try:
            for name in ("sqlalchemy", "sqlalchemy.engine", "sqlalchemy.engine.Engine"):
                logging.getLogger(name).setLevel(logging.DEBUG)
            async with db.read() as conn:
                row = (await conn.execute(text("SELECT :p AS v"), {"p": marker})).one()
            assert row.v == marker

            def txn() -> Txn[str]:
                rows = yield Query("SELECT ? AS v", (marker,))
                assert rows is not None
                return str(rows[0]["v"])

            assert await db.txn(txn) == marker
        finally:
            await db.dispose()
    assert any(logger.startswith("sqlalchemy.engine") for logger, _ in logs.records)
    leaks = [t for _, t in logs.records if marker in t]
    assert not leaks, leaks[0][:500]
