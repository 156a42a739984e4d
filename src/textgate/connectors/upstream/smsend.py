"""smsend / Skebby "SMS REST API v1.0" as an upstream provider (``type = "smsend"``).

What this module knows, and where it is documented (seed 001, the provider's quick start,
and its REST API reference, smsend/REST-API on GitHub):

- Login: ``GET login`` (a session, ``Session_key``, that expires after 5 idle minutes) or
  ``GET token`` (an ``Access_token`` valid until revoked), with ``username`` and
  ``password`` in the query ("Authentication API"). The answer is ``user_key;secret`` as
  plain text; 404 (401 on newer deployments) means the credentials are wrong.
- Every call then carries the headers ``user_key`` and ``Session_key`` or ``Access_token``;
  401 says they are invalid or missing, 404 that the user_key is unknown ("Send an SMS
  message", Returns): log in again.
- ``POST sms`` (JSON: ``message_type``, ``message``, ``recipient``, ``sender``, ``order_id``,
  ``encoding``) answers 201 ``{"result": "OK", "order_id": ...}``; 400 is invalid input
  with the details in the body. One message per request, so that each has its own order
  and outcome. The order id sent is textgate's message id: a request sent again after an
  unanswered one names the same order.
- ``GET sms/{order_id}`` answers each recipient's status word ("Get SMS message state");
  the provider pushes no delivery reports for this flow, so the dispatcher polls.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import Field, SecretStr, field_validator

from textgate.connectors.base import QueryRef, Submission
from textgate.connectors.callbacks import CallbackAnswer, CallbackRequest
from textgate.connectors.upstream.options import UpstreamOptions, api_base
from textgate.connectors.upstream.provider import auth_refused, no_callbacks
from textgate.connectors.upstream.replies import Relogin, Reply, common_reply
from textgate.core.encoding import Encoding
from textgate.core.message import DeliveryReport, Status
from textgate.errors import ConnectorError

__all__ = ["STATUS_WORDS", "SmsendOptions", "SmsendProvider"]

DEFAULT_BASE_URL: Final = "https://app.gateway.smsend.it/API/v1.0/REST/"

# "Get SMS message state", Possible returned statuses: the provider's word -> the report it
# is. None: no news yet (waiting, scheduled, handed to the operator). Refusals after the
# order was taken (limits, unknown or blacklisted numbers, contents) mean the provider
# never delivered it: failed. KO is the operator's refusal (SMSC_REJECTED): undelivered.
# DEMO (SENT_IN_DEMO_MODE) was never sent to a handset. CANCELLED is no provider word: the
# textgate that plays the provider says it of a cancelled scheduled order.
STATUS_WORDS: Final[dict[str, Status | None]] = {
    "WAITING": None,
    "SCHEDULED": None,
    "SENT": None,
    "WAIT4DLVR": Status.BUFFERED,
    "DLVRD": Status.DELIVERED,
    "TIMEOUT": Status.EXPIRED,
    "KO": Status.UNDELIVERED,
    "ERROR": Status.FAILED,
    "TOOM4USER": Status.FAILED,
    "TOOM4NUM": Status.FAILED,
    "UNKNRCPT": Status.FAILED,
    "UNKNPFX": Status.FAILED,
    "INVALIDDST": Status.FAILED,
    "BLACKLISTED": Status.FAILED,
    "INVALIDCONTENTS": Status.FAILED,
    "DEMO": Status.FAILED,
    "CANCELLED": Status.FAILED,
}
# HTTP statuses of "Send an SMS message" (Returns) and of the Authentication API.
_CREATED: Final = 201
_BAD_INPUT: Final = 400
_UNAUTHORIZED: Final = 401
_NOT_FOUND: Final = 404
_OK_RESULT: Final = "OK"
# "Authenticate using a session key" (GET login) and "... a user token" (GET token).
_LOGIN_PATHS: Final = {"session": "login", "token": "token"}
# 400 carries the reason in its body; a refusal for want of credit passes once the
# account is topped up, every other one would be refused again.
_RETRYABLE_WORDS: Final = ("credit",)


class SmsendOptions(UpstreamOptions):
    base_url: str = DEFAULT_BASE_URL
    username: str = Field(min_length=1)
    password: SecretStr = Field(min_length=1)
    # "token": log in once for an access token (valid until revoked); "session": a session
    # key, which the provider drops after 5 idle minutes (logged in again when it does).
    login: Literal["token", "session"] = "token"
    # How the login sends the credentials: the query string, as the provider documents
    # (masked in the HTTP client's log), or HTTP Basic where the deployment takes it.
    credentials_in: Literal["query", "basic"] = "query"
    # message_type: N (high quality, with delivery reports), L, LL; Skebby's GP, TI, SI.
    message_type: Literal["N", "L", "LL", "GP", "TI", "SI"] = "N"
    report_query_after_seconds: float = Field(default=60.0, gt=0, le=86_400)
    # The zone the provider writes delivery_date in.
    timezone: str = "UTC"

    @field_validator("base_url")
    @classmethod
    def _http_base(cls, value: str) -> str:
        return api_base(value, ", .../REST/")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("allowed: an IANA time zone such as Europe/Rome or UTC") from exc
        return value


class SmsendProvider:
    type_name = "smsend"

    def __init__(self, options: SmsendOptions) -> None:
        self.options = options
        self.report_query_after_ms: int | None = int(options.report_query_after_seconds * 1000)
        self._keys: tuple[str, str] | None = None
        """user_key and the session key or access token, once logged in."""
        self._zone = ZoneInfo(options.timezone)

    def secrets(self) -> Iterable[str]:
        yield self.options.password.get_secret_value()
        if self._keys is not None:
            yield self._keys[1]

    # ------------------------------------------------------------------ login

    def login_request(self, client: httpx.AsyncClient) -> httpx.Request | None:
        if self._keys is not None:
            return None
        o = self.options
        url = o.base_url + _LOGIN_PATHS[o.login]
        password = o.password.get_secret_value()
        if o.credentials_in == "basic":
            pair = base64.b64encode(f"{o.username}:{password}".encode()).decode()
            return client.build_request("GET", url, headers={"Authorization": f"Basic {pair}"})
        return client.build_request(
            "GET", url, params={"username": o.username, "password": password}
        )

    def read_login(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in (_UNAUTHORIZED, _NOT_FOUND):
            raise auth_refused(
                f"smsend refused the login of {self.options.username!r} (HTTP {status})"
            )
        if status != httpx.codes.OK:
            raise ConnectorError.not_sent(
                f"smsend login answered HTTP {status}", code="login_failed"
            )
        user_key, _, secret = response.text.strip().partition(";")
        if not user_key or not secret:
            raise ConnectorError.not_sent(
                "smsend login answer is not user_key;key", code="login_failed"
            )
        self._keys = (user_key, secret)

    def forget_session(self) -> None:
        self._keys = None

    def _auth_headers(self) -> dict[str, str]:
        if self._keys is None:  # login_request runs first; this is a bug, not a refusal
            raise ConnectorError.not_sent("smsend: no session", code="login_failed")
        user_key, secret = self._keys
        name = "Access_token" if self.options.login == "token" else "Session_key"
        return {"user_key": user_key, name: secret}

    # ------------------------------------------------------------------ sending

    def send_request(self, client: httpx.AsyncClient, submission: Submission) -> httpx.Request:
        body: dict[str, Any] = {
            "message_type": self.options.message_type,
            "message": submission.text,
            "recipient": [submission.recipient],
            "order_id": submission.message_id,
            "encoding": "ucs2" if submission.encoding == Encoding.UCS2 else "gsm",
            "returnCredits": False,
        }
        if submission.sender:
            body["sender"] = submission.sender
        return client.build_request(
            "POST",
            self.options.base_url + "sms",
            json=body,
            headers={**self._auth_headers(), "Accept": "application/json"},
        )

    def read_sent(self, response: httpx.Response, submission: Submission) -> Reply:
        common = common_reply(response)
        if common is not None:
            return common
        status = response.status_code
        if status in (_UNAUTHORIZED, _NOT_FOUND):
            return Relogin()
        body = _json(response)
        if 200 <= status < 300:
            order_id = body.get("order_id") if isinstance(body, dict) else None
            if body.get("result") == _OK_RESULT and order_id not in (None, ""):
                return str(order_id)
            if body.get("result") not in (None, _OK_RESULT):
                return ConnectorError(f"smsend: {_detail(body)}", retryable=False, code="ko")
            # Taken (2xx) but no order id to follow it by: it may well go out.
            return ConnectorError.in_doubt(
                "smsend answered without an order_id", code="no_order_id"
            )
        detail = _detail(body) or f"HTTP {status}"
        retryable = status == _BAD_INPUT and any(w in detail.lower() for w in _RETRYABLE_WORDS)
        return ConnectorError(
            f"smsend refused it: {detail}", retryable=retryable, code=f"http_{status}"
        )

    # ------------------------------------------------------------------ status

    def status_request(self, client: httpx.AsyncClient, ref: QueryRef) -> httpx.Request | None:
        url = self.options.base_url + "sms/" + quote(ref.external_id, safe="")
        return client.build_request("GET", url, headers=self._auth_headers())

    def read_status(
        self, connector: str, response: httpx.Response, ref: QueryRef
    ) -> DeliveryReport | None:
        if response.status_code != httpx.codes.OK:
            return None
        body = _json(response)
        recipients = body.get("recipients")
        if not isinstance(recipients, list) or not recipients:
            return None
        state = recipients[0] if isinstance(recipients[0], dict) else {}
        word = str(state.get("status") or "").upper()
        status = STATUS_WORDS.get(word)
        if status is None:
            return None
        return DeliveryReport(
            connector=connector,
            external_id=ref.external_id,
            status=status,
            at=self._when(state.get("delivery_date")),
            error_code=None if status == Status.DELIVERED else word,
        )

    def _when(self, value: object) -> datetime:
        if isinstance(value, str) and len(value) == len("yyyyMMddHHmmss") and value.isdigit():
            try:
                local = datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=self._zone)
            except ValueError:
                return datetime.now(UTC)
            return local.astimezone(UTC)
        return datetime.now(UTC)

    def read_callback(self, connector: str, kind: str, request: CallbackRequest) -> CallbackAnswer:
        return no_callbacks(kind)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _detail(body: dict[str, Any]) -> str:
    for key in ("error_message", "message", "error"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value[:200]
    return ""
