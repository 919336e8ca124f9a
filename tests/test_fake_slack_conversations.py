"""The Slack fake's conversations: membership, group DMs, history reads under the
non-Marketplace cap, and the lifetime of a response_url — through the real slack_sdk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from fakes.harness import slack_error
from fakes.slack import FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


async def _error(call: Any) -> str:
    return str((await slack_error(call)).response["error"])


async def test_posting_needs_membership_with_slacks_error_per_conversation_type(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.add_mpim("G0MPIM")

    assert await _error(client.chat_postMessage(channel="C0PUBLIC", text="hi")) == "not_in_channel"
    for hidden in ("G0PRIVATE", "D0OTHERS", "G0MPIM"):
        assert await _error(client.chat_postMessage(channel=hidden, text="hi")) == (
            "channel_not_found"
        )
    assert await _error(client.conversations_replies(channel="C0PUBLIC", ts="1.0")) == (
        "not_in_channel"
    )
    assert await _error(
        client.chat_startStream(
            channel="C0PUBLIC", thread_ts="1.0", recipient_user_id="U1", recipient_team_id="T1"
        )
    ) == ("not_in_channel")

    fake.join("G0PRIVATE")
    await client.chat_postMessage(channel="G0PRIVATE", text="invited now")
    assert [m.text for m in fake.messages("G0PRIVATE")] == ["invited now"]


async def test_chat_write_public_posts_in_public_channels_only(fake: FakeSlack) -> None:
    fake.scopes += ",chat:write.public"
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)

    await client.chat_postMessage(channel="C0PUBLIC", text="hello")

    assert await _error(client.chat_postMessage(channel="G0PRIVATE", text="hi")) == (
        "channel_not_found"
    )
    assert await _error(client.conversations_history(channel="C0PUBLIC")) == "not_in_channel"


async def test_events_make_the_bot_a_member_but_commands_do_not(
    fake: FakeSlack, socket_client: list[SocketModeRequest]
) -> None:
    await asyncio.to_thread(fake.push_slash_command, "/ask", "q", "U1", "C0ELSEWHERE")
    await asyncio.to_thread(fake.post_user_message, "C0HERE", "U1", "<@UBOT> hi")
    fake.add_message("C0SEEDED", "U1", "history")
    await fake.wait_for_async(lambda: len(socket_client) == 3)

    assert not fake.is_member("C0ELSEWHERE")
    assert fake.is_member("C0HERE") and fake.is_member("C0SEEDED")


async def test_posting_to_a_user_id_lands_in_the_bots_dm_with_them(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    posted = await client.chat_postMessage(channel="U0ADMIN", text="ingest done")

    assert posted["channel"] == fake.dm_channel("U0ADMIN")
    assert [m.text for m in fake.messages(posted["channel"])] == ["ingest done"]


async def test_response_url_posts_in_channel_without_membership_five_times(
    fake: FakeSlack,
) -> None:
    url = fake._new_response_url("C0PUBLIC", "U1", None, "env-1")
    webhook = AsyncWebhookClient(url)

    first = await webhook.send(text="shared answer", response_type="in_channel")
    for _ in range(4):
        await webhook.send(text="more", response_type="ephemeral")
    sixth = await webhook.send(text="too many", response_type="ephemeral")

    assert first.status_code == 200
    assert [m.text for m in fake.messages("C0PUBLIC")] == ["shared answer"]
    assert (sixth.status_code, sixth.body) == (404, '{"ok": false, "error": "used_url"}')


async def test_response_url_expires(fake: FakeSlack) -> None:
    fake.response_url_ttl_s = 0.05
    webhook = AsyncWebhookClient(fake._new_response_url("C0PUBLIC", "U1", None, "env-1"))
    await asyncio.sleep(0.1)

    late = await webhook.send(text="late", response_type="in_channel")

    assert late.status_code == 404 and "expired_url" in late.body
    assert fake.messages("C0PUBLIC") == []


async def test_replies_return_the_parent_and_oldest_replies_first_with_a_cursor(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = fake.add_message("C1", "U1", "question")
    replies = [fake.add_message("C1", "U1", f"reply {i}", thread_ts=parent) for i in range(5)]

    page = await client.conversations_replies(channel="C1", ts=parent, limit=3)
    rest = await client.conversations_replies(
        channel="C1", ts=parent, limit=3, cursor=page["response_metadata"]["next_cursor"]
    )
    window = await client.conversations_replies(
        channel="C1", ts=parent, oldest=replies[2], latest=replies[4], limit=15
    )

    assert [m["text"] for m in page["messages"]] == ["question", "reply 0", "reply 1"]
    assert page["has_more"] is True
    assert [m["text"] for m in rest["messages"]] == ["reply 2", "reply 3", "reply 4"]
    # The parent always comes first; the window is exclusive at both ends by default.
    assert [m["text"] for m in window["messages"]] == ["question", "reply 3"]


async def test_non_marketplace_history_reads_are_15_messages_once_a_minute(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.non_marketplace = True
    parent = fake.add_message("C1", "U1", "question")
    for i in range(30):
        fake.add_message("C1", "U1", f"reply {i}", thread_ts=parent)

    first = await client.conversations_replies(channel="C1", ts=parent, limit=100)
    with pytest.raises(SlackApiError) as limited:
        await client.conversations_replies(channel="C1", ts=parent, limit=10)

    assert len(first["messages"]) == 15 and first["has_more"] is True
    assert limited.value.response.status_code == 429
    assert int(limited.value.response.headers["Retry-After"]) > 50


async def test_group_dm_messages_arrive_as_mpim_only_when_subscribed(
    fake: FakeSlack, socket_client: list[SocketModeRequest]
) -> None:
    fake.add_mpim("G0MPIM")
    await asyncio.to_thread(fake.post_user_message, "G0MPIM", "U1", "no subscription yet")
    fake.subscriptions.add("message.mpim")
    await asyncio.to_thread(fake.post_user_message, "G0MPIM", "U1", "<@UBOT> hi")
    await fake.wait_for_async(lambda: len(socket_client) == 2)

    events = sorted(
        (r.payload["event"]["type"], r.payload["event"].get("channel_type")) for r in socket_client
    )
    assert events == [("app_mention", None), ("message", "mpim")]
    assert fake.conversation_type("G0PRIVATE") == "group"


@pytest.fixture
async def socket_client(fake: FakeSlack) -> AsyncIterator[list[SocketModeRequest]]:
    """A real SocketModeClient that acks everything; the requests it received."""
    received: list[SocketModeRequest] = []
    web = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    socket = SocketModeClient(app_token=fake.app_token, web_client=web, ping_interval=0.1)

    async def ack(client: SocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        await client.send_socket_mode_response(SocketModeResponse(request.envelope_id))

    socket.socket_mode_request_listeners.append(ack)  # type: ignore[arg-type]
    await socket.connect()
    await fake.wait_connected_async()
    yield received
    await socket.close()
