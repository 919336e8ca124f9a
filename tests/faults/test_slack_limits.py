"""Slack's limits in the way: a 429 storm on chat.startStream, Retry-After: 30 on the 👀, a
stream reaching its lifetime, a failure mid-stream. Every asker still gets the whole answer,
and the app does not keep calling into a limit."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.messages import message
from bot.pipeline import AnswerStream
from bot.progress import notify_waiting
from bot.slack.serve import Running
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import (
    ALICE,
    BOB,
    LEAVE_EN,
    MENTION,
    all_text,
    bot_replies,
    has_feedback,
    micro,
    slack_app_settings,
    wait_answer,
    wait_replies,
)
from fakes.slack import FakeSlack, Message
from kernel.models import Question
from tests.faults.apps import ANSWER, CHANNEL, LEAVE_KO, settle, start_app

ANSWER_KO = "직원은 매년 유급 연차를 20일 받습니다 [1]. 쓰지 않은 날은 5일까지 이월됩니다 [1]."
LONG = "Employees get 20 days of paid annual leave per calendar year [1]. " * 8


async def test_a_429_storm_on_chat_start_stream_posts_every_answer_and_stops_calling_it(
    app: Running, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.responder("nova-pro", lambda _: Reply(text=ANSWER))
    slack.ratelimit("chat.startStream", times=100, retry_after=30)

    # One after another: calls already in flight when the first 429 comes back cannot learn.
    asked, answers = [], []
    for _ in range(3):
        asked.append(slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}"))
        answers.append(await wait_answer(slack, CHANNEL, asked[-1], timeout=20))
    await settle(app, slack)

    for (answer,) in answers:
        assert "20 days" in answer.text and has_feedback(answer) and not answer.streamed
    # One attempt learned the 30 s pause; nothing was sent into it after that.
    assert len(slack.calls("chat.startStream")) == 1
    assert slack.ratelimited() == {"chat.startStream": 1}


async def test_retry_after_30_on_reactions_add_shows_placeholders_and_never_retries_it(
    app: Running, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.responder("nova-pro", lambda _: Reply(text=ANSWER))
    slack.ratelimit("reactions.add", times=1, retry_after=30)

    asked, answers = [], []
    for _ in range(3):
        asked.append(slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}"))
        answers.append(await wait_answer(slack, CHANNEL, asked[-1], timeout=15))
    await settle(app, slack)

    assert len(slack.calls("reactions.add")) == 1, "called reactions.add during its pause"
    for ts, (answer,) in zip(asked, answers, strict=True):
        assert has_feedback(answer) and "20 days" in answer.text
        assert len(bot_replies(slack, CHANNEL, ts)) == 1, "the placeholder was not replaced"
        # The sign of work was a message in the thread that the answer then replaced.
        assert answer.edits and answer.edits[0].text != answer.text
        assert not slack.reactions(CHANNEL, ts)
    assert slack.ratelimited() == {"reactions.add": 1}


@pytest.fixture
async def short_streams(
    settings: Settings,
    slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    aws_env: Path,
) -> AsyncIterator[Running]:
    """The app rolls a stream over after 1 s (SLACK_STREAM_MAX_SECONDS, 240 by default)."""
    app_settings = slack_app_settings(monkeypatch, slack, aws_env, SLACK_STREAM_MAX_SECONDS="1")
    running = await start_app(app_settings, slack)
    yield running
    await running.stop(10)


async def test_a_stream_nearing_its_lifetime_continues_in_a_new_message(
    short_streams: Running, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    slack.stream_lifetime_s = 2.0  # Slack's 5 minutes, shortened
    bedrock.latency("nova-pro", first_token_s=0.2, tokens_per_s=40)  # ~3 s of text
    bedrock.responder("nova-pro", lambda _: Reply(text=LONG))

    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    replies = await wait_answer(slack, CHANNEL, ts, timeout=20)

    assert len(replies) >= 2, "the stream was not rolled over"
    assert replies and all(m.streamed and not m.streaming for m in replies)
    assert "".join(m.text for m in replies).count("20 days") == 8
    assert not [c for c in slack.calls() if c.error == "message_not_in_streaming_state"]
    assert has_feedback(replies[-1])


async def test_a_stream_slack_ended_early_gets_the_rest_of_the_answer_posted(
    app: Running, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    slack.stream_lifetime_s = 1.0  # ended before the app's own rollover (240 s)
    bedrock.latency("nova-pro", first_token_s=0.2, tokens_per_s=40)
    bedrock.responder("nova-pro", lambda _: Reply(text=LONG))

    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    replies = await wait_answer(slack, CHANNEL, ts, timeout=20)

    streamed, *posted = replies
    assert streamed.streamed and not streamed.streaming and posted
    assert "".join(all_text(m) for m in replies).count("20 days") >= 8
    assert has_feedback(replies[-1])


async def test_a_failure_mid_stream_stops_the_stream_and_says_so(
    app: Running, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.latency("nova-pro", first_token_s=0.2, tokens_per_s=40)
    bedrock.responder("nova-pro", lambda _: Reply(text=LONG))
    slack.fail("chat.appendStream", error="internal_error", times=1)

    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    replies = await wait_replies(slack, CHANNEL, ts, count=2, timeout=20)
    await settle(app, slack)

    streamed, error = replies
    assert streamed.streamed and not streamed.streaming, "the stream was left open"
    assert slack.calls("chat.stopStream"), "chat.stopStream was never called"
    assert "try again" in error.text.lower() or "error" in error.text.lower()


async def test_invalid_arguments_on_a_stream_is_logged_as_a_bug_and_the_answer_posted(
    app: Running, slack: FakeSlack, bedrock: FakeBedrock, caplog: pytest.LogCaptureFixture
) -> None:
    bedrock.responder("nova-pro", lambda _: Reply(text=ANSWER))
    slack.fail("chat.startStream", error="invalid_arguments", times=1)

    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    (answer,) = await wait_answer(slack, CHANNEL, ts)

    assert "20 days" in answer.text and not answer.streamed
    bugs = [r for r in caplog.records if r.levelno == logging.ERROR and "bug" in r.getMessage()]
    assert bugs, "invalid_arguments was not reported as a bug"


async def test_a_waiting_question_shows_its_place_in_line_in_the_askers_language(
    app: Running,
    slack: FakeSlack,
    bedrock: FakeBedrock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Bedrock queue reports a wait through `bot.progress.notify_waiting` (the contract in
    bot/progress.py); here a stand-in for it reports twice before the pipeline runs."""
    bedrock.responder("nova-micro", lambda _: micro(LEAVE_EN))
    # In Korean, as promised: an English answer would be the language guard's to translate.
    bedrock.responder("nova-pro", lambda _: Reply(text=ANSWER_KO))
    pipeline = app.components.pipeline
    answer = pipeline.answer

    async def queued(question: Question) -> AnswerStream:
        await notify_waiting(3, 42.0)
        await notify_waiting(2, 30.0)  # within 10 s of the first: not shown
        return await answer(question)

    monkeypatch.setattr(pipeline, "answer", queued)
    ts = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} {LEAVE_KO}")
    (reply,) = await wait_answer(slack, CHANNEL, ts)

    waiting = message("queue_position", "ko", position=3, seconds=42)
    shown = [c for c in slack.calls() if waiting in str(c.args.get("text"))]
    assert len(shown) == 1, "the place in line was not shown exactly once"
    assert has_feedback(reply) and "20일" in reply.text
    assert len(bot_replies(slack, CHANNEL, ts)) == 1, "the place in line was left behind"


@pytest.fixture
async def starved_updates(
    request: pytest.FixtureRequest,
    slack: FakeSlack,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    aws_env: Path,
) -> AsyncIterator[Running]:
    """Budgets of one call at a time for reactions.remove and the methods the parameter
    gives (`method=N/min`), as in a burst where finished answers have spent those Tier 3
    tokens; the one token of each is taken before the test."""
    limits = {"reactions.remove": "1/min", **dict(item.split("=") for item in request.param)}
    starved = list(limits)
    app_settings = slack_app_settings(
        monkeypatch,
        slack,
        aws_env,
        SLACK_METHOD_LIMITS=",".join(f"{method}={rate}:1" for method, rate in limits.items()),
    )
    running = await start_app(app_settings, slack)
    governor = getattr(running.client, "governor", None)
    assert governor is not None
    for method in starved:
        assert governor.try_take(method), method
    yield running
    await running.stop(10)


#: What the asker is told while their question waits at place 4 of the model's queue.
WAITING = message("queue_position", "ko", position=4, seconds=50)


async def _answered_after_waiting(
    app: Running, slack: FakeSlack, bedrock: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Message]:
    """Alice asks in Korean; the question waits at place 4 for about 50 s, then is answered.
    The question's ts and the answer, once the app is idle."""
    bedrock.responder("nova-micro", lambda _: micro(LEAVE_EN))
    bedrock.responder("nova-pro", lambda _: Reply(text=ANSWER_KO))
    pipeline = app.components.pipeline
    answer = pipeline.answer

    async def queued(question: Question) -> AnswerStream:
        await notify_waiting(4, 50.0)
        return await answer(question)

    monkeypatch.setattr(pipeline, "answer", queued)
    ts = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} {LEAVE_KO}")
    (reply,) = await wait_answer(slack, CHANNEL, ts)
    await settle(app, slack)
    return ts, reply


@pytest.mark.parametrize("starved_updates", [["chat.update=1/min"]], indirect=True)
async def test_with_chat_update_spent_the_first_place_in_line_replaces_the_placeholder(
    starved_updates: Running,
    slack: FakeSlack,
    bedrock: FakeBedrock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ts, reply = await _answered_after_waiting(starved_updates, slack, bedrock, monkeypatch)
    posted = [c for c in slack.calls("chat.postMessage") if c.ok]
    notices = [c for c in posted if WAITING in str(c.args.get("text"))]
    assert len(notices) == 1, "the place in line was not posted once"
    assert not [c for c in slack.calls("chat.update") if not c.ok], "chat.update was forced"
    deleted = {str(c.args.get("ts")) for c in slack.calls("chat.delete") if c.ok}
    assert len(deleted) == 2, "the working placeholder and the notice were not both taken away"
    assert has_feedback(reply) and "20일" in reply.text
    assert len(bot_replies(slack, CHANNEL, ts)) == 1, "a placeholder was left behind"
    assert slack.ratelimited() == {}


# A token every 3 s: none for the notice, one soon after for the answer's edit.
@pytest.mark.parametrize(
    "starved_updates", [["chat.update=20/min", "chat.delete=20/min"]], indirect=True
)
async def test_with_edits_and_deletes_spent_the_place_in_line_reaches_the_asker_alone(
    starved_updates: Running,
    slack: FakeSlack,
    bedrock: FakeBedrock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No chat.update and no chat.delete token: the placeholder can be neither edited nor
    replaced, so the first notice is an ephemeral message to the asker in the thread."""
    ts, reply = await _answered_after_waiting(starved_updates, slack, bedrock, monkeypatch)
    notes = [c for c in slack.calls("chat.postEphemeral") if c.ok]
    assert [(c.args.get("user"), c.args.get("thread_ts"), c.args.get("text")) for c in notes] == [
        (ALICE, ts, WAITING)
    ]
    posted = [c for c in slack.calls("chat.postMessage") if WAITING in str(c.args.get("text"))]
    assert posted == [], "the place in line went into the thread for everyone"
    assert has_feedback(reply) and "20일" in reply.text
    assert len(bot_replies(slack, CHANNEL, ts)) == 1, "a placeholder was left behind"
    assert slack.ratelimited() == {}
