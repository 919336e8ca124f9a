"""The `--output` report of `dualnova eval`: one self-contained HTML file.

Inline CSS and SVG only (no script, no CDN, no web font), so it opens from disk, from a CI
artifact or an e-mail attachment. Every value taken from documents, questions or answers
is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from bot.eval_report import METRICS, fmt, fmt_delta, present_metrics
from bot.eval_run import EvalRun
from bot.eval_score import STAGES, ItemResult

#: The rates drawn as bars per language, in this order.
CHART_METRICS = (
    ("hit_at_k", "hit@k"),
    ("mrr", "MRR (× 100)"),
    ("citation_precision", "citation precision"),
    ("language", "answer language"),
    ("facts", "facts"),
    ("abstention", "abstention"),
)
_COLOURS = ("#2563eb", "#f59e0b")
_ANSWER_CHARS = 420

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK KR",
"Noto Sans CJK JP",sans-serif;margin:24px auto;max-width:1220px;color:#111827;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#4b5563;margin:0 0 12px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}
th,td{border:1px solid #e5e7eb;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#f3f4f6;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{border:1px solid #e5e7eb;border-radius:8px;padding:8px 12px;min-width:128px}
.card b{display:block;font-size:20px}.card span{color:#4b5563;font-size:12px}
.charts{display:grid;grid-template-columns:repeat(3,1fr);gap:12px}
.chart{border:1px solid #e5e7eb;border-radius:8px;padding:6px 8px}
.chart h3{font-size:13px;margin:0 0 2px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;border-radius:2px}
.bad{color:#b91c1c}.good{color:#047857}small{color:#6b7280}
td.q{max-width:260px}td.a{max-width:380px;white-space:pre-wrap;font-size:12px}
"""


def render_html(a: EvalRun, b: EvalRun | None = None) -> str:
    runs = [a] if b is None else [a, b]
    title = "dualnova eval" + ("" if b is None else f" — {a.label} vs {b.label}")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p class='meta'>{escape(_meta(runs))}</p>",
        _cards(a, b),
        "<h2>Per language</h2>",
        _legend(runs),
        "<div class='charts'>",
        *(_chart(runs, key, label.replace("@k", f"@{a.k}")) for key, label in CHART_METRICS),
        "</div>",
        "<h2>Metrics</h2>",
        _metrics_table(runs),
        "<h2>Latency per stage (ms)</h2>",
        _latency_table(runs),
        _failed_section(runs[-1]),
        "</body></html>",
    ]
    return "\n".join(parts)


def _meta(runs: Sequence[EvalRun]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    described = []
    for run in runs:
        mode = "offline: BM25 + glossary, no models" if run.offline else "online: Bedrock"
        settings = ", ".join(f"{k}={v}" for k, v in run.overrides.items()) or "configured settings"
        described.append(
            f"{run.label}: {len(run.results)} items, {mode}, {settings}, index {run.index_version}"
        )
    return f"{now} · " + " · ".join(described)


def _cards(a: EvalRun, b: EvalRun | None) -> str:
    shown = ("hit_at_k", "mrr", "facts", "language", "abstention", "cost_usd_per_question")
    cards = []
    for key, label, kind in METRICS:
        if key not in shown:
            continue
        value = fmt(a.summary.get(key), kind)
        if b is not None:
            value = f"{fmt(b.summary.get(key), kind)}"
            delta = fmt_delta(a.summary.get(key), b.summary.get(key), kind)
            value += f" <small>({escape(delta)})</small>"
        cards.append(
            f"<div class='card'><b>{value}</b><span>{escape(label.format(k=a.k))}</span></div>"
        )
    passed = (b or a).summary["passed"]
    cards.append(
        f"<div class='card'><b>{passed}/{len(a.results)}</b><span>items passing every check</span></div>"
    )
    return "<div class='cards'>" + "".join(cards) + "</div>"


def _legend(runs: Sequence[EvalRun]) -> str:
    if len(runs) == 1:
        return ""
    keys = "".join(
        f"<span style='background:{_COLOURS[i]}'></span>{escape(r.label)}: "
        f"{escape(', '.join(f'{k}={v}' for k, v in r.overrides.items()) or 'configured')}"
        for i, r in enumerate(runs)
    )
    return f"<p class='legend'>{keys}</p>"


def _chart(runs: Sequence[EvalRun], key: str, label: str) -> str:
    """Bars per language (and overall) of one rate, 0-100%; one colour per run."""
    groups = ["all", *dict.fromkeys(lang for run in runs for lang in run.by_language)]
    width, height, top, bottom, left = 380, 170, 14, 22, 30
    plot_h = height - top - bottom
    slot = (width - left - 4) / len(groups)
    bar = min(22.0, (slot - 6) / len(runs))
    svg = [
        f"<svg viewBox='0 0 {width} {height}' width='100%' role='img' "
        f"aria-label='{escape(label)} per language'>"
    ]
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        svg.append(
            f"<line x1='{left}' x2='{width}' y1='{y:.1f}' y2='{y:.1f}' stroke='#e5e7eb'/>"
            f"<text x='{left - 4}' y='{y + 4:.1f}' font-size='10' text-anchor='end' "
            f"fill='#6b7280'>{pct}</text>"
        )
    for g, group in enumerate(groups):
        x0 = left + g * slot + (slot - bar * len(runs)) / 2
        for r, run in enumerate(runs):
            summary = run.summary if group == "all" else run.by_language.get(group, {})
            value = summary.get(key)
            if value is None:
                continue
            h = max(1.0, plot_h * max(0.0, min(1.0, float(value))))  # 0% still shows a line
            x, y = x0 + r * bar, top + plot_h - h
            svg.append(
                f"<rect x='{x:.1f}' y='{y:.1f}' width='{bar - 1:.1f}' height='{h:.1f}' "
                f"fill='{_COLOURS[r % 2]}'><title>{escape(group)} {escape(run.label)}: "
                f"{value * 100:.1f}%</title></rect>"
            )
            if len(runs) == 1:
                svg.append(
                    f"<text x='{x + bar / 2:.1f}' y='{y - 3:.1f}' font-size='9' "
                    f"text-anchor='middle' fill='#374151'>{value * 100:.0f}</text>"
                )
        svg.append(
            f"<text x='{left + g * slot + slot / 2:.1f}' y='{height - 6}' font-size='11' "
            f"text-anchor='middle' fill='#374151'>{escape(group)}</text>"
        )
    svg.append("</svg>")
    return f"<div class='chart'><h3>{escape(label)}</h3>{''.join(svg)}</div>"


def _metrics_table(runs: Sequence[EvalRun]) -> str:
    languages = list(dict.fromkeys(lang for run in runs for lang in run.by_language))
    slices = list(dict.fromkeys(name for run in runs for name in run.by_slice))
    columns = ["all", *languages, *slices]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = []

    def cell(run: EvalRun, column: str, key: str, kind: str) -> str:
        summary = (
            run.summary
            if column == "all"
            else run.by_language.get(column) or run.by_slice.get(column) or {}
        )
        return fmt(summary.get(key), kind) if key != "items" else str(summary.get("items", "–"))

    for key, label, kind in [("items", "items", "num"), *present_metrics(runs)]:
        for run in runs:
            name = label.format(k=run.k) + (f" ({run.label})" if len(runs) > 1 else "")
            cells = "".join(
                f"<td class='n'>{escape(cell(run, c, key, kind))}</td>" for c in columns
            )
            rows.append(f"<tr><th>{escape(name)}</th>{cells}</tr>")
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def _latency_table(runs: Sequence[EvalRun]) -> str:
    head = "".join(
        f"<th>{p}{' ' + escape(r.label) if len(runs) > 1 else ''}</th>"
        for r in runs
        for p in ("p50", "p95")
    )
    rows = []
    for stage in STAGES:
        values = [
            fmt(r.summary["latency_ms"][stage][p], "ms") for r in runs for p in ("p50", "p95")
        ]
        if any(v != "–" for v in values):
            cells = "".join(f"<td class='n'>{v}</td>" for v in values)
            rows.append(f"<tr><th>{stage}</th>{cells}</tr>")
    return f"<table><tr><th>stage</th>{head}</tr>{''.join(rows)}</table>"


def _failed_section(run: EvalRun) -> str:
    failed = [r for r in run.results if not r.ok]
    if not failed:
        return "<h2>Failed items</h2><p class='good'>None: every item passed every check.</p>"
    rows = "".join(_failed_row(r) for r in failed)
    return (
        f"<h2>Failed items ({len(failed)} of {len(run.results)}"
        f"{', run ' + escape(run.label) if run.label not in ('run',) else ''})</h2>"
        "<table><tr><th>item</th><th>question</th><th>expected</th><th>got</th>"
        f"<th>cited</th><th>why</th></tr>{rows}</table>"
    )


def _failed_row(result: ItemResult) -> str:
    item = result.item
    if item.answerable:
        expected = "sources: " + escape(", ".join(item.expect_sources))
        if item.expect_facts:
            expected += "<br>facts: " + escape(", ".join(item.expect_facts))
    else:
        expected = "“not in the documents”"
    answer = (
        result.answer
        if len(result.answer) <= _ANSWER_CHARS
        else result.answer[:_ANSWER_CHARS] + " …"
    )
    history = "<br><small>(follow-up)</small>" if item.follow_up else ""
    cited = "<br>".join(escape(c.label()) for c in result.cited) or "–"
    why = "<br>".join(escape(f) for f in result.failures)
    return (
        f"<tr><td><code>{escape(item.id)}</code><br><small>{escape(item.language)}</small></td>"
        f"<td class='q'>{escape(item.question)}{history}</td>"
        f"<td>{expected}</td>"
        f"<td class='a'><small>{escape(result.status)}</small>\n{escape(answer)}</td>"
        f"<td>{cited}</td><td class='bad'>{why}</td></tr>"
    )
