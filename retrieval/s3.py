"""S3 at the client boundary: `s3://` locations, one configured client, and the one place
where botocore's S3 errors become project errors whose message names the fix.

The predecessor's first deploy failed on `403 Forbidden` because its role allowed
`s3:GetObject` on `arn:aws:s3:::bucket` (the bucket) instead of `arn:aws:s3:::bucket/*`
(its objects). So a denial here always says which action, on which ARN form, would fix it:
object actions on the object ARN, listing on the bucket ARN with an `s3:prefix` condition.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import boto3
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from kernel.aws_clients import aws_client
from kernel.aws_errors import BAD_CREDENTIALS, DENIED, MISSING, error_code, http_status
from kernel.errors import AccessDenied, DualnovaError, IngestError

Action = Literal["list", "read", "write", "delete"]

# Bucket naming rules (general purpose buckets): 3-63 lowercase letters, digits, dots, hyphens.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_WRONG_REGION = {
    "PermanentRedirect",
    "301",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
}
IAM_ACTIONS: dict[str, str] = {
    "list": "s3:ListBucket",
    "read": "s3:GetObject",
    "write": "s3:PutObject",
    "delete": "s3:DeleteObject",
}
# S3 answers the same 403 AccessDenied when the object (or the bucket's default encryption)
# uses a KMS key the caller may not use; only the message tells, and the fix is a KMS grant.
_KMS_HINTS = ("kms:", "KMS", "customer master key")
_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")
#: Reading decrypts the data key; writing makes one (and multipart uploads decrypt it too).
KMS_ACTIONS: dict[str, tuple[str, ...]] = {
    "read": ("kms:Decrypt",),
    "write": ("kms:GenerateDataKey", "kms:Decrypt"),
}


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix treated as a folder (`docs` lists `docs/...`, not `docs-old/`)."""

    bucket: str
    prefix: str = ""

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def folder(self) -> str:
        """The listing prefix: `prefix/`, or "" for the whole bucket."""
        return f"{self.prefix}/" if self.prefix else ""

    def key(self, *parts: str) -> str:
        return self.folder + "/".join(p.strip("/") for p in parts if p)

    def uri_of(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}"

    @property
    def objects_arn(self) -> str:
        return f"arn:aws:s3:::{self.bucket}/{self.folder}*"


def is_s3_uri(uri: str) -> bool:
    return uri.startswith("s3://")


def parse_s3_uri(uri: str, *, error: type[Exception] = IngestError) -> S3Location:
    """`s3://bucket/some/prefix/` -> S3Location("bucket", "some/prefix"); a clear error otherwise."""
    usage = "expected s3://BUCKET/PREFIX (bucket names: 3-63 lowercase letters, digits, . and -)"
    if not uri.startswith("s3://"):
        raise error(f"malformed S3 URI {uri!r}: {usage}")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise error(f"malformed S3 URI {uri!r}: {bucket!r} is not a bucket name; {usage}")
    if "//" in prefix:
        raise error(f"malformed S3 URI {uri!r}: empty path segment in the prefix; {usage}")
    return S3Location(bucket=bucket, prefix=prefix)


def _fast_timestamp(value: str) -> datetime:
    # botocore parses every LastModified with dateutil (~40% of a 1,000-key listing's client
    # time); S3 always sends ISO 8601 in listings, which the standard library parses directly.
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        from botocore.utils import parse_timestamp

        return parse_timestamp(value)  # type: ignore[no-any-return]


_LOADER_LOCK = threading.Lock()
_LOADERS: list[Any] = []


def _session() -> botocore.session.Session:
    """A fresh botocore session (its own credential chain) sharing one model loader: a new
    loader re-reads the S3 service model, ~0.1 s per client."""
    core = botocore.session.get_session()
    with _LOADER_LOCK:
        if not _LOADERS:
            _LOADERS.append(core.get_component("data_loader"))
    core.register_component("data_loader", _LOADERS[0])
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=_fast_timestamp
    )
    return core


def s3_client(*, region: str | None, endpoint_url: str | None, pool: int = 32) -> Any:
    """The S3 client ingest and the index store share (thread safe). Does no I/O."""
    session = boto3.Session(botocore_session=_session(), region_name=region)
    return aws_client("s3", region=region, endpoint_url=endpoint_url, pool=pool, session=session)


def is_missing(exc: BaseException) -> bool:
    return error_code(exc) in MISSING


def is_denied(exc: BaseException) -> bool:
    return error_code(exc) in DENIED


def is_precondition_failed(exc: BaseException) -> bool:
    return error_code(exc) in {"PreconditionFailed", "412"} or http_status(exc) == 412


def is_not_modified(exc: BaseException) -> bool:
    return error_code(exc) == "304" or http_status(exc) == 304


def kms_denial(exc: BaseException) -> str | None:
    """For an AccessDenied caused by a KMS key: the key's ARN ('' when S3 does not name it).
    None when the denial is about S3 permissions (or the error is not a denial)."""
    if not isinstance(exc, ClientError) or not is_denied(exc):
        return None
    message = str(exc.response.get("Error", {}).get("Message", ""))
    if not any(hint in message for hint in _KMS_HINTS):
        return None
    found = _KMS_KEY_ARN.search(message)
    return found.group(0) if found else ""


def kms_fix_statement(action: Action, key_arn: str, region: str) -> dict[str, Any]:
    """The statement that lets the role use `key_arn` through S3 for `action`."""
    return {
        "Effect": "Allow",
        "Action": list(KMS_ACTIONS.get(action, ("kms:Decrypt",))),
        "Resource": key_arn or "arn:aws:kms:REGION:ACCOUNT:key/KEY_ID (the bucket's key)",
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region or 'REGION'}.amazonaws.com"}},
    }


def kms_denial_fix(action: Action, key_arn: str, region: str) -> str:
    """One sentence and the statement for a KMS denial: not an S3 permission."""
    actions = " and ".join(KMS_ACTIONS.get(action, ("kms:Decrypt",)))
    key = key_arn or "the bucket's KMS key"
    return (
        f"the data is encrypted with KMS key {key}, which the role may not use; allow {actions} "
        f"on that key ({IAM_ACTIONS[action]} itself is allowed): "
        f"{json.dumps(kms_fix_statement(action, key_arn, region))}"
    )


def fix_statement(action: Action, location: S3Location) -> dict[str, Any]:
    """The IAM policy statement that allows `action` under `location`."""
    if action == "list":
        return {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": location.bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": f"{location.folder}*"}},
        }
    return {"Effect": "Allow", "Action": IAM_ACTIONS[action], "Resource": location.objects_arn}


def denial_fix(action: Action, location: S3Location) -> str:
    """One sentence and the statement: what the task role (or user) is missing."""
    statement = json.dumps(fix_statement(action, location))
    if action == "list":
        return (
            f"allow s3:ListBucket on the bucket ARN {location.bucket_arn} (not /*), "
            f"with an s3:prefix condition for {location.folder or '(the whole bucket)'}: {statement}"
        )
    return (
        f"allow {IAM_ACTIONS[action]} on the objects' ARN {location.objects_arn} "
        f"(not the bucket ARN {location.bucket_arn}): {statement}"
    )


def s3_error(
    exc: BaseException,
    *,
    action: Action,
    location: S3Location,
    key: str | None = None,
    region: str = "",
    fallback: type[DualnovaError] = IngestError,
) -> DualnovaError:
    """Translate one botocore failure on `location` into an error that says what to do."""
    code = error_code(exc)
    target = location.uri_of(key) if key else location.uri
    operation = {
        "list": "listing",
        "read": "reading",
        "write": "writing",
        "delete": "deleting",
    }[action]
    if isinstance(exc, NoCredentialsError):
        return AccessDenied(
            f"no AWS credentials for {operation} {target}; set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with a task/instance role"
        )
    key_arn = kms_denial(exc)
    if key_arn is not None:
        return AccessDenied(
            f"access denied {operation} {target}: {kms_denial_fix(action, key_arn, region)}"
        )
    if code in DENIED:
        return AccessDenied(f"access denied {operation} {target}: {denial_fix(action, location)}")
    if code in BAD_CREDENTIALS:
        return AccessDenied(
            f"S3 rejected the credentials ({code}) while {operation} {target}; "
            "refresh them (aws sso login, new keys) or check AWS_PROFILE"
        )
    if code == "NoSuchBucket":
        return fallback(
            f"bucket {location.bucket} does not exist (NoSuchBucket) — check the bucket name in "
            f"{location.uri} (and the account: bucket names are global)"
        )
    if code in _WRONG_REGION:
        bucket_region = _bucket_region(exc)
        where = f"in region {bucket_region}" if bucket_region else "in another region"
        return fallback(
            f"bucket {location.bucket} is {where}, not {region or 'the configured region'} "
            f"({code}); set AWS_REGION={bucket_region or '<the bucket region>'}"
        )
    if code in MISSING:
        return fallback(f"{target} does not exist ({code})")
    if isinstance(exc, ClientError | BotoCoreError):
        return fallback(f"S3 failed {operation} {target}: {code or exc.__class__.__name__}")
    return fallback(f"S3 failed {operation} {target}: {exc.__class__.__name__}")


def _bucket_region(exc: BaseException) -> str:
    if not isinstance(exc, ClientError):
        return ""
    error = exc.response.get("Error", {})
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return str(error.get("Region") or headers.get("x-amz-bucket-region") or "")
