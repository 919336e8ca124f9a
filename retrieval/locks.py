"""One ingest at a time across tasks: a lease with a TTL, renewed while the ingest runs.

Two backends implement the same three conditional writes (acquire, renew, release):

- `DynamoLock`: a conditional PutItem on the state table (pk/sk/expires_at, the schema of
  `bot/state.py`), used when STATE_TABLE is set;
- `S3ObjectLock`: `PutObject` with `If-None-Match: *` on `<index prefix>/.ingest.lock`, renewed
  with `If-Match: <etag>` (S3 conditional writes, GA since 2024; moto implements both).

A crashed holder stops renewing, so its lease expires after `ttl_s` and the next ingest may
take it over (atomically: a conditional write on the expired record). While held, a daemon
thread renews every ttl/3; `confirm()` renews once more right before publishing, so an
ingest that lost its lease (stalled past the TTL and taken over) never publishes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from kernel.aws_errors import BAD_CREDENTIALS, CONDITION_FAILED, DENIED, error_code
from kernel.errors import IngestError
from retrieval.s3 import S3Location, is_missing, is_precondition_failed, s3_error

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Owner:
    """Who holds the lease: `description` is shown to the loser, `token` proves ownership."""

    description: str
    token: str

    @classmethod
    def this_process(cls) -> Owner:
        since = time.strftime("%Y-%m-%d %H:%M:%S")
        return cls(f"pid {os.getpid()} on {socket.gethostname()} since {since}", uuid.uuid4().hex)


class LeaseBackend(Protocol):
    def acquire(self, owner: Owner, ttl_s: float) -> str | None:
        """None when acquired; otherwise the current holder's description."""
        ...

    def renew(self, owner: Owner, ttl_s: float) -> bool:
        """Extend the lease; False when it is no longer ours."""
        ...

    def release(self, owner: Owner) -> None: ...


class Lease:
    """A held lock: renewed in the background; `confirm()` before any irreversible step."""

    def __init__(self, backend: LeaseBackend, owner: Owner, ttl_s: float, what: str) -> None:
        self._backend, self._owner, self._ttl_s, self._what = backend, owner, ttl_s, what
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name="lease", daemon=True)

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._ttl_s / 3):
            try:
                if not self._backend.renew(self._owner, self._ttl_s):
                    self._lost.set()
                    return
            except Exception as exc:  # a blip: the next renewal (or confirm) decides
                log.warning("ingest lock renewal failed", extra={"reason": str(exc)})

    def confirm(self) -> None:
        if self._lost.is_set() or not self._backend.renew(self._owner, self._ttl_s):
            self._lost.set()
            raise IngestError(
                f"the ingest lock on {self._what} expired and was taken over; "
                "nothing was published (raise INGEST_LOCK_TTL_SECONDS if ingests stall that long)"
            )

    def _start(self) -> None:
        self._thread.start()

    def _end(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if not self._lost.is_set():
            try:
                self._backend.release(self._owner)
            except Exception as exc:  # the TTL frees it anyway
                log.warning("ingest lock release failed", extra={"reason": str(exc)})


@contextlib.contextmanager
def hold(backend: LeaseBackend, *, ttl_s: float, what: str) -> Iterator[Lease]:
    """Hold the lease for the block, or raise IngestError naming who holds it."""
    owner = Owner.this_process()
    holder = backend.acquire(owner, ttl_s)
    if holder is not None:
        raise IngestError(f"another ingest is running ({holder}); try again when it ends")
    lease = Lease(backend, owner, ttl_s, what)
    lease._start()
    try:
        yield lease
    finally:
        lease._end()


class DynamoLock:
    """The lease as one item of the state table: pk = `lock#ingest#<index uri>`, sk = `_`."""

    def __init__(self, *, client: Any, table: str, name: str) -> None:
        self._client, self._table = client, table
        self._key = {"pk": {"S": f"lock#ingest#{name}"}, "sk": {"S": "_"}}

    def acquire(self, owner: Owner, ttl_s: float) -> str | None:
        now = time.time()
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **self._key,
                    "owner": {"S": owner.description},
                    "token": {"S": owner.token},
                    "expires_at": {"N": str(int(now + ttl_s) + 1)},
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
            return None
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise _state_error(exc, self._table) from None
        item = self._client.get_item(TableName=self._table, Key=self._key).get("Item", {})
        return str(item.get("owner", {}).get("S", "another process"))

    def renew(self, owner: Owner, ttl_s: float) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression="SET expires_at = :e",
                ConditionExpression="#t = :t",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={
                    ":e": {"N": str(int(time.time() + ttl_s) + 1)},
                    ":t": {"S": owner.token},
                },
            )
            return True
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise

    def release(self, owner: Owner) -> None:
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.delete_item(
                TableName=self._table,
                Key=self._key,
                ConditionExpression="#t = :t",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={":t": {"S": owner.token}},
            )


def _state_error(exc: ClientError, table: str) -> IngestError:
    code = error_code(exc)
    if code in DENIED or code in BAD_CREDENTIALS:
        return IngestError(
            f"the ingest lock needs dynamodb:PutItem, GetItem, UpdateItem and DeleteItem on "
            f"table {table} (STATE_TABLE): {code}"
        )
    return IngestError(f"the ingest lock on table {table} failed: {code}")


class S3ObjectLock:
    """The lease as a small JSON object written with S3 conditional writes."""

    def __init__(self, *, client: Any, location: S3Location, region: str = "") -> None:
        self._client, self._location, self._region = client, location, region
        self._key = location.key(".ingest.lock")
        self._etag: str | None = None

    def _body(self, owner: Owner, ttl_s: float) -> bytes:
        record = {
            "owner": owner.description,
            "token": owner.token,
            "ttl_s": ttl_s,
            "expires_at": time.time() + ttl_s,
        }
        return json.dumps(record).encode("utf-8")

    def _put(self, body: bytes, **condition: str) -> bool:
        try:
            response = self._client.put_object(
                Bucket=self._location.bucket, Key=self._key, Body=body, **condition
            )
        except ClientError as exc:
            # 409 ConditionalRequestConflict: another conditional write on the key raced us.
            if is_precondition_failed(exc) or error_code(exc) == "ConditionalRequestConflict":
                return False
            raise self._error(exc, "write") from None
        self._etag = str(response["ETag"])
        return True

    def _error(self, exc: BaseException, action: str) -> Exception:
        return s3_error(
            exc,
            action="write" if action == "write" else "read",
            location=self._location,
            key=self._key,
            region=self._region,
        )

    def acquire(self, owner: Owner, ttl_s: float) -> str | None:
        if self._put(self._body(owner, ttl_s), IfNoneMatch="*"):
            return None
        try:
            current = self._client.get_object(Bucket=self._location.bucket, Key=self._key)
        except ClientError as exc:
            if is_missing(exc):  # released between our write and this read: try once more
                return (
                    None
                    if self._put(self._body(owner, ttl_s), IfNoneMatch="*")
                    else "another process"
                )
            raise self._error(exc, "read") from None
        try:
            record = json.loads(current["Body"].read())
        except ValueError:
            record = {}
        if _expired(current, record):
            # The holder stopped renewing (crashed): take over, but only if nobody else did.
            log.warning("taking over an expired ingest lock", extra={"holder": record.get("owner")})
            if self._put(self._body(owner, ttl_s), IfMatch=str(current["ETag"])):
                return None
        return str(record.get("owner") or "another process")

    def renew(self, owner: Owner, ttl_s: float) -> bool:
        if self._etag is None:
            return False
        return self._put(self._body(owner, ttl_s), IfMatch=self._etag)

    def release(self, owner: Owner) -> None:
        if self._etag is None:
            return
        bucket, key, etag = self._location.bucket, self._key, self._etag
        try:
            self._client.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
        except ClientError as exc:
            if is_precondition_failed(exc) or is_missing(exc):
                return  # no longer ours (taken over after expiry) or already gone
            # Stores without conditional deletes: delete only if the record is still ours.
            try:
                current = self._client.head_object(Bucket=bucket, Key=key)
                if current.get("ETag") == etag:
                    self._client.delete_object(Bucket=bucket, Key=key)
            except (ClientError, BotoCoreError) as again:
                log.warning("ingest lock not released", extra={"reason": error_code(again)})
        finally:
            self._etag = None


def _expired(response: dict[str, Any], record: dict[str, Any]) -> bool:
    """Judge expiry by S3's clock (the reply's Date against the object's LastModified, which
    every renewal refreshes), so a skewed clock on either host cannot steal a live lease."""
    modified = response.get("LastModified")
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    ttl_s = record.get("ttl_s")
    if modified is not None and date and ttl_s is not None:
        now = parsedate_to_datetime(date)
        return bool((now - modified).total_seconds() > float(ttl_s) + 1)
    return float(record.get("expires_at", 0)) < time.time()
