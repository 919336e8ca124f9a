"""Small XLSX and PPTX files for the loader tests, made with the formats' own libraries."""

from __future__ import annotations

import io

from openpyxl import Workbook
from pptx import Presentation


def xlsx_file(rows: list[list[object]], *, hidden: list[list[object]] | None = None) -> bytes:
    """One visible sheet "Rates" holding `rows`; with `hidden`, a hidden sheet "Scratch" too."""
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


def pptx_file() -> bytes:
    """Three slides: two with title and body (one with speaker notes), then a blank one."""
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
