"""KMS-encrypted buckets: a denial by the key names kms:Decrypt (or GenerateDataKey), not S3."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from bot.config import load_settings
from bot.doctor import collect_checks
from fakes.aws import MotoServer
from fakes.s3_corpus import bucket_name
from kernel.errors import AccessDenied
from retrieval.ingest import ingest
from retrieval.s3 import parse_s3_uri, s3_client, s3_error
from retrieval.sources import open_source
from retrieval.store import LocalIndexStore

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def kms_bucket(moto_server: MotoServer) -> str:
    """A bucket whose documents are encrypted with a customer-managed KMS key."""
    name = bucket_name("kms")
    client = moto_server.client("s3")
    client.create_bucket(Bucket=name)
    for n in range(2):
        client.put_object(
            Bucket=name,
            Key=f"docs/policy-{n}.md",
            Body=f"# Policy {n}\n\nEmployees get 20 days of leave.\n".encode(),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=KEY,
        )
    return name


def test_the_fake_refuses_get_but_serves_head_like_s3_without_kms_decrypt(
    aws_env: Path, moto_server: MotoServer, kms_bucket: str
) -> None:
    client = s3_client(region="us-east-1", endpoint_url=moto_server.url)
    with moto_server.deny_kms(KEY):
        head = client.head_object(Bucket=kms_bucket, Key="docs/policy-0.md")
        with pytest.raises(ClientError) as refused:
            client.get_object(Bucket=kms_bucket, Key="docs/policy-0.md")

    assert head["SSEKMSKeyId"] == KEY
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert "kms:Decrypt" in refused.value.response["Error"]["Message"]
    assert client.get_object(Bucket=kms_bucket, Key="docs/policy-0.md")["Body"].read()


def test_ingest_from_a_kms_bucket_names_kms_decrypt_on_the_key_not_s3_get_object(
    aws_env: Path, moto_server: MotoServer, kms_bucket: str, tmp_path: Path
) -> None:
    client = s3_client(region="us-east-1", endpoint_url=moto_server.url)

    with moto_server.deny_kms(KEY), pytest.raises(AccessDenied) as denied:
        ingest(
            source=open_source(f"s3://{kms_bucket}/docs", s3=client, region="us-east-1"),
            store=LocalIndexStore(tmp_path / "index"),
            embedder=None,
            detect_language=lambda text: "en",
        )

    message = str(denied.value)
    assert f"encrypted with KMS key {KEY}" in message
    assert "allow kms:Decrypt on that key (s3:GetObject itself is allowed)" in message
    assert '"kms:ViaService": "s3.us-east-1.amazonaws.com"' in message
    assert '"Action": "s3:GetObject"' not in message


def test_doctor_prints_the_kms_statement_for_a_kms_encrypted_document(
    aws_env: Path, moto_server: MotoServer, kms_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server.url)
    monkeypatch.setenv("DOCS_SOURCE", f"s3://{kms_bucket}/docs")
    monkeypatch.setenv("DUALNOVA_OFFLINE", "1")

    with moto_server.deny_kms(KEY):
        checks = {c.name: c for c in collect_checks(load_settings())}

    assert checks["documents: list"].ok
    read = checks["documents: read"]
    assert not read.ok
    assert read.detail == (
        f"access denied (AccessDenied) by KMS key {KEY} on s3://{kms_bucket}/docs"
    )
    assert read.fix.startswith(
        'add to the task role\'s policy: {"Effect": "Allow", "Action": ["kms:Decrypt"]'
    )
    assert f'"Resource": "{KEY}"' in read.fix and "s3:GetObject" not in read.fix


def test_a_kms_denial_on_write_names_generate_data_key() -> None:
    # What S3 answers a PutObject into a bucket whose default key the role may not use.
    exc = ClientError(
        {
            "Error": {
                "Code": "AccessDenied",
                "Message": f"User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized "
                f"to perform: kms:GenerateDataKey on resource: {KEY} because no identity-based "
                "policy allows the kms:GenerateDataKey action",
            },
            "ResponseMetadata": {"HTTPStatusCode": 403},
        },
        "PutObject",
    )
    location = parse_s3_uri("s3://kb-docs/index")

    error = s3_error(
        exc, action="write", location=location, key="index/CURRENT", region="eu-west-1"
    )

    assert isinstance(error, AccessDenied)
    assert "allow kms:GenerateDataKey and kms:Decrypt on that key" in str(error)
    assert '"kms:ViaService": "s3.eu-west-1.amazonaws.com"' in str(error)


def test_an_s3_denial_without_kms_still_names_the_s3_action() -> None:
    exc = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")
    error = s3_error(exc, action="read", location=parse_s3_uri("s3://kb-docs/docs"))

    assert "allow s3:GetObject on the objects' ARN arn:aws:s3:::kb-docs/docs/*" in str(error)
    assert "kms" not in str(error)
