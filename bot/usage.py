"""What a question cost: its Bedrock calls priced (`bot.pricing`) into one usage record,
and one log line per question. The day-by-day aggregates are `bot.usage_ledger`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from bot.pricing import PriceTable
from kernel.models import Answer, ModelCall

log = logging.getLogger(__name__)

#: Stages of `Answer.timings`, in pipeline order.
STAGES = ("detect", "condense", "retrieve", "first_token", "answer")


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
