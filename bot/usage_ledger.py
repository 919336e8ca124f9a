"""Usage by day in the state store, shared by every task: the counters one question adds
(`usage_increments`), and the day's and month's summaries behind `/dualnova usage` and the
App Home.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.state import StateStore
from bot.usage import QuestionUsage

USAGE_KIND = "usage_day"
#: Per-channel counters of a day: one item per channel (a member of the day's group), so the
#: day item stays small however many channels ask (DynamoDB bills a write on the whole item
#: and caps it at 400 KB).
USAGE_CHANNEL_KIND = "usage_channel_day"
_CHANNEL = "channel"
USAGE_TTL_S = 400 * 24 * 3600  # a year of months to compare, then DynamoDB TTL sweeps them
_SEP = "|"


def utc_day(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


@dataclass
class UsageSummary:
    """Counters of one day (or several, merged). `groups[dimension][value][metric]`, where
    dimension is status, language, channel, route or model."""

    questions: float = 0.0
    groups: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    @classmethod
    def from_counters(cls, counters: Mapping[str, Any]) -> UsageSummary:
        summary = cls()
        for name, value in counters.items():
            if not isinstance(value, int | float):
                continue
            if name == "questions":
                summary.questions += value
                continue
            dimension, _, rest = name.partition(_SEP)
            key, _, metric = rest.rpartition(_SEP)
            if dimension and key and metric:
                bucket = summary.groups.setdefault(dimension, {}).setdefault(key, {})
                bucket[metric] = bucket.get(metric, 0.0) + value
        return summary

    def merge(self, other: UsageSummary) -> UsageSummary:
        merged = UsageSummary(questions=self.questions + other.questions)
        for source in (self, other):
            for dimension, keys in source.groups.items():
                for key, metrics in keys.items():
                    bucket = merged.groups.setdefault(dimension, {}).setdefault(key, {})
                    for metric, value in metrics.items():
                        bucket[metric] = bucket.get(metric, 0.0) + value
        return merged

    def group(self, dimension: str) -> dict[str, dict[str, float]]:
        return self.groups.get(dimension, {})

    def status(self, status: str) -> int:
        return round(self.group("status").get(status, {}).get("questions", 0.0))

    def model_total(self, metric: str) -> float:
        return sum(m.get(metric, 0.0) for m in self.group("model").values())

    @property
    def tokens(self) -> int:
        return round(
            sum(self.model_total(m) for m in ("input", "output", "cache_read", "cache_write"))
        )

    @property
    def cost_usd(self) -> float:
        return self.model_total("cost")

    def top(self, dimension: str, metric: str, limit: int) -> list[tuple[str, dict[str, float]]]:
        rows = sorted(self.group(dimension).items(), key=lambda kv: (-kv[1].get(metric, 0), kv[0]))
        return rows[:limit]


def usage_increments(usage: QuestionUsage) -> dict[str, float]:
    """The counters one question adds to its day."""
    out: dict[str, float] = {"questions": 1}

    def add(dimension: str, key: str, metric: str, value: float) -> None:
        if value:
            name = _SEP.join((dimension, key.replace(_SEP, "/"), metric))
            out[name] = out.get(name, 0.0) + value

    add("status", usage.status, "questions", 1)
    add("language", usage.question_language, "questions", 1)
    add("route", usage.route, "questions", 1)
    add("route", usage.route, "cost", usage.cost_usd)
    if usage.language_mismatch:
        add("mismatch", usage.language_mismatch, "questions", 1)
    if usage.channel_id:
        add("channel", usage.channel_id, "questions", 1)
        add("channel", usage.channel_id, "tokens", usage.tokens)
        add("channel", usage.channel_id, "cost", usage.cost_usd)
    for m in usage.models:
        add("model", m.model, "calls", m.calls)
        add("model", m.model, "input", m.input_tokens)
        add("model", m.model, "output", m.output_tokens)
        add("model", m.model, "cache_read", m.cache_read_tokens)
        add("model", m.model, "cache_write", m.cache_write_tokens)
        add("model", m.model, "cost", m.cost_usd)
    return out


class UsageLedger:
    """Per-day counters (`incr`) keyed by UTC day: shared by every task through the state
    store, read back by `/dualnova usage` and the App Home."""

    def __init__(self, *, state: StateStore, clock: Callable[[], float] = time.time) -> None:
        self._state = state
        self._clock = clock

    async def record(self, usage: QuestionUsage) -> None:
        """Two writes at most: the day's counters, and the asker's channel's."""
        day = utc_day(self._clock())
        totals: dict[str, float] = {}
        channel: dict[str, float] = {}
        for name, amount in usage_increments(usage).items():
            dimension, _, rest = name.partition(_SEP)
            if dimension == _CHANNEL:
                channel[rest.rpartition(_SEP)[2]] = amount
            else:
                totals[name] = amount
        writes = [self._state.incr_many(USAGE_KIND, day, totals, ttl_s=USAGE_TTL_S)]
        if usage.channel_id and channel:
            writes.append(
                self._state.incr_many(
                    USAGE_CHANNEL_KIND,
                    day,
                    channel,
                    member=usage.channel_id.replace(_SEP, "/"),
                    ttl_s=USAGE_TTL_S,
                )
            )
        await asyncio.gather(*writes)

    async def day(self, day: str | None = None) -> UsageSummary:
        day = day or utc_day(self._clock())
        counters, channels = await asyncio.gather(
            self._state.get(USAGE_KIND, day), self._state.members(USAGE_CHANNEL_KIND, day)
        )
        summary = UsageSummary.from_counters(counters or {})
        # Days recorded before the split keep their channel counters in the day item.
        for channel, metrics in channels.items():
            bucket = summary.groups.setdefault(_CHANNEL, {}).setdefault(channel, {})
            for metric, value in metrics.items():
                bucket[metric] = bucket.get(metric, 0.0) + value
        return summary

    async def month(self, now: float | None = None) -> UsageSummary:
        """The calendar month (UTC) up to and including today."""
        today = time.gmtime(self._clock() if now is None else now)
        days = [
            f"{today.tm_year:04d}-{today.tm_mon:02d}-{d:02d}" for d in range(1, today.tm_mday + 1)
        ]
        summaries = await asyncio.gather(*(self.day(day) for day in days))
        total = UsageSummary()
        for summary in summaries:
            total = total.merge(summary)
        return total
