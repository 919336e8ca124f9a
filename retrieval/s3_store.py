"""Index versions on S3 (INDEX_URI=s3://bucket/prefix), same layout as the local store.

    prefix/CURRENT                    {"version", "published_at"}: written last, by one PUT
    prefix/versions/<version>/...     manifest.json, docstore.json, vectors.npy
    prefix/.ingest.lock               the ingest lease when STATE_TABLE is not set

Writers save a version to a local folder, upload every file under `versions/<version>/`,
then PUT the pointer: a single-object PUT is atomic in S3, so readers see the old version or
the new one, never half of one. A crash before the pointer PUT leaves a version nothing
points at.

Readers poll the pointer with `If-None-Match: <etag>` (a 304 with no body when nothing
changed) and download a new version into a local cache folder once. A missing pointer is
decided by listing, never by a 404: with `s3:ListBucket` scoped by an `s3:prefix` condition,
S3 answers a GET on a missing key with 403, which must not read as "no index yet".
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from kernel.errors import IngestError, RetrievalError
from retrieval.locks import LeaseBackend, hold
from retrieval.s3 import (
    Action,
    S3Location,
    is_denied,
    is_missing,
    is_not_modified,
    s3_error,
)
from retrieval.store import (
    KEEP_VERSIONS,
    MANIFEST,
    POINTER,
    IngestLease,
    new_version_name,
    published_version,
)

log = logging.getLogger(__name__)

_TRANSFER_THREADS = 8
_T = TypeVar("_T")


class S3IndexStore:
    """`IndexStore` on an S3 prefix, with a local cache of downloaded versions."""

    def __init__(
        self,
        location: S3Location,
        *,
        client: Any,
        lock: LeaseBackend,
        lock_ttl_s: float = 60.0,
        cache_dir: Path | None = None,
        region: str = "",
    ) -> None:
        self.location = location
        self._client = client
        self._lock_backend = lock
        self._lock_ttl_s = lock_ttl_s
        self._cache_dir = cache_dir
        self._region = region
        self._pointer_etag: str | None = None
        self._pointer_version: str | None = None
        self._guard = threading.Lock()

    @property
    def uri(self) -> str:
        return self.location.uri

    # ---- reading ---------------------------------------------------------------------------

    def _error(self, exc: BaseException, action: Action, key: str, fallback: type) -> Exception:
        return s3_error(
            exc,
            action=action,
            location=self.location,
            key=key,
            region=self._region,
            fallback=fallback,
        )

    def current_version(self) -> str | None:
        key = self.location.key(POINTER)
        condition = {"IfNoneMatch": self._pointer_etag} if self._pointer_etag else {}
        try:
            response = self._client.get_object(Bucket=self.location.bucket, Key=key, **condition)
            data = json.loads(response["Body"].read())
        except ClientError as exc:
            if is_not_modified(exc):
                return self._pointer_version
            if (is_missing(exc) or is_denied(exc)) and not self._pointer_listed(key):
                self._pointer_etag = self._pointer_version = None
                return None
            raise self._error(exc, "read", key, RetrievalError) from None
        except BotoCoreError as exc:
            raise self._error(exc, "read", key, RetrievalError) from None
        except ValueError as exc:
            raise RetrievalError(
                f"index pointer {self.location.uri_of(key)} is unreadable: {exc}"
            ) from None
        version = str(data.get("version") or "") or None
        self._pointer_etag, self._pointer_version = str(response["ETag"]), version
        return version

    def _pointer_listed(self, key: str) -> bool:
        try:
            response = self._client.list_objects_v2(
                Bucket=self.location.bucket, Prefix=key, MaxKeys=1
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "list", key, RetrievalError) from None
        return any(item["Key"] == key for item in response.get("Contents", []))

    def require_current(self) -> tuple[str, Path]:
        version = published_version(self)
        return version, self._fetch(version)

    def read_manifest(self, version: str) -> dict[str, Any]:
        cached = self._cache_root() / version / MANIFEST
        try:
            if cached.exists():
                raw = cached.read_bytes()
            else:
                key = self._version_key(version, MANIFEST)
                body = self._client.get_object(Bucket=self.location.bucket, Key=key)["Body"]
                raw = body.read()
            data: dict[str, Any] = json.loads(raw)
        except (ClientError, BotoCoreError) as exc:
            key = self._version_key(version, MANIFEST)
            raise self._error(exc, "read", key, RetrievalError) from None
        except (OSError, ValueError) as exc:
            raise RetrievalError(f"index version {version}: manifest unreadable: {exc}") from exc
        return data

    def _version_key(self, version: str, name: str = "") -> str:
        return self.location.key("versions", version, name) + ("" if name else "/")

    def _cache_root(self) -> Path:
        if self._cache_dir is None:
            # Lazily: constructors do no I/O. One temp folder per store, removed at exit; only
            # the newest versions are kept in it meanwhile (see _fetch).
            self._cache_dir = Path(tempfile.mkdtemp(prefix="dualnova-index-"))
            atexit.register(shutil.rmtree, self._cache_dir, ignore_errors=True)
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        return self._cache_dir

    def _fetch(self, version: str) -> Path:
        """A local folder holding `version`, downloaded once per process."""
        root = self._cache_root()
        target = root / version
        with self._guard:
            if target.is_dir():
                return target
            partial = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=root))
            try:
                self._download(version, partial)
                partial.rename(target)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
            self._trim_cache(keep={version})
        return target

    def _download(self, version: str, into: Path) -> None:
        prefix = self._version_key(version)
        keys: list[str] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=prefix
            ):
                keys += [item["Key"] for item in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "list", prefix, RetrievalError) from None
        if not any(key.endswith("/" + MANIFEST) for key in keys):
            raise RetrievalError(
                f"index version {version} is missing under {self.location.uri_of(prefix)}"
            )

        def one(key: str) -> None:
            path = into / key.removeprefix(prefix)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._client.download_file(self.location.bucket, key, str(path))
            except (ClientError, BotoCoreError) as exc:
                raise self._error(exc, "read", key, RetrievalError) from None

        _run_all(one, keys)
        log.info("index version downloaded", extra={"version": version, "files": len(keys)})

    def _trim_cache(self, *, keep: set[str]) -> None:
        # Loaded versions live in memory (KnowledgeIndex reads every file), so only the newest
        # two folders are kept: the current one and the one an ingest may still build on.
        root = self._cache_root()
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for path in folders[:-2]:
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)

    # ---- writing ---------------------------------------------------------------------------

    def check_writable(self) -> None:
        key = self.location.key(f".probe-{new_version_name()}")
        try:
            self._client.put_object(Bucket=self.location.bucket, Key=key, Body=b"ok")
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "write", key, IngestError) from None
        try:
            self._client.delete_object(Bucket=self.location.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "delete", key, IngestError) from None

    def begin_version(self) -> tuple[str, Path]:
        version = new_version_name()
        path = self._cache_root() / f".staging-{version}"
        path.mkdir(parents=True)
        return version, path

    def commit(self, version: str, path: Path) -> None:
        files = sorted(p for p in path.rglob("*") if p.is_file())

        def one(file: Path) -> None:
            key = self._version_key(version, file.relative_to(path).as_posix())
            try:
                self._client.upload_file(str(file), self.location.bucket, key)
            except (ClientError, BotoCoreError) as exc:
                raise self._error(exc, "write", key, IngestError) from None

        _run_all(one, files)
        # The staged folder is exactly what a reader would download: keep it as the cache.
        with self._guard:
            path.rename(self._cache_root() / version)

    def abort(self, version: str, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(ClientError, BotoCoreError, RetrievalError):
            self._delete_prefix(self._version_key(version))

    def publish(self, version: str, *, extra: dict[str, Any] | None = None) -> None:
        key = self.location.key(POINTER)
        pointer = {
            "version": version,
            "published_at": datetime.now(UTC).isoformat(),
            **(extra or {}),
        }
        try:
            response = self._client.put_object(
                Bucket=self.location.bucket,
                Key=key,
                Body=json.dumps(pointer).encode("utf-8"),
                ContentType="application/json",
                CacheControl="no-cache",
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "write", key, IngestError) from None
        self._pointer_etag, self._pointer_version = str(response["ETag"]), version

    def prune(self, *, keep: int = KEEP_VERSIONS) -> None:
        from retrieval.store import older_versions

        prefix = self.location.key("versions") + "/"
        try:
            names: list[str] = []
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=prefix, Delimiter="/"
            ):
                names += [
                    p["Prefix"][len(prefix) :].strip("/") for p in page.get("CommonPrefixes", [])
                ]
            for name in older_versions(names, self.current_version(), keep):
                self._delete_prefix(self._version_key(name))
                log.info("pruned index version", extra={"version": name})
        except (ClientError, BotoCoreError) as exc:  # the new version is live; pruning can wait
            log.warning("index versions not pruned", extra={"reason": str(exc)})

    def _delete_prefix(self, prefix: str) -> None:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                self._client.delete_objects(
                    Bucket=self.location.bucket, Delete={"Objects": objects, "Quiet": True}
                )

    @contextlib.contextmanager
    def ingest_lock(self) -> Iterator[IngestLease]:
        with hold(self._lock_backend, ttl_s=self._lock_ttl_s, what=self.uri) as lease:
            yield lease


def _run_all(fn: Callable[[_T], None], items: list[_T]) -> None:
    """Run `fn` over `items` on a small pool; the first failure is raised."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=min(_TRANSFER_THREADS, len(items))) as pool:
        for _ in pool.map(fn, items):
            pass
