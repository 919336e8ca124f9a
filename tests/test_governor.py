"""The Slack call governor: budgets, priorities, cosmetic skips, Retry-After learning, task
shares and which calls are re-sent after a server error — against the Slack fake."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack.governor import (
    RATE_MARGIN,
    SKIPPED,
    Budget,
    GovernedClient,
    Governor,
    IdempotentServerErrorRetryHandler,
    Priority,
    Skipped,
    priority,
)
from bot.slack_rates import parse_method_limits
from fakes.slack import FakeSlack, member_of


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
        retry_handlers=[IdempotentServerErrorRetryHandler(max_retry_count=2)],
    )


async def test_calls_past_the_burst_are_paced_not_rejected(fake: FakeSlack) -> None:
    client = governed(fake, Governor())
    parent = fake.add_message("D1", "U1", "q")
    started = time.monotonic()
    for _ in range(6):  # Tier 2: a burst of 5, then one every 3 s / RATE_MARGIN
        await client.chat_startStream(channel="D1", thread_ts=parent, markdown_text="a")

    assert time.monotonic() - started >= 3.0 / RATE_MARGIN - 0.1
    assert fake.ratelimited() == {}
    assert len(fake.calls("chat.startStream")) == 6


async def test_a_cosmetic_call_without_a_token_is_skipped_and_never_sent(
    fake: FakeSlack,
) -> None:
    governor = Governor({"reactions.add": (Budget(60, 1),)})
    client = governed(fake, governor)
    ts = (await client.chat_postMessage(channel="C1", text="q"))["ts"]
    await client.reactions_add(channel="C1", timestamp=ts, name="eyes")

    with pytest.raises(SlackApiError) as caught:
        await client.reactions_add(channel="C1", timestamp=ts, name="heart")

    assert isinstance(caught.value, Skipped)
    assert caught.value.response["error"] == SKIPPED
    assert len(fake.calls("reactions.add")) == 1
    assert governor.skipped == {"reactions.add": 1}


async def test_waiting_calls_go_by_priority_answer_before_edits(fake: FakeSlack) -> None:
    governor = Governor({"chat.update": (Budget(120, 1),)})  # one every 0.5 s / margin
    client = governed(fake, governor)
    ts = (await client.chat_postMessage(channel="C1", text="q"))["ts"]
    await client.chat_update(channel="C1", ts=ts, text="first")  # spends the burst
    order: list[str] = []

    async def edit(text: str, level: Priority) -> None:
        with priority(level):
            await client.chat_update(channel="C1", ts=ts, text=text)
        order.append(text)

    edits = [asyncio.create_task(edit(f"edit {i}", Priority.STREAM)) for i in range(2)]
    await asyncio.sleep(0.05)  # the edits queue first
    answer = asyncio.create_task(edit("answer", Priority.ANSWER))
    await asyncio.gather(*edits, answer)

    assert order[0] == "answer"
    assert fake.ratelimited() == {}


async def test_a_429_pauses_the_method_for_retry_after_and_the_answer_is_resent(
    fake: FakeSlack,
) -> None:
    governor = Governor()
    client = governed(fake, governor)
    fake.ratelimit("chat.postMessage", times=1, retry_after=2)

    posted = await client.chat_postMessage(channel="C1", text="answer")

    limited, resent = fake.calls("chat.postMessage")
    assert posted["ok"] and limited.status == 429
    assert resent.at - limited.at >= 1.95, "sent again before Retry-After"
    assert governor.learned == {"chat.postMessage": 1}
    assert [m.text for m in fake.messages("C1")] == ["answer"]


async def test_after_a_429_a_cosmetic_call_of_that_method_is_skipped_until_the_pause_ends(
    fake: FakeSlack,
) -> None:
    governor = Governor()
    client = governed(fake, governor)
    ts = (await client.chat_postMessage(channel="C1", text="q"))["ts"]
    fake.ratelimit("reactions.add", times=1, retry_after=30)

    with pytest.raises(SlackApiError) as first:
        await client.reactions_add(channel="C1", timestamp=ts, name="eyes")
    with pytest.raises(Skipped):
        await client.reactions_add(channel="C1", timestamp=ts, name="eyes")

    assert first.value.response.status_code == 429, "a cosmetic call is not retried"
    assert len(fake.calls("reactions.add")) == 1
    assert not governor.available("reactions.add")


async def test_each_of_n_tasks_budgets_a_share_of_the_workspace_limit() -> None:
    alone, one_of_two = Governor(), Governor(tasks=2)

    assert alone.per_minute("chat.appendStream") == 100 * RATE_MARGIN
    assert one_of_two.per_minute("chat.appendStream") == 50 * RATE_MARGIN
    taken = 0
    while one_of_two.try_take("chat.startStream"):
        taken += 1
    assert taken == 2  # half of Tier 2's burst of 5, rounded down


async def test_server_errors_are_retried_only_for_idempotent_methods(fake: FakeSlack) -> None:
    client = governed(fake, Governor())
    fake.fail("chat.postMessage", error="internal_error", status=500)
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel="C1", text="once")
    ts = (await client.chat_postMessage(channel="C1", text="q"))["ts"]
    fake.fail("chat.update", error="internal_error", status=503)
    await client.chat_update(channel="C1", ts=ts, text="edited")

    assert [c.status for c in fake.calls("chat.postMessage")] == [500, 200]
    assert [c.status for c in fake.calls("chat.update")] == [503, 200]


def test_method_limits_parse_and_name_a_bad_entry() -> None:
    assert parse_method_limits("chat.update=30/min:5, users.info=2/s") == {
        "chat.update": (Budget(30, 5),),
        "users.info": (Budget(120, 1),),
    }
    assert parse_method_limits(None) == {}
    with pytest.raises(ValueError, match=r"'chat\.update=lots'"):
        parse_method_limits("chat.update=lots")


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


async def test_thread_reads_get_one_call_a_minute_and_a_second_is_skipped_not_waited_for(
    fake: FakeSlack,
) -> None:
    client = governed(fake, Governor())
    parent = fake.add_message("C1", "U1", "q")
    await client.conversations_replies(channel="C1", ts=parent, limit=15)
    started = time.monotonic()

    with pytest.raises(Skipped):
        await client.conversations_replies(channel="C1", ts=parent, limit=15)

    assert time.monotonic() - started < 0.5
    assert len(fake.calls("conversations.replies")) == 1
