"""The Slack fake enforces Slack's limits by default: per-method tiers (429 + Retry-After),
the per-channel chat.postMessage spacing, the manifest's scopes and a stream's lifetime."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from fakes.harness import slack_error
from fakes.slack import FakeSlack, member_of
from fakes.slack_limits import RATE_LIMITS, TIER_2


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        member_of(server, "C1", "C2", "G1")
        yield server


async def test_a_tier_2_method_allows_its_burst_then_answers_429_with_retry_after(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = fake.add_message("D1", "U1", "q")
    assert RATE_LIMITS["chat.startStream"] == (TIER_2,)
    for _ in range(TIER_2.burst):
        await client.chat_startStream(channel="D1", thread_ts=parent, markdown_text="a")

    limited = await slack_error(client.chat_startStream(channel="D1", thread_ts=parent))

    assert limited.response.status_code == 429
    assert limited.response["error"] == "ratelimited"
    # 20 a minute: the next token is 3 s away.
    assert limited.response.headers["Retry-After"] == "3"
    assert fake.ratelimited() == {"chat.startStream": 1}


async def test_chat_post_message_is_limited_per_channel_about_one_a_second(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    for _ in range(3):  # the per-channel burst
        await client.chat_postMessage(channel="C1", text="x")
    limited = await slack_error(client.chat_postMessage(channel="C1", text="x"))
    other_channel = await client.chat_postMessage(channel="C2", text="x")
    await asyncio.sleep(1.05)
    after_a_second = await client.chat_postMessage(channel="C1", text="x")

    assert limited.response.status_code == 429
    assert other_channel["ok"] and after_a_second["ok"]


async def test_set_limit_and_unlimit_change_one_method_for_a_test(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.set_limit("users.info", per_minute=60, burst=1)
    fake.add_user("U1")
    await client.users_info(user="U1")
    limited = await slack_error(client.users_info(user="U1"))
    fake.unlimit("chat.postMessage")
    posted = [await client.chat_postMessage(channel="C1", text="x") for _ in range(10)]

    assert limited.response.status_code == 429
    assert posted and all(p["ok"] for p in posted)


async def test_limits_go_back_to_slacks_tiers_on_reset(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.unlimit("chat.postMessage")
    fake.reset()
    member_of(fake, "C1")
    for _ in range(3):
        await client.chat_postMessage(channel="C1", text="x")

    assert (await slack_error(client.chat_postMessage(channel="C1", text="x"))).response.status_code
    assert fake.ratelimited() == {"chat.postMessage": 1}


async def test_a_method_outside_the_granted_scopes_is_missing_scope(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    ts = (await client.chat_postMessage(channel="C1", text="x"))["ts"]
    fake.scopes = "chat:write"

    missing = await slack_error(client.reactions_add(channel="C1", timestamp=ts, name="eyes"))
    history = await slack_error(client.conversations_replies(channel="G1", ts=ts))

    assert missing.response["error"] == "missing_scope"
    assert missing.response["needed"] == "reactions:write"
    assert missing.response["provided"] == "chat:write"
    assert history.response["needed"] == "groups:history"


async def test_the_default_scopes_are_the_app_manifests(fake: FakeSlack) -> None:
    from bot.slack.manifest import BOT_SCOPES

    assert fake.scopes.split(",") == BOT_SCOPES


async def test_a_stream_ends_its_lifetime_after_start_however_often_appended(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.stream_lifetime_s = 0.6
    parent = fake.add_message("D1", "U1", "q")
    ts = (await client.chat_startStream(channel="D1", thread_ts=parent, markdown_text="a"))["ts"]
    for _ in range(3):
        await asyncio.sleep(0.15)
        await client.chat_appendStream(channel="D1", ts=ts, markdown_text="b")
    await asyncio.sleep(0.3)

    ended = await slack_error(client.chat_appendStream(channel="D1", ts=ts, markdown_text="c"))
    stop = await slack_error(client.chat_stopStream(channel="D1", ts=ts))

    assert ended.response["error"] == "message_not_in_streaming_state"
    assert stop.response["error"] == "message_not_in_streaming_state"
    assert fake.message("D1", ts).text == "abbb"


def test_the_default_stream_lifetime_is_five_minutes() -> None:
    with FakeSlack() as fake:
        assert fake.stream_lifetime_s == 300
