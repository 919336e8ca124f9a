"""`retrieval`: hybrid query latency on a local index of 10k and 100k chunks.

The index is synthetic but shaped like the real one: chunks of 40-90 words drawn (Zipf) from
the sample handbook's own vocabulary in English, Korean and Japanese plus rarer made-up
terms, 512-dimension unit vectors, a few private collections. Each query is the real path,
`HybridRetriever.retrieve([standalone question, original question])` — BM25 for both texts,
the vector matrix for one, fused — with the query embedding excluded (a stub returns a
precomputed vector at once).

    python -m bench.retrieval [--sizes 10000,100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import time

import numpy as np

from bench.common import DOCS, Result, ms, proc_status, run, summary
from bench.questions import workload

TARGET_P95_S = 0.030
DIMENSIONS = 512


class StubEmbedder:
    """The query embedding is not what this benchmark measures: hand back a vector at once."""

    model_id = "stub"
    dimensions = DIMENSIONS

    def __init__(self, vector: list[float]) -> None:
        self._vector = vector

    def embed_documents(self, texts: list[str], *, progress: object = None) -> list[list[float]]:
        raise NotImplementedError

    async def embed_query(self, text: str, *, on_call: object = None) -> list[float]:
        return self._vector


def _vocabulary() -> list[str]:
    from retrieval.tokenize import _WORD

    words: list[str] = []
    for path in sorted(DOCS.rglob("*")):
        if path.suffix in (".md", ".txt", ".html", ".csv", ".json"):
            words += _WORD.findall(path.read_text("utf-8", errors="ignore"))
    rng = random.Random(7)
    words += [f"term{rng.randrange(10**6)}" for _ in range(30_000)]  # the long tail
    return list(dict.fromkeys(words))


def synthetic_index(size: int, *, seed: int = 1) -> object:
    from llama_index.core.schema import TextNode

    from retrieval.index import KnowledgeIndex

    rng = np.random.default_rng(seed)
    vocab = _vocabulary()
    ranks = np.minimum(rng.zipf(1.2, size=size * 90), len(vocab)) - 1
    lengths = rng.integers(40, 90, size=size)
    nodes = []
    pos = 0
    languages = ("en", "ko", "ja")
    for i in range(size):
        words = [vocab[r] for r in ranks[pos : pos + lengths[i]]]
        pos += lengths[i]
        collection = "public" if i % 20 else ("hr", "finance")[i % 40 // 20]
        nodes.append(
            TextNode(
                id_=f"chunk-{i:06d}",
                text=" ".join(words),
                metadata={
                    "title": f"Document {i // 12}",
                    "source": f"docs/doc-{i // 12}.md",
                    "language": languages[i % 3],
                    "collection": collection,
                },
            )
        )
    vectors = rng.standard_normal((size, DIMENSIONS), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return KnowledgeIndex(version="bench", nodes=nodes, vectors=vectors, manifest={})


async def _measure(index: object, queries: list[tuple[str, str]], rounds: int) -> list[float]:
    from retrieval.retriever import HybridRetriever

    rng = np.random.default_rng(3)
    vector = rng.standard_normal(DIMENSIONS).astype(np.float32)
    retriever = HybridRetriever(
        index=lambda: index,  # type: ignore[arg-type,return-value]
        embedder=StubEmbedder([float(x) for x in vector]),
        min_vector_score=0.0,
        min_bm25_score=0.5,
    )
    scopes = (frozenset({"public"}), frozenset({"public", "hr"}))
    for english, original in queries[:10]:  # warm-up
        await retriever.retrieve([english, original], collections=scopes[0], top_k=5)
    latencies = []
    for round_ in range(rounds):
        for i, (english, original) in enumerate(queries):
            started = time.perf_counter()
            await retriever.retrieve(
                [english, original], collections=scopes[(i + round_) % 2], top_k=5
            )
            latencies.append(time.perf_counter() - started)
    return latencies


def main() -> Result:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per size")
    args = parser.parse_args()
    queries = [(q.english, q.text) for q in workload()]
    rounds = max(1, args.queries // len(queries))
    result = Result("retrieval")
    result.notes.append(
        "query embedding excluded (stub embedder); 2 texts through BM25 + 1 vector, RRF-fused, "
        f"top_k=5; {os.cpu_count()} cores"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        gc.collect()
        before = proc_status(os.getpid())["VmRSS"]
        started = time.perf_counter()
        index = synthetic_index(size)
        built = time.perf_counter() - started
        after = proc_status(os.getpid())["VmRSS"]
        latencies = asyncio.run(_measure(index, queries, rounds))
        stats = summary(latencies)
        label = f"{size // 1000}k chunks"
        gate = size >= 100_000
        result.add(f"{label}: query median", ms(stats["median"]))
        result.add(
            f"{label}: query p95",
            ms(stats["p95"]),
            "<= 30 ms" if gate else "",
            stats["p95"] <= TARGET_P95_S if gate else None,
        )
        result.add(f"{label}: query p99", ms(stats["p99"]))
        result.add(f"{label}: build (load) time", f"{built:.1f} s")
        result.add(f"{label}: index memory", f"{(after - before) / 1024:.0f} MB")
        result.data[str(size)] = {
            "latency_s": stats,
            "build_s": built,
            "rss_delta_mb": (after - before) / 1024,
        }
        del index
    return result


if __name__ == "__main__":
    raise SystemExit(run(main))
