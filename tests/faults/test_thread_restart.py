"""A restart in the middle of a thread. With the in-memory store the thread memory is gone,
and Slack allows an app outside the Marketplace one conversations.replies call a minute, 15
messages each; with a shared DynamoDB table nothing needs reading back."""

from __future__ import annotations

from bot.config import Settings
from bot.state import DynamoStateStore, MemoryStateStore
from fakes.aws import MotoServer
from fakes.bedrock import FakeBedrock
from fakes.harness import ALICE, BOB, LEAVE_EN, MENTION, micro, wait_answer
from fakes.slack import FakeSlack
from tests.faults.apps import CHANNEL, settle, start_app


async def test_restart_mid_thread_rebuilds_the_newest_turns_within_the_replies_budget(
    app_settings: Settings, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    slack.non_marketplace = True
    # A process-memory store: what a restart forgets (a state file or table would keep it).
    first = await start_app(app_settings, slack, state=MemoryStateStore())
    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    await wait_answer(slack, CHANNEL, ts)
    for i in range(20):  # a long discussion the next follow-up does not refer to
        slack.add_message(CHANNEL, ALICE if i % 2 else BOB, f"old remark {i}", thread_ts=ts)
    await first.stop(10)

    slack.advance_ts(7 * 3600)  # the thread resumes hours later, after a deploy
    slack.add_message(CHANNEL, BOB, "recent: the part-time rule changed in March", thread_ts=ts)
    slack.add_message(CHANNEL, ALICE, "recent: does it apply to interns too", thread_ts=ts)
    other = slack.add_message(CHANNEL, ALICE, "Lunch plans?")
    slack.add_message(CHANNEL, BOB, "noon works", thread_ts=other)
    second = await start_app(app_settings, slack, state=MemoryStateStore())
    try:
        bedrock.queue("nova-micro", micro("How many days of leave do part-time staff get?"))
        slack.post_user_message(CHANNEL, BOB, f"{MENTION} so how many days now?", thread_ts=ts)
        await wait_answer(slack, CHANNEL, ts, count=2)
        # Within the same minute: another thread the memory does not know, then a follow-up
        # in the rebuilt one. Neither may call conversations.replies again.
        slack.post_user_message(CHANNEL, ALICE, f"{MENTION} {LEAVE_EN}", thread_ts=other)
        await wait_answer(slack, CHANNEL, other)
        bedrock.queue("nova-micro", micro("How many days of leave do interns get?"))
        slack.post_user_message(CHANNEL, BOB, "and for interns?", thread_ts=ts)
        await wait_answer(slack, CHANNEL, ts, count=3)
        await settle(second, slack)
    finally:
        await second.stop(10)

    (read,) = slack.calls("conversations.replies")
    assert read.ok and int(read.args["limit"]) <= 15
    assert [c for c in slack.calls() if c.status == 429] == []
    rebuilt, remembered = (c.text for c in bedrock.calls(model="nova-micro")[:2])
    assert "part-time rule changed in March" in rebuilt and "apply to interns" in rebuilt
    assert LEAVE_EN in rebuilt  # the thread's parent comes with the window
    assert "old remark" not in rebuilt
    # The next follow-up builds on the rebuilt memory plus what happened since.
    assert "part-time rule changed in March" in remembered and "so how many days now?" in remembered


async def test_with_a_shared_state_table_a_restart_keeps_the_thread_without_reading_slack(
    app_settings: Settings,
    slack: FakeSlack,
    bedrock: FakeBedrock,
    moto_server: MotoServer,
    state_table: str,
) -> None:
    slack.non_marketplace = True

    def table() -> DynamoStateStore:
        return DynamoStateStore(table_name=state_table, client=moto_server.client("dynamodb"))

    first = await start_app(app_settings, slack, state=table())
    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    await wait_answer(slack, CHANNEL, ts)
    await settle(first, slack)
    await first.stop(10)
    second = await start_app(app_settings, slack, state=table())
    try:
        bedrock.queue("nova-micro", micro("Do contractors get paid annual leave?"))
        slack.post_user_message(CHANNEL, BOB, "what about contractors?", thread_ts=ts)
        await wait_answer(slack, CHANNEL, ts, count=2)
        await settle(second, slack)
    finally:
        await second.stop(10)

    assert slack.calls("conversations.replies") == []
    (condense,) = bedrock.calls(model="nova-micro")
    assert LEAVE_EN in condense.text and "what about contractors?" in condense.text
    item = moto_server.client("dynamodb").get_item(
        TableName=state_table, Key={"pk": {"S": f"thread_memory#{CHANNEL}:{ts}"}, "sk": {"S": "_"}}
    )["Item"]
    assert "expires_at" in item  # DynamoDB's TTL sweeps quiet threads
