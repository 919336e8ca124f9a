"""Hangul Word Processor documents: HWP 5.x (OLE compound file) and HWPX (zip of XML).

No reader was sound enough to depend on: pyhwp is AGPL-3.0 and its last release a 2020
beta; the other PyPI parsers (gethwp, hwp-hwpx-parser, helper-hwp, extract-hwp) are young
projects first released 2024-2026; LlamaIndex's HWPReader (in llama-index-readers-file,
which pulls pandas) reads HWP 5 only and leaves the control codes in the text. So this
reads the text and nothing else, with olefile (BSD) for the compound file:

- HWP 5: the `FileHeader` stream says whether the body is compressed, password-protected
  or distribution-locked; each `BodyText/Section<n>` stream (raw deflate when compressed)
  is a run of tagged records, of which HWPTAG_PARA_TEXT (67) holds a paragraph's text as
  UTF-16LE with inline control codes. A table (HWPTAG_TABLE, 77) is followed by one
  HWPTAG_LIST_HEADER (72) per cell, carrying the cell's row, then the cell's paragraphs.
- HWPX: `Contents/section<n>.xml`; each `hp:p` paragraph's `hp:t` runs, and tables
  (`hp:tbl`) row by row.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator

import olefile
from lxml import etree

from retrieval.extracted import Extracted
from retrieval.loader_errors import CorruptFile, ProtectedDocument

HWP_SIGNATURE = b"HWP Document File"
HWPTAG_PARA_TEXT = 67
HWPTAG_LIST_HEADER = 72
HWPTAG_TABLE = 77
# FileHeader property bits (HWP 5.0 format, "파일 인식 정보").
_COMPRESSED, _PASSWORD, _DISTRIBUTION, _DRM = 1 << 0, 1 << 1, 1 << 2, 1 << 4
# Control characters of PARA_TEXT that occupy 8 UTF-16 units (the code, 6 units of
# parameters, the code again); the rest of 0-31 are one unit.
_WIDE_CONTROLS = frozenset(
    {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}
)
_CONTROL_TEXT = {9: "\t", 10: "\n", 24: "-", 30: " ", 31: " "}
_SECTION = re.compile(r"(?:BodyText/)?Section(\d+)$|Contents/section(\d+)\.xml$")
#: Decompressed bytes read from one section: a zip or deflate bomb stops here.
MAX_SECTION_BYTES = 64 * 1024 * 1024


def load_hwp(data: bytes) -> Extracted:
    if not olefile.isOleFile(data=data):
        if zipfile.is_zipfile(io.BytesIO(data)):
            raise CorruptFile("not an HWP 5 file: it is a zip (an HWPX file named .hwp?)")
        if data.startswith(HWP_SIGNATURE):  # HWP 3 says "HWP Document File V3.00"
            raise CorruptFile("not an HWP 5 file: HWP 3 and older are not supported")
        raise CorruptFile("could not read HWP: file is damaged")
    with olefile.OleFileIO(io.BytesIO(data)) as ole:
        if not ole.exists("FileHeader"):
            raise CorruptFile("not an HWP 5 file: no FileHeader")
        header = ole.openstream("FileHeader").read()
        if not header.startswith(HWP_SIGNATURE) or len(header) < 40:
            raise CorruptFile("not an HWP 5 file: wrong signature")
        (flags,) = struct.unpack_from("<I", header, 36)
        if flags & (_PASSWORD | _DRM):
            raise ProtectedDocument("password-protected: could not read HWP")
        if flags & _DISTRIBUTION:
            raise ProtectedDocument("password-protected: a distribution-locked HWP (배포용 문서)")
        sections = sorted(
            (int(m.group(1)), "/".join(entry))
            for entry in ole.listdir(streams=True, storages=False)
            if (m := _SECTION.fullmatch("/".join(entry))) and m.group(1) is not None
        )
        blocks: list[str] = []
        for _, name in sections:
            raw = ole.openstream(name).read()
            body = _inflate(raw) if flags & _COMPRESSED else raw
            blocks += _paragraphs(body)
    text = "\n\n".join(blocks)
    return Extracted(text.split("\n", 1)[0], text)


def _inflate(raw: bytes) -> bytes:
    inflater = zlib.decompressobj(-15)  # raw deflate, no zlib header
    body = inflater.decompress(raw, MAX_SECTION_BYTES)
    if inflater.unconsumed_tail:
        raise CorruptFile(f"could not read HWP: a section is over {MAX_SECTION_BYTES:,} bytes")
    return body


def _records(body: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(tag, level, payload) of each record: a 32-bit header of 10-bit tag, 10-bit level and
    12-bit size, the size continuing in a further 32 bits when it is 0xFFF."""
    offset = 0
    while offset + 4 <= len(body):
        (word,) = struct.unpack_from("<I", body, offset)
        tag, level, size = word & 0x3FF, (word >> 10) & 0x3FF, word >> 20
        offset += 4
        if size == 0xFFF:
            (size,) = struct.unpack_from("<I", body, offset)
            offset += 4
        if offset + size > len(body):
            raise CorruptFile("could not read HWP: a record runs past the end of its section")
        yield tag, level, body[offset : offset + size]
        offset += size


def _paragraphs(body: bytes) -> list[str]:
    """Body paragraphs as blocks, a table as one block of "cell | cell" rows, and paragraphs
    of other controls (text boxes, footnotes) as consecutive lines of one block."""
    blocks: list[str] = []
    nested: list[str] = []
    table: _Table | None = None
    for tag, level, payload in _records(body):
        if table is not None and level < table.level:  # the table's records have ended
            blocks.append(table.text())
            table = None
        if tag == HWPTAG_TABLE and table is None:
            table = _Table(level)
        elif tag == HWPTAG_LIST_HEADER and table is not None and level == table.level:
            table.start_cell(payload)
        elif tag == HWPTAG_PARA_TEXT:
            text = _para_text(payload)
            if table is not None and level > table.level:
                table.add(text)
            elif level <= 1:  # PARA_TEXT of a body paragraph sits under a level-0 PARA_HEADER
                if nested:
                    blocks.append("\n".join(nested))
                    nested = []
                blocks.append(text)
            else:
                nested.append(text)
    if table is not None:
        blocks.append(table.text())
    if nested:
        blocks.append("\n".join(nested))
    return [b for b in blocks if b.strip()]


class _Table:
    """Cells of one table in reading order, grouped by the row address of their LIST_HEADER
    (cell properties follow the 8-byte list header: column u16, row u16, spans, sizes)."""

    def __init__(self, level: int) -> None:
        self.level = level
        self._rows: dict[int, list[list[str]]] = {}
        self._cell: list[str] | None = None

    def start_cell(self, payload: bytes) -> None:
        row = struct.unpack_from("<H", payload, 10)[0] if len(payload) >= 12 else len(self._rows)
        self._cell = []
        self._rows.setdefault(row, []).append(self._cell)

    def add(self, text: str) -> None:
        if self._cell is None:
            self.start_cell(b"")
        if text and self._cell is not None:
            self._cell.append(text)

    def text(self) -> str:
        rows = (
            " | ".join(" ".join(cell) for cell in self._rows[row]) for row in sorted(self._rows)
        )
        return "\n".join(row for row in rows if row.replace("|", "").strip())


def _para_text(payload: bytes) -> str:
    units = struct.unpack_from(f"<{len(payload) // 2}H", payload)
    out: list[str] = []
    i = 0
    while i < len(units):
        code = units[i]
        if code >= 32:
            out.append(chr(code))
            i += 1
            continue
        out.append(_CONTROL_TEXT.get(code, ""))
        i += 8 if code in _WIDE_CONTROLS else 1
    # Surrogate pairs arrive as two units; let the codec join them.
    text = "".join(out).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return " ".join(text.split()) if "\n" not in text else text.strip()


def load_hwpx(data: bytes) -> Extracted:
    if not zipfile.is_zipfile(io.BytesIO(data)):
        if olefile.isOleFile(data=data):
            raise CorruptFile("not an HWPX file: it is an OLE file (an HWP file named .hwpx?)")
        raise CorruptFile("could not read HWPX: file is damaged")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        if "META-INF/manifest.xml" in names and b"encryption-data" in _read_part(
            archive, "META-INF/manifest.xml"
        ):
            raise ProtectedDocument("password-protected: could not read HWPX")
        sections = sorted(
            (int(m.group(2)), name)
            for name in names
            if (m := _SECTION.fullmatch(name)) and m.group(2) is not None
        )
        if not sections:
            raise CorruptFile("not an HWPX file: no Contents/section*.xml")
        blocks: list[str] = []
        for _, name in sections:
            root = etree.fromstring(_read_part(archive, name), _XML)
            blocks += _hwpx_blocks(root)
        title = _hwpx_title(archive, names)
    text = "\n\n".join(blocks)
    return Extracted(title or text.split("\n", 1)[0], text)


_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _read_part(archive: zipfile.ZipFile, name: str) -> bytes:
    """A member of the package, refusing more than MAX_SECTION_BYTES (a zip bomb)."""
    with archive.open(name) as stream:
        data = stream.read(MAX_SECTION_BYTES + 1)
    if len(data) > MAX_SECTION_BYTES:
        raise CorruptFile(f"could not read HWPX: a part is over {MAX_SECTION_BYTES:,} bytes")
    return data


def _local(element: etree._Element) -> str:
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element: etree._Element, name: str) -> Iterator[etree._Element]:
    return (child for child in element if _local(child) == name)


def _hwpx_blocks(section: etree._Element) -> list[str]:
    blocks: list[str] = []
    for paragraph in _children(section, "p"):
        text, tables = _hwpx_paragraph(paragraph)
        if text:
            blocks.append(text)
        blocks += tables
    return blocks


def _hwpx_paragraph(paragraph: etree._Element) -> tuple[str, list[str]]:
    """A paragraph's own text, and the tables anchored in it (one block each)."""
    pieces: list[str] = []
    tables: list[str] = []
    for run in _children(paragraph, "run"):
        for child in run:
            name = _local(child)
            if name == "t":
                pieces.append(_hwpx_run_text(child))
            elif name == "tbl":
                tables.append(_hwpx_table(child))
    return " ".join("".join(pieces).split()), [t for t in tables if t]


def _hwpx_run_text(element: etree._Element) -> str:
    out = [element.text or ""]
    for child in element:  # <hp:tab/>, <hp:lineBreak/> and the like sit between text
        out.append(" ")
        out.append(child.tail or "")
    return "".join(out)


def _hwpx_table(table: etree._Element) -> str:
    rows: list[str] = []
    for row in _children(table, "tr"):
        cells: list[str] = []
        for cell in _children(row, "tc"):
            texts: list[str] = []
            for sub_list in _children(cell, "subList"):
                for paragraph in _children(sub_list, "p"):
                    text, nested = _hwpx_paragraph(paragraph)
                    texts += [text, *nested]
            cells.append(" ".join(t for t in texts if t))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _hwpx_title(archive: zipfile.ZipFile, names: list[str]) -> str:
    if "Contents/content.hpf" not in names:
        return ""
    try:
        root = etree.fromstring(_read_part(archive, "Contents/content.hpf"), _XML)
    except etree.XMLSyntaxError:
        return ""
    for element in root.iter():
        if _local(element) == "title" and (element.text or "").strip():
            return str(element.text).strip()
    return ""
