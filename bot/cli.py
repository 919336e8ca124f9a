"""`dualnova`: the command line (docs/ARCHITECTURE.md, "Command line")."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import TextIO

from bot.config import Settings, load_settings
from bot.logs import configure_logging
from bot.messages import message
from kernel.errors import ConfigError, DualnovaError
from kernel.models import PUBLIC_COLLECTION, Answer, Question, Turn


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dualnova", description="A multilingual knowledge bot for Slack."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="answer one question through the pipeline")
    ask.add_argument("question")
    ask.add_argument(
        "--json", action="store_true", help="print the answer as JSON (shape: docs/ARCHITECTURE.md)"
    )
    ask.add_argument(
        "--offline", action="store_true", help="no model calls: BM25 and quoted passages"
    )
    ask.add_argument(
        "--language", help="language hint (ISO 639-1) for messages too short to detect"
    )

    chat = sub.add_parser("chat", help="a terminal conversation with follow-up memory")
    chat.add_argument("--offline", action="store_true")

    ingest = sub.add_parser("ingest", help="ingest documents and publish a new index version")
    ingest.add_argument(
        "source", nargs="?", help="a local folder or s3://bucket/prefix (default: DOCS_SOURCE)"
    )
    ingest.add_argument(
        "--collection",
        default=PUBLIC_COLLECTION,
        help=f"collection to ingest into (default: {PUBLIC_COLLECTION})",
    )
    ingest.add_argument(
        "--full", action="store_true", help="rebuild everything instead of only what changed"
    )
    ingest.add_argument("--offline", action="store_true", help="no embeddings: a BM25-only index")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")

    from bot.eval_cli import add_eval_parser

    add_eval_parser(sub)

    sub.add_parser("doctor", help="check configuration, credentials, model access and the index")
    sub.add_parser("serve", help="run the Slack bot (Socket Mode)")
    sub.add_parser(
        "health", help="exit 0 only while `serve` is connected to Slack (container health check)"
    )
    sub.add_parser("manifest", help="print the Slack app manifest (JSON)")

    # Reports read the state store: the SQLite file (default) or STATE_TABLE.
    feedback = sub.add_parser("feedback", help="feedback reports from the state store")
    feedback_sub = feedback.add_subparsers(dest="feedback_command", required=True)
    export = feedback_sub.add_parser("export", help="👍/👎/translation votes as CSV")
    gaps = sub.add_parser("gaps", help="questions the documents could not answer, as CSV")
    for report in (export, gaps):
        report.add_argument("--since", help="7d, 24h, 2026-05-01 or 2026-05-01T09:00 (UTC)")
        report.add_argument("--output", "-o", help="write the CSV to FILE instead of stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        quiet = args.command in ("ask", "health", "manifest", "eval")
        configure_logging(level="WARNING" if quiet else settings.log_level, fmt=settings.log_format)
        if args.command == "ask":
            return asyncio.run(_ask(settings, args))
        if args.command == "chat":
            return asyncio.run(_chat(settings, offline=args.offline))
        if args.command == "ingest":
            return _ingest(settings, args)
        if args.command == "eval":
            from bot.eval_cli import run_eval_command

            return run_eval_command(args)
        if args.command == "doctor":
            from bot.doctor import run_doctor

            return run_doctor(settings)
        if args.command == "serve":
            from bot.slack.serve import serve

            return asyncio.run(serve(settings))
        if args.command == "health":
            # `dualnova health` itself goes through bot.entry, which skips this module.
            from bot.health import check_health

            healthy, detail = check_health(settings.health_file)
            print(detail)
            return 0 if healthy else 1
        if args.command in ("feedback", "gaps"):
            return _report(settings, args)
        if args.command == "manifest":
            from bot.slack.manifest import manifest

            print(json.dumps(manifest(), indent=2, ensure_ascii=False))
            return 0
    except ConfigError as exc:
        print(f"dualnova: configuration error: {exc}", file=sys.stderr)
        return 2
    except DualnovaError as exc:
        print(f"dualnova: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


def _report(settings: Settings, args: argparse.Namespace) -> int:
    """`feedback export` / `gaps`: CSV from the state store, to stdout or --output."""
    from bot import reports
    from bot.state_factory import open_state_store

    try:
        since = reports.parse_since(args.since)
    except ValueError as exc:
        print(f"dualnova: {exc}", file=sys.stderr)
        return 2
    if settings.state_kind == "memory":
        print(
            "dualnova: STATE_BACKEND=memory; this process's in-memory store has no records",
            file=sys.stderr,
        )
    state = open_state_store(settings)
    # Read everything first: a failed read must not leave a truncated --output file behind.
    write: Callable[[TextIO], int]
    if args.command == "gaps":
        groups = asyncio.run(reports.gaps(state, since=since))
        write = partial(reports.write_gaps_csv, groups)
    else:
        rows = asyncio.run(reports.feedback_rows(state, since=since))
        write = partial(reports.write_feedback_csv, rows)
    if not args.output:
        write(sys.stdout)
        return 0
    with open(args.output, "w", encoding="utf-8", newline="") as out:
        count = write(out)
    print(f"{count} rows written to {args.output}", file=sys.stderr)
    return 0


def _print_sources(answer: Answer) -> None:
    if answer.citations:
        print(f"\n{message('sources', answer.language)}:")
        for citation in answer.citations:
            where = f" ({citation.location})" if citation.location else ""
            print(f"  [{citation.number}] {citation.title} — {citation.source}{where}")


async def _ask(settings: Settings, args: argparse.Namespace) -> int:
    from bot.wiring import build

    components = build(settings, offline=True if args.offline else None)
    stream = await components.pipeline.answer(
        Question(text=args.question, language_hint=args.language)
    )
    async for delta in stream:
        if not args.json:
            sys.stdout.write(delta)
            sys.stdout.flush()
    answer = stream.result()
    if args.json:
        print(json.dumps(answer.to_json_dict(), ensure_ascii=False, indent=2))
    else:
        print()
        _print_sources(answer)
    return {"failed": 1, "empty": 2}.get(answer.status, 0)


async def _chat(settings: Settings, *, offline: bool) -> int:
    from bot.wiring import build

    components = build(settings, offline=True if offline else None)
    print("dualnova chat — ask about the documents; an empty line or Ctrl-D ends.")
    history: list[Turn] = []
    hint: str | None = None
    while True:
        try:
            text = await asyncio.to_thread(input, "you> ")
        except EOFError:
            print()
            return 0
        if not text.strip():
            return 0
        stream = await components.pipeline.answer(
            Question(text=text, history=tuple(history), language_hint=hint)
        )
        sys.stdout.write("bot> ")
        async for delta in stream:
            sys.stdout.write(delta)
            sys.stdout.flush()
        answer = stream.result()
        print()
        _print_sources(answer)
        hint = answer.language
        history += [Turn(role="user", text=text), Turn(role="assistant", text=answer.text)]


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    import threading

    from tqdm import tqdm

    from bot.bedrock import runtime_client
    from bot.ingest_run import IngestTools, run_ingest
    from bot.wiring import build_detector, build_embedder, build_store, has_aws_credentials

    offline = args.offline or settings.offline or not has_aws_credentials(settings)
    embedder = None if offline else build_embedder(settings, runtime_client(settings))
    if offline:
        print("offline: no embeddings, the index will be BM25-only", file=sys.stderr)
    detector = build_detector(settings)
    # Loading lingua's models takes ~2 s of CPU: let it overlap the listing, which waits on S3.
    threading.Thread(target=detector.preload, name="preload", daemon=True).start()
    bars: dict[str, tqdm] = {}  # type: ignore[type-arg]

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(
                total=total,
                desc=stage,
                unit="doc" if stage == "load" else "chunk",
                file=sys.stderr,
                disable=args.json or not sys.stderr.isatty(),
            )
        bar.total = total  # embedding totals grow as documents are read
        bar.n = done
        bar.refresh()

    try:
        report = run_ingest(
            IngestTools(settings, build_store(settings), embedder, detector),
            args.source or settings.docs_source,
            collection=args.collection,
            full=args.full,
            progress=progress,
        )
    finally:
        for bar in bars.values():
            bar.close()
    if args.json:
        print(json.dumps(report.to_json_dict(), ensure_ascii=False, indent=2))
    else:
        print(report.summary())
        for skipped in report.skipped:
            print(f"  skipped {skipped.key}: {skipped.reason}")
        if report.skipped:  # the last lines, where a long run's reader looks
            print("Skipped, by cause:")
            print("\n".join(f"  {line}" for line in report.skip_lines()))
    return 0
