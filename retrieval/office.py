"""Spreadsheets (.xlsx, openpyxl) and slide decks (.pptx, python-pptx) as located parts.

A row keeps each column's header beside its value ("도시: 오사카 | 택시: 3,000엔"), so a
question naming the column and the row's key finds that row; a slide keeps its title,
text and speaker notes. Formulas count by their last computed value, hidden sheets are
left out, and a sheet past MAX_ROWS_PER_SHEET is cut there with a note in the report.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

import olefile

from retrieval.encoding import decode_text
from retrieval.extracted import Extracted, Part
from retrieval.loader_errors import CorruptFile, ProtectedDocument, UndecodableText

#: Rows read from one sheet; past this the rest of the sheet is left out, with a note.
MAX_ROWS_PER_SHEET = 5000
#: Single-value rows above a header that are taken as captions; more make a one-column list.
CAPTION_ROWS = 3
#: Characters kept from one cell: a cell holding a whole document is not a table value.
MAX_CELL_CHARS = 1000
#: What an Office Open XML package (.docx, .xlsx, .pptx) may unpack to, in one part and in
#: all. Documents are at most 20 MB packed (`retrieval.sources`), and real ones unpack to a
#: few times that; a zip bomb unpacks to gigabytes and would take the ingest's memory.
#: zipfile never reads past a part's declared size, so checking those is enough.
MAX_PART_BYTES = 64 * 1024 * 1024
MAX_PACKAGE_BYTES = 256 * 1024 * 1024


def load_xlsx(data: bytes) -> Extracted:
    # Imported here: openpyxl costs ~8 MB resident, paid only by runs that meet a workbook.
    from openpyxl import load_workbook

    check_office_container(data, "XLSX")
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        parts: list[Part] = []
        notes: list[str] = []
        for sheet in workbook.worksheets:
            if sheet.sheet_state != "visible":
                continue
            rows, total = _sheet_rows(sheet.title, sheet.iter_rows())
            parts += rows
            if total > MAX_ROWS_PER_SHEET:
                notes.append(
                    f"sheet too large: {sheet.title} has {total:,} rows; "
                    f"the first {MAX_ROWS_PER_SHEET:,} were indexed"
                )
        title = workbook.properties.title or ""
    finally:
        workbook.close()
    return Extracted(
        title, "\n\n".join(p.text for p in parts), parts=tuple(parts), notes=tuple(notes)
    )


def _sheet_rows(sheet: str, rows: Iterable[tuple[Any, ...]]) -> tuple[list[Part], int]:
    """The sheet's data rows as parts, and its row count.

    The header is the first row with two or more values; single-value rows above it (a
    caption like "Rates 2025") stay as text. A sheet whose first CAPTION_ROWS rows all hold
    one value is a one-column list, headed by its first row.
    """
    header: list[str] | None = None
    leading: list[tuple[int, list[str]]] = []  # single-value rows while no header is known
    parts: list[Part] = []
    total = 0

    def add(number: int, values: list[str], header: list[str]) -> None:
        header += [f"column {i}" for i in range(len(header) + 1, len(values) + 1)]
        text = " | ".join(f"{header[i]}: {v}" for i, v in enumerate(values) if v)
        parts.append(Part(text, "row", number, sheet))

    def one_column() -> list[str]:
        first = leading[0][1]
        for number, values in leading[1:]:
            add(number, values, first)
        if len(leading) == 1:
            parts.append(Part(" ".join(v for v in first if v), "row", leading[0][0], sheet))
        leading.clear()
        return first

    for number, row in enumerate(rows, 1):
        total = number
        if number > MAX_ROWS_PER_SHEET:
            continue  # keep counting, so the note can say how much was left out
        values = [_cell_text(cell) for cell in row]
        if not any(values):
            continue
        if header is not None:
            add(number, values, header)
        elif sum(1 for v in values if v) >= 2:
            parts += [Part(" ".join(filter(None, v)), "row", n, sheet) for n, v in leading]
            leading.clear()
            header = [v or f"column {i}" for i, v in enumerate(values, 1)]
        else:
            leading.append((number, values))
            if len(leading) > CAPTION_ROWS:
                header = one_column()
    if leading:
        one_column()
    return parts, total


def _cell_text(cell: Any) -> str:
    value = getattr(cell, "value", None)
    if value is None:
        return ""
    fmt = str(getattr(cell, "number_format", "") or "")
    if isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, int | float) and "%" in fmt:
        text = f"{value * 100:g}%"
    elif isinstance(value, float):
        text = f"{value:,.0f}" if value.is_integer() and "," in fmt else f"{value:g}"
    elif isinstance(value, int):
        text = f"{value:,}" if "," in fmt else str(value)
    elif isinstance(value, dt.datetime):
        text = value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    elif isinstance(value, dt.date | dt.time):
        text = value.isoformat()
    else:
        text = str(value)
    return " ".join(text.split())[:MAX_CELL_CHARS]


def load_pptx(data: bytes) -> Extracted:
    from pptx import Presentation  # ~7 MB resident (with Pillow): only for runs with decks

    check_office_container(data, "PPTX")
    deck = Presentation(io.BytesIO(data))
    parts: list[Part] = []
    for number, slide in enumerate(deck.slides, 1):
        title_shape = slide.shapes.title
        title = title_shape.text_frame.text.strip() if title_shape is not None else ""
        lines = [title] if title else []
        for shape in _shapes(slide.shapes):
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            lines += _shape_lines(shape)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                lines.append(f"(notes) {notes}")
        text = "\n".join(line for line in lines if line.strip())
        if text:
            parts.append(Part(text, "slide", number))
    first_title = parts[0].text.split("\n", 1)[0] if parts else ""
    title = deck.core_properties.title or first_title
    return Extracted(title, "\n\n".join(p.text for p in parts), parts=tuple(parts))


def _shapes(shapes: Iterable[Any]) -> Iterator[Any]:
    from pptx.shapes.group import GroupShape

    for shape in shapes:
        if isinstance(shape, GroupShape):
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _shape_lines(shape: Any) -> list[str]:
    if getattr(shape, "has_table", False):
        return [
            " | ".join(" ".join(cell.text.split()) for cell in row.cells)
            for row in shape.table.rows
        ]
    if getattr(shape, "has_text_frame", False):
        return [p.text for p in shape.text_frame.paragraphs if p.text.strip()]
    return []


def check_office_container(data: bytes, kind: str) -> None:
    """Say what a file is when it is not the zip an Office Open XML file must be, and refuse
    one that would unpack past MAX_PART_BYTES / MAX_PACKAGE_BYTES."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        _check_unpacked_size(data, kind)
        return
    if olefile.isOleFile(data=data):
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            if ole.exists("EncryptionInfo"):
                raise ProtectedDocument(f"password-protected: could not read {kind}")
        raise CorruptFile(
            f"not {_a(kind)} file: an old binary Office file; save it as .{kind.lower()}"
        )
    try:
        decode_text(data[:4096])
    except UndecodableText:
        pass
    else:
        raise CorruptFile(f"not {_a(kind)} file: it is plain text (a CSV named .{kind.lower()}?)")
    raise CorruptFile(f"could not read {kind}: file is damaged")


def _a(kind: str) -> str:
    """ "an XLSX", "a DOCX": the article as the letters are spoken."""
    return f"{'an' if kind[0] in 'AEFHILMNORSX' else 'a'} {kind}"


def _check_unpacked_size(data: bytes, kind: str) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        sizes = [(info.file_size, info.filename) for info in package.infolist()]
    largest, name = max(sizes, default=(0, ""))
    total = sum(size for size, _ in sizes)
    if largest > MAX_PART_BYTES:
        raise CorruptFile(
            f"could not read {kind}: its part {name} unpacks to {largest:,} bytes, over the "
            f"limit of {MAX_PART_BYTES:,} (a zip bomb, or a document to split)"
        )
    if total > MAX_PACKAGE_BYTES:
        raise CorruptFile(
            f"could not read {kind}: it unpacks to {total:,} bytes, over the limit of "
            f"{MAX_PACKAGE_BYTES:,} (a zip bomb, or a document to split)"
        )
