"""infra.policy_checks on hand-written policies: each rule, and that it bites.

No CDK here: these run anywhere in milliseconds.
"""

from __future__ import annotations

from typing import Any

from infra.policy_checks import (
    allows,
    check_policy_document,
    check_template,
    compare_grants,
    missing_permissions,
)

BUCKET = "arn:aws:s3:::kb-docs"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions: str | list[str], resources: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def rules(document: Any, **kwargs: Any) -> list[str]:
    return [violation.rule for violation in check_policy_document(document, **kwargs)]


# The policy that kept the predecessor down for 13 minutes.
PREDECESSOR = policy(allow("s3:GetObject", BUCKET), allow("s3:ListBucket", BUCKET))


def test_get_object_on_the_bucket_arn_is_the_predecessors_bug_and_fails() -> None:
    violations = check_policy_document(PREDECESSOR)

    assert [v.rule for v in violations if v.rule.startswith("s3-object")] == [
        "s3-object-action-on-bucket-arn"
    ]
    message = next(v.message for v in violations if v.rule == "s3-object-action-on-bucket-arn")
    assert "grants nothing" in message
    assert "arn:aws:s3:::kb-docs/PREFIX*" in message


def test_predecessor_policy_cannot_read_a_document_it_was_meant_to_read() -> None:
    missing = missing_permissions(PREDECESSOR, [("s3:GetObject", f"{BUCKET}/docs/guide.md")])

    assert [v.message for v in missing] == [
        "s3:GetObject on arn:aws:s3:::kb-docs/docs/guide.md is not allowed"
    ]


def test_object_actions_on_prefixed_object_arns_pass() -> None:
    document = policy(
        allow("s3:GetObject", f"{BUCKET}/docs/*"),
        allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], f"{BUCKET}/index/*"),
        allow(
            "s3:ListBucket",
            BUCKET,
            Condition={"StringLike": {"s3:prefix": ["docs/*", "index/*"]}},
        ),
    )

    assert check_policy_document(document) == []
    assert allows(document, "s3:GetObject", f"{BUCKET}/docs/a/b.pdf")
    assert not allows(document, "s3:GetObject", f"{BUCKET}/private/payroll.csv")
    assert not allows(document, "s3:PutObject", f"{BUCKET}/docs/a.md")


def test_object_grant_on_every_key_of_the_bucket_is_flagged_unless_allowed() -> None:
    document = policy(allow("s3:GetObject", f"{BUCKET}/*"))

    assert rules(document) == ["s3-object-action-on-whole-bucket"]
    assert rules(document, require_s3_key_prefix=False) == []


def test_list_bucket_on_an_object_arn_grants_nothing_and_fails() -> None:
    document = policy(allow("s3:ListBucket", f"{BUCKET}/docs/*"))

    assert rules(document) == ["s3-bucket-action-on-object-arn"]


def test_list_bucket_without_a_prefix_condition_fails() -> None:
    assert rules(policy(allow("s3:ListBucket", BUCKET))) == ["s3-list-without-prefix"]


def test_list_bucket_prefix_condition_is_evaluated() -> None:
    document = policy(
        allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": ["docs/*"]}})
    )

    assert allows(document, "s3:ListBucket", BUCKET, {"s3:prefix": "docs/"})
    assert allows(document, "s3:ListBucket", BUCKET, {"s3:prefix": "docs/guides/"})
    assert not allows(document, "s3:ListBucket", BUCKET, {"s3:prefix": "secrets/"})
    assert not allows(document, "s3:ListBucket", BUCKET)  # no prefix at all


def test_wildcard_actions_fail() -> None:
    for action in ("*", "s3:*", "s3:Get*", "dynamodb:?etItem"):
        assert "wildcard-action" in rules(policy(allow(action, f"{BUCKET}/docs/*"))), action


def test_star_resource_is_allowed_only_for_actions_without_resource_scoping() -> None:
    assert rules(policy(allow("ecr:GetAuthorizationToken", "*"))) == []
    assert rules(policy(allow(["ecr:GetAuthorizationToken", "s3:GetObject"], "*"))) == [
        "wildcard-resource"
    ]


def test_resource_wildcards_are_allowed_only_in_known_scoped_positions() -> None:
    scoped = [
        "arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:dualnova/dev/slack-bot-token-??????",
        "arn:aws:logs:us-east-1:123456789012:log-group:dualnova:*",
    ]
    blanket = [
        "arn:aws:bedrock:*::foundation-model/*",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/*",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
        "arn:aws:dynamodb:us-east-1:123456789012:table/*",
        "arn:aws:s3:::*",
        "arn:aws:s3:::kb-*/docs/*",
    ]
    for resource in scoped:
        assert rules(policy(allow("bedrock:InvokeModel", resource))) == [], resource
    for resource in blanket:
        assert "wildcard-resource" in rules(policy(allow("bedrock:InvokeModel", resource))), (
            resource
        )


def test_not_action_in_an_allow_fails() -> None:
    document = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": f"{BUCKET}/docs/*"})

    assert "not-element" in rules(document)


def test_deny_overrides_allow() -> None:
    document = policy(
        allow("s3:GetObject", f"{BUCKET}/docs/*"),
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"{BUCKET}/docs/secret/*"},
    )

    assert allows(document, "s3:GetObject", f"{BUCKET}/docs/public.md")
    assert not allows(document, "s3:GetObject", f"{BUCKET}/docs/secret/x.md")


def test_compare_grants_names_what_is_missing_and_what_is_extra() -> None:
    expected = policy(allow(["s3:GetObject"], f"{BUCKET}/docs/*"))
    actual = policy(allow(["s3:GetObject", "s3:PutObject"], BUCKET))

    messages = [str(v) for v in compare_grants(actual, expected, where="task role")]

    assert messages == [
        "[missing-grant] task role: does not allow s3:GetObject on arn:aws:s3:::kb-docs/docs/*",
        "[unexpected-grant] task role: also allows s3:GetObject on arn:aws:s3:::kb-docs",
        "[unexpected-grant] task role: also allows s3:PutObject on arn:aws:s3:::kb-docs",
    ]


def test_compare_grants_ignores_order_of_condition_values() -> None:
    condition_a = {"StringLike": {"s3:prefix": ["docs/*", "index/*"]}}
    condition_b = {"StringLike": {"s3:prefix": ["index/*", "docs/*"]}}

    assert (
        compare_grants(
            policy(allow("s3:ListBucket", BUCKET, Condition=condition_a)),
            policy(allow("s3:ListBucket", BUCKET, Condition=condition_b)),
        )
        == []
    )


def test_template_with_generated_bucket_name_is_checked_through_intrinsics() -> None:
    # What CDK writes for `resources=[bucket.bucket_arn]`: the bucket's name is only
    # known at deploy time, yet the checker must still see a bucket ARN.
    template = {
        "Resources": {
            "Docs": {"Type": "AWS::S3::Bucket"},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
            "RolePolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "Roles": [{"Ref": "Role"}],
                    "PolicyDocument": policy(
                        allow("s3:GetObject", {"Fn::GetAtt": ["Docs", "Arn"]}),
                        allow(
                            "s3:GetObject",
                            {"Fn::Join": ["", [{"Fn::GetAtt": ["Docs", "Arn"]}, "/docs/*"]]},
                        ),
                    ),
                },
            },
        }
    }

    violations = check_template(template)

    assert [(v.rule, v.where) for v in violations] == [
        ("s3-object-action-on-bucket-arn", "role Role statement 0")
    ]
    assert "arn:${AWS.Partition}:s3:::${Docs}" in violations[0].message


def test_managed_policies_are_reported_because_they_cannot_be_checked() -> None:
    template = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"ManagedPolicyArns": ["arn:aws:iam::aws:policy/AmazonS3FullAccess"]},
            }
        }
    }

    assert [v.rule for v in check_template(template)] == ["managed-policy"]


def test_the_knowledge_base_option_grants_retrieve_on_that_knowledge_base_only() -> None:
    from infra.permissions import task_role_statements

    common = dict(
        chat_model_ids=["us.amazon.nova-pro-v1:0"],
        embed_model_id="amazon.titan-embed-text-v2:0",
        bedrock_region="us-east-1",
        account="123456789012",
        bucket_arn="arn:aws:s3:::b",
        docs_prefix="docs/",
        index_prefix="index/",
        table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/t",
    )
    without = task_role_statements(**common)  # type: ignore[arg-type]
    with_kb = task_role_statements(**common, knowledge_base_id="KB12345")  # type: ignore[arg-type]

    assert not any("bedrock:Retrieve" in s.actions for s in without)
    (retrieve,) = [s for s in with_kb if "bedrock:Retrieve" in s.actions]
    assert retrieve.actions == ("bedrock:Retrieve",)
    assert retrieve.resources == ("arn:aws:bedrock:us-east-1:123456789012:knowledge-base/KB12345",)
