"""An account's own settings: rules, SMPP login, API keys, webhooks; and its inbox."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request
from fastapi.responses import Response

from textgate.core.accounts import Account
from textgate.core.webhooks import EVENT_TYPES
from textgate.dashboard.routing import dashboard_of, new_router
from textgate.dashboard.web import PREFIX, Dashboard, Viewer, redirect
from textgate.errors import GatewayError, InvalidRequest
from textgate.services.smpp_logins import MAX_PASSWORD_LENGTH, MAX_SYSTEM_ID_LENGTH

__all__ = ["router"]

router = new_router()
# Settings edited as comma-separated lists, a checkbox, or "CC=price" lines; others as text.
_LISTS: Final = ("allowed_ips", "allowed_senders", "countries_allowed", "countries_blocked")
_FLAGS: Final = ("dedupe",)
_PRICES: Final = "prices"
# What the settings page says after an SMPP login form (``?smpp=``).
_SMPP_DONE: Final = {"set": "SMPP login saved.", "deleted": "SMPP login deleted."}


async def _account(request: Request) -> tuple[Dashboard, Viewer, Account]:
    dash = dashboard_of(request)
    viewer = await dash.viewer(request)
    if viewer.account is None:
        raise InvalidRequest("this page belongs to an account; sign in with its login")
    return dash, viewer, viewer.account


def _as_fields(public: dict[str, Any]) -> dict[str, str]:
    """The rules as the form shows them."""
    out: dict[str, str] = {}
    for name, value in public.items():
        if name in _LISTS:
            out[name] = ", ".join(value)
        elif name == _PRICES:
            out[name] = "\n".join(f"{k}={v}" for k, v in sorted(value.items()))
        elif name in _FLAGS:
            out[name] = "on" if value else ""
        else:
            out[name] = "" if value is None else str(value)
    return out


def _changes(current: dict[str, str], form: dict[str, str]) -> dict[str, Any]:
    """Only what the form changed, in the form ``update_settings`` takes."""
    changes: dict[str, Any] = {}
    for name, shown in current.items():
        posted = form.get(name, "").strip()
        if name in _FLAGS:
            if (posted == "on") != (shown == "on"):
                changes[name] = posted == "on"
            continue
        if posted == shown.strip():
            continue
        if name == _PRICES:
            prices: dict[str, str] = {}
            for line in posted.splitlines():
                if line.strip():
                    code, sep, price = line.partition("=")
                    if not sep:
                        raise InvalidRequest("prices: one 'CC=price' per line")
                    prices[code.strip()] = price.strip()
            changes[name] = prices
        else:
            changes[name] = posted or None
    return changes


async def _settings_page(
    request: Request,
    dash: Dashboard,
    viewer: Viewer,
    account: Account,
    *,
    status_code: int = 200,
    fields: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    summary = await dash.services.accounts.summary(account)
    smpp_logins = await dash.services.smpp_logins.of_account(account.id)
    return dash.page(
        request,
        "settings.html",
        viewer,
        status_code=status_code,
        fields=fields or _as_fields(account.rules.to_public()),
        summary=summary,
        lists=_LISTS,
        flags=_FLAGS,
        smpp_logins=smpp_logins,
        smpp_limits=(MAX_SYSTEM_ID_LENGTH, MAX_PASSWORD_LENGTH),
        **context,
    )


@router.get("/settings")
async def settings_page(request: Request) -> Response:
    dash, viewer, account = await _account(request)
    return await _settings_page(
        request,
        dash,
        viewer,
        account,
        saved=request.query_params.get("saved") == "1",
        smpp_done=_SMPP_DONE.get(request.query_params.get("smpp", "")),
    )


@router.post("/settings")
async def save_settings(request: Request) -> Response:
    dash, viewer, account = await _account(request)
    form = await dash.form(request, viewer.csrf)
    current = _as_fields(account.rules.to_public())
    try:
        changes = _changes(current, form)
        if changes:
            await dash.services.accounts.update_settings(account.id, changes)
    except GatewayError as exc:
        return await _settings_page(
            request,
            dash,
            viewer,
            account,
            status_code=400,
            fields={**current, **{k: form.get(k, "") for k in current}},
            error=exc.message,
        )
    return redirect(f"{PREFIX}/settings?saved=1")


@router.post("/smpp-logins")
async def set_smpp_login(request: Request) -> Response:
    """Set the account's SMPP system_id and password (replacing the pair it had)."""
    dash, viewer, account = await _account(request)
    form = await dash.form(request, viewer.csrf)
    system_id = form.get("system_id", "").strip()
    try:
        await dash.services.smpp_logins.set_login(account.id, system_id, form.get("password", ""))
    except GatewayError as exc:
        # The password is never shown again, not even in the form it came from.
        return await _settings_page(
            request,
            dash,
            viewer,
            account,
            status_code=400,
            smpp_error=exc.message,
            smpp_system_id=system_id,
        )
    return redirect(f"{PREFIX}/settings?smpp=set#smpp")


@router.post("/smpp-logins/delete")
async def delete_smpp_login(request: Request) -> Response:
    # The system_id travels in the form: it may hold '/', '?' or '#' (SMPP 3.4 5.2.1 allows
    # any printable ASCII), which a path would have to escape.
    dash, viewer, account = await _account(request)
    form = await dash.form(request, viewer.csrf)
    await dash.services.smpp_logins.remove(account.id, form.get("system_id", ""))
    return redirect(f"{PREFIX}/settings?smpp=deleted#smpp")


async def _keys_page(
    request: Request, dash: Dashboard, viewer: Viewer, account: Account, **context: Any
) -> Response:
    keys = await dash.services.stats.keys(account.id)
    # Live keys first, each group oldest first.
    keys.sort(key=lambda k: (k.revoked_at is not None, k.created_at))
    return dash.page(request, "keys.html", viewer, keys=keys, **context)


@router.get("/keys")
async def keys_page(request: Request) -> Response:
    dash, viewer, account = await _account(request)
    return await _keys_page(request, dash, viewer, account)


@router.post("/keys")
async def create_key(request: Request) -> Response:
    dash, viewer, account = await _account(request)
    form = await dash.form(request, viewer.csrf)
    label = form.get("label", "").strip()[:100] or None
    issued = await dash.services.accounts.issue_key(account.id, label=label)
    # The token is shown on this response only: it is stored as a digest.
    return await _keys_page(request, dash, viewer, account, issued=issued)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str) -> Response:
    dash, viewer, account = await _account(request)
    await dash.form(request, viewer.csrf)
    await dash.services.accounts.revoke_key(account.id, key_id)
    return redirect(f"{PREFIX}/keys")


@router.get("/webhooks")
async def webhooks_page(request: Request) -> Response:
    dash, viewer, account = await _account(request)
    hooks = await dash.services.webhooks.of_account(account.id)
    return dash.page(
        request, "webhooks.html", viewer, hooks=hooks, events=sorted(EVENT_TYPES), form={}
    )


@router.post("/webhooks")
async def create_webhook(request: Request) -> Response:
    dash, viewer, account = await _account(request)
    values = await dash.multi_form(request, viewer.csrf)
    url = (values.get("url") or [""])[-1].strip()
    events = values.get("events") or []
    try:
        created = await dash.services.webhooks.create(account.id, url, events, None)
    except GatewayError as exc:
        hooks = await dash.services.webhooks.of_account(account.id)
        return dash.page(
            request,
            "webhooks.html",
            viewer,
            status_code=400,
            hooks=hooks,
            events=sorted(EVENT_TYPES),
            form={"url": url, "events": events},
            error=exc.message,
        )
    hooks = await dash.services.webhooks.of_account(account.id)
    return dash.page(
        request, "webhooks.html", viewer, hooks=hooks, events=sorted(EVENT_TYPES), created=created
    )


@router.post("/webhooks/{webhook_id}/delete")
async def delete_webhook(request: Request, webhook_id: str) -> Response:
    dash, viewer, account = await _account(request)
    await dash.form(request, viewer.csrf)
    await dash.services.webhooks.delete(account.id, webhook_id)
    return redirect(f"{PREFIX}/webhooks")


@router.get("/webhooks/{webhook_id}")
async def webhook_page(request: Request, webhook_id: str) -> Response:
    dash, viewer, account = await _account(request)
    hook = await dash.services.webhooks.get(account.id, webhook_id)
    status = request.query_params.get("status") or None
    deliveries = (
        await dash.services.webhooks.deliveries(account.id, webhook_id, status=status, limit=100)
    ).items
    return dash.page(request, "webhook.html", viewer, hook=hook, deliveries=deliveries)


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/replay")
async def replay_delivery(request: Request, webhook_id: str, delivery_id: str) -> Response:
    dash, viewer, account = await _account(request)
    await dash.form(request, viewer.csrf)
    await dash.services.webhooks.retry(account.id, delivery_id)
    return redirect(f"{PREFIX}/webhooks/{webhook_id}")


@router.get("/inbox")
async def inbox(request: Request) -> Response:
    dash, viewer, account = await _account(request)
    threads = await dash.services.inbound.threads(account.id, limit=100)
    return dash.page(request, "inbox.html", viewer, threads=threads)


@router.get("/inbox/{number}")
async def conversation(request: Request, number: str) -> Response:
    dash, viewer, account = await _account(request)
    items = await dash.services.inbound.thread(account.id, number, limit=200)
    return dash.page(request, "conversation.html", viewer, number=number, items=items)
