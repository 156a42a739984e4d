"""SMSmobileAPI (the customer's own Android phones) as an upstream provider
(``type = "smsmobileapi"``).

What this module knows, all from seed 003:

- Authentication: the ``apikey`` parameter on every call, or OAuth2 client credentials
  (``POST oauth2/token`` -> ``access_token``, then ``Authorization: Bearer``).
- ``POST sendsms/`` (form: ``recipients``, ``message``, optional ``port`` and
  ``sIdentifiant``) answers ``{"result": {"error": 0, "sent": "1", "id": ...}}``:
  ``error`` "0 = no error. If another value is returned, the request failed or was
  blocked"; ``sent`` "1 = the message has been accepted for sending by the mobile". The
  provider publishes no list of error values: they are kept as the message's error code.
- ``GET log/sent/sms/?guid_message=`` lists the message with ``send_from_mobile`` (1: the
  phone sent it), ``send_from_mobile_erreur`` (the phone's error) and ``error_api``. That is
  as far as the API follows a message: no handset delivery report exists, so "sent by the
  phone" is its final word and is recorded as ``delivered``; an error is ``failed``.
- Received SMS: ``GET getsms/?onlyunread=yes`` (``guid``, ``number``, ``message``,
  ``sIdentifiantPhone``, ``timestamp_unix``), then ``GET getsms/set-read/?guid_message=``
  once stored: the provider's read flag is the durable record of what was taken, so a
  restart takes nothing twice (only a crash between storing and marking can). Or the
  received-SMS webhook (a JSON POST of ``date``, ``hour``, ``time_received``, ``message``,
  ``number``, ``guid``) to ``/callbacks/<name>/<token>/inbound``. Neither names the number
  the SMS was sent to: ``phone_number`` (or ``phone_numbers`` by phone) says it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from textgate.connectors.base import QueryRef, Submission
from textgate.connectors.callbacks import CallbackAnswer, CallbackRefused, CallbackRequest
from textgate.connectors.upstream.callback_maps import INBOUND_KIND
from textgate.connectors.upstream.options import UpstreamOptions, api_base
from textgate.connectors.upstream.provider import auth_refused, no_callbacks
from textgate.connectors.upstream.replies import Relogin, Reply, common_reply
from textgate.core.inbound import InboundMessage
from textgate.core.message import DeliveryReport, Status
from textgate.errors import ConnectorError

__all__ = ["SmsmobileapiOptions", "SmsmobileapiProvider"]

DEFAULT_BASE_URL: Final = "https://api.smsmobileapi.com/"
_NO_ERROR: Final = frozenset({"", "0", "None", "null"})
"""``result.error`` values that mean no error: 0 (a number in the send answer, a string
elsewhere), and empty or null (the received-SMS and delete answers)."""
_SENT: Final = "1"
_UNAUTHORIZED: Final = 401
_FORBIDDEN: Final = 403
_PAYMENT_REQUIRED: Final = 402
"""Out of credit: passes once the account is topped up (retryable)."""
_SERVER_TIME: Final = "%Y-%m-%d %H:%M:%S"


class SmsmobileapiOptions(UpstreamOptions):
    base_url: str = DEFAULT_BASE_URL
    api_key: SecretStr | None = None
    # Or OAuth2 client credentials (the dashboard's client_id and client_secret).
    client_id: str | None = None
    client_secret: SecretStr | None = None
    # Which connected phone sends (sIdentifiant; unset: the first available) and its SIM.
    device: str | None = None
    port: Literal[1, 2] | None = None
    report_query_after_seconds: float = Field(default=30.0, gt=0, le=86_400)
    # Received SMS: "poll" getsms/ every inbound_poll_seconds, "webhook" (the dashboard's
    # webhook URL set to this connector's .../inbound callback), or "off".
    inbound: Literal["off", "poll", "webhook"] = "off"
    inbound_poll_seconds: float = Field(default=10.0, gt=0, le=3600)
    # The phones' own numbers: the recipient of what they receive (by sIdentifiantPhone,
    # else phone_number).
    phone_number: str | None = None
    phone_numbers: dict[str, str] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _http_base(cls, value: str) -> str:
        return api_base(value, "")

    @model_validator(mode="after")
    def _whole(self) -> SmsmobileapiOptions:
        oauth = self.client_id is not None or self.client_secret is not None
        if oauth and (not self.client_id or self.client_secret is None):
            raise ValueError("set both client_id and client_secret (OAuth2)")
        if (self.api_key is None) == (not oauth):
            raise ValueError("set api_key, or client_id and client_secret")
        if self.inbound != "off" and not (self.phone_number or self.phone_numbers):
            raise ValueError("inbound is on: set phone_number (the number your phone receives on)")
        return self


class SmsmobileapiProvider:
    type_name = "smsmobileapi"

    def __init__(self, options: SmsmobileapiOptions) -> None:
        self.options = options
        self.report_query_after_ms: int | None = int(options.report_query_after_seconds * 1000)
        self._token: str | None = None
        """The OAuth2 access token, once issued."""

    @property
    def oauth(self) -> bool:
        return self.options.api_key is None

    def secrets(self) -> Iterable[str]:
        for secret in (self.options.api_key, self.options.client_secret):
            if secret is not None:
                yield secret.get_secret_value()
        if self._token is not None:
            yield self._token

    # ------------------------------------------------------------------ credentials

    def login_request(self, client: httpx.AsyncClient) -> httpx.Request | None:
        o = self.options
        if not self.oauth or self._token is not None or o.client_secret is None:
            return None
        form = {
            "grant_type": "client_credentials",
            "client_id": o.client_id or "",
            "client_secret": o.client_secret.get_secret_value(),
        }
        return client.build_request("POST", o.base_url + "oauth2/token", data=form)

    def read_login(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in (400, _UNAUTHORIZED, _FORBIDDEN):
            raise auth_refused(
                f"smsmobileapi refused the client {self.options.client_id!r} (HTTP {status})"
            )
        token = _json(response).get("access_token")
        if status != httpx.codes.OK or not isinstance(token, str) or not token:
            raise ConnectorError.not_sent(
                f"smsmobileapi token request answered HTTP {status}", code="login_failed"
            )
        self._token = token

    def forget_session(self) -> None:
        self._token = None

    def _auth(self, fields: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """``fields`` with the API key, and the headers (a Bearer token for OAuth2)."""
        if self.options.api_key is not None:
            return {"apikey": self.options.api_key.get_secret_value(), **fields}, {}
        if self._token is None:  # login_request runs first; a bug, not a refusal
            raise ConnectorError.not_sent("smsmobileapi: no access token", code="login_failed")
        return fields, {"Authorization": f"Bearer {self._token}"}

    def _get(self, client: httpx.AsyncClient, path: str, **fields: str) -> httpx.Request:
        params, headers = self._auth(fields)
        return client.build_request(
            "GET",
            self.options.base_url + path,
            params=params,
            headers={**headers, "Accept": "application/json"},
        )

    # ------------------------------------------------------------------ sending

    def send_request(self, client: httpx.AsyncClient, submission: Submission) -> httpx.Request:
        o = self.options
        fields = {"recipients": submission.recipient, "message": submission.text}
        if o.port is not None:
            fields["port"] = str(o.port)
        if o.device:
            fields["sIdentifiant"] = o.device
        form, headers = self._auth(fields)
        return client.build_request(
            "POST",
            o.base_url + "sendsms/",
            data=form,
            headers={**headers, "Accept": "application/json"},
        )

    def read_sent(self, response: httpx.Response, submission: Submission) -> Reply:
        common = common_reply(response)
        if common is not None:
            return common
        status = response.status_code
        if status == _UNAUTHORIZED and self._token is not None:
            return Relogin()
        if status in (_UNAUTHORIZED, _FORBIDDEN):
            return auth_refused(f"smsmobileapi refused the credentials (HTTP {status})")
        result = _result(response)
        error = str(result.get("error"))
        note = str(result.get("note") or "")[:200]
        if 200 <= status < 300:
            message_id = str(result.get("id") or "")
            if error in _NO_ERROR and str(result.get("sent")) == _SENT and message_id:
                return message_id
            if error not in _NO_ERROR:
                return _refused(error, note, retryable=False)
            if str(result.get("sent")) == "0":
                return _refused("not_sent", note or "not accepted by the mobile", retryable=False)
            return ConnectorError.in_doubt("smsmobileapi answered without an id", code="no_id")
        if 400 <= status < 500:
            code = error if error not in _NO_ERROR else f"http_{status}"
            return _refused(code, note or f"HTTP {status}", retryable=status == _PAYMENT_REQUIRED)
        return ConnectorError.in_doubt(f"smsmobileapi answered HTTP {status}")

    # ------------------------------------------------------------------ status

    def status_request(self, client: httpx.AsyncClient, ref: QueryRef) -> httpx.Request | None:
        return self._get(client, "log/sent/sms/", guid_message=ref.external_id)

    def read_status(
        self, connector: str, response: httpx.Response, ref: QueryRef
    ) -> DeliveryReport | None:
        if response.status_code != httpx.codes.OK:
            return None
        lines = [s for s in _result(response).get("sms") or () if isinstance(s, dict)]
        if not lines:
            return None
        # Newest first: a message resent from the dashboard lists its latest attempt first.
        line = next((s for s in lines if s.get("guid_message") == ref.external_id), lines[0])
        api_error = str(line.get("error_api") or "")
        phone_error = str(line.get("send_from_mobile_erreur") or "")
        if api_error or phone_error:
            status, error = Status.FAILED, (api_error or phone_error)[:64]
        elif str(line.get("send_from_mobile")) == _SENT:
            status, error = Status.DELIVERED, None
        else:
            return None  # still waiting for its phone
        day = str(line.get("send_from_mobile_date_server") or "")
        hour = str(line.get("send_from_mobile_heure_server") or "")
        return DeliveryReport(connector, ref.external_id, status, _utc(f"{day} {hour}"), error)

    # ------------------------------------------------------------------ received SMS

    def inbox_request(self, client: httpx.AsyncClient) -> httpx.Request:
        return self._get(client, "getsms/", onlyunread="yes")

    def read_inbox(self, connector: str, response: httpx.Response) -> list[InboundMessage]:
        """The received SMS of a ``getsms/`` answer, oldest first (an answer that is no
        list of them raises ConnectorError: nothing is taken)."""
        result = _result(response)
        if response.status_code != httpx.codes.OK or str(result.get("error")) not in _NO_ERROR:
            raise ConnectorError.not_sent(
                f"smsmobileapi getsms answered HTTP {response.status_code}: "
                f"{str(result.get('note') or result.get('error'))[:200]}",
                code=f"http_{response.status_code}",
            )
        found = []
        for s in result.get("sms") or ():
            if not isinstance(s, dict) or not s.get("guid") or not s.get("number"):
                continue
            stamp = s.get("timestamp_unix")
            received = (
                datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int) else datetime.now(UTC)
            )
            found.append(self._inbound(connector, s, received, str(s.get("sIdentifiantPhone"))))
        return sorted(found, key=lambda m: m.received_at)

    def set_read_request(self, client: httpx.AsyncClient, guid: str) -> httpx.Request:
        return self._get(client, "getsms/set-read/", guid_message=guid)

    def _inbound(
        self, connector: str, sms: Mapping[str, Any], received: datetime, phone: str = ""
    ) -> InboundMessage:
        o = self.options
        return InboundMessage(
            connector=connector,
            sender=_number(str(sms["number"])),
            recipient=o.phone_numbers.get(phone) or o.phone_number or "",
            text=str(sms.get("message") or ""),
            received_at=received,
            external_id=str(sms.get("guid") or "")[:128] or None,
        )

    def read_callback(self, connector: str, kind: str, request: CallbackRequest) -> CallbackAnswer:
        if kind != INBOUND_KIND or self.options.inbound != "webhook":
            return no_callbacks(kind)
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            raise CallbackRefused("the webhook body is not JSON") from None
        if not isinstance(body, dict) or not body.get("number") or "message" not in body:
            raise CallbackRefused("a received-SMS webhook needs number and message")
        received = _utc(str(body.get("time_received") or ""))
        return CallbackAnswer(inbound=(self._inbound(connector, body, received),))


def _refused(code: str, note: str, *, retryable: bool) -> ConnectorError:
    return ConnectorError(
        f"smsmobileapi refused it: {note or code}",
        retryable=retryable,
        code=f"smsmobileapi_{code}"[:64],
    )


def _number(value: str) -> str:
    """As the API wrote it (short codes stay short), an ``00`` prefix read as ``+``."""
    number = value.strip().replace(" ", "")
    return "+" + number[2:] if number.startswith("00") and number[2:].isdigit() else number


def _utc(value: str) -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` in the server's time (UTC), else now."""
    try:
        return datetime.strptime(value.strip(), _SERVER_TIME).replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


def _result(response: httpx.Response) -> dict[str, Any]:
    result = _json(response).get("result")
    return result if isinstance(result, dict) else {}


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
