"""Index files above 8 MB go up in parts; a failed upload aborts them, which IAM must allow."""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from bot.config import Settings
from fakes.aws import MotoServer
from fakes.harness import bucket_of
from infra.permissions import task_role_statements
from infra.policy_checks import missing_permissions
from kernel.errors import IngestError
from retrieval.locks import S3ObjectLock
from retrieval.s3 import parse_s3_uri, s3_client
from retrieval.s3_store import S3IndexStore

#: The IAM action that authorises each S3 operation (multipart parts count as s3:PutObject).
IAM_ACTION = {
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
    "DeleteObjects": "s3:DeleteObject",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
}


def test_a_failed_index_upload_above_8_mb_aborts_its_parts_with_a_granted_action(
    s3_settings: Settings, moto_server: MotoServer
) -> None:
    client = s3_client(region="us-east-1", endpoint_url=moto_server.url)
    sent: list[tuple[str, str]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        sent.append((model.name, params.get("Key", "")))
        if model.name == "UploadPart" and params.get("PartNumber") == 2:
            raise EndpointConnectionError(endpoint_url=moto_server.url)  # the network drops

    client.meta.events.register("before-parameter-build.s3.*", record)
    location = parse_s3_uri(s3_settings.index_uri)
    store = S3IndexStore(
        location, client=client, lock=S3ObjectLock(client=client, location=location)
    )
    version, staging = store.begin_version()
    (staging / "vectors.npy").write_bytes(os.urandom(9 * 1024 * 1024))

    with pytest.raises(IngestError):
        store.commit(version, staging)

    operations = [name for name, _ in sent]
    assert {"CreateMultipartUpload", "UploadPart", "AbortMultipartUpload"} <= set(operations)
    assert "CompleteMultipartUpload" not in operations
    # Nothing is left behind to be billed: the parts were aborted on the wire.
    assert "Uploads" not in moto_server.client("s3").list_multipart_uploads(
        Bucket=bucket_of(s3_settings)
    )

    # Every request the writer made is one the deployed task role allows.
    bucket_arn = f"arn:aws:s3:::{location.bucket}"
    statements = task_role_statements(
        chat_model_ids=["us.amazon.nova-pro-v1:0"],
        embed_model_id="amazon.titan-embed-text-v2:0",
        bedrock_region="us-east-1",
        account="123456789012",
        bucket_arn=bucket_arn,
        docs_prefix="docs/",
        index_prefix=location.folder,
        table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/state",
    )
    policy = [
        {"Effect": "Allow", "Action": list(s.actions), "Resource": list(s.resources)}
        for s in statements
        if not s.conditions
    ]
    requests = [(IAM_ACTION[name], f"{bucket_arn}/{key}") for name, key in sent]
    assert [str(v) for v in missing_permissions(policy, requests)] == []
