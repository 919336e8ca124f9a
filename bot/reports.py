"""Product reports from the state store: feedback votes and the questions the documents
could not answer ("gaps"), as CSV for `dualnova feedback export` and `dualnova gaps`.

Both read the store built from settings: with STATE_TABLE, what every task recorded; without
it, the local SQLite file `serve` writes (STATE_PATH; safe to read while it runs).
"""

from __future__ import annotations

import asyncio
import csv
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.state import StateStore
from kernel.models import Answer

FEEDBACK_KIND = "feedback"
GAPS_KIND = "gaps"
GAP_TTL_S = 180 * 24 * 3600
EXPORT_LIMIT = 100_000

FEEDBACK_COLUMNS = (
    "at",
    "question_id",
    "vote",
    "language",
    "route",
    "channel",
    "user",
    "question",
    "question_language",
    "answer_language",
    "glossary_terms",
    "answer",
)
GAP_COLUMNS = ("language", "count", "question", "channels", "first_asked", "last_asked")

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_TRAILING = "?？!！.。 \t"


def parse_since(text: str | None, *, now: float | None = None) -> float | None:
    """`--since`: "7d", "24h", "30m", "2w", an ISO date or date-time (UTC unless it says
    otherwise). Raises ValueError with the accepted forms."""
    if not text:
        return None
    now = time.time() if now is None else now
    relative = _RELATIVE.match(text.strip().lower())
    if relative:
        return now - int(relative.group(1)) * _UNIT_S[relative.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected 7d, 24h, 30m, 2w, 2026-05-01 or 2026-05-01T09:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- gaps ------------------------------------------------------------------------------------


def gap_record(answer: Answer, *, channel_id: str | None) -> dict[str, Any]:
    """What a "not in the documents" answer leaves for the product report (question text
    included: this is a report for the people who own the documents, not a log line)."""
    return {
        "question_id": answer.question_id,
        "question": answer.question,
        "standalone_question": answer.route.standalone_question,
        "language": answer.question_language or answer.language,
        "channel": channel_id,
    }


@dataclass
class GapGroup:
    """The same unanswered question (case and spacing aside), asked one or more times."""

    language: str
    question: str
    count: int = 0
    channels: set[str] = field(default_factory=set)
    first_at: float = 0.0
    last_at: float = 0.0


def _normalized(question: str) -> str:
    return " ".join(question.casefold().split()).rstrip(_TRAILING)


def group_gaps(records: Iterable[dict[str, Any]]) -> list[GapGroup]:
    """Grouped by language (most gaps first), then by question (most asked first)."""
    groups: dict[tuple[str, str], GapGroup] = {}
    for record in records:
        question = str(record.get("question") or "").strip()
        if not question:
            continue
        language = str(record.get("language") or "?")
        at = float(record.get("_at") or 0.0)
        group = groups.get((language, _normalized(question)))
        if group is None:
            group = groups[(language, _normalized(question))] = GapGroup(
                language, question, first_at=at
            )
        group.count += 1
        group.first_at = min(group.first_at, at)
        group.last_at = max(group.last_at, at)
        if record.get("channel"):
            group.channels.add(str(record["channel"]))
    per_language: dict[str, int] = {}
    for group in groups.values():
        per_language[group.language] = per_language.get(group.language, 0) + group.count
    return sorted(
        groups.values(),
        key=lambda g: (-per_language[g.language], g.language, -g.count, -g.last_at, g.question),
    )


async def gaps(state: StateStore, *, since: float | None = None) -> list[GapGroup]:
    return group_gaps(await state.list(GAPS_KIND, since=since, limit=EXPORT_LIMIT))


def top_gaps(groups: Sequence[GapGroup], limit: int) -> list[GapGroup]:
    """The most asked unanswered questions, whatever their language."""
    return sorted(groups, key=lambda g: (-g.count, -g.last_at))[:limit]


def write_gaps_csv(groups: Iterable[GapGroup], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(GAP_COLUMNS)
    rows = 0
    for group in groups:
        writer.writerow(
            [
                group.language,
                group.count,
                _cell(group.question),
                " ".join(sorted(group.channels)),
                iso(group.first_at),
                iso(group.last_at),
            ]
        )
        rows += 1
    return rows


# --- feedback --------------------------------------------------------------------------------


async def feedback_rows(state: StateStore, *, since: float | None = None) -> list[dict[str, Any]]:
    """Feedback records, oldest first; 👍/👎 votes are joined with the answer they rate while
    its record is kept (a week), so the export shows which question they were about."""
    records = await state.list(FEEDBACK_KIND, since=since, limit=EXPORT_LIMIT)
    missing = sorted(
        {str(r["question_id"]) for r in records if r.get("question_id") and not r.get("question")}
    )
    limit = asyncio.Semaphore(16)

    async def answer_record(question_id: str) -> tuple[str, dict[str, Any] | None]:
        async with limit:
            return question_id, await state.get("answer_record", question_id)

    found = dict(await asyncio.gather(*(answer_record(q) for q in missing)))
    rows = []
    for record in records:
        joined = found.get(str(record.get("question_id"))) or {}
        row = {**joined, **record}
        terms = row.get("glossary_terms")
        rows.append(
            {
                **row,
                "at": iso(float(record.get("_at") or 0.0)),
                "glossary_terms": " ".join(terms) if isinstance(terms, list) else terms,
            }
        )
    return rows


def write_feedback_csv(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    writer = csv.DictWriter(
        out, fieldnames=FEEDBACK_COLUMNS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow({column: _cell(row.get(column)) for column in FEEDBACK_COLUMNS})
        count += 1
    return count


def _cell(value: object) -> object:
    """Text as text: a spreadsheet would run a cell starting with = + - @ as a formula."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
