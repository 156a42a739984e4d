"""Overview charts, message search, a message's timeline, and the send form."""

from __future__ import annotations

import contextlib
import re
from typing import Any, Final
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from textgate.core.accounts import Account
from textgate.core.gsm7 import GSM7_BASIC_CHARS, GSM7_EXTENSION_CHARS
from textgate.core.message import FINAL, Message, Status
from textgate.core.numbers import normalize_number
from textgate.dashboard import charts
from textgate.dashboard.routing import dashboard_of, new_router
from textgate.dashboard.web import PREFIX, Dashboard, Viewer, redirect
from textgate.errors import GatewayError, InvalidRequest
from textgate.services.query import MessageFilter
from textgate.services.stats import RANGES, Overview
from textgate.services.submit import SubmitRequest

__all__ = ["router"]

router = new_router()
PAGE: Final = 50
_SPLIT = re.compile(r"[\s,;]+")
_DELIVERY_DONE = (Status.DELIVERED, Status.UNDELIVERED, Status.EXPIRED, Status.FAILED)


async def _account_viewer(request: Request) -> tuple[Dashboard, Viewer, Account]:
    """Pages about one account's messages: an account holder only."""
    dash = dashboard_of(request)
    viewer = await dash.viewer(request)
    if viewer.account is None:
        raise InvalidRequest("this page belongs to an account; sign in with its login")
    return dash, viewer, viewer.account


async def _reader(request: Request) -> tuple[Dashboard, Viewer, Account]:
    """Reading an account's messages: its holder, or the operator naming it (?account=)."""
    dash = dashboard_of(request)
    viewer = await dash.viewer(request)
    if viewer.account is not None:
        return dash, viewer, viewer.account
    name = request.query_params.get("account", "")
    if not name:
        raise InvalidRequest("choose an account on the Accounts page to see its messages")
    return dash, viewer, await dash.services.accounts.by_name(name)


@router.get("/")
async def overview(request: Request) -> Response:
    dash = dashboard_of(request)
    viewer = await dash.viewer(request)
    range_key = request.query_params.get("range", "24h")
    account: Account | None = viewer.account
    accounts: list[tuple[str, str]] = []
    balance: int | None = None
    if viewer.operator:
        accounts = await dash.services.stats.accounts()
        chosen = request.query_params.get("account")
        if chosen:
            account = await dash.services.accounts.by_name(chosen)
    account_id = None if account is None else account.id
    data = await dash.services.stats.overview(account_id, range_key)
    margins = None
    if viewer.operator:
        # Upstream costs are the operator's business: account holders see what they spent.
        until = data.since_ms + data.range.span_ms
        margins = await dash.services.margins.report(
            account_id, since_ms=data.since_ms, until_ms=until
        )
    if viewer.account is not None:
        balance = (await dash.services.accounts.summary(viewer.account)).balance
    return dash.page(
        request,
        "overview.html",
        viewer,
        data=data,
        ranges=RANGES.values(),
        account=account,
        accounts=accounts,
        balance=balance,
        charts=_charts(data),
        margins=margins,
    )


def _charts(data: Overview) -> dict[str, Any]:
    n = len(data.slots)
    done = [sum(data.by_status.get(s.value, (0,) * n)[i] for s in _DELIVERY_DONE) for i in range(n)]
    delivered = data.by_status.get(Status.DELIVERED.value, (0,) * n)
    rate = [100.0 * delivered[i] / done[i] if done[i] else None for i in range(n)]
    per = "hour" if data.range.bucket_ms == 3_600_000 else "slice"
    return {
        "status": charts.stacked_bars(f"Messages per {per} by status", data.slots, data.by_status),
        "rate": charts.line("Delivery rate", data.slots, rate, "%"),
        "parts": charts.bars("Parts", data.slots, data.parts),
        "spend": charts.bars("Spend (credits)", data.slots, [c / 1_000_000 for c in data.cost]),
        "latency": charts.line(
            "Submit to delivered (seconds)",
            data.slots,
            [None if v is None else v / 1000 for v in data.latency_ms],
            "s",
        ),
        "colours": charts.STATUS_COLOURS,
    }


def _filter(request: Request, account: Account) -> tuple[MessageFilter, dict[str, str]]:
    q = request.query_params
    shown = {k: q.get(k, "").strip() for k in ("status", "recipient", "order", "before")}
    recipient = shown["recipient"]
    if recipient:
        # Numbers are stored in E.164: find "06 12 34 56 78" as the API would store it.
        with contextlib.suppress(InvalidRequest):
            recipient = normalize_number(recipient, account.default_country)
    status = None
    if shown["status"]:
        try:
            status = Status(shown["status"])
        except ValueError as exc:
            raise InvalidRequest(f"unknown status {shown['status']!r}") from exc
    flt = MessageFilter(
        status=status,
        recipient=recipient or None,
        order_id=shown["order"] or None,
        before_id=shown["before"] or None,
    )
    return flt, shown


@router.get("/messages")
async def messages(request: Request) -> Response:
    dash, viewer, account = await _reader(request)
    flt, shown = _filter(request, account)
    found = await dash.services.messages.search(account.id, flt, limit=PAGE + 1)
    rows, more = found[:PAGE], len(found) > PAGE
    template = "_message_rows.html" if request.query_params.get("fragment") else "messages.html"
    return dash.page(
        request,
        template,
        viewer,
        rows=rows,
        more=more,
        shown=shown,
        statuses=[s.value for s in Status if s is not Status.RECEIVED],
        owner=_owner(viewer, account),
        live=any(m.status not in FINAL for m in rows),
    )


@router.get("/messages/{message_id}")
async def message(request: Request, message_id: str) -> Response:
    dash, viewer, account = await _reader(request)
    found: Message = await dash.services.messages.get(account.id, message_id)
    return dash.page(
        request,
        "message.html",
        viewer,
        m=found,
        live=found.status not in FINAL,
        owner=_owner(viewer, account),
    )


def _owner(viewer: Viewer, account: Account) -> str:
    """The query that keeps the operator on the account they chose ("" for its holder)."""
    return "" if not viewer.operator else "account=" + quote(account.name, safe="")


def _send_page(request: Request, dash: Dashboard, viewer: Viewer, **context: Any) -> Response:
    return dash.page(
        request,
        "send.html",
        viewer,
        gsm_basic="".join(sorted(GSM7_BASIC_CHARS)),
        gsm_ext="".join(sorted(GSM7_EXTENSION_CHARS)),
        **context,
    )


@router.get("/send")
async def send_form(request: Request) -> Response:
    dash, viewer, _ = await _account_viewer(request)
    return _send_page(request, dash, viewer, form={})


@router.post("/send")
async def send(request: Request) -> Response:
    dash, viewer, account = await _account_viewer(request)
    form = await dash.form(request, viewer.csrf)
    recipients = [r for r in _SPLIT.split(form.get("to", "")) if r]
    try:
        if not recipients:
            raise InvalidRequest("give at least one recipient")
        result = await dash.services.submit.submit(
            SubmitRequest(
                account=account,
                recipients=recipients,
                # Browsers send a textarea's line breaks as CRLF; people mean one break.
                text=form.get("text", "").replace("\r\n", "\n"),
                sender=form.get("sender", "").strip() or None,
                interface="dashboard",
                # No peer address: None, which an allowlist refuses (fails closed).
                client_ip=request.client.host if request.client else None,
            )
        )
    except GatewayError as exc:
        return _send_page(request, dash, viewer, form=form, error=exc.message, status_code=400)
    return redirect(f"{PREFIX}/messages?order={result.order_id}")
