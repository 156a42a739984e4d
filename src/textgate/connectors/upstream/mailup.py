"""MailUp transactional SMS as an upstream provider (``type = "mailup"``).

What this module knows, all from seed 002 ("Transactional SMS"):

- ``POST sms/{account_ID}/{List_ID}`` with a JSON body (``Content``, ``ListGuid``,
  ``ListSecret``, ``Recipient``, ``CampaignCode``, ``isUnicode``, ``Sender``) and the
  content type the seed's example sends. No Authorization header: the list's GUID and
  ListSecret are the credentials. Success is HTTP 200
  ``{"Data":{"DeliveryId":<n>,"Cost":<credits>},"Code":"0",...}``; refusals carry the
  seed's HTTP status and application ``Code`` (:data:`CODES`).
- The ListSecret is either configured, or read with the account's login:
  ``GET lists/{List_ID}/listsecret`` with HTTP Basic answers ``{"Data":{"ListSecret":...}}``
  (null while the list has none). Read so, a refused ListSecret (103) is read again once
  (the secret was changed with DELETE and POST).
- One recipient per request ("Only a single phone number is allowed"), a text of at most
  670 characters ("longer ... are truncated by the sending engine": refused here instead).
- The DeliveryId "can be used to retrieve the result of a specific sending"; the seed does
  not name the address. This connector asks ``GET sms/{account_ID}/{List_ID}/{DeliveryId}``
  with ``ListGuid`` and ``ListSecret`` in the query (the address textgate's own
  MailUp-compatible API answers), reading ``Data.Status``; ``status_lookup = false`` turns
  it off (messages then end by the receipt window). Code 301 means sent with DeliveryId 0:
  nothing to ask about. MailUp pushes no reports and no inbound SMS for this API.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from textgate.connectors.base import QueryRef, Submission
from textgate.connectors.callbacks import CallbackAnswer, CallbackRequest
from textgate.connectors.upstream.options import UpstreamOptions, api_base
from textgate.connectors.upstream.provider import auth_refused, no_callbacks
from textgate.connectors.upstream.replies import Priced, Relogin, Reply, common_reply
from textgate.core.encoding import Encoding
from textgate.core.message import DeliveryReport, Status
from textgate.errors import ConnectorError

__all__ = ["CODES", "MAX_CONTENT", "STATUS_WORDS", "MailupOptions", "MailupProvider"]

DEFAULT_BASE_URL: Final = "https://sendsms.mailup.com/api/v2.0/"
# Seed 002, "Sending a transactional SMS": the example's Content-Type.
CONTENT_TYPE: Final = "application/json;odata=verbose;charset=utf-8"
MAX_CONTENT: Final = 670
"""Seed 002, Content: "messages longer than 670 characters are truncated"."""

WAITS: Final = "waits"
"""The message was not looked at for a reason of the account (credentials, list): it waits
and the link shows the refusal."""
RETRY: Final = "retry"
FINAL: Final = "final"
# Seed 002, "Transactional SMS", Response: the application codes of refusals, by what they
# mean for the message. 102/103/201-203 name the list's credentials or ids (configuration:
# the message waits); 250 "Access denied" refuses the account, not the message; 205 (no
# credits) passes once the account is topped up; 302 "Error delivering message" is the
# provider failing to pass it on (another attempt may pass). The rest are about this
# message: final. 300 (generic error, HTTP 500) is in doubt, as any 5xx.
CODES: Final[Mapping[str, tuple[str, str]]] = {
    "100": (FINAL, "No request found"),
    "101": (FINAL, "Missing or empty parameters"),
    "102": (WAITS, "ListGUID is not valid for the current account or list"),
    "103": (WAITS, "ListSecret is not valid for the current account or list"),
    "104": (FINAL, "SMS sender name is empty for the list"),
    "105": (FINAL, "Number or Prefix missing in the recipient"),
    "106": (FINAL, "Recipient is invalid"),
    "107": (FINAL, "Content too long"),
    "201": (WAITS, "listID is not valid for the current account or list"),
    "202": (WAITS, "ListGUID is not in a correct format"),
    "203": (WAITS, "ListSecret is not in a correct format"),
    "204": (FINAL, "Cannot send SMS to USA recipient"),
    "205": (RETRY, "Sending denied: NO CREDITS"),
    "206": (FINAL, "SMS number is in optout state for the list"),
    "207": (FINAL, "Provided SMS sender is not certified"),
    "250": (WAITS, "Access denied"),
    "302": (RETRY, "Error delivering message"),
}
_OK: Final = "0"
_UNTRACKED: Final = "301"
"""Sent and charged, but "the returned value of DeliveryId is 0": no result to ask for."""
_STALE_LIST_KEY: Final = "103"

# The status lookup's words (Data.Status) -> the report they are; None: no news yet.
# MailUp's SMS reports show queued, sent, delivered and not delivered messages.
STATUS_WORDS: Final[Mapping[str, Status | None]] = {
    "SCHEDULED": None,
    "QUEUED": None,
    "SENT": None,
    "DELIVERED": Status.DELIVERED,
    "NOT_DELIVERED": Status.UNDELIVERED,
    "UNDELIVERED": Status.UNDELIVERED,
    "EXPIRED": Status.EXPIRED,
    "FAILED": Status.FAILED,
    "REJECTED": Status.FAILED,
    "CANCELLED": Status.FAILED,
}


class MailupOptions(UpstreamOptions):
    base_url: str = DEFAULT_BASE_URL
    # The account ID (m59484 -> 59484) and the list's number, GUID and ListSecret.
    account_id: int = Field(gt=0)
    list_id: int = Field(gt=0)
    list_guid: str = Field(min_length=1)
    list_secret: SecretStr | None = None
    # Or the account's login (m59484 and its password), to read the ListSecret with.
    username: str | None = None
    password: SecretStr | None = None
    campaign_code: str | None = Field(default=None, max_length=200)
    # False: never send the message's sender, so the list's own SMS sender applies (the
    # seed advises sending one only when it is known to pass).
    send_sender: bool = True
    status_lookup: bool = True
    report_query_after_seconds: float = Field(default=60.0, gt=0, le=86_400)

    @field_validator("base_url")
    @classmethod
    def _http_base(cls, value: str) -> str:
        return api_base(value, ", .../v2.0/")

    @model_validator(mode="after")
    def _credentials(self) -> MailupOptions:
        login = self.username is not None or self.password is not None
        if login and (not self.username or self.password is None):
            raise ValueError("set both username and password (the account's login)")
        if (self.list_secret is None) == (not login):
            raise ValueError("set list_secret, or username and password to read it with")
        return self


class MailupProvider:
    type_name = "mailup"

    def __init__(self, options: MailupOptions) -> None:
        self.options = options
        self.report_query_after_ms: int | None = (
            int(options.report_query_after_seconds * 1000) if options.status_lookup else None
        )
        self._read_secret: str | None = None
        """The ListSecret read with the login (when none is configured)."""
        base = f"{options.base_url}sms/{options.account_id}/{options.list_id}"
        self._send_url = base
        self._status_url = base + "/"

    def secrets(self) -> Iterable[str]:
        o = self.options
        yield o.list_guid
        for secret in (o.list_secret, o.password):
            if secret is not None:
                yield secret.get_secret_value()
        if o.username is not None:
            yield self._basic()
        if self._read_secret is not None:
            yield self._read_secret

    # ------------------------------------------------------------------ the ListSecret

    def _basic(self) -> str:
        o = self.options
        password = "" if o.password is None else o.password.get_secret_value()
        return base64.b64encode(f"{o.username}:{password}".encode()).decode()

    def _secret(self) -> str:
        if self.options.list_secret is not None:
            return self.options.list_secret.get_secret_value()
        if self._read_secret is None:  # login_request runs first; a bug, not a refusal
            raise ConnectorError.not_sent("mailup: no ListSecret", code="login_failed")
        return self._read_secret

    def login_request(self, client: httpx.AsyncClient) -> httpx.Request | None:
        o = self.options
        if o.list_secret is not None or self._read_secret is not None:
            return None
        return client.build_request(
            "GET",
            f"{o.base_url}lists/{o.list_id}/listsecret",
            headers={"Authorization": f"Basic {self._basic()}", "Accept": "application/json"},
        )

    def read_login(self, response: httpx.Response) -> None:
        status = response.status_code
        body = _json(response)
        code = str(body.get("Code", ""))
        if status in (401, 403) or CODES.get(code, ("",))[0] == WAITS:
            raise auth_refused(
                f"mailup refused the login of {self.options.username!r} "
                f"(HTTP {status}{', code ' + code if code else ''})"
            )
        data = body.get("Data")
        secret = data.get("ListSecret") if isinstance(data, dict) else None
        if status != httpx.codes.OK or code not in ("", _OK):
            raise ConnectorError.not_sent(
                f"mailup: reading the ListSecret answered HTTP {status}", code="login_failed"
            )
        if not isinstance(secret, str) or not secret:
            raise auth_refused(
                f"mailup list {self.options.list_id} has no ListSecret: create one in the "
                "console (or POST lists/{List_ID}/listsecret) to enable transactional SMS"
            )
        self._read_secret = secret

    def forget_session(self) -> None:
        self._read_secret = None

    # ------------------------------------------------------------------ sending

    def send_request(self, client: httpx.AsyncClient, submission: Submission) -> httpx.Request:
        o = self.options
        if len(submission.text) > MAX_CONTENT:
            raise ConnectorError(
                f"mailup truncates texts over {MAX_CONTENT} characters: not sent",
                retryable=False,
                code="text_too_long",
            )
        body: dict[str, Any] = {
            "Content": submission.text,
            "ListGuid": o.list_guid,
            "ListSecret": self._secret(),
            "Recipient": submission.recipient,
            "isUnicode": 1 if submission.encoding == Encoding.UCS2 else 0,
        }
        if o.campaign_code:
            body["CampaignCode"] = o.campaign_code
        if o.send_sender and submission.sender:
            body["Sender"] = submission.sender
        return client.build_request(
            "POST",
            self._send_url,
            content=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": CONTENT_TYPE, "Accept": "application/json"},
        )

    def read_sent(self, response: httpx.Response, submission: Submission) -> Reply:
        status = response.status_code
        body = _json(response)
        code = str(body.get("Code", ""))
        kind, description = CODES.get(code, ("", ""))
        if status >= 500 and kind == RETRY:
            return _refused(code, description, retryable=True)
        common = common_reply(response)
        if common is not None:
            return common
        if status == httpx.codes.OK and code in (_OK, _UNTRACKED):
            data = body.get("Data")
            delivery = data.get("DeliveryId") if isinstance(data, dict) else None
            if code == _UNTRACKED or delivery == 0:
                return "0"
            if isinstance(delivery, int | str) and str(delivery).isdigit():
                cost = data.get("Cost") if isinstance(data, dict) else None
                if isinstance(cost, int | float | str) and not isinstance(cost, bool):
                    # Data.Cost: the credits MailUp charged for it (seed, Response).
                    with contextlib.suppress(ArithmeticError):
                        price = Decimal(str(cost))
                        if price.is_finite():
                            return Priced(str(delivery), price)
                return str(delivery)
            # Taken (code 0) but no DeliveryId to follow it by: it may well go out.
            return ConnectorError.in_doubt(
                "mailup answered without a DeliveryId", code="no_delivery_id"
            )
        if kind == WAITS:
            if code == _STALE_LIST_KEY and self._read_secret is not None:
                return Relogin()  # the list's secret changed: read it again
            return auth_refused(f"mailup refused the list's credentials: {code} {description}")
        if kind:
            return _refused(code, description, retryable=kind == RETRY)
        detail = str(body.get("Description") or "")[:200] or f"HTTP {status}"
        if 400 <= status < 500:
            return _refused(code or f"http_{status}", detail, retryable=False)
        return ConnectorError.in_doubt(f"mailup answered HTTP {status}: {detail}")

    # ------------------------------------------------------------------ status

    def status_request(self, client: httpx.AsyncClient, ref: QueryRef) -> httpx.Request | None:
        if not ref.external_id.isdigit() or int(ref.external_id) == 0:
            return None
        params = {"ListGuid": self.options.list_guid, "ListSecret": self._secret()}
        return client.build_request(
            "GET",
            self._status_url + ref.external_id,
            params=params,
            headers={"Accept": "application/json"},
        )

    def read_status(
        self, connector: str, response: httpx.Response, ref: QueryRef
    ) -> DeliveryReport | None:
        if response.status_code != httpx.codes.OK:
            return None
        data = _json(response).get("Data")
        if not isinstance(data, dict):
            return None
        word = str(data.get("Status") or "").strip().upper().replace(" ", "_")
        status = STATUS_WORDS.get(word)
        if status is None:
            return None
        error = data.get("ErrorCode")
        return DeliveryReport(
            connector=connector,
            external_id=ref.external_id,
            status=status,
            at=_when(data.get("UpdateDate")),
            error_code=None if status == Status.DELIVERED else str(error or word)[:64],
        )

    def read_callback(self, connector: str, kind: str, request: CallbackRequest) -> CallbackAnswer:
        return no_callbacks(kind)


def _refused(code: str, description: str, *, retryable: bool) -> ConnectorError:
    return ConnectorError(
        f"mailup refused it: {code} {description}".rstrip(),
        retryable=retryable,
        code=f"mailup_{code}"[:64],
    )


def _when(value: object) -> datetime:
    """``2016-03-09T16:39:24`` (the account's times, taken as UTC), else now."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return datetime.now(UTC)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
