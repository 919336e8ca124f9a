"""S3 failures name their fix: the IAM action and the exact ARN form, the region, the URI."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bot.config import load_settings
from bot.doctor import collect_checks
from fakes.aws import MotoServer
from fakes.s3_corpus import bucket_name, put_documents
from kernel.errors import AccessDenied, ConfigError, IngestError
from retrieval.ingest import ingest
from retrieval.s3 import parse_s3_uri, s3_error
from retrieval.sources import open_source
from retrieval.store import LocalIndexStore


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    name = bucket_name("err")
    client = moto_server.client("s3")
    client.create_bucket(Bucket=name)
    put_documents(client, name, "docs", range(3))
    return name


def restricted(moto_server: MotoServer, *actions: str) -> Any:
    credentials = moto_server.credentials_allowing(*actions, user=f"u-{uuid.uuid4().hex[:8]}")
    return moto_server.client("s3", **credentials)


def test_access_denied_on_get_object_names_the_object_arn_not_the_bucket(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    client = restricted(moto_server, "s3:ListBucket")
    store = LocalIndexStore(tmp_path / "index")

    with moto_server.enforce_iam(), pytest.raises(AccessDenied) as denied:
        ingest(
            source=open_source(f"s3://{bucket}/docs", s3=client),
            store=store,
            embedder=None,
            detect_language=lambda text: "en",
        )

    message = str(denied.value)
    assert "s3:GetObject" in message and f"arn:aws:s3:::{bucket}/docs/*" in message
    assert f"not the bucket ARN arn:aws:s3:::{bucket})" in message
    assert "published index was left as it was" in message and store.current_version() is None


def test_access_denied_on_listing_names_list_bucket_on_the_bucket_with_a_prefix_condition(
    moto_server: MotoServer, bucket: str
) -> None:
    client = restricted(moto_server, "s3:GetObject")

    with moto_server.enforce_iam(), pytest.raises(AccessDenied) as denied:
        open_source(f"s3://{bucket}/docs", s3=client).list()

    message = str(denied.value)
    assert f"s3:ListBucket on the bucket ARN arn:aws:s3:::{bucket} (not /*)" in message
    assert '"s3:prefix": "docs/*"' in message


def test_missing_bucket_empty_prefix_and_malformed_uris_are_plain_messages(
    moto_server: MotoServer, bucket: str
) -> None:
    client = moto_server.client("s3")
    with pytest.raises(
        IngestError, match=r"bucket dualnova-nope-1 does not exist \(NoSuchBucket\)"
    ):
        open_source("s3://dualnova-nope-1/docs", s3=client).list()
    with pytest.raises(
        IngestError, match=r"nothing under s3://.*/typo: the prefix holds no objects"
    ):
        open_source(f"s3://{bucket}/typo", s3=client).list()
    for uri in ("s3://", "s3://Bad_Bucket/docs", "s3://ab/x", "s3://bucket-name/a//b"):
        with pytest.raises(IngestError, match="malformed S3 URI"):
            open_source(uri, s3=client)


@pytest.mark.parametrize(
    ("code", "status", "error_extra", "headers"),
    [
        ("PermanentRedirect", 301, {}, {"x-amz-bucket-region": "eu-west-1"}),
        ("AuthorizationHeaderMalformed", 400, {"Region": "eu-west-1"}, {}),
    ],
)
def test_a_bucket_in_another_region_names_that_region(
    code: str, status: int, error_extra: dict[str, str], headers: dict[str, str]
) -> None:
    exc = ClientError(
        {
            "Error": {"Code": code, "Message": "wrong region", **error_extra},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
        },
        "ListObjectsV2",
    )

    error = s3_error(
        exc, action="list", location=parse_s3_uri("s3://docs-eu/x"), region="us-east-1"
    )

    assert "bucket docs-eu is in region eu-west-1, not us-east-1" in str(error)
    assert "set AWS_REGION=eu-west-1" in str(error)


def test_bad_index_uri_and_missing_knowledge_base_id_fail_at_start(aws_env: Path) -> None:
    with pytest.raises(ConfigError, match=r"^INDEX_URI: malformed S3 URI 's3://No_Such'"):
        load_settings(index_uri="s3://No_Such")
    with pytest.raises(
        ConfigError, match=r"^KNOWLEDGE_BASE_ID: required when RETRIEVER=bedrock-kb"
    ):
        load_settings(retriever="bedrock-kb")


def test_doctor_probes_s3_and_prints_the_statement_that_fixes_each_denial(
    aws_env: Path, moto_server: MotoServer, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server.url)
    monkeypatch.setenv("DOCS_SOURCE", f"s3://{bucket}/docs")
    monkeypatch.setenv("INDEX_URI", f"s3://{bucket}/index")
    monkeypatch.setenv("DUALNOVA_OFFLINE", "1")
    settings = load_settings()

    healthy = {c.name: c for c in collect_checks(settings)}
    assert all(
        healthy[n].ok
        for n in (
            "documents: list",
            "documents: read",
            "index: write",
            "index: read",
            "index: delete",
        )
    )
    assert "HEAD and GET docs/item-0000.md" in healthy["documents: read"].detail

    credentials = moto_server.credentials_allowing(
        "s3:ListBucket", user=f"u-{uuid.uuid4().hex[:8]}"
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["aws_secret_access_key"])
    with moto_server.enforce_iam():
        checks = {c.name: c for c in collect_checks(load_settings())}

    assert checks["documents: list"].ok
    read = checks["documents: read"]
    assert not read.ok and '"Action": "s3:GetObject"' in read.fix
    assert f'"Resource": "arn:aws:s3:::{bucket}/docs/*"' in read.fix
    write = checks["index: write"]
    assert not write.ok and '"Action": "s3:PutObject"' in write.fix
    assert f'"Resource": "arn:aws:s3:::{bucket}/index/*"' in write.fix
    assert "index: read" not in checks  # nothing was written to read back
