"""The documented signature and the retry schedule."""

from __future__ import annotations

import hashlib
import hmac

from textgate.config import WebhookSettings
from textgate.core.webhooks import backoff_ms, matches, sign, signature_header, verify


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = '{"id":"evt_msg_1"}'
    expected = hmac.new(b"topsecret", b'1700000000.{"id":"evt_msg_1"}', hashlib.sha256)
    assert sign("topsecret", 1700000000, body) == expected.hexdigest()
    header = signature_header("topsecret", 1700000000, body)
    assert header == "v1=" + expected.hexdigest()
    assert verify("topsecret", 1700000000, body, header)
    assert not verify("topsecret", 1700000001, body, header)
    assert not verify("topsecret", 1700000000, body + " ", header)


def test_default_schedule_spans_about_a_day() -> None:
    s = WebhookSettings()
    base, top = int(s.retry_base_seconds * 1000), int(s.retry_max_seconds * 1000)
    for jitter, low, high in ((0.0, 15, 24), (0.5, 20, 30), (0.999, 24, 36)):
        total = sum(
            backoff_ms(a, base_ms=base, max_ms=top, jitter=jitter) for a in range(1, s.max_attempts)
        )
        assert low * 3600_000 <= total <= high * 3600_000


def test_event_patterns() -> None:
    assert matches(["message.*"], "message.delivered")
    assert not matches(["message.*"], "inbound.received")
    assert matches(["*"], "inbound.received")
    assert matches(["message.failed", "inbound.received"], "message.failed")
    assert not matches(["message.failed"], "message.sent")
