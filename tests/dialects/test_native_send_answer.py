"""The submit answer is written without pydantic models (``schemas.send_out_json``): it must
be, byte for byte, what the declared :class:`SendOut` model dumps, whatever the fields hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from textgate.core.message import Message, Status
from textgate.dialects.native.schemas import MessageOut, SendOut, send_out_json

_AT = datetime(2026, 12, 7, 4, 28, 31, 123000, tzinfo=UTC)


def _message(**changes: object) -> Message:
    fields: dict[str, object] = {
        "id": "01JF0000000000000000000001",
        "order_id": "01JF0000000000000000000000",
        "account_id": "acc",
        "recipient": "+33612345678",
        "sender": None,
        "text": "hello",
        "encoding": "gsm7",
        "segments": 1,
        "status": Status.QUEUED,
        "created_at": _AT,
        "updated_at": _AT,
    }
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]


def _by_model(order_id: str, accepted: int, messages: list[Message]) -> bytes:
    out = SendOut(
        order_id=order_id,
        accepted=accepted,
        rejected=len(messages) - accepted,
        messages=[MessageOut.of(m) for m in messages],
    )
    return out.model_dump_json().encode()


CASES = {
    "plain": [_message()],
    "every optional field": [
        _message(
            sender="Shop",
            client_ref="ref-1",
            scheduled_at=_AT + timedelta(hours=1),
            valid_until=_AT + timedelta(days=1),
            country="FR",
            error_code="E1",
            reason="refused",
            status=Status.REJECTED,
        )
    ],
    "whole second, other offset, naive": [
        _message(created_at=datetime(2026, 1, 1, tzinfo=UTC)),
        _message(
            created_at=datetime(2026, 1, 1, 2, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),
            updated_at=datetime(2026, 1, 1, 0, 0, 1),
        ),
    ],
    "text that needs escaping": [
        _message(sender='a"b\\c', client_ref="\x00\x01\x1f\x7f\u2028é😀\n\t", reason="</script>")
    ],
    "none": [],
}


@pytest.mark.parametrize("messages", CASES.values(), ids=CASES.keys())
def test_answer_is_the_models_dump(messages: list[Message]) -> None:
    accepted = sum(m.status is Status.QUEUED for m in messages)
    assert send_out_json("order", accepted, messages) == _by_model("order", accepted, messages)


@given(
    sender=st.none() | st.text(max_size=20),
    ref=st.none() | st.text(max_size=20),
    micros=st.integers(min_value=0, max_value=999_999),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_any_strings_and_times_dump_alike(
    sender: str | None, ref: str | None, micros: int, offset_minutes: int
) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    moment = datetime(2026, 3, 29, 1, 59, 59, micros, tzinfo=zone)
    messages = [_message(sender=sender, client_ref=ref, created_at=moment, scheduled_at=moment)]
    assert send_out_json("o", 1, messages) == _by_model("o", 1, messages)
    assert orjson.loads(send_out_json("o", 1, messages))["messages"][0]["created_at"].endswith("Z")
