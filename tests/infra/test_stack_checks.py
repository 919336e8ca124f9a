"""The synthesized templates pass cfn-lint and cdk-nag's AWS Solutions rules.

Every cdk-nag finding this app accepts is acknowledged in infra/ with a reason;
the list of accepted rules is pinned here so that a new acknowledgment is a
visible change in review, not a quiet addition.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.synthesis import Synthesis, require_toolchain

# Regions each environment-agnostic template is linted for: where the deploy guide
# prices the bot. Stacks with a region are linted for that region.
LINT_REGIONS = ["us-east-1", "ap-northeast-2"]

# (rule id, where it may be acknowledged: logical-id prefixes)
ACCEPTED_NAG_RULES = {
    "AwsSolutions-S1": ("StorageAccessLogs",),
    "AwsSolutions-SNS2": ("AlarmsTopic",),
    "AwsSolutions-ECS2": ("BotTask",),
    "AwsSolutions-IAM5": ("BotTaskRole", "BotExecutionRole"),
}
# The only wildcard resources an IAM5 acknowledgment may cover.
ACCEPTED_IAM5_FINDINGS = [
    re.compile(r"^Resource::\*$"),  # ecr:GetAuthorizationToken, execution role
    re.compile(r"^Resource::arn:(aws|<AWS::Partition>):bedrock:\*::foundation-model/[^*]+$"),
    re.compile(r"^Resource::<StorageDocuments\w+\.Arn>/[^*]+/\*$"),
    re.compile(r"^Resource::arn:(aws|<AWS::Partition>):s3:::[^/*]+/[^*]+/\*$"),
]


def lint(template: dict[str, Any], regions: list[str]) -> list[Any]:
    from cfnlint.api import ManualArgs
    from cfnlint.api import lint as cfn_lint

    return list(cfn_lint(json.dumps(template), config=ManualArgs(regions=regions)))


def test_cfn_lint_reports_no_errors(synthesis: Synthesis) -> None:
    problems = {}
    for env, template in synthesis.templates.items():
        region = synthesis.configs[env].region
        matches = lint(template, [region] if region else LINT_REGIONS)
        errors = [
            f"{m.rule.id} line {m.linenumber}: {m.message}"
            for m in matches
            if m.rule.id.startswith("E")
        ]
        if errors:
            problems[env] = errors

    assert problems == {}


def test_cfn_lint_catches_an_invalid_template() -> None:
    # Guards against a lint call that silently checks nothing.
    require_toolchain()
    broken = {
        "Resources": {
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"BillingMode": "FREE"}}
        }
    }

    assert any(m.rule.id.startswith("E") for m in lint(broken, ["us-east-1"]))


def test_cdk_nag_aws_solutions_reports_no_unacknowledged_errors(synthesis: Synthesis) -> None:
    findings = [
        f"{violation['ruleName']} at {construct['constructPath']}: {violation['description'][:120]}"
        for report in synthesis.validation_report["pluginReports"]
        for violation in report["violations"]
        if violation["severity"] == "error"
        for construct in violation["violatingConstructs"]
    ]

    assert findings == []
    assert synthesis.validation_error is None


def acknowledgments(synthesis: Synthesis) -> list[tuple[str, str, str, str]]:
    """(env, logical id, rule id, reason) of every AwsSolutions acknowledgment in the templates."""
    found = []
    for env, template in synthesis.templates.items():
        for logical_id, resource in template["Resources"].items():
            rules = resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
            for rule in rules:
                if rule["id"].startswith("AwsSolutions-"):
                    found.append((env, logical_id, rule["id"], rule.get("reason", "")))
    return found


def test_every_nag_acknowledgment_has_a_reason_and_an_expected_place(
    synthesis: Synthesis,
) -> None:
    found = acknowledgments(synthesis)

    assert found, "acknowledgments are written to the template metadata"
    for env, logical_id, rule_id, reason in found:
        rule, _, finding = rule_id.partition("[")
        assert rule in ACCEPTED_NAG_RULES, (env, logical_id, rule_id)
        assert logical_id.startswith(ACCEPTED_NAG_RULES[rule]), (env, logical_id, rule_id)
        assert len(reason) >= 60, (env, logical_id, rule_id, reason)
        if rule == "AwsSolutions-IAM5":
            assert any(p.match(finding.rstrip("]")) for p in ACCEPTED_IAM5_FINDINGS), rule_id


def test_execution_role_is_the_only_place_a_star_resource_is_acknowledged(
    synthesis: Synthesis,
) -> None:
    places = {
        logical_id
        for _, logical_id, rule_id, _ in acknowledgments(synthesis)
        if rule_id == "AwsSolutions-IAM5[Resource::*]"
    }

    assert places and all(p.startswith("BotExecutionRole") for p in places)


def test_cdk_nag_fails_synthesis_of_a_non_compliant_stack(tmp_path: Path) -> None:
    # Guards against checks that are attached but never run.
    require_toolchain()
    from aws_cdk import App, Stack
    from aws_cdk import aws_s3 as s3

    from infra.nag import add_checks

    app = App(outdir=str(tmp_path))
    s3.Bucket(Stack(app, "Plain"), "NoTlsNoLogs")
    add_checks(app)

    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for r in report["pluginReports"] for v in r["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules
