"""What a question cost: every Bedrock call priced, one usage record and one log line per
question, and the day-by-day aggregates behind `/dualnova usage`.

Prices are USD per 1,000 tokens per model (`PRICES` overrides or extends the defaults).
Bedrock reports input, cache-read and cache-write tokens as disjoint counts (the fake
does too), so a call costs::

    input/1000 * in  +  cache_read/1000 * in * (1 - cache_read_discount)
    + cache_write/1000 * in * (1 + cache_write_premium)  +  output/1000 * out
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.models import Answer, ModelCall
from bot.state import StateStore

log = logging.getLogger(__name__)

#: Bedrock inference-profile prefixes ("apac.amazon.nova-pro-v1:0" is billed as the model).
PROFILE_PREFIXES = ("us", "eu", "apac", "jp", "au", "ca", "us-gov", "global")

#: Stages of `Answer.timings`, in pipeline order.
STAGES = ("detect", "condense", "retrieve", "first_token", "answer")


class ModelPrice(BaseModel):
    """USD per 1,000 tokens. Cache reads pay the input price less the discount; cache
    writes pay it plus the premium."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(default=0.0, ge=0)
    cache_read_discount: float = Field(default=0.75, ge=0, le=1)
    cache_write_premium: float = Field(default=0.0, ge=0)

    def cost(self, call: ModelCall) -> float:
        per_token_in = self.input / 1000
        return (
            call.input_tokens * per_token_in
            + call.cache_read_tokens * per_token_in * (1 - self.cache_read_discount)
            + call.cache_write_tokens * per_token_in * (1 + self.cache_write_premium)
            + call.output_tokens * self.output / 1000
        )


#: On-demand list prices (us-east-1) when this was written; check the Bedrock pricing page
#: for your region and set PRICES for anything that differs. Nova cache reads are 75% off.
DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "amazon.nova-micro-v1:0": ModelPrice(input=0.000035, output=0.00014),
    "amazon.nova-lite-v1:0": ModelPrice(input=0.00006, output=0.00024),
    "amazon.nova-pro-v1:0": ModelPrice(input=0.0008, output=0.0032),
    "amazon.titan-embed-text-v2:0": ModelPrice(input=0.00002),
    "cohere.embed-multilingual-v3": ModelPrice(input=0.0001),
}


def parse_prices(text: str | None) -> dict[str, ModelPrice]:
    """PRICES as JSON, e.g. ``{"amazon.nova-pro-v1:0": {"input": 0.0008, "output": 0.0032}}``.
    Raises ValueError with a readable reason."""
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"expected JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(raw, dict):
        raise ValueError('expected a JSON object {"model id": {"input": ..., "output": ...}}')
    prices: dict[str, ModelPrice] = {}
    for model, value in raw.items():
        try:
            prices[str(model)] = ModelPrice.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"{model}: {where + ': ' if where else ''}{first['msg']}") from None
    return prices


def base_model_id(model_id: str) -> str:
    """ARN and inference-profile prefix removed: ".../apac.amazon.nova-pro-v1:0" -> "amazon..."."""
    tail = model_id.rsplit("/", 1)[-1]
    prefix, _, rest = tail.partition(".")
    return rest if prefix in PROFILE_PREFIXES and rest else tail


class PriceTable:
    """Prices by model id; an inference profile or ARN is priced as its base model."""

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        self._prices = {**DEFAULT_PRICES, **(prices or {})}
        self._warned: set[str] = set()

    @classmethod
    def from_json(cls, text: str | None) -> PriceTable:
        return cls(parse_prices(text))

    def price(self, model_id: str) -> ModelPrice | None:
        return self._prices.get(model_id) or self._prices.get(base_model_id(model_id))

    def cost(self, call: ModelCall) -> float | None:
        """USD for one call, or None (logged once per model) when the model has no price."""
        price = self.price(call.model)
        if price is None:
            if call.model not in self._warned:
                self._warned.add(call.model)
                log.warning(
                    "no price for model; its calls are counted at $0 (set PRICES)",
                    extra={"model": call.model},
                )
            return None
        return price.cost(call)


# --- the per-question record -----------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ModelUsage(_Frozen):
    """One model's calls within a question."""

    model: str
    purposes: tuple[str, ...]
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    latency_ms: float
    priced: bool = True


class QuestionUsage(_Frozen):
    """Usage of one question: who/where, how it went, every model's tokens and cost."""

    question_id: str
    user_id: str | None
    channel_id: str | None
    language: str
    question_language: str
    status: str
    route: str
    translated: bool
    offline: bool
    timings_ms: tuple[tuple[str, float], ...]
    models: tuple[ModelUsage, ...]
    #: The answer-language guard's finding, "en>ko" (written in > promised), or None.
    language_mismatch: str | None = None

    @property
    def input_tokens(self) -> int:
        return sum(m.input_tokens for m in self.models)

    @property
    def output_tokens(self) -> int:
        return sum(m.output_tokens for m in self.models)

    @property
    def cache_read_tokens(self) -> int:
        return sum(m.cache_read_tokens for m in self.models)

    @property
    def cache_write_tokens(self) -> int:
        return sum(m.cache_write_tokens for m in self.models)

    @property
    def tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )

    @property
    def cost_usd(self) -> float:
        return sum(m.cost_usd for m in self.models)

    @property
    def total_ms(self) -> float:
        """Detect + condense + retrieve + answer (first_token is inside answer)."""
        timings = dict(self.timings_ms)
        return sum(timings.get(stage, 0.0) for stage in STAGES if stage != "first_token")


def route_of(calls: Iterable[ModelCall]) -> str:
    """The model route as purposes in call order, e.g. "translate+answer"; "none" without
    calls. The query embedding is part of retrieval, not of the route (it is still priced)."""
    return "+".join(dict.fromkeys(c.purpose for c in calls if c.purpose != "embed")) or "none"


def usage_of(
    answer: Answer, prices: PriceTable, *, user_id: str | None, channel_id: str | None
) -> QuestionUsage:
    by_model: dict[str, list[ModelCall]] = {}
    for call in answer.route.calls:
        by_model.setdefault(call.model, []).append(call)
    models = []
    for model, calls in by_model.items():
        costs = [prices.cost(call) for call in calls]
        models.append(
            ModelUsage(
                model=model,
                purposes=tuple(dict.fromkeys(call.purpose for call in calls)),
                calls=len(calls),
                input_tokens=sum(c.input_tokens for c in calls),
                output_tokens=sum(c.output_tokens for c in calls),
                cache_read_tokens=sum(c.cache_read_tokens for c in calls),
                cache_write_tokens=sum(c.cache_write_tokens for c in calls),
                cost_usd=sum(cost or 0.0 for cost in costs),
                latency_ms=sum(c.latency_ms for c in calls),
                priced=all(cost is not None for cost in costs),
            )
        )
    return QuestionUsage(
        question_id=answer.question_id,
        user_id=user_id,
        channel_id=channel_id,
        language=answer.language,
        question_language=answer.question_language or answer.language,
        status=answer.status,
        route=route_of(answer.route.calls),
        translated=answer.route.translated,
        offline=answer.offline,
        timings_ms=answer.timings,
        models=tuple(models),
        language_mismatch=answer.language_mismatch,
    )


def log_usage(usage: QuestionUsage) -> None:
    """The canonical per-question line: ids, where, how, latency per stage, tokens, cost.
    Never the question or answer text."""
    log.info(
        "question usage",
        extra={
            "question_id": usage.question_id,
            "user": usage.user_id,
            "channel": usage.channel_id,
            "language": usage.language,
            "question_language": usage.question_language,
            "status": usage.status,
            "route": usage.route,
            "translated": usage.translated,
            "offline": usage.offline,
            **({"language_mismatch": usage.language_mismatch} if usage.language_mismatch else {}),
            "latency_ms": {stage: round(ms, 1) for stage, ms in usage.timings_ms},
            "total_ms": round(usage.total_ms, 1),
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
            "cost_usd": round(usage.cost_usd, 8),
            "models": [
                {
                    "model": m.model,
                    "purposes": list(m.purposes),
                    "calls": m.calls,
                    "input_tokens": m.input_tokens,
                    "output_tokens": m.output_tokens,
                    "cache_read_tokens": m.cache_read_tokens,
                    "cache_write_tokens": m.cache_write_tokens,
                    "cost_usd": round(m.cost_usd, 8),
                    "latency_ms": round(m.latency_ms, 1),
                    **({} if m.priced else {"priced": False}),
                }
                for m in usage.models
            ],
        },
    )


# --- aggregates in the state store -----------------------------------------------------------

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
