"""Slack's Web API answering `ratelimited` (HTTP 429, Retry-After): the app waits and succeeds, or
posts instead of streaming when it is the stream's start that was refused."""

from __future__ import annotations

import pytest

from bot.slack.serve import Running
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import BOB, LEAVE_EN, MENTION, bot_replies, has_feedback, wait_replies
from fakes.slack import FakeSlack
from tests.faults.apps import ANSWER, CHANNEL


@pytest.mark.parametrize("method", ["chat.stopStream"])
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


async def test_ratelimited_chat_start_stream_posts_the_answer_without_waiting(
    app: Running, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.responder("nova-pro", lambda _: Reply(text=ANSWER))
    slack.ratelimit("chat.startStream", times=1, retry_after=30)

    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    (answer,) = await wait_replies(slack, CHANNEL, ts)

    (limited,) = slack.calls("chat.startStream")
    assert limited.status == 429
    assert has_feedback(answer) and "20 days" in answer.text and not answer.streamed
    assert answer.created_at - limited.at < 5, "waited out the 30 s Retry-After"
