"""The `Retriever` seam the pipeline asks for passages: the local hybrid index
(`retrieval.retriever.HybridRetriever`) and Bedrock Knowledge Bases
(`retrieval.knowledge_base.KnowledgeBaseRetriever`) both fit it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from kernel.models import ModelCall, Passage


class Retriever(Protocol):
    async def retrieve(
        self,
        queries: Sequence[str],
        *,
        collections: frozenset[str],
        top_k: int,
        on_call: Callable[[ModelCall], None] | None = None,
    ) -> list[Passage]:
        """The best passages for `queries`; `on_call` gets the usage of any model call made."""
        ...
