"""`deliver` on its own: the real AsyncWebClient against the Slack fake, no app around it.

Whatever path an answer takes (a stream, a post, the placeholder, a refused or broken
stream), the thread ends up with the whole text and the footer, once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.delivery import POST_MESSAGE_LIMIT, WRITING_CURSOR, Target, deliver
from fakes.slack import FakeSlack

CHANNEL, ASKER = "C1", "U1"
FOOTER = [{"type": "context", "elements": [{"type": "mrkdwn", "text": "sources"}]}]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        server.join(CHANNEL)
        yield server


@pytest.fixture
def target(fake: FakeSlack) -> Target:
    parent = fake.add_message(CHANNEL, ASKER, "<@UBOT> where is the handbook?")
    return Target(channel=CHANNEL, thread_ts=parent, user_id=ASKER, team_id=fake.team_id)


async def words(*chunks: str) -> AsyncIterator[str]:
    for chunk in chunks:
        yield chunk


class Footer:
    """The footer callback, counting its calls and when they came."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> list[dict[str, Any]]:
        self.calls += 1
        return FOOTER


def replies(fake: FakeSlack, target: Target) -> list[Any]:
    return [m for m in fake.messages(CHANNEL, target.thread_ts) if m.ts != target.thread_ts]


async def test_an_answer_streams_into_the_thread_with_the_footer_at_the_end(
    fake: FakeSlack, client: AsyncWebClient, target: Target
) -> None:
    footer = Footer()
    delivered = await deliver(
        client=client,
        target=target,
        chunks=words("The handbook ", "is in **HR**."),
        footer=footer,
    )
    [reply] = replies(fake, target)
    assert reply.streamed and not reply.streaming
    assert reply.text == "The handbook is in **HR**."  # streams take markdown as written
    assert reply.blocks == FOOTER
    assert reply.recipient_user_id == ASKER
    assert delivered.streamed and delivered.timestamps == [reply.ts]
    assert footer.calls == 1


async def test_where_streaming_is_refused_the_answer_is_posted_whole(
    fake: FakeSlack, client: AsyncWebClient, target: Target
) -> None:
    fake.refuse_streaming = True
    delivered = await deliver(
        client=client, target=target, chunks=words("The handbook ", "is in HR."), footer=Footer()
    )
    [reply] = replies(fake, target)
    assert not reply.streamed
    assert reply.text == "The handbook is in HR."
    assert not reply.text.endswith(WRITING_CURSOR)
    assert reply.blocks is not None and reply.blocks[-1] == FOOTER[0]
    assert delivered.text == "The handbook is in HR." and not delivered.streamed


async def test_an_answer_with_a_placeholder_replaces_it_instead_of_streaming(
    fake: FakeSlack, client: AsyncWebClient, target: Target
) -> None:
    placeholder = (
        await client.chat_postMessage(channel=CHANNEL, thread_ts=target.thread_ts, text="…")
    )["ts"]
    delivered = await deliver(
        client=client,
        target=target,
        chunks=words("Answer ", "text."),
        footer=Footer(),
        placeholder=lambda: placeholder,
    )
    [reply] = replies(fake, target)
    assert reply.ts == placeholder and not reply.streamed
    assert reply.text == "Answer text."
    assert delivered.timestamps == [placeholder]
    assert fake.calls("chat.startStream") == []


async def test_the_placeholder_is_asked_for_only_once_the_first_words_exist(
    fake: FakeSlack, client: AsyncWebClient, target: Target
) -> None:
    seen: list[str] = []

    async def slow_model() -> AsyncIterator[str]:
        seen.append("first words")
        yield "Hello."

    def placeholder() -> str | None:
        seen.append("placeholder")
        return None

    await deliver(
        client=client, target=target, chunks=slow_model(), footer=Footer(), placeholder=placeholder
    )
    assert seen == ["first words", "placeholder"]


async def test_a_long_answer_where_streaming_is_refused_arrives_whole_over_several_posts(
    fake: FakeSlack, client: AsyncWebClient, target: Target
) -> None:
    fake.refuse_streaming = True
    paragraph = "word " * 200 + "\n\n"
    text = paragraph * (POST_MESSAGE_LIMIT * 2 // len(paragraph) + 1)
    delivered = await deliver(client=client, target=target, chunks=words(text), footer=Footer())
    posted = replies(fake, target)
    assert len(posted) >= 3
    assert posted and all(len(m.text) <= POST_MESSAGE_LIMIT for m in posted)
    assert " ".join(m.text for m in posted).split() == text.split()  # no word lost or glued
    assert posted[-1].blocks is not None and posted[-1].blocks[-1] == FOOTER[0]
    assert posted[:-1] and all(m.blocks is None or FOOTER[0] not in m.blocks for m in posted[:-1])
    assert delivered.timestamps == [m.ts for m in posted]


async def test_a_model_failure_mid_stream_stops_the_stream_and_reaches_the_caller(
    fake: FakeSlack, client: AsyncWebClient, target: Target
) -> None:
    async def failing() -> AsyncIterator[str]:
        yield "Half an answer"
        raise RuntimeError("the model went away")

    with pytest.raises(RuntimeError, match="went away"):
        await deliver(client=client, target=target, chunks=failing(), footer=Footer())
    [reply] = replies(fake, target)
    assert reply.streamed and not reply.streaming  # not left "still writing" in Slack
    assert reply.text == "Half an answer"


async def test_a_stream_that_slack_ends_early_finishes_as_a_post(
    fake: FakeSlack, client: AsyncWebClient, target: Target
) -> None:
    fake.fail("chat.appendStream", "message_not_in_streaming_state")
    delivered = await deliver(
        client=client,
        target=target,
        chunks=words("First part. ", "Second part. ", "Third part."),
        footer=Footer(),
    )
    whole = " ".join(m.text for m in replies(fake, target))
    for part in ("First part.", "Second part.", "Third part."):
        assert part in whole
    assert replies(fake, target)[-1].blocks is not None
    assert len(delivered.timestamps) == len(replies(fake, target))


async def test_a_chunk_longer_than_one_append_streams_without_gluing_words(
    fake: FakeSlack, client: AsyncWebClient, target: Target
) -> None:
    text = "word " * 2000 + "end."
    await deliver(client=client, target=target, chunks=words(text), footer=Footer())
    [reply] = replies(fake, target)
    assert reply.streamed and len(reply.stream_parts) >= 2
    assert reply.text == text
