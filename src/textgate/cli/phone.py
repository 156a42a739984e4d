"""``textgate phone``: an emulated Android phone running the SMSGate app, for development.

It registers with a textgate server's device API, keeps the event stream open, sends (in
pretend) what it is given and reports each state, and can post received SMS. One line per
happening goes to standard output; the device token is kept in ``--state`` only.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Annotated

import typer

from textgate.phone.emulator import PhoneConfig, PhoneEmulator, Registration

__all__ = ["phone_command"]


def _load_registration(path: Path | None) -> Registration | None:
    if path is None or not path.exists():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Registration(raw["id"], raw["token"], raw["login"], raw.get("password"))


def _save_registration(path: Path | None, reg: Registration) -> None:
    if path is None:
        return
    path.write_text(
        json.dumps(
            {"id": reg.id, "token": reg.token, "login": reg.login, "password": reg.password}
        ),
        encoding="utf-8",
    )
    path.chmod(0o600)


def _sims(specs: list[str]) -> list[dict[str, object]]:
    sims: list[dict[str, object]] = []
    for i, spec in enumerate(specs):
        number, _, carrier = spec.partition(":")
        sims.append(
            {"slotIndex": i, "simNumber": i + 1, "phoneNumber": number, "carrierName": carrier}
        )
    return sims


def phone_command(
    url: Annotated[
        str, typer.Option(help="The server's device API, e.g. http://127.0.0.1:8080/mobile/v1")
    ],
    token: Annotated[
        str | None,
        typer.Option(
            help="The account's private token (an API key)", envvar="TEXTGATE_PHONE_TOKEN"
        ),
    ] = None,
    login: Annotated[str | None, typer.Option(help="Sign in with a login instead")] = None,
    password: Annotated[str | None, typer.Option(envvar="TEXTGATE_PHONE_PASSWORD")] = None,
    name: Annotated[str, typer.Option(help="The phone's name")] = "textgate/emulator",
    sim: Annotated[
        list[str] | None, typer.Option(help="A SIM card as NUMBER[:CARRIER] (repeatable)")
    ] = None,
    own_number: Annotated[str, typer.Option(help="Recipient of the SMS it receives")] = (
        "+10000000001"
    ),
    outcome: Annotated[
        str, typer.Option(help="What happens to messages: delivered, sent, failed or hold")
    ] = "delivered",
    receive: Annotated[
        list[str] | None,
        typer.Option(help="Post a received SMS once connected, as SENDER:TEXT (repeatable)"),
    ] = None,
    state: Annotated[
        Path | None, typer.Option(help="File keeping the registration between runs")
    ] = None,
) -> None:
    """Run an emulated phone until interrupted."""
    if outcome not in ("delivered", "sent", "failed", "hold"):
        raise typer.BadParameter("outcome is delivered, sent, failed or hold")
    config = PhoneConfig(
        base_url=url,
        private_token=token,
        login=login,
        password=password,
        name=name,
        outcome=outcome,  # type: ignore[arg-type]
        own_number=own_number,
        registration=_load_registration(state),
    )
    if sim:
        config.sim_cards = _sims(sim)
    asyncio.run(_run(config, state, receive or []))


async def _run(config: PhoneConfig, state: Path | None, receive: list[str]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with PhoneEmulator(config, on_line=lambda line: print(line, flush=True)) as phone:
        _save_registration(state, await phone.register())
        await phone.sync()
        listening = asyncio.create_task(phone.listen(stop))
        await asyncio.wait_for(phone.subscribed.wait(), config.timeout_seconds)
        _save_registration(state, phone.registration)  # type: ignore[arg-type]
        for spec in receive:
            sender, _, text = spec.partition(":")
            await phone.receive_sms(sender, text)
        await listening
