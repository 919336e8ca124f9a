"""`bot.bedrock.stream_chat`: LlamaIndex's ConverseStream read in a worker thread, with the
deltas batched before they wake the event loop — against the Bedrock fake, on the wire."""

from __future__ import annotations

import asyncio
import gc

import pytest
from botocore.exceptions import ResponseStreamingError
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from urllib3.exceptions import ProtocolError

from bot.bedrock import StreamPiece, converse_llm, runtime_client, stream_chat
from bot.config import Settings
from fakes.bedrock import FakeBedrock, Reply

WORDS = " ".join(f"word{i}" for i in range(60))
ASK = [ChatMessage(role=MessageRole.USER, content="Say sixty words.")]


async def pieces(settings: Settings, *, coalesce_s: float) -> list[StreamPiece]:
    llm = converse_llm(
        model_id=settings.pro_model_id, client=runtime_client(settings), max_tokens=500
    )
    return [piece async for piece in stream_chat(llm, ASK, coalesce_s=coalesce_s)]


async def test_the_first_words_go_at_once_and_the_rest_in_batches(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.latency("nova-pro", tokens_per_s=600)  # 60 events over about 0.2 s
    bedrock.queue("nova-pro", Reply(text=WORDS, input_tokens=7))

    got = await pieces(settings, coalesce_s=0.05)

    assert "".join(p.text for p in got) == WORDS
    assert got[0].text.strip() == "word0", "the first delta is not held back"
    assert 2 <= len(got) < 20, f"{len(got)} hand-offs for 60 events: not batched"
    assert got[-1].usage["input_tokens"] == 7 and got[-1].usage["output_tokens"] > 0


async def test_without_a_window_every_event_is_its_own_piece(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-pro", Reply(text=WORDS))

    got = await pieces(settings, coalesce_s=0)

    assert len([p for p in got if p.text]) == 60


async def test_text_before_a_cut_arrives_before_the_error(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-pro", Reply(text=WORDS, error="cut", error_after_chars=40))
    llm = converse_llm(
        model_id=settings.pro_model_id, client=runtime_client(settings), max_tokens=500
    )
    received = ""
    # A dropped connection, as botocore reports it mid event stream (urllib3's, or botocore's
    # wrapper of it): not any crash.
    with pytest.raises((ProtocolError, ResponseStreamingError)):
        async for piece in stream_chat(llm, ASK, coalesce_s=0.5):
            received += piece.text

    assert received and WORDS.startswith(received) and len(received) <= 40


async def test_a_stream_closed_early_is_closed_on_the_wire(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    # 600 words at 40 a second: 15 s of answer if nobody hangs up.
    bedrock.latency("nova-pro", tokens_per_s=40)
    bedrock.queue("nova-pro", Reply(text=" ".join(f"word{i}" for i in range(600))))
    llm = converse_llm(
        model_id=settings.pro_model_id, client=runtime_client(settings), max_tokens=5000
    )
    gc.disable()  # the connection must be released by closing, not by a collection
    try:
        reader = stream_chat(llm, ASK, coalesce_s=0.05)
        await reader.__anext__()
        await reader.aclose()
        for _ in range(60):
            if bedrock.calls("ConverseStream")[0].finished_at is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        gc.enable()

    call = bedrock.calls("ConverseStream")[0]
    assert call.finished_at is not None, "the connection stayed open after the reader closed"
    assert call.error == "client_disconnected"
    assert call.finished_at - call.started_at < 5


async def test_the_last_piece_says_why_the_model_stopped(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-pro", Reply(text=WORDS))
    llm = converse_llm(
        model_id=settings.pro_model_id, client=runtime_client(settings), max_tokens=20
    )

    got = [piece async for piece in stream_chat(llm, ASK, coalesce_s=0)]

    assert got[-1].stop_reason == "max_tokens"
    assert got[:-1] and all(p.stop_reason is None for p in got[:-1])
