"""Write the binary documents of the sample corpus into examples/docs/: PDF and DOCX, the
spreadsheet, slide deck and Hangul (HWP, HWPX) files, and the texts in legacy encodings.

The generated files are committed; run this again only after editing the text below:

    .venv/bin/python examples/make_binary_docs.py

Output is byte-for-byte reproducible (fixed dates, invariant PDF ids, fixed zip
timestamps), so re-running without edits leaves `git status` clean.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from docx import Document
from hwp_writer import hwp_file, hwpx_file  # type: ignore[import-not-found]
from openpyxl import Workbook
from pptx import Presentation
from pptx.util import Inches, Pt
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

DOCS_DIR = Path(__file__).resolve().parent / "docs"
FIXED_TIME = dt.datetime(2025, 3, 1, 9, 0, 0, tzinfo=dt.UTC)
AUTHOR = "Hanbit Cloud"


@dataclass(frozen=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...] = ()
    bullets: tuple[str, ...] = ()
    table: tuple[tuple[str, ...], ...] = ()  # first row is the header


@dataclass(frozen=True)
class BinaryDoc:
    path: str  # relative to examples/docs
    title: str
    subject: str
    intro: str
    sections: tuple[Section, ...] = field(default_factory=tuple)


EXPENSES = BinaryDoc(
    path="en/expense-reimbursement.pdf",
    title="Expense Reimbursement Policy",
    subject="How to claim back money you spent for Hanbit Cloud",
    intro=(
        "This policy explains which business expenses Hanbit Cloud pays back, how to claim "
        "them and when you are paid. It applies to employees in all offices. Tokyo staff "
        "also follow the Japanese expense guide for local tax rules."
    ),
    sections=(
        Section(
            "How to claim",
            paragraphs=(
                "Submit every claim in Spendly, on the web or in the mobile app. Expense claims "
                "must be filed within 30 days of the purchase; late claims are only paid with "
                "a written exception from the finance director.",
                "A receipt is required for every item over USD 25 (or the same amount in KRW, "
                "JPY or EUR). Take a photo of the receipt in the Spendly app; you do not need "
                "to keep the paper.",
            ),
        ),
        Section(
            "Approval",
            bullets=(
                "Your manager approves every claim in Spendly.",
                "Claims over USD 1,000 also need approval from the finance director.",
                "Finance checks claims every Tuesday and may ask questions in #help-finance.",
            ),
        ),
        Section(
            "When you are paid",
            paragraphs=(
                "Approved claims are paid with the next monthly payroll. Claims approved by the "
                "20th of the month are paid at the end of the same month; claims approved later "
                "are paid the following month. Claims are paid in the currency of your payroll.",
            ),
        ),
        Section(
            "Common expense types",
            table=(
                ("Expense", "Limit", "Notes"),
                ("Client dinner", "USD 80 per person", "List all attendees and companies"),
                ("Team lunch", "USD 25 per person", "Once per quarter, team budget"),
                ("Learning budget", "USD 1,200 per year", "Books, courses, conferences"),
                ("Mobile phone", "USD 40 per month", "Only for on-call engineers"),
                ("Taxi", "No fixed limit", "After 22:00 or with heavy equipment"),
            ),
        ),
        Section(
            "Not reimbursed",
            bullets=(
                "Alcohol, unless a client is present.",
                "Traffic and parking fines.",
                "Flight upgrades paid for yourself.",
                "Personal subscriptions, even if you sometimes use them for work.",
            ),
        ),
        Section(
            "Questions",
            paragraphs=(
                "Ask the finance team in #help-finance on Slack or e-mail finance@hanbit.example.",
            ),
        ),
    ),
)

PRICING = BinaryDoc(
    path="en/novadesk-pricing-plans.pdf",
    title="NovaDesk Pricing Plans 2025",
    subject="List prices and discounts for NovaDesk",
    intro=(
        "These are the public list prices for NovaDesk from 1 January 2025. Prices are per "
        "agent (a person who answers tickets); end customers who open tickets are free."
    ),
    sections=(
        Section(
            "Plans",
            table=(
                ("Plan", "Price per agent per month", "Highlights"),
                ("Starter", "USD 12", "Up to 5 agents, e-mail ticketing, one knowledge base"),
                ("Team", "USD 29", "Single sign-on, Slack integration, automations"),
                ("Enterprise", "from USD 59", "99.9% SLA, data residency, audit logs, CSM"),
            ),
        ),
        Section(
            "Discounts",
            bullets=(
                "Annual billing: 15% off the monthly price.",
                "Non-profit organisations and schools: 40% off any plan.",
                "Startups younger than two years: Team plan at the Starter price for 12 months.",
            ),
        ),
        Section(
            "Free trial",
            paragraphs=(
                "Every new workspace starts with a 14-day free trial of the Team plan. No "
                "credit card is needed. At the end of the trial the workspace becomes "
                "read-only until a plan is chosen.",
            ),
        ),
        Section(
            "Enterprise terms",
            paragraphs=(
                "Enterprise requires a minimum of 25 agents and an annual contract. It includes "
                "a named customer success manager, SCIM provisioning and the choice of the "
                "Seoul or Frankfurt data region.",
            ),
        ),
        Section(
            "Currencies and tax",
            paragraphs=(
                "Prices are shown in USD and exclude VAT and other sales taxes. Customers in "
                "Korea and Japan can be invoiced in KRW or JPY at the rate fixed each January. "
                "Sales questions go to sales@novadesk.example.",
            ),
        ),
    ),
)

EQUIPMENT = BinaryDoc(
    path="en/laptop-and-it-equipment.docx",
    title="Laptop and IT Equipment Guide",
    subject="Which laptop you get, how to order accessories and what to do if it is lost",
    intro=(
        "Every employee gets a company laptop on their first day. This guide explains the "
        "choices, the accessory budget and the rules for keeping devices safe."
    ),
    sections=(
        Section(
            "Laptop models",
            paragraphs=("Choose one of these standard models before your start date:",),
            table=(
                ("Model", "Specification", "Operating system"),
                ("MacBook Pro 14-inch", "M3 Pro, 36 GB memory, 1 TB", "macOS"),
                ("Lenovo ThinkPad X1 Carbon Gen 12", "32 GB memory, 1 TB", "Windows 11 or Ubuntu"),
            ),
        ),
        Section(
            "Refresh and accessories",
            bullets=(
                "Laptops are replaced every 3 years, or earlier if they fail.",
                "You have an accessory budget of USD 300 every 2 years for a monitor, keyboard, "
                "mouse or headset.",
                "Order laptops and accessories in the IT Store at it.hanbit.example/store; "
                "delivery takes about 5 working days.",
            ),
        ),
        Section(
            "Keeping devices safe",
            bullets=(
                "All laptops are managed by Fleetwise and use full-disk encryption "
                "(FileVault or BitLocker).",
                "Do not remove Fleetwise or turn off encryption.",
                "You may read Slack and e-mail on your own phone only with the Fleetwise "
                "work profile installed.",
            ),
        ),
        Section(
            "Lost or stolen devices",
            paragraphs=(
                "Report a lost or stolen laptop or phone within 24 hours in #it-helpdesk on "
                "Slack and to the security team in #security-alerts. IT will lock and wipe the "
                "device remotely. A police report is needed for stolen devices.",
            ),
        ),
        Section(
            "Leaving Hanbit Cloud",
            paragraphs=(
                "Return your laptop and accessories on your last working day. In Seoul bring "
                "them to the IT desk on the 12th floor; in Tokyo and Berlin give them to the "
                "office manager. Remote staff receive a prepaid box.",
            ),
        ),
    ),
)

TRAVEL = BinaryDoc(
    path="en/business-travel-policy.docx",
    title="Business Travel Policy",
    subject="Booking, class of travel, hotels and per diems",
    intro=(
        "This policy covers travel for Hanbit Cloud business: customer visits, conferences "
        "and trips between the Seoul, Tokyo and Berlin offices."
    ),
    sections=(
        Section(
            "Booking",
            bullets=(
                "Book flights, trains and hotels in TripDesk.",
                "Book flights at least 14 days before departure; later bookings need your "
                "director's approval.",
                "Your manager approves the trip in TripDesk before anything is booked.",
            ),
        ),
        Section(
            "Class of travel",
            bullets=(
                "Flights under 8 hours: economy class.",
                "Flights of 8 hours or more: premium economy.",
                "Business class only with approval from a vice president.",
                "Trains: KTX and Shinkansen standard class; Deutsche Bahn 2nd class, or 1st "
                "class for journeys over 4 hours.",
            ),
        ),
        Section(
            "Hotels",
            paragraphs=("Book hotels under these nightly limits, taxes included:",),
            table=(
                ("City", "Nightly limit"),
                ("Seoul", "KRW 220,000"),
                ("Tokyo", "JPY 25,000"),
                ("Berlin", "EUR 170"),
                ("Any other city", "USD 200"),
            ),
        ),
        Section(
            "Per diem",
            paragraphs=(
                "You receive a meal per diem of USD 60 per travel day. No receipts are needed "
                "for meals covered by the per diem. Claim the per diem and other travel "
                "costs in Spendly after the trip, following the Expense Reimbursement Policy.",
            ),
        ),
        Section(
            "Insurance and emergencies",
            paragraphs=(
                "Every business trip is insured automatically by Hanbit TravelCare. In an "
                "emergency call the 24-hour assistance line +82-2-555-0199 and tell your "
                "manager.",
            ),
        ),
    ),
)

DOCS: tuple[BinaryDoc, ...] = (EXPENSES, PRICING, EQUIPMENT, TRAVEL)


def render_pdf(doc: BinaryDoc) -> bytes:
    """Render a document as a text PDF whose /Title is the document title."""
    rl_config.invariant = 1  # fixed document id and dates: reproducible bytes
    styles = getSampleStyleSheet()
    story: list[Flowable] = [Paragraph(escape(doc.title), styles["Title"])]
    story.append(Paragraph(escape(doc.intro), styles["BodyText"]))
    for section in doc.sections:
        story.append(Paragraph(escape(section.heading), styles["Heading2"]))
        story.extend(Paragraph(escape(p), styles["BodyText"]) for p in section.paragraphs)
        story.extend(
            Paragraph(escape(b), styles["BodyText"], bulletText="-") for b in section.bullets
        )
        if section.table:
            table = Table([list(row) for row in section.table], hAlign="LEFT")
            table.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                        ("FONTSIZE", (0, 0), (-1, -1), 9),
                    ]
                )
            )
            story.extend([Spacer(1, 2 * mm), table, Spacer(1, 2 * mm)])
    buffer = io.BytesIO()
    template = SimpleDocTemplate(
        buffer, pagesize=A4, title=doc.title, author=AUTHOR, subject=doc.subject
    )
    template.build(story)
    return buffer.getvalue()


def render_docx(doc: BinaryDoc) -> bytes:
    """Render a document as DOCX with core_properties.title set."""
    document = Document()
    props = document.core_properties
    props.title = doc.title
    props.subject = doc.subject
    props.author = AUTHOR
    props.last_modified_by = AUTHOR
    props.created = FIXED_TIME
    props.modified = FIXED_TIME
    props.revision = 1
    document.add_heading(doc.title, level=0)
    document.add_paragraph(doc.intro)
    for section in doc.sections:
        document.add_heading(section.heading, level=1)
        for text in section.paragraphs:
            document.add_paragraph(text)
        for text in section.bullets:
            document.add_paragraph(text, style="List Bullet")
        if section.table:
            header, *rows = section.table
            table = document.add_table(rows=1, cols=len(header), style="Table Grid")
            for cell, text in zip(table.rows[0].cells, header, strict=True):
                cell.text = text
            for row in rows:
                for cell, text in zip(table.add_row().cells, row, strict=True):
                    cell.text = text
    buffer = io.BytesIO()
    document.save(buffer)
    return _with_fixed_zip_times(buffer.getvalue())


def _with_fixed_zip_times(data: bytes, *, core_modified: dt.datetime | None = None) -> bytes:
    """Rewrite a zip so every entry has the same timestamp (python-docx uses 'now'); with
    `core_modified`, also the document's modified date (openpyxl stamps 'now' on save)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2025, 3, 1, 9, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            content = src.read(info.filename)
            if core_modified is not None and info.filename == "docProps/core.xml":
                stamp = core_modified.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + stamp + rb"\g<2>",
                    content,
                )
            dst.writestr(fixed, content)
    return out.getvalue()


# --- spreadsheets, slides, Hangul word processor, legacy encodings --------------------

HOTEL_RATES = (
    ("都市", "宿泊上限（1泊）", "備考"),
    ("大阪", 13000, "梅田・難波エリア推奨"),
    ("名古屋", 11000, ""),
    ("福岡", 12000, "博多駅周辺"),
    ("札幌", 12500, "冬季（12月〜2月）は上限+2,000円"),
    ("ソウル", 150000, "単位はウォン（KRW）"),
)


def render_xlsx() -> bytes:
    """Domestic business-trip hotel limits for Tokyo staff; a hidden scratch sheet must
    not be indexed."""
    book = Workbook()
    sheet = book.active
    sheet.title = "宿泊上限"
    for row in HOTEL_RATES:
        sheet.append(list(row))
    for cells in sheet.iter_rows(min_row=2, min_col=2, max_col=2):
        for cell in cells:
            cell.number_format = "#,##0"
    hidden = book.create_sheet("作業用")
    hidden.append(["メモ", "旧上限（廃止）"])
    hidden.append(["大阪", 9000])
    hidden.sheet_state = "hidden"
    book.properties.title = "都市別の宿泊上限（東京オフィス）"
    book.properties.creator = AUTHOR
    book.properties.created = book.properties.modified = FIXED_TIME.replace(tzinfo=None)
    buffer = io.BytesIO()
    book.save(buffer)
    return _with_fixed_zip_times(buffer.getvalue(), core_modified=FIXED_TIME)


SLIDES = (
    ("신입사원 오리엔테이션", "한빛클라우드에 오신 것을 환영합니다.", ""),
    (
        "회의실 예약",
        "회의실은 RoomFinder 앱에서 최대 2주 전까지 예약할 수 있습니다.\n"
        "서울 오피스에서는 한 번에 최대 3시간까지 예약할 수 있습니다.",
        "예약 후 15분 안에 체크인하지 않으면 예약이 자동으로 취소됩니다.",
    ),
    (
        "사내 도서관",
        "12층 라운지의 사내 도서관에서 책을 한 번에 3권, 3주 동안 빌릴 수 있습니다.",
        "희망 도서는 #help-library 채널에 신청하세요.",
    ),
)


def render_pptx() -> bytes:
    """A Korean onboarding deck; one fact lives only in the speaker notes."""
    deck = Presentation()
    deck.core_properties.title = "신입사원 오리엔테이션 (서울)"
    deck.core_properties.author = AUTHOR
    deck.core_properties.created = deck.core_properties.modified = FIXED_TIME.replace(tzinfo=None)
    deck.core_properties.last_modified_by = AUTHOR
    deck.core_properties.revision = 1
    for title, body, notes in SLIDES:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text_frame.text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    box = deck.slides[0].shapes.add_textbox(Inches(1), Inches(6), Inches(6), Inches(1))
    box.text_frame.text = "문의: 피플팀 #help-people"
    box.text_frame.paragraphs[0].runs[0].font.size = Pt(14)
    buffer = io.BytesIO()
    deck.save(buffer)
    return _with_fixed_zip_times(buffer.getvalue())


CONDOLENCE_HWP = (
    "경조사 휴가 규정",
    "직원 본인의 경조사에는 아래와 같이 유급 경조사 휴가를 줍니다. 휴가는 경조사 발생일로부터 "
    "30일 안에 PeopleHub에서 신청합니다.",
    (
        ("구분", "휴가 일수"),
        ("배우자 출산", "10일"),
        ("자녀 결혼", "1일"),
        ("형제자매 결혼", "1일"),
        ("조부모 사망", "3일"),
    ),
    "본인 결혼과 부모·배우자 사망의 휴가와 경조금은 복리후생 안내를 따릅니다.",
)

SECURITY_HWPX = (
    "문서 보안 등급 기준",
    "모든 사내 문서는 작성할 때 보안 등급을 표시합니다.",
    (
        ("등급", "의미", "외부 공유"),
        ("공개", "누구나 볼 수 있음", "가능"),
        ("사내", "임직원만", "NDA 체결 후 가능"),
        ("대외비", "관련 부서만", "보안팀 승인 필요"),
        ("극비", "지정된 사람만", "불가"),
    ),
    "대외비 문서를 외부에 보내려면 보안팀(#security-alerts)의 사전 승인이 필요합니다.",
)

# Plain texts saved in the legacy encoding their teams still use.
LEGACY_TEXTS = (
    (
        "ko/shuttle-bus.txt",
        "cp949",
        "출퇴근 셔틀버스 안내\n\n"
        "서울 본사 출근 셔틀은 평일 오전 8시 10분과 8시 40분에 수서역 6번 출구에서 출발합니다.\n"
        "퇴근 셔틀은 오후 6시 30분에 본사 정문에서 출발합니다.\n"
        "셔틀 좌석은 사내 앱에서 전날 오후 9시까지 예약해야 합니다.\n",
    ),
    (
        "ja/office-cafe.txt",
        "shift_jis",
        "社内カフェ「ほしカフェ」のご案内\n\n"
        "東京オフィス8階の社内カフェは平日10時から17時まで営業しています。\n"
        "コーヒーは1杯100円で、社員証で支払います。毎週金曜日はスイーツが無料です。\n",
    ),
    (
        "zh/china-support-guide.txt",
        "gb18030",
        "中国客户支持指南\n\n"
        "中国大陆客户的工单由上海合作伙伴华星科技负责处理。\n"
        "工作日北京时间九点至十八点提供中文电话支持，客服热线是四零零八二零零一九九。\n"
        "紧急故障请在工单中选择一级优先级，华星科技会在三十分钟内回复。\n",
    ),
    (
        "zh/taiwan-partner.txt",
        "big5",
        "台灣經銷商合作說明\n\n"
        "台灣的客戶由經銷商福爾摩沙軟體負責銷售與在地化支援。\n"
        "經銷商的聯絡信箱是 tw-partner@novadesk.example，營業時間為週一至週五上午九點到下午六點。\n"
        "台灣客戶可以用新台幣付款，價格每年一月調整一次。\n",
    ),
)


def render_others() -> dict[str, bytes]:
    files = {
        "ja/business-trip-hotel-limits.xlsx": render_xlsx(),
        "ko/orientation-deck.pptx": render_pptx(),
        "ko/family-event-leave.hwp": hwp_file(CONDOLENCE_HWP),
        "ko/document-security-levels.hwpx": hwpx_file(SECURITY_HWPX[0], SECURITY_HWPX),
    }
    for path, encoding, text in LEGACY_TEXTS:
        files[path] = text.encode(encoding)
    return files


def main() -> None:
    outputs = {
        doc.path: (render_pdf(doc) if doc.path.endswith(".pdf") else render_docx(doc))
        for doc in DOCS
    }
    outputs.update(render_others())
    for path, data in outputs.items():
        target = DOCS_DIR / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"wrote {target.relative_to(DOCS_DIR.parent)} ({len(data):,} bytes)")


if __name__ == "__main__":
    main()
