"""Legacy encodings, spreadsheets, slides, HWP/HWPX, located chunks and grouped skip reasons."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from llama_index.core.node_parser import SentenceSplitter
from openpyxl import Workbook
from pptx import Presentation

from bot.cli import main
from bot.models import Citation
from bot.slack.render import sources_block
from examples.hwp_writer import cfb_file, hwp_file, hwpx_file
from retrieval import hwp, office
from retrieval.loaders import (
    CorruptFile,
    EmptyDocument,
    ProtectedDocument,
    UndecodableText,
    load_bytes,
)
from retrieval.loading import CHUNK_OVERLAP, CHUNK_SIZE, ROW_CHUNKS_MAX_ROWS, chunk
from retrieval.office import MAX_ROWS_PER_SHEET
from retrieval.report import IngestReport, group_skips, skip_cause
from retrieval.sources import Skipped, SourceObject

KO = "재택근무 정책\n\n직원은 주당 최대 3일까지 재택근무를 할 수 있습니다. 신청은 전날 오후 5시까지 팀장에게 합니다."
JA = "経費精算ガイド\n\n出張の交通費は翌月25日に振り込まれます。領収書は必ず添付してください。"
ZH = "上海办公室指南\n\n员工每月可报销交通费最多八百元人民币，需要在月底前提交发票。"
TW = "台北辦公室指南\n\n員工每月可報銷交通費最多八百元新台幣，需要在月底前提交發票。"
EN = "Café policy: the café on floor 3 serves crème brûlée every Friday — free for staff."


# --- encodings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "codec", "detected"),
    [
        (KO, "cp949", "cp949"),
        (KO, "euc_kr", "cp949"),
        (JA, "shift_jis", "cp932"),
        (JA, "cp932", "cp932"),
        (JA, "euc_jp", "euc_jis_2004"),
        (ZH, "gb18030", "gb18030"),
        (ZH, "gbk", "gb18030"),
        (TW, "big5", "big5"),
        (EN, "cp1252", "cp1252"),
        (EN + " " + KO, "utf-16-le", "utf-16-le"),
        ("有給休暇は20日です。", "shift_jis", "cp932"),
        ("年假是十五天。", "gb18030", "gb18030"),
        ("연차는 15일입니다.", "cp949", "cp949"),
        (
            "Straße, Größe: Mitarbeiter erhalten 30 Tage Urlaub. Öffnungszeiten 9–17 Uhr.",
            "cp1252",
            "cp1252",
        ),
        ("The “quick” brown fox — it’s only €5 at Müller’s café.", "cp1252", "cp1252"),
        (
            "Zażółć gęślą jaźń. Łódź i Kraków — ceny w zł. Przyjdź jutro o ósmej.",
            "cp1250",
            "cp1250",
        ),
        ("Отпуск составляет 28 календарных дней в году.", "cp1251", "cp1251"),
    ],
)
def test_legacy_encoded_text_is_decoded_and_its_encoding_recorded(
    text: str, codec: str, detected: str
) -> None:
    doc = load_bytes(text.encode(codec), "policy.txt")
    assert doc.text == text.replace("\r\n", "\n")
    assert doc.encoding == detected


def test_markdown_and_csv_go_through_detection_too() -> None:
    md = load_bytes(f"# 経費\n\n{JA}".encode("shift_jis"), "keihi.md")
    assert (md.title, md.encoding) == ("経費", "cp932")
    csv = load_bytes("도시,한도\n서울,220000\n".encode("cp949"), "limits.csv")
    assert csv.text == "도시: 서울\n한도: 220000"


def test_html_meta_charset_is_honoured_before_detection() -> None:
    page = f'<html><head><meta charset="shift_jis"><title>経費</title></head><p>{JA}</p>'
    doc = load_bytes(page.encode("shift_jis"), "keihi.html")
    assert (doc.title, doc.encoding) == ("経費", "cp932")
    assert "翌月25日" in doc.text


def test_a_wrong_utf8_declaration_falls_back_to_what_the_bytes_are() -> None:
    page = f'<meta charset="utf-8"><p>{KO}</p>'.encode("cp949")
    assert load_bytes(page, "remote.html").encoding == "cp949"


def test_utf8_sample_documents_record_utf8() -> None:
    assert load_bytes("연차 20일".encode(), "a.txt").encoding == "utf-8"


def test_an_office_file_named_txt_is_refused_with_what_it_is() -> None:
    with pytest.raises(UndecodableText, match=r"^not text: the file is a zip archive"):
        load_bytes(_xlsx([["a", "b"], ["1", "2"]]), "budget.txt")


def test_an_unclear_guess_is_refused_with_the_best_guess_named() -> None:
    # Valid CP949, but only Hangul syllables outside everyday use: no reading is believable.
    rare = [chr(c) for c in range(0xAC01, 0xB400) if len(chr(c).encode("euc_kr")) != 2]
    data = " ".join("".join(rare[i : i + 3]) for i in range(0, 90, 3)).encode("cp949")
    with pytest.raises(
        UndecodableText, match=r"^encoding unclear \(best guess \S+ at \d+% confidence\)"
    ):
        load_bytes(data, "odd.txt")


# --- xlsx ------------------------------------------------------------------------------


def _xlsx(rows: list[list[object]], *, hidden: list[list[object]] | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "Rates"
    for row in rows:
        sheet.append(row)
    if hidden is not None:
        secret = book.create_sheet("Scratch")
        for row in hidden:
            secret.append(row)
        secret.sheet_state = "hidden"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx_rows_keep_each_header_beside_its_value_with_their_row_number() -> None:
    doc = load_bytes(
        _xlsx([[], ["City", "Taxi limit", "Note"], ["Osaka", 5000, None], ["Nagoya", 4000, "x"]]),
        "rates.xlsx",
    )
    assert [(p.text, p.location) for p in doc.parts] == [
        ("City: Osaka | Taxi limit: 5000", "sheet Rates, row 3"),
        ("City: Nagoya | Taxi limit: 4000 | Note: x", "sheet Rates, row 4"),
    ]
    assert doc.format == "xlsx" and doc.title == "rates"


def test_xlsx_hidden_sheets_and_formula_text_are_not_indexed() -> None:
    data = _xlsx(
        [["Item", "Total"], ["Hotel", "=SUM(1,2)"]], hidden=[["Old limit"], ["secret 9000"]]
    )
    doc = load_bytes(data, "budget.xlsx")
    assert "secret" not in doc.text and "SUM" not in doc.text
    # A formula never calculated by a spreadsheet program has no value: the cell is empty.
    assert doc.text == "Item: Hotel"


def test_xlsx_past_the_row_cap_is_cut_with_a_note() -> None:
    rows: list[list[object]] = [["n"]] + [[i] for i in range(MAX_ROWS_PER_SHEET + 10)]
    doc = load_bytes(_xlsx(rows), "log.xlsx")
    assert len(doc.parts) == MAX_ROWS_PER_SHEET - 1
    assert doc.notes == (
        f"sheet too large: Rates has {MAX_ROWS_PER_SHEET + 11:,} rows; "
        f"the first {MAX_ROWS_PER_SHEET:,} were indexed",
    )


def test_a_csv_named_xlsx_is_refused_as_plain_text() -> None:
    with pytest.raises(CorruptFile, match=r"^not an XLSX file: it is plain text"):
        load_bytes(b"city,limit\nOsaka,5000\n", "rates.xlsx")


def test_an_encrypted_office_file_is_password_protected() -> None:
    data = cfb_file({"EncryptionInfo": b"\x04\x00" * 100, "EncryptedPackage": b"\x00" * 5000})
    with pytest.raises(ProtectedDocument, match=r"^password-protected"):
        load_bytes(data, "salaries.xlsx")


def test_an_empty_workbook_has_no_text() -> None:
    with pytest.raises(EmptyDocument):
        load_bytes(_xlsx([]), "empty.xlsx")


# --- pptx ------------------------------------------------------------------------------


def _pptx() -> bytes:
    deck = Presentation()
    for title, body, notes in [
        ("Welcome", "Hanbit Cloud onboarding", ""),
        ("Meeting rooms", "Book in RoomFinder", "Check in within 15 minutes"),
    ]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text_frame.text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.slides.add_slide(deck.slide_layouts[6])  # blank: no part
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def test_pptx_slides_keep_title_text_and_speaker_notes_with_their_number() -> None:
    doc = load_bytes(_pptx(), "onboarding.pptx")
    assert [(p.location, p.text) for p in doc.parts] == [
        ("slide 1", "Welcome\nHanbit Cloud onboarding"),
        ("slide 2", "Meeting rooms\nBook in RoomFinder\n(notes) Check in within 15 minutes"),
    ]
    assert doc.title == "Welcome"


def test_random_bytes_named_pptx_are_corrupt() -> None:
    with pytest.raises(CorruptFile, match=r"^could not read PPTX"):
        load_bytes(bytes(range(256)) * 8, "deck.pptx")


# --- hwp / hwpx ------------------------------------------------------------------------

HANGUL_BLOCKS = [
    "주차 안내",
    "방문객 주차는 2시간까지 무료입니다.",
    [["구분", "요금"], ["초과", "시간당 3,000원"]],
]


@pytest.mark.parametrize("compress", [True, False])
def test_hwp5_paragraphs_and_table_rows_are_read(compress: bool) -> None:
    blocks = [*HANGUL_BLOCKS, "표 다음 문단."]
    doc = load_bytes(hwp_file(blocks, flags=int(compress), compress=compress), "p.hwp")
    assert doc.title == "주차 안내"
    assert doc.text == (
        "주차 안내\n\n방문객 주차는 2시간까지 무료입니다.\n\n"
        "구분 | 요금\n초과 | 시간당 3,000원\n\n표 다음 문단."
    )


def test_hwp5_inline_controls_do_not_leak_into_the_text() -> None:
    tab, field = "\x09" + "\x00" * 6 + "\x09", "\x03" + "\x01" * 6 + "\x03"
    doc = load_bytes(hwp_file([f"이름{tab}홍길동{field}입니다"]), "c.hwp")
    assert doc.text == "이름 홍길동입니다"


def test_hwp5_long_section_outside_the_mini_stream_is_read() -> None:
    long = "가나다라 " * 2000
    assert load_bytes(hwp_file([long]), "long.hwp").text == long.strip()


@pytest.mark.parametrize(
    ("flags", "reason"),
    [(0b011, "password-protected: could not read HWP"), (0b101, "distribution-locked")],
)
def test_hwp5_password_and_distribution_locked_files_are_skipped(flags: int, reason: str) -> None:
    with pytest.raises(ProtectedDocument, match=reason):
        load_bytes(hwp_file(HANGUL_BLOCKS, flags=flags), "locked.hwp")


def test_hwpx_paragraphs_and_table_rows_are_read_with_the_package_title() -> None:
    doc = load_bytes(hwpx_file("주차 규정", HANGUL_BLOCKS), "p.hwpx")
    assert doc.title == "주차 규정"
    assert (
        doc.text
        == "주차 안내\n\n방문객 주차는 2시간까지 무료입니다.\n\n구분 | 요금\n초과 | 시간당 3,000원"
    )


def test_encrypted_hwpx_is_skipped_as_password_protected() -> None:
    with pytest.raises(ProtectedDocument):
        load_bytes(hwpx_file("x", HANGUL_BLOCKS, encrypted=True), "p.hwpx")


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (hwpx_file("x", ["a"]), "p.hwp", r"^not an HWP 5 file: it is a zip"),
        (hwp_file(["a"]), "p.hwpx", r"^not an HWPX file: it is an OLE file"),
        (b"HWP Document File V3.00 \x1a\x01\x02\x03" * 10, "old.hwp", r"HWP 3 and older"),
        (cfb_file({"FileHeader": b"nope" * 100}), "x.hwp", r"wrong signature"),
    ],
)
def test_mislabelled_hangul_files_get_a_clear_reason(data: bytes, name: str, reason: str) -> None:
    with pytest.raises(CorruptFile, match=reason):
        load_bytes(data, name)


# --- chunks carry their place ----------------------------------------------------------


def _chunks(data: bytes, name: str) -> list[tuple[str, str]]:
    obj = SourceObject(key=f"docs/{name}", name=name, size=len(data), fingerprint="f")
    splitter = SentenceSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    nodes = chunk(obj, load_bytes(data, name), splitter, lambda text: "en", "public")
    return [(str(n.metadata.get("location", "")), n.get_content()) for n in nodes]


def test_each_row_of_a_small_sheet_is_a_chunk_headed_by_the_sheet_name() -> None:
    chunks = _chunks(_xlsx([["City", "Taxi"], ["Osaka", 5000], ["Kobe", 4000]]), "r.xlsx")
    assert chunks == [
        ("sheet Rates, row 2", "Rates\nCity: Osaka | Taxi: 5000"),
        ("sheet Rates, row 3", "Rates\nCity: Kobe | Taxi: 4000"),
    ]


def test_rows_of_a_large_sheet_share_chunks_that_name_their_row_range() -> None:
    rows: list[list[object]] = [["n", "v"]] + [[i, "x"] for i in range(ROW_CHUNKS_MAX_ROWS + 50)]
    chunks = _chunks(_xlsx(rows), "big.xlsx")
    assert len(chunks) < ROW_CHUNKS_MAX_ROWS // 4
    assert chunks[0][0].startswith("sheet Rates, rows 2-")
    assert all(text.startswith("Rates\n") for _, text in chunks)


def test_slide_chunks_name_their_slide_and_text_chunks_name_nothing() -> None:
    assert [loc for loc, _ in _chunks(_pptx(), "d.pptx")] == ["slide 1", "slide 2"]
    assert [loc for loc, _ in _chunks(b"plain text", "t.txt")] == [""]


def test_chunk_metadata_records_the_detected_encoding() -> None:
    obj = SourceObject(key="docs/k.txt", name="k.txt", size=1, fingerprint="f")
    splitter = SentenceSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    nodes = chunk(obj, load_bytes(KO.encode("cp949"), "k.txt"), splitter, lambda t: "ko", "p")
    assert {n.metadata["encoding"] for n in nodes} == {"cp949"}


# --- skip summary ----------------------------------------------------------------------


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


# --- the acceptance, through the command line ----------------------------------

DOCS = Path(__file__).resolve().parents[1] / "examples" / "docs"
# sample file: (a question the offline demo answers from it, a fact it quotes, citation place)
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


@pytest.mark.parametrize(
    ("data", "name"),
    [(hwp_file(["가나다 " * 200]), "big.hwp"), (hwpx_file("t", ["가나다 " * 200]), "big.hwpx")],
)
def test_a_hangul_section_inflating_past_the_cap_is_refused(
    data: bytes, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hwp, "MAX_SECTION_BYTES", 500)  # a zip or deflate bomb, scaled down
    with pytest.raises(CorruptFile, match=r"is over 500 bytes$"):
        load_bytes(data, name)


def test_slack_sources_name_the_sheet_row_or_slide_after_the_file() -> None:
    cited = [
        Citation(
            number=1,
            title="宿泊上限",
            source="docs/rates.xlsx",
            score=1,
            location="sheet 宿泊上限, row 2",
        ),
        Citation(number=2, title="VPN", source="docs/vpn.md", score=1),
    ]
    block = sources_block(cited, "ja")
    assert block is not None
    lines = block["elements"][0]["text"].split("\n")[1:]
    assert lines == [
        "*[1]* 宿泊上限 — `docs/rates.xlsx` (sheet 宿泊上限, row 2)",
        "*[2]* VPN — `docs/vpn.md`",
    ]


def test_xlsx_caption_rows_above_the_header_stay_as_text() -> None:
    doc = load_bytes(
        _xlsx([["Taxi limits 2025"], [], ["City", "Limit"], ["Osaka", 5000]]), "caption.xlsx"
    )
    assert [(p.location, p.text) for p in doc.parts] == [
        ("sheet Rates, row 1", "Taxi limits 2025"),
        ("sheet Rates, row 4", "City: Osaka | Limit: 5000"),
    ]


@pytest.mark.parametrize("people", [1, 2, 10])
def test_a_one_column_sheet_is_headed_by_its_first_row(people: int) -> None:
    names = [f"Person {i}" for i in range(people)]
    doc = load_bytes(_xlsx([["Name"], *([n] for n in names)]), "names.xlsx")
    assert [p.text for p in doc.parts] == [f"Name: {n}" for n in names]
    assert [p.number for p in doc.parts] == list(range(2, people + 2))


def test_a_single_cell_sheet_is_its_text() -> None:
    assert load_bytes(_xlsx([["Only note"]]), "note.xlsx").text == "Only note"


def test_a_sheet_cut_at_its_cap_is_indexed_and_reported_among_the_skips(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(office, "MAX_ROWS_PER_SHEET", 10)
    folder = aws_env / "docs"
    folder.mkdir()
    (folder / "log.xlsx").write_bytes(_xlsx([["n", "event"]] + [[i, "login"] for i in range(30)]))
    monkeypatch.setenv("INDEX_URI", str(aws_env / "index"))

    assert main(["ingest", str(folder), "--offline", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == [f"{folder.as_posix()}/log.xlsx"]
    assert report["skipped_by_cause"] == [
        {"cause": "sheet too large", "count": 1, "examples": [f"{folder.as_posix()}/log.xlsx"]}
    ]
    assert report["chunks"] == 9  # rows 2-10, one chunk each
