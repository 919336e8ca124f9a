"""The Slack fake holds up against the real slack_sdk and Bolt clients.

Everything here goes over loopback HTTP / WebSocket: AsyncWebClient, the aiohttp
SocketModeClient and a minimal Bolt AsyncApp behind AsyncSocketModeHandler.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.say.async_say import AsyncSay
from slack_bolt.context.say_stream.async_say_stream import AsyncSayStream
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from fakes.harness import slack_error
from fakes.slack import FakeSlack

# Fast pings let the SDK notice a dropped socket within a fraction of a second.
PING_S = 0.1


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        for channel in ("C1", "G1"):  # the bot was invited here; other ids it is not in
            server.join(channel)
        yield server


# --------------------------------------------------------------------------- Web API


async def test_post_update_and_replies_round_trip_through_the_sdk(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = fake.add_message("C1", "U1", "<@UBOT> where is the handbook?")
    posted = await client.chat_postMessage(channel="C1", text="Looking…", thread_ts=parent)
    await client.chat_update(channel="C1", ts=posted["ts"], text="It is in Drive [1].")

    replies = await client.conversations_replies(channel="C1", ts=parent)

    assert [m["text"] for m in replies["messages"]] == [
        "<@UBOT> where is the handbook?",
        "It is in Drive [1].",
    ]
    assert replies["messages"][0]["reply_count"] == 1
    assert replies["messages"][1]["bot_id"] == "BBOT"
    (answer,) = fake.messages("C1", thread_ts=parent)[1:]
    assert (answer.thread_ts, answer.user, answer.streamed) == (parent, "UBOT", False)
    assert [e.text for e in answer.edits] == ["It is in Drive [1]."]
    read = fake.calls("conversations.replies")[0]
    assert (read.http_method, read.args) == ("GET", {"channel": "C1", "ts": parent})


async def test_chat_stream_concatenates_chunks_and_stop_adds_blocks(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = fake.add_message("C1", "U1", "question")
    stream = await client.chat_stream(
        channel="C1",
        thread_ts=parent,
        recipient_user_id="U1",
        recipient_team_id="T1",
        buffer_size=8,
    )
    for piece in ["Paris is ", "the capital ", "of France."]:
        await stream.append(markdown_text=piece)
    feedback = [{"type": "context", "elements": [{"type": "mrkdwn", "text": "[1] atlas.pdf"}]}]
    await stream.stop(blocks=feedback)

    (answer,) = fake.messages("C1", thread_ts=parent)[1:]
    assert answer.text == "Paris is the capital of France."
    assert answer.streamed and not answer.streaming
    assert answer.blocks == feedback
    assert (answer.recipient_user_id, answer.recipient_team_id) == ("U1", "T1")
    start = fake.calls("chat.startStream")[0].args
    assert start["chunks"] == [{"type": "markdown_text", "text": "Paris is "}]
    assert "markdown_text" not in start  # the helper sends text only as chunks
    assert fake.calls("chat.stopStream")[0].args["chunks"] == []  # buffer already flushed

    error = await slack_error(
        client.chat_appendStream(channel="C1", ts=answer.ts, markdown_text="!")
    )
    assert error.response["error"] == "message_not_in_streaming_state"


async def test_streaming_needs_recipients_outside_dms(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    channel_parent = fake.add_message("C1", "U1", "q")
    dm_parent = fake.add_message("D1", "U1", "q")

    error = await slack_error(client.chat_startStream(channel="C1", thread_ts=channel_parent))
    started = await client.chat_startStream(channel="D1", thread_ts=dm_parent)

    assert error.response["error"] == "invalid_arguments"
    assert started["ok"]


async def test_refused_streaming_answers_channel_type_not_supported(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.refuse_streaming = {"C1"}
    parent = fake.add_message("C1", "U1", "q")

    error = await slack_error(
        client.chat_startStream(
            channel="C1", thread_ts=parent, recipient_user_id="U1", recipient_team_id="T1"
        )
    )

    assert error.response["error"] == "channel_type_not_supported"
    assert fake.messages("C1") == fake.messages("C1", thread_ts=parent)  # nothing posted


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "C1", "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": "C1"}, "no_text"),
        ({"channel": "", "text": "hi"}, "channel_not_found"),
        ({"channel": "C1", "text": "hi", "thread_ts": "1.2"}, "thread_not_found"),
        ({"channel": "C1", "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        (
            {
                "channel": "C1",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
            },
            "invalid_blocks",
        ),
        (
            {
                "channel": "C1",
                "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
            },
            "invalid_blocks",
        ),
    ],
)
async def test_post_message_enforces_slack_limits(
    fake: FakeSlack, client: AsyncWebClient, kwargs: dict[str, Any], error: str
) -> None:
    raised = await slack_error(client.chat_postMessage(**kwargs))

    assert raised.response["error"] == error
    assert fake.messages("C1") == []


async def test_invalid_blocks_reply_points_at_the_offending_field(client: AsyncWebClient) -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}

    raised = await slack_error(client.chat_postMessage(channel="C1", text="t", blocks=[section]))

    assert raised.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]


async def test_stream_text_over_12000_chars_is_msg_too_long(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = fake.add_message("D1", "U1", "q")
    started = await client.chat_startStream(channel="D1", thread_ts=parent, markdown_text="a")

    too_long = [{"type": "markdown_text", "text": "x" * 12_001}]
    raised = await slack_error(
        client.chat_appendStream(channel="D1", ts=started["ts"], chunks=too_long)
    )
    unknown = await slack_error(client.chat_appendStream(channel="D1", ts="1.0", markdown_text="b"))

    assert raised.response["error"] == "msg_too_long"
    assert unknown.response["error"] == "message_not_found"
    assert fake.message("D1", started["ts"]).text == "a"


async def test_ratelimit_sends_429_with_retry_after_and_the_retry_handler_recovers(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.ratelimit("chat.postMessage", times=1, retry_after=1)
    raised = await slack_error(client.chat_postMessage(channel="C1", text="first"))
    assert raised.response.status_code == 429
    assert raised.response.headers["Retry-After"] == "1"
    assert raised.response["error"] == "ratelimited"

    fake.ratelimit("chat.postMessage", times=1, retry_after=1)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    posted = await client.chat_postMessage(channel="C1", text="second")

    assert posted["ok"]
    limited, retried = fake.calls("chat.postMessage")[1:]
    assert limited.status == 429 and retried.ok
    assert retried.at - limited.at >= 1.0  # the handler honoured Retry-After
    assert [m.text for m in fake.messages("C1")] == ["second"]


async def test_sliding_window_rate_limit_and_injected_failures(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.set_rate_limit("chat.update", calls=1, per_s=60)
    fake.fail("reactions.add", error="internal_error")
    ts = (await client.chat_postMessage(channel="C1", text="a"))["ts"]

    await client.chat_update(channel="C1", ts=ts, text="b")
    limited = await slack_error(client.chat_update(channel="C1", ts=ts, text="c"))
    failed = await slack_error(client.reactions_add(channel="C1", timestamp=ts, name="eyes"))
    await client.reactions_add(channel="C1", timestamp=ts, name="eyes")  # the fault was used up

    assert limited.response.status_code == 429
    assert int(limited.response.headers["Retry-After"]) > 50
    assert failed.response["error"] == "internal_error"
    assert fake.message("C1", ts).text == "b"


async def test_tokens_are_checked_per_method(fake: FakeSlack) -> None:
    anonymous = AsyncWebClient(base_url=fake.api_url)
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
    app_level = AsyncWebClient(token=fake.app_token, base_url=fake.api_url)

    assert (await slack_error(anonymous.auth_test())).response["error"] == "not_authed"
    assert (await slack_error(wrong.auth_test())).response["error"] == "invalid_auth"
    assert (await slack_error(app_level.auth_test())).response["error"] == "not_allowed_token_type"
    opened = await app_level.apps_connections_open(app_token=fake.app_token)
    assert opened["url"].startswith(f"ws://127.0.0.1:{fake.port}/link?ticket=")
    unknown = await slack_error(app_level.api_call("chat.teleport"))
    assert unknown.response["error"] == "unknown_method"


async def test_reactions_users_info_and_ephemerals(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_user("U1", locale="ja-JP")
    ts = fake.add_message("C1", "U1", "質問です")

    await client.reactions_add(channel="C1", timestamp=ts, name="eyes")
    again = await slack_error(client.reactions_add(channel="C1", timestamp=ts, name="eyes"))
    await client.reactions_remove(channel="C1", timestamp=ts, name="eyes")
    gone = await slack_error(client.reactions_remove(channel="C1", timestamp=ts, name="eyes"))
    await client.reactions_add(channel="C1", timestamp=ts, name="white_check_mark")
    plain = await client.users_info(user="U1")
    with_locale = await client.users_info(user="U1", include_locale=True)
    await client.chat_postEphemeral(channel="C1", user="U1", text="Only you can see this")
    stranger = await slack_error(client.chat_postEphemeral(channel="C1", user="U2", text="psst"))
    fake.add_person("C1", "U2")
    await client.chat_postEphemeral(channel="C1", user="U2", text="Now you are here")

    assert stranger.response["error"] == "user_not_in_channel"
    assert [e.text for e in fake.ephemerals("C1", user="U2")] == ["Now you are here"]
    assert again.response["error"] == "already_reacted"
    assert gone.response["error"] == "no_reaction"
    assert fake.reactions("C1", ts) == {"white_check_mark"}
    assert "locale" not in plain["user"]
    assert with_locale["user"]["locale"] == "ja-JP"
    assert [e.text for e in fake.ephemerals("C1", user="U1")] == ["Only you can see this"]
    assert fake.messages("C1")[-1].ts == ts  # ephemerals are not channel messages
    # AsyncWebClient sends `params=` methods as a POST with the arguments in the query string.
    react = fake.calls("reactions.add")[0]
    assert (react.http_method, react.content_type) == ("POST", "")
    assert react.args == {"channel": "C1", "timestamp": ts, "name": "eyes"}


def test_sync_web_client_form_bodies_are_decoded(fake: FakeSlack) -> None:
    client = WebClient(token=fake.bot_token, base_url=fake.api_url)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]

    client.api_call("chat.postMessage", data={"channel": "C1", "blocks": json.dumps(blocks)})

    (call,) = fake.calls("chat.postMessage")
    assert call.content_type == "application/x-www-form-urlencoded"
    assert fake.messages("C1")[0].blocks == blocks


async def test_assistant_status_is_cleared_by_the_reply(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = fake.add_message("D1", "U1", "q")
    await client.assistant_threads_setStatus(
        channel_id="D1", thread_ts=parent, status="is reading…"
    )
    assert fake.assistant_thread("D1", parent).status == "is reading…"

    await client.chat_postMessage(channel="D1", thread_ts=parent, text="answer")

    thread = fake.assistant_thread("D1", parent)
    assert (thread.status, thread.status_history) == ("", ["is reading…"])


# --------------------------------------------------------------------------- Socket Mode


@dataclass
class Connected:
    """A real aiohttp SocketModeClient that acks (unless told not to), and what it received."""

    client: SocketModeClient
    received: list[SocketModeRequest] = field(default_factory=list)


async def _connect(
    fake: FakeSlack, should_ack: Callable[[SocketModeRequest], bool] = lambda _: True
) -> Connected:
    web = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    connected = Connected(
        SocketModeClient(app_token=fake.app_token, web_client=web, ping_interval=PING_S)
    )

    async def ack(client: SocketModeClient, request: SocketModeRequest) -> None:
        connected.received.append(request)
        if should_ack(request):
            await client.send_socket_mode_response(SocketModeResponse(request.envelope_id))

    connected.client.socket_mode_request_listeners.append(ack)  # type: ignore[arg-type]
    await connected.client.connect()
    return connected


@pytest.fixture
async def socket_client(fake: FakeSlack) -> AsyncIterator[Connected]:
    connected = await _connect(fake)
    await fake.wait_connected_async()
    yield connected
    await connected.client.close()


async def test_socket_mode_client_receives_envelope_and_acks(
    fake: FakeSlack, socket_client: Connected
) -> None:
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": "<@UBOT> hi",
        "ts": "1.1",
        "channel": "C1",
    }

    envelope_id = fake.push_event(event, event_id="Ev1")
    ack = await fake.wait_for_ack_async(envelope_id)

    (request,) = socket_client.received
    assert request.type == "events_api" and request.retry_attempt == 0
    assert request.payload["event_id"] == "Ev1"
    assert request.payload["event"] == {**event, "event_ts": "1.1"}
    assert request.payload["authorizations"][0]["user_id"] == "UBOT"
    assert ack.latency_s is not None and ack.latency_s < 1.0
    assert fake.connections_opened == 1


@pytest.mark.parametrize("graceful", [False, True])
async def test_dropped_socket_reconnects_through_apps_connections_open(
    fake: FakeSlack, socket_client: Connected, graceful: bool
) -> None:
    fake.drop_socket(graceful=graceful)
    await fake.wait_for_async(lambda: fake.connections_opened == 2 and fake.connected, 3.0)

    envelope_id = fake.push_event({"type": "app_mention", "text": "again", "ts": "2.2"})

    assert await fake.wait_for_ack_async(envelope_id)
    assert fake.sockets_accepted == 2


async def test_redelivery_keeps_event_id_and_sets_retry_fields(
    fake: FakeSlack, socket_client: Connected
) -> None:
    first = fake.push_event({"type": "message", "text": "q", "ts": "3.3"})
    retry = fake.redeliver(first, retry_attempt=1, retry_reason="timeout")
    await fake.wait_for_ack_async(retry)

    original, redelivered = socket_client.received
    assert redelivered.payload["event_id"] == original.payload["event_id"]
    assert (redelivered.retry_attempt, redelivered.retry_reason) == (1, "timeout")
    assert redelivered.envelope_id != original.envelope_id


async def test_unacked_event_is_redelivered_like_slack_does(fake: FakeSlack) -> None:
    fake.auto_redeliver, fake.ack_timeout_s = True, 0.1
    app = await _connect(fake, should_ack=lambda request: bool(request.retry_attempt))
    await fake.wait_connected_async()

    first = fake.push_event({"type": "message", "text": "q", "ts": "5.5"})
    await fake.wait_for_async(lambda: fake.acks)
    await app.client.close()

    assert first not in fake.acks
    assert [(r.retry_attempt, r.retry_reason) for r in app.received] == [(0, ""), (1, "timeout")]
    assert len({r.payload["event_id"] for r in app.received}) == 1


async def test_user_mention_in_a_channel_arrives_as_message_and_app_mention(
    fake: FakeSlack, socket_client: Connected
) -> None:
    ts = fake.post_user_message("C1", "U1", "<@UBOT> hello")
    await fake.wait_for_async(lambda: len(fake.ack_log) == 2)

    events = [r.payload for r in socket_client.received]
    assert sorted(p["event"]["type"] for p in events) == ["app_mention", "message"]
    assert {(p["event"]["channel"], p["event"]["ts"]) for p in events} == {("C1", ts)}
    assert len({p["event_id"] for p in events}) == 2
    message = next(p["event"] for p in events if p["event"]["type"] == "message")
    assert message["channel_type"] == "channel"

    fake.subscriptions = {"message.im"}
    fake.post_user_message("D1", "U1", "<@UBOT> in a DM")
    await fake.wait_for_async(lambda: len(fake.ack_log) == 3)
    assert socket_client.received[-1].payload["event"]["channel_type"] == "im"


async def test_two_connections_share_events_or_all_get_them(fake: FakeSlack) -> None:
    apps = [await _connect(fake), await _connect(fake)]
    await fake.wait_connected_async(2)

    one = [fake.push_event({"type": "message", "ts": f"4.{i}"}) for i in range(2)]
    everyone = fake.push_event({"type": "message", "ts": "4.9"}, to="all")
    await fake.wait_for_async(lambda: len(fake.ack_log) == 4)

    by_envelope: dict[str, set[int]] = {}
    for delivery in fake.deliveries():
        by_envelope.setdefault(delivery.envelope_id, set()).add(delivery.connection_id)
    assert by_envelope[one[0]] != by_envelope[one[1]]  # round-robin
    assert len(by_envelope[everyone]) == 2
    assert sorted(len(app.received) for app in apps) == [2, 2]
    for app in apps:
        await app.client.close()


async def test_slash_command_response_url_posts_are_recorded(
    fake: FakeSlack, socket_client: Connected
) -> None:
    envelope_id = fake.push_slash_command("/ask", "vacation policy", "U1", "C1")
    await fake.wait_for_ack_async(envelope_id)
    response_url = socket_client.received[0].payload["response_url"]

    await AsyncWebhookClient(response_url).send(text="Only you", response_type="ephemeral")
    await AsyncWebhookClient(response_url).send(text="Everyone", response_type="in_channel")

    assert [p.body["text"] for p in fake.response_posts(envelope_id)] == ["Only you", "Everyone"]
    assert [e.text for e in fake.ephemerals("C1", user="U1")] == ["Only you"]
    assert [m.text for m in fake.messages("C1")] == ["Everyone"]


async def test_blocking_waits_refuse_to_run_inside_an_event_loop(fake: FakeSlack) -> None:
    with pytest.raises(RuntimeError, match="wait_for_async"):
        fake.wait_for(lambda: True)


# --------------------------------------------------------------------------- Bolt


async def _start(fake: FakeSlack, app: AsyncApp) -> AsyncSocketModeHandler:
    handler = AsyncSocketModeHandler(app, fake.app_token, ping_interval=PING_S)
    await handler.connect_async()
    await fake.wait_connected_async()
    return handler


async def test_bolt_app_mention_listener_replies_in_thread(fake: FakeSlack) -> None:
    fake.subscriptions = {"app_mention"}
    app = AsyncApp(client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url))

    @app.event("app_mention")
    async def answer(event: dict[str, Any], say: AsyncSay) -> None:
        await say(text="Here is the policy.", thread_ts=event["ts"])

    handler = await _start(fake, app)
    assert not fake.calls("auth.test")  # Bolt authorizes lazily, on the first event
    try:
        ts = fake.post_user_message("C1", "U1", "<@UBOT> policy?")
        replies = await fake.wait_for_async(lambda: fake.messages("C1", thread_ts=ts)[1:])
    finally:
        await handler.close_async()

    assert [(m.text, m.bot_id) for m in replies] == [("Here is the policy.", "BBOT")]
    assert len(fake.calls("auth.test")) == 1
    assert fake.acks  # Bolt acked the event before running the listener


async def test_bolt_say_stream_sends_recipient_ids_from_the_event(fake: FakeSlack) -> None:
    fake.subscriptions = {"app_mention"}
    app = AsyncApp(client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url))

    @app.event("app_mention")
    async def answer(say_stream: AsyncSayStream) -> None:
        stream = await say_stream()
        await stream.append(markdown_text="Streamed answer.")
        await stream.stop()

    handler = await _start(fake, app)
    try:
        ts = fake.post_user_message("C1", "U1", "<@UBOT> stream please")
        await fake.wait_for_async(lambda: fake.calls("chat.stopStream"))
    finally:
        await handler.close_async()

    start = fake.calls("chat.startStream")[0].args
    assert (start["recipient_user_id"], start["recipient_team_id"]) == ("U1", "T1")
    assert start["thread_ts"] == ts
    # Shorter than the 256-char buffer: startStream goes out empty, stopStream carries the text.
    assert "chunks" not in start and "markdown_text" not in start
    stop = fake.calls("chat.stopStream")[0].args
    assert stop["chunks"] == [{"type": "markdown_text", "text": "Streamed answer."}]
    (answer_message,) = fake.messages("C1", thread_ts=ts)[1:]
    assert answer_message.text == "Streamed answer."


def test_fake_serves_plain_sync_code_and_reports_timing(fake: FakeSlack) -> None:
    client = WebClient(token=fake.bot_token, base_url=fake.api_url)
    before = time.monotonic()

    client.chat_postMessage(channel="G1", text="private hello")

    (call,) = fake.calls("chat.postMessage")
    assert before <= call.at <= time.monotonic()
    assert fake.wait_for(lambda: fake.messages("G1"))[0].text == "private hello"
