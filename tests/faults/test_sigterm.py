"""SIGTERM with 10 answers in flight: `dualnova serve` (a real process) finishes all ten,
then exits 0."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.fakes.bedrock import FakeBedrock, Reply
from tests.fakes.slack import FakeSlack
from tests.faults.conftest import CHANNEL
from tests.harness import BOB, LEAVE_EN, MENTION, bot_replies, has_feedback
from tests.scenario.test_serve_process import serve_env

LONG = "Employees get 20 days of paid annual leave per calendar year [1]. " * 6


def test_sigterm_with_10_answers_in_flight_completes_all_10_then_exits_0(
    slack: FakeSlack, bedrock: FakeBedrock, sample_index: Path, tmp_path: Path
) -> None:
    bedrock.latency("nova-pro", first_token_s=0.3, tokens_per_s=40)  # ~2.5 s per answer
    bedrock.responder("nova-pro", lambda _: Reply(text=LONG))
    env = serve_env(slack, bedrock, sample_index, tmp_path, SHUTDOWN_GRACE_SECONDS="30")
    before = slack.connected
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        slack.wait_connected(before + 1, timeout=60)
        asked = [slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}") for _ in range(10)]
        slack.wait_for(lambda: len(slack.calls("chat.startStream")) >= 10, timeout=20)
        assert not any(
            m for ts in asked for m in bot_replies(slack, CHANNEL, ts) if has_feedback(m)
        )
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=45)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 0, stderr[-3000:]
    for ts in asked:
        (answer,) = bot_replies(slack, CHANNEL, ts)
        assert not answer.streaming and has_feedback(answer)
        assert answer.text.count("20 days") == 6, "an answer was cut short by the shutdown"
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    shutdown = next(r for r in records if r["message"].startswith("shutting down"))
    stopped = next(r for r in records if r["message"] == "stopped")
    assert shutdown["in_flight"] == 10 and stopped["drained"] is True
