"""``textgate mailup ...``: the MailUp interface's lists, templates, SMTP+ users and
campaign statistics (seed 002)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from textgate.cli.common import ConfigOpt, execute, load, with_gateway
from textgate.core.lists import ConsoleStatus, TemplateKind
from textgate.core.pricing import format_amount
from textgate.errors import InvalidRequest
from textgate.runtime import Gateway

__all__ = ["mailup_app"]

mailup_app = typer.Typer(
    help="MailUp interface: lists, templates, SMTP+ users, campaigns.", no_args_is_help=True
)


def _run(config: Path | None, body: Any) -> Any:
    settings = load(config)
    return execute(lambda: with_gateway(settings, body))


async def _account_id(gw: Gateway, name: str) -> str:
    return (await gw.services.accounts.by_name(name)).id


@mailup_app.command("console")
def console_cmd(
    account: str,
    config: ConfigOpt = None,
    number: Annotated[int | None, typer.Option(help="Console number to give (first time)")] = None,
    status: Annotated[str | None, typer.Option(help="active, suspended or deleted")] = None,
) -> None:
    """Show (making it on first use) the account's console number, or change its status."""

    async def body(gw: Gateway) -> dict[str, Any]:
        account_id = await _account_id(gw, account)
        console = await gw.services.lists.console(account_id, number)
        if status is not None:
            try:
                new = ConsoleStatus(status)
            except ValueError as exc:
                raise InvalidRequest("status: active, suspended or deleted") from exc
            await gw.services.lists.set_console_status(account_id, new)
            console = await gw.services.lists.console(account_id)
        return {"account": account, "console_id": console.console_id, "status": console.status}

    print(json.dumps(_run(config, body)))


@mailup_app.command("list-create")
def list_create(
    account: str,
    name: str,
    config: ConfigOpt = None,
    prefix: Annotated[str | None, typer.Option(help="Default country calling code")] = None,
    sender: Annotated[str | None, typer.Option(help="SMS sender name")] = None,
    guid: Annotated[
        str | None, typer.Option(help="Keep this ListGUID (a list moved from elsewhere)")
    ] = None,
) -> None:
    """Create a list; prints its id and GUID."""

    async def body(gw: Gateway) -> dict[str, Any]:
        account_id = await _account_id(gw, account)
        found = await gw.services.lists.create(
            account_id, name, default_prefix=prefix, sms_sender=sender, guid=guid
        )
        console = await gw.services.lists.console(account_id)
        return {"console_id": console.console_id, "list_id": found.list_id, "guid": found.guid}

    print(json.dumps(_run(config, body)))


@mailup_app.command("lists")
def lists_cmd(account: str, config: ConfigOpt = None) -> None:
    """The account's lists (one JSON object a line)."""

    async def body(gw: Gateway) -> list[dict[str, Any]]:
        account_id = await _account_id(gw, account)
        return [
            {
                "list_id": x.list_id,
                "name": x.name,
                "guid": x.guid,
                "secret_set": x.secret is not None,
                "default_prefix": x.default_prefix,
                "sms_sender": x.sms_sender,
            }
            for x in await gw.services.lists.lists(account_id)
        ]

    for line in _run(config, body):
        print(json.dumps(line))


@mailup_app.command("list-set")
def list_set(
    account: str,
    list_id: int,
    config: ConfigOpt = None,
    prefix: Annotated[str | None, typer.Option(help="Default country calling code")] = None,
    sender: Annotated[str | None, typer.Option(help="SMS sender name")] = None,
    secret: Annotated[
        str | None, typer.Option(help="Use this ListSecret (one the clients already have)")
    ] = None,
) -> None:
    """Change a list's default prefix, SMS sender name or ListSecret."""

    async def body(gw: Gateway) -> None:
        account_id = await _account_id(gw, account)
        lists = gw.services.lists
        await lists.update(account_id, list_id, default_prefix=prefix, sms_sender=sender)
        if secret is not None:
            await lists.import_secret(account_id, list_id, secret)

    _run(config, body)


@mailup_app.command("opt-out")
def opt_out(
    account: str,
    list_id: int,
    numbers: list[str],
    config: ConfigOpt = None,
    remove: Annotated[bool, typer.Option("--remove", help="Opt the numbers back in")] = False,
) -> None:
    """Opt numbers out of (or with --remove back into) a list's messages."""

    async def body(gw: Gateway) -> list[str]:
        account_id = await _account_id(gw, account)
        lists = gw.services.lists
        if remove:
            return await lists.remove_opt_outs(account_id, list_id, numbers)
        return await lists.add_opt_outs(account_id, list_id, numbers)

    print("\n".join(_run(config, body)))


@mailup_app.command("template-add")
def template_add(
    account: str,
    name: str,
    config: ConfigOpt = None,
    kind: Annotated[str, typer.Option(help="sms or email")] = "sms",
    text: Annotated[str | None, typer.Option(help="Text (with [Name] merge tags)")] = None,
    html: Annotated[str | None, typer.Option(help="HTML body (email)")] = None,
    subject: Annotated[str | None, typer.Option(help="Subject (email)")] = None,
    template_id: Annotated[
        int | None,
        typer.Option("--id", help="TemplateId to keep (the one it had at MailUp)"),
    ] = None,
) -> None:
    """Store a template; prints its TemplateId."""

    async def body(gw: Gateway) -> int:
        account_id = await _account_id(gw, account)
        try:
            template_kind = TemplateKind(kind)
        except ValueError as exc:
            raise InvalidRequest("kind: sms or email") from exc
        made = await gw.services.lists.add_template(
            account_id,
            template_kind,
            name,
            subject=subject,
            text=text,
            html=html,
            template_id=template_id,
        )
        return made.template_id

    print(_run(config, body))


@mailup_app.command("templates")
def templates_cmd(account: str, config: ConfigOpt = None) -> None:
    """The account's templates (one JSON object a line)."""

    async def body(gw: Gateway) -> list[dict[str, Any]]:
        account_id = await _account_id(gw, account)
        return [
            {"id": t.template_id, "kind": t.kind.value, "name": t.name, "subject": t.subject}
            for t in await gw.services.lists.templates(account_id)
        ]

    for line in _run(config, body):
        print(json.dumps(line))


@mailup_app.command("template-remove")
def template_remove(account: str, template_id: int, config: ConfigOpt = None) -> None:
    """Delete a template."""

    async def body(gw: Gateway) -> None:
        await gw.services.lists.remove_template(await _account_id(gw, account), template_id)

    _run(config, body)


@mailup_app.command("smtp-user-create")
def smtp_user_create(account: str, list_id: int, config: ConfigOpt = None) -> None:
    """Create an SMTP+ user of a list; prints its username and secret (shown once)."""

    async def body(gw: Gateway) -> dict[str, str]:
        account_id = await _account_id(gw, account)
        user, secret = await gw.services.smtp_users.create(account_id, list_id)
        return {"username": user.username, "secret": secret}

    print(json.dumps(_run(config, body)))


@mailup_app.command("smtp-user-set")
def smtp_user_set(
    username: str,
    config: ConfigOpt = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled")] = None,
    blocked: Annotated[bool | None, typer.Option("--block/--unblock")] = None,
    block_until: Annotated[
        str | None, typer.Option(help="ISO 8601 time until which it is blocked ('' clears)")
    ] = None,
    deleted: Annotated[bool | None, typer.Option("--delete/--undelete")] = None,
    priority: Annotated[int | None, typer.Option(help="Default priority, 1-5")] = None,
    senders: Annotated[
        str | None, typer.Option(help="Allowed From addresses, comma-separated")
    ] = None,
    domains: Annotated[
        str | None, typer.Option(help="Allowed From domains, comma-separated")
    ] = None,
    campaign: Annotated[str | None, typer.Option(help="Default campaign code")] = None,
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Change an SMTP+ user's state or settings."""
    changes: dict[str, Any] = {}
    for key, value in (
        ("enabled", enabled),
        ("admin_block", blocked),
        ("deleted", deleted),
        ("priority", priority),
        ("sender_list", senders),
        ("domain_list", domains),
        ("campaign", campaign),
        ("note", note),
    ):
        if value is not None:
            changes[key] = value
    if block_until is not None:
        changes["block_until"] = datetime.fromisoformat(block_until) if block_until else None

    async def body(gw: Gateway) -> None:
        await gw.services.smtp_users.update(username, changes)

    _run(config, body)


@mailup_app.command("campaigns")
def campaigns_cmd(account: str, config: ConfigOpt = None) -> None:
    """Campaign statistics (one JSON object a line)."""

    async def body(gw: Gateway) -> list[dict[str, Any]]:
        account_id = await _account_id(gw, account)
        return [
            {
                "code": s.code,
                "name": s.name,
                "messages": s.messages,
                "cost": format_amount(s.cost),
                "delivered": s.delivered,
                "failed": s.failed,
                "pending": s.pending,
                "emails": s.emails,
            }
            for s in await gw.services.list_sms.campaigns(account_id)
        ]

    for line in _run(config, body):
        print(json.dumps(line))
