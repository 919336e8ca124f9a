"""Bedrock's Nova Pro quota used up by someone else for two minutes: the questions wait their
turn in the queue (paced, not retried into the wall) and are answered when it comes back.

The fake's clock runs sixty times faster than real time, so the two minutes take two seconds.
"""

from __future__ import annotations

import time

from bot.slack.serve import Running
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import (
    ALICE,
    BOB,
    LEAVE_EN,
    MENTION,
    bot_replies,
    has_feedback,
    micro,
    wait_replies,
)
from fakes.slack import FakeSlack
from tests.faults.apps import ANSWER, CHANNEL, LEAVE_KO

QUESTIONS = [(ALICE, LEAVE_KO), (BOB, LEAVE_EN), (ALICE, "연차는 이월되나요?"), (BOB, "VPN?")]


async def test_pro_quota_exhausted_for_two_minutes_every_question_is_answered_after_it(
    app: Running, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.responder("nova-micro", lambda _: micro(LEAVE_EN))
    bedrock.responder("nova-pro", lambda _: Reply(text=ANSWER))
    bedrock.set_time_scale(60)  # one real second = one fake minute
    bedrock.set_quota("nova-pro", requests_per_minute=40, burst=10)
    bedrock.exhaust_quota("nova-pro", 120)
    back_at = time.monotonic() + 2.0
    started = time.monotonic()

    asked = [
        slack.post_user_message(CHANNEL, user, f"{MENTION} {text}") for user, text in QUESTIONS
    ]

    for ts in asked:
        (reply,) = await wait_replies(slack, CHANNEL, ts, timeout=30 - (time.monotonic() - started))
        assert has_feedback(reply), reply.text  # answered, not "busy"
    assert time.monotonic() - started < 20
    assert await app.inflight.drain(5), "something still hangs"

    pro = bedrock.calls(model="nova-pro")
    answered = [r for r in pro if r.error is None]
    throttled = [r for r in pro if r.error == "ThrottlingException"]
    assert len(answered) == len(QUESTIONS)
    assert answered and all(r.started_at >= back_at - 0.2 for r in answered), (
        "answered inside the outage?"
    )
    # Paced: each question's turn is at most botocore's three attempts, and the queue spaces
    # the turns; without it every question would retry as fast as botocore lets it.
    assert len(throttled) <= 3 * 3 * len(QUESTIONS), f"{len(throttled)} calls into the wall"
    for ts in asked:
        assert len(bot_replies(slack, CHANNEL, ts)) == 1
        assert not slack.reactions(CHANNEL, ts), "the 👀 was not cleared"
