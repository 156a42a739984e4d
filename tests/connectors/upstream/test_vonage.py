"""The ``vonage`` connector end to end against Vonage's SMS API played back from its
documentation: the replay checks each request as Vonage does (api_key and api_secret,
the required parameters, digits-only numbers), splits long texts into parts as Vonage does
(one messages[] entry and one message-id per part), answers with the documented bodies and
status codes, and then calls the receipt URL it was given once per part, by GET, form POST
or JSON POST, signed when the account has a signature secret. Signatures are computed here
from Vonage's documented algorithm, not with the connector's code.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.connectors.upstream.harness import Client, client_of, replayed_provider
from tests.connectors.upstream.replay import Played, Replay, replaying
from tests.support import SUITE_SECRET_KEY, Running, running_gateway
from tests.test_secret_logs import _all_logs_at_debug
from textgate.config import Settings
from textgate.connectors.kinds import callback_token
from textgate.connectors.upstream import vonage
from textgate.core.message import Status
from textgate.storage.inbound import InboundFilter

API_KEY = "abcd1234"
API_SECRET = "vonage-api-secret-Z9y8X7w6"
SIGNATURE_SECRET = "vonage-signature-secret-4f5e6d7c8b"
NAME = "vonage"
PUBLIC = "https://sms.example.com"
OURS = "+447700900001"
RECIPIENT = "+393471234567"
UNREACHABLE = "+393479999999"
"""Every part's receipt says failed, err-code 3 (absent subscriber, permanent)."""
BARRED = "+393470000007"
"""Refused with status 7 (Number Barred)."""

TOKEN = callback_token(SUITE_SECRET_KEY.get_secret_value(), NAME)
STATUS_URL = f"{PUBLIC}/callbacks/{NAME}/{TOKEN}/status"
INBOUND_URL = f"{PUBLIC}/callbacks/{NAME}/{TOKEN}/inbound"


def sign(params: dict[str, str], secret: str, method: str) -> str:
    """sig ("Signing messages", generating a signature): every parameter but sig, sorted
    by name, as &name=value with & and = in values replaced by _; then MD5 of that string
    and the secret (md5hash, lower case), or its HMAC under the secret (upper case)."""
    string = "".join(
        "&" + name + "=" + params[name].replace("&", "_").replace("=", "_")
        for name in sorted(params)
        if name != "sig"
    )
    if method == "md5hash":
        return hashlib.md5((string + secret).encode(), usedforsecurity=False).hexdigest()
    return hmac.new(secret.encode(), string.encode(), method).hexdigest().upper()


def parts_of(text_: str, unicode: bool) -> int:
    """How many parts Vonage sends a text in (GSM-7: 160, else 153 a part; UCS-2: 70,
    else 67; these texts use no GSM-7 escapes)."""
    single, multi = (70, 67) if unicode else (160, 153)
    return 1 if len(text_) <= single else math.ceil(len(text_) / multi)


def entries(*items: dict[str, str]) -> JSONResponse:
    return JSONResponse({"message-count": str(len(items)), "messages": list(items)})


class VonageReplay(Replay):
    def __init__(self, *, dlr_method: str = "GET", secret: str | None = None) -> None:
        super().__init__()
        self.dlr_method = dlr_method
        self.secret = secret
        self.method = "md5hash"
        self.throttle = 0
        self.hold = False
        """Keep the receipts (the test plays them)."""
        self.sent: dict[str, dict[str, str]] = {}
        """message-id -> the request's fields."""
        self._ids = itertools.count(0x217B7F02)

    def routes(self) -> list[Route]:
        return [Route("/sms/json", self.send, methods=["POST"])]

    async def send(self, request: Request) -> Response:
        asked = await self.read(request)
        f = asked.form or json.loads(asked.body or b"{}")
        if f.get("api_key") != API_KEY or f.get("api_secret") != API_SECRET:
            return entries({"status": "4", "error-text": "Bad Credentials"})
        if self.throttle:
            self.throttle -= 1
            error = "Throughput Rate Exceeded - please wait [ 1000 ] and retry"
            return entries({"status": "1", "error-text": error})
        for name in ("from", "to", "text"):
            if not f.get(name):
                return entries({"status": "2", "error-text": f"Missing {name} param"})
        to = f["to"]
        if not to.isdigit():
            return entries({"status": "3", "error-text": "Invalid to address"})
        if "+" + to == BARRED:
            return entries({"to": to, "status": "7", "error-text": "Number barred."})
        ref = {"client-ref": f["client-ref"]} if f.get("client-ref") else {}
        items = []
        for _ in range(parts_of(f["text"], f.get("type") == "unicode")):
            message_id = f"0C{next(self._ids):014X}"
            self.sent[message_id] = f
            items.append(
                {
                    "to": to,
                    "message-id": message_id,
                    "status": "0",
                    "remaining-balance": "15.53590000",
                    "message-price": "0.03330000",
                    "network": "22201",
                    **ref,
                }
            )
        if f.get("callback") and not self.hold:
            self.later(self.receipts([i["message-id"] for i in items], f["callback"]))
        return entries(*items)

    async def receipts(self, ids: list[str], url: str) -> None:
        for message_id in ids:
            f = self.sent[message_id]
            word, code = ("failed", "3") if "+" + f["to"] == UNREACHABLE else ("delivered", "0")
            await self.receipt(message_id, url, word, code)

    async def receipt(
        self, message_id: str, url: str, word: str, code: str, *, sig: str | None = None
    ) -> Played:
        """One part's delivery receipt ("Delivery receipts", webhook fields)."""
        f = self.sent[message_id]
        now = datetime.now(UTC)
        fields = {
            "msisdn": f["to"],
            "to": f["from"],
            "network-code": "22201",
            "messageId": message_id,
            "price": "0.03330000",
            "status": word,
            "scts": now.strftime("%y%m%d%H%M"),
            "err-code": code,
            "api-key": API_KEY,
            "message-timestamp": now.strftime("%Y-%m-%d %H:%M:%S"),
        }
        if f.get("client-ref"):
            fields["client-ref"] = f["client-ref"]
        return await self.webhook(url, fields, sig=sig)

    async def webhook(self, url: str, fields: dict[str, str], *, sig: str | None = None) -> Played:
        """A webhook as Vonage makes it: signed when the account has a signature secret
        (``sig`` replaces the signature)."""
        if self.secret is not None:
            fields = {**fields, "timestamp": str(int(time.time())), "nonce": uuid.uuid4().hex}
            fields["sig"] = sig if sig is not None else sign(fields, self.secret, self.method)
        if self.dlr_method == "GET":
            return await self.call(url, fields, method="GET")
        return await self.call(url, fields, json_body=self.dlr_method == "POST-JSON")

    async def inbound(self, parts: list[str], *, sig: str | None = None) -> list[Played]:
        """An inbound message to OURS from RECIPIENT, part by part ("Inbound SMS")."""
        played = []
        ref = str(next(self._ids) % 256)
        for n, part in enumerate(parts, 1):
            fields = {
                "msisdn": RECIPIENT.removeprefix("+"),
                "to": OURS.removeprefix("+"),
                "messageId": f"0B{next(self._ids):014X}",
                "text": part,
                "type": "unicode" if any(ord(c) > 0x7F for c in part) else "text",
                "keyword": part.split()[0].upper(),
                "message-timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            }
            if len(parts) > 1:
                fields.update(
                    {
                        "concat": "true",
                        "concat-ref": ref,
                        "concat-total": str(len(parts)),
                        "concat-part": str(n),
                    }
                )
            played.append(await self.webhook(INBOUND_URL, fields, sig=sig))
        return played


def gateway(settings: Settings, base: str, **options: Any) -> Settings:
    credentials = {"api_key": API_KEY, "api_secret": API_SECRET, "callback_base_url": PUBLIC}
    return replayed_provider(settings, NAME, base, OURS, credentials | options)


@contextlib.asynccontextmanager
async def started(settings: Settings, replay: Replay, **options: Any) -> AsyncIterator[Running]:
    """The replay, and a gateway whose vonage connector it plays Vonage for."""
    async with replaying(replay) as base, running_gateway(gateway(settings, base, **options)) as a:
        replay.gateway, replay.public = a.base_url, PUBLIC
        yield a


async def send(client: Client, to: str, text_: str = "Your code is 4821") -> str:
    body = {"to": to, "text": text_, "from": OURS}
    r = await client.running.client.post("/v1/messages", json=body, headers=client.headers)
    assert r.status_code == 202, r.text
    return str(r.json()["messages"][0]["id"])


async def parked(a: Running) -> list[str]:
    async with a.gateway.db.read() as conn:
        rows = (await conn.execute(text("SELECT external_id FROM pending_reports"))).all()
    return [r[0] for r in rows]


LONG = "Your parcel 4821 is on its way and will reach you tomorrow. " * 7  # 3 parts
LONG_UNICODE = "Ваша посылка 4821 в пути и прибудет завтра. " * 4  # 3 parts in UCS-2


def test_the_signatures_of_a_published_example() -> None:
    """The parameters and secret of the example Vonage's own SDK tests sign, with the
    signatures they expect: this test's signer and the connector's agree with them."""
    params = {
        "message-timestamp": "2013-11-21 15:27:30",
        "messageId": "020000001B0FE827",
        "msisdn": "14843472194",
        "text": "Test again",
        "timestamp": "1385047698",
        "to": "13239877404",
        "type": "text",
    }
    secret = "my_secret_key_for_testing"
    md5hash = "d2e7b1dc968737c5998ad624e02f90b7"
    sha256 = "DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330"
    assert sign(params, secret, "md5hash") == md5hash
    assert sign(params, secret, "sha256") == sha256
    assert vonage.signature(params, secret, "md5hash") == md5hash
    assert vonage.signature(params, secret, "sha256") == sha256.lower()


@pytest.mark.parametrize("dlr_method", ["GET", "POST", "POST-JSON"])
async def test_each_parts_receipt_finds_its_message(settings: Settings, dlr_method: str) -> None:
    """A one-part text, a three-part GSM-7 text and a three-part Unicode text: Vonage takes
    them (one message-id per part) and sends a receipt for every part. Each of the seven
    receipts finds its message (none is left parked): the one-part message is known by
    Vonage's message-id, the long ones by the client-ref their receipts repeat."""
    replay = VonageReplay(dlr_method=dlr_method)
    async with started(settings, replay) as a:
        client = await client_of(a)
        short = await send(client, RECIPIENT)
        long = await send(client, RECIPIENT, LONG)
        lost = await send(client, UNREACHABLE, LONG_UNICODE)
        done = {mid: await client.final(mid) for mid in (short, long, lost)}
        await replay.settled()
        assert await parked(a) == []
    assert [m.status for m in done.values()] == [Status.DELIVERED] * 2 + [Status.UNDELIVERED]
    assert done[lost].error_code == "err_3"
    # What Vonage charged (message-price of each part taken, in the account's currency,
    # one credit per unit by default), recorded as each message's upstream cost.
    assert [m.upstream_cost for m in done.values()] == [33_300, 99_900, 99_900]
    assert done[long].external_id == vonage.PARTS_REF + long
    assert done[lost].external_id == vonage.PARTS_REF + lost
    [short_id] = [i for i, f in replay.sent.items() if f["client-ref"] == short]
    assert done[short].external_id == short_id

    forms = {c.form["client-ref"]: c.form for c in replay.asked}
    assert forms[short] == {
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        "from": OURS.removeprefix("+"),
        "to": RECIPIENT.removeprefix("+"),
        "text": "Your code is 4821",
        "type": "text",
        "status-report-req": "1",
        "client-ref": short,
        "callback": STATUS_URL,
    }
    assert forms[vonage.PARTS_REF + lost]["type"] == "unicode"
    assert forms[vonage.PARTS_REF + lost]["text"] == LONG_UNICODE
    assert len(replay.played) == 7
    assert {p.status for p in replay.played} == {200}


async def test_a_validity_the_client_asked_for_goes_as_ttl(settings: Settings) -> None:
    """ttl (milliseconds, at least 20,000, 72 hours by default) is sent when the client's
    validity ends sooner than the default; a longer one leaves Vonage's default."""
    replay = VonageReplay(dlr_method="GET")
    async with started(settings, replay) as a:
        client = await client_of(a)
        now = datetime.now(UTC)
        ids = {}
        for label, valid_for in (("short", timedelta(minutes=10)), ("long", timedelta(days=5))):
            body = {
                "to": RECIPIENT,
                "text": f"code for {label}",
                "from": OURS,
                "valid_until": (now + valid_for).isoformat(),
            }
            r = await a.client.post("/v1/messages", json=body, headers=client.headers)
            assert r.status_code == 202, r.text
            ids[label] = str(r.json()["messages"][0]["id"])
            await client.final(ids[label])
    forms = {c.form["client-ref"]: c.form for c in replay.asked if "client-ref" in c.form}
    assert 590_000 <= int(forms[ids["short"]]["ttl"]) <= 600_000
    assert "ttl" not in forms[ids["long"]]


@pytest.mark.parametrize("method", ["md5hash", "sha256"])
async def test_signed_webhooks_are_checked(settings: Settings, method: str) -> None:
    """With signature_secret set: a receipt with a wrong sig and one without any get 403
    and change nothing; the signed receipts settle the message; an inbound message in two
    parts, signed, reaches the inbox joined; a forged inbound one is refused."""
    replay = VonageReplay(dlr_method="POST", secret=SIGNATURE_SECRET)
    replay.method = method
    options = {"signature_secret": SIGNATURE_SECRET, "signature_method": method}
    async with started(settings, replay, **options) as a:
        client = await client_of(a)
        replay.hold = True
        mid = await send(client, RECIPIENT, LONG)
        await client.reaches(mid, lambda m: m.status == Status.SENT, "sent")
        [first, *_] = [i for i, f in replay.sent.items() if f["client-ref"].endswith(mid)]
        wrong = await replay.receipt(first, STATUS_URL, "delivered", "0", sig="0" * 32)
        assert wrong.status == 403
        replay.secret = None
        unsigned = await replay.receipt(first, STATUS_URL, "delivered", "0")
        assert unsigned.status == 403
        assert (await client.message(mid)).status == Status.SENT
        assert await parked(a) == []

        replay.secret = SIGNATURE_SECRET
        good = await replay.receipt(first, STATUS_URL, "delivered", "0")
        assert good.status == 200
        assert (await client.final(mid)).status == Status.DELIVERED

        parts = await replay.inbound(["Oui, merci ☺ pour le colis,", " à demain."])
        assert [p.status for p in parts] == [200, 200]
        [forged] = await replay.inbound(["forged"], sig="0" * 32)
        assert forged.status == 403
        [got] = await a.gateway.services.inbound.search(client.account_id, InboundFilter())
    assert (got.sender, got.recipient) == (RECIPIENT, OURS)
    assert got.text == "Oui, merci ☺ pour le colis, à demain."


async def test_throttling_and_refusals_follow_the_status_codes(settings: Settings) -> None:
    """status 1 (Throttled): nothing goes out for throttle_seconds, then the message is
    sent (and delivered) with its one attempt; status 7 (Number Barred): failed at the
    first attempt."""
    replay = VonageReplay()
    replay.throttle = 1
    async with started(settings, replay, max_concurrency=1) as a:
        client = await client_of(a)
        mid = await send(client, RECIPIENT)
        done = await client.final(mid)
        assert (done.status, done.attempts) == (Status.DELIVERED, 1)
        first, second = replay.asked[:2]
        assert first.form == second.form
        assert second.at - first.at >= 0.5, "sent again before throttle_seconds"
        barred = await client.final(await send(client, BARRED))
    assert (barred.status, barred.error_code, barred.attempts) == (Status.FAILED, "status_7", 1)
    assert "Number barred" in (barred.reason or "")


async def test_refused_credentials_hold_messages(settings: Settings) -> None:
    """status 4 (Invalid Credentials): the message waits without an attempt used and the
    link shows auth_refused, the secret nowhere in /readyz."""
    replay = VonageReplay()
    wrong = "a-wrong-api-secret-55"
    async with started(settings, replay, api_secret=wrong) as a:
        client = await client_of(a)
        mid = await send(client, RECIPIENT)
        await client.held_by_refused_credentials(mid, NAME, wrong)


async def test_credentials_reach_no_log_record(settings: Settings) -> None:
    """Every logger at DEBUG while messages go out and signed receipts and an inbound
    message come back: neither the API secret, the signature secret nor the callback
    token appears in any record."""
    replay = VonageReplay(dlr_method="POST", secret=SIGNATURE_SECRET)
    with _all_logs_at_debug() as logs:
        async with started(settings, replay, signature_secret=SIGNATURE_SECRET) as a:
            for name in ("httpx", "httpcore.http11", "httpcore.connection"):
                logging.getLogger(name).setLevel(logging.DEBUG)
            client = await client_of(a)
            for to, text_ in ((RECIPIENT, LONG), (UNREACHABLE, "hi"), (BARRED, "hi")):
                await client.final(await send(client, to, text_))
            await replay.inbound(["hello"])
            await replay.settled()
            ready = await a.client.get("/readyz")
    records = [t for _, t in logs.records]
    assert any("/sms/json" in t for t in records), "the HTTP client's lines were not captured"
    for secret in (API_SECRET, SIGNATURE_SECRET, TOKEN):
        leaks = [t for t in records if secret in t]
        assert not leaks, leaks[0][:300]
        assert secret not in ready.text
