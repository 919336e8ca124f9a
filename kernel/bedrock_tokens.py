"""Input tokens of Bedrock InvokeModel calls (embeddings), which LlamaIndex drops.

LlamaIndex's Bedrock embedding returns only the vector and throws away Titan's
`inputTextTokenCount`. `count_invoke_tokens` is a botocore hook registered on the shared
bedrock-runtime client (`bot.bedrock.runtime_client`); it reads the count on the way past
and hands it to whoever opened `invoke_tokens()` in the calling context.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from botocore.response import StreamingBody

#: Input tokens of the InvokeModel calls made while `invoke_tokens()` is open in this context
#: (contexts follow `asyncio.to_thread` into the worker thread).
_INVOKE_TOKENS: ContextVar[list[int] | None] = ContextVar("dualnova_invoke_tokens", default=None)


@contextlib.contextmanager
def invoke_tokens() -> Iterator[list[int]]:
    """Collect the input tokens Bedrock reports for InvokeModel calls made inside the block.

    LlamaIndex's Bedrock embedding returns only the vector and drops Titan's
    `inputTextTokenCount`; `count_invoke_tokens` reads it on the way past.
    """
    sink: list[int] = []
    token = _INVOKE_TOKENS.set(sink)
    try:
        yield sink
    finally:
        _INVOKE_TOKENS.reset(token)


def count_invoke_tokens(http_response: Any = None, parsed: Any = None, **_: Any) -> None:
    """The after-call hook for InvokeModel: header first, else Titan's reply body."""
    sink = _INVOKE_TOKENS.get()
    if sink is None or not isinstance(parsed, dict):
        return
    header = (getattr(http_response, "headers", None) or {}).get("x-amzn-bedrock-input-token-count")
    if header is not None and str(header).isdigit():
        sink.append(int(header))
        return
    body = parsed.get("body")
    if not isinstance(body, StreamingBody):
        return
    data = body.read()
    parsed["body"] = StreamingBody(io.BytesIO(data), len(data))  # the caller reads it as usual
    with contextlib.suppress(ValueError, AttributeError):
        count = json.loads(data).get("inputTextTokenCount")  # Titan text embeddings
        if isinstance(count, int):
            sink.append(count)
