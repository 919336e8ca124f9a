"""Least privilege, exactly: the synthesized roles grant what the paths in docs/ARCHITECTURE.md
need and no more.

Grants are compared as (action, resource, condition) sets against expectations
written out literally here, not derived from infra/permissions.py: a change to the
derivation has to change this file too, in the same review.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from infra.policy_checks import (
    check_template,
    compare_grants,
    missing_permissions,
    role_statements,
    task_definition_roles,
)
from tests.infra.synthesis import Synthesis, require_toolchain

Request = tuple[str, str] | tuple[str, str, dict[str, str]]
BUCKET_KEY = "arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BEDROCK_ACTIONS = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
# Index files above 8 MB are multipart uploads: a failed one must be abortable.
INDEX_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
TABLE_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
]


def allow(actions: list[str], resources: list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def roles(synthesis: Synthesis, env: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(task role statements, execution role statements) of the env's one task definition."""
    return roles_of(synthesis.templates[env])


def roles_of(template: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    [(task_role, execution_role)] = task_definition_roles(template)
    assert task_role and execution_role
    statements = role_statements(template)
    return statements[task_role], statements[execution_role]


def table_arn(synthesis: Synthesis, env: str) -> str:
    table_id, _ = synthesis.only(env, "AWS::DynamoDB::Table")
    return (
        f"arn:${{AWS.Partition}}:dynamodb:${{AWS.Region}}:${{AWS.AccountId}}:table/${{{table_id}}}"
    )


def documents_bucket_arn(synthesis: Synthesis, env: str) -> str:
    [bucket_id] = [
        logical_id
        for logical_id in synthesis.resources(env, "AWS::S3::Bucket")
        if logical_id.startswith("StorageDocuments")
    ]
    return f"arn:${{AWS.Partition}}:s3:::${{{bucket_id}}}"


def test_task_role_grants_exactly_the_configured_models_prefixes_and_table(
    synthesis: Synthesis,
) -> None:
    # t-private: account/region known, existing bucket, Bedrock in ap-northeast-1,
    # Micro by plain model id, Pro by APAC inference profile.
    task, _ = roles(synthesis, "t-private")
    expected = [
        allow(
            BEDROCK_ACTIONS,
            [
                "arn:aws:bedrock:ap-northeast-1::foundation-model/amazon.nova-micro-v1:0",
                "arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/"
                "apac.amazon.nova-pro-v1:0",
                "arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0",
            ],
        ),
        allow(
            ["bedrock:InvokeModel"],
            ["arn:aws:bedrock:ap-northeast-1::foundation-model/amazon.titan-embed-text-v2:0"],
        ),
        allow(
            ["s3:ListBucket"],
            ["arn:aws:s3:::kb-docs-example"],
            Condition={"StringLike": {"s3:prefix": ["kb/docs/*", "kb/index/*"]}},
        ),
        allow(["s3:GetObject"], ["arn:aws:s3:::kb-docs-example/kb/docs/*"]),
        allow(
            INDEX_ACTIONS,
            ["arn:aws:s3:::kb-docs-example/kb/index/*"],
        ),
        allow(TABLE_ACTIONS, [table_arn(synthesis, "t-private")]),
        allow(
            ["bedrock:Retrieve"],
            ["arn:aws:bedrock:ap-northeast-1:123456789012:knowledge-base/KB12345678"],
        ),
        # The existing bucket is SSE-KMS: its key, through S3 only.
        allow(
            ["kms:Decrypt", "kms:GenerateDataKey"],
            ["arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
            Condition={"StringEquals": {"kms:ViaService": "s3.ap-northeast-2.amazonaws.com"}},
        ),
    ]

    assert [str(v) for v in compare_grants(task, expected, where="task role")] == []


def test_task_role_on_a_created_bucket_and_env_agnostic_stack(synthesis: Synthesis) -> None:
    task, _ = roles(synthesis, "t-public")
    bucket = documents_bucket_arn(synthesis, "t-public")
    profile = "arn:${AWS.Partition}:bedrock:${AWS.Region}:${AWS.AccountId}:inference-profile/"
    expected = [
        allow(
            BEDROCK_ACTIONS,
            [
                f"{profile}apac.amazon.nova-micro-v1:0",
                "arn:${AWS.Partition}:bedrock:*::foundation-model/amazon.nova-micro-v1:0",
                f"{profile}apac.amazon.nova-pro-v1:0",
                "arn:${AWS.Partition}:bedrock:*::foundation-model/amazon.nova-pro-v1:0",
            ],
        ),
        allow(
            ["bedrock:InvokeModel"],
            [
                "arn:${AWS.Partition}:bedrock:${AWS.Region}::foundation-model/"
                "amazon.titan-embed-text-v2:0"
            ],
        ),
        allow(
            ["s3:ListBucket"],
            [bucket],
            Condition={"StringLike": {"s3:prefix": ["docs/*", "index/*"]}},
        ),
        allow(["s3:GetObject"], [f"{bucket}/docs/*"]),
        allow(INDEX_ACTIONS, [f"{bucket}/index/*"]),
        allow(TABLE_ACTIONS, [table_arn(synthesis, "t-public")]),
    ]

    assert [str(v) for v in compare_grants(task, expected, where="task role")] == []


def test_execution_role_only_pulls_its_image_writes_its_logs_and_reads_two_secrets(
    synthesis: Synthesis,
) -> None:
    _, execution = roles(synthesis, "t-private")
    [log_group_id] = [
        logical_id
        for logical_id in synthesis.resources("t-private", "AWS::Logs::LogGroup")
        if logical_id.startswith("LogsLogGroup")
    ]
    expected = [
        allow(
            [
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage",
            ],
            [
                "arn:aws:ecr:ap-northeast-2:123456789012:repository/"
                "cdk-hnb659fds-container-assets-123456789012-ap-northeast-2"
            ],
        ),
        # No resource-level permission exists for this action.
        allow(["ecr:GetAuthorizationToken"], ["*"]),
        allow(["logs:CreateLogStream", "logs:PutLogEvents"], [f"${{{log_group_id}.Arn}}"]),
        allow(
            ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            [
                # Configured by full ARN: exactly that secret.
                "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:team/slack-bot-AbCdEf",
                # Configured by name: the name plus Secrets Manager's 6-character suffix.
                "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:team/slack-app-??????",
            ],
        ),
        # The secrets' customer-managed key, through Secrets Manager only.
        allow(
            ["kms:Decrypt"],
            ["arn:aws:kms:ap-northeast-2:123456789012:key/5678efgh-12ab-34cd-56ef-1234567890ab"],
            Condition={
                "StringEquals": {"kms:ViaService": "secretsmanager.ap-northeast-2.amazonaws.com"}
            },
        ),
    ]

    assert [str(v) for v in compare_grants(execution, expected, where="execution role")] == []


def test_every_role_in_every_stack_passes_the_generic_policy_rules(synthesis: Synthesis) -> None:
    problems = {
        env: [str(v) for v in check_template(template)]
        for env, template in synthesis.templates.items()
    }

    assert problems == {env: [] for env in synthesis.templates}


def test_every_get_object_grant_names_object_arns_under_a_prefix(synthesis: Synthesis) -> None:
    # The rule that broke the predecessor, stated on its own: wherever s3:GetObject is
    # granted, every resource is BUCKET/PREFIX* and never the bucket ARN.
    object_arn = re.compile(r"^arn:[^:]+:s3:::[^/*]+/[^*]+\*$")
    checked = 0
    for env, template in synthesis.templates.items():
        for role, statements in role_statements(template).items():
            for statement in statements:
                if "s3:GetObject" in statement.get("Action", []):
                    checked += 1
                    for resource in statement["Resource"]:
                        assert object_arn.match(resource), f"{env} {role}: {resource}"

    assert checked == 2 * len(synthesis.templates)  # docs read + index read/write


def test_no_role_allows_ecs_exec_or_any_service_wide_action(synthesis: Synthesis) -> None:
    assert synthesis.templates, "nothing was synthesized"
    for env, template in synthesis.templates.items():
        for role, statements in role_statements(template).items():
            actions = {a for s in statements for a in s.get("Action", [])}
            assert not {a for a in actions if a.startswith("ssmmessages:")}, (env, role)
            assert not {a for a in actions if a.endswith(":*") or a == "*"}, (env, role)


def test_the_deployed_task_role_can_do_what_the_bot_does(synthesis: Synthesis) -> None:
    task, _ = roles(synthesis, "t-private")
    bucket = "arn:aws:s3:::kb-docs-example"
    requests: list[Request] = [
        ("bedrock:InvokeModel", "arn:aws:bedrock:ap-northeast-1::foundation-model/amazon.nova-micro-v1:0"),
        ("bedrock:InvokeModelWithResponseStream",
         "arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/apac.amazon.nova-pro-v1:0"),
        # The profile routes to another region's foundation model.
        ("bedrock:InvokeModelWithResponseStream",
         "arn:aws:bedrock:ap-southeast-2::foundation-model/amazon.nova-pro-v1:0"),
        ("bedrock:InvokeModel",
         "arn:aws:bedrock:ap-northeast-1::foundation-model/amazon.titan-embed-text-v2:0"),
        ("s3:GetObject", f"{bucket}/kb/docs/handbook/leave.md"),
        ("s3:ListBucket", bucket, {"s3:prefix": "kb/docs/"}),
        ("s3:ListBucket", bucket, {"s3:prefix": "kb/index/"}),
        ("s3:PutObject", f"{bucket}/kb/index/v0001/manifest.json"),
        ("s3:GetObject", f"{bucket}/kb/index/LATEST"),
        ("s3:DeleteObject", f"{bucket}/kb/index/v0000/vectors.npy"),
        ("s3:AbortMultipartUpload", f"{bucket}/kb/index/v0001/vectors.npy"),
        ("bedrock:Retrieve", "arn:aws:bedrock:ap-northeast-1:123456789012:knowledge-base/KB12345678"),
        ("kms:Decrypt", BUCKET_KEY, {"kms:ViaService": "s3.ap-northeast-2.amazonaws.com"}),
        ("kms:GenerateDataKey", BUCKET_KEY, {"kms:ViaService": "s3.ap-northeast-2.amazonaws.com"}),
        ("dynamodb:PutItem", table_arn(synthesis, "t-private")),
    ]  # fmt: skip
    refused: list[Request] = [
        ("s3:PutObject", f"{bucket}/kb/docs/handbook/leave.md"),  # documents are read-only
        ("s3:AbortMultipartUpload", f"{bucket}/kb/docs/handbook/leave.md"),
        # The bucket's key only through S3, not to decrypt anything else with it.
        ("kms:Decrypt", BUCKET_KEY, {"kms:ViaService": "secretsmanager.ap-northeast-2.amazonaws.com"}),
        ("s3:GetObject", f"{bucket}/payroll/2026.csv"),
        ("s3:ListBucket", bucket, {"s3:prefix": ""}),
        ("bedrock:InvokeModel", "arn:aws:bedrock:ap-northeast-1::foundation-model/amazon.nova-premier-v1:0"),
        ("bedrock:InvokeModelWithResponseStream",
         "arn:aws:bedrock:ap-northeast-1::foundation-model/amazon.titan-embed-text-v2:0"),
        ("dynamodb:Scan", table_arn(synthesis, "t-private")),
    ]  # fmt: skip

    assert missing_permissions(task, requests) == []
    assert len(missing_permissions(task, refused)) == len(refused)


def test_predecessors_mistake_in_the_real_template_fails_the_checker(
    synthesis: Synthesis,
) -> None:
    # Take the synthesized stack and make the predecessor's edit: documents readable
    # on the bucket ARN instead of its objects.
    template = copy.deepcopy(synthesis.templates["t-public"])
    [(policy_id, policy)] = [
        (logical_id, resource)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Policy" and logical_id.startswith("BotTaskRole")
    ]
    [read_documents] = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Sid"] == "ReadDocuments"
    ]
    bucket_id = documents_bucket_arn(synthesis, "t-public").split("${")[-1].rstrip("}")
    read_documents["Resource"] = {"Fn::GetAtt": [bucket_id, "Arn"]}

    violations = check_template(template)

    assert [v.rule for v in violations] == ["s3-object-action-on-bucket-arn"], policy_id
    task, _ = roles_of(template)
    bucket = documents_bucket_arn(synthesis, "t-public")
    assert [
        v.rule for v in missing_permissions(task, [("s3:GetObject", f"{bucket}/docs/a.md")])
    ] == ["missing-permission"]


def test_a_cdk_stack_granting_get_object_on_the_bucket_arn_fails_the_checker() -> None:
    # The same mistake written the way a CDK author would make it.
    require_toolchain()
    from aws_cdk import App, Stack
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_s3 as s3
    from aws_cdk.assertions import Template

    stack = Stack(App(), "Broken")
    bucket = s3.Bucket(stack, "Docs")
    role = iam.Role(stack, "TaskRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.bucket_arn]))
    template = Template.from_stack(stack).to_json()

    violations = check_template(template)

    assert [v.rule for v in violations] == ["s3-object-action-on-bucket-arn"]
    assert "grants nothing" in violations[0].message
    assert json.dumps(template).count("s3:GetObject") == 1


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_shipped_environments_task_roles_use_the_default_prefixes(
    synthesis: Synthesis, env: str
) -> None:
    task, _ = roles(synthesis, env)
    [listing] = [s for s in task if s.get("Sid") == "ListDocsAndIndex"]

    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["docs/*", "index/*"]}}
