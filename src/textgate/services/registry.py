"""The use cases an interface may call, handed to dialects as one object."""

from __future__ import annotations

from dataclasses import dataclass

from textgate.services.accounts import AccountService
from textgate.services.allowance import AllowanceService
from textgate.services.credentials import CredentialService
from textgate.services.devices import DeviceService
from textgate.services.email_logins import EmailLoginService
from textgate.services.history import OrderHistory
from textgate.services.inbound import InboundService
from textgate.services.list_sms import ListSmsService
from textgate.services.lists import ListService
from textgate.services.login_limiter import LoginLimiter
from textgate.services.mail import MailService
from textgate.services.margins import MarginService
from textgate.services.oauth import OAuthService
from textgate.services.originators import OriginatorService
from textgate.services.phone_sms import PhoneSmsService
from textgate.services.query import MessageService
from textgate.services.routing import RoutingService
from textgate.services.sealed_messages import SealedMessageService
from textgate.services.short_links import ShortLinkService
from textgate.services.smpp_deliveries import SmppDeliveryService
from textgate.services.smpp_logins import SmppLoginService
from textgate.services.smtp_users import SmtpUserService
from textgate.services.stats import StatsService
from textgate.services.submit import SubmitService
from textgate.services.transactional_mail import TransactionalMail
from textgate.services.webhooks import WebhookService

__all__ = ["Services"]


@dataclass(frozen=True, slots=True)
class Services:
    accounts: AccountService
    submit: SubmitService
    messages: MessageService
    inbound: InboundService
    webhooks: WebhookService
    mail: MailService
    credentials: CredentialService
    # The one count of failed logins (its users take it at construction; other secrets
    # checked at an edge, such as the dashboard's operator token, use it from here).
    login_limiter: LoginLimiter
    history: OrderHistory
    allowance: AllowanceService
    # MailUp (seed 002): lists, transactional SMS through them, SMTP+ users and their mail.
    lists: ListService
    list_sms: ListSmsService
    smtp_users: SmtpUserService
    transactional_mail: TransactionalMail
    # The email-to-SMS interfaces (smtp/).
    email_logins: EmailLoginService
    originators: OriginatorService
    stats: StatsService
    # Android phones running the SMSGate app (dialects/android, connectors/android).
    devices: DeviceService
    # SMSmobileAPI (seed 003): OAuth2 clients, the phones' SMS log, short links, sealed texts.
    oauth: OAuthService
    phone_sms: PhoneSmsService
    short_links: ShortLinkService
    sealed_messages: SealedMessageService
    # The SMPP server (smpp_server/): the system_id and password each account binds with.
    smpp_logins: SmppLoginService
    # ... and the receipts and inbound messages queued for its customers' receiver binds.
    smpp_deliveries: SmppDeliveryService
    # Routing (core.routing): the table in force, and what messages cost upstream.
    routing: RoutingService
    margins: MarginService
