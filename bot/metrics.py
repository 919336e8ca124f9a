"""CloudWatch metrics with no agent: Embedded Metric Format (EMF) lines on stdout.

The container's awslogs driver ships stdout to CloudWatch Logs, which turns every EMF
line into metric data points. Only `serve` writes them (its observer is built with a
stdout writer); `dualnova ask --json` keeps stdout for its JSON.

Per question: one line without dimensions (Questions, Answered, NotFound, Failed,
Refused, latency per stage, tokens, cost) and one per model used (dimension `Model`:
ModelCalls, tokens, cost). Per feedback click: one line with dimension `Vote`.
The names are pinned by `infra/dashboard.py`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.usage import QuestionUsage

Write = Callable[[str], None]

#: Answer.timings stage -> metric name (milliseconds).
LATENCY_METRICS = {
    "detect": "LatencyDetect",
    "condense": "LatencyCondense",
    "retrieve": "LatencyRetrieve",
    "first_token": "LatencyFirstToken",
    "answer": "LatencyAnswer",
}
#: Answer.status -> the 0/1 metric it sets (the others are 0, so Average is a rate).
STATUS_METRICS = {
    "answered": "Answered",
    "not_found": "NotFound",
    "failed": "Failed",
    "refused": "Refused",
}
VOTES = ("up", "down", "translation")


def stdout_writer() -> Write:
    """One line per document, flushed, so nothing waits in a buffer when the task stops."""

    def write(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    return write


def emf_document(
    *,
    namespace: str,
    dimensions: Sequence[Sequence[str]],
    metrics: Mapping[str, tuple[float, str]],
    properties: Mapping[str, Any],
    timestamp_ms: int,
) -> dict[str, Any]:
    """An EMF document: metric values and dimension values are root members."""
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(d) for d in dimensions],
                    "Metrics": [
                        {"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()
                    ],
                }
            ],
        },
        **properties,
        **{name: value for name, (value, _) in metrics.items()},
    }


class EmfMetrics:
    """Writes EMF lines for questions and feedback to `write`."""

    def __init__(
        self, *, namespace: str, write: Write, clock: Callable[[], float] = time.time
    ) -> None:
        self.namespace = namespace
        self._write = write
        self._clock = clock

    def question(self, usage: QuestionUsage) -> None:
        now = self._now_ms()
        metrics: dict[str, tuple[float, str]] = {"Questions": (1, "Count")}
        for status, name in STATUS_METRICS.items():
            metrics[name] = (1 if usage.status == status else 0, "Count")
        timings = dict(usage.timings_ms)
        for stage, name in LATENCY_METRICS.items():
            if stage in timings:
                metrics[name] = (round(timings[stage], 1), "Milliseconds")
        metrics["LatencyTotal"] = (round(usage.total_ms, 1), "Milliseconds")
        metrics["InputTokens"] = (usage.input_tokens, "Count")
        metrics["OutputTokens"] = (usage.output_tokens, "Count")
        metrics["CacheReadTokens"] = (usage.cache_read_tokens, "Count")
        metrics["CacheWriteTokens"] = (usage.cache_write_tokens, "Count")
        metrics["CostUSD"] = (round(usage.cost_usd, 8), "None")
        metrics["LanguageMismatch"] = (1 if usage.language_mismatch else 0, "Count")
        self._emit(
            [[]],
            metrics,
            {
                "question_id": usage.question_id,
                "status": usage.status,
                "language": usage.language,
                "route": usage.route,
            },
            now,
        )
        if usage.language_mismatch:  # by pair, to alarm on one drifting language
            self._emit(
                [["LanguagePair"]],
                {"LanguageMismatch": (1, "Count")},
                {"LanguagePair": usage.language_mismatch, "question_id": usage.question_id},
                now,
            )
        for model in usage.models:
            self._emit(
                [["Model"]],
                {
                    "ModelCalls": (model.calls, "Count"),
                    "InputTokens": (model.input_tokens, "Count"),
                    "OutputTokens": (model.output_tokens, "Count"),
                    "CacheReadTokens": (model.cache_read_tokens, "Count"),
                    "CacheWriteTokens": (model.cache_write_tokens, "Count"),
                    "CostUSD": (round(model.cost_usd, 8), "None"),
                },
                {"Model": model.model, "question_id": usage.question_id},
                now,
            )

    def feedback(self, *, vote: str, language: str | None) -> None:
        self._emit(
            [["Vote"]],
            {"Feedback": (1, "Count")},
            {"Vote": vote if vote in VOTES else "other", "language": language or ""},
            self._now_ms(),
        )

    def _emit(
        self,
        dimensions: Sequence[Sequence[str]],
        metrics: Mapping[str, tuple[float, str]],
        properties: Mapping[str, Any],
        timestamp_ms: int,
    ) -> None:
        document = emf_document(
            namespace=self.namespace,
            dimensions=dimensions,
            metrics=metrics,
            properties=properties,
            timestamp_ms=timestamp_ms,
        )
        self._write(json.dumps(document, ensure_ascii=False, separators=(",", ":")))

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
