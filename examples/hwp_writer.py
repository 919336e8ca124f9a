"""Write small HWP 5 and HWPX files: the sample corpus and the tests make their own.

Only what a text reader needs is written: for HWP 5 an OLE compound file (CFB v3) with
`FileHeader`, `DocInfo` and `BodyText/Section0` of PARA_HEADER + PARA_TEXT records; for
HWPX the zip layout (`mimetype`, `Contents/content.hpf`, `Contents/section0.xml`). Hangul
Office may want more (styles, fonts) to open them; that is not checked here.
"""

from __future__ import annotations

import io
import itertools
import struct
import zipfile
import zlib
from collections.abc import Sequence
from xml.sax.saxutils import escape

SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
FREE, END_OF_CHAIN, FAT_SECTOR, NO_STREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF

# A paragraph is a string, or a table: rows of cell strings.
Block = str | Sequence[Sequence[str]]


def hwp_records(blocks: Sequence[Block]) -> bytes:
    """BodyText section records: a body paragraph is PARA_HEADER (66, level 0) + PARA_TEXT
    (67, level 1); a table's cells are paragraphs two levels deeper."""
    out = bytearray()
    for block in blocks:
        if isinstance(block, str):
            out += _paragraph(block, level=0)
        else:
            out += _table(block)
    return bytes(out)


def _table(rows: Sequence[Sequence[str]]) -> bytes:
    """A paragraph anchoring a table control: CTRL_HEADER 'tbl ' (71) and TABLE (77) one and
    two levels below it, then per cell a LIST_HEADER (72; 8 bytes, then column, row, spans)
    and the cell's paragraph at the table's level."""
    out = bytearray(_paragraph("\x0b" + "\x00" * 6 + "\x0b", level=0))
    out += _record(71, 1, b" lbt" + b"\x00" * 42)
    columns = max(len(r) for r in rows)
    out += _record(77, 2, struct.pack("<IHHH", 0, len(rows), columns, 0) + b"\x00" * 12)
    for row_number, row in enumerate(rows):
        for column, cell in enumerate(row):
            list_header = struct.pack("<HHI", 1, 0, 0)
            cell_props = struct.pack("<HHHHII", column, row_number, 1, 1, 8000, 1000)
            out += _record(72, 2, list_header + cell_props + b"\x00" * 10)
            out += _paragraph(cell, level=2)
    return bytes(out)


def _paragraph(text: str, *, level: int) -> bytes:
    body = (text + "\r").encode("utf-16-le")
    header = struct.pack("<IIHBB", len(body) // 2, 0, 0, 0, 0) + b"\x00" * 10
    return _record(66, level, header) + _record(67, level + 1, body)


def _record(tag: int, level: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 0xFFF:
        return struct.pack("<I", tag | (level << 10) | (size << 20)) + payload
    return struct.pack("<II", tag | (level << 10) | (0xFFF << 20), size) + payload


def hwp_file(blocks: Sequence[Block], *, flags: int = 1, compress: bool = True) -> bytes:
    """An HWP 5.0.3 file; `flags` is the FileHeader property word (bit 0 compressed,
    bit 1 password, bit 2 distribution-locked)."""
    header = b"HWP Document File".ljust(32, b"\x00")
    header += struct.pack("<II", 0x05000300, flags) + b"\x00" * (256 - 40)
    section = hwp_records(blocks)
    if compress:
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        section = deflate.compress(section) + deflate.flush()
    return cfb_file({"FileHeader": header, "DocInfo": b"", "BodyText/Section0": section})


def cfb_file(streams: dict[str, bytes]) -> bytes:
    """A minimal compound file (v3, 512-byte sectors) holding `streams` ("Storage/Name" paths)."""
    entries: list[dict[str, object]] = [{"name": "Root Entry", "type": 5, "kids": []}]
    index = {"": 0}
    for path in sorted(streams):
        parent = ""
        for part in path.split("/")[:-1]:
            key = f"{parent}/{part}".strip("/")
            if key not in index:
                index[key] = len(entries)
                entries.append({"name": part, "type": 1, "kids": []})
                _kids(entries[index[parent]]).append(index[key])
            parent = key
        index[path] = len(entries)
        entries.append({"name": path.split("/")[-1], "type": 2, "data": streams[path]})
        _kids(entries[index[parent]]).append(index[path])

    mini = bytearray()
    minifat: list[int] = []
    regular = bytearray()
    fat: list[int] = []

    def chain(target: list[int], start: int, count: int) -> None:
        target.extend(range(start + 1, start + count))
        target.append(END_OF_CHAIN)

    for entry in entries[1:]:
        if entry["type"] != 2:
            continue
        data = bytes(entry["data"])  # type: ignore[arg-type]
        if not data:
            entry["start"], entry["size"] = END_OF_CHAIN, 0
        elif len(data) < MINI_CUTOFF:
            count = -(-len(data) // MINI_SECTOR)
            entry["start"], entry["size"] = len(minifat), len(data)
            chain(minifat, len(minifat), count)
            mini += data.ljust(count * MINI_SECTOR, b"\x00")
        else:
            count = -(-len(data) // SECTOR)
            entry["start"], entry["size"] = len(fat), len(data)
            chain(fat, len(fat), count)
            regular += data.ljust(count * SECTOR, b"\x00")
    # The mini stream lives in the root entry's stream, after the regular streams.
    mini_sectors = -(-len(mini) // SECTOR)
    entries[0]["start"] = len(fat) if mini else END_OF_CHAIN
    entries[0]["size"] = len(mini)
    if mini:
        chain(fat, len(fat), mini_sectors)
        regular += bytes(mini).ljust(mini_sectors * SECTOR, b"\x00")
    minifat_bytes = b"".join(struct.pack("<I", v) for v in minifat)
    minifat_sectors = -(-len(minifat_bytes) // SECTOR)
    first_minifat = len(fat) if minifat else END_OF_CHAIN
    if minifat:
        chain(fat, len(fat), minifat_sectors)
        regular += minifat_bytes.ljust(minifat_sectors * SECTOR, b"\xff")
    directory = b"".join(_dir_entry(entries, i) for i in range(len(entries)))
    dir_sectors = -(-len(directory) // SECTOR)
    first_dir = len(fat)
    chain(fat, len(fat), dir_sectors)
    regular += directory.ljust(dir_sectors * SECTOR, b"\x00")
    # FAT sectors describe themselves too.
    fat_sectors = 1
    while (len(fat) + fat_sectors) > fat_sectors * (SECTOR // 4):
        fat_sectors += 1
    first_fat = len(fat)
    fat += [FAT_SECTOR] * fat_sectors
    fat_bytes = b"".join(struct.pack("<I", v) for v in fat)
    regular += fat_bytes.ljust(fat_sectors * SECTOR, b"\xff")
    difat = [first_fat + i for i in range(fat_sectors)] + [FREE] * (109 - fat_sectors)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\x00" * 16, 0x3E, 3, 0xFFFE, 9, 6, b"\x00" * 6,
        0, fat_sectors, first_dir, 0, MINI_CUTOFF, first_minifat, minifat_sectors,
        END_OF_CHAIN, 0,
    )  # fmt: skip
    header += b"".join(struct.pack("<I", v) for v in difat)
    return header + bytes(regular)


def _kids(entry: dict[str, object]) -> list[int]:
    kids = entry["kids"]
    assert isinstance(kids, list)
    return kids


def _dir_entry(entries: list[dict[str, object]], i: int) -> bytes:
    entry = entries[i]
    name = str(entry["name"]).encode("utf-16-le") + b"\x00\x00"
    child = NO_STREAM
    right = NO_STREAM
    if "kids" in entry and _kids(entry):
        # Siblings as a right-leaning chain in CFB order (length, then upper case): a valid,
        # if unbalanced, red-black tree when every node is black.
        kids = sorted(
            _kids(entry),
            key=lambda k: (len(str(entries[k]["name"])), str(entries[k]["name"]).upper()),
        )
        child = kids[0]
        for a, b in itertools.pairwise(kids):
            entries[a]["right"] = b
    right = int(entry.get("right", NO_STREAM))  # type: ignore[call-overload]
    start = int(entry.get("start", 0))  # type: ignore[call-overload]
    size = int(entry.get("size", 0))  # type: ignore[call-overload]
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        name, len(name), int(entry["type"]), 1, NO_STREAM, right, child,  # type: ignore[call-overload]
        b"\x00" * 16, 0, 0, 0, start, size,
    )  # fmt: skip


HWPX_NS = (
    'xmlns:hs="http://www.hancom.co.kr/hwpml/2011/section" '
    'xmlns:hp="http://www.hancom.co.kr/hwpml/2011/paragraph"'
)


def hwpx_file(title: str, blocks: Sequence[Block], *, encrypted: bool = False) -> bytes:
    """An HWPX package: mimetype first and stored, the manifest, content.hpf and one section."""
    body = "".join(_hwpx_block(b) for b in blocks)
    section = f'<?xml version="1.0" encoding="UTF-8"?><hs:sec {HWPX_NS}>{body}</hs:sec>'
    hpf = (
        '<?xml version="1.0" encoding="UTF-8"?><opf:package '
        'xmlns:opf="http://www.idpf.org/2007/opf/"><opf:metadata>'
        f"<opf:title>{escape(title)}</opf:title><opf:language>ko</opf:language></opf:metadata>"
        '<opf:manifest><opf:item id="section0" href="Contents/section0.xml" '
        'media-type="application/xml"/></opf:manifest><opf:spine><opf:itemref idref="section0"/>'
        "</opf:spine></opf:package>"
    )
    encryption = '<odf:encryption-data algorithm="AES"/>' if encrypted else ""
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><odf:manifest '
        'xmlns:odf="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        f'<odf:file-entry full-path="Contents/section0.xml">{encryption}</odf:file-entry>'
        "</odf:manifest>"
    )
    files = [
        ("mimetype", "application/hwp+zip", zipfile.ZIP_STORED),
        ("version.xml", '<?xml version="1.0" encoding="UTF-8"?><hv:HCFVersion '
         'xmlns:hv="http://www.hancom.co.kr/hwpml/2011/version" major="5" minor="1"/>',
         zipfile.ZIP_DEFLATED),
        ("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED),
        ("Contents/content.hpf", hpf, zipfile.ZIP_DEFLATED),
        ("Contents/section0.xml", section, zipfile.ZIP_DEFLATED),
    ]  # fmt: skip
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text, method in files:
            info = zipfile.ZipInfo(name, date_time=(2025, 3, 1, 9, 0, 0))
            info.compress_type = method
            archive.writestr(info, text.encode("utf-8"))
    return out.getvalue()


def _hwpx_block(block: Block) -> str:
    if isinstance(block, str):
        return _hwpx_paragraph(escape(block))
    rows = "".join(
        "<hp:tr>"
        + "".join(
            f"<hp:tc><hp:subList>{_hwpx_paragraph(escape(c))}</hp:subList></hp:tc>" for c in row
        )
        + "</hp:tr>"
        for row in block
    )
    return f'<hp:p><hp:run><hp:tbl rowCnt="{len(block)}">{rows}</hp:tbl></hp:run></hp:p>'


def _hwpx_paragraph(text: str) -> str:
    return f"<hp:p><hp:run><hp:t>{text}</hp:t></hp:run></hp:p>"
