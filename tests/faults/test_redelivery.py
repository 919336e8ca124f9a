"""Slack redelivers an event 1 s, 60 s and 300 s later: exactly one answer, in one process
and across two processes sharing the DynamoDB state table (simulated clock, no sleeping)."""

from __future__ import annotations

from bot.config import Settings
from bot.state import DynamoStateStore, MemoryStateStore
from fakes.aws import MotoServer
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import BOB, LEAVE_EN, MENTION, bot_replies, has_feedback, wait_replies
from fakes.slack import FakeSlack
from tests.faults.apps import ANSWER, CHANNEL, FakeClock, settle, start_app

LATER_S = (1, 60, 300)


def redeliver_later(slack: FakeSlack, clock: FakeClock, originals: list[str]) -> list[str]:
    """Slack's retries of `originals` at +1 s, +60 s and +300 s (retry_attempt 1, 2, 3)."""
    retries = []
    elapsed = 0.0
    for attempt, later in enumerate(LATER_S, 1):
        clock.advance(later - elapsed)
        elapsed = later
        retries += [
            slack.redeliver(envelope_id, retry_attempt=attempt, retry_reason="timeout", to="all")
            for envelope_id in originals
        ]
    return retries


async def test_redeliveries_1s_60s_and_300s_later_are_answered_exactly_once(
    app_settings: Settings, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.responder("nova-pro", lambda _: Reply(text=ANSWER))
    clock = FakeClock()
    running = await start_app(app_settings, slack, state=MemoryStateStore(clock=clock))
    try:
        ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")  # message + mention
        originals = [d.envelope_id for d in slack.deliveries() if d.event.get("ts") == ts]
        await wait_replies(slack, CHANNEL, ts)
        retries = redeliver_later(slack, clock, originals)
        await settle(running, slack)
    finally:
        await running.stop(10)

    assert len(originals) == 2 and len(retries) == 6
    assert set(originals + retries) <= set(slack.acks)
    (answer,) = bot_replies(slack, CHANNEL, ts)
    assert has_feedback(answer) and "20 days" in answer.text
    assert len(bedrock.calls(model="nova-pro")) == 1
    assert len(slack.calls("reactions.add")) == 1


async def test_redeliveries_across_two_processes_sharing_the_state_table_answer_once(
    app_settings: Settings,
    slack: FakeSlack,
    bedrock: FakeBedrock,
    moto_server: MotoServer,
    state_table: str,
) -> None:
    bedrock.responder("nova-pro", lambda _: Reply(text=ANSWER))
    clock = FakeClock()

    def table() -> DynamoStateStore:
        return DynamoStateStore(
            table_name=state_table, client=moto_server.client("dynamodb"), clock=clock
        )

    first = await start_app(app_settings, slack, state=table())
    second = await start_app(app_settings, slack, state=table())
    try:
        ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}", to="all")
        originals = list(
            dict.fromkeys(d.envelope_id for d in slack.deliveries() if d.event.get("ts") == ts)
        )
        await wait_replies(slack, CHANNEL, ts)
        redeliver_later(slack, clock, originals)
        for running in (first, second):
            await settle(running, slack)
        connections = {d.connection_id for d in slack.deliveries() if d.event.get("ts") == ts}
    finally:
        for running in (first, second):
            await running.stop(10)

    assert len(connections) == 2, "both processes received every delivery"
    assert len([d for d in slack.deliveries() if d.event.get("ts") == ts]) == 16
    assert len(bot_replies(slack, CHANNEL, ts)) == 1
    assert len(bedrock.calls(model="nova-pro")) == 1
