"""Document and query embeddings through LlamaIndex's Bedrock embedding class.

LlamaIndex's batch helpers embed Titan texts one after another; ingest needs many calls
in flight, so documents are embedded on a bounded thread pool (boto3 clients are thread
safe) with the retries of the client's botocore Config.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from llama_index.core.base.embeddings.base import BaseEmbedding

Progress = Callable[[str, int, int], None]


class Embedder(Protocol):
    model_id: str
    dimensions: int

    def embed_documents(
        self, texts: list[str], *, progress: Progress | None = None
    ) -> list[list[float]]: ...

    async def embed_query(self, text: str) -> list[float]: ...


class LlamaIndexEmbedder:
    """Adapts a LlamaIndex `BaseEmbedding` (BedrockEmbedding in production) to `Embedder`."""

    def __init__(
        self, *, embed_model: BaseEmbedding, model_id: str, dimensions: int, concurrency: int = 16
    ) -> None:
        self._embed_model = embed_model
        self.model_id = model_id
        self.dimensions = dimensions
        self._concurrency = concurrency
        self.calls = 0

    def embed_documents(
        self, texts: list[str], *, progress: Progress | None = None
    ) -> list[list[float]]:
        results: list[list[float]] = [[] for _ in texts]
        done = 0

        def one(index: int) -> None:
            results[index] = list(self._embed_model.get_text_embedding(texts[index]))

        with ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="embed") as pool:
            for _ in pool.map(one, range(len(texts))):
                done += 1
                self.calls += 1
                if progress is not None:
                    progress("embed", done, len(texts))
        return results

    async def embed_query(self, text: str) -> list[float]:
        self.calls += 1
        return list(await asyncio.to_thread(self._embed_model.get_query_embedding, text))
