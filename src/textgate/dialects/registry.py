"""Every dialect this gateway speaks, in the order the application includes them.

Each package declares itself in its ``dialect.py``; this list is the one place that names
them all. The gateway serves the ones the ``dialects`` setting enables (their routes on the
HTTP server, their addresses on the SMTP server), and the webhook parts take the payload
formats of all of them (a subscription made while a dialect was enabled keeps its shape
after it is turned off).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from textgate.core.webhook_formats import Renderer, Signer, WebhookFormats
from textgate.dialects.admin.dialect import DIALECT as ADMIN
from textgate.dialects.android.dialect import DIALECT as ANDROID
from textgate.dialects.aspsms.dialect import DIALECT as ASPSMS
from textgate.dialects.base import Dialect
from textgate.dialects.labsmobile.dialect import DIALECT as LABSMOBILE
from textgate.dialects.mail import AddressHandler
from textgate.dialects.mailup.dialect import DIALECT as MAILUP
from textgate.dialects.native.dialect import DIALECT as NATIVE
from textgate.dialects.smsend.dialect import DIALECT as SMSEND
from textgate.dialects.smsgate.dialect import DIALECT as SMSGATE
from textgate.dialects.smsmobileapi.dialect import DIALECT as SMSMOBILEAPI
from textgate.dialects.twilio.dialect import DIALECT as TWILIO

__all__ = ["DIALECTS", "address_handlers", "enabled", "webhook_formats"]

DIALECTS: tuple[Dialect, ...] = (
    NATIVE,
    ANDROID,
    ADMIN,
    SMSEND,
    SMSMOBILEAPI,
    MAILUP,
    LABSMOBILE,
    ASPSMS,
    TWILIO,
    SMSGATE,
)


def enabled(names: Collection[str] | None) -> tuple[Dialect, ...]:
    """The dialects ``names`` lists (None: every one), in registry order."""
    if names is None:
        return DIALECTS
    known = [d.name for d in DIALECTS]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(
            f"dialects: unknown {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
        )
    return tuple(d for d in DIALECTS if d.name in names)


def webhook_formats(dialects: Iterable[Dialect] = DIALECTS) -> WebhookFormats:
    """The payload formats the dialects declare, with textgate's own, and the headers of
    those sent with their provider's signature."""
    merged: dict[str, Renderer] = {}
    signers: dict[str, Signer] = {}
    for dialect in dialects:
        for name, renderer in dialect.webhook_formats.items():
            if name in merged:
                raise ValueError(f"webhook format {name!r} is declared twice")
            merged[name] = renderer
        signers.update(dialect.webhook_signers)
    return WebhookFormats(merged, signers)


def address_handlers(dialects: Iterable[Dialect], settings: Any) -> tuple[AddressHandler, ...]:
    """The SMTP address handlers the dialects declare (given the application's settings);
    a mail domain belongs to one of them."""
    handlers: list[AddressHandler] = []
    owners: dict[str, str] = {}
    for dialect in dialects:
        for handler in dialect.address_handlers(settings):
            for domain in handler.domains:
                key = domain.lower().rstrip(".")
                if owners.get(key, dialect.name) != dialect.name:
                    raise ValueError(
                        f"smtp: the domain {domain!r} is claimed by both {owners[key]} "
                        f"and {dialect.name}"
                    )
                owners[key] = dialect.name
            handlers.append(handler)
    return tuple(handlers)
