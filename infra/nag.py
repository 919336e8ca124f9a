"""cdk-nag's AWS Solutions checks, and every finding this app acknowledges, with why.

cdk-nag 3 runs as a CDK policy-validation plugin (it replaced v2's Aspect):
`app.synth()` raises `ValidationFailed` while any error is unacknowledged, so a
plain `python infra/app.py` or `cdk synth` fails the same way the tests do.
Acknowledgments are written into the template metadata (`cdk_nag`) as an audit trail.

Wildcard (IAM5) findings are acknowledged one resource at a time, computed from
the same statements the task role is built from: a new wildcard that nobody
explained here still fails synthesis.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from aws_cdk import Acknowledgment, App, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

if TYPE_CHECKING:
    from infra.stack import DualnovaStack

REASON_BEDROCK_ANY_REGION = (
    "Cross-region inference profile: Bedrock routes each request to a foundation model "
    "in one of the profile's regions, chosen per request, so the foundation-model grant "
    "needs '*' in the ARN's region field. The model id is exact and the profile ARN "
    "itself is region- and account-specific."
)
REASON_S3_OBJECT_PREFIX = (
    "Object-level S3 actions need object ARNs; the '*' covers only keys under the "
    "configured prefix (documents read-only, index read/write), never the whole bucket."
)
REASON_ECR_LOGIN = (
    "ecr:GetAuthorizationToken supports no resource-level permission, so its only form "
    "is Resource '*'. Added by CDK for pulling the image; the image pull itself is "
    "scoped to the asset repository. tests/infra checks that no other action uses '*'."
)
REASON_ENVIRONMENT = (
    "The environment holds only non-secret configuration (region, model ids, S3 URIs, "
    "table name, languages, admin user ids, log format). The Slack tokens are ECS "
    "secrets from Secrets Manager; tests/infra asserts they never appear as "
    "environment values."
)


def add_checks(app: App) -> None:
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
    )


def flatten_cfn_reference(node: Any) -> str:
    """cdk-nag's rendering of a resolved value into a finding id (utils/flatten-cfn-reference)."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in node:
            return flatten_cfn_reference(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten_cfn_reference(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten_cfn_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def _wildcard_reason(resource: str) -> str | None:
    if re.search(r":bedrock:\*::foundation-model/[^*]+$", resource):
        return REASON_BEDROCK_ANY_REGION
    if re.search(r"/[^*]+/\*$", resource):  # BUCKET_ARN/PREFIX/*
        return REASON_S3_OBJECT_PREFIX
    return None  # unexplained: leave the finding to fail synthesis


def acknowledge_wildcard_resources(scope: IConstruct, resources: list[str]) -> None:
    """Acknowledge IAM5 for each explained wildcard resource of a policy under `scope`."""
    stack = Stack.of(scope)
    for resource in resources:
        flat = flatten_cfn_reference(stack.resolve(resource))
        reason = _wildcard_reason(flat) if "*" in flat else None
        if reason:
            Validations.of(scope).acknowledge(
                Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{flat}]", reason=reason)
            )


def acknowledge_stack_findings(stack: DualnovaStack) -> None:
    bot = stack.bot
    Validations.of(bot.task_definition).acknowledge(
        Acknowledgment(id="AwsSolutions-ECS2", reason=REASON_ENVIRONMENT)
    )
    acknowledge_wildcard_resources(
        bot.task_role, [r for spec in bot.task_statements for r in spec.resources]
    )
    Validations.of(bot.execution_role).acknowledge(
        Acknowledgment(id="AwsSolutions-IAM5[Resource::*]", reason=REASON_ECR_LOGIN)
    )
