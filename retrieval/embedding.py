"""Document and query embeddings through LlamaIndex's Bedrock embedding class.

Ingest embeds many chunks, so they go out on a bounded thread pool (EMBED_CONCURRENCY; boto3
clients are thread safe), batched where the model takes batches: Cohere Embed v3 embeds up
to 96 texts per call (`input_type` search_document for chunks, search_query for questions —
LlamaIndex sets both); Titan embeds one text per call.

What a failure does to an ingest run:
- Throttling: the shared client's botocore retries are few on purpose (a Slack reply must not
  hang), but a batch job can wait, so a throttled call is retried here with exponential
  backoff and jitter. Throttling that outlasts those rounds fails the run: nothing is
  published and the previous version keeps serving. Skipping instead would publish an index
  silently missing documents, which is worse than a clear "try again / lower concurrency".
- The model refusing a text (ValidationException): that document is skipped with the
  reason and the run goes on; a refused batch is retried text by text to find the culprit.
- Anything else (access denied, unknown model, 5xx after retries): fails the run.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError
from llama_index.core.base.embeddings.base import BaseEmbedding

from kernel.aws_errors import as_model_error, error_code
from kernel.bedrock_tokens import invoke_tokens
from kernel.errors import IngestError, ModelThrottled
from kernel.models import ModelCall

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

#: Cohere Embed v3 on Bedrock: at most 96 texts per InvokeModel call; vectors of 1,024.
COHERE_MAX_BATCH = 96
COHERE_V3_DIMENSIONS = 1024
_REFUSED = {"ValidationException"}


def is_batch_model(model_id: str) -> bool:
    return "cohere.embed" in model_id


def embedding_dimensions(model_id: str, configured: int) -> int:
    """Cohere v3 vectors are always 1,024 wide; Titan v2 takes EMBED_DIMENSIONS."""
    return COHERE_V3_DIMENSIONS if "cohere.embed" in model_id and "-v3" in model_id else configured


@dataclass
class DocumentEmbeddings:
    """Vectors in input order; `failures` maps an input index to why the model refused it."""

    vectors: list[list[float] | None]
    failures: dict[int, str] = field(default_factory=dict)
    calls: int = 0


class Embedder(Protocol):
    model_id: str
    dimensions: int

    @property
    def parallelism(self) -> int:
        """Texts in flight at once (concurrency x batch size): how much work to hand over."""
        ...

    def embed_documents(
        self, texts: list[str], *, progress: Progress | None = None
    ) -> DocumentEmbeddings: ...

    async def embed_query(
        self, text: str, *, on_call: Callable[[ModelCall], None] | None = None
    ) -> list[float]: ...


class _Aborted(Exception):
    """Another batch failed the run; this one was not sent."""


class _Run:
    """One embed_documents: its abort switch and the API calls it made."""

    def __init__(self) -> None:
        self.abort = threading.Event()
        self.calls = 0
        self._lock = threading.Lock()

    def count(self) -> None:
        with self._lock:
            self.calls += 1


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """How a throttled embedding call is retried: up to `retries` more rounds, each waiting
    half to all of a delay that doubles from `first_s` up to `max_s`."""

    retries: int = 6
    first_s: float = 1.0
    max_s: float = 20.0


class LlamaIndexEmbedder:
    """Adapts a LlamaIndex `BaseEmbedding` (BedrockEmbedding in production) to `Embedder`."""

    def __init__(
        self,
        *,
        embed_model: BaseEmbedding,
        model_id: str,
        dimensions: int,
        concurrency: int = 16,
        batch_size: int | None = None,
        backoff: Backoff = Backoff(),
    ) -> None:
        self._embed_model = embed_model
        self.model_id = model_id
        self.dimensions = dimensions
        self._concurrency = concurrency
        self._batch = batch_size or (COHERE_MAX_BATCH if is_batch_model(model_id) else 1)
        if self._batch > 1:
            # LlamaIndex splits a batch by this size; one of our batches is one API call.
            embed_model.embed_batch_size = self._batch
        self._throttle_retries = backoff.retries
        self._backoff_s = backoff.first_s
        self._max_backoff_s = backoff.max_s
        self._calls_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.calls = 0

    @property
    def parallelism(self) -> int:
        return self._concurrency * self._batch

    def _workers(self) -> ThreadPoolExecutor:
        # One pool for the embedder's lifetime: its size bounds the calls in flight across
        # every embed_documents running at once (ingest embeds one group while the next is
        # read), and no thread is created per group.
        with self._calls_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self._concurrency, thread_name_prefix="embed"
                )
            return self._pool

    def _call(self, texts: list[str], run: _Run) -> list[list[float]]:
        """One API call, retried with backoff while Bedrock throttles. The worker is kept while
        backing off, so throttling lowers the request rate instead of letting others in."""
        delay = self._backoff_s
        for attempt in range(self._throttle_retries + 1):
            if run.abort.is_set():
                raise _Aborted
            run.count()
            with self._calls_lock:
                self.calls += 1
            try:
                if self._batch == 1:
                    return [list(self._embed_model.get_text_embedding(texts[0]))]
                return [list(v) for v in self._embed_model.get_text_embedding_batch(texts)]
            except Exception as exc:
                if not isinstance(as_model_error(exc, model_id=self.model_id), ModelThrottled):
                    raise
                if attempt == self._throttle_retries:
                    raise
                log.info("embedding throttled, backing off", extra={"delay_s": delay})
                time.sleep(delay / 2 + random.uniform(0, delay / 2))
                delay = min(self._max_backoff_s, delay * 2)
        raise AssertionError("unreachable")

    def _embed_batch(
        self, texts: list[str], run: _Run
    ) -> tuple[list[list[float] | None], dict[int, str]]:
        try:
            return list(self._call(texts, run)), {}
        except _Aborted:
            raise
        except Exception as exc:
            if error_code(exc) not in _REFUSED and _is_service_error(exc):
                raise
            reason = _reason(exc)
        if len(texts) == 1:
            return [None], {0: reason}
        # The model refused the batch: find which texts it refuses, one by one.
        vectors: list[list[float] | None] = []
        failures: dict[int, str] = {}
        for index, text in enumerate(texts):
            single, failed = self._embed_batch([text], run)
            vectors += single
            if failed:
                failures[index] = failed[0]
        return vectors, failures

    def embed_documents(
        self, texts: list[str], *, progress: Progress | None = None
    ) -> DocumentEmbeddings:
        result = DocumentEmbeddings(vectors=[None] * len(texts))
        if not texts:
            return result
        run = _Run()
        pool = self._workers()
        futures: dict[Future[tuple[list[list[float] | None], dict[int, str]]], int] = {
            pool.submit(self._embed_batch, texts[start : start + self._batch], run): start
            for start in range(0, len(texts), self._batch)
        }
        pending = set(futures)
        done = 0
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    vectors, failures = future.result()
                    start = futures[future]
                    result.vectors[start : start + len(vectors)] = vectors
                    result.failures.update({start + i: r for i, r in failures.items()})
                    done += len(vectors)
                    if progress is not None:
                        progress("embed", done, len(texts))
        except Exception as exc:
            run.abort.set()
            for future in pending:
                future.cancel()
            wait(pending)  # the calls already sent end before the run is reported failed
            raise _run_error(exc, self.model_id) from None
        finally:
            result.calls = run.calls
        return result

    async def embed_query(
        self, text: str, *, on_call: Callable[[ModelCall], None] | None = None
    ) -> list[float]:
        """The question's vector; botocore failures arrive as ModelError (throttling as
        ModelThrottled), which the pipeline turns into a localized reply. `on_call` gets the
        call's usage (input tokens as Bedrock reported them)."""
        with self._calls_lock:
            self.calls += 1
        started = time.perf_counter()
        try:
            with invoke_tokens() as tokens:
                vector = await asyncio.to_thread(self._embed_model.get_query_embedding, text)
        except (BotoCoreError, ClientError) as exc:
            raise as_model_error(exc, model_id=self.model_id) from None
        if on_call is not None:
            on_call(
                ModelCall(
                    model=self.model_id,
                    purpose="embed",
                    input_tokens=sum(tokens),
                    latency_ms=(time.perf_counter() - started) * 1000,
                )
            )
        return list(vector)


def _is_service_error(exc: BaseException) -> bool:
    """A botocore error about the service or the caller, not about one text."""
    return isinstance(exc, ClientError | BotoCoreError)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        message = str(exc.response.get("Error", {}).get("Message", ""))[:200]
        return f"the embedding model refused it ({error_code(exc)}: {message})"
    return f"the embedding model refused it ({exc.__class__.__name__}: {str(exc)[:200]})"


def _run_error(exc: BaseException, model_id: str) -> IngestError:
    error = as_model_error(exc, model_id=model_id)
    hint = (
        "lower EMBED_CONCURRENCY or ask for a higher Bedrock quota, then run the ingest again"
        if isinstance(error, ModelThrottled)
        else "fix the cause (see `dualnova doctor`) and run the ingest again"
    )
    return IngestError(f"embedding failed: {error}; nothing was published — {hint}")
