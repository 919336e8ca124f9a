"""The Socket Mode connection is dropped while an answer streams: the answer still arrives
(Web API calls do not need the socket), the handler reconnects, the next event is answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.slack.serve import Running
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import (
    BOB,
    LEAVE_EN,
    MENTION,
    bot_replies,
    has_feedback,
    slack_app_settings,
    wait_replies,
)
from fakes.slack import FakeSlack
from tests.faults.apps import CHANNEL

LONG = "Employees get 20 days of paid annual leave per calendar year [1]. " * 8


@pytest.fixture
def app_settings(
    settings: Settings, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, aws_env: Path
) -> Settings:
    """A 0.5 s ping, so that the lost socket is noticed and replaced within the test's wait
    (slack_sdk checks its session once per ping interval)."""
    return slack_app_settings(monkeypatch, slack, aws_env, SOCKET_PING_SECONDS="0.5")


async def test_socket_dropped_mid_answer_the_answer_is_delivered_and_the_next_event_answered(
    app: Running, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.latency("nova-pro", first_token_s=0.1, tokens_per_s=150)  # ~1 s of streaming
    bedrock.responder("nova-pro", lambda _: Reply(text=LONG))
    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    await slack.wait_for_async(lambda: slack.calls("chat.startStream"), 10)
    opened = slack.connections_opened

    slack.drop_socket()  # TCP abort, as a network blip or a Slack host going away does

    (answer,) = await wait_replies(slack, CHANNEL, ts, timeout=20)
    assert answer.streamed and has_feedback(answer)
    assert answer.text.count("20 days") == 8, "the answer in flight lost text"
    await slack.wait_for_async(
        lambda: slack.connections_opened > opened and slack.connected >= 1, 15
    )
    assert await app.link.is_connected()

    after = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    (second,) = await wait_replies(slack, CHANNEL, after)
    assert has_feedback(second)
    assert len(bot_replies(slack, CHANNEL, ts)) == 1
