"""Daily budgets per user and per channel: questions and dollars, reset at UTC midnight.

Counters live in the state store (`incr`, expiring at the end of the day), so every task
of the service sees the same count. A question takes its place in the count before it is
answered (two at once cannot both slip under the limit); its cost is added when it is done,
so a dollar limit stops the question after the one that crossed it. Admins are exempt,
and so are DMs from the channel limit (a DM is one person: the user limit covers it).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

from bot.state import StateError, StateStore
from kernel.models import Question

log = logging.getLogger(__name__)

BUDGET_KIND = "budget"
Scope = Literal["user", "channel"]


@dataclass(frozen=True)
class BudgetLimits:
    """None = no limit."""

    user_questions: int | None = None
    channel_questions: int | None = None
    user_usd: float | None = None
    channel_usd: float | None = None

    @property
    def any(self) -> bool:
        return any(
            limit is not None
            for limit in (
                self.user_questions,
                self.channel_questions,
                self.user_usd,
                self.channel_usd,
            )
        )


@dataclass(frozen=True)
class Refusal:
    scope: Scope
    resets_at: float  # epoch seconds: the next UTC midnight


def next_utc_midnight(now: float) -> float:
    return (math.floor(now / 86400) + 1) * 86400.0


def format_reset(resets_at: float) -> str:
    """The reset moment as shown to people: "2026-05-02 00:00 UTC"."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(resets_at))


class Budgets:
    def __init__(
        self,
        *,
        state: StateStore,
        limits: BudgetLimits,
        admins: Collection[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = state
        self.limits = limits
        self._admins = frozenset(admins)
        self._clock = clock

    def _subjects(self, question: Question) -> list[tuple[Scope, str]]:
        subjects: list[tuple[Scope, str]] = []
        if question.user_id:
            subjects.append(("user", question.user_id))
        if question.channel_id and not question.channel_id.startswith("D"):
            subjects.append(("channel", question.channel_id))
        return subjects

    def _limit(self, scope: Scope, metric: str) -> float | None:
        if scope == "user":
            return self.limits.user_questions if metric == "questions" else self.limits.user_usd
        return self.limits.channel_questions if metric == "questions" else self.limits.channel_usd

    async def admit(self, question: Question) -> Refusal | None:
        """None to go ahead (the question is counted), or why not and when it resets.
        A state store that cannot be reached admits the question (logged)."""
        if not self.limits.any or question.user_id in self._admins:
            return None
        now = self._clock()
        day, ttl_s = _day_and_ttl(now)
        subjects = self._subjects(question)
        try:
            for scope, who in subjects:
                usd_limit = self._limit(scope, "usd")
                if usd_limit is not None:
                    spent = await self._state.get(BUDGET_KIND, _key(day, scope, who)) or {}
                    if float(spent.get("usd", 0.0)) >= usd_limit:
                        return Refusal(scope, next_utc_midnight(now))
            counted: list[tuple[Scope, str]] = []
            for scope, who in subjects:
                limit = self._limit(scope, "questions")
                if limit is None:
                    continue
                key = _key(day, scope, who)
                count = await self._state.incr(BUDGET_KIND, key, "questions", 1, ttl_s=ttl_s)
                counted.append((scope, who))
                if count > limit:
                    # Give the places back: a refused question is not a question asked.
                    for undo_scope, undo_who in counted:
                        await self._state.incr(
                            BUDGET_KIND, _key(day, undo_scope, undo_who), "questions", -1
                        )
                    return Refusal(scope, next_utc_midnight(now))
        except StateError as exc:
            log.error("budget check skipped: state store failed", extra={"reason": str(exc)})
        return None

    async def spend(self, *, user_id: str | None, channel_id: str | None, usd: float) -> None:
        """Add a finished question's cost to today's dollar counters (when dollars are limited)."""
        if usd <= 0 or user_id in self._admins:
            return
        if self.limits.user_usd is None and self.limits.channel_usd is None:
            return
        day, ttl_s = _day_and_ttl(self._clock())
        question = Question(text="", user_id=user_id, channel_id=channel_id)
        for scope, who in self._subjects(question):
            if self._limit(scope, "usd") is not None:
                await self._state.incr(BUDGET_KIND, _key(day, scope, who), "usd", usd, ttl_s=ttl_s)


def _key(day: str, scope: Scope, who: str) -> str:
    return f"{day}|{scope}|{who}"


def _day_and_ttl(now: float) -> tuple[str, int]:
    """Today's UTC date and the seconds left in it (counters expire at midnight)."""
    return time.strftime("%Y-%m-%d", time.gmtime(now)), max(
        1, math.ceil(next_utc_midnight(now) - now)
    )
