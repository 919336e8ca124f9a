"""retrieval.office: spreadsheet rows and slides as located parts, and the chunks and citations
that keep their place."""

from __future__ import annotations

import io
import zipfile

import pytest
from llama_index.core.node_parser import SentenceSplitter

from bot.slack.render import sources_block
from examples.hwp_writer import cfb_file
from kernel.models import Citation
from retrieval import office
from retrieval.loaders import CorruptFile, EmptyDocument, ProtectedDocument, load_bytes
from retrieval.loading import CHUNK_OVERLAP, CHUNK_SIZE, ROW_CHUNKS_MAX_ROWS, chunk
from retrieval.office import MAX_ROWS_PER_SHEET
from retrieval.sources import SourceObject
from tests.office_files import pptx_file, xlsx_file


def test_xlsx_rows_keep_each_header_beside_its_value_with_their_row_number() -> None:
    doc = load_bytes(
        xlsx_file(
            [[], ["City", "Taxi limit", "Note"], ["Osaka", 5000, None], ["Nagoya", 4000, "x"]]
        ),
        "rates.xlsx",
    )
    assert [(p.text, p.location) for p in doc.parts] == [
        ("City: Osaka | Taxi limit: 5000", "sheet Rates, row 3"),
        ("City: Nagoya | Taxi limit: 4000 | Note: x", "sheet Rates, row 4"),
    ]
    assert doc.format == "xlsx" and doc.title == "rates"


def test_xlsx_hidden_sheets_and_formula_text_are_not_indexed() -> None:
    data = xlsx_file(
        [["Item", "Total"], ["Hotel", "=SUM(1,2)"]], hidden=[["Old limit"], ["secret 9000"]]
    )
    doc = load_bytes(data, "budget.xlsx")
    assert "secret" not in doc.text and "SUM" not in doc.text
    # A formula never calculated by a spreadsheet program has no value: the cell is empty.
    assert doc.text == "Item: Hotel"


def test_xlsx_caption_rows_above_the_header_stay_as_text() -> None:
    doc = load_bytes(
        xlsx_file([["Taxi limits 2025"], [], ["City", "Limit"], ["Osaka", 5000]]), "caption.xlsx"
    )
    assert [(p.location, p.text) for p in doc.parts] == [
        ("sheet Rates, row 1", "Taxi limits 2025"),
        ("sheet Rates, row 4", "City: Osaka | Limit: 5000"),
    ]


@pytest.mark.parametrize("people", [1, 2, 10])
def test_a_one_column_sheet_is_headed_by_its_first_row(people: int) -> None:
    names = [f"Person {i}" for i in range(people)]
    doc = load_bytes(xlsx_file([["Name"], *([n] for n in names)]), "names.xlsx")
    assert [p.text for p in doc.parts] == [f"Name: {n}" for n in names]
    assert [p.number for p in doc.parts] == list(range(2, people + 2))


def test_a_single_cell_sheet_is_its_text() -> None:
    assert load_bytes(xlsx_file([["Only note"]]), "note.xlsx").text == "Only note"


def test_xlsx_past_the_row_cap_is_cut_with_a_note() -> None:
    rows: list[list[object]] = [["n"]] + [[i] for i in range(MAX_ROWS_PER_SHEET + 10)]
    doc = load_bytes(xlsx_file(rows), "log.xlsx")
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
        load_bytes(xlsx_file([]), "empty.xlsx")


def test_pptx_slides_keep_title_text_and_speaker_notes_with_their_number() -> None:
    doc = load_bytes(pptx_file(), "onboarding.pptx")
    assert [(p.location, p.text) for p in doc.parts] == [
        ("slide 1", "Welcome\nHanbit Cloud onboarding"),
        ("slide 2", "Meeting rooms\nBook in RoomFinder\n(notes) Check in within 15 minutes"),
    ]
    assert doc.title == "Welcome"


def test_random_bytes_named_pptx_are_corrupt() -> None:
    with pytest.raises(CorruptFile, match=r"^could not read PPTX"):
        load_bytes(bytes(range(256)) * 8, "deck.pptx")


def _chunks(data: bytes, name: str) -> list[tuple[str, str]]:
    obj = SourceObject(key=f"docs/{name}", name=name, size=len(data), fingerprint="f")
    splitter = SentenceSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    nodes = chunk(obj, load_bytes(data, name), splitter, lambda text: "en", "public")
    return [(str(n.metadata.get("location", "")), n.get_content()) for n in nodes]


def test_each_row_of_a_small_sheet_is_a_chunk_headed_by_the_sheet_name() -> None:
    chunks = _chunks(xlsx_file([["City", "Taxi"], ["Osaka", 5000], ["Kobe", 4000]]), "r.xlsx")
    assert chunks == [
        ("sheet Rates, row 2", "Rates\nCity: Osaka | Taxi: 5000"),
        ("sheet Rates, row 3", "Rates\nCity: Kobe | Taxi: 4000"),
    ]


def test_rows_of_a_large_sheet_share_chunks_that_name_their_row_range() -> None:
    rows: list[list[object]] = [["n", "v"]] + [[i, "x"] for i in range(ROW_CHUNKS_MAX_ROWS + 50)]
    chunks = _chunks(xlsx_file(rows), "big.xlsx")
    assert len(chunks) < ROW_CHUNKS_MAX_ROWS // 4
    assert chunks[0][0].startswith("sheet Rates, rows 2-")
    assert chunks and all(text.startswith("Rates\n") for _, text in chunks)


def test_slide_chunks_name_their_slide_and_text_chunks_name_nothing() -> None:
    assert [loc for loc, _ in _chunks(pptx_file(), "d.pptx")] == ["slide 1", "slide 2"]
    assert [loc for loc, _ in _chunks(b"plain text", "t.txt")] == [""]


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


def _bomb(name: str, member: str, size: int) -> bytes:
    """An Office package whose one part is `size` zero bytes: ~1,000:1 when deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        package.writestr(member, b"\0" * size)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "member"),
    [("deck.pptx", "ppt/slides/slide1.xml"), ("rates.xlsx", "xl/worksheets/sheet1.xml")],
)
def test_an_office_zip_bomb_is_refused_before_it_is_unpacked(
    name: str, member: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(office, "MAX_PART_BYTES", 1_000_000)
    data = _bomb(name, member, 2_000_000)
    assert len(data) < 10_000
    kind = name.rsplit(".", 1)[1].upper()
    with pytest.raises(CorruptFile, match=rf"^could not read {kind}: its part {member} unpacks"):
        load_bytes(data, name)


def test_a_docx_bomb_is_refused_by_its_total_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(office, "MAX_PACKAGE_BYTES", 1_500_000)
    data = _bomb("notes.docx", "word/document.xml", 2_000_000)
    with pytest.raises(
        CorruptFile, match=r"^could not read DOCX: it unpacks to 2,000,008 bytes, over the limit"
    ):
        load_bytes(data, "notes.docx")


def test_a_real_office_file_is_far_below_the_unpack_limits() -> None:
    for data in (xlsx_file([["City", "Limit"], ["Osaka", 5000]]), pptx_file()):
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            total = sum(info.file_size for info in package.infolist())
        assert 0 < total < office.MAX_PACKAGE_BYTES // 1000
