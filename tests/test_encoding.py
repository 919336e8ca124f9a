"""retrieval.encoding through the loaders: legacy encodings decoded and recorded, the rest refused
with a reason."""

from __future__ import annotations

import pytest
from llama_index.core.node_parser import SentenceSplitter

from retrieval.loaders import UndecodableText, load_bytes
from retrieval.loading import CHUNK_OVERLAP, CHUNK_SIZE, chunk
from retrieval.sources import SourceObject
from tests.office_files import xlsx_file

KO = "재택근무 정책\n\n직원은 주당 최대 3일까지 재택근무를 할 수 있습니다. 신청은 전날 오후 5시까지 팀장에게 합니다."


JA = "経費精算ガイド\n\n出張の交通費は翌月25日に振り込まれます。領収書は必ず添付してください。"


ZH = "上海办公室指南\n\n员工每月可报销交通费最多八百元人民币，需要在月底前提交发票。"


TW = "台北辦公室指南\n\n員工每月可報銷交通費最多八百元新台幣，需要在月底前提交發票。"


EN = "Café policy: the café on floor 3 serves crème brûlée every Friday — free for staff."


@pytest.mark.parametrize(
    ("text", "codec", "detected"),
    [
        (KO, "cp949", "cp949"),
        (KO, "euc_kr", "cp949"),
        (JA, "shift_jis", "cp932"),
        (JA, "cp932", "cp932"),
        (JA, "euc_jp", "euc_jis_2004"),
        (ZH, "gb18030", "gb18030"),
        (ZH, "gbk", "gb18030"),
        (TW, "big5", "big5"),
        (EN, "cp1252", "cp1252"),
        (EN + " " + KO, "utf-16-le", "utf-16-le"),
        ("有給休暇は20日です。", "shift_jis", "cp932"),
        ("年假是十五天。", "gb18030", "gb18030"),
        ("연차는 15일입니다.", "cp949", "cp949"),
        (
            "Straße, Größe: Mitarbeiter erhalten 30 Tage Urlaub. Öffnungszeiten 9–17 Uhr.",
            "cp1252",
            "cp1252",
        ),
        ("The “quick” brown fox — it’s only €5 at Müller’s café.", "cp1252", "cp1252"),
        (
            "Zażółć gęślą jaźń. Łódź i Kraków — ceny w zł. Przyjdź jutro o ósmej.",
            "cp1250",
            "cp1250",
        ),
        ("Отпуск составляет 28 календарных дней в году.", "cp1251", "cp1251"),
    ],
)
def test_legacy_encoded_text_is_decoded_and_its_encoding_recorded(
    text: str, codec: str, detected: str
) -> None:
    doc = load_bytes(text.encode(codec), "policy.txt")
    assert doc.text == text.replace("\r\n", "\n")
    assert doc.encoding == detected


def test_markdown_and_csv_go_through_detection_too() -> None:
    md = load_bytes(f"# 経費\n\n{JA}".encode("shift_jis"), "keihi.md")
    assert (md.title, md.encoding) == ("経費", "cp932")
    csv = load_bytes("도시,한도\n서울,220000\n".encode("cp949"), "limits.csv")
    assert csv.text == "도시: 서울\n한도: 220000"


def test_html_meta_charset_is_honoured_before_detection() -> None:
    page = f'<html><head><meta charset="shift_jis"><title>経費</title></head><p>{JA}</p>'
    doc = load_bytes(page.encode("shift_jis"), "keihi.html")
    assert (doc.title, doc.encoding) == ("経費", "cp932")
    assert "翌月25日" in doc.text


def test_a_wrong_utf8_declaration_falls_back_to_what_the_bytes_are() -> None:
    page = f'<meta charset="utf-8"><p>{KO}</p>'.encode("cp949")
    assert load_bytes(page, "remote.html").encoding == "cp949"


def test_utf8_sample_documents_record_utf8() -> None:
    assert load_bytes("연차 20일".encode(), "a.txt").encoding == "utf-8"


def test_an_office_file_named_txt_is_refused_with_what_it_is() -> None:
    with pytest.raises(UndecodableText, match=r"^not text: the file is a zip archive"):
        load_bytes(xlsx_file([["a", "b"], ["1", "2"]]), "budget.txt")


def test_an_unclear_guess_is_refused_with_the_best_guess_named() -> None:
    # Valid CP949, but only Hangul syllables outside everyday use: no reading is believable.
    rare = [chr(c) for c in range(0xAC01, 0xB400) if len(chr(c).encode("euc_kr")) != 2]
    data = " ".join("".join(rare[i : i + 3]) for i in range(0, 90, 3)).encode("cp949")
    with pytest.raises(
        UndecodableText, match=r"^encoding unclear \(best guess \S+ at \d+% confidence\)"
    ):
        load_bytes(data, "odd.txt")


def test_chunk_metadata_records_the_detected_encoding() -> None:
    obj = SourceObject(key="docs/k.txt", name="k.txt", size=1, fingerprint="f")
    splitter = SentenceSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    nodes = chunk(obj, load_bytes(KO.encode("cp949"), "k.txt"), splitter, lambda t: "ko", "p")
    assert {n.metadata["encoding"] for n in nodes} == {"cp949"}
