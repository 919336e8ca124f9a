"""`dualnova eval`: every golden item through the pipeline `ask` uses, scored.

The pipeline is built by `bot.wiring.build` exactly as for `ask` (the configured index,
glossary and models; BM25 + glossary only when offline). The one addition is a recorder
around the retriever, so hit@k and MRR see the retriever's whole ranked list and not only
the passages the answer quotes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.bedrock import converse_llm
from bot.config import Settings, load_settings
from bot.eval_judge import MicroJudge
from bot.eval_score import ItemResult, score_item, slices, summarize
from bot.eval_set import EvalItem, GoldenSet, LineError
from bot.pricing import PriceTable
from bot.usage import usage_of
from bot.wiring import Components, build
from kernel.errors import ConfigError
from kernel.models import ModelCall, Passage, Question
from kernel.retriever import Retriever

log = logging.getLogger(__name__)

JUDGE_MAX_TOKENS = 200


class RecordingRetriever:
    """The configured retriever, remembering the ranked passages of the last question."""

    def __init__(self, inner: Retriever) -> None:
        self._inner = inner
        self.last: list[Passage] = []

    async def retrieve(
        self,
        queries: Sequence[str],
        *,
        collections: frozenset[str],
        top_k: int,
        on_call: Callable[[ModelCall], None] | None = None,
    ) -> list[Passage]:
        passages = await self._inner.retrieve(
            queries, collections=collections, top_k=top_k, on_call=on_call
        )
        self.last = list(passages)
        return passages


@dataclass
class EvalRun:
    """One configuration's results over a golden set."""

    label: str
    overrides: dict[str, str]
    offline: bool
    k: int
    index_version: str
    results: list[ItemResult]
    errors: list[LineError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def summary(self) -> dict[str, Any]:
        return summarize(self.results)

    @property
    def by_language(self) -> dict[str, dict[str, Any]]:
        languages = sorted({r.item.language for r in self.results}, key=_language_order)
        return {
            lang: summarize([r for r in self.results if r.item.language == lang])
            for lang in languages
        }

    @property
    def by_slice(self) -> dict[str, dict[str, Any]]:
        return {name: summarize(members) for name, members in slices(self.results).items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "settings": self.overrides,
            "offline": self.offline,
            "k": self.k,
            "index_version": self.index_version,
            "seconds": round(self.seconds, 2),
            "summary": self.summary,
            "by_language": self.by_language,
            "by_slice": self.by_slice,
            "items": [r.to_json() for r in self.results],
            "errors": [str(e) for e in self.errors],
        }


def _language_order(code: str) -> tuple[int, str]:
    # The corpus languages of the sample first, then alphabetical.
    return ({"en": 0, "ko": 1, "ja": 2}.get(code, 3), code)


def parse_assignments(pairs: Sequence[str]) -> dict[str, str]:
    """NAME=VALUE pairs (environment variable names of `bot.config.Settings`)."""
    known = {
        (str(f.validation_alias) if isinstance(f.validation_alias, str) else name.upper())
        for name, f in Settings.model_fields.items()
    }
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip().upper()
        if not sep or not name:
            raise ConfigError(f"--set/--compare: expected NAME=VALUE, got {pair!r}")
        if name not in known:
            raise ConfigError(f"--set/--compare: {name} is not a setting (see .env.example)")
        out[name] = value
    return out


def settings_with(base: Mapping[str, str]) -> Settings:
    """Settings from the environment with `base` (NAME=VALUE) on top, validated as at start."""
    fields = {
        (str(f.validation_alias) if isinstance(f.validation_alias, str) else name.upper()): name
        for name, f in Settings.model_fields.items()
    }
    overrides: dict[str, object] = {}
    for name, value in base.items():
        field_name = fields[name]
        alias = Settings.model_fields[field_name].validation_alias
        overrides[str(alias) if isinstance(alias, str) else field_name] = value
    return load_settings(**overrides)


async def evaluate(
    settings: Settings,
    golden: GoldenSet,
    *,
    offline: bool | None,
    judge: bool = False,
    label: str = "run",
    overrides: Mapping[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalRun:
    """Run and score every item of `golden` (sequentially: latency numbers stay per question)."""
    recorder: list[RecordingRetriever] = []

    def wrap(inner: Retriever) -> Retriever:
        recorder.append(RecordingRetriever(inner))
        return recorder[0]

    components = build(settings, offline=offline, wrap_retriever=wrap)
    index_version = components.index.current().version  # IndexNotFound says how to ingest
    grader = None
    if judge and not components.offline and components.bedrock is not None:
        grader = MicroJudge(
            llm=converse_llm(
                model_id=settings.micro_model_id,
                client=components.bedrock,
                max_tokens=JUDGE_MAX_TOKENS,
                temperature=0.0,
            ),
            model_id=settings.micro_model_id,
        )
    prices = PriceTable.from_json(settings.prices)
    detector = components.detector
    detector.preload()  # lingua loads lazily: not on the first item's clock
    started = time.perf_counter()
    results: list[ItemResult] = []
    for number, item in enumerate(golden.items, 1):
        recorder[0].last = []
        result = await _run_item(
            item,
            components=components,
            recorder=recorder[0],
            k=settings.retrieval_top_k,
            prices=prices,
            detect=lambda text: detector.detect(text, hint=None).language,
        )
        if grader is not None and item.answerable and result.status != "not_found":
            verdict = await grader.grade(
                question=item.question, facts=item.expect_facts, answer=result.answer
            )
            result.judge_score, result.judge_reason = verdict.score, verdict.reason
        results.append(result)
        if progress is not None:
            progress(number, len(golden.items))
    return EvalRun(
        label=label,
        overrides=dict(overrides or {}),
        offline=components.offline,
        k=settings.retrieval_top_k,
        index_version=index_version,
        results=results,
        errors=list(golden.errors),
        seconds=time.perf_counter() - started,
    )


async def _run_item(
    item: EvalItem,
    *,
    components: Components,
    recorder: RecordingRetriever,
    k: int,
    prices: PriceTable,
    detect: Callable[[str], str],
) -> ItemResult:
    # A follow-up's thread already has a language (Slack passes it as the hint); a first
    # question is detected from its own text, as in a new thread.
    question = Question(
        text=item.question,
        history=item.history,
        language_hint=item.language if item.history else None,
    )
    stream = await components.pipeline.answer(question)
    async for _ in stream:
        pass
    answer = stream.result()
    glossary = components.glossary.current()
    violations = (
        [
            f"{v.term} ({v.kind}): {v.detail}"
            for v in glossary.violations(
                answer=answer.text,
                language=answer.language,
                sources=[item.question, *(p.text for p in stream.passages)],
            )
        ]
        if glossary and answer.status in ("answered", "incomplete")
        else []
    )
    usage = usage_of(answer, prices, user_id=None, channel_id=None)
    return score_item(
        item,
        answer,
        retrieved=recorder.last,
        k=k,
        detect=detect,
        violations=violations,
        cost_usd=usage.cost_usd,
    )
