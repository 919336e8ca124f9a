"""`dualnova eval FILE`: the command line of the golden-set evaluation.

Kept free of heavy imports at module level: `bot.cli` builds its parser for every command,
the container health check included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

EXIT_BAD_LINES = 1


def add_eval_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "eval",
        help="score answers on a golden set (retrieval, citations, language, facts, abstention)",
        description="Run every item of a JSONL golden set through the pipeline and score it.",
    )
    parser.add_argument("file", help="the golden set, JSONL (see README, 'Measuring quality')")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--offline", action="store_true", help="no model calls: BM25 + glossary, quoted passages"
    )
    parser.add_argument(
        "--top-k",
        type=int,
        metavar="N",
        help="passages retrieved per question, and the k of hit@k (RETRIEVAL_TOP_K)",
    )
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="run with a changed setting, e.g. RELATIVE_CUTOFF=0.3 (repeatable)",
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="also run with these settings changed and show both side by side (repeatable)",
    )
    parser.add_argument(
        "--judge",
        action="store_true",
        help="online only: Nova Micro grades each answer against its facts (reported apart)",
    )
    parser.add_argument("--output", metavar="DIR", help="write DIR/eval-report.html and eval.json")


def run_eval_command(args: argparse.Namespace) -> int:
    from bot.eval_report import as_json, markdown, markdown_compare
    from bot.eval_run import EvalRun, evaluate, parse_assignments, settings_with
    from bot.eval_set import load_golden_set

    try:
        golden = load_golden_set(args.file)
    except OSError as exc:
        print(f"dualnova: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for error in golden.errors:
        print(f"dualnova: {args.file}: {error}", file=sys.stderr)
    if not golden.items:
        print(f"dualnova: {args.file}: no usable items", file=sys.stderr)
        return 2
    base = parse_assignments(args.assignments)
    if args.top_k is not None:
        base["RETRIEVAL_TOP_K"] = str(args.top_k)
    compare = parse_assignments(args.compare)
    offline = True if args.offline else None
    if args.judge and args.offline:
        print("dualnova: --judge needs the models; no judged score offline", file=sys.stderr)
    progress = _progress_printer() if sys.stderr.isatty() and not args.json else None

    def run(label: str, overrides: dict[str, str]) -> EvalRun:
        return asyncio.run(
            evaluate(
                settings_with(overrides),
                golden,
                offline=offline,
                judge=args.judge,
                label=label,
                overrides=overrides,
                progress=progress,
            )
        )

    first = run("A" if compare else "run", base)
    second = run("B", {**base, **compare}) if compare else None
    document = as_json(first, second)
    if args.json:
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        print(markdown_compare(first, second) if second is not None else markdown(first))
    if args.output:
        from bot.eval_html import render_html

        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.json").write_text(json.dumps(document, ensure_ascii=False, indent=2), "utf-8")
        (out / "eval-report.html").write_text(render_html(first, second), "utf-8")
        print(f"report written to {out / 'eval-report.html'}", file=sys.stderr)
    return EXIT_BAD_LINES if golden.errors else 0


def _progress_printer() -> Any:
    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\reval: {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show
