"""Slack's Web API answering `ratelimited` (HTTP 429, Retry-After): the app waits, succeeds."""

from __future__ import annotations

import pytest

from bot.slack.serve import Running
from tests.fakes.bedrock import FakeBedrock, Reply
from tests.fakes.slack import FakeSlack
from tests.faults.conftest import ANSWER, CHANNEL
from tests.harness import BOB, LEAVE_EN, MENTION, bot_replies, has_feedback, wait_replies


@pytest.mark.parametrize("method", ["chat.startStream", "chat.stopStream"])
async def test_ratelimited_web_api_call_is_retried_after_retry_after_and_succeeds(
    app: Running, slack: FakeSlack, bedrock: FakeBedrock, method: str
) -> None:
    bedrock.responder("nova-pro", lambda _: Reply(text=ANSWER))
    slack.ratelimit(method, times=1, retry_after=1)

    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    (answer,) = await wait_replies(slack, CHANNEL, ts)

    limited, retried = slack.calls(method)
    assert limited.status == 429 and limited.error == "ratelimited"
    assert retried.ok and retried.at - limited.at >= 0.95, "did not wait for Retry-After"
    assert has_feedback(answer) and "20 days" in answer.text
    assert len(bot_replies(slack, CHANNEL, ts)) == 1
