"""`dualnova serve` with no STATE_TABLE keeps what people told it across a restart: the
default SQLite state file (under the working directory, as in the container's volume)."""

from __future__ import annotations

import asyncio
import csv
import io
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from bot.state_sqlite import SqliteStateStore
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import (
    ADMIN,
    BOB,
    LEAVE_EN,
    MENTION,
    all_text,
    bot_command,
    bot_replies,
    has_feedback,
    serve_env,
    serving,
)
from fakes.slack import FakeSlack
from tests.scenario.bots import CHANNEL

T = TypeVar("T")

ANSWER = "Employees get 20 days of paid annual leave per year [1]."
COMPANION = "직원은 연 20일의 유급 연차를 받습니다 [1]."
GAP_EN = "What is the population of Jupiter's moon Europa?"


def until(read: Callable[[], Awaitable[T]], timeout: float = 20) -> T:
    """Poll an async read of the state file (as a second process would) until truthy."""
    deadline = time.monotonic() + timeout
    while not (value := asyncio.run(read())):
        if time.monotonic() > deadline:
            raise TimeoutError("never recorded in the state file")
        time.sleep(0.1)
    return value


def answered(slack: FakeSlack, ts: str) -> Any:
    """The finished answer (the message with the feedback buttons) in the thread of `ts`."""

    def done() -> Any:
        finished = [m for m in bot_replies(slack, CHANNEL, ts) if not m.streaming]
        return next((m for m in finished if has_feedback(m)), None)

    return slack.wait_for(done, timeout=30)


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-2000:]
    return stderr


def test_a_restarted_serve_keeps_settings_glossary_votes_dedupe_and_gaps(
    slack: FakeSlack, bedrock: FakeBedrock, sample_index: Path, tmp_path: Path
) -> None:
    bedrock.responder("nova-pro", lambda _: Reply(text=ANSWER))
    bedrock.responder("nova-micro", lambda _: Reply(text=COMPANION))
    env = serve_env(slack, bedrock, index=sample_index, workdir=tmp_path, ADMIN_USER_IDS=ADMIN)
    assert "STATE_TABLE" not in env and "STATE_PATH" not in env and "STATE_BACKEND" not in env
    state_file = tmp_path / ".dualnova" / "state.db"  # STATE_PATH's default, under the cwd
    disk = SqliteStateStore(path=state_file)  # a second process's view of the same file

    with serving(slack, env, tmp_path, connect_timeout=30) as first:
        slack.push_slash_command("/dualnova", "settings companion ko", ADMIN, CHANNEL)
        slack.push_slash_command(
            "/glossary", "add HelpBot --dnt The support chatbot", ADMIN, CHANNEL
        )
        until(lambda: disk.get("channel_settings", CHANNEL))
        until(lambda: disk.get("glossary", "changes"))

        asked = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
        before_restart = [d.envelope_id for d in slack.deliveries() if d.event.get("ts") == asked]
        answer = answered(slack, asked)
        down = next(
            e
            for b in answer.blocks or []
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "feedback_down"
        )
        slack.push_block_action(
            "feedback_down", user=BOB, channel=CHANNEL, message_ts=answer.ts, value=down["value"]
        )
        gap = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {GAP_EN}")
        slack.wait_for(lambda: [m for m in bot_replies(slack, CHANNEL, gap) if not m.streaming])
        until(lambda: disk.list("feedback"))
        until(lambda: disk.list("gaps"))
        stop(first)
    pro_calls = len(bedrock.calls(model="nova-pro"))
    replies_before = len(bot_replies(slack, CHANNEL, asked))

    with serving(slack, env, tmp_path, connect_timeout=30) as second:
        # Slack redelivers the pre-restart event (both twins) to the new process.
        retries = [
            slack.redeliver(e, retry_attempt=1, retry_reason="timeout") for e in before_restart
        ]
        for envelope in retries:
            slack.wait_for_ack(envelope, timeout=10)
        again = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
        after = answered(slack, again)
        stderr = stop(second)

    assert len(before_restart) == 2  # the mention and its message twin
    assert len(bot_replies(slack, CHANNEL, asked)) == replies_before  # not answered twice
    assert len(bedrock.calls(model="nova-pro")) == pro_calls + 1  # only the new question
    # The companion setting: the answer after the restart carries the Korean translation.
    assert COMPANION in all_text(after)
    # The glossary term added before the restart is in Pro's prompt after it.
    assert (
        "HelpBot: DO NOT TRANSLATE" in bedrock.calls(model="nova-pro")[-1].body["system"][0]["text"]
    )
    assert "Traceback" not in stderr

    votes = bot_command("feedback", "export", cwd=tmp_path, env=env)
    assert votes.returncode == 0, votes.stderr
    (vote,) = list(csv.DictReader(io.StringIO(votes.stdout)))
    assert (vote["vote"], vote["question"], vote["channel"]) == ("down", LEAVE_EN, CHANNEL)
    gaps = bot_command("gaps", cwd=tmp_path, env=env)
    assert gaps.returncode == 0, gaps.stderr
    (row,) = list(csv.DictReader(io.StringIO(gaps.stdout)))
    assert (row["question"], row["count"], row["channels"]) == (GAP_EN, "1", CHANNEL)
