"""Metrics, readiness and logs through the real server."""

from __future__ import annotations

import io
import logging
import re

import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.support import Running, free_port, running_gateway, until
from textgate.config import ConnectorSettings, Settings
from textgate.observability.logs import JsonFormatter, Redactor, configure_logging

NUMBER = "+33612345678"


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def _wait_delivered(gateway: Running, auth: dict[str, str], message_id: str) -> None:
    async def delivered() -> bool:
        r = await gateway.client.get(f"/v1/messages/{message_id}", headers=auth)
        return bool(r.json()["status"] == "delivered")

    await until(delivered, f"{message_id} to be delivered")


async def test_metrics_count_messages_latency_and_connector_state(
    gateway: Running, auth: dict[str, str]
) -> None:
    sent = await gateway.client.post(
        "/v1/messages", json={"to": [NUMBER, "+33612345679"], "text": "hi"}, headers=auth
    )
    assert sent.status_code == 202
    for m in sent.json()["messages"]:
        await _wait_delivered(gateway, auth, m["id"])

    r = await gateway.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples = _samples(r.text)
    key = ("textgate_messages", (("connector", "sim"), ("status", "delivered")))
    assert samples[key] == 2.0
    assert samples[("textgate_submit_seconds_count", (("interface", "native"),))] == 1.0
    assert samples[("textgate_queue_depth", ())] == 0.0
    assert samples[("textgate_messages_in_doubt", ())] == 0.0
    assert samples[("textgate_webhook_backlog", ())] == 0.0
    assert samples[("textgate_connector_up", (("connector", "sim"), ("type", "simulator")))] == 1.0
    assert samples[("textgate_database_up", ())] == 1.0
    # Other requests by route template (never by path: ids would make a series each).
    lookups = (
        "textgate_http_request_seconds_count",
        (("method", "GET"), ("route", "/v1/messages/{message_id}")),
    )
    assert samples[lookups] >= 2.0
    assert not any("01" in dict(labels).get("route", "") for _, labels in samples)
    await gateway.client.get("/no/such/page")
    samples = _samples((await gateway.client.get("/metrics")).text)
    unmatched = ("textgate_http_request_seconds_count", (("method", "GET"), ("route", "unmatched")))
    assert samples[unmatched] == 1.0


async def test_queue_depth_counts_scheduled_messages(
    gateway: Running, auth: dict[str, str]
) -> None:
    r = await gateway.client.post(
        "/v1/messages",
        json={"to": NUMBER, "text": "later", "schedule_at": "2099-01-01T00:00:00Z"},
        headers=auth,
    )
    assert r.status_code == 202, r.text
    samples = _samples((await gateway.client.get("/metrics")).text)
    assert samples[("textgate_queue_depth", ())] == 1.0
    assert samples[("textgate_messages", (("connector", ""), ("status", "scheduled")))] == 1.0


async def test_readyz_reports_database_and_connectors(gateway: Running) -> None:
    r = await gateway.client.get("/readyz")
    assert r.status_code == 200
    newest = r.json()["migrations"]["newest"]
    assert newest
    assert r.json() == {
        "status": "ready",
        "reasons": [],
        "database": True,
        "migrations": {"applied": newest, "newest": newest, "behind": False},
        "connectors": {"sim": "n/a"},
        "required": ["sim"],
        "links": {"sim": []},
    }


async def test_readyz_is_503_while_the_only_smpp_link_is_down(settings: Settings) -> None:
    # An SMPP connector pointed at a closed loopback port never binds.
    carrier = ConnectorSettings(
        name="carrier",
        type="smpp",
        options={"host": "127.0.0.1", "port": free_port(), "system_id": "x"},
    )
    down = settings.model_copy(update={"connectors": [carrier]})
    async with running_gateway(down) as running:
        r = await running.client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["connectors"] == {"carrier": False}
        assert r.json()["reasons"] == ["connector carrier: no link up"]
        [link] = r.json()["links"]["carrier"]
        assert link["link"] == "carrier" and link["state"] == "down"
        assert "connect to 127.0.0.1" in link["last_error"] and link["since"]
        metrics = _samples((await running.client.get("/metrics")).text)
        up = ("textgate_connector_up", (("connector", "carrier"), ("type", "smpp")))
        assert metrics[up] == 0.0
        assert metrics[("textgate_connector_links_up", (("connector", "carrier"),))] == 0.0
        assert metrics[("textgate_link_up", (("connector", "carrier"), ("link", "carrier")))] == 0


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("textgate.test", logging.WARNING, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_json_log_lines_carry_message_ids_and_no_secrets() -> None:
    key = "tg_0123456789ab_" + "S3cretS3cretS3cretS3cret"
    record = _record("delivery of message %s failed with key %s", "01JZ7Q5W8V3M2K1N0P9R8S7T6V", key)
    assert Redactor().filter(record)
    line = orjson.loads(JsonFormatter().format(record))
    assert line["level"] == "warning"
    assert line["logger"] == "textgate.test"
    assert line["message_ids"] == ["01JZ7Q5W8V3M2K1N0P9R8S7T6V"]
    assert "S3cret" not in line["message"]
    assert "tg_0123456789ab_***" in line["message"]

    explicit = _record("sent", message_id="01JZ7Q5W8V3M2K1N0P9R8S7T6V", connector="sim")
    line = orjson.loads(JsonFormatter().format(explicit))
    assert line["message_id"] == "01JZ7Q5W8V3M2K1N0P9R8S7T6V"
    assert line["connector"] == "sim"


def test_redactor_masks_passwords_bearer_tokens_and_url_credentials() -> None:
    record = _record(
        "login password=hunter22 via postgresql://app:pgpass@db/x"
        " with Authorization: Bearer abc.def; GET /oauth2/token?client_secret=cs-9876"
        " ListSecret=ls-5432 apikey=k-1111"
    )
    Redactor().filter(record)
    text = record.getMessage()
    for secret in ("hunter22", "pgpass", "abc.def", "cs-9876", "ls-5432", "k-1111"):
        assert secret not in text
    assert "password=***" in text and "app:***@db" in text


def test_configure_logging_json_writes_one_object_per_line() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json")
    root = logging.getLogger()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        logging.getLogger("textgate.x").info("hello %s", "world")
    finally:
        configure_logging("WARNING", "text")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert orjson.loads(lines[0])["message"] == "hello world"
    assert re.match(r"\d{4}-\d\d-\d\dT", orjson.loads(lines[0])["time"])
