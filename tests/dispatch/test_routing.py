"""Routing by quality class: each class goes to the connector the operator mapped it to."""

from __future__ import annotations

import dataclasses

import pytest

from tests.dispatch.support import reach
from tests.dispatch.test_worker import NUMBERS, _account, _gateway, started  # noqa: F401
from textgate.config import ConnectorSettings, DispatchSettings, RoutingSettings, Settings
from textgate.core.message import Quality, Status
from textgate.core.routing import Routes
from textgate.errors import ConfigError
from textgate.runtime import Gateway
from textgate.services.submit import SubmitRequest
from textgate.storage.outcomes import Claim


def _routed(settings: Settings, quality: dict[str, str]) -> Settings:
    return settings.model_copy(
        update={
            "connectors": [
                ConnectorSettings(name="bulk", options={"report_delay_ms": 10}),
                ConnectorSettings(name="premium", options={"report_delay_ms": 10}),
            ],
            "routing": RoutingSettings.model_validate({"quality": quality}),
            "dispatch": DispatchSettings(poll_seconds=0.05),
        }
    )


async def test_each_quality_class_takes_its_connector(
    settings: Settings,
    started: list[Gateway],  # noqa: F811
) -> None:
    gw = await _gateway(_routed(settings, {"high": "premium"}), started)
    account = await _account(gw)
    ids: dict[Quality | None, list[str]] = {}
    for quality in (Quality.HIGH, Quality.LOW, None):
        result = await gw.services.submit.submit(
            SubmitRequest(account=account, recipients=NUMBERS[:3], text="t", quality=quality)
        )
        ids[quality] = [m.id for m in result.messages]
    for quality, message_ids in ids.items():
        done = await reach(gw, account, message_ids, {Status.DELIVERED})
        want = "premium" if quality is Quality.HIGH else "bulk"
        assert {m.connector for m in done} == {want}, quality
        assert {m.quality for m in done} == {None if quality is None else quality.value}


async def test_a_route_to_an_unknown_connector_is_refused_at_start(settings: Settings) -> None:
    gw = Gateway(_routed(settings, {"low": "nowhere"}))
    with pytest.raises(ConfigError, match="nowhere"):
        await gw.start(dispatch=True, migrate=True)
    await gw.stop()


def test_routes_fall_back_to_the_default() -> None:
    routes = Routes("bulk", {"high": "premium"})
    assert routes.connector_for("high") == "premium"
    assert routes.connector_for("medium") == "bulk"
    assert routes.connector_for(None) == "bulk"
    assert routes.connectors() == {"bulk", "premium"}


def test_a_routed_claim_keeps_every_other_field() -> None:
    # Claim.routed spells the fields out (dataclasses.replace costs more, once per message):
    # a field added to Claim and forgotten there would be lost with each routing.
    values: dict[str, object] = {}
    for f in dataclasses.fields(Claim):
        if f.name == "recovered":
            values[f.name] = True
        elif f.name in ("segments", "attempts", "valid_until", "due_at"):
            values[f.name] = len(values) + 1
        elif f.name == "candidates":
            values[f.name] = ("a", "b")
        else:
            values[f.name] = f"{f.name}-value"
    claim = Claim(**values)  # type: ignore[arg-type]
    routed = claim.routed("premium", "by-quality", ("premium", "bulk"))
    assert routed == dataclasses.replace(
        claim, connector="premium", route="by-quality", candidates=("premium", "bulk")
    )
