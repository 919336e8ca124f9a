"""retrieval.hwp: HWP 5 and HWPX files written by examples/hwp_writer.py, and the ones to refuse."""

from __future__ import annotations

import pytest

from examples.hwp_writer import cfb_file, hwp_file, hwpx_file
from retrieval import hwp
from retrieval.loaders import CorruptFile, ProtectedDocument, load_bytes

HANGUL_BLOCKS = [
    "주차 안내",
    "방문객 주차는 2시간까지 무료입니다.",
    [["구분", "요금"], ["초과", "시간당 3,000원"]],
]


@pytest.mark.parametrize("compress", [True, False])
def test_hwp5_paragraphs_and_table_rows_are_read(compress: bool) -> None:
    blocks = [*HANGUL_BLOCKS, "표 다음 문단."]
    doc = load_bytes(hwp_file(blocks, flags=int(compress), compress=compress), "p.hwp")
    assert doc.title == "주차 안내"
    assert doc.text == (
        "주차 안내\n\n방문객 주차는 2시간까지 무료입니다.\n\n"
        "구분 | 요금\n초과 | 시간당 3,000원\n\n표 다음 문단."
    )


def test_hwp5_inline_controls_do_not_leak_into_the_text() -> None:
    tab, field = "\x09" + "\x00" * 6 + "\x09", "\x03" + "\x01" * 6 + "\x03"
    doc = load_bytes(hwp_file([f"이름{tab}홍길동{field}입니다"]), "c.hwp")
    assert doc.text == "이름 홍길동입니다"


def test_hwp5_long_section_outside_the_mini_stream_is_read() -> None:
    long = "가나다라 " * 2000
    assert load_bytes(hwp_file([long]), "long.hwp").text == long.strip()


@pytest.mark.parametrize(
    ("flags", "reason"),
    [(0b011, "password-protected: could not read HWP"), (0b101, "distribution-locked")],
)
def test_hwp5_password_and_distribution_locked_files_are_skipped(flags: int, reason: str) -> None:
    with pytest.raises(ProtectedDocument, match=reason):
        load_bytes(hwp_file(HANGUL_BLOCKS, flags=flags), "locked.hwp")


def test_hwpx_paragraphs_and_table_rows_are_read_with_the_package_title() -> None:
    doc = load_bytes(hwpx_file("주차 규정", HANGUL_BLOCKS), "p.hwpx")
    assert doc.title == "주차 규정"
    assert (
        doc.text
        == "주차 안내\n\n방문객 주차는 2시간까지 무료입니다.\n\n구분 | 요금\n초과 | 시간당 3,000원"
    )


def test_encrypted_hwpx_is_skipped_as_password_protected() -> None:
    with pytest.raises(ProtectedDocument):
        load_bytes(hwpx_file("x", HANGUL_BLOCKS, encrypted=True), "p.hwpx")


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (hwpx_file("x", ["a"]), "p.hwp", r"^not an HWP 5 file: it is a zip"),
        (hwp_file(["a"]), "p.hwpx", r"^not an HWPX file: it is an OLE file"),
        (b"HWP Document File V3.00 \x1a\x01\x02\x03" * 10, "old.hwp", r"HWP 3 and older"),
        (cfb_file({"FileHeader": b"nope" * 100}), "x.hwp", r"wrong signature"),
    ],
)
def test_mislabelled_hangul_files_get_a_clear_reason(data: bytes, name: str, reason: str) -> None:
    with pytest.raises(CorruptFile, match=reason):
        load_bytes(data, name)


@pytest.mark.parametrize(
    ("data", "name"),
    [(hwp_file(["가나다 " * 200]), "big.hwp"), (hwpx_file("t", ["가나다 " * 200]), "big.hwpx")],
)
def test_a_hangul_section_inflating_past_the_cap_is_refused(
    data: bytes, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hwp, "MAX_SECTION_BYTES", 500)  # a zip or deflate bomb, scaled down
    with pytest.raises(CorruptFile, match=r"is over 500 bytes$"):
        load_bytes(data, name)
