"""The system prefix every Bedrock chat call shares the shape of, and its cache point.

Instructions, then the glossary, then (when the two reach Nova's 1,000-token minimum) a
Bedrock cache point: nothing per question goes in here, so the prefix is byte-identical
across calls and the cache can hit. A shorter prefix gets no cache point: Bedrock would
accept it and cache nothing, and the request would only claim a saving it does not make.
"""

from __future__ import annotations

from llama_index.core.base.llms.types import (
    CacheControl,
    CachePoint,
    ChatMessage,
    MessageRole,
    TextBlock,
)

from bot.glossary import Glossary
from bot.tokens import CACHE_MIN_TOKENS, estimate_tokens


def prefix_texts(instructions: str, glossary: Glossary | None = None) -> list[str]:
    texts = [instructions]
    if glossary:
        texts.append(glossary.prompt_text())
    return texts


def prefix_tokens(instructions: str, glossary: Glossary | None = None) -> int:
    """Estimated tokens of the system prefix (what a cache point after it would cache)."""
    return estimate_tokens("\n".join(prefix_texts(instructions, glossary)))


def system_message(instructions: str, glossary: Glossary | None = None) -> ChatMessage:
    texts = prefix_texts(instructions, glossary)
    blocks: list[TextBlock | CachePoint] = [TextBlock(text=t) for t in texts]
    if estimate_tokens("\n".join(texts)) >= CACHE_MIN_TOKENS:
        blocks.append(CachePoint(cache_control=CacheControl(type="default")))
    return ChatMessage(role=MessageRole.SYSTEM, blocks=blocks)  # type: ignore[arg-type]
