"""Issue #17 end to end: every new kind indexed and answered offline with its place, and the
skips closing an ingest grouped by cause."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.cli import main
from examples.hwp_writer import hwp_file
from retrieval import office
from retrieval.report import IngestReport, group_skips, skip_cause
from retrieval.sources import Skipped
from tests.office_files import xlsx_file


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        ("unsupported file type .xls", "unsupported file type .xls"),
        ("too large (3,000 bytes > 1,000)", "too large"),
        ("could not read PDF: file is damaged", "could not read PDF"),
        (
            "encoding unclear (best guess cp1252 at 80% confidence); save it as UTF-8",
            "encoding unclear",
        ),
        ("password-protected: could not read HWP", "password-protected"),
    ],
)
def test_skip_cause_drops_the_per_file_detail(reason: str, cause: str) -> None:
    assert skip_cause(reason) == cause


def test_skips_are_grouped_by_cause_with_counts_and_three_examples() -> None:
    skipped = [Skipped(f"d/{i}.xls", "unsupported file type .xls") for i in range(5)]
    skipped += [Skipped("d/a.pdf", "password-protected: could not read PDF")]
    skipped += [Skipped("d/b.hwp", "password-protected: a distribution-locked HWP")]
    report = IngestReport(source="d", collection="public", skipped=skipped)
    assert report.skip_lines() == [
        "5 skipped: unsupported file type .xls (d/0.xls, d/1.xls, d/2.xls, …)",
        "2 skipped: password-protected (d/a.pdf, d/b.hwp)",
    ]
    assert report.to_json_dict()["skipped_by_cause"] == [
        {"cause": g.cause, "count": g.count, "examples": list(g.examples)}
        for g in group_skips(skipped)
    ]


DOCS = Path(__file__).resolve().parents[1] / "examples" / "docs"


NEW_SAMPLES = {
    "ja/business-trip-hotel-limits.xlsx": (
        "大阪の宿泊上限はいくらですか？",
        "都市: 大阪 | 宿泊上限（1泊）: 13,000",
        "sheet 宿泊上限, row 2",
    ),
    "ko/orientation-deck.pptx": (
        "회의실 예약 후 체크인은 몇 분 안에 해야 해요?",
        "15분 안에 체크인",
        "slide 2",
    ),
    "ko/family-event-leave.hwp": (
        "배우자 출산 경조사 휴가는 며칠이에요?",
        "배우자 출산 | 10일",
        "",
    ),
    "ko/document-security-levels.hwpx": (
        "대외비 문서를 외부에 보내려면 어떻게 해요?",
        "보안팀 승인 필요",
        "",
    ),
    "ko/shuttle-bus.txt": ("출근 셔틀은 몇 시에 출발해요?", "오전 8시 10분", ""),
    "ja/office-cafe.txt": ("社内カフェのコーヒーはいくらですか？", "1杯100円", ""),
    "zh/china-support-guide.txt": ("中国客户的客服热线是多少？", "四零零八二零零一九九", ""),
    "zh/taiwan-partner.txt": ("台灣經銷商的聯絡信箱是什麼？", "tw-partner@novadesk.example", ""),
}


def test_every_new_kind_is_indexed_and_answers_offline_with_its_place(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = aws_env / "docs"
    for relative in NEW_SAMPLES:
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DOCS / relative, folder / relative)
    monkeypatch.setenv("INDEX_URI", str(aws_env / "index"))

    assert main(["ingest", str(folder), "--offline", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["skipped"] == [] and len(report["added"]) == len(NEW_SAMPLES)

    for relative, (question, fact, place) in NEW_SAMPLES.items():
        assert main(["ask", question, "--offline", "--json"]) == 0
        answer = json.loads(capsys.readouterr().out)
        first = answer["citations"][0]
        assert first["source"] == f"{folder.as_posix()}/{relative}", question
        assert first.get("location", "") == place
        assert fact in answer["answer"]


def test_cli_ingest_ends_with_the_skips_grouped_by_cause(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = aws_env / "docs"
    folder.mkdir()
    (folder / "ok.md").write_text("# OK\n\nThe cafeteria opens at 8.", "utf-8")
    for name in ("a.xls", "b.xls", "c.xls", "d.xls"):
        (folder / name).write_bytes(b"\xd0\xcf\x11\xe0")
    (folder / "locked.hwp").write_bytes(hwp_file(["비밀"], flags=0b11))
    monkeypatch.setenv("INDEX_URI", str(aws_env / "index"))

    assert main(["ingest", str(folder), "--offline"]) == 0
    out = capsys.readouterr().out.rstrip().split("\n")
    base = folder.as_posix()
    assert out[-3:] == [
        "Skipped, by cause:",
        f"  4 skipped: unsupported file type .xls ({base}/a.xls, {base}/b.xls, {base}/c.xls, …)",
        f"  1 skipped: password-protected ({base}/locked.hwp)",
    ]


def test_a_sheet_cut_at_its_cap_is_indexed_and_reported_among_the_skips(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(office, "MAX_ROWS_PER_SHEET", 10)
    folder = aws_env / "docs"
    folder.mkdir()
    (folder / "log.xlsx").write_bytes(
        xlsx_file([["n", "event"]] + [[i, "login"] for i in range(30)])
    )
    monkeypatch.setenv("INDEX_URI", str(aws_env / "index"))

    assert main(["ingest", str(folder), "--offline", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == [f"{folder.as_posix()}/log.xlsx"]
    assert report["skipped_by_cause"] == [
        {"cause": "sheet too large", "count": 1, "examples": [f"{folder.as_posix()}/log.xlsx"]}
    ]
    assert report["chunks"] == 9  # rows 2-10, one chunk each
