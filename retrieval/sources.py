"""Where documents come from: a listing of objects with a fingerprint, and their bytes.

A document's key is its location as the user names it (`examples/docs/en/vpn.md`,
`s3://bucket/docs/vpn.md`), never an endpoint URL, so ids are the same on every machine.
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from kernel.errors import AccessDenied, DualnovaError, IngestError
from kernel.models import GLOSSARY_FILE
from retrieval.loaders import SUPPORTED_EXTENSIONS, LoadedDocument, LoaderError, load_bytes
from retrieval.s3 import S3Location, is_s3_uri, parse_s3_uri, s3_client, s3_error

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# Objects S3 cannot serve without a restore request first.
_ARCHIVED = {"GLACIER", "DEEP_ARCHIVE"}


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
    skipped: list[Skipped]

    def list(self) -> list[SourceObject]: ...

    def read(self, obj: SourceObject) -> bytes: ...


@dataclass(frozen=True)
class Skipped:
    key: str
    reason: str
    denied: bool = False  # the credentials may not read it: a setup problem, not a bad file


def _unsupported_reason(name: str, size: int, max_bytes: int) -> str | None:
    if PurePosixPath(name).name == GLOSSARY_FILE:
        return "the glossary (configuration for prompts, not a document)"
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        return f"unsupported file type {suffix or '(none)'}"
    if size > max_bytes:
        return f"too large ({size:,} bytes > {max_bytes:,})"
    return None


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
            size = path.stat().st_size
            reason = _unsupported_reason(path.name, size, self.max_bytes)
            if reason:
                self.skipped.append(Skipped(key, reason))
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            objects.append(SourceObject(key=key, name=path.name, size=size, fingerprint=digest))
        return objects

    def read(self, obj: SourceObject) -> bytes:
        return (self.root / obj.key.removeprefix(self.uri + "/")).read_bytes()


class S3Source:
    """Documents under an S3 prefix. The fingerprint is the ETag, so deciding that an object
    is unchanged costs one listing entry: no GetObject, no embedding."""

    def __init__(
        self,
        location: S3Location,
        *,
        client: Any,
        max_bytes: int = DEFAULT_MAX_BYTES,
        region: str = "",
        exclude: tuple[str, ...] = (),
    ) -> None:
        self.location = location
        self._exclude = exclude
        self.uri = location.uri
        self.max_bytes = max_bytes
        self.skipped: list[Skipped] = []
        self._client = client
        self._region = region

    def list(self) -> list[SourceObject]:
        objects: list[SourceObject] = []
        listed = 0
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(
                Bucket=self.location.bucket, Prefix=self.location.folder
            ):
                for item in page.get("Contents", []):
                    listed += 1
                    obj = self._object(item)
                    if obj is not None:
                        objects.append(obj)
        except (ClientError, BotoCoreError) as exc:
            raise s3_error(
                exc, action="list", location=self.location, region=self._region
            ) from None
        if listed == 0:
            raise IngestError(
                f"nothing under {self.uri}: the prefix holds no objects. Check its spelling (keys "
                f"are case-sensitive) and that documents were uploaded (aws s3 ls {self.uri}/)"
            )
        return objects

    def _object(self, item: dict[str, Any]) -> SourceObject | None:
        key = str(item["Key"])
        relative = key.removeprefix(self.location.folder)
        parts = relative.split("/")
        # Folder markers, hidden files and Bedrock Knowledge Base metadata sidecars are not
        # documents; they are left out silently, as a local folder's dotfiles are.
        if key.endswith("/") or any(p.startswith(".") for p in parts):
            return None
        if key.endswith(".metadata.json") or (self._exclude and key.startswith(self._exclude)):
            return None  # KB sidecars; the index itself when it lives under the source
        uri = self.location.uri_of(key)
        size = int(item.get("Size", 0))
        reason = _unsupported_reason(key, size, self.max_bytes)
        if reason is None and item.get("StorageClass") in _ARCHIVED:
            reason = f"archived in {item['StorageClass']}; restore it before ingesting"
        if reason:
            self.skipped.append(Skipped(uri, reason))
            return None
        modified = item.get("LastModified")
        return SourceObject(
            key=uri,
            name=parts[-1],
            size=size,
            fingerprint=str(item.get("ETag", "")).strip('"'),
            last_modified=modified.isoformat() if modified is not None else "",
        )

    def read(self, obj: SourceObject) -> bytes:
        key = obj.key.removeprefix(f"s3://{self.location.bucket}/")
        try:
            response = self._client.get_object(Bucket=self.location.bucket, Key=key)
            return bytes(response["Body"].read())
        except (ClientError, BotoCoreError) as exc:
            raise s3_error(
                exc, action="read", location=self.location, key=key, region=self._region
            ) from None


def open_source(
    uri: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    s3: Any | None = None,
    region: str = "",
    index_uri: str | None = None,
) -> Source:
    """A Source for a local folder or an `s3://bucket/prefix` (then `s3` is the client).
    Objects under `index_uri` are never documents, even when the source contains it."""
    if is_s3_uri(uri):
        location = parse_s3_uri(uri)
        if s3 is None:
            # A caller without settings at hand: boto3 finds the region, the endpoint
            # (AWS_ENDPOINT_URL_S3) and credentials where it always looks.
            s3 = s3_client(region=region or None, endpoint_url=None)
        exclude: tuple[str, ...] = ()
        if index_uri and is_s3_uri(index_uri):
            index = parse_s3_uri(index_uri)
            if index.bucket == location.bucket:  # its lock and probes are hidden files anyway
                exclude = (index.key("versions") + "/", index.key("CURRENT"))
        return S3Source(location, client=s3, max_bytes=max_bytes, region=region, exclude=exclude)
    return LocalFolderSource(Path(uri), max_bytes=max_bytes)


def _parse(data: bytes, name: str, parser: Executor | None) -> LoadedDocument:
    if parser is not None:
        try:
            return parser.submit(load_bytes, data, name).result()
        except BrokenProcessPool:  # a worker died (a parser crash): parse here instead
            log.warning("parser process pool broken; parsing in threads", extra={"doc": name})
    return load_bytes(data, name)


def _read_and_load(
    source: Source, obj: SourceObject, parser: Executor | None
) -> LoadedDocument | Skipped:
    try:
        return _parse(source.read(obj), obj.name, parser)
    except LoaderError as exc:
        return Skipped(obj.key, str(exc))
    except AccessDenied as exc:
        return Skipped(obj.key, str(exc), denied=True)
    except DualnovaError as exc:
        return Skipped(obj.key, str(exc))
    except OSError as exc:
        return Skipped(obj.key, f"could not read: {exc.strerror or exc}")


def read_documents(
    source: Source,
    objects: Iterable[SourceObject],
    *,
    concurrency: int = 8,
    ahead: int = 64,
    parser: Executor | None = None,
) -> Iterator[tuple[SourceObject, LoadedDocument | Skipped]]:
    """Read and parse objects on a bounded pool, yielding them in listing order.

    At most `ahead` documents are in flight or waiting, so memory stays bounded however
    large the listing; reads continue in the background while the caller embeds. With a
    `parser` (a process pool), parsing runs there, off this process's GIL.
    """
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="read")
    pending: deque[tuple[SourceObject, Future[LoadedDocument | Skipped]]] = deque()
    remaining = iter(objects)
    try:
        for obj in remaining:
            pending.append((obj, pool.submit(_read_and_load, source, obj, parser)))
            if len(pending) >= max(ahead, concurrency):
                break
        while pending:
            obj, future = pending.popleft()
            following = next(remaining, None)
            if following is not None:
                pending.append((following, pool.submit(_read_and_load, source, following, parser)))
            yield obj, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
