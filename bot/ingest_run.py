"""One ingest, as `dualnova ingest` and `/ingest` both run it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.language import LanguageDetector
from bot.wiring import build_source
from kernel.models import PUBLIC_COLLECTION
from retrieval.embedding import Embedder, Progress
from retrieval.handle import IndexHandle
from retrieval.store import IndexStore

if TYPE_CHECKING:
    from retrieval.report import IngestReport


@dataclass(frozen=True)
class IngestTools:
    """What an ingest writes with. `embedder` None: a BM25-only index. `index`: the served
    index, reloaded when a new version is published (None on the command line)."""

    settings: Settings
    store: IndexStore
    embedder: Embedder | None
    detector: LanguageDetector
    index: IndexHandle | None = None


def run_ingest(
    tools: IngestTools,
    source: str,
    *,
    collection: str = PUBLIC_COLLECTION,
    full: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Bring the index in line with `source` (a folder or s3:// prefix); blocking."""
    # Deferred: ingest loads the pdf/docx/html parsers (~26 MB), which `serve` only needs
    # once an admin runs /ingest.
    from retrieval.ingest import IngestOptions, ingest
    from retrieval.loading import ReadLimits

    settings, detector = tools.settings, tools.detector
    report = ingest(
        source=build_source(settings, source),
        store=tools.store,
        embedder=tools.embedder,
        detect_language=lambda text: detector.detect(text).language,
        options=IngestOptions(
            collection,
            full,
            ReadLimits(settings.ingest_read_concurrency, settings.ingest_parse_processes),
        ),
        progress=progress,
    )
    if report.published and tools.index is not None:
        tools.index.refresh()
    return report
