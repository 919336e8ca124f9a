"""Turn document bytes (md, txt, html, pdf, docx, csv, json, xlsx, pptx, hwp, hwpx) into a
title and plain text; spreadsheets and slide decks also into located parts (rows, slides).

Every failure is a `LoaderError` whose message is a short reason fit for an ingest
report ("could not read PDF: file is damaged"), never a parser traceback.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bs4 import BeautifulSoup
from bs4.dammit import EncodingDetector
from docx import Document
from docx.table import Table, _Cell
from pypdf import PageObject, PdfReader

from retrieval import hwp, office
from retrieval.encoding import decode_text
from retrieval.extracted import Extracted, Part
from retrieval.loader_errors import (
    CorruptFile,
    EmptyDocument,
    LoaderError,
    ProtectedDocument,
    UndecodableText,
    UnsupportedFormat,
)

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "CorruptFile",
    "EmptyDocument",
    "LoadedDocument",
    "LoaderError",
    "Part",
    "ProtectedDocument",
    "UndecodableText",
    "UnsupportedFormat",
    "load_bytes",
    "load_path",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedDocument:
    title: str
    text: str  # paragraphs separated by blank lines
    format: str  # "md" | "txt" | "html" | "pdf" | "docx" | "csv" | "json" | "xlsx" | ...
    encoding: str = ""  # the text formats: the encoding the bytes were decoded from
    parts: tuple[Part, ...] = ()  # rows and slides, each with its place for citations
    notes: tuple[str, ...] = ()  # what was left out of a loaded document, and why


_FORMATS = {
    ".md": "md", ".markdown": "md", ".txt": "txt", ".html": "html", ".htm": "html",
    ".pdf": "pdf", ".docx": "docx", ".csv": "csv", ".json": "json", ".xlsx": "xlsx",
    ".pptx": "pptx", ".hwp": "hwp", ".hwpx": "hwpx",
}  # fmt: skip
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_FORMATS)

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_RUNS_OF_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_EXTRA_BLANK_LINES = re.compile(r"\n{3,}")
_MARKDOWN_H1 = re.compile(r"#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*")  # "# Title" or "# Title #"
# Private separators while flattening HTML: str.split() treats them as whitespace, and
# they survive BeautifulSoup untouched, so paragraph and line breaks outlive collapsing.
_PARA, _LINE = "\u2029", "\u2028"
# A source line break between two Chinese/Japanese characters is not a word space.
_CJK = "\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_LINE_BREAK = re.compile(rf"(?<=[{_CJK}])[ \t\r]*\n[ \t\r\n]*(?=[{_CJK}])")
_HTML_DROPPED = ["head", "title", "script", "style", "nav", "noscript", "template", "svg", "iframe"]
_PLACEHOLDER_TITLES = {"untitled", "untitled document", "document"}  # tool defaults, not titles
_HTML_BLOCKS = [
    "address", "article", "aside", "blockquote", "caption", "dd", "details", "div", "dl",
    "dt", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "main", "ol", "p", "pre", "section", "summary", "ul",
]  # fmt: skip


def load_path(path: Path) -> LoadedDocument:
    """Load a local file; the extension decides the format."""
    _format_of(path.name)  # fail before reading a file we cannot use
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoaderError(f"could not read file: {exc.strerror or exc}") from exc
    return load_bytes(data, path.name)


def load_bytes(data: bytes, name: str) -> LoadedDocument:
    """Load document bytes; `name` (a file name or S3 key) gives the format and fallback title."""
    fmt = _format_of(name)
    if not data.strip():
        raise EmptyDocument("file is empty")
    try:
        extracted = _EXTRACTORS[fmt](data)
    except LoaderError:
        raise
    except Exception as exc:  # parsers raise anything on malformed input; report, don't crash
        logger.debug("could not parse %s", name, exc_info=True)
        raise CorruptFile(f"could not read {fmt.upper()}: file is damaged") from exc
    title = extracted.title
    text = unicodedata.normalize("NFC", extracted.text)
    if not text:
        reason = "no extractable text (scanned PDF?)" if fmt == "pdf" else "no extractable text"
        raise EmptyDocument(reason)
    title = " ".join(unicodedata.normalize("NFC", title).split())[:200]
    if title.lower() in _PLACEHOLDER_TITLES:
        title = ""
    parts = tuple(
        Part(unicodedata.normalize("NFC", p.text), p.unit, p.number, p.sheet)
        for p in extracted.parts
    )
    return LoadedDocument(
        title=title or PurePosixPath(name).stem,
        text=text,
        format=fmt,
        encoding=extracted.encoding,
        parts=parts,
        notes=extracted.notes,
    )


def _format_of(name: str) -> str:
    suffix = PurePosixPath(name.replace("\\", "/")).suffix.lower()
    if suffix not in _FORMATS:
        raise UnsupportedFormat(f"unsupported file type {suffix or '(no extension)'}")
    return _FORMATS[suffix]


def _tidy(text: str, *, collapse_spaces: bool) -> str:
    """Unify newlines, drop control characters and trailing spaces, keep paragraph breaks."""
    text = _CONTROL_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.rstrip() for line in text.split("\n")]
    if collapse_spaces:
        lines = [_RUNS_OF_SPACES.sub(" ", line).strip() for line in lines]
    return _EXTRA_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _decode(data: bytes, *, declared: str | None = None) -> tuple[str, str]:
    """The text and the encoding it was decoded from (see `retrieval.encoding`)."""
    decoded = decode_text(data, declared=declared)
    return decoded.text, decoded.encoding


def _load_markdown(data: bytes) -> Extracted:
    raw, encoding = _decode(data)
    text = _tidy(raw, collapse_spaces=False)
    in_code = False
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_code = not in_code
        elif not in_code and (match := _MARKDOWN_H1.fullmatch(line)):
            return Extracted(match.group(1), text, encoding=encoding)
    return Extracted("", text, encoding=encoding)


def _load_text(data: bytes) -> Extracted:
    raw, encoding = _decode(data)
    text = _tidy(raw, collapse_spaces=False)
    return Extracted(text.split("\n", 1)[0], text, encoding=encoding)


def _load_html(data: bytes) -> Extracted:
    # A legacy page that says what it is (<meta charset="euc-kr">) is taken at its word.
    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    markup, encoding = _decode(data, declared=declared)
    soup = BeautifulSoup(markup, "html.parser")
    title = soup.title.get_text() if soup.title else ""
    for tag in soup.find_all(_HTML_DROPPED):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with(_LINE)
    for table in soup.find_all("table"):
        rows = (
            " | ".join(" ".join(cell.get_text(" ").split()) for cell in row.find_all(["td", "th"]))
            for row in table.find_all("tr")
        )
        table.replace_with(_PARA + _LINE.join(rows) + _PARA)
    for tag in soup.find_all(_HTML_BLOCKS):
        tag.insert_before(_PARA)
        tag.insert_after(_PARA)
    for item in soup.find_all("li"):
        item.insert_before(_LINE + "- ")
    flat = _CJK_LINE_BREAK.sub("", soup.get_text())
    paragraphs = (
        "\n".join(filter(None, (" ".join(line.split()) for line in block.split(_LINE))))
        for block in flat.split(_PARA)
    )
    return Extracted(title, _tidy("\n\n".join(paragraphs), collapse_spaces=True), encoding=encoding)


def _load_pdf(data: bytes) -> Extracted:
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ProtectedDocument("password-protected: could not read PDF")
    pages = [_pdf_page_text(page) for page in reader.pages]
    title = reader.metadata.title if reader.metadata else None
    return Extracted(title or "", _tidy("\n\n".join(pages), collapse_spaces=True))


def _pdf_page_text(page: PageObject) -> str:
    # Layout mode keeps table rows on one line and blank lines between paragraphs;
    # it fails on some odd fonts, where the plain extractor still works.
    try:
        return page.extract_text(extraction_mode="layout")
    except Exception:
        return page.extract_text()


def _load_docx(data: bytes) -> Extracted:
    office.check_office_container(data, "DOCX")
    document = Document(io.BytesIO(data))
    blocks: list[str] = []
    in_list = False
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            blocks.append("\n".join(_docx_row(row.cells) for row in item.rows))
            in_list = False
        elif item.style is not None and item.style.name.startswith("List"):
            if in_list:  # consecutive list items stay one paragraph, one item per line
                blocks[-1] += f"\n- {item.text}"
            else:
                blocks.append(f"- {item.text}")
            in_list = True
        else:
            blocks.append(item.text)
            in_list = False
    title = document.core_properties.title or ""
    return Extracted(title, _tidy("\n\n".join(blocks), collapse_spaces=True))


def _docx_row(cells: Sequence[_Cell]) -> str:
    # A horizontally merged cell comes back once per grid column, as the same object.
    unique = [cell for i, cell in enumerate(cells) if i == 0 or cell is not cells[i - 1]]
    return " | ".join(" ".join(cell.text.split()) for cell in unique)


def _load_csv(data: bytes) -> Extracted:
    text, encoding = _decode(data)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(",;\t", key=first_line.count)  # ties go to the comma
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if "".join(r).strip()]
    if not rows:
        return Extracted("", "", encoding=encoding)
    header = [h.strip() or f"column {i}" for i, h in enumerate(rows[0], 1)]
    header += [f"column {i}" for i in range(len(header) + 1, max(map(len, rows)) + 1)]
    records = (
        "\n".join(f"{header[i]}: {v.strip()}" for i, v in enumerate(row) if v.strip())
        for row in rows[1:]
    )
    return Extracted("", _tidy("\n\n".join(records), collapse_spaces=False), encoding=encoding)


def _load_json(data: bytes) -> Extracted:
    raw, encoding = _decode(data)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CorruptFile(f"not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    if value in (None, "", [], {}):
        return Extracted("", "", encoding=encoding)
    title = value.get("title") if isinstance(value, dict) else None
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return Extracted(
        title if isinstance(title, str) else "",
        _tidy(text, collapse_spaces=False),
        encoding=encoding,
    )


_EXTRACTORS: dict[str, Callable[[bytes], Extracted]] = {
    "md": _load_markdown,
    "txt": _load_text,
    "html": _load_html,
    "pdf": _load_pdf,
    "docx": _load_docx,
    "csv": _load_csv,
    "json": _load_json,
    "xlsx": office.load_xlsx,
    "pptx": office.load_pptx,
    "hwp": hwp.load_hwp,
    "hwpx": hwp.load_hwpx,
}
