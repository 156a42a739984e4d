"""The smpp_server settings: off by default, on the conventional port, and the gateway runs
the server only when they say so."""

from __future__ import annotations

from tests.support import running_gateway
from textgate.config import Settings, SmppServerSettings


def test_defaults() -> None:
    cfg = SmppServerSettings()
    assert (cfg.enabled, cfg.host, cfg.port) == (False, "127.0.0.1", 2775)
    assert cfg.max_binds_per_account == 4
    assert cfg.enquire_link_seconds > 0 and cfg.response_timeout_seconds > 0


async def test_the_server_runs_only_when_enabled(settings: Settings) -> None:
    assert not settings.smpp_server.enabled
    async with running_gateway(settings) as running:
        assert running.gateway.smpp is None
    enabled = SmppServerSettings(enabled=True, port=0)
    async with running_gateway(settings.model_copy(update={"smpp_server": enabled})) as running:
        server = running.gateway.smpp
        assert server is not None and server.port > 0
