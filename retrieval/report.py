"""What an ingest run did; printed by the CLI and posted by /ingest."""

from __future__ import annotations

from dataclasses import dataclass, field

from retrieval.sources import Skipped


@dataclass
class IngestReport:
    """Documents by outcome, chunk and call counts, and the version (if one was published)."""

    source: str
    collection: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks: int = 0
    embedding_calls: int = 0
    version: str | None = None
    published: bool = False
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deleted)

    def summary(self) -> str:
        state = f"published {self.version}" if self.published else "unchanged, nothing published"
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.deleted)} deleted, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped; "
            f"{self.chunks} chunks, {self.embedding_calls} embedding calls; {state} "
            f"in {self.seconds:.1f}s"
        )

    def to_json_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "collection": self.collection,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "skipped": [{"key": s.key, "reason": s.reason} for s in self.skipped],
            "chunks": self.chunks,
            "embedding_calls": self.embedding_calls,
            "version": self.version,
            "published": self.published,
            "seconds": round(self.seconds, 3),
        }
