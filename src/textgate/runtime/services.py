"""The services of one gateway process, wired from its settings and stores.

Every service is built here, once per process (no module-level clients): ``Gateway`` makes
the stores it also runs (database, order writer, repositories its loops read) and this
module builds the services on them, so that what each service is given can be read in one
place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from textgate.config import Settings
from textgate.connectors.android import WakeHub
from textgate.connectors.base import Connector
from textgate.core.clock import Clock
from textgate.core.inbound import Keywords
from textgate.core.routing import Routes
from textgate.core.webhook_formats import WebhookFormats
from textgate.observability.counts import OperationCounts
from textgate.services.accounts import AccountService
from textgate.services.allowance import AllowanceService
from textgate.services.credentials import CredentialService
from textgate.services.devices import DeviceOutboxService, DeviceService
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
from textgate.services.registry import Services
from textgate.services.routing import RoutingService
from textgate.services.sealed_messages import SealedMessageService
from textgate.services.short_links import ShortLinkService
from textgate.services.smpp_binds import BindSnapshot, SmppBindService
from textgate.services.smpp_deliveries import SmppDeliveryService
from textgate.services.smpp_logins import SmppLoginService
from textgate.services.smtp_users import SmtpUserService
from textgate.services.stats import StatsService
from textgate.services.submit import SubmitService
from textgate.services.transactional_mail import TransactionalMail
from textgate.services.webhooks import TargetChecker, WebhookService
from textgate.storage.accounts import AccountRepo
from textgate.storage.campaigns import CampaignRepo
from textgate.storage.conversations import ConversationRepo
from textgate.storage.credentials import CredentialRepo
from textgate.storage.credits import CreditRepo
from textgate.storage.db import Database
from textgate.storage.device_queue import DeviceQueue
from textgate.storage.devices import DeviceRepo
from textgate.storage.inbound import InboundRepo
from textgate.storage.lists import ListRepo
from textgate.storage.mail import MailRepo
from textgate.storage.margins import MarginRepo
from textgate.storage.messages import MessageRepo
from textgate.storage.oauth import OAuthRepo
from textgate.storage.order_history import OrderHistoryRepo
from textgate.storage.orders import OrderWriter
from textgate.storage.originators import OriginatorRepo
from textgate.storage.phone_sms import PhoneSmsRepo
from textgate.storage.routing_tables import RoutingTableRepo
from textgate.storage.sealed_messages import SealedMessageRepo
from textgate.storage.secrets import SecretBox
from textgate.storage.short_links import ShortLinkRepo
from textgate.storage.smpp_logins import SmppLoginRepo
from textgate.storage.smpp_outbox import SmppOutboxRepo
from textgate.storage.smtp_users import SmtpUserRepo
from textgate.storage.stats import StatsRepo
from textgate.storage.webhooks import WebhookRepo

__all__ = ["Shared", "build_services", "fallback_routes"]


@dataclass(frozen=True)
class Shared:
    """What the gateway made and both it and the services use."""

    db: Database
    clock: Clock
    box: SecretBox
    writer: OrderWriter
    accounts: AccountRepo
    messages: MessageRepo
    inbound: InboundRepo
    webhooks: WebhookRepo
    mail: MailRepo
    target_checker: TargetChecker
    webhook_formats: WebhookFormats
    counts: OperationCounts
    device_hub: WakeHub


def build_services(
    settings: Settings,
    s: Shared,
    *,
    connectors: Callable[[], Mapping[str, Connector]],
    bind_snapshot: Callable[[], BindSnapshot | None],
) -> tuple[Services, DeviceOutboxService]:
    """Every service, and the phones' outbox the android connector hands messages to.
    ``connectors`` and ``bind_snapshot`` are read when asked (they start later)."""
    keywords = Keywords.of(settings.inbound.opt_out_keywords, settings.inbound.opt_in_keywords)
    webhooks = WebhookService(s.webhooks, s.target_checker, formats=s.webhook_formats)
    account_service = AccountService(
        s.accounts,
        CreditRepo(s.db, s.clock),
        cache_seconds=settings.auth_cache_seconds,
        clock=s.clock,
        default_timezone=settings.default_timezone,
    )
    # One count of failed logins for every interface that checks a guessable secret.
    limiter = LoginLimiter(clock=s.clock)
    credentials = CredentialService(
        CredentialRepo(s.db),
        account_service,
        limiter=limiter,
        session_idle_seconds=settings.session_idle_seconds,
        clock=s.clock,
    )
    device_queue = DeviceQueue(s.db, s.clock)
    device_outbox = DeviceOutboxService(device_queue)
    devices = DeviceService(
        DeviceRepo(s.db, s.box, s.clock),
        device_queue,
        account_service,
        CredentialRepo(s.db),
        s.inbound,
        s.device_hub,
        limiter=limiter,
        keywords=keywords,
        signature_skew_seconds=settings.android.signature_skew_seconds,
        clock=s.clock,
        counts=s.counts,
    )
    submit = SubmitService(
        s.writer,
        s.messages,
        prices=settings.pricing.table(),
        targets=webhooks.message_target,
        phones=devices.get,
        clock=s.clock,
        counts=s.counts,
    )
    message_service = MessageService(s.messages, s.clock)
    mail_service = MailService(s.mail, settings.mail, s.clock)
    lists = ListService(ListRepo(s.db, s.box, s.clock), account_service)
    list_sms = ListSmsService(
        lists, account_service, submit, message_service, CampaignRepo(s.db, s.clock)
    )
    smpp_deliveries = SmppDeliveryService(SmppOutboxRepo(s.db, s.clock), s.clock)
    smpp_binds = SmppBindService(bind_snapshot, smpp_deliveries)
    services = Services(
        accounts=account_service,
        submit=submit,
        messages=message_service,
        inbound=InboundService(s.inbound, ConversationRepo(s.db), keywords),
        webhooks=webhooks,
        mail=mail_service,
        credentials=credentials,
        login_limiter=limiter,
        history=OrderHistory(OrderHistoryRepo(s.db)),
        allowance=AllowanceService(account_service, settings.pricing.table()),
        lists=lists,
        list_sms=list_sms,
        smtp_users=SmtpUserService(SmtpUserRepo(s.db, s.clock), lists, s.clock),
        transactional_mail=TransactionalMail(mail_service, lists, list_sms, s.clock),
        email_logins=EmailLoginService(account_service, CredentialRepo(s.db), credentials),
        originators=OriginatorService(
            OriginatorRepo(s.db), account_service, limiter, s.box, s.clock
        ),
        stats=StatsService(
            StatsRepo(s.db, s.accounts),
            connectors,
            clock=s.clock,
            smpp_binds=smpp_binds,
        ),
        devices=devices,
        routing=RoutingService(
            RoutingTableRepo(s.db),
            configured=settings.routing.spec(),
            fallback=fallback_routes(settings),
            connectors=[c.name for c in settings.connectors],
            clock=s.clock,
        ),
        margins=MarginService(MarginRepo(s.db), s.clock),
        oauth=OAuthService(
            OAuthRepo(s.db, s.clock), account_service, limiter=limiter, clock=s.clock
        ),
        phone_sms=PhoneSmsService(PhoneSmsRepo(s.db, s.clock), submit, s.clock),
        short_links=ShortLinkService(ShortLinkRepo(s.db, s.clock)),
        sealed_messages=SealedMessageService(SealedMessageRepo(s.db, s.clock)),
        smpp_logins=SmppLoginService(
            SmppLoginRepo(s.db), account_service, limiter=limiter, clock=s.clock
        ),
        smpp_deliveries=smpp_deliveries,
    )
    return services, device_outbox


def fallback_routes(settings: Settings) -> Routes:
    """Where messages no routing rule matches go: their quality class's connector, else the
    default connector."""
    quality = {str(k): v for k, v in settings.routing.quality.items()}
    return Routes(settings.primary_connector, quality)
