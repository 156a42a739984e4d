"""When to try again: exponential backoff with full jitter (pure)."""

from __future__ import annotations

import random

__all__ = ["backoff_ms"]


def backoff_ms(
    attempt: int, *, base_ms: float, max_ms: float, rng: random.Random | None = None
) -> int:
    """Delay before attempt ``attempt + 1``, after ``attempt`` failed (attempt >= 1).

    Full jitter (uniform in [cap/2, cap]) spreads retries of a batch that failed together,
    so a recovering operator link is not hit by all of them at once.
    """
    cap = min(max_ms, base_ms * (2 ** max(0, attempt - 1)))
    draw = (rng or random).random()
    return int(cap / 2 + draw * cap / 2)
