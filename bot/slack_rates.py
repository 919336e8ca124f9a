"""Slack rate budgets as settings spell them: `METHOD=N/min[:BURST]`.

Kept apart from the governor (`bot.slack.governor`) so that `bot.config` can validate
SLACK_METHOD_LIMITS without importing the Slack adapter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """`per_minute` sustained and `burst` at once, per channel or for the whole workspace."""

    per_minute: float
    burst: int
    per_channel: bool = False


def parse_method_limits(text: str | None) -> dict[str, tuple[Budget, ...]]:
    """`chat.update=50/min:10,chat.startStream=20/min` -> budgets (burst defaults to 1).

    Raises ValueError naming the entry that does not parse."""
    budgets: dict[str, tuple[Budget, ...]] = {}
    for entry in filter(None, (part.strip() for part in (text or "").split(","))):
        method, _, spec = entry.partition("=")
        rate, _, burst = spec.partition(":")
        number, _, unit = rate.partition("/")
        try:
            per_minute = float(number) * (60.0 if unit.strip() in ("s", "sec") else 1.0)
            if unit.strip() not in ("", "min", "s", "sec") or not method.strip():
                raise ValueError
            size = int(burst) if burst else 1
        except ValueError:
            raise ValueError(f"{entry!r}: expected METHOD=N/min[:BURST]") from None
        if per_minute <= 0 or size < 1:
            raise ValueError(f"{entry!r}: the rate and the burst must be positive")
        budgets[method.strip()] = (Budget(per_minute, size),)
    return budgets
