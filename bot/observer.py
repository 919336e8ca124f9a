"""The pipeline observer used by `serve`: budgets before a question, accounting after it.

`build_observer` is the single place that decides which observer runs. After every answer
`Operations` prices its Bedrock calls, logs the one canonical "question usage" line, writes
EMF metrics, adds the day's counters, charges the dollar budgets and records a gap when
the documents had no answer. Bookkeeping never fails a question: a state-store error is
logged and the answer stands.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.budget import BudgetLimits, Budgets, format_reset
from bot.config import Settings
from bot.messages import MessageKey, message
from bot.metrics import EmfMetrics, Write, stdout_writer
from bot.pipeline import PipelineObserver
from bot.pricing import PriceTable
from bot.reports import GAP_TTL_S, GAPS_KIND, gap_record
from bot.state import StateStore
from bot.usage import QuestionUsage, log_usage, usage_of
from bot.usage_ledger import UsageLedger
from kernel.models import Answer, Question

log = logging.getLogger(__name__)


@runtime_checkable
class FeedbackSink(Protocol):
    """An observer that also counts feedback clicks (see `bot.slack.usage_command`)."""

    def feedback(self, *, vote: str, language: str | None) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Operations:
    """Budgets + accounting around every question (a `PipelineObserver`)."""

    state: StateStore
    prices: PriceTable
    budgets: Budgets
    ledger: UsageLedger
    metrics: EmfMetrics | None

    async def admit(self, question: Question, language: str) -> str | None:
        refusal = await self.budgets.admit(question)
        if refusal is None:
            return None
        log.info(
            "question refused: daily budget reached",
            extra={
                "question_id": question.question_id,
                "user": question.user_id,
                "channel": question.channel_id,
                "scope": refusal.scope,
            },
        )
        key: MessageKey = "budget_user" if refusal.scope == "user" else "budget_channel"
        return message(key, language, time=format_reset(refusal.resets_at))

    async def finished(self, question: Question, answer: Answer) -> None:
        user_id, channel_id = question.user_id, question.channel_id
        usage = usage_of(answer, self.prices, user_id=user_id, channel_id=channel_id)
        log_usage(usage)
        if self.metrics is not None:
            self.metrics.question(usage)
        chores: list[Awaitable[None]] = [self.ledger.record(usage), self._spend(usage)]
        if answer.status == "not_found":
            chores.append(
                self.state.append(
                    GAPS_KIND, gap_record(answer, channel_id=channel_id), ttl_s=GAP_TTL_S
                )
            )
        for result in await asyncio.gather(*chores, return_exceptions=True):
            if isinstance(result, Exception):
                log.error(
                    "usage bookkeeping failed",
                    extra={"question_id": answer.question_id, "reason": str(result)},
                )

    async def _spend(self, usage: QuestionUsage) -> None:
        await self.budgets.spend(
            user_id=usage.user_id, channel_id=usage.channel_id, usd=usage.cost_usd
        )

    def feedback(self, *, vote: str, language: str | None) -> None:
        if self.metrics is not None:
            self.metrics.feedback(vote=vote, language=language)


def budget_limits(settings: Settings) -> BudgetLimits:
    return BudgetLimits(
        user_questions=settings.budget_user_daily_questions,
        channel_questions=settings.budget_channel_daily_questions,
        user_usd=settings.budget_user_daily_usd,
        channel_usd=settings.budget_channel_daily_usd,
    )


def build_observer(
    settings: Settings,
    state: StateStore,
    *,
    write: Write | None = None,
    clock: Callable[[], float] = time.time,
) -> PipelineObserver:
    """What `serve` runs: budgets from BUDGET_*, prices from PRICES, EMF lines to stdout
    (or to `write`) in METRICS_NAMESPACE."""
    return Operations(
        state=state,
        prices=PriceTable.from_json(settings.prices),
        budgets=Budgets(
            state=state,
            limits=budget_limits(settings),
            admins=settings.admin_user_ids,
            clock=clock,
        ),
        ledger=UsageLedger(state=state, clock=clock),
        metrics=EmfMetrics(
            namespace=settings.metrics_namespace, write=write or stdout_writer(), clock=clock
        ),
    )
