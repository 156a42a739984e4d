"""Source TON/NPI by kind of sender (SMPP 3.4 5.2.5, 5.2.6): the classification, the
per-connector overrides, and what the SMSC simulator records off the wire."""

from __future__ import annotations

import logging

import pytest

from tests.connectors.smpp.test_smsc import Sink
from tests.support import WAIT
from textgate.connectors.base import Submission
from textgate.connectors.smpp.connector import SmppConnector
from textgate.connectors.smpp.options import SmppOptions
from textgate.connectors.smpp.outbound import Source, SubmitBuilder
from textgate.connectors.smpp.sender import SenderKind, classify_sender
from textgate.connectors.smpp.smsc import Smsc, SmscOptions

K = SenderKind


@pytest.mark.parametrize(
    ("sender", "kind", "addr"),
    [
        ("ACME", K.ALPHANUMERIC, "ACME"),
        ("Shop 24", K.ALPHANUMERIC, "Shop 24"),
        ("1ACME", K.ALPHANUMERIC, "1ACME"),
        ("+", K.ALPHANUMERIC, "+"),
        ("+4915112345678", K.INTERNATIONAL, "4915112345678"),
        ("+41 79 123 45 67", K.INTERNATIONAL, "41791234567"),
        ("004915112345678", K.INTERNATIONAL, "4915112345678"),
        ("4915112345678", K.INTERNATIONAL, "4915112345678"),
        ("12345678", K.INTERNATIONAL, "12345678"),
        ("1234567", K.INTERNATIONAL, "1234567"),
        ("01511234567", K.NATIONAL, "01511234567"),
        ("0800123", K.NATIONAL, "0800123"),
        ("12345", K.SHORTCODE, "12345"),
        ("123456", K.SHORTCODE, "123456"),
        ("116", K.SHORTCODE, "116"),
        (" 7726 ", K.SHORTCODE, "7726"),
    ],
)
def test_classification(sender: str, kind: SenderKind, addr: str) -> None:
    assert classify_sender(sender) == (kind, addr)


@pytest.mark.parametrize(
    ("sender", "source"),
    [
        ("ACME", Source(5, 0, "ACME")),
        ("+4915112345678", Source(1, 1, "4915112345678")),
        ("004915112345678", Source(1, 1, "4915112345678")),
        ("01511234567", Source(2, 1, "01511234567")),
        ("12345", Source(3, 0, "12345")),
        (None, Source(0, 0, "")),
        ("  ", Source(0, 0, "")),
    ],
)
def test_default_ton_npi(sender: str | None, source: Source) -> None:
    assert SubmitBuilder(SmppOptions()).source(sender) == source


def test_each_kind_can_be_overridden() -> None:
    options = SmppOptions.from_mapping(
        {
            "alphanumeric_ton": 0,
            "international_npi": 0,
            "national_ton": 0,
            "national_npi": 8,
            "shortcode_ton": 6,
        }
    )
    builder = SubmitBuilder(options)
    assert builder.source("ACME") == Source(0, 0, "ACME")
    assert builder.source("+4915112345678") == Source(1, 0, "4915112345678")
    assert builder.source("01511234567") == Source(0, 8, "01511234567")
    assert builder.source("12345") == Source(6, 0, "12345")


def test_deprecated_numeric_keys_set_every_numeric_kind(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        options = SmppOptions.from_mapping({"numeric_ton": 0, "numeric_npi": 1, "shortcode_ton": 3})
    assert "deprecated" in caplog.text
    builder = SubmitBuilder(options)
    assert builder.source("+4915112345678") == Source(0, 1, "4915112345678")
    assert builder.source("01511234567") == Source(0, 1, "01511234567")
    # A kind's own key wins over the deprecated one, for that part only.
    assert builder.source("12345") == Source(3, 1, "12345")
    assert builder.source("ACME") == Source(5, 0, "ACME")


def test_out_of_range_values_are_refused() -> None:
    with pytest.raises(ValueError, match="shortcode_ton must be 0-255"):
        SmppOptions(shortcode_ton=256)
    with pytest.raises(ValueError, match="national_npi must be 0-255"):
        SmppOptions.from_mapping({"national_npi": -1})


async def test_the_simulator_records_the_ton_npi_of_each_kind() -> None:
    senders = {
        "ACME": ("ACME", 5, 0),
        "+4915112345678": ("4915112345678", 1, 1),
        "004915112345678": ("4915112345678", 1, 1),
        "01511234567": ("01511234567", 2, 1),
        "12345": ("12345", 3, 0),
    }
    smsc = Smsc(SmscOptions(port=0, record=True))
    await smsc.start()
    conn = SmppConnector(
        "sim",
        SmppOptions(
            port=smsc.port,
            system_id="textgate",
            password="textgate",
            response_timeout=WAIT,
            registered_delivery=0,
        ),
    )
    try:
        await conn.start(Sink())
        batch = [
            Submission(f"msg-{i}", "+4915100000", sender, "hi", "gsm7", 1)
            for i, sender in enumerate(senders)
        ]
        outcomes = await conn.submit(batch)
        assert [o.error for o in outcomes] == [None] * len(senders)
        by_id = {r.message_id: r for r in smsc.received}
        recorded = {
            sender: (
                by_id[o.external_id or ""].source_addr,
                by_id[o.external_id or ""].source_addr_ton,
                by_id[o.external_id or ""].source_addr_npi,
            )
            for sender, o in zip(senders, outcomes, strict=True)
        }
    finally:
        await conn.stop()
        await smsc.stop()
    assert recorded == senders
