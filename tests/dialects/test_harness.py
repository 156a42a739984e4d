"""The harness's own guard: a secret in any part of a log record fails the case."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tests.dialects.harness import secret_forms, secrets_stay_out_of_logs

KEY = "tg_0a1b2c3d4e5f_Zq8xW2vL9kPdR4tY7uJm"
log = logging.getLogger("textgate.test_harness")


def _raise_and_log() -> None:
    try:
        raise ValueError(f"refused {KEY}")
    except ValueError:
        log.exception("request failed")


LEAKS: dict[str, Callable[[], None]] = {
    "in the message": lambda: log.warning(f"key {KEY}"),
    "in the arguments, at DEBUG": lambda: log.debug("key %s", KEY),
    "in an extra field": lambda: log.info("login", extra={"credentials": {"key": KEY}}),
    "in the exception": _raise_and_log,
    "the secret part alone": lambda: log.info("secret %s", KEY.rsplit("_", 1)[1]),
}


@pytest.mark.parametrize("leak", LEAKS.values(), ids=LEAKS.keys())
def test_a_secret_anywhere_in_a_record_fails(leak: Callable[[], None]) -> None:
    with (
        pytest.raises(AssertionError, match=r"textgate\.test_harness"),
        secrets_stay_out_of_logs([KEY]),
    ):
        leak()


def test_records_without_secrets_pass_and_the_level_is_restored() -> None:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    with secrets_stay_out_of_logs([KEY, ""]) as records:
        log.debug("key id %s", KEY.rsplit("_", 1)[0])
        # The test's own HTTP client logs the URLs it asks for, query-string keys included.
        logging.getLogger("httpx").info("GET /sendsms/?apikey=%s", KEY)
    assert [r.name for r in records] == ["textgate.test_harness", "httpx"]
    assert (root.level, root.handlers) == (level, handlers)


def test_secret_forms() -> None:
    assert secret_forms(KEY) == (KEY, "Zq8xW2vL9kPdR4tY7uJm")
    assert secret_forms("correct horse battery") == ("correct horse battery",)
    assert secret_forms("") == ()
