"""Where documents come from: a listing of objects with a fingerprint, and their bytes.

A document's key is its location as the user names it (`examples/docs/en/vpn.md`,
`s3://bucket/docs/vpn.md`), never an endpoint URL, so ids are the same on every machine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.errors import IngestError
from retrieval.loaders import SUPPORTED_EXTENSIONS

DEFAULT_MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class SourceObject:
    """One listed document: where it is, how big, and a fingerprint that changes with its content."""

    key: str
    name: str
    size: int
    fingerprint: str
    last_modified: str = ""


class Source(Protocol):
    uri: str

    def list(self) -> list[SourceObject]: ...

    def read(self, obj: SourceObject) -> bytes: ...


@dataclass(frozen=True)
class Skipped:
    key: str
    reason: str


class LocalFolderSource:
    """Documents in a local folder (recursively); hidden files and folders are ignored."""

    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.uri = root.as_posix().rstrip("/")
        self.max_bytes = max_bytes
        self.skipped: list[Skipped] = []

    def list(self) -> list[SourceObject]:
        if not self.root.exists():
            raise IngestError(
                f"{self.uri} does not exist; give a folder of documents or an s3:// URI"
            )
        if not self.root.is_dir():
            raise IngestError(f"{self.uri} is not a folder")
        objects: list[SourceObject] = []
        for path in sorted(self.root.rglob("*")):
            relative = path.relative_to(self.root)
            if not path.is_file() or any(part.startswith(".") for part in relative.parts):
                continue
            key = f"{self.uri}/{relative.as_posix()}"
            if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
                self.skipped.append(
                    Skipped(key, f"unsupported file type {path.suffix or '(none)'}")
                )
                continue
            size = path.stat().st_size
            if size > self.max_bytes:
                self.skipped.append(
                    Skipped(key, f"too large ({size:,} bytes > {self.max_bytes:,})")
                )
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            objects.append(SourceObject(key=key, name=path.name, size=size, fingerprint=digest))
        return objects

    def read(self, obj: SourceObject) -> bytes:
        return (self.root / obj.key.removeprefix(self.uri + "/")).read_bytes()


def open_source(uri: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Source:
    """A Source for a local folder (S3 sources arrive with the S3 issue)."""
    if uri.startswith("s3://"):
        raise IngestError("s3:// sources are not supported yet in this build; use a local folder")
    return LocalFolderSource(Path(uri), max_bytes=max_bytes)
