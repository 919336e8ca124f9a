"""`dualnova serve` as a real process, and two bots sharing one DynamoDB state table."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from bot.config import Settings
from bot.state import DynamoStateStore
from fakes.aws import MotoServer
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import (
    BOB,
    LEAVE_EN,
    MENTION,
    bot_command,
    bot_replies,
    serve_env,
    serving,
    wait_answer,
)
from fakes.slack import FakeSlack
from tests.scenario.bots import APP_TOKEN, BOT_TOKEN, CHANNEL, start_bot


def test_sigterm_lets_the_answer_in_flight_finish_then_exits_0(
    slack: FakeSlack, bedrock: FakeBedrock, sample_index: Path, tmp_path: Path
) -> None:
    bedrock.latency("nova-pro", first_token_s=0.5, tokens_per_s=40)
    bedrock.queue(
        "nova-pro", Reply(text="Employees get 20 days of paid annual leave per year [1]. " * 6)
    )
    env = serve_env(slack, bedrock, index=sample_index, workdir=tmp_path, SOCKET_PING_SECONDS="1")
    with serving(slack, env, tmp_path, connect_timeout=30) as process:
        health = bot_command("health", cwd=tmp_path, env=env)
        assert health.returncode == 0, health.stdout + health.stderr

        ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
        slack.wait_for(lambda: [m for m in bot_replies(slack, CHANNEL, ts) if m.text], timeout=20)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=40)

    assert process.returncode == 0, stderr[-2000:]
    (answer,) = bot_replies(slack, CHANNEL, ts)
    assert not answer.streaming and answer.text.count("20 days") == 6
    assert [b["type"] for b in answer.blocks or []] == ["context", "actions"]
    for secret in (BOT_TOKEN, APP_TOKEN, "testing"):
        assert secret not in stderr
    health = bot_command("health", cwd=tmp_path, env=env)
    assert health.returncode == 1


async def test_two_bots_sharing_a_state_table_answer_a_duplicated_event_once(
    slack_settings: Settings,
    slack: FakeSlack,
    bedrock: FakeBedrock,
    moto_server: MotoServer,
    state_table: str,
) -> None:
    def store() -> DynamoStateStore:
        return DynamoStateStore(table_name=state_table, client=moto_server.client("dynamodb"))

    first = await start_bot(slack_settings, slack, state=store())
    second = await start_bot(slack_settings, slack, state=store())
    try:
        ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}", to="all")
        await wait_answer(slack, CHANNEL, ts)
        for running in (first, second):
            await running.inflight.drain(10)
        deliveries = {d.connection_id for d in slack.deliveries() if d.event.get("ts") == ts}
    finally:
        for running in (first, second):
            await running.handler.close_async()

    assert len(deliveries) == 2, "both processes received the event"
    assert len(bot_replies(slack, CHANNEL, ts)) == 1
    assert len(bedrock.calls(model="nova-pro")) == 1


def test_python_dash_m_bot_serve_without_tokens_names_the_missing_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_",))}
    result = bot_command("serve", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr
