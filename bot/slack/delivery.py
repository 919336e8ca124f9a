"""Delivering an answer into a thread: stream it, or post and edit where streaming is refused.

Streaming uses slack_sdk's `chat_stream` (chat.startStream / appendStream / stopStream);
the first text is flushed at once and the rest at least once a second, so the reader sees
words early without one API call per token. Where Slack refuses streaming, the same text is
posted with chat.postMessage and edited with chat.update at most about once a second.
Long answers continue in a new message before Slack's limits, never rejected.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.render import SafeStream, section_blocks, split_text, to_mrkdwn

log = logging.getLogger(__name__)

STREAM_BUFFER = 400
STREAM_MESSAGE_LIMIT = 11_000  # markdown_text limit is 12,000; keep a margin per message
POST_MESSAGE_LIMIT = 3_500  # comfortable reading size per fallback message
UPDATE_INTERVAL_S = 1.0
MAX_BLOCKS = 50
#: Errors that mean "this conversation cannot stream"; anything else is a real failure.
STREAMING_REFUSED = {
    "channel_type_not_supported",
    "not_allowed",
    "not_supported",
    "feature_not_enabled",
    "invalid_arguments",
    "method_not_supported_for_channel_type",
    "unknown_method",
}


@dataclass
class Target:
    """Where the answer goes: a thread, and whom it is for (streaming in channels needs both)."""

    channel: str
    thread_ts: str
    user_id: str | None
    team_id: str | None


@dataclass
class Delivered:
    """What reached Slack: the messages' ts and the whole text as posted."""

    timestamps: list[str] = field(default_factory=list)
    text: str = ""
    streamed: bool = False


async def deliver(
    *,
    client: AsyncWebClient,
    target: Target,
    chunks: AsyncIterator[str],
    footer: Callable[[], list[dict[str, Any]]],
) -> Delivered:
    """Send `chunks` (raw model text) safely into the thread, then the footer blocks.

    `footer` is called once the text has ended (the sources depend on what was cited).
    """
    safe = SafeStream()
    delivered = Delivered()
    stream = _Streamer(client, target, delivered)
    try:
        async for chunk in chunks:
            await stream.add(safe.feed(chunk))
        await stream.finish(safe.flush(), footer())
        return delivered
    except _StreamingRefused as refused:
        log.info(
            "streaming refused; falling back to post + update", extra={"reason": refused.error}
        )
        leftover = refused.unsent
    poster = _Poster(client, target, delivered)
    await poster.add(leftover)
    async for chunk in chunks:
        await poster.add(safe.feed(chunk))
    await poster.finish(safe.flush(), footer())
    return delivered


class _StreamingRefused(Exception):
    def __init__(self, error: str, unsent: str) -> None:
        super().__init__(error)
        self.error = error
        self.unsent = unsent


class _Streamer:
    def __init__(self, client: AsyncWebClient, target: Target, delivered: Delivered) -> None:
        self._client = client
        self._target = target
        self._delivered = delivered
        self._stream: Any = None
        self._in_message = 0
        self._last_flush = 0.0
        self._pending = ""  # text given to the SDK but not yet confirmed by Slack

    async def _open(self) -> None:
        self._stream = await self._client.chat_stream(
            channel=self._target.channel,
            thread_ts=self._target.thread_ts,
            recipient_user_id=self._target.user_id,
            recipient_team_id=self._target.team_id,
            buffer_size=STREAM_BUFFER,
        )
        self._in_message = 0

    async def add(self, text: str) -> None:
        if not text:
            return
        for piece in (
            split_text(text, STREAM_MESSAGE_LIMIT // 2)
            if len(text) > STREAM_MESSAGE_LIMIT // 2
            else [text]
        ):
            if self._stream is not None and self._in_message + len(piece) > STREAM_MESSAGE_LIMIT:
                await self._call(self._stream.stop)
                self._stream = None
            if self._stream is None:
                await self._open()
            self._pending += piece
            self._in_message += len(piece)
            now = time.monotonic()
            # First words at once, then at least once a second; otherwise let the SDK buffer.
            force = not self._delivered.streamed or now - self._last_flush >= UPDATE_INTERVAL_S
            extra: dict[str, Any] = {"chunks": []} if force else {}
            response = await self._call(self._stream.append, markdown_text=piece, **extra)
            if response is not None:
                self._confirm(now)

    def _confirm(self, now: float) -> None:
        self._delivered.text += self._pending
        self._pending = ""
        self._last_flush = now
        self._delivered.streamed = True
        ts = self._stream.ts if self._stream is not None else None
        if ts and ts not in self._delivered.timestamps:
            self._delivered.timestamps.append(ts)

    async def finish(self, text: str, footer: list[dict[str, Any]]) -> None:
        if text:
            await self.add(text)
        if self._stream is None:
            await self._open()
        await self._call(self._stream.stop, blocks=footer or None)
        self._confirm(time.monotonic())

    async def _call(self, method: Any, **kwargs: Any) -> Any:
        try:
            return await method(**kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error in STREAMING_REFUSED and not self._delivered.timestamps:
                raise _StreamingRefused(error, self._pending) from exc
            raise


class _Poster:
    """The fallback: chat.postMessage, then chat.update at most about once a second."""

    def __init__(self, client: AsyncWebClient, target: Target, delivered: Delivered) -> None:
        self._client = client
        self._target = target
        self._delivered = delivered
        self._ts: str | None = None
        self._text = ""
        self._shown = ""
        self._last_update = 0.0

    async def add(self, text: str) -> None:
        if not text:
            return
        self._text += text
        while len(self._text) > POST_MESSAGE_LIMIT:
            head, rest = _split_once(self._text, POST_MESSAGE_LIMIT)
            self._text = head
            await self._show(final=True, blocks=None)
            self._ts, self._text, self._shown = None, rest, ""
        if time.monotonic() - self._last_update >= UPDATE_INTERVAL_S:
            await self._show(final=False, blocks=None)

    async def finish(self, text: str, footer: list[dict[str, Any]]) -> None:
        self._text += text
        await self.add("")
        await self._show(final=True, blocks=footer)

    async def _show(self, *, final: bool, blocks: list[dict[str, Any]] | None) -> None:
        body = to_mrkdwn(self._text) or "…"
        if body == self._shown and not final:
            return
        kwargs: dict[str, Any] = {"text": body}
        if final and blocks:
            sections = section_blocks(body)[: MAX_BLOCKS - len(blocks)]
            kwargs["blocks"] = sections + blocks
        if self._ts is None:
            response = await self._client.chat_postMessage(
                channel=self._target.channel, thread_ts=self._target.thread_ts, **kwargs
            )
            self._ts = str(response["ts"])
            self._delivered.timestamps.append(self._ts)
        else:
            await self._client.chat_update(channel=self._target.channel, ts=self._ts, **kwargs)
        if final:
            self._delivered.text += ("\n\n" if self._delivered.text else "") + body
        self._shown = body
        self._last_update = time.monotonic()


def _split_once(text: str, limit: int) -> tuple[str, str]:
    pieces = split_text(text, limit)
    return pieces[0], text[len(pieces[0]) :].lstrip()
