"""The cached system prefix every Bedrock chat call shares the shape of.

Instructions, then the glossary, then a Bedrock cache point: nothing per question goes in
here, so the prefix is byte-identical across calls and the cache can hit.
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


def system_message(instructions: str, glossary: Glossary | None = None) -> ChatMessage:
    blocks: list[TextBlock | CachePoint] = [TextBlock(text=instructions)]
    if glossary:
        blocks.append(TextBlock(text=glossary.prompt_text()))
    blocks.append(CachePoint(cache_control=CacheControl(type="default")))
    return ChatMessage(role=MessageRole.SYSTEM, blocks=blocks)  # type: ignore[arg-type]
