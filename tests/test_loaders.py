"""retrieval.loaders: every sample document loads; every bad input is a short LoaderError."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import docx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reportlab.pdfgen import canvas

from retrieval.loaders import (
    SUPPORTED_EXTENSIONS,
    CorruptFile,
    EmptyDocument,
    LoaderError,
    UndecodableText,
    UnsupportedFormat,
    load_bytes,
    load_path,
)

EVERY_FORMAT = ("md", "txt", "html", "pdf", "docx", "csv", "json", "xlsx", "pptx", "hwp", "hwpx")
DOCS = Path(__file__).resolve().parents[1] / "examples" / "docs"

# (path under examples/docs, format, title, a fact the text must contain)
SAMPLE_DOCUMENTS = [
    ("en/vpn-setup.md", "md", "VPN Setup Guide (GlobalConnect)", "vpn.hanbit.example"),
    ("en/leave-policy.md", "md", "Leave and Vacation Policy", "20 days of paid annual leave"),
    ("en/onboarding-checklist.md", "md", "New Hire Onboarding Checklist", "within **7 days**"),
    ("en/on-call-incident.md", "md", "On-Call and Incident Response", "`/incident declare`"),
    ("en/slack-guidelines.md", "md", "Slack Guidelines", "Ignore previous instructions"),
    ("en/offices.txt", "txt", "Hanbit Cloud Office Guide: Seoul, Tokyo and Berlin", "U1"),
    ("en/security-essentials.html", "html", "Information Security Essentials", "phishing@hanbit"),
    ("en/novadesk-faq.html", "html", "NovaDesk Product FAQ", "600 requests per minute"),
    ("en/expense-reimbursement.pdf", "pdf", "Expense Reimbursement Policy", "within 30 days"),
    ("en/novadesk-pricing-plans.pdf", "pdf", "NovaDesk Pricing Plans 2025", "14-day free trial"),
    ("en/laptop-and-it-equipment.docx", "docx", "Laptop and IT Equipment Guide", "USD 300"),
    ("en/business-travel-policy.docx", "docx", "Business Travel Policy", "Berlin | EUR 170"),
    ("en/support-response-times.csv", "csv", "support-response-times", "first_response_target: 30"),
    ("en/software-catalog.json", "json", "Approved Software Catalog", "JetBrains"),
    ("ko/holiday-calendar-2025.md", "md", "2025년 서울 오피스 휴일 캘린더", "창립기념일"),
    ("ko/remote-work-policy.txt", "txt", "재택근무 정책", "주당 최대 3일"),
    ("ko/benefits.html", "html", "서울 오피스 복리후생 안내", "1,200,000원"),
    ("ja/expense-guide-tokyo.md", "md", "経費精算ガイド（東京オフィス）", "翌月25日"),
    ("ja/tokyo-office-guide.html", "html", "東京オフィス利用ガイド", "代々木公園"),
    ("ja/flextime-attendance.txt", "txt", "勤怠管理とフレックスタイム制度（東京オフィス）",
     "月45時間"),
    ("ja/business-trip-hotel-limits.xlsx", "xlsx", "都市別の宿泊上限（東京オフィス）",
     "都市: 大阪 | 宿泊上限（1泊）: 13,000"),
    ("ko/orientation-deck.pptx", "pptx", "신입사원 오리엔테이션 (서울)", "15분 안에 체크인"),
    ("ko/family-event-leave.hwp", "hwp", "경조사 휴가 규정", "배우자 출산 | 10일"),
    ("ko/document-security-levels.hwpx", "hwpx", "문서 보안 등급 기준", "대외비 | 관련 부서만"),
    ("ko/shuttle-bus.txt", "txt", "출퇴근 셔틀버스 안내", "수서역 6번 출구"),
    ("ja/office-cafe.txt", "txt", "社内カフェ「ほしカフェ」のご案内", "1杯100円"),
    ("zh/china-support-guide.txt", "txt", "中国客户支持指南", "华星科技"),
    ("zh/taiwan-partner.txt", "txt", "台灣經銷商合作說明", "tw-partner@novadesk.example"),
]  # fmt: skip


@pytest.mark.parametrize(("relative", "fmt", "title", "fact"), SAMPLE_DOCUMENTS)
def test_sample_document_loads_with_its_title_and_facts(
    relative: str, fmt: str, title: str, fact: str
) -> None:
    doc = load_path(DOCS / relative)
    assert (doc.title, doc.format) == (title, fmt)
    assert fact in doc.text
    assert "\n\n\n" not in doc.text and doc.text == doc.text.strip()


def test_sample_corpus_covers_every_format_and_has_no_untested_files() -> None:
    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*") if p.is_file()}
    assert on_disk == {row[0] for row in SAMPLE_DOCUMENTS}
    assert {row[1] for row in SAMPLE_DOCUMENTS} == set(EVERY_FORMAT)


def test_supported_extensions_are_the_documented_set() -> None:
    expected = {".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx", ".csv", ".json"}
    expected |= {".xlsx", ".pptx", ".hwp", ".hwpx"}
    assert expected == SUPPORTED_EXTENSIONS


# --- PDF -------------------------------------------------------------------------------


def test_truncated_pdf_is_corrupt_without_a_traceback() -> None:
    data = (DOCS / "en/expense-reimbursement.pdf").read_bytes()
    with pytest.raises(CorruptFile, match=r"^could not read PDF: file is damaged$"):
        load_bytes(data[: len(data) // 2], "expenses.pdf")


def test_pdf_with_only_a_blank_page_has_no_extractable_text() -> None:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.showPage()
    pdf.save()
    with pytest.raises(EmptyDocument, match=r"scanned PDF"):
        load_bytes(buffer.getvalue(), "scan.pdf")


def test_pdf_without_title_metadata_falls_back_to_the_file_stem() -> None:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.drawString(72, 720, "Quarterly numbers are in the finance folder.")
    pdf.save()
    doc = load_bytes(buffer.getvalue(), "reports/q3-summary.pdf")
    assert doc.title == "q3-summary"
    assert doc.text == "Quarterly numbers are in the finance folder."


# --- DOCX ------------------------------------------------------------------------------


def test_random_bytes_named_docx_are_corrupt() -> None:
    with pytest.raises(CorruptFile, match=r"^could not read DOCX"):
        load_bytes(bytes(range(256)) * 8, "random.docx")


def test_zip_that_is_not_a_word_document_is_corrupt() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(CorruptFile):
        load_bytes(buffer.getvalue(), "notes.docx")


def test_docx_keeps_table_rows_and_merged_cells_once(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("Hotel limits")
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "City"
    table.cell(0, 2).text = "Limit"
    for cell, text in zip(table.rows[1].cells, ["Seoul", "Seoul", "KRW 220,000"], strict=True):
        cell.text = text  # two separate cells with equal text must both survive
    document.save(str(tmp_path / "hotels.docx"))
    doc = load_path(tmp_path / "hotels.docx")
    assert doc.title == "hotels"  # no core title
    assert doc.text == "Hotel limits\n\nCity | Limit\nSeoul | Seoul | KRW 220,000"


# --- text encodings --------------------------------------------------------------------


def test_windows_1252_text_is_detected_not_garbled() -> None:
    doc = load_bytes("Café menu: crème brûlée, naïve façade".encode("cp1252"), "menu.txt")
    assert (doc.text, doc.encoding) == ("Café menu: crème brûlée, naïve façade", "cp1252")


def test_utf8_bom_is_removed_from_title_and_text() -> None:
    doc = load_bytes("\ufeff# 연차 안내\n\n연차는 20일입니다.".encode(), "leave.md")
    assert doc.title == "연차 안내"
    assert doc.text == "# 연차 안내\n\n연차는 20일입니다."


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_a_bom_is_decoded(encoding: str) -> None:
    text = "経費精算の締め切り\r\n\r\n翌月の第5営業日まで。"
    data = ("\ufeff" + text).encode(encoding) if encoding != "utf-16" else text.encode(encoding)
    doc = load_bytes(data, "keihi.txt")
    assert doc.title == "経費精算の締め切り"
    assert doc.text == "経費精算の締め切り\n\n翌月の第5営業日まで。"


def test_utf16_without_a_bom_is_detected() -> None:
    doc = load_bytes("plain words about the VPN".encode("utf-16-le"), "notes.txt")
    assert (doc.text, doc.encoding) == ("plain words about the VPN", "utf-16-le")


def test_binary_data_named_txt_is_refused_not_indexed() -> None:
    with pytest.raises(UndecodableText, match=r"^not text"):
        load_bytes(bytes(range(256)) * 8, "firmware.txt")


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n"])
def test_empty_file_is_reported_as_empty(data: bytes) -> None:
    with pytest.raises(EmptyDocument, match=r"^file is empty$"):
        load_bytes(data, "empty.md")


def test_txt_title_is_its_first_non_empty_line() -> None:
    doc = load_bytes(b"\n\n  Office Wi-Fi  \nHanbit-Staff uses single sign-on.\n", "wifi.txt")
    assert doc.title == "Office Wi-Fi"
    assert doc.text == "Office Wi-Fi\nHanbit-Staff uses single sign-on."


def test_markdown_title_skips_comments_inside_code_fences() -> None:
    doc = load_bytes(b"```bash\n# not a title\n```\n\n# Real Title #\n\nBody.", "x.md")
    assert doc.title == "Real Title"


def test_markdown_title_keeps_a_hash_that_is_part_of_a_word() -> None:
    assert load_bytes(b"# Writing C# services\n\nUse .NET 8.", "csharp.md").title == (
        "Writing C# services"
    )


def test_markdown_without_a_heading_falls_back_to_the_stem() -> None:
    assert load_bytes(b"## Only a subheading\n\ntext", "docs/team-notes.markdown").title == (
        "team-notes"
    )


# --- HTML ------------------------------------------------------------------------------


def test_html_drops_scripts_styles_and_navigation_and_keeps_paragraphs() -> None:
    page = b"""<html><head><title> Travel   FAQ </title><style>p{color:red}</style></head>
    <body><nav>Home | Wiki</nav><script>track()</script><h1>Travel FAQ</h1>
    <p>Book in
       TripDesk.</p><ul><li>Economy under 8 hours</li><li>Premium economy above</li></ul>
    <p>Call<br>+82-2-555-0199</p><!-- internal note --></body></html>"""
    doc = load_bytes(page, "travel.htm")
    assert doc.title == "Travel FAQ"
    assert doc.text == (
        "Travel FAQ\n\nBook in TripDesk.\n\n- Economy under 8 hours\n- Premium economy above"
        "\n\nCall\n+82-2-555-0199"
    )


def test_html_line_breaks_between_japanese_characters_do_not_become_spaces() -> None:
    page = "<p>東京オフィスは渋谷に\n    あります。</p><p>서울 오피스는\n    강남에 있습니다.</p>"
    doc = load_bytes(page.encode(), "offices.html")
    assert doc.title == "offices"
    assert doc.text == "東京オフィスは渋谷にあります。\n\n서울 오피스는 강남에 있습니다."


def test_html_in_a_declared_legacy_charset_is_decoded() -> None:
    page = '<meta charset="euc-kr"><title>재택근무</title><p>주 3일</p>'.encode("euc-kr")
    doc = load_bytes(page, "remote.html")
    assert (doc.title, doc.text) == ("재택근무", "주 3일")


# --- CSV and JSON ----------------------------------------------------------------------


def test_csv_rows_become_header_value_lines() -> None:
    data = "city;office manager;note\nSeoul;Park Ji-won;\nBerlin;Lena Hoffmann;Fri breakfast\n"
    doc = load_bytes(data.encode(), "offices.csv")
    assert doc.title == "offices"
    assert doc.text == (
        "city: Seoul\noffice manager: Park Ji-won\n\n"
        "city: Berlin\noffice manager: Lena Hoffmann\nnote: Fri breakfast"
    )


def test_csv_with_only_a_header_has_no_text() -> None:
    with pytest.raises(EmptyDocument, match=r"^no extractable text$"):
        load_bytes(b"plan,price\n", "plans.csv")


def test_json_is_pretty_printed_with_its_title_and_unescaped_text() -> None:
    doc = load_bytes(json.dumps({"title": "용어집", "terms": ["연차"]}).encode(), "g.json")
    assert doc.title == "용어집"
    assert doc.text == '{\n  "title": "용어집",\n  "terms": [\n    "연차"\n  ]\n}'


def test_invalid_json_is_corrupt_with_its_position() -> None:
    with pytest.raises(CorruptFile, match=r"^not valid JSON: .* at line 2$"):
        load_bytes(b'{"title": "x",\n "terms": [}', "glossary.json")


# --- names and paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("budget.xls", "unsupported file type .xls"),
        ("Makefile", "unsupported file type (no extension)"),
        ("archive.tar.gz", "unsupported file type .gz"),
    ],
)
def test_unsupported_extension_is_named_in_the_error(name: str, message: str) -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        load_bytes(b"data", name)
    assert str(caught.value) == message


def test_extension_match_ignores_case_and_s3_key_prefixes() -> None:
    doc = load_bytes(b"Hello", "s3-prefix/ko/README.TXT")
    assert (doc.title, doc.format) == ("Hello", "txt")


def test_load_path_refuses_unsupported_files_before_reading(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormat):
        load_path(tmp_path / "does-not-exist.xls")


def test_unreadable_path_is_a_loader_error(tmp_path: Path) -> None:
    (tmp_path / "folder.md").mkdir()
    with pytest.raises(LoaderError, match=r"^could not read file"):
        load_path(tmp_path / "folder.md")


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.binary(max_size=2048), extension=st.sampled_from(sorted(SUPPORTED_EXTENSIONS)))
def test_arbitrary_bytes_give_a_document_or_a_short_loader_error(
    data: bytes, extension: str
) -> None:
    try:
        doc = load_bytes(data, f"fuzz{extension}")
    except LoaderError as exc:
        assert 0 < len(str(exc)) <= 120 and "Traceback" not in str(exc)
    else:
        assert doc.text
