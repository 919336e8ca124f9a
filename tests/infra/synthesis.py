"""What the infra tests share: the test environments, the toolchain check and the
`Synthesis` of the CDK app. A plain module, so tests import it (never the conftest).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.config import EnvironmentConfig

REPO = Path(__file__).resolve().parents[2]

# Env-agnostic (no account/region), bucket created by the stack, public subnets,
# APAC inference profiles, alarms to e-mail.
PUBLIC = EnvironmentConfig(
    name="t-public",
    micro_model_id="apac.amazon.nova-micro-v1:0",
    pro_model_id="apac.amazon.nova-pro-v1:0",
    embed_model_id="amazon.titan-embed-text-v2:0",
    corpus_languages=("en", "ko"),
    admin_user_ids=("U012ABCDEF", "U034GHIJKL"),
    desired_count=1,
    max_count=3,
    log_retention_days=30,
    alarm_email="ops@example.com",
)
# Concrete account/region, an existing bucket, private subnets + NAT + endpoints,
# Bedrock in another region, a plain model id for Micro, secrets by ARN and name,
# a longer shutdown drain, a Knowledge Base, and customer-managed KMS keys on the
# bucket and the secrets.
PRIVATE = EnvironmentConfig(
    name="t-private",
    account="123456789012",
    region="ap-northeast-2",
    bedrock_region="ap-northeast-1",
    micro_model_id="amazon.nova-micro-v1:0",
    pro_model_id="apac.amazon.nova-pro-v1:0",
    embed_model_id="amazon.titan-embed-text-v2:0",
    existing_bucket_name="kb-docs-example",
    bucket_kms_key_arn="arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    knowledge_base_id="KB12345678",
    docs_prefix="kb/docs/",
    index_prefix="kb/index/",
    slack_bot_token_secret=(
        "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:team/slack-bot-AbCdEf"
    ),
    slack_app_token_secret="team/slack-app",
    secrets_kms_key_arn="arn:aws:kms:ap-northeast-2:123456789012:key/5678efgh-12ab-34cd-56ef-1234567890ab",
    desired_count=2,
    max_count=4,
    cpu=1024,
    memory_mib=2048,
    network_mode="private-endpoints",
    availability_zones=("ap-northeast-2a", "ap-northeast-2c"),
    log_retention_days=90,
    shutdown_grace_seconds=60,
)
TEST_ENVIRONMENTS = {config.name: config for config in (PUBLIC, PRIVATE)}


def missing_toolchain() -> str | None:
    """Why the CDK cannot run here, or None."""
    for module, package in (
        ("aws_cdk", "aws-cdk-lib"),
        ("cdk_nag", "cdk-nag"),
        ("cfnlint", "cfn-lint"),
    ):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install -e . --group infra)"
    if shutil.which("node") is None:
        return "Node.js is not on PATH; the CDK's jsii kernel runs in node"
    return None


def require_toolchain() -> None:
    """Skip on a developer machine without the infra group; fail in CI, where it must exist."""
    reason = missing_toolchain()
    if reason is None:
        # The CDK prints a banner on every run under Node 20; it says nothing about us.
        os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
        return
    if os.environ.get("CI"):
        pytest.fail(f"infra checks cannot run in CI: {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class Synthesis:
    """The cloud assembly of one synth: templates by environment name, and cdk-nag's report."""

    outdir: Path
    configs: dict[str, EnvironmentConfig]
    templates: dict[str, dict[str, Any]]
    validation_report: dict[str, Any]
    validation_error: str | None

    def resources(self, env: str, kind: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[env]["Resources"].items()
            if resource["Type"] == kind
        }

    def only(self, env: str, kind: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(env, kind)
        assert len(found) == 1, f"{env}: expected one {kind}, found {sorted(found)}"
        return next(iter(found.items()))
