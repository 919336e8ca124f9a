"""The Slack call governor: budgets, priorities, cosmetic skips, Retry-After learning, task
shares and which calls are re-sent after a server error.

The governor runs on virtual time (`FakeClock`: its `sleep` moves the clock instead of
waiting), so pacing is asserted to the exact instant and the file stays fast. Calls that
reach Slack go to the Slack fake, with its own rate tiers off where virtual time would
outrun them (the fake's tiers count wall-clock arrivals)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_interval_calculators import (
    FixedValueRetryIntervalCalculator,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.slack.governor import (
    DEFAULT_BUDGETS,
    RATE_MARGIN,
    SKIPPED,
    Budget,
    GovernedApp,
    GovernedClient,
    Governor,
    IdempotentServerErrorRetryHandler,
    Priority,
    Skipped,
    _channel_of,
    _method_priority,
    _retry_after,
    prepaid,
    priority,
)
from bot.slack_rates import parse_method_limits
from fakes.slack import FakeSlack, member_of


class FakeClock:
    """Virtual time for the governor: `sleep` moves the clock at once instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def virtual(budgets: dict[str, tuple[Budget, ...]] | None = None, **kw: Any) -> Governor:
    clock = FakeClock()
    governor = Governor(
        DEFAULT_BUDGETS if budgets is None else budgets, clock=clock, sleep=clock.sleep, **kw
    )
    governor.clock = clock  # type: ignore[attr-defined]
    return governor


def clock_of(governor: Governor) -> FakeClock:
    clock: FakeClock = governor.clock  # type: ignore[attr-defined]
    return clock


async def bounded(awaitable: Coroutine[Any, Any, Any]) -> Any:
    """A real-time bound: a governor that never hands out its token fails the test, not CI."""
    return await asyncio.wait_for(awaitable, 5)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSlack) -> Iterator[FakeSlack]:
    server.reset()
    member_of(server, "C1")
    yield server
    server.reset()


def governed(fake: FakeSlack, governor: Governor) -> GovernedClient:
    return GovernedClient(
        token=fake.bot_token,
        base_url=fake.api_url,
        governor=governor,
        # No backoff: the retry itself is what is tested, not slack_sdk's wait.
        retry_handlers=[
            IdempotentServerErrorRetryHandler(
                max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.0)
            )
        ],
    )


def burst(governor: Governor, method: str, channel: str | None = None) -> int:
    taken = 0
    while governor.try_take(method, channel) and taken < 1000:
        taken += 1
    return taken


# --- budgets --------------------------------------------------------------------------------

PUBLISHED = {  # method: (Slack's published calls a minute, the burst the bot allows)
    "apps.connections.open": (1, 2),
    "chat.postEphemeral": (100, 20),
    "chat.update": (50, 10),
    "chat.delete": (50, 10),
    "chat.getPermalink": (100, 20),
    "chat.startStream": (20, 5),
    "chat.appendStream": (100, 20),
    "chat.stopStream": (20, 5),
    "reactions.add": (50, 10),
    "reactions.remove": (20, 5),
    "conversations.replies": (1, 1),
    "conversations.history": (1, 1),
    "conversations.info": (50, 10),
    "users.info": (100, 20),
    "assistant.threads.setStatus": (50, 10),
    "assistant.threads.setSuggestedPrompts": (100, 20),
    "assistant.threads.setTitle": (100, 20),
    "views.publish": (100, 20),
    "auth.test": (100, 20),
}


@pytest.mark.parametrize(("method", "published"), sorted(PUBLISHED.items()))
def test_each_method_is_budgeted_at_its_slack_tier_with_a_small_burst(
    method: str, published: tuple[int, int]
) -> None:
    governor = virtual()
    per_minute, allowed = published

    assert governor.per_minute(method) == pytest.approx(per_minute * RATE_MARGIN)
    assert burst(governor, method, "C1") == allowed


def test_channel_messages_are_paced_per_channel_and_for_the_whole_workspace() -> None:
    governor = virtual()

    assert governor.per_minute("chat.postMessage") == pytest.approx(300 * RATE_MARGIN)
    assert burst(governor, "chat.postMessage", "C1") == 3
    assert sum(burst(governor, "chat.postMessage", f"C{i}") for i in range(2, 12)) == 27
    assert not governor.available("chat.postMessage", "C99"), "the workspace burst is 30"
    clock_of(governor).now = 1.24  # one a second per channel, with the margin: 1.25 s
    assert not governor.available("chat.postMessage", "C1")
    clock_of(governor).now = 1.26
    assert governor.available("chat.postMessage", "C1")


def test_a_method_with_no_budget_is_never_held() -> None:
    governor = virtual()

    assert governor.per_minute("files.info") is None
    assert burst(governor, "files.info") == 1000


def test_the_sustained_rate_is_the_slowest_workspace_budget_with_the_margin() -> None:
    governor = virtual(
        {"m": (Budget(20, 1), Budget(10, 1), Budget(1, 1, per_channel=True))},
    )

    assert governor.per_minute("m") == pytest.approx(10 * RATE_MARGIN)


def test_priorities_are_four_levels_answer_first_cosmetic_last() -> None:
    assert sorted(Priority) == [
        Priority.ANSWER,
        Priority.COMMAND,
        Priority.STREAM,
        Priority.COSMETIC,
    ]
    assert len(set(Priority)) == 4


def test_a_new_governor_has_counted_nothing_and_lets_a_stream_run_four_minutes() -> None:
    governor = Governor()

    assert governor.skipped == {} and governor.learned == {}
    assert governor.open_streams == 0
    assert governor.stream_max_s == 240.0


def test_each_of_n_tasks_budgets_a_share_of_the_workspace_limit() -> None:
    alone, one_of_two = virtual(), virtual(tasks=2)

    assert alone.per_minute("chat.appendStream") == 100 * RATE_MARGIN
    assert one_of_two.per_minute("chat.appendStream") == 50 * RATE_MARGIN
    assert burst(one_of_two, "chat.startStream") == 2  # half of Tier 2's 5, rounded down
    assert burst(virtual(tasks=0), "chat.startStream") == 5, "fewer than one task is one"
    assert burst(virtual({"m": (Budget(60, 2),)}, tasks=8), "m") == 1, "never below one"


def test_method_limits_parse_and_name_a_bad_entry() -> None:
    assert parse_method_limits("chat.update=30/min:5, users.info=2/s") == {
        "chat.update": (Budget(30, 5),),
        "users.info": (Budget(120, 1),),
    }
    assert parse_method_limits(None) == {}
    assert parse_method_limits("") == {}
    with pytest.raises(ValueError, match=r"'chat\.update=lots'"):
        parse_method_limits("chat.update=lots")


@pytest.mark.parametrize(
    ("text", "budgets"),
    [
        ("a=30", {"a": (Budget(30, 1),)}),
        ("a=30/min", {"a": (Budget(30, 1),)}),
        ("a=0.5/min:2", {"a": (Budget(0.5, 2),)}),
        ("a=2/sec:1", {"a": (Budget(120, 1),)}),
        ("a=2/ s", {"a": (Budget(120, 1),)}),
        ("a=3/ min", {"a": (Budget(3, 1),)}),
        ("a =3/min, ,b=1/s,", {"a": (Budget(3, 1),), "b": (Budget(60, 1),)}),
    ],
)
def test_method_limits_accept_minutes_seconds_a_burst_and_loose_spacing(
    text: str, budgets: dict[str, tuple[Budget, ...]]
) -> None:
    assert parse_method_limits(text) == budgets


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a=30/h", "expected METHOD=N/min"),
        ("=30/min", "expected METHOD=N/min"),
        ("a=30/min:x", "expected METHOD=N/min"),
        ("a:30/min", "expected METHOD=N/min"),
        ("a=0/min", "must be positive"),
        ("a=-1/min", "must be positive"),
        ("a=30/min:0", "must be positive"),
    ],
)
def test_a_bad_method_limit_is_a_value_error_naming_the_entry(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^'{text}': .*{message}"):
        parse_method_limits(text)


def test_a_budget_cannot_be_changed_in_place_since_tiers_are_shared() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_BUDGETS["users.info"][0].burst = 1000  # type: ignore[misc]
    assert Budget(1, 1).per_channel is False


def test_a_bad_slack_method_limit_stops_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.config import load_settings
    from kernel.errors import ConfigError

    monkeypatch.setenv("SLACK_METHOD_LIMITS", "chat.update=fast")
    with pytest.raises(ConfigError, match=r"^SLACK_METHOD_LIMITS: 'chat\.update=fast'"):
        load_settings(_env_file=None)
    monkeypatch.setenv("SLACK_METHOD_LIMITS", "chat.update=30/min:5")
    monkeypatch.setenv("SLACK_TASKS", "0")
    with pytest.raises(ConfigError, match=r"^SLACK_TASKS"):
        load_settings(_env_file=None)


# --- token buckets (virtual time) -----------------------------------------------------------


def test_a_spent_bucket_refills_at_the_margin_rate_never_past_its_burst() -> None:
    governor = virtual({"m": (Budget(120, 2),)})  # 1.6 tokens/s: one every 0.625 s
    clock = clock_of(governor)
    assert burst(governor, "m") == 2

    assert not governor.available("m")
    clock.now = 0.62
    assert not governor.available("m")
    assert not governor.available("m"), "the same interval is not counted twice"
    assert governor.try_take("m") is False
    clock.now = 0.63
    assert governor.try_take("m") is True
    clock.now = 1000.0
    assert burst(governor, "m") == 2


async def test_a_call_past_the_burst_waits_exactly_until_its_token() -> None:
    governor = virtual({"m": (Budget(120, 2),)})
    clock = clock_of(governor)
    burst(governor, "m")
    clock.now = 0.3125  # half a token back

    assert await bounded(governor.acquire("m", channel=None, level=Priority.ANSWER))
    assert clock.now == pytest.approx(0.625)
    assert await bounded(governor.acquire("m", channel=None, level=Priority.ANSWER))
    assert clock.now == pytest.approx(1.25)


def test_a_call_that_finds_a_token_takes_it_without_yielding_to_the_loop() -> None:
    governor = virtual({"m": (Budget(60, 1),)})
    step = governor.acquire("m", channel=None, level=Priority.STREAM)

    with pytest.raises(StopIteration) as done:
        step.send(None)

    assert done.value.value is True
    assert not governor.available("m")


async def test_waiting_calls_go_best_priority_first_then_in_arrival_order() -> None:
    governor = virtual({"m": (Budget(120, 1),)})
    clock = clock_of(governor)
    burst(governor, "m")
    order: list[str] = []

    async def call(name: str, level: Priority) -> None:
        await governor.acquire("m", channel=None, level=level)
        order.append(name)

    arrivals = [
        ("stream 1", Priority.STREAM),
        ("command 1", Priority.COMMAND),
        ("stream 2", Priority.STREAM),
        ("answer", Priority.ANSWER),
        ("command 2", Priority.COMMAND),
    ]
    tasks = [asyncio.create_task(call(name, level)) for name, level in arrivals]
    await bounded(asyncio.gather(*tasks))

    assert order == ["answer", "command 1", "command 2", "stream 1", "stream 2"]
    assert clock.now == pytest.approx(5 * 0.625)


async def test_a_queue_that_emptied_is_served_again_for_the_next_wait() -> None:
    governor = virtual({"m": (Budget(120, 1),)})
    clock = clock_of(governor)
    for round_ in (1, 2):
        burst(governor, "m")
        await bounded(governor.acquire("m", channel=None, level=Priority.STREAM))
        assert clock.now == pytest.approx(round_ * 0.625)


async def test_a_cancelled_waiter_gives_its_turn_to_the_next_without_spending_a_token() -> None:
    governor = virtual({"m": (Budget(120, 1),)})
    clock = clock_of(governor)
    burst(governor, "m")
    first = asyncio.create_task(governor.acquire("m", channel=None, level=Priority.ANSWER))
    second = asyncio.create_task(governor.acquire("m", channel=None, level=Priority.STREAM))
    await asyncio.sleep(0)
    first.cancel()

    assert await bounded(second)
    assert clock.now == pytest.approx(0.625)
    assert first.cancelled()


async def test_a_cosmetic_call_never_waits_and_each_skip_is_counted() -> None:
    governor = virtual({"m": (Budget(60, 1, per_channel=True),)})

    assert await governor.acquire("m", channel="C1", level=Priority.COSMETIC)
    assert await governor.acquire("m", channel="C1", level=Priority.COSMETIC) is False
    assert await governor.acquire("m", channel="C1", level=Priority.COSMETIC) is False
    assert await governor.acquire("m", channel="C2", level=Priority.COSMETIC)

    assert governor.skipped == {"m": 2}
    assert clock_of(governor).now == 0.0


async def test_nothing_is_available_while_calls_wait_even_once_refilled() -> None:
    governor = virtual({"m": (Budget(120, 1),)})
    clock = clock_of(governor)
    burst(governor, "m")
    waiting = asyncio.create_task(governor.acquire("m", channel=None, level=Priority.STREAM))
    await asyncio.sleep(0)  # queued; its pump has not run yet
    clock.now = 10.0

    assert not governor.available("m")
    assert not await governor.acquire("m", channel=None, level=Priority.COSMETIC)
    assert await bounded(waiting)


async def test_a_new_call_queues_behind_waiting_ones_even_when_a_token_is_back() -> None:
    governor = virtual({"m": (Budget(120, 1),)})
    clock = clock_of(governor)
    burst(governor, "m")
    first = asyncio.create_task(governor.acquire("m", channel=None, level=Priority.STREAM))
    await asyncio.sleep(0)  # queued
    clock.now = 10.0
    later = governor.acquire("m", channel=None, level=Priority.STREAM)

    waits_for = later.send(None)  # a call that took the token at once would stop here

    assert isinstance(waits_for, asyncio.Future)
    later.close()
    assert await bounded(first)


def test_available_can_leave_a_share_of_the_burst_for_others() -> None:
    governor = virtual({"m": (Budget(60, 4),)})

    assert governor.available("m", spare=0.5)  # 4 tokens, 1 + 2 needed
    governor.try_take("m")
    assert governor.available("m", spare=0.5)  # 3 tokens: exactly enough
    governor.try_take("m")
    assert not governor.available("m", spare=0.5)
    assert governor.available("m")


@pytest.mark.parametrize(
    "budgets",
    [{"m": (Budget(6000, 5),), "other": (Budget(6000, 5),)}, {}],
    ids=["budgeted", "no-budget"],
)
def test_a_learned_pause_holds_the_method_everywhere_even_once_refilled(
    budgets: dict[str, tuple[Budget, ...]],
) -> None:
    governor = virtual(budgets)
    clock = clock_of(governor)
    assert governor.available("m") and governor.available("other")

    governor.learn("m", 30)
    clock.now = 29.9
    assert not governor.available("m")
    assert governor.available("other")
    clock.now = 30.0
    assert governor.available("m")
    governor.learn("m", 1)
    assert governor.learned == {"m": 2}


async def test_a_call_with_no_budget_waits_out_its_learned_pause_then_goes_at_once() -> None:
    governor = virtual({})
    clock = clock_of(governor)
    governor.learn("files.info", 7)
    clock.now = 2.0

    assert await bounded(governor.acquire("files.info", channel=None, level=Priority.COMMAND))
    assert clock.now == pytest.approx(7.0)
    assert await bounded(governor.acquire("files.info", channel=None, level=Priority.COMMAND))
    assert clock.now == pytest.approx(7.0), "a second call after the pause is not held"
    governor.learn("files.info", 5)
    assert not await governor.acquire("files.info", channel=None, level=Priority.COSMETIC)
    assert governor.skipped == {"files.info": 1}


async def test_a_call_with_no_budget_waits_only_what_is_left_of_the_pause() -> None:
    governor = virtual({})
    clock = clock_of(governor)
    governor.learn("files.info", 1)

    clock.now = 0.5  # half a second into a one-second pause
    await bounded(governor.acquire("files.info", channel=None, level=Priority.COMMAND))
    assert clock.now == pytest.approx(1.0)
    clock.now = 1.5  # half a second after it: no wait at all
    await bounded(governor.acquire("files.info", channel=None, level=Priority.COMMAND))
    assert clock.now == pytest.approx(1.5)


def test_a_pause_holds_a_channel_first_called_during_it() -> None:
    governor = virtual({"post": (Budget(60, 3, per_channel=True),)})  # 0.8 tokens/s
    clock = clock_of(governor)
    assert governor.try_take("post", "C1")

    governor.learn("post", 2)  # Slack's 429 came from a call in C1
    clock.now = 1.9
    assert not governor.available("post", "C2"), "C2 was never called, but the pause is for all"
    assert not governor.try_take("post", "C3")
    clock.now = 2.0
    assert governor.available("post", "C2")
    assert governor.try_take("post", "C2")


async def test_calls_that_waited_out_a_pause_still_go_best_priority_first() -> None:
    governor = virtual({"m": (Budget(120, 1),)})
    clock = clock_of(governor)
    governor.learn("m", 3)
    order: list[str] = []

    async def call(name: str, level: Priority) -> None:
        await governor.acquire("m", channel=None, level=level)
        order.append(name)

    arrivals = [
        ("edit", Priority.STREAM),
        ("command", Priority.COMMAND),
        ("answer", Priority.ANSWER),
    ]
    await bounded(asyncio.gather(*(call(name, level) for name, level in arrivals)))

    assert order == ["answer", "command", "edit"]
    assert clock.now >= 3.0


def test_a_pause_lasts_at_least_a_second_and_a_shorter_one_never_cuts_a_longer() -> None:
    governor = virtual({"m": (Budget(6000, 5),)})
    clock = clock_of(governor)
    governor.available("m")

    governor.learn("m", 0)
    clock.now = 0.99
    assert not governor.available("m")
    clock.now = 1.0
    assert governor.available("m")
    governor.learn("m", 1.5)
    clock.now = 2.49
    assert not governor.available("m")
    clock.now = 2.5
    assert governor.available("m")
    governor.learn("m", 30)
    governor.learn("m", 1)
    clock.now = 20.0
    assert not governor.available("m")
    governor.learn("unbudgeted", 30)
    governor.learn("unbudgeted", 1)
    assert not governor.available("unbudgeted")


def test_after_a_pause_the_bucket_refills_from_empty() -> None:
    governor = virtual({"m": (Budget(60, 3),)})  # 0.8 tokens/s
    clock = clock_of(governor)
    governor.available("m")

    governor.learn("m", 1)
    clock.now = 1.0
    assert not governor.available("m")
    clock.now = 1.24
    assert not governor.available("m")
    clock.now = 1.26
    assert governor.available("m")


def test_priority_overrides_the_methods_level_only_inside_the_block() -> None:
    assert _method_priority("reactions.add") is Priority.COSMETIC
    assert _method_priority("chat.update") is Priority.STREAM
    assert _method_priority("files.info") is Priority.COMMAND
    with priority(Priority.ANSWER):
        assert _method_priority("reactions.add") is Priority.ANSWER
    assert _method_priority("reactions.add") is Priority.COSMETIC


def test_the_channel_comes_from_the_first_argument_set_that_names_one() -> None:
    assert _channel_of({"channel": "C1"}, {"channel": "C2"}) == "C1"
    assert _channel_of(None, {"channel_id": "D2"}) == "D2"
    assert _channel_of({"channel": ""}, {"text": "x"}, {"channel": "C3"}) == "C3"
    assert _channel_of("C1", None) is None


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"content-type": "application/json", "retry-after": "2.5"}, 2.5),
        ({"Retry-After": "soon"}, 1.0),
        ({}, 1.0),
        (None, 1.0),
    ],
)
def test_retry_after_is_read_in_any_case_and_is_a_second_when_unreadable(
    headers: dict[str, str] | None, seconds: float
) -> None:
    response = AsyncSlackResponse(
        client=AsyncWebClient(),
        http_verb="POST",
        api_url="https://slack.test/api/chat.update",
        req_args={},
        data={"ok": False, "error": "ratelimited"},
        headers=headers,  # type: ignore[arg-type]
        status_code=429,
    )

    assert _retry_after(response) == seconds
    assert type(_retry_after(response)) is float


_SERVER_ERROR = HttpResponse(status_code=500, headers={})
_POSTS_OR_APPENDS = {
    "chat.postMessage",
    "chat.postEphemeral",
    "chat.startStream",
    "chat.appendStream",
    "chat.stopStream",
}


@pytest.mark.parametrize(
    ("method", "retried"),
    sorted((m, m not in _POSTS_OR_APPENDS) for m in {*PUBLISHED, *_POSTS_OR_APPENDS}),
)
async def test_only_calls_that_change_nothing_when_repeated_are_resent_after_a_500(
    method: str, retried: bool
) -> None:
    handler = IdempotentServerErrorRetryHandler(max_retry_count=2)

    for url in (
        f"https://slack.test/api/{method}",
        f"https://slack.test/api/{method}?a=b/c",
        f"https://slack.test/api/{method}/",
    ):
        request = HttpRequest(method="POST", url=url, headers={})
        assert (
            await handler._can_retry_async(
                state=RetryState(), request=request, response=_SERVER_ERROR
            )
            is retried
        ), url


# --- through the client, against the Slack fake ---------------------------------------------


async def test_calls_past_the_burst_are_paced_not_rejected(fake: FakeSlack) -> None:
    fake.unlimit("chat.startStream")
    governor = virtual()
    client = governed(fake, governor)
    parent = fake.add_message("D1", "U1", "q")
    for _ in range(6):  # Tier 2: a burst of 5, then one every 3 s / RATE_MARGIN
        await bounded(client.chat_startStream(channel="D1", thread_ts=parent, markdown_text="a"))

    assert clock_of(governor).now == pytest.approx(3.0 / RATE_MARGIN)
    assert len(fake.calls("chat.startStream")) == 6


async def test_a_cosmetic_call_without_a_token_is_skipped_and_never_sent(
    fake: FakeSlack,
) -> None:
    governor = virtual({"reactions.add": (Budget(60, 1),)})
    client = governed(fake, governor)
    ts = (await client.chat_postMessage(channel="C1", text="q"))["ts"]
    await client.reactions_add(channel="C1", timestamp=ts, name="eyes")

    with pytest.raises(SlackApiError) as caught:
        await client.reactions_add(channel="C1", timestamp=ts, name="heart")

    assert isinstance(caught.value, Skipped)
    response = caught.value.response
    assert response["error"] == SKIPPED == "skipped_by_governor" and response["ok"] is False
    assert response.status_code == 429 and response.http_verb == "POST"
    assert "reactions.add skipped" in str(caught.value)
    assert len(fake.calls("reactions.add")) == 1
    assert governor.skipped == {"reactions.add": 1}


async def test_a_prepaid_call_spends_the_token_taken_before_and_no_other(
    fake: FakeSlack,
) -> None:
    governor = virtual({"reactions.add": (Budget(60, 1),)})
    client = governed(fake, governor)
    ts = (await client.chat_postMessage(channel="C1", text="q"))["ts"]
    assert governor.try_take("reactions.add", "C1")

    with prepaid():
        await client.reactions_add(channel="C1", timestamp=ts, name="eyes")
    with pytest.raises(Skipped):
        await client.reactions_add(channel="C1", timestamp=ts, name="heart")

    assert fake.reactions("C1", ts) == {"eyes"}


async def test_a_prepaid_call_hit_by_a_429_waits_out_the_pause_before_it_is_resent(
    fake: FakeSlack,
) -> None:
    governor = virtual()
    client = governed(fake, governor)
    ts = (await client.chat_postMessage(channel="C1", text="q"))["ts"]
    assert governor.try_take("chat.update", "C1")
    fake.ratelimit("chat.update", times=1, retry_after=2)

    with prepaid():
        await bounded(client.chat_update(channel="C1", ts=ts, text="edited"))

    assert [c.status for c in fake.calls("chat.update")] == [429, 200]
    assert clock_of(governor).now == pytest.approx(2.0)


async def test_per_channel_budgets_read_the_channel_from_json_form_and_query_arguments(
    fake: FakeSlack,
) -> None:
    for channel in ("C2", "C3", "C4"):
        member_of(fake, channel)
    per_channel = (Budget(60, 1, per_channel=True),)
    governor = virtual({"chat.postMessage": per_channel, "conversations.replies": per_channel})
    client = governed(fake, governor)

    await client.chat_postMessage(channel="C1", text="json")
    await client.api_call("chat.postMessage", data={"channel": "C2", "text": "form"})
    await client.api_call("chat.postMessage", data={"channel": "C3", "text": "form"})
    await client.api_call("chat.postMessage", json={"channel": "C4", "text": "json"})
    for channel in ("C1", "C2"):
        parent = fake.add_message(channel, "U1", "q")
        await client.conversations_replies(channel=channel, ts=parent)

    assert clock_of(governor).now == 0.0, "no call waited for another channel's token"
    assert len(fake.calls("chat.postMessage")) == 4
    assert len(fake.calls("conversations.replies")) == 2


async def test_waiting_calls_go_by_priority_answer_before_edits(fake: FakeSlack) -> None:
    fake.unlimit("chat.update")
    governor = virtual({"chat.update": (Budget(120, 1),)})
    client = governed(fake, governor)
    ts = (await client.chat_postMessage(channel="C1", text="q"))["ts"]
    await client.chat_update(channel="C1", ts=ts, text="first")  # spends the burst
    order: list[str] = []

    async def edit(text: str, level: Priority) -> None:
        with priority(level):
            await client.chat_update(channel="C1", ts=ts, text=text)
        order.append(text)

    edits = [asyncio.create_task(edit(f"edit {i}", Priority.STREAM)) for i in range(2)]
    await asyncio.sleep(0)  # the edits queue first
    answer = asyncio.create_task(edit("answer", Priority.ANSWER))
    await bounded(asyncio.gather(*edits, answer))

    assert order == ["answer", "edit 0", "edit 1"]


async def test_a_429_pauses_the_method_for_retry_after_and_the_answer_is_resent(
    fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    governor = virtual()
    client = governed(fake, governor)
    fake.ratelimit("chat.postMessage", times=1, retry_after=2)

    with caplog.at_level(logging.WARNING, logger="bot.slack.governor"):
        posted = await bounded(client.chat_postMessage(channel="C1", text="answer"))

    limited, resent = fake.calls("chat.postMessage")
    assert posted["ok"] and limited.status == 429 and resent.status == 200
    assert clock_of(governor).now == pytest.approx(2.0), "sent again exactly at Retry-After"
    assert governor.learned == {"chat.postMessage": 1}
    assert [m.text for m in fake.messages("C1")] == ["answer"]
    (record,) = caplog.records
    assert "rate-limited" in record.getMessage()
    assert record.method == "chat.postMessage"  # type: ignore[attr-defined]
    assert record.retry_after_s == 2.0  # type: ignore[attr-defined]


async def test_a_429_on_a_method_with_no_budget_is_waited_out_before_it_is_sent_again(
    fake: FakeSlack,
) -> None:
    governor = virtual({})  # a method Slack limits that the table does not name
    client = governed(fake, governor)
    fake.add_user("U1")
    fake.ratelimit("users.info", times=1, retry_after=3)

    await bounded(client.users_info(user="U1"))

    limited, resent = fake.calls("users.info")
    assert (limited.status, resent.status) == (429, 200)
    assert clock_of(governor).now == pytest.approx(3.0), "sent again only after Retry-After"
    assert governor.learned == {"users.info": 1}


@pytest.mark.parametrize(("limited", "delivered"), [(3, True), (4, False)])
async def test_an_answer_is_sent_at_most_four_times_under_429s(
    fake: FakeSlack, limited: int, delivered: bool
) -> None:
    governor = virtual()
    client = governed(fake, governor)
    fake.ratelimit("chat.postMessage", times=limited, retry_after=1)

    if delivered:
        await bounded(client.chat_postMessage(channel="C1", text="answer"))
    else:
        with pytest.raises(SlackApiError) as caught:
            await bounded(client.chat_postMessage(channel="C1", text="answer"))
        assert caught.value.response.status_code == 429

    assert len(fake.calls("chat.postMessage")) == 4
    assert governor.learned == {"chat.postMessage": limited}


async def test_a_stream_start_and_thread_reads_fall_back_at_once_after_a_429(
    fake: FakeSlack,
) -> None:
    governor = virtual()
    client = governed(fake, governor)
    parent = fake.add_message("C1", "U1", "q")
    fake.ratelimit("chat.startStream", times=1, retry_after=5)
    fake.ratelimit("conversations.replies", times=1, retry_after=5)
    fake.ratelimit("conversations.history", times=1, retry_after=5)

    with pytest.raises(SlackApiError):
        await client.chat_startStream(channel="C1", thread_ts=parent, markdown_text="a")
    with priority(Priority.COMMAND), pytest.raises(SlackApiError):
        await client.conversations_replies(channel="C1", ts=parent)
    with priority(Priority.COMMAND), pytest.raises(SlackApiError):
        await client.conversations_history(channel="C1")

    for method in ("chat.startStream", "conversations.replies", "conversations.history"):
        assert [c.status for c in fake.calls(method)] == [429], method
    assert clock_of(governor).now == 0.0


async def test_after_a_429_a_cosmetic_call_of_that_method_is_skipped_until_the_pause_ends(
    fake: FakeSlack,
) -> None:
    governor = virtual()
    client = governed(fake, governor)
    ts = (await client.chat_postMessage(channel="C1", text="q"))["ts"]
    fake.ratelimit("reactions.add", times=1, retry_after=30)

    with pytest.raises(SlackApiError) as first:
        await client.reactions_add(channel="C1", timestamp=ts, name="eyes")
    with pytest.raises(Skipped):
        await client.reactions_add(channel="C1", timestamp=ts, name="eyes")

    assert first.value.response.status_code == 429, "a cosmetic call is not retried"
    assert not isinstance(first.value, Skipped)
    assert len(fake.calls("reactions.add")) == 1
    assert not governor.available("reactions.add")


async def test_server_errors_are_retried_only_for_idempotent_methods(fake: FakeSlack) -> None:
    client = governed(fake, virtual())
    fake.fail("chat.postMessage", error="internal_error", status=500)
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel="C1", text="once")
    ts = (await client.chat_postMessage(channel="C1", text="q"))["ts"]
    fake.fail("chat.update", error="internal_error", status=503)
    await client.chat_update(channel="C1", ts=ts, text="edited")

    assert [c.status for c in fake.calls("chat.postMessage")] == [500, 200]
    assert [c.status for c in fake.calls("chat.update")] == [503, 200]


async def test_a_call_keeps_its_http_verb(fake: FakeSlack) -> None:
    client = governed(fake, virtual())

    await client.api_call("auth.test", http_verb="GET")

    assert [c.http_method for c in fake.calls("auth.test")] == ["GET"]


async def test_thread_reads_get_one_call_a_minute_and_a_second_is_skipped_not_waited_for(
    fake: FakeSlack,
) -> None:
    governor = virtual()
    client = governed(fake, governor)
    parent = fake.add_message("C1", "U1", "q")
    await client.conversations_replies(channel="C1", ts=parent, limit=15)

    with pytest.raises(Skipped):
        await client.conversations_replies(channel="C1", ts=parent, limit=15)

    assert clock_of(governor).now == 0.0
    assert len(fake.calls("conversations.replies")) == 1


def test_every_request_of_a_governed_app_gets_the_governed_client(fake: FakeSlack) -> None:
    client = governed(fake, virtual())
    app = GovernedApp(client=client, raise_error_for_unhandled_request=False)
    request = AsyncBoltRequest(body={"type": "event_callback"}, mode="socket_mode")

    app._init_context(request)

    assert request.context.client is client
    assert request.context.token == fake.bot_token


def test_an_ungoverned_client_is_left_to_bolt(fake: FakeSlack) -> None:
    plain = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    app: AsyncApp = GovernedApp(client=plain, raise_error_for_unhandled_request=False)
    request = AsyncBoltRequest(body={"type": "event_callback"}, mode="socket_mode")

    app._init_context(request)

    assert request.context.client is not plain
    assert request.context.client.token == fake.bot_token
