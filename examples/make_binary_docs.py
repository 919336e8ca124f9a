"""Write the PDF and DOCX documents of the sample corpus into examples/docs/.

The generated files are committed; run this again only after editing the text below:

    .venv/bin/python examples/make_binary_docs.py

Output is byte-for-byte reproducible (fixed dates, invariant PDF ids, fixed zip
timestamps), so re-running without edits leaves `git status` clean.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from docx import Document
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


def _with_fixed_zip_times(data: bytes) -> bytes:
    """Rewrite a zip so every entry has the same timestamp (python-docx uses 'now')."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2025, 3, 1, 9, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def main() -> None:
    for doc in DOCS:
        target = DOCS_DIR / doc.path
        target.parent.mkdir(parents=True, exist_ok=True)
        data = render_pdf(doc) if target.suffix == ".pdf" else render_docx(doc)
        target.write_bytes(data)
        print(f"wrote {target.relative_to(DOCS_DIR.parent)} ({len(data):,} bytes)")


if __name__ == "__main__":
    main()
