"""What an ingest run did; printed by the CLI and posted by /ingest."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from retrieval.sources import Skipped

#: Example paths shown for each cause of skipping.
EXAMPLES_PER_CAUSE = 3
# A reason is "cause: detail" or "cause (detail)"; the cause groups, the detail varies.
_DETAIL = re.compile(r"\s*(?::|\(|;).*$", re.DOTALL)


def skip_cause(reason: str) -> str:
    """The part of a skip reason that names its cause: "too large (3 MB > 2 MB)" -> "too large"."""
    return _DETAIL.sub("", reason).strip() or reason


@dataclass(frozen=True)
class SkipGroup:
    cause: str
    count: int
    examples: tuple[str, ...]


def group_skips(skipped: list[Skipped]) -> list[SkipGroup]:
    """Skips grouped by cause, largest group first, each with up to three example paths."""
    groups: dict[str, list[str]] = {}
    for item in skipped:
        groups.setdefault(skip_cause(item.reason), []).append(item.key)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [
        SkipGroup(cause, len(keys), tuple(keys[:EXAMPLES_PER_CAUSE])) for cause, keys in ordered
    ]


def skip_summary_lines(skipped: list[Skipped]) -> list[str]:
    """One line per cause: "3 skipped: unsupported file type .xls (a.xls, b.xls, c.xls)"."""
    lines = []
    for group in group_skips(skipped):
        more = ", …" if group.count > len(group.examples) else ""
        lines.append(f"{group.count} skipped: {group.cause} ({', '.join(group.examples)}{more})")
    return lines


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

    def skip_lines(self) -> list[str]:
        """The closing note of an ingest: skip reasons grouped by cause (empty if none)."""
        return skip_summary_lines(self.skipped)

    def to_json_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "collection": self.collection,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "skipped": [{"key": s.key, "reason": s.reason} for s in self.skipped],
            "skipped_by_cause": [
                {"cause": g.cause, "count": g.count, "examples": list(g.examples)}
                for g in group_skips(self.skipped)
            ],
            "chunks": self.chunks,
            "embedding_calls": self.embedding_calls,
            "version": self.version,
            "published": self.published,
            "seconds": round(self.seconds, 3),
        }
