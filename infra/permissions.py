"""The task role's permissions, derived from the configuration as plain data.

No CDK imports: the same derivation can tell `dualnova doctor` which (action,
resource) pairs a running task needs. Values may be CDK token strings (the
region, the account, a generated bucket ARN); they are only concatenated here.

ARN forms, and why:
- a plain model id (`amazon.titan-embed-text-v2:0`) is invoked in one region:
  `arn:aws:bedrock:REGION::foundation-model/ID`.
- a system inference-profile id (`apac.amazon.nova-pro-v1:0`) needs two grants:
  the profile itself, `arn:aws:bedrock:REGION:ACCOUNT:inference-profile/ID`, and the
  foundation model in every region the profile may route to. Those regions are
  chosen by Bedrock per request and change as AWS adds regions to a profile, so
  the foundation-model ARN carries `*` in its region field:
  `arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0`. The model id stays
  exact, so the grant still names one model and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# The prefixes of Bedrock's system-defined (cross-region) inference profiles, and which
# regions may call them, are shared with the bot's start-up check.
from bot.inference_profiles import GEO_PREFIXES, split_inference_profile

__all__ = ["GEO_PREFIXES", "StatementSpec", "model_resource_arns", "split_inference_profile"]

BEDROCK_INVOKE = "bedrock:InvokeModel"
BEDROCK_STREAM = "bedrock:InvokeModelWithResponseStream"
STATE_TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class StatementSpec:
    """One Allow statement, before it becomes an `iam.PolicyStatement`."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: Mapping[str, Mapping[str, Sequence[str]]] | None = None


def model_resource_arns(
    model_id: str, *, region: str, account: str, partition: str = "aws"
) -> tuple[str, ...]:
    """The ARNs that `bedrock:InvokeModel*` must allow for one configured id."""
    geo, foundation_id = split_inference_profile(model_id)
    if geo is None:
        return (f"arn:{partition}:bedrock:{region}::foundation-model/{foundation_id}",)
    return (
        f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{model_id}",
        f"arn:{partition}:bedrock:*::foundation-model/{foundation_id}",
    )


def task_role_statements(
    *,
    chat_model_ids: Sequence[str],
    embed_model_id: str,
    bedrock_region: str,
    account: str,
    bucket_arn: str,
    docs_prefix: str,
    index_prefix: str,
    table_arn: str,
    partition: str = "aws",
    knowledge_base_id: str | None = None,
    bucket_kms_key_arn: str | None = None,
    bucket_region: str = "",
) -> list[StatementSpec]:
    """Everything the bot's process may do, and nothing else.

    Object actions go on object ARNs (`bucket/prefix*`), listing goes on the bucket
    ARN with an `s3:prefix` condition: the split the predecessor got wrong.
    """

    def arns(model_ids: Sequence[str]) -> tuple[str, ...]:
        found: list[str] = []
        for model_id in model_ids:
            for arn in model_resource_arns(
                model_id, region=bedrock_region, account=account, partition=partition
            ):
                if arn not in found:
                    found.append(arn)
        return tuple(found)

    knowledge_base = (
        [
            # RETRIEVER=bedrock-kb: Retrieve on the one configured knowledge base.
            StatementSpec(
                sid="RetrieveFromKnowledgeBase",
                actions=("bedrock:Retrieve",),
                resources=(
                    f"arn:{partition}:bedrock:{bedrock_region}:{account}:knowledge-base/{knowledge_base_id}",
                ),
            )
        ]
        if knowledge_base_id
        else []
    )
    bucket_key = (
        [
            # An SSE-KMS bucket: reading decrypts each object's data key, writing the index
            # makes one (multipart uploads decrypt it too). Only when S3 asks, for this key.
            StatementSpec(
                sid="UseBucketKmsKey",
                actions=("kms:Decrypt", "kms:GenerateDataKey"),
                resources=(bucket_kms_key_arn,),
                conditions={
                    "StringEquals": {"kms:ViaService": [f"s3.{bucket_region}.amazonaws.com"]}
                },
            )
        ]
        if bucket_kms_key_arn
        else []
    )
    return [
        *knowledge_base,
        *bucket_key,
        # Micro (routing/translation) and Pro (answers): Converse and ConverseStream
        # are authorised as InvokeModel and InvokeModelWithResponseStream.
        StatementSpec(
            sid="InvokeChatModels",
            actions=(BEDROCK_INVOKE, BEDROCK_STREAM),
            resources=arns(chat_model_ids),
        ),
        # Embeddings are never streamed.
        StatementSpec(
            sid="InvokeEmbeddingModel",
            actions=(BEDROCK_INVOKE,),
            resources=arns([embed_model_id]),
        ),
        StatementSpec(
            sid="ListDocsAndIndex",
            actions=("s3:ListBucket",),
            resources=(bucket_arn,),
            conditions={"StringLike": {"s3:prefix": [f"{docs_prefix}*", f"{index_prefix}*"]}},
        ),
        StatementSpec(
            sid="ReadDocuments",
            actions=("s3:GetObject",),
            resources=(f"{bucket_arn}/{docs_prefix}*",),
        ),
        # The index is written by ingest and read by every task; publishing a new
        # version replaces a pointer object and prunes old versions. Files above 8 MB
        # go up in parts (s3:PutObject); a failed one is aborted, or its parts stay billed.
        StatementSpec(
            sid="ReadWriteIndex",
            actions=("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"),
            resources=(f"{bucket_arn}/{index_prefix}*",),
        ),
        StatementSpec(
            sid="StateTableItems",
            actions=STATE_TABLE_ACTIONS,
            resources=(table_arn,),
        ),
    ]
