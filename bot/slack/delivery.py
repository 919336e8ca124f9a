"""Delivering an answer into a thread: stream it, or post it, within Slack's budgets.

Streaming uses slack_sdk's `chat_stream` (chat.startStream / appendStream / stopStream): the
first text is flushed at once, the rest on a cadence that stretches with the number of open
streams, so all of them together stay under chat.appendStream's budget. A stream is opened
only when chat.startStream has a token now, and rolls over to a new message before Slack's
5-minute lifetime. Otherwise (or where Slack refuses streaming, or into the placeholder the
sign of work posted) the answer is posted with chat.postMessage and edited a few times when
chat.update has tokens to spare. Whatever happens, the whole text and the footer arrive.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.governor import Governor, Priority, Skipped, priority
from bot.slack.render import SafeStream, section_blocks, split_text, to_mrkdwn

log = logging.getLogger(__name__)

#: Placeholder deletions still waiting for chat.delete's budget (a reference keeps them alive).
_BACKGROUND: set[asyncio.Task[None]] = set()

STREAM_MESSAGE_LIMIT = 11_000  # markdown_text limit is 12,000; keep a margin per message
POST_MESSAGE_LIMIT = 3_500  # comfortable reading size per fallback message
UPDATE_INTERVAL_S = 1.0
#: Progress edits of one posted message (the final edit is extra): chat.update is Tier 3,
#: shared by every answer being posted.
MAX_PROGRESS_EDITS = 3
MAX_BLOCKS = 50
#: Progress edits only use chat.update while this share of its burst is left: the rest is
#: kept for final edits and for telling waiting askers their place in line.
PROGRESS_SPARE = 0.5
#: A finished answer goes into its placeholder (one chat.update) only while this share of
#: chat.update's burst is left; otherwise it is posted below (chat.postMessage, whose budget
#: is per channel) and the placeholder deleted, leaving chat.update to place-in-line notices.
PLACEHOLDER_SPARE = 0.5
#: Ends the text of a posted answer while more is coming (the final edit drops it).
WRITING_CURSOR = " ▍"
#: Slack ends a stream about 5 minutes after chat.startStream; a new message starts before.
STREAM_ROLLOVER_S = 240.0
#: Errors Slack documents for the stream methods that mean "this conversation cannot
#: stream": post instead. `invalid_arguments` is our bug: logged as one, then posted too.
STREAMING_REFUSED = {"channel_type_not_supported", "unknown_method"}
INVALID_ARGUMENTS = "invalid_arguments"
RATELIMITED = "ratelimited"
#: The stream has ended on Slack's side (its lifetime, or stopped elsewhere).
STREAM_ENDED = "message_not_in_streaming_state"


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


def _governor(client: AsyncWebClient) -> Governor | None:
    governor = getattr(client, "governor", None)
    return governor if isinstance(governor, Governor) else None


async def deliver(
    *,
    client: AsyncWebClient,
    target: Target,
    chunks: AsyncIterator[str],
    footer: Callable[[], list[dict[str, Any]]],
    placeholder: Callable[[], str | None] | None = None,
) -> Delivered:
    """Send `chunks` (raw model text) safely into the thread, then the footer blocks.

    `footer` is called once the text has ended (the sources depend on what was cited).
    Nothing is decided before the model's first words: the question may wait for its turn
    at the model first, and meanwhile the sign of work may show its place in line. Then
    `placeholder` gives the message of ours the answer replaces, if any; without one, the
    answer streams when chat.startStream has a token now, and is posted otherwise.
    Whatever happens to a stream, the whole text and the footer arrive.
    """
    safe = SafeStream()
    delivered = Delivered()
    governor = _governor(client)
    source = aiter(chunks)
    first = await anext(source, "")
    placeholder_ts = placeholder() if placeholder is not None else None
    chunks = _after(first, source)
    if placeholder_ts is None and (governor is None or governor.available("chat.startStream")):
        stream = _Streamer(client, target, delivered, governor)
        try:
            async for chunk in chunks:
                await stream.add(safe.feed(chunk))
            await stream.finish(safe.flush(), footer())
            return delivered
        except _StreamingRefused as refused:
            log.info("streaming refused; posting instead", extra={"reason": refused.error})
            leftover = refused.unsent
        except _StreamEnded as ended:
            log.info("the stream ended early; posting the rest", extra={"reason": ended.error})
            leftover = ended.unsent
            if ended.finished:
                poster = _Poster(client, target, delivered, None)
                await poster.finish(leftover, footer())
                return delivered
        except BaseException:
            await stream.abandon()
            raise
    else:
        leftover = ""
    poster = _Poster(client, target, delivered, placeholder_ts)
    await poster.add(leftover)
    async for chunk in chunks:
        await poster.add(safe.feed(chunk))
    await poster.finish(safe.flush(), footer())
    return delivered


async def _after(first: str, rest: AsyncIterator[str]) -> AsyncIterator[str]:
    yield first
    async for chunk in rest:
        yield chunk


class _StreamingRefused(Exception):
    def __init__(self, error: str, unsent: str) -> None:
        super().__init__(error)
        self.error = error
        self.unsent = unsent


class _StreamEnded(Exception):
    """The stream cannot go on (Slack ended it, or no budget for a new one): post `unsent`
    and whatever follows. `finished`: the model's text had ended already."""

    def __init__(self, error: str, unsent: str, *, finished: bool = False) -> None:
        super().__init__(error)
        self.error = error
        self.unsent = unsent
        self.finished = finished


class _Streamer:
    """chat.startStream / appendStream / stopStream, flushed on a cadence that keeps every
    open stream of this task together under chat.appendStream's budget."""

    def __init__(
        self,
        client: AsyncWebClient,
        target: Target,
        delivered: Delivered,
        governor: Governor | None,
    ) -> None:
        self._client = client
        self._target = target
        self._delivered = delivered
        self._governor = governor
        self._stream: Any = None
        self._opened_at = 0.0
        self._in_message = 0
        self._last_flush = 0.0
        self._pending = ""  # text given to the SDK but not yet confirmed by Slack
        self._max_age = governor.stream_max_s if governor is not None else STREAM_ROLLOVER_S

    def _cadence(self) -> float:
        """Seconds between appends: at least one a second; with N streams open and a budget
        of B appends a minute, N * 60 / B, so that all of them together stay within it."""
        if self._governor is None:
            return UPDATE_INTERVAL_S
        per_minute = self._governor.per_minute("chat.appendStream") or 100.0
        return max(UPDATE_INTERVAL_S, self._governor.open_streams * 60.0 / per_minute)

    async def _open(self) -> None:
        # The SDK would flush on its own past `buffer_size`; this class decides when.
        self._stream = await self._client.chat_stream(
            channel=self._target.channel,
            thread_ts=self._target.thread_ts,
            recipient_user_id=self._target.user_id,
            recipient_team_id=self._target.team_id,
            buffer_size=STREAM_MESSAGE_LIMIT + 1,
        )
        self._opened_at = time.monotonic()
        self._in_message = 0
        if self._governor is not None:
            self._governor.open_streams += 1

    def _closed(self) -> None:
        if self._stream is not None and self._governor is not None:
            self._governor.open_streams -= 1
        self._stream = None

    async def _stop(self, **kwargs: Any) -> None:
        try:
            await self._call(self._stream.stop, **kwargs)
        finally:
            self._closed()

    async def add(self, text: str) -> None:
        if not text:
            return
        pieces = _partition(text, STREAM_MESSAGE_LIMIT // 2)
        for i, piece in enumerate(pieces):
            try:
                await self._add_piece(piece)
            except _StreamEnded as ended:  # the pieces after this one are unsent too
                rest = "".join(pieces[i + 1 :])
                raise _StreamEnded(ended.error, ended.unsent + rest) from ended
            except _StreamingRefused as refused:
                rest = "".join(pieces[i + 1 :])
                raise _StreamingRefused(refused.error, refused.unsent + rest) from refused

    async def _add_piece(self, piece: str) -> None:
        now = time.monotonic()
        if self._stream is not None and (
            self._in_message + len(self._pending) + len(piece) > STREAM_MESSAGE_LIMIT
            or now - self._opened_at > self._max_age
        ):
            await self._stop()
            self._confirm(now)
        if self._stream is None:
            if self._delivered.timestamps and not self._stream_budget():
                raise _StreamEnded("no_stream_budget", self._pending + piece)
            await self._open()
        self._pending += piece
        # First words at once, then on the cadence; the SDK buffers in between.
        if self._delivered.streamed and now - self._last_flush < self._cadence():
            await self._stream.append(markdown_text=piece)
            return
        response = await self._call(self._stream.append, markdown_text=piece, chunks=[])
        if response is not None:
            self._in_message += len(self._pending)
            self._confirm(now)

    def _stream_budget(self) -> bool:
        return self._governor is None or self._governor.available("chat.startStream")

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
        try:
            await self._stop(blocks=footer or None)
        except _StreamEnded as ended:
            raise _StreamEnded(ended.error, ended.unsent, finished=True) from ended
        self._confirm(time.monotonic())

    async def abandon(self) -> None:
        """A failure mid-answer: end the stream with what was sent, so the message does not
        stay "streaming" (Slack would show it unfinished). Never raises."""
        if self._stream is None or self._stream.ts is None:
            self._closed()
            return
        try:
            await self._stream.stop()
        except Exception as exc:  # already ended, or Slack is failing too: nothing more to do
            log.info("could not stop the stream", extra={"reason": exc.__class__.__name__})
        finally:
            self._closed()

    async def _call(self, method: Any, **kwargs: Any) -> Any:
        try:
            return await method(**kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error == INVALID_ARGUMENTS:
                log.error(
                    "bug: Slack rejected the stream call's arguments; posting instead",
                    extra={"method": getattr(method, "__name__", "")},
                )
            if error == STREAM_ENDED:
                self._closed()
                raise _StreamEnded(error, self._pending) from exc
            # Slack refused streaming here, or rate-limited the stream's start: post instead.
            if (error in STREAMING_REFUSED or error in (INVALID_ARGUMENTS, RATELIMITED)) and not (
                self._delivered.timestamps
            ):
                self._closed()
                raise _StreamingRefused(error, self._pending) from exc
            raise


class _Poster:
    """Post and edit. When chat.update has a token now: the first words at once (into our
    placeholder message, if there is one), a few progress edits while the budget has tokens
    to spare (skipped, never waited for) and a final edit with the footer. When it has none
    (a burst: chat.update is Tier 3, shared by every answer): the whole answer in one
    chat.postMessage once it is written, and the placeholder taken away."""

    def __init__(
        self,
        client: AsyncWebClient,
        target: Target,
        delivered: Delivered,
        placeholder_ts: str | None,
    ) -> None:
        self._client = client
        self._target = target
        self._delivered = delivered
        governor = _governor(client)
        self._governor = governor
        self._progressive = governor is None or governor.available("chat.update")
        self._placeholder = placeholder_ts
        self._ts = placeholder_ts if self._progressive else None
        self._text = ""
        self._shown = ""
        self._last_update = 0.0
        self._edits = 0
        if self._ts is not None:
            delivered.timestamps.append(self._ts)

    async def add(self, text: str) -> None:
        if not text:
            return
        self._text += text
        while len(self._text) > POST_MESSAGE_LIMIT:
            head, rest = _split_once(self._text, POST_MESSAGE_LIMIT)
            self._text = head
            await self._show(final=True, blocks=None)
            self._ts, self._text, self._shown, self._edits = None, rest, "", 0
        if (
            self._progressive
            and time.monotonic() - self._last_update >= UPDATE_INTERVAL_S
            and self._edits <= MAX_PROGRESS_EDITS
            and (
                self._ts is None
                or self._governor is None
                or self._governor.available("chat.update", spare=PROGRESS_SPARE)
            )
        ):
            await self._show(final=False, blocks=None)

    async def finish(self, text: str, footer: list[dict[str, Any]]) -> None:
        self._text += text
        await self.add("")
        placeholder = self._placeholder
        # A one-message answer goes into the placeholder if chat.update has a token now,
        # else below it (the placeholder is then deleted, in the background).
        if (
            placeholder is not None
            and self._ts is None
            and not self._delivered.timestamps
            and (
                self._governor is None
                or self._governor.available("chat.update", spare=PLACEHOLDER_SPARE)
            )
        ):
            self._ts = placeholder
            self._delivered.timestamps.append(placeholder)
        await self._show(final=True, blocks=footer)
        if placeholder is not None and placeholder not in self._delivered.timestamps:
            task = asyncio.create_task(self._take_away_placeholder(placeholder))
            _BACKGROUND.add(task)
            task.add_done_callback(_BACKGROUND.discard)

    async def _take_away_placeholder(self, ts: str) -> None:
        """The answer was posted below the placeholder: delete it. chat.delete serves nothing
        else, so the call waits for its turn without holding up any answer."""
        try:
            with priority(Priority.STREAM):
                await self._client.chat_delete(channel=self._target.channel, ts=ts)
        except SlackApiError as exc:
            log.info("could not delete the placeholder", extra={"error": exc.response.get("error")})

    async def _show(self, *, final: bool, blocks: list[dict[str, Any]] | None) -> None:
        body = to_mrkdwn(self._text) or "…"
        if body == self._shown and not final:
            return
        kwargs: dict[str, Any] = {"text": body if final else body + WRITING_CURSOR}
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
            # Progress edits are a courtesy: skipped when chat.update's budget is short, so
            # they never delay another answer's final edit.
            with priority(Priority.ANSWER if final else Priority.COSMETIC):
                try:
                    await self._client.chat_update(
                        channel=self._target.channel, ts=self._ts, **kwargs
                    )
                except Skipped:
                    self._last_update = time.monotonic()
                    return
            self._edits += 1
        if final:
            self._delivered.text += ("\n\n" if self._delivered.text else "") + body
        self._shown = body
        self._last_update = time.monotonic()


def _partition(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut after a paragraph, line or word boundary,
    that join back into `text` exactly: appended to one stream, or posted after a refused
    one, no two words run together."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = next(
            (
                at + len(sep)
                for sep in ("\n\n", "\n", " ")
                if (at := window.rfind(sep)) >= limit // 2
            ),
            limit,
        )
        pieces.append(rest[:cut])
        rest = rest[cut:]
    return [*pieces, rest] if rest else pieces


def _split_once(text: str, limit: int) -> tuple[str, str]:
    pieces = split_text(text, limit)
    return pieces[0], text[len(pieces[0]) :].lstrip()
