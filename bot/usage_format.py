"""Money and token counts as people read them, in Slack and in reports."""

from __future__ import annotations

import math


def format_usd(amount: float) -> str:
    """Dollars readable at any scale: $0.00042, $0.0123, $12.35."""
    if amount == 0:
        return "$0"
    if amount >= 1:
        return f"${amount:,.2f}"
    digits = max(2, 1 - math.floor(math.log10(amount)))  # two significant figures
    return f"${amount:.{min(digits, 8)}f}"


def format_tokens(count: float) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M"
    if count >= 10_000:
        return f"{count / 1000:.0f}k"
    if count >= 1000:
        return f"{count / 1000:.1f}k"
    return str(round(count))
