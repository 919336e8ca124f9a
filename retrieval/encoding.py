"""Decode text files in whatever encoding a team saved them: a BOM, a declared charset,
UTF-8, then detection (charset-normalizer) above a confidence floor.

Detection alone is not enough for short CJK files: charset-normalizer 3.5 reads a
Shift-JIS paragraph as CP949 (every byte pair is valid there too) and Windows-1252 as
Windows-1250. Two checks fix what was seen: a CP949 reading whose Hangul is mostly outside
the 2,350 everyday syllables of KS X 1001 is another encoding's bytes, and among equally
clean readings the encoding teams actually use wins.
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass

from charset_normalizer import CharsetMatch, from_bytes

from retrieval.loader_errors import UndecodableText

_SAMPLE_CHARS = 20_000
#: Below this share of clean characters (1 - charset-normalizer's "chaos") a guess is refused;
#: readings down to _CANDIDATE_FLOOR are still looked at, so the refusal can name one.
MIN_CONFIDENCE = 0.8
_CANDIDATE_FLOOR = 0.6
#: Below this share of everyday East Asian characters a reading is another encoding's bytes.
MIN_EVERYDAY_SHARE = 0.9
# Single-byte Latin readings that charset-normalizer may offer instead of Windows-1252 for
# Western text (it stops at the first clean reading and never tries 1252).
_WESTERN_LOOKALIKES = frozenset(
    {"cp1250", "cp1257", "cp775", "mac_latin2", "iso8859_2", "iso8859_10", "iso8859_13",
     "iso8859_14", "iso8859_15", "latin_1", "mac_roman"}
)  # fmt: skip
#: Which encoding to believe when several read the bytes equally cleanly: the common ones.
_PREFERRED = (
    "utf_8", "cp1252", "cp949", "cp932", "gb18030", "big5", "euc_jis_2004", "euc_jp",
    "utf_16", "utf_16_le", "utf_16_be", "big5hkscs", "cp950",
)  # fmt: skip
# What a page declares, mapped to the superset browsers decode it with (WHATWG Encoding).
_DECLARED = {
    "ascii": "cp1252", "us-ascii": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "euc-kr": "cp949", "ks_c_5601-1987": "cp949",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "gb2312": "gb18030", "gbk": "gb18030", "big5": "big5hkscs",
}  # fmt: skip
_KANA_AND_PUNCTUATION = re.compile(r"[\u3000-\u30ff\uff01-\uff60]")
# The common-character block of each national set (GB 2312 and JIS X 0208 level 1, Big5
# frequent characters, KS X 1001 Hangul), as (codec, first, last) double-byte codes.
_LEVEL_ONE = (
    ("euc_kr", 0xB0A1, 0xC8FE),
    ("gb2312", 0xB0A1, 0xD7FE),
    ("euc_jp", 0xB0A1, 0xCFFE),
    ("big5", 0xA440, 0xC67E),
)
# File signatures of formats that are not text, whatever the file is called.
_SIGNATURES = {
    b"PK\x03\x04": "a zip archive (an Office or HWPX file?)",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "an OLE compound file (an old Office or HWP file?)",
    b"%PDF-": "a PDF",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip archive",
}


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str  # Python codec name, e.g. "utf-8", "cp949", "cp932"
    confidence: float  # 1.0 for a BOM, a declaration or valid UTF-8


def decode_text(data: bytes, *, declared: str | None = None) -> DecodedText:
    """Bytes of a text document as text; `declared` is a charset the document names itself."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts the same way
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return DecodedText(data.decode(encoding), codecs.lookup(encoding).name, 1.0)
            except UnicodeDecodeError as exc:
                raise UndecodableText(f"not valid {encoding.upper()} text despite its BOM") from exc
    for signature, what in _SIGNATURES.items():
        if data.startswith(signature):
            raise UndecodableText(f"not text: the file is {what}")
    if declared:
        label = _DECLARED.get(declared.strip().lower(), declared.strip().lower())
        try:
            encoding = codecs.lookup(label).name
            text = data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown declaration: fall through to what the bytes say
        else:
            if encoding not in ("utf-8", "cp1252") or _is_utf8(data) is None:
                return DecodedText(text, encoding, 1.0)
    utf8 = _is_utf8(data)
    if utf8 is not None and "\x00" not in utf8:
        return DecodedText(utf8, "utf-8", 1.0)
    return _detect(data)


def _is_utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _detect(data: bytes) -> DecodedText:
    matches = list(from_bytes(data, threshold=1.0 - _CANDIDATE_FLOOR))
    if matches and matches[0].encoding in _WESTERN_LOOKALIKES:
        matches += from_bytes(data, cp_isolation=["cp1252"], threshold=1.0 - _CANDIDATE_FLOOR)
    readings = [(m, str(m)) for m in matches]
    if not readings:
        raise UndecodableText("not text in any known encoding (binary data?)")
    # Most everyday characters first, then the cleanest, then the most common encoding.
    # The share is judged on a sample: a long file says the same at its start.
    shares = {id(m): _everyday_share(text[:_SAMPLE_CHARS]) for m, text in readings}
    best, text = max(
        readings,
        key=lambda r: (round(shares[id(r[0])], 1), -round(r[0].chaos, 2), -_rank(_alias(r[0]))),
    )
    confidence = round(1.0 - best.chaos, 2)
    name = codecs.lookup(_alias(best)).name
    if confidence < MIN_CONFIDENCE or shares[id(best)] < MIN_EVERYDAY_SHARE:
        raise UndecodableText(
            f"encoding unclear (best guess {name} at {confidence:.0%} confidence); save it as UTF-8"
        )
    return DecodedText(text, name, confidence)


def _alias(match: CharsetMatch) -> str:
    """Of the encodings that decode these bytes to the same text, the most common one."""
    return min([match.encoding, *match.could_be_from_charset], key=_rank)


def _rank(encoding: str) -> int:
    return _PREFERRED.index(encoding) if encoding in _PREFERRED else len(_PREFERRED)


def _everyday_share(text: str) -> float:
    """Share of the East Asian characters that are in the everyday sets (or all, if none).

    Another encoding's bytes decode to rare syllables and ideographs: Shift-JIS read as
    CP949 is Hangul almost entirely outside KS X 1001's 2,350 common syllables.
    """
    wide = [ch for ch in text if ord(ch) >= 0x3000]
    if not wide:
        return 1.0
    return sum(1 for ch in wide if _everyday(ch)) / len(wide)


@functools.cache
def _everyday(ch: str) -> bool:
    if _KANA_AND_PUNCTUATION.match(ch):
        return True
    for encoding, first, last in _LEVEL_ONE:
        try:
            encoded = ch.encode(encoding)
        except UnicodeEncodeError:
            continue
        if len(encoded) == 2 and first <= int.from_bytes(encoded, "big") <= last:
            return True
    return False
