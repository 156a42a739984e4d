"""The ``twilio`` connector end to end against Twilio's Messages API played back from its
documentation: the replay checks each request as Twilio does (HTTP Basic auth with the
Account SID and Auth Token or an API key, form fields, the test credentials' magic numbers
and their documented errors), answers with the documented bodies, and then signs and posts
the status callbacks to the StatusCallback URL it was given, as Twilio does. Signatures are
computed here from Twilio's documented algorithm, not with the connector's code.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import hmac
import logging
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
from tests.connectors.upstream.replay import Asked, Played, Replay, replaying
from tests.support import SUITE_SECRET_KEY, Running, running_gateway
from tests.test_secret_logs import _all_logs_at_debug
from textgate.config import Settings
from textgate.connectors.kinds import callback_token
from textgate.connectors.upstream import twilio
from textgate.core.message import Status
from textgate.storage.inbound import InboundFilter

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-5f0e1d2c3b4a"
API_KEY_SID = "SK" + "fedcba9876543210" * 2
API_KEY_SECRET = "twilio-api-key-secret-9a8b7c6d"
NAME = "twilio"
PUBLIC = "https://sms.example.com/gw"
"""The gateway's public base URL: a proxy in front of it, which the replay plays too."""
OURS = "+15017122661"
RECIPIENT = "+393471234567"
UNREACHABLE = "+393479999999"
"""The replay's carrier cannot reach it: undelivered, ErrorCode 30003."""

# Test credentials' magic numbers ("Test credentials", twilio.com/docs/iam/test-credentials):
# To -> the error the API answers.
MAGIC_TO = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number is not currently reachable via SMS."),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
MAGIC_FROM = {
    "+15005550001": (21212, "The 'From' number +15005550001 is not a valid phone number."),
    "+15005550007": (21606, "The 'From' phone number provided is not a valid message-capable"),
    "+15005550008": (21611, "This 'From' number has exceeded the maximum number of queued"),
}


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature ("Webhooks security"): the full URL, then each POST parameter's
    name and value sorted by name, HMAC-SHA1 under the Auth Token, base64."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(
        hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()
    ).decode()


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def error(status: int, code: int, message: str) -> JSONResponse:
    """Twilio's error body ("Errors and warnings")."""
    more = f"https://www.twilio.com/docs/errors/{code}"
    body = {"code": code, "message": message, "more_info": more, "status": status}
    return JSONResponse(body, status_code=status)


class TwilioReplay(Replay):
    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, tuple[str, str | None]] = {}
        """sid -> the final status the carrier gives it, and its ErrorCode."""
        self.callbacks: dict[str, str] = {}
        """sid -> its StatusCallback URL."""
        self.throttle = 0
        """How many of the next creates are answered 429."""
        self.hold = False
        """Keep the status callbacks (the test plays them)."""

    def routes(self) -> list[Route]:
        messages = "/2010-04-01/Accounts/{account}/Messages"
        return [
            Route(messages + ".json", self.create, methods=["POST"]),
            Route(messages + "/{sid}.json", self.fetch, methods=["GET"]),
        ]

    def _refused(self, asked: Asked, account: str) -> Response | None:
        if account != ACCOUNT_SID or asked.headers.get("authorization") not in (
            basic(ACCOUNT_SID, AUTH_TOKEN),
            basic(API_KEY_SID, API_KEY_SECRET),
        ):
            return error(401, 20003, "Authenticate")
        return None

    async def create(self, request: Request) -> Response:
        asked = await self.read(request)
        account = request.path_params["account"]
        refused = self._refused(asked, account)
        if refused is not None:
            return refused
        assert "application/x-www-form-urlencoded" in asked.headers["content-type"]
        if self.throttle:
            self.throttle -= 1
            return error(429, 20429, "Too Many Requests")
        form = asked.form
        to, body = form.get("To"), form.get("Body")
        sender, service = form.get("From"), form.get("MessagingServiceSid")
        if not to:
            return error(400, 21604, "A 'To' phone number is required.")
        if not body:
            return error(400, 21602, "Message body is required.")
        if not sender and not service:
            return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required.")
        if to in MAGIC_TO:
            return error(400, *MAGIC_TO[to])
        if sender in MAGIC_FROM:
            return error(400, *MAGIC_FROM[sender])
        sid = "SM" + uuid.uuid4().hex
        self.messages[sid] = resource(sid, form, "queued")
        self.outcomes[sid] = ("undelivered", "30003") if to == UNREACHABLE else ("delivered", None)
        callback = form.get("StatusCallback")
        if callback:
            self.callbacks[sid] = callback
            if not self.hold:
                self.later(self.carrier(sid))
        return JSONResponse(self.messages[sid], status_code=201)

    async def fetch(self, request: Request) -> Response:
        asked = await self.read(request)
        refused = self._refused(asked, request.path_params["account"])
        if refused is not None:
            return refused
        sid = request.path_params["sid"]
        if sid not in self.messages:
            return error(404, 20404, f"The requested resource {request.url.path} was not found")
        status, code = self.outcomes[sid]
        return JSONResponse({**self.messages[sid], "status": status, "error_code": code})

    async def carrier(self, sid: str) -> None:
        """What Twilio posts as the message goes: sent, then the carrier's outcome."""
        await self.status(sid, "sent")
        await self.status(sid, *self.outcomes[sid])

    async def status(
        self, sid: str, word: str, code: str | None = None, *, token: str = AUTH_TOKEN
    ) -> Played:
        """One status callback, signed (with ``token``) over the StatusCallback URL."""
        m = self.messages[sid]
        fields = {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "From": m["from"] or "",
            "MessageSid": sid,
            "MessageStatus": word,
            "SmsSid": sid,
            "SmsStatus": word,
            "To": m["to"],
        }
        if code is not None:
            fields["ErrorCode"] = code
        url = self.callbacks[sid]
        return await self.call(
            url, fields, headers={"X-Twilio-Signature": sign(url, fields, token)}
        )

    async def incoming(
        self, url: str, sender: str, body: str, *, token: str = AUTH_TOKEN
    ) -> Played:
        """The number's "A message comes in" webhook."""
        sid = "SM" + uuid.uuid4().hex
        fields = {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "Body": body,
            "From": sender,
            "FromCountry": "IT",
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": OURS,
            "ToCountry": "US",
        }
        return await self.call(
            url, fields, headers={"X-Twilio-Signature": sign(url, fields, token)}
        )


def resource(sid: str, form: dict[str, str], status: str) -> dict[str, Any]:
    """The Message resource as the create answers it (the documented example, our ids)."""
    now = email.utils.format_datetime(datetime.now(UTC))
    return {
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": form["Body"],
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": status,
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json"
        },
        "to": form["To"],
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
    }


@contextlib.asynccontextmanager
async def started(settings: Settings, replay: Replay, **options: Any) -> AsyncIterator[Running]:
    """The replay, and a gateway whose twilio connector it plays Twilio for."""
    async with replaying(replay) as base, running_gateway(gateway(settings, base, **options)) as a:
        replay.gateway, replay.public = a.base_url, PUBLIC
        yield a


def gateway(settings: Settings, base: str, **options: Any) -> Settings:
    credentials = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "callback_base_url": PUBLIC,
    }
    return replayed_provider(settings, NAME, base, OURS, credentials | options)


TOKEN = callback_token(SUITE_SECRET_KEY.get_secret_value(), NAME)
STATUS_URL = f"{PUBLIC}/callbacks/{NAME}/{TOKEN}/status"
INBOUND_URL = f"{PUBLIC}/callbacks/{NAME}/{TOKEN}/inbound"


async def send(client: Client, to: str, text: str = "Your code is 4821", sender: str = OURS) -> str:
    body = {"to": to, "text": text, "from": sender}
    r = await client.running.client.post("/v1/messages", json=body, headers=client.headers)
    assert r.status_code == 202, r.text
    return str(r.json()["messages"][0]["id"])


async def parked(a: Running) -> list[str]:
    async with a.gateway.db.read() as conn:
        rows = (await conn.execute(text("SELECT external_id FROM pending_reports"))).all()
    return [r[0] for r in rows]


def test_the_signature_of_twilios_documented_example() -> None:
    """ "Webhooks security": this URL and these parameters, signed with the Auth Token
    12345, give 0/KCTR6DLpKmkAf8muzZqo1nDgQ= (both this test's signer and the connector's)."""
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    assert sign(url, params, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio.signature("12345", url, list(params.items())) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


@pytest.mark.parametrize("auth", ["auth token", "api key"])
async def test_messages_go_out_and_signed_callbacks_settle_them(
    settings: Settings, auth: str
) -> None:
    """Two messages: Twilio takes both (201, a sid each), then calls back sent and the
    carrier's outcome, signed over the public StatusCallback URL: one is delivered, the
    other undelivered with Twilio's ErrorCode. Each callback is answered 200 once stored."""
    key = (
        {"api_key_sid": API_KEY_SID, "api_key_secret": API_KEY_SECRET} if auth == "api key" else {}
    )
    replay = TwilioReplay()
    async with started(settings, replay, **key) as a:
        client = await client_of(a)
        ok = await send(client, RECIPIENT, "Привет ☺ — ваш код 4821")
        lost = await send(client, UNREACHABLE)
        done, failed = await client.final(ok), await client.final(lost)
        await replay.settled()
        assert (done.status, done.attempts, done.error_code) == (Status.DELIVERED, 1, None)
        assert (failed.status, failed.error_code) == (Status.UNDELIVERED, "30003")
        assert await parked(a) == []
    by_to = {replay.messages[s]["to"]: s for s in replay.messages}
    assert (done.external_id, failed.external_id) == (by_to[RECIPIENT], by_to[UNREACHABLE])
    creates = {c.form["To"]: c for c in replay.asked if c.method == "POST"}
    assert creates[RECIPIENT].form == {
        "To": RECIPIENT,
        "From": OURS,
        "Body": "Привет ☺ — ваш код 4821",
        "StatusCallback": STATUS_URL,
    }
    user, secret = (API_KEY_SID, API_KEY_SECRET) if key else (ACCOUNT_SID, AUTH_TOKEN)
    assert creates[RECIPIENT].headers["authorization"] == basic(user, secret)
    assert len(replay.played) == 4
    assert {(p.status, p.body) for p in replay.played} == {(200, "")}


async def test_a_validity_the_client_asked_for_goes_as_validity_period(
    settings: Settings,
) -> None:
    """ValidityPeriod (whole seconds, at most 36,000, Twilio's default) is sent when the
    client's validity ends sooner; a longer one, or none, leaves Twilio's default."""
    replay = TwilioReplay()
    async with started(settings, replay) as a:
        client = await client_of(a)
        now = datetime.now(UTC)
        for to, valid_for in (
            (RECIPIENT, timedelta(minutes=10)),
            (UNREACHABLE, timedelta(hours=20)),
        ):
            body = {
                "to": to,
                "text": "code 4711",
                "from": OURS,
                "valid_until": (now + valid_for).isoformat(),
            }
            r = await a.client.post("/v1/messages", json=body, headers=client.headers)
            assert r.status_code == 202, r.text
            await client.final(str(r.json()["messages"][0]["id"]))
    creates = {c.form["To"]: c.form for c in replay.asked if c.method == "POST"}
    assert 590 <= int(creates[RECIPIENT]["ValidityPeriod"]) <= 600
    assert "ValidityPeriod" not in creates[UNREACHABLE]


async def test_unsigned_and_badly_signed_callbacks_are_refused(settings: Settings) -> None:
    """No X-Twilio-Signature, one made with another token, one made over another URL, one
    whose fields were changed after signing: each gets 403 and changes nothing. The
    genuine one then delivers the message."""
    replay = TwilioReplay()
    replay.hold = True
    async with started(settings, replay) as a:
        client = await client_of(a)
        mid = await send(client, RECIPIENT)
        sent = await client.reaches(mid, lambda m: m.status == Status.SENT, "sent")
        sid = sent.external_id
        assert sid is not None
        fields = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
        route = STATUS_URL.removeprefix(PUBLIC)
        forged = [
            {},
            {"X-Twilio-Signature": sign(STATUS_URL, fields, "another-auth-token-00")},
            {"X-Twilio-Signature": sign(STATUS_URL + "x", fields)},
            {"X-Twilio-Signature": sign(STATUS_URL, {**fields, "MessageStatus": "failed"})},
        ]
        for headers in forged:
            r = await a.client.post(route, data=fields, headers=headers)
            assert r.status_code == 403, r.text
        bad = await replay.status(sid, "delivered", token="another-auth-token-00")
        assert bad.status == 403
        still = await client.message(mid)
        assert still.status == Status.SENT
        assert Status.DELIVERED not in [e.status for e in still.events]
        assert await parked(a) == []

        good = await replay.status(sid, "delivered")
        assert good.status == 200
        done = await client.final(mid)
        assert done.status == Status.DELIVERED


async def test_an_incoming_message_reaches_the_inbox_and_gets_empty_twiml(
    settings: Settings,
) -> None:
    replay = TwilioReplay()
    async with started(settings, replay) as a:
        client = await client_of(a)
        r = await replay.incoming(INBOUND_URL, RECIPIENT, "Oui, merci ☺")
        assert r.status == 200
        assert r.content_type.startswith("text/xml")
        assert r.body.endswith("<Response/>")
        forged = await replay.incoming(INBOUND_URL, RECIPIENT, "forged", token="not-the-token")
        assert forged.status == 403
        [got] = await a.gateway.services.inbound.search(client.account_id, InboundFilter())
    assert (got.sender, got.recipient, got.text) == (RECIPIENT, OURS, "Oui, merci ☺")
    assert got.external_id == r.fields["MessageSid"]


async def test_an_incoming_message_twilio_sends_again_is_stored_once(settings: Settings) -> None:
    """Twilio retries a webhook it got no timely answer to, with the same MessageSid: the
    inbox has the message once."""
    replay = TwilioReplay()
    async with started(settings, replay) as a:
        client = await client_of(a)
        first = await replay.incoming(INBOUND_URL, RECIPIENT, "Une fois")
        assert first.status == 200
        retried = await replay.call(
            INBOUND_URL,
            first.fields,
            headers={"X-Twilio-Signature": sign(INBOUND_URL, first.fields, AUTH_TOKEN)},
        )
        assert retried.status == 200
        assert retried.body.endswith("<Response/>")
        other = await replay.incoming(INBOUND_URL, RECIPIENT, "Une autre")
        assert other.status == 200
        got = await a.gateway.services.inbound.search(client.account_id, InboundFilter())
    assert sorted(m.text for m in got) == ["Une autre", "Une fois"]


# To (or From) -> the status the message ends in and its error code (Twilio's code).
REFUSALS = {
    "+15005550001": (Status.FAILED, "21211"),  # invalid To
    "+15005550003": (Status.FAILED, "21408"),  # region not enabled
    "+15005550004": (Status.FAILED, "21610"),  # unsubscribed (STOP)
    "+15005550009": (Status.FAILED, "21614"),  # not a mobile number
}


async def test_refusals_follow_twilios_error_codes(settings: Settings) -> None:
    """Each of the test credentials' failing numbers is refused with its documented code:
    the message fails at its first attempt with that code; a From Twilio does not know
    (21606) fails too."""
    replay = TwilioReplay()
    async with started(settings, replay) as a:
        client = await client_of(a)
        ids = {to: await send(client, to) for to in REFUSALS}
        wrong_from = await send(client, RECIPIENT, sender="+15005550007")
        for to, mid in ids.items():
            done = await client.final(mid)
            assert (done.status, done.error_code, done.attempts) == (*REFUSALS[to], 1), to
        done = await client.final(wrong_from)
        assert (done.status, done.error_code, done.attempts) == (Status.FAILED, "21606", 1)
        assert "not a valid message-capable" in (done.reason or "")


async def test_throttling_pauses_sending_and_uses_no_attempt(settings: Settings) -> None:
    """429 (20429): nothing goes out for throttle_seconds, then the message is sent (and
    delivered) with one attempt: the refusal used none. A From whose queue is full (21611)
    waits the same way instead of failing."""
    replay = TwilioReplay()
    replay.throttle = 1
    async with started(settings, replay, max_concurrency=1) as a:
        client = await client_of(a)
        mid = await send(client, RECIPIENT)
        done = await client.final(mid)
        assert (done.status, done.attempts) == (Status.DELIVERED, 1)
        first, second = replay.asked[:2]
        assert first.form == second.form
        assert second.at - first.at >= 0.5, "sent again before throttle_seconds"
        full = await send(client, RECIPIENT, sender="+15005550008")
        waiting = await client.reaches(full, lambda m: m.error_code == "waiting", "waiting")
        assert (waiting.status, waiting.attempts) == (Status.QUEUED, 0)


async def test_a_message_without_callbacks_is_settled_by_asking(settings: Settings) -> None:
    """No callback_base_url: no StatusCallback goes with the message, and once its report
    is due the connector asks GET .../Messages/{sid}.json."""
    replay = TwilioReplay()
    options = {"callback_base_url": None, "report_query_after_seconds": 0.5}
    async with started(settings, replay, **options) as a:
        client = await client_of(a)
        ok, lost = await send(client, RECIPIENT), await send(client, UNREACHABLE)
        done, failed = await client.final(ok), await client.final(lost)
    assert done.status == Status.DELIVERED
    assert (failed.status, failed.error_code) == (Status.UNDELIVERED, "30003")
    assert "StatusCallback" not in replay.asked[0].form
    gets = [c for c in replay.asked if c.method == "GET"]
    assert {c.path.rsplit("/", 1)[1] for c in gets} == {
        f"{done.external_id}.json",
        f"{failed.external_id}.json",
    }
    assert all(c.headers["authorization"] == basic(ACCOUNT_SID, AUTH_TOKEN) for c in gets)
    assert replay.played == []


async def test_refused_credentials_hold_messages(settings: Settings) -> None:
    """A wrong Auth Token: Twilio answers 401 (20003); the message waits without using an
    attempt and the link shows auth_refused, the token nowhere in /readyz."""
    replay = TwilioReplay()
    wrong = "a-wrong-auth-token-77"
    async with started(settings, replay, auth_token=wrong) as a:
        client = await client_of(a)
        mid = await send(client, RECIPIENT)
        await client.held_by_refused_credentials(mid, NAME, wrong)


async def test_credentials_reach_no_log_record(settings: Settings) -> None:
    """Every logger at DEBUG while messages go out with an API key and signed callbacks
    and an incoming message come back: neither the Auth Token, the API key's secret, the
    Basic pair nor the callback token appears in any record."""
    replay = TwilioReplay()
    key = {"api_key_sid": API_KEY_SID, "api_key_secret": API_KEY_SECRET}
    with _all_logs_at_debug() as logs:
        async with started(settings, replay, **key) as a:
            for name in ("httpx", "httpcore.http11", "httpcore.connection"):
                logging.getLogger(name).setLevel(logging.DEBUG)
            client = await client_of(a)
            for to in (RECIPIENT, UNREACHABLE, "+15005550001"):
                await client.final(await send(client, to))
            await replay.incoming(INBOUND_URL, RECIPIENT, "hello")
            await replay.settled()
            ready = await a.client.get("/readyz")
    records = [t for _, t in logs.records]
    assert any("Messages.json" in t for t in records), "the HTTP client's lines were not captured"
    pair = basic(API_KEY_SID, API_KEY_SECRET).removeprefix("Basic ")
    for secret in (AUTH_TOKEN, API_KEY_SECRET, pair, TOKEN):
        leaks = [t for t in records if secret in t]
        assert not leaks, leaks[0][:300]
        assert secret not in ready.text


async def test_a_kind_twilio_does_not_call_is_404(settings: Settings) -> None:
    """Only status and inbound callbacks: another kind is 404, whatever it carries."""
    replay = TwilioReplay()
    async with started(settings, replay) as a:
        url = f"{PUBLIC}/callbacks/{NAME}/{TOKEN}/voice"
        fields = {"CallSid": "CA1"}
        r = await a.client.post(
            url.removeprefix(PUBLIC),
            data=fields,
            headers={"X-Twilio-Signature": sign(url, fields)},
        )
        assert r.status_code == 404
