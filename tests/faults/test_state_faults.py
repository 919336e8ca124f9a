"""The state file's disk fills up while `serve` runs: every state write fails with a log line
naming the file, and questions are still answered (state is not on the answer's path)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import Settings
from bot.state_sqlite import SqliteStateStore
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import BOB, LEAVE_EN, MENTION, bot_replies, has_feedback, wait_answer
from fakes.slack import FakeSlack
from tests.faults.apps import ANSWER, CHANNEL, settle, start_app
from tests.test_state_sqlite import fill_the_disk


async def test_a_full_disk_fails_each_state_write_with_a_log_line_and_serve_keeps_answering(
    app_settings: Settings,
    slack: FakeSlack,
    bedrock: FakeBedrock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bedrock.responder("nova-pro", lambda _: Reply(text=ANSWER))
    path = tmp_path / "full" / "state.db"
    store = SqliteStateStore(path=path).open()
    running = await start_app(app_settings, slack, state=store)
    try:
        fill_the_disk(store)
        first = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
        (answer,) = await wait_answer(slack, CHANNEL, first)
        second = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
        await wait_answer(slack, CHANNEL, second)
        await settle(running, slack)
    finally:
        await running.stop(10)

    assert has_feedback(answer) and "20 days" in answer.text
    assert len(bot_replies(slack, CHANNEL, first)) == 1  # no error line under the answer
    failed = [r for r in caplog.records if r.getMessage() == "state write failed"]
    assert failed and all(r.levelno == logging.ERROR for r in failed)
    assert {r.path for r in failed} == {str(path)}  # type: ignore[attr-defined]
    assert {r.reason for r in failed} == {"the disk is full; free space on its volume"}  # type: ignore[attr-defined]
    operations = {r.operation for r in failed}  # type: ignore[attr-defined]
    assert {"claim", "put thread", "incr usage_day"} <= operations
    assert any(
        r.getMessage() == "dedupe kept in memory: state store failed" for r in caplog.records
    )
    assert len(bot_replies(slack, CHANNEL, second)) == 1  # the mention's twin event: not again
    assert not any(r.getMessage() == "answering failed" for r in caplog.records)
    store.close()
