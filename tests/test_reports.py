"""Product reports: the questions the documents could not answer, and feedback, as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings
from bot.observer import build_observer
from bot.reports import group_gaps, parse_since
from bot.state import DynamoStateStore, MemoryStateStore
from bot.state_sqlite import SqliteStateStore
from bot.wiring import build
from fakes.aws import MotoServer
from fakes.bedrock import FakeBedrock, Reply
from kernel.models import Question

NOW = 1_777_000_000.0  # 2026-04-24 03:06:40 UTC
EUROPA_EN = "What is the population of Jupiter's moon Europa?"
EUROPA_KO = "목성의 위성 유로파의 인구는 얼마인가요?"
LEAVE_EN = "How many days of paid annual leave do employees get?"


def translated(question: str) -> Reply:
    return Reply(text=json.dumps({"standalone_question": question, "intent": "question"}))


def test_since_accepts_relative_spans_dates_and_date_times() -> None:
    assert parse_since(None) is None
    assert parse_since("7d", now=NOW) == NOW - 7 * 86400
    assert parse_since("24h", now=NOW) == NOW - 86400
    assert parse_since("30m", now=NOW) == NOW - 1800
    assert parse_since("2w", now=NOW) == NOW - 14 * 86400
    assert parse_since("2026-04-24") == 1_776_988_800.0
    assert parse_since("2026-04-24T09:00") == 1_776_988_800.0 + 9 * 3600
    assert parse_since("2026-04-24T09:00+09:00") == 1_776_988_800.0
    with pytest.raises(ValueError, match="expected 7d, 24h"):
        parse_since("last week")


def test_gaps_group_the_same_question_per_language_most_asked_first() -> None:
    records = [
        {"question": "연차는 며칠?", "language": "ko", "channel": "C1", "_at": 1.0},
        {"question": "What is Europa?", "language": "en", "channel": "C1", "_at": 2.0},
        {"question": "연차는  며칠", "language": "ko", "channel": "C2", "_at": 3.0},
        {"question": "주차는 어디?", "language": "ko", "channel": "C1", "_at": 4.0},
        {"question": "what is europa", "language": "en", "channel": None, "_at": 5.0},
        {"question": "What is Europa?", "language": "ja", "channel": "C1", "_at": 6.0},
        {"question": "", "language": "en", "_at": 7.0},
    ]

    groups = group_gaps(records)

    assert [(g.language, g.question, g.count) for g in groups] == [
        ("ko", "연차는 며칠?", 2),
        ("ko", "주차는 어디?", 1),
        ("en", "What is Europa?", 2),
        ("ja", "What is Europa?", 1),
    ]
    assert groups[0].channels == {"C1", "C2"} and (groups[0].first_at, groups[0].last_at) == (
        1.0,
        3.0,
    )


def dynamo(moto_server: MotoServer, table: str) -> DynamoStateStore:
    return DynamoStateStore(table_name=table, client=moto_server.client("dynamodb"))


async def test_dualnova_gaps_lists_a_sessions_unanswered_questions_grouped_by_language(
    settings: Settings,
    bedrock: FakeBedrock,
    moto_server: MotoServer,
    state_table: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    state = dynamo(moto_server, state_table)
    pipeline = build(
        settings, observer=build_observer(settings, state, write=lambda _: None)
    ).pipeline
    session = [
        (EUROPA_KO, "C0SUPPORT", translated(EUROPA_EN)),
        (EUROPA_EN, "C0SUPPORT", None),
        (LEAVE_EN, "C0SUPPORT", None),  # answered: not a gap
        (EUROPA_KO + " ", "C0KOREA", translated(EUROPA_EN)),
        ("木星の衛星エウロパの人口は？", "C0JAPAN", translated(EUROPA_EN)),
    ]
    statuses = []
    for text, channel, micro in session:
        if micro is not None:
            bedrock.queue("nova-micro", micro)
        stream = await pipeline.answer(Question(text=text, user_id="U1", channel_id=channel))
        async for _ in stream:
            pass
        statuses.append(stream.result().status)
    assert statuses == ["not_found", "not_found", "answered", "not_found", "not_found"]

    monkeypatch.setenv("STATE_TABLE", state_table)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server.url)
    assert await asyncio.to_thread(main, ["gaps"]) == 0
    printed = capsys.readouterr()

    rows = list(csv.DictReader(io.StringIO(printed.out)))
    assert [(r["language"], r["count"], r["question"], r["channels"]) for r in rows] == [
        ("ko", "2", EUROPA_KO, "C0KOREA C0SUPPORT"),
        ("en", "1", EUROPA_EN, "C0SUPPORT"),
        ("ja", "1", "木星の衛星エウロパの人口は？", "C0JAPAN"),
    ]
    assert rows and all(r["first_asked"].endswith("Z") for r in rows)

    out = tmp_path / "gaps.csv"
    assert await asyncio.to_thread(main, ["gaps", "--since", "1h", "--output", str(out)]) == 0
    assert "3 rows written" in capsys.readouterr().err
    assert out.read_text("utf-8") == printed.out
    assert await asyncio.to_thread(main, ["gaps", "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "language,count,question,channels,first_asked,last_asked"
    ]


async def test_feedback_export_is_csv_joined_with_the_rated_question(
    aws_env: Path,
    moto_server: MotoServer,
    state_table: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = dynamo(moto_server, state_table)
    await state.put("answer_record", "q1", {"question": LEAVE_EN, "answer_language": "en"})
    await state.append(
        "feedback",
        {"question_id": "q1", "language": "en", "route": "direct", "vote": "up", "user": "U1"},
    )
    await state.append(
        "feedback",
        {
            "question_id": "q2",
            "vote": "translation",
            "language": "ko",
            "route": "translated",
            "channel": "C1",
            "question": "=HYPERLINK(1)",
            "glossary_terms": ["PTO", "VPN"],
        },
    )
    monkeypatch.setenv("STATE_TABLE", state_table)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server.url)

    assert await asyncio.to_thread(main, ["feedback", "export"]) == 0

    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["question_id"], r["vote"], r["language"], r["question"]) for r in rows] == [
        ("q1", "up", "en", LEAVE_EN),
        ("q2", "translation", "ko", "'=HYPERLINK(1)"),  # never a formula in a spreadsheet
    ]
    assert rows[1]["glossary_terms"] == "PTO VPN" and rows[1]["channel"] == "C1"


async def test_reports_read_the_local_sqlite_file_without_a_state_table(
    settings: Settings,
    bedrock: FakeBedrock,
    aws_env: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = SqliteStateStore(path=settings.state_path).open()  # what `serve` opens by default
    pipeline = build(
        settings, observer=build_observer(settings, state, write=lambda _: None)
    ).pipeline
    bedrock.queue("nova-micro", translated(EUROPA_EN))
    stream = await pipeline.answer(Question(text=EUROPA_KO, user_id="U1", channel_id="C0KOREA"))
    async for _ in stream:
        pass
    await state.put("answer_record", "q1", {"question": LEAVE_EN, "answer_language": "en"})
    await state.append("feedback", {"question_id": "q1", "vote": "down", "language": "en"})

    assert await asyncio.to_thread(main, ["gaps"]) == 0
    printed = capsys.readouterr()
    assert "in-memory store" not in printed.err
    (gap,) = list(csv.DictReader(io.StringIO(printed.out)))
    assert (gap["language"], gap["question"], gap["channels"]) == ("ko", EUROPA_KO, "C0KOREA")
    assert await asyncio.to_thread(main, ["feedback", "export"]) == 0
    (vote,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (vote["vote"], vote["question"]) == ("down", LEAVE_EN)
    assert (aws_env / ".dualnova" / "state.db").is_file()
    state.close()


def test_reports_with_the_memory_backend_say_the_memory_store_is_empty(
    aws_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATE_BACKEND", "memory")
    assert main(["feedback", "export", "--since", "7d"]) == 0
    printed = capsys.readouterr()
    assert "STATE_BACKEND=memory" in printed.err
    assert printed.out.startswith("at,question_id,vote,")
    assert main(["gaps", "--since", "yesterday"]) == 2
    assert "expected 7d" in capsys.readouterr().err


async def test_a_gap_record_keeps_the_question_for_the_report_not_the_log(
    settings: Settings, bedrock: FakeBedrock, caplog: pytest.LogCaptureFixture
) -> None:
    state = MemoryStateStore()
    pipeline = build(
        settings, observer=build_observer(settings, state, write=lambda _: None)
    ).pipeline
    bedrock.queue("nova-micro", translated(EUROPA_EN))

    with caplog.at_level("INFO"):
        stream = await pipeline.answer(Question(text=EUROPA_KO, user_id="U1", channel_id="C1"))
        async for _ in stream:
            pass

    (gap,) = await state.list("gaps")
    assert gap["question"] == EUROPA_KO and gap["standalone_question"] == EUROPA_EN
    assert (gap["language"], gap["channel"]) == ("ko", "C1")
    assert "유로파" not in caplog.text
