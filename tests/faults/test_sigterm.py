"""SIGTERM with 10 answers in flight: `dualnova serve` (a real process) finishes all ten,
then exits 0."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import BOB, LEAVE_EN, MENTION, bot_replies, has_feedback, serve_env, serving
from fakes.slack import FakeSlack
from tests.faults.apps import CHANNEL

LONG = "Employees get 20 days of paid annual leave per calendar year [1]. " * 6


def test_sigterm_with_10_answers_in_flight_completes_all_10_then_exits_0(
    slack: FakeSlack, bedrock: FakeBedrock, sample_index: Path, tmp_path: Path
) -> None:
    bedrock.latency("nova-pro", first_token_s=0.3, tokens_per_s=40)  # ~2.5 s per answer
    bedrock.responder("nova-pro", lambda _: Reply(text=LONG))
    env = serve_env(
        slack,
        bedrock,
        index=sample_index,
        workdir=tmp_path,
        SOCKET_PING_SECONDS="1",
        SHUTDOWN_GRACE_SECONDS="30",
    )
    with serving(slack, env, tmp_path, connect_timeout=60) as process:
        asked = [slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}") for _ in range(10)]
        # All ten reach Pro (Slack's Tier 2 lets five stream; the others are posted).
        slack.wait_for(lambda: len(bedrock.calls(model="nova-pro")) >= 10, timeout=20)
        assert not any(
            m for ts in asked for m in bot_replies(slack, CHANNEL, ts) if has_feedback(m)
        )
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=45)

    assert process.returncode == 0, stderr[-3000:]
    for ts in asked:
        (answer,) = bot_replies(slack, CHANNEL, ts)
        assert not answer.streaming and has_feedback(answer)
        assert answer.text.count("20 days") == 6, "an answer was cut short by the shutdown"
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    shutdown = next(r for r in records if r["message"].startswith("shutting down"))
    stopped = next(r for r in records if r["message"] == "stopped")
    assert shutdown["in_flight"] == 10 and stopped["drained"] is True
