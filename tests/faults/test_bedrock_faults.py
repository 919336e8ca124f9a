"""Bedrock misbehaving: half of all calls throttled, and the Pro stream cut mid-answer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.messages import message
from bot.slack.serve import Running
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import (
    ALICE,
    LEAVE_EN,
    MENTION,
    bot_replies,
    has_feedback,
    micro,
    slack_app_settings,
    wait_replies,
)
from fakes.slack import FakeSlack
from tests.faults.apps import ANSWER, CHANNEL, LEAVE_KO, start_app

QUESTIONS = [
    ("en", LEAVE_EN),
    ("ko", LEAVE_KO),
    ("ja", "社員の年次有給休暇は何日ありますか？"),
    ("es", "¿Cuántos días de vacaciones anuales pagadas tienen los empleados?"),
    ("de", "Wie viele Tage bezahlten Jahresurlaub bekommen die Mitarbeiter?"),
] * 2


@pytest.fixture
async def patient_app(
    settings: Settings, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, aws_env: Path
) -> AsyncIterator[Running]:
    """The app with an 8 s QUEUE_MAX_WAIT_SECONDS, so "too busy" arrives within the test."""
    patient = slack_app_settings(monkeypatch, slack, aws_env, QUEUE_MAX_WAIT_SECONDS="8")
    running = await start_app(patient, slack)
    yield running
    await running.stop(10)


def told_busy(text: str, language: str) -> bool:
    busy_retry = message("busy_retry", language, minutes=1).split("{")[0]
    return message("busy", language) in text or busy_retry in text


async def test_half_of_bedrock_calls_throttled_every_question_answered_or_told_busy_in_30s(
    patient_app: Running, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    app = patient_app
    bedrock.responder("nova-micro", lambda _: micro(LEAVE_EN))
    bedrock.responder("nova-pro", lambda _: Reply(text=ANSWER))
    bedrock.throttle(probability=0.5, seed=6)  # Micro, the embeddings and Pro alike
    started = time.monotonic()
    asked = [
        (language, slack.post_user_message(CHANNEL, ALICE, f"{MENTION} {text}"))
        for language, text in QUESTIONS
    ]

    outcomes = []
    for language, ts in asked:
        (reply,) = await wait_replies(slack, CHANNEL, ts, timeout=30 - (time.monotonic() - started))
        assert has_feedback(reply) or told_busy(reply.text, language), reply.text
        outcomes.append("answer" if has_feedback(reply) else "busy")
    assert time.monotonic() - started < 30
    assert await app.inflight.drain(5), "something still hangs"

    throttled = [r for r in bedrock.requests if r.error == "ThrottlingException"]
    assert len(throttled) >= len(bedrock.requests) // 4, "the fault did not fire"
    assert "answer" in outcomes
    for _, ts in asked:
        assert len(bot_replies(slack, CHANNEL, ts)) == 1
        assert not slack.reactions(CHANNEL, ts), "the 👀 was not cleared"


async def test_pro_throttled_on_every_attempt_gives_a_localized_busy_reply_not_silence(
    patient_app: Running, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.responder("nova-micro", lambda _: micro(LEAVE_EN))
    bedrock.throttle("nova-pro")  # every attempt botocore makes
    started = time.monotonic()
    asked = [
        (language, slack.post_user_message(CHANNEL, ALICE, f"{MENTION} {text}"))
        for language, text in QUESTIONS[:3]
    ]

    for language, ts in asked:
        (reply,) = await wait_replies(slack, CHANNEL, ts, timeout=30)
        assert message("busy_retry", language, minutes=1) in reply.text
        assert not has_feedback(reply)
    assert time.monotonic() - started < 30
    # The queue paces the retries: after the first throttle the questions wait their turn
    # instead of retrying at once (botocore makes three attempts per turn).
    assert len(bedrock.calls(model="nova-pro")) <= 3 * 3 * 4, "retried into the throttle"


@pytest.mark.parametrize("fault", ["cut", "stream_error"])
async def test_pro_stream_cut_mid_answer_keeps_the_partial_answer_marked_incomplete(
    app: Running, slack: FakeSlack, bedrock: FakeBedrock, fault: str
) -> None:
    partial = "직원은 연간 20일의 유급 연차를 받습니다 [1]. 최대 5일까지 "
    bedrock.queue("nova-micro", micro(LEAVE_EN))
    bedrock.queue(
        "nova-pro",
        Reply(
            text=partial + "이월할 수 있습니다 [1].", error=fault, error_after_chars=len(partial)
        ),
    )

    ts = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} {LEAVE_KO}")
    (answer,) = await wait_replies(slack, CHANNEL, ts)

    assert answer.text.startswith(partial.strip())
    assert "이월할 수 있습니다" not in answer.text
    hint = message("incomplete", "ko").strip("_()（）")
    assert hint in answer.text, "no incomplete marker / retry hint"
    assert has_feedback(answer), "an incomplete answer still gets its sources and buttons"
    # the 👀 comes off after the final message lands: wait for it, don't race it
    await slack.wait_for_async(lambda: not slack.reactions(CHANNEL, ts), 5)
