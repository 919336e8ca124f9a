"""Scoring for `dualnova eval`: one golden item against what the pipeline did, then the
metrics over many items (overall, per language, per slice).

Retrieval is scored on the retriever's ranked list (what the answer could draw on), citations
on what the answer cites. Rates are over the items they apply to: hit@k, MRR, citations and
facts over answerable items, abstention over unanswerable ones; None when nothing applies.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.answer_language import same_language
from bot.eval_set import EvalItem, fact_present, source_matches
from kernel.models import Answer, Passage

#: Stages of `Answer.timings` the report shows, plus their sum.
STAGES = ("detect", "condense", "retrieve", "first_token", "answer", "total")
_QUOTE_LINE = re.compile(r"^\s*(>|\[\d+\]\s*\*).*$", re.MULTILINE)
_MARKER = re.compile(r"\[\d{1,2}\]")


@dataclass(frozen=True)
class Source:
    title: str
    source: str

    def label(self) -> str:
        tail = self.source.rsplit("/", 1)[-1]
        return f"{self.title} ({tail})" if tail and tail not in self.title else self.title


@dataclass
class ItemResult:
    """What happened to one golden item, and every metric of it."""

    item: EvalItem
    status: str
    answer: str
    retrieved: list[Source]
    cited: list[Source]
    rank: int | None  # 1-based rank of the first expected source in `retrieved`
    k: int
    answer_language: str
    facts_found: list[str]
    facts_missing: list[str]
    pro_called: bool
    glossary_violations: list[str]
    timings: dict[str, float]
    cost_usd: float
    judge_score: float | None = None
    judge_reason: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def abstained(self) -> bool:
        return self.status == "not_found"

    @property
    def hit(self) -> bool:
        return self.rank is not None and self.rank <= self.k

    @property
    def reciprocal_rank(self) -> float:
        return 1.0 / self.rank if self.rank is not None and self.rank <= self.k else 0.0

    @property
    def citation_precision(self) -> float | None:
        if not self.cited or not self.item.answerable:
            return None
        good = [c for c in self.cited if _expected(self.item, c)]
        return len(good) / len(self.cited)

    @property
    def citation_recall(self) -> float | None:
        if not self.item.answerable:
            return None
        found = [e for e in self.item.expect_sources if any(_matches(e, c) for c in self.cited)]
        return len(found) / len(self.item.expect_sources)

    @property
    def fact_score(self) -> float | None:
        total = len(self.facts_found) + len(self.facts_missing)
        return len(self.facts_found) / total if total else None

    @property
    def language_ok(self) -> bool:
        # "zh" accepts either script; "zh-Hant" only Traditional (bot.answer_language).
        return same_language(self.answer_language, self.item.language)

    @property
    def abstention_ok(self) -> bool:
        if self.item.answerable:
            return not self.abstained
        return self.abstained and not self.pro_called

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        item = self.item
        return {
            "id": item.id,
            "language": item.language,
            "question": item.question,
            "answerable": item.answerable,
            "follow_up": item.follow_up,
            "tags": list(item.tags),
            "expect_sources": list(item.expect_sources),
            "expect_facts": list(item.expect_facts),
            "status": self.status,
            "answer": self.answer,
            "answer_language": self.answer_language,
            "retrieved": [s.label() for s in self.retrieved],
            "cited": [s.label() for s in self.cited],
            "rank": self.rank,
            "hit": self.hit if item.answerable else None,
            "reciprocal_rank": self.reciprocal_rank if item.answerable else None,
            "citation_precision": self.citation_precision,
            "citation_recall": self.citation_recall,
            "language_ok": self.language_ok,
            "facts_found": self.facts_found,
            "facts_missing": self.facts_missing,
            "fact_score": self.fact_score,
            "abstained": self.abstained,
            "abstention_ok": self.abstention_ok,
            "pro_called": self.pro_called,
            "glossary_violations": self.glossary_violations,
            "timings_ms": {k: round(v, 1) for k, v in self.timings.items()},
            "cost_usd": self.cost_usd,
            "judge_score": self.judge_score,
            "judge_reason": self.judge_reason or None,
            "ok": self.ok,
            "failures": self.failures,
        }


def _matches(expected: str, citation: Source) -> bool:
    return source_matches(expected, source=citation.source, title=citation.title)


def _expected(item: EvalItem, citation: Source) -> bool:
    return any(_matches(e, citation) for e in item.expect_sources)


def written_text(answer: str) -> str:
    """What the bot wrote itself: quoted passages (offline) and [n] markers removed."""
    return _MARKER.sub("", _QUOTE_LINE.sub("", answer)).replace("_", " ").strip()


def score_item(
    item: EvalItem,
    answer: Answer,
    *,
    retrieved: Sequence[Passage],
    k: int,
    detect: Callable[[str], str],
    violations: Sequence[str],
    cost_usd: float,
) -> ItemResult:
    sources = [Source(p.title, p.source) for p in retrieved]
    rank = next(
        (n for n, s in enumerate(sources, 1) if _expected(item, s)),
        None,
    )
    found = [f for f in item.expect_facts if fact_present(f, answer.text)]
    timings = dict(answer.timings)
    timings["total"] = sum(
        timings.get(s, 0.0) for s in ("detect", "condense", "retrieve", "answer")
    )
    result = ItemResult(
        item=item,
        status=answer.status,
        answer=answer.text,
        retrieved=sources,
        cited=[Source(c.title, c.source) for c in answer.citations],
        rank=rank,
        k=k,
        answer_language=detect(written_text(answer.text)),
        facts_found=found,
        facts_missing=[f for f in item.expect_facts if f not in found],
        pro_called=any(call.purpose == "answer" for call in answer.route.calls),
        glossary_violations=list(violations),
        timings=timings,
        cost_usd=cost_usd,
    )
    result.failures = failures_of(result)
    return result


def failures_of(result: ItemResult) -> list[str]:
    """Why an item counts as failed, in words (empty: it passed)."""
    reasons: list[str] = []
    if result.status == "failed":
        reasons.append("the pipeline failed")
    if result.item.answerable:
        if result.abstained:
            reasons.append('answered "not in the documents"')
        elif not result.hit:
            where = f"rank {result.rank}" if result.rank else "not retrieved"
            reasons.append(f"expected source not in the top {result.k} ({where})")
        reasons += [f"fact missing: {f}" for f in result.facts_missing]
    else:
        if not result.abstained:
            reasons.append('did not say "not in the documents"')
        if result.pro_called:
            reasons.append("called Pro for an unanswerable question")
    if not result.language_ok:
        reasons.append(f"answer in {result.answer_language}, expected {result.item.language}")
    reasons += [f"glossary: {v}" for v in result.glossary_violations]
    return reasons


# --- aggregation ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[index]


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def summarize(results: Sequence[ItemResult]) -> dict[str, Any]:
    """The metrics over `results` (see the module docstring for what each is over)."""
    answerable = [r for r in results if r.item.answerable]
    unanswerable = [r for r in results if not r.item.answerable]
    answered = [r for r in results if r.status in ("answered", "offline", "incomplete")]
    latency = {
        stage: {
            "p50": percentile([r.timings[stage] for r in results if stage in r.timings], 50),
            "p95": percentile([r.timings[stage] for r in results if stage in r.timings], 95),
        }
        for stage in STAGES
    }
    return {
        "items": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "passed": sum(r.ok for r in results),
        "hit_at_k": _mean(float(r.hit) for r in answerable),
        "mrr": _mean(r.reciprocal_rank for r in answerable),
        "citation_precision": _mean(r.citation_precision for r in answerable),
        "citation_recall": _mean(r.citation_recall for r in answerable),
        "language": _mean(float(r.language_ok) for r in results),
        "facts": _mean(r.fact_score for r in answerable),
        "abstention": _mean(float(r.abstention_ok) for r in results),
        "abstained_unanswerable": _mean(float(r.abstention_ok) for r in unanswerable),
        "false_not_found": _mean(float(r.abstained) for r in answerable),
        "glossary_violations_per_answer": _mean(
            float(len(r.glossary_violations)) for r in answered
        ),
        "judged": _mean(r.judge_score for r in results),
        "latency_ms": latency,
        "cost_usd_per_question": _mean(r.cost_usd for r in results),
    }


def slices(results: Sequence[ItemResult]) -> dict[str, list[ItemResult]]:
    """Named subsets worth a line of their own: follow-ups, unanswerable, and every tag."""
    named: dict[str, list[ItemResult]] = {
        "follow-up": [r for r in results if r.item.follow_up],
        "unanswerable": [r for r in results if not r.item.answerable],
    }
    for tag in sorted({t for r in results for t in r.item.tags}):
        named[tag] = [r for r in results if tag in r.item.tags]
    return {name: members for name, members in named.items() if members}
