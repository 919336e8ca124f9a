"""Daily budgets: questions and dollars per user and per channel, reset at UTC midnight."""

from __future__ import annotations

import pytest

from bot.budget import BudgetLimits, Budgets, Refusal, format_reset, next_utc_midnight
from bot.config import Settings
from bot.messages import message
from bot.observer import build_observer
from bot.state import DynamoStateStore, MemoryStateStore, StateError
from fakes.aws import MotoServer
from kernel.models import Answer, Question, Route

NOW = 1_777_000_000.0  # 2026-04-24 03:06:40 UTC
MIDNIGHT = 1_777_075_200.0  # 2026-04-25 00:00:00 UTC
ADMIN = "U0ADMIN"


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ask(user: str = "U1", channel: str = "C1") -> Question:
    return Question(text="q", user_id=user, channel_id=channel)


def budgets(state: object, clock: Clock, **limits: float) -> Budgets:
    return Budgets(
        state=state,  # type: ignore[arg-type]
        limits=BudgetLimits(**limits),  # type: ignore[arg-type]
        admins={ADMIN},
        clock=clock,
    )


def test_the_reset_is_the_next_utc_midnight_shown_as_a_time() -> None:
    assert next_utc_midnight(NOW) == MIDNIGHT
    assert next_utc_midnight(MIDNIGHT) == MIDNIGHT + 86400
    assert format_reset(MIDNIGHT) == "2026-04-25 00:00 UTC"


async def test_the_third_question_of_a_user_with_a_limit_of_two_is_refused_until_midnight() -> None:
    clock = Clock()
    limits = budgets(MemoryStateStore(clock=clock), clock, user_questions=2)

    assert await limits.admit(ask()) is None
    assert await limits.admit(ask()) is None
    assert await limits.admit(ask()) == Refusal("user", MIDNIGHT)
    assert await limits.admit(ask()) == Refusal("user", MIDNIGHT)  # refusals do not pile up
    assert await limits.admit(ask(user="U2")) is None  # someone else
    for _ in range(5):
        assert await limits.admit(ask(user=ADMIN)) is None  # admins are exempt

    clock.now = MIDNIGHT + 1
    assert await limits.admit(ask()) is None


async def test_a_channel_limit_counts_everyone_in_the_channel_but_not_dms() -> None:
    clock = Clock()
    limits = budgets(MemoryStateStore(clock=clock), clock, channel_questions=2)

    assert await limits.admit(ask("U1")) is None
    assert await limits.admit(ask("U2")) is None
    assert await limits.admit(ask("U3")) == Refusal("channel", MIDNIGHT)
    assert await limits.admit(ask("U3", channel="C2")) is None
    for _ in range(3):
        assert await limits.admit(ask("U3", channel="D0U3")) is None


async def test_a_refused_channel_question_gives_back_the_users_place() -> None:
    clock = Clock()
    limits = budgets(MemoryStateStore(clock=clock), clock, user_questions=2, channel_questions=1)

    assert await limits.admit(ask("U1", "C1")) is None
    assert await limits.admit(ask("U1", "C1")) == Refusal("channel", MIDNIGHT)
    assert await limits.admit(ask("U1", "C2")) is None  # the refused one did not count


async def test_dollar_limits_stop_the_question_after_the_one_that_crossed_them() -> None:
    clock = Clock()
    limits = budgets(MemoryStateStore(clock=clock), clock, user_usd=0.01, channel_usd=0.05)

    assert await limits.admit(ask("U1")) is None
    await limits.spend(user_id="U1", channel_id="C1", usd=0.006)
    assert await limits.admit(ask("U1")) is None
    await limits.spend(user_id="U1", channel_id="C1", usd=0.006)
    assert await limits.admit(ask("U1")) == Refusal("user", MIDNIGHT)
    await limits.spend(user_id="U2", channel_id="C1", usd=0.04)
    assert await limits.admit(ask("U3")) == Refusal("channel", MIDNIGHT)
    await limits.spend(user_id=ADMIN, channel_id="C9", usd=5)
    assert await limits.admit(ask(ADMIN, "C9")) is None


async def test_no_limits_means_no_state_calls() -> None:
    class Untouchable:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"state.{name} called")

    limits = budgets(Untouchable(), Clock())
    assert await limits.admit(ask()) is None
    await limits.spend(user_id="U1", channel_id="C1", usd=1.0)


async def test_a_failing_state_store_admits_the_question(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MemoryStateStore):
        async def incr(self, *args: object, **kwargs: object) -> float:
            raise StateError("state table t: UpdateItem throttled")

    clock = Clock()
    assert await budgets(Broken(clock=clock), clock, user_questions=1).admit(ask()) is None
    assert "budget check skipped" in caplog.text


async def test_the_refusal_is_said_in_the_askers_language_with_the_reset_time(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"budget_user_daily_questions": 1})
    clock = Clock()
    observer = build_observer(
        settings, MemoryStateStore(clock=clock), write=lambda _: None, clock=clock
    )
    first, second = ask(), ask()

    assert await observer.admit(first, "ja") is None
    refusal = await observer.admit(second, "ja")
    await observer.finished(
        second,
        Answer(
            question="q",
            question_id=second.question_id,
            language="ja",
            text=refusal or "",
            citations=(),
            route=Route(standalone_question="q"),
            status="refused",
        ),
    )

    assert refusal == message("budget_user", "ja", time="2026-04-25 00:00 UTC")
    assert "2026-04-25 00:00 UTC" in (refusal or "") and "上限" in (refusal or "")


async def test_with_a_state_table_the_limit_holds_across_two_processes(
    moto_server: MotoServer, state_table: str
) -> None:
    def process() -> Budgets:
        client = moto_server.client("dynamodb")
        clock = Clock()
        store = DynamoStateStore(table_name=state_table, client=client, clock=clock)
        return budgets(store, clock, user_questions=2)

    first, second = process(), process()
    assert await first.admit(ask()) is None
    assert await second.admit(ask()) is None
    assert await first.admit(ask()) == Refusal("user", MIDNIGHT)
    assert await second.admit(ask()) == Refusal("user", MIDNIGHT)
    assert await second.admit(ask(ADMIN)) is None
