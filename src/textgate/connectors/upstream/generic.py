"""Any provider with an HTTP send API, described by templates (``type = "generic_http"``).

The options say how to build the request for one message (method, URL, headers, query,
body: ``templates.py``), how to read the provider's id for it from the answer (a JSON path
or a regular expression), which answers mean what, and, optionally, how to read the
status callbacks the provider pushes. Every template and table is checked at start, one
line per problem.

How an answer is read, first match wins:

1. ``throttled_statuses`` (429): a pause (Retry-After), the message waits;
2. ``not_sent_statuses`` (401, 407, 408: refused before the message was looked at): it
   waits, no attempt used; 401 and 407 mark the link ``auth_refused``;
3. ``refused_retryable_statuses``, ``refused_final_statuses``, ``in_doubt_statuses``;
4. 503 with Retry-After: a pause; any other 5xx: in doubt (``replies.py``);
5. ``success_statuses``: ``result_path``'s value checked against the ``*_values`` lists,
   then the id read (an answer without one is in doubt: it may have been taken);
6. any other 4xx: refused, final; anything else: in doubt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC
from typing import Any, Final, Literal

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from textgate.connectors.base import QueryRef, Submission
from textgate.connectors.callbacks import CallbackAnswer, CallbackRequest
from textgate.connectors.upstream.callback_fields import check_base_url
from textgate.connectors.upstream.callback_maps import (
    INBOUND_KIND,
    STATUS_KIND,
    InboundCallback,
    StatusCallback,
    read_inbound,
    read_status,
)
from textgate.connectors.upstream.options import UpstreamOptions
from textgate.connectors.upstream.provider import Sessionless, auth_refused, no_callbacks
from textgate.connectors.upstream.replies import Reply, Throttle, common_reply, retry_after
from textgate.connectors.upstream.templates import (
    check_template,
    json_at,
    parse_path,
    render,
    render_json,
    render_url,
)
from textgate.core.clock import from_ms, system_clock
from textgate.core.message import DeliveryReport
from textgate.errors import ConnectorError

__all__ = ["GenericOptions", "GenericProvider"]

_AUTH_STATUSES: Final = frozenset({401, 407})


class GenericOptions(UpstreamOptions):
    method: Literal["GET", "POST", "PUT", "PATCH"] = "POST"
    url: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    body_type: Literal["json", "form", "none"] = "json"
    body: dict[str, Any] | None = None
    # Credentials the templates name as {api_key}, {username}, {password}.
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    # The provider's id in a success answer: a JSON path, or a regular expression whose
    # first group is the id (exactly one of the two).
    id_path: str | None = None
    id_regex: str | None = None
    success_statuses: list[int] = Field(default_factory=lambda: [200, 201, 202])
    throttled_statuses: list[int] = Field(default_factory=lambda: [429])
    not_sent_statuses: list[int] = Field(default_factory=lambda: [401, 407, 408])
    refused_retryable_statuses: list[int] = Field(default_factory=list)
    refused_final_statuses: list[int] = Field(default_factory=list)
    in_doubt_statuses: list[int] = Field(default_factory=list)
    # A value in a success answer that says it was not a success after all.
    result_path: str | None = None
    throttled_values: list[str] = Field(default_factory=list)
    refused_retryable_values: list[str] = Field(default_factory=list)
    refused_final_values: list[str] = Field(default_factory=list)
    status_callback: StatusCallback | None = None
    inbound_callback: InboundCallback | None = None
    # This gateway's public base URL as the provider reaches it, for {callback_url}.
    callback_base_url: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        check_template(value)
        if not value.startswith(("http://", "https://")):
            raise ValueError("allowed: an http:// or https:// URL template")
        return value

    @field_validator("headers", "query", "body")
    @classmethod
    def _templates(cls, value: Any) -> Any:
        check_template(value)
        return value

    @field_validator("id_path", "result_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_path(value)
        return value

    @field_validator("id_regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            groups = re.compile(value).groups
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if groups < 1:
            raise ValueError("the expression needs a group around the id, e.g. id=(\\w+)")
        return value

    @field_validator("callback_base_url")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        return check_base_url(value)

    @model_validator(mode="after")
    def _whole(self) -> GenericOptions:
        if (self.id_path is None) == (self.id_regex is None):
            raise ValueError("set one of id_path and id_regex: how to read the provider's id")
        if self.body is not None and self.body_type == "none":
            raise ValueError("body is set but body_type is 'none'")
        form = self.body if self.body_type == "form" and self.body is not None else {}
        if any(not isinstance(v, str) for v in form.values()):
            raise ValueError("a form body maps field names to text templates")
        used = check_template([self.url, self.headers, self.query, self.body])
        if "callback_url" in used and self.callback_base_url is None:
            raise ValueError("{callback_url} is used: set callback_base_url")
        for name, secret in (("api_key", self.api_key), ("password", self.password)):
            if name in used and secret is None:
                raise ValueError(f"{{{name}}} is used: set the {name} option")
        if "username" in used and self.username is None:
            raise ValueError("{username} is used: set the username option")
        return self


class GenericProvider(Sessionless):
    type_name = "generic_http"
    report_query_after_ms: int | None = None

    def __init__(self, options: GenericOptions, *, connector: str = "", token: str = "") -> None:
        self.options = options
        self._id_path = None if options.id_path is None else parse_path(options.id_path)
        self._id_regex = None if options.id_regex is None else re.compile(options.id_regex)
        self._result_path = None if options.result_path is None else parse_path(options.result_path)
        self.callback_url = ""
        if options.callback_base_url is not None:
            self.callback_url = (
                f"{options.callback_base_url}/callbacks/{connector}/{token}/{STATUS_KIND}"
            )

    def secrets(self) -> Iterable[str]:
        for secret in (self.options.api_key, self.options.password):
            if secret is not None:
                yield secret.get_secret_value()

    # ------------------------------------------------------------------ sending

    def _values(self, submission: Submission) -> dict[str, str | None]:
        o = self.options
        return {
            "recipient": submission.recipient,
            "recipient_digits": submission.recipient.lstrip("+"),
            "sender": submission.sender or None,
            "text": submission.text,
            "message_id": submission.message_id,
            "encoding": submission.encoding,
            "segments": str(submission.segments),
            **_validity(submission.valid_until),
            "callback_url": self.callback_url,
            "api_key": None if o.api_key is None else o.api_key.get_secret_value(),
            "username": o.username,
            "password": None if o.password is None else o.password.get_secret_value(),
        }

    def send_request(self, client: httpx.AsyncClient, submission: Submission) -> httpx.Request:
        o = self.options
        values = self._values(submission)
        headers = {k: render(v, values) for k, v in o.headers.items()}
        if any("\r" in v or "\n" in v for v in headers.values()):
            raise ConnectorError(
                "a header template took a line break (the text?): cannot be sent",
                retryable=False,
                code="unsendable",
            )
        params = {k: render(v, values) for k, v in o.query.items()}
        content: dict[str, Any] = {}
        if o.body is not None and o.body_type == "json":
            content["json"] = render_json(o.body, values)
        elif o.body is not None and o.body_type == "form":
            content["data"] = {k: render(str(v), values) for k, v in o.body.items()}
        return client.build_request(
            o.method, render_url(o.url, values), headers=headers, params=params or None, **content
        )

    def read_sent(self, response: httpx.Response, submission: Submission) -> Reply:
        o = self.options
        status = response.status_code
        if status in o.throttled_statuses:
            return Throttle(retry_after(response), status)
        if status in o.not_sent_statuses:
            if status in _AUTH_STATUSES:
                return auth_refused(f"the provider refused the credentials (HTTP {status})")
            return ConnectorError.not_sent(
                f"the provider answered HTTP {status}", code=f"http_{status}"
            )
        if status in o.refused_retryable_statuses:
            return _refused(f"HTTP {status}", retryable=True, code=f"http_{status}")
        if status in o.refused_final_statuses:
            return _refused(f"HTTP {status}", retryable=False, code=f"http_{status}")
        if status in o.in_doubt_statuses:
            return ConnectorError.in_doubt(
                f"the provider answered HTTP {status}", code=f"http_{status}"
            )
        common = common_reply(response)
        if common is not None:
            return common
        if status in o.success_statuses:
            return self._success(response)
        if 400 <= status < 500:
            return _refused(f"HTTP {status}", retryable=False, code=f"http_{status}")
        return ConnectorError.in_doubt(
            f"the provider answered HTTP {status}", code=f"http_{status}"
        )

    def _success(self, response: httpx.Response) -> Reply:
        o = self.options
        data = _json(response.content) if self._id_path or self._result_path else None
        if self._result_path is not None:
            value = json_at(data, self._result_path)
            word = "" if value is None else str(value)
            if word in o.throttled_values:
                return Throttle(retry_after(response), response.status_code)
            if word in o.refused_retryable_values:
                return _refused(word, retryable=True, code=word[:64])
            if word in o.refused_final_values:
                return _refused(word, retryable=False, code=word[:64])
        if self._id_path is not None:
            found = json_at(data, self._id_path)
        else:
            assert self._id_regex is not None
            match = self._id_regex.search(response.text)
            found = match.group(1) if match else None
        if found is None or isinstance(found, dict | list) or str(found) == "":
            return ConnectorError.in_doubt("the answer has no id for the message", code="no_id")
        return str(found)

    # ------------------------------------------------------------------ status

    def status_request(self, client: httpx.AsyncClient, ref: QueryRef) -> httpx.Request | None:
        return None

    def read_status(
        self, connector: str, response: httpx.Response, ref: QueryRef
    ) -> DeliveryReport | None:
        return None

    def read_callback(self, connector: str, kind: str, request: CallbackRequest) -> CallbackAnswer:
        o = self.options
        if kind == STATUS_KIND and o.status_callback is not None:
            return read_status(o.status_callback, connector, request)
        if kind == INBOUND_KIND and o.inbound_callback is not None:
            return read_inbound(o.inbound_callback, connector, request)
        return no_callbacks(kind)


def _refused(detail: str, *, retryable: bool, code: str) -> ConnectorError:
    return ConnectorError(f"the provider refused it: {detail}", retryable=retryable, code=code)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None


def _validity(valid_until: int | None) -> dict[str, str | None]:
    """The ``valid_until`` and ``validity_seconds`` placeholders (None: none asked)."""
    if valid_until is None:
        return {"valid_until": None, "validity_seconds": None}
    moment = from_ms(valid_until).astimezone(UTC).isoformat(timespec="seconds")
    left = max(1, (valid_until - system_clock()) // 1000)
    return {"valid_until": moment.replace("+00:00", "Z"), "validity_seconds": str(left)}
