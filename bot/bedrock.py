"""Bedrock at the client boundary: one configured boto3 client, usage, streaming.

botocore failures become the error tree in `kernel.aws_errors.as_model_error`.

Retries live here (botocore's standard mode: exponential backoff with jitter on
throttling and 5xx) and LlamaIndex's own tenacity loop is turned off (`max_retries=1`),
so a throttled call fails within seconds with a typed error instead of hanging a reply.
Past that, a throttled Nova call goes back to its model's queue in `bot.flow`, paced.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.llms import LLM
from llama_index.embeddings.bedrock import BedrockEmbedding
from llama_index.llms.bedrock_converse import BedrockConverse

from bot.config import Settings
from kernel.bedrock_tokens import count_invoke_tokens


def runtime_client(settings: Settings) -> Any:
    """The bedrock-runtime client every model call shares (thread safe)."""
    from bot.aws import settings_client

    client = settings_client(settings, "bedrock-runtime")
    client.meta.events.register("after-call.bedrock-runtime.InvokeModel", count_invoke_tokens)
    client.meta.events.register("after-call.bedrock-runtime.ConverseStream", _keep_event_stream)
    return client


#: The EventStreams opened by ConverseStream calls in this context (see `stream_chat`).
_EVENT_STREAMS: ContextVar[list[WatchedStream] | None] = ContextVar(
    "dualnova_event_streams", default=None
)


class WatchedStream:
    """botocore's EventStream as LlamaIndex iterates it, noting the `messageStop` reason
    (which LlamaIndex drops) and closable from the reading side."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.stop_reason: str | None = None

    def __iter__(self) -> Iterator[Any]:
        for event in self._stream:
            if isinstance(event, dict) and "messageStop" in event:
                self.stop_reason = event["messageStop"].get("stopReason")
            yield event

    def close(self) -> None:
        self._stream.close()


def _keep_event_stream(parsed: Any = None, **_: Any) -> None:
    # LlamaIndex keeps botocore's EventStream inside its generator; closing the generator does
    # not close the stream, so the HTTP connection stays open (and Bedrock keeps generating)
    # until garbage collection. Hand the caller a watched stream the reader can close.
    sink = _EVENT_STREAMS.get()
    if sink is not None and isinstance(parsed, dict) and parsed.get("stream") is not None:
        parsed["stream"] = watched = WatchedStream(parsed["stream"])
        sink.append(watched)


def converse_llm(
    *, model_id: str, client: Any, max_tokens: int, temperature: float = 0.2
) -> BedrockConverse:
    """A LlamaIndex Converse LLM on the shared client; its own retry loop is off (see module doc)."""
    return BedrockConverse(
        model=model_id,
        client=client,
        max_tokens=max_tokens,
        temperature=temperature,
        max_retries=1,
    )


def embedding_model(settings: Settings, *, client: Any) -> BedrockEmbedding:
    return BedrockEmbedding(
        model_name=settings.embed_model_id,
        client=client,
        additional_kwargs={"dimensions": settings.embed_dimensions},
        max_retries=1,
    )


def usage_from(raw: Any) -> dict[str, int]:
    """Token counts from a Converse reply or a ConverseStream `metadata` event."""
    usage: dict[str, Any] = {}
    if isinstance(raw, dict):
        usage = raw.get("usage") or (raw.get("metadata") or {}).get("usage") or {}
    return {
        "input_tokens": int(usage.get("inputTokens", 0)),
        "output_tokens": int(usage.get("outputTokens", 0)),
        "cache_read_tokens": int(usage.get("cacheReadInputTokens", 0)),
        "cache_write_tokens": int(usage.get("cacheWriteInputTokens", 0)),
    }


#: How long the streaming thread stops reading after each hand-off to the event loop. The
#: first delta goes at once (time to first words); later ones are batched, because Slack
#: shows streamed text at most about once a second anyway, every hand-off costs the event
#: loop a wake-up plus a trip through the delivery code, and every event read as it arrives
#: costs the thread a wake-up and the GIL. The last words can arrive this much later.
COALESCE_S = 0.15
#: An event that took this long to arrive was not waiting in the buffer: the batch is
#: complete, hand it over (rather than hold what arrived for another window).
CAUGHT_UP_S = 0.002


@dataclass
class StreamPiece:
    """Text that arrived since the last piece; `usage` is set on the last one (if reported)."""

    text: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    #: Why the model stopped ("end_turn", "max_tokens", ...), on the last piece.
    stop_reason: str | None = None


async def stream_chat(
    llm: LLM, messages: Sequence[ChatMessage], *, coalesce_s: float = COALESCE_S
) -> AsyncIterator[StreamPiece]:
    """Stream a chat reply through LlamaIndex's `stream_chat`, in a worker thread.

    LlamaIndex's `astream_chat` without aioboto3 (which pins boto3 back) also reads the
    stream in a thread, but wakes the event loop once per ConverseStream event — one
    word or so. With 200 answers streaming at once that hand-off, not the model, was the
    largest CPU cost (bench/concurrency). Here the thread hands over the first delta at once,
    then pauses `coalesce_s` after each hand-off so that the next deltas arrive together;
    errors surface in the consumer as they would have from `astream_chat`. Closing the
    iterator early stops the thread at its next event or pause.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[StreamPiece | BaseException | None] = asyncio.Queue()
    stop = threading.Event()

    def put(item: StreamPiece | BaseException | None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            stop.set()

    def produce() -> None:
        pending: list[str] = []
        usage: dict[str, int] = {}
        last_sent: float | None = None
        streams: list[WatchedStream] = []
        read_to_the_end = False
        opened = _EVENT_STREAMS.set(streams)  # this worker thread's context
        try:
            responses = llm.stream_chat(messages)
            try:
                asked = time.monotonic()
                for response in responses:
                    now = time.monotonic()
                    caught_up = now - asked >= CAUGHT_UP_S  # this event was waited for
                    if stop.is_set():
                        return
                    raw = response.raw if isinstance(response.raw, dict) else {}
                    if "metadata" in raw:
                        usage = usage_from(raw)
                    if response.delta:
                        pending.append(response.delta)
                    if pending and (
                        last_sent is None or caught_up or now - last_sent >= coalesce_s
                    ):
                        put(StreamPiece("".join(pending)))
                        pending.clear()
                        # Read nothing for a while: the next events wait in the socket buffer
                        # and are then parsed back to back, instead of waking this thread
                        # (and contending for the GIL) once per word.
                        stop.wait(coalesce_s)
                        last_sent = time.monotonic()
                    asked = time.monotonic()
                read_to_the_end = True
            finally:
                close = getattr(responses, "close", None)
                if close is not None:
                    close()
            stop_reason = streams[-1].stop_reason if streams else None
            put(StreamPiece("".join(pending), usage, stop_reason))
        except BaseException as exc:  # handed to the consumer and raised there
            if pending:  # what arrived before the failure is still part of the answer
                put(StreamPiece("".join(pending)))
            put(exc)
        finally:
            if not read_to_the_end:  # abandoned or failed: drop the connection now, not at GC
                for stream in streams:
                    with contextlib.suppress(Exception):
                        stream.close()
            _EVENT_STREAMS.reset(opened)
            put(None)

    loop.run_in_executor(None, produce)
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()  # the thread lets go of the stream at its next event or pause
