"""Small synthetic documents in every supported format, uploaded to a (moto) S3 bucket.

Each document states one fact nobody else states (`the code word for item N is zebra-N`),
so a test can tell from retrieval which documents are in an index.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docx
from reportlab.pdfgen import canvas

FORMATS = ("md", "txt", "html", "csv", "json", "pdf", "docx")


def bucket_name(label: str = "docs") -> str:
    return f"dualnova-{label}-{uuid.uuid4().hex[:10]}"


def code_word(number: int, revision: int = 0) -> str:
    return f"zebra{number}r{revision}"


def document(number: int, fmt: str, *, revision: int = 0) -> bytes:
    """A one-chunk document in `fmt` whose title and fact carry `number` (Korean for numbers
    ending in 3)."""
    title = f"Item {number} handbook"
    word = code_word(number, revision)
    if number % 10 == 3 and fmt != "pdf":  # reportlab's standard fonts have no Hangul
        sentence = (
            f"품목 {number} 안내서입니다. 프로젝트 암호는 {word} 입니다. 사무실은 서울에 있습니다."
        )
    else:
        sentence = (
            f"The code word for item {number} is {word}. Item {number} ships from the "
            f"warehouse in hall {number % 7} and is reviewed every quarter by the team."
        )
    if fmt == "md":
        return f"# {title}\n\n{sentence}\n".encode()
    if fmt == "txt":
        return f"{title}\n\n{sentence}\n".encode()
    if fmt == "html":
        return f"<html><head><title>{title}</title></head><body><p>{sentence}</p></body></html>".encode()
    if fmt == "csv":
        return f"item,fact\n{number},{sentence}\n".encode()
    if fmt == "json":
        return json.dumps({"title": title, "body": sentence}, ensure_ascii=False).encode()
    if fmt == "pdf":
        buffer = io.BytesIO()
        pdf = canvas.Canvas(buffer)
        pdf.setTitle(title)
        pdf.drawString(72, 760, sentence[:95])
        pdf.drawString(72, 740, sentence[95:])
        pdf.save()
        return buffer.getvalue()
    if fmt == "docx":
        word_doc = docx.Document()
        word_doc.core_properties.title = title
        word_doc.add_paragraph(sentence)
        buffer = io.BytesIO()
        word_doc.save(buffer)
        return buffer.getvalue()
    raise ValueError(fmt)


def key_of(prefix: str, number: int) -> str:
    fmt = FORMATS[number % len(FORMATS)]
    return f"{prefix}/item-{number:04d}.{fmt}"


def put_documents(
    client: Any, bucket: str, prefix: str, numbers: Iterable[int], *, revision: int = 0
) -> list[str]:
    """Upload documents `numbers` (format by number) under `prefix`; returns their keys."""

    def put(number: int) -> str:
        key = key_of(prefix, number)
        fmt = key.rsplit(".", 1)[1]
        client.put_object(Bucket=bucket, Key=key, Body=document(number, fmt, revision=revision))
        return key

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(put, numbers))
