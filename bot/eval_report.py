"""`dualnova eval` output: Markdown tables for people, JSON for machines.

With `--compare` both runs are shown side by side with the difference (B - A).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.eval_run import EvalRun
from bot.eval_score import STAGES

#: (key in a summary, label, how to show it); rates are shown as percentages.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("hit_at_k", "hit@{k}", "pct"),
    ("mrr", "MRR", "num"),
    ("citation_precision", "citation precision", "pct"),
    ("citation_recall", "citation recall", "pct"),
    ("language", "answer language", "pct"),
    ("facts", "facts (string match)", "pct"),
    ("judged", "facts (judged by Micro)", "pct"),
    ("abstention", "abstention correct", "pct"),
    ("abstained_unanswerable", "unanswerable → not found", "pct"),
    ("false_not_found", "answerable → not found", "pct"),
    ("glossary_violations_per_answer", "glossary violations / answer", "num"),
    ("cost_usd_per_question", "$ / question", "usd"),
)
#: Metrics where lower is better (for the sign of a difference).
LOWER_IS_BETTER = frozenset({"false_not_found", "glossary_violations_per_answer"})


def fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "usd":
        return f"${value:.5f}"
    if kind == "ms":
        return f"{value:.1f}" if value < 100 else f"{value:.0f}"
    return f"{value:.3f}"


def fmt_delta(a: float | None, b: float | None, kind: str) -> str:
    if a is None or b is None:
        return "–"
    delta = b - a
    if abs(delta) < 1e-12:
        return "±0"
    if kind == "pct":
        return f"{delta * 100:+.1f} pt"
    if kind == "usd":
        return f"{delta:+.5f}"
    return f"{delta:+.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def present_metrics(runs: Sequence[EvalRun]) -> list[tuple[str, str, str]]:
    """The metrics any run has a value for (no empty "judged" row offline)."""
    return [m for m in METRICS if any(r.summary.get(m[0]) is not None for r in runs)]


def markdown(run: EvalRun) -> str:
    """The metrics per language (columns) and overall, latency per stage, failed items."""
    groups: list[tuple[str, dict[str, Any]]] = [("all", run.summary), *run.by_language.items()]
    slices = list(run.by_slice.items())
    header = ["metric", *(name for name, _ in groups), *(name for name, _ in slices)]
    rows = [["items", *(str(s["items"]) for _, s in groups + slices)]]
    for key, label, kind in present_metrics([run]):
        rows.append([label.format(k=run.k), *(fmt(s.get(key), kind) for _, s in groups + slices)])
    rows.append(["passed (every check)", *(str(s["passed"]) for _, s in groups + slices)])
    mode = "offline (BM25 + glossary, no models)" if run.offline else "online (Bedrock)"
    out = [
        f"## dualnova eval — {run.label}: {len(run.results)} items, {mode}, "
        f"index {run.index_version}, {run.seconds:.1f} s",
    ]
    if run.overrides:
        out.append("settings: " + ", ".join(f"{k}={v}" for k, v in run.overrides.items()))
    out += ["", _table(header, rows), "", _latency_table([run]), ""]
    failed = [r for r in run.results if not r.ok]
    if failed:
        out.append(f"### failed items ({len(failed)})")
        out += [f"- `{r.item.id}` ({r.item.language}): {'; '.join(r.failures)}" for r in failed]
    out += [f"- bad line: {e}" for e in run.errors]
    return "\n".join(out).rstrip() + "\n"


def _latency_table(runs: Sequence[EvalRun]) -> str:
    header = [
        "stage (ms)",
        *(f"{p} {r.label}" if len(runs) > 1 else p for r in runs for p in ("p50", "p95")),
    ]
    rows = []
    for stage in STAGES:
        cells = []
        for run in runs:
            latency = run.summary["latency_ms"][stage]
            cells += [fmt(latency["p50"], "ms"), fmt(latency["p95"], "ms")]
        if any(c != "–" for c in cells):
            rows.append([stage, *cells])
    return _table(header, rows)


def markdown_compare(a: EvalRun, b: EvalRun) -> str:
    """Two configurations side by side: overall metrics, per-language metrics, changed items."""
    present = present_metrics([a, b])
    rows = [
        [
            label.format(k=a.k),
            fmt(a.summary.get(key), kind),
            fmt(b.summary.get(key), kind),
            fmt_delta(a.summary.get(key), b.summary.get(key), kind),
        ]
        for key, label, kind in present
    ]
    out = [
        f"## dualnova eval — {a.label} vs {b.label}",
        f"A: {_describe(a)}",
        f"B: {_describe(b)}",
        "",
        _table(["metric", "A", "B", "B − A"], rows),
        "",
    ]
    keys = [m for m in present if m[0] in ("hit_at_k", "mrr", "facts", "abstention", "language")]
    lang_rows = []
    for lang in dict.fromkeys([*a.by_language, *b.by_language]):
        sa, sb = a.by_language.get(lang, {}), b.by_language.get(lang, {})
        lang_rows.append(
            [lang, *(f"{fmt(sa.get(k), kind)} → {fmt(sb.get(k), kind)}" for k, _, kind in keys)]
        )
    out += [_table(["language", *(label.format(k=a.k) for _, label, _ in keys)], lang_rows), ""]
    out += [_latency_table([a, b]), ""]
    fixed, broke = changed_items(a, b)
    if broke:
        out.append(f"### failed in B, passed in A ({len(broke)})")
        out += [f"- `{i}`" for i in broke]
    if fixed:
        out.append(f"### passed in B, failed in A ({len(fixed)})")
        out += [f"- `{i}`" for i in fixed]
    return "\n".join(out).rstrip() + "\n"


def _describe(run: EvalRun) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in run.overrides.items()) or "configured settings"
    return f"{settings} ({'offline' if run.offline else 'online'}, {run.seconds:.1f} s)"


def changed_items(a: EvalRun, b: EvalRun) -> tuple[list[str], list[str]]:
    """(ids that pass only in B, ids that pass only in A)."""
    passed_a = {r.item.id for r in a.results if r.ok}
    passed_b = {r.item.id for r in b.results if r.ok}
    ids = [r.item.id for r in a.results]
    return [i for i in ids if i in passed_b - passed_a], [
        i for i in ids if i in passed_a - passed_b
    ]


def as_json(a: EvalRun, b: EvalRun | None = None) -> dict[str, Any]:
    """`--json`: the run's `summary`, `by_language`, `by_slice`, `items`; with --compare, the
    second run under `compare` and the per-metric differences under `differences`."""
    out = a.to_json()
    if b is not None:
        out["compare"] = b.to_json()
        out["differences"] = {
            key: _difference(a.summary.get(key), b.summary.get(key)) for key, _, _ in METRICS
        }
        fixed, broke = changed_items(a, b)
        out["changed_items"] = {"passed_only_in_compare": fixed, "failed_only_in_compare": broke}
    return out


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a
