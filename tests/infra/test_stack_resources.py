"""What the stacks deploy: network, secrets, storage, service, logs and alarms."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from tests.infra.synthesis import REPO, Synthesis

TemplateOf = Callable[[str], Any]


def container(synthesis: Synthesis, env: str) -> dict[str, Any]:
    _, task_definition = synthesis.only(env, "AWS::ECS::TaskDefinition")
    [definition] = task_definition["Properties"]["ContainerDefinitions"]
    return dict(definition)


def environment_of(synthesis: Synthesis, env: str) -> dict[str, Any]:
    return {item["Name"]: item["Value"] for item in container(synthesis, env)["Environment"]}


# --- network -------------------------------------------------------------------------------


def task_security_group(synthesis: Synthesis, env: str) -> tuple[str, dict[str, Any]]:
    [(logical_id, group)] = [
        (logical_id, resource)
        for logical_id, resource in synthesis.resources(env, "AWS::EC2::SecurityGroup").items()
        if logical_id.startswith("NetworkTaskSecurityGroup")
    ]
    return logical_id, group


def test_task_security_group_has_no_ingress_and_only_https_egress(synthesis: Synthesis) -> None:
    assert synthesis.templates, "nothing was synthesized"
    for env in synthesis.templates:
        group_id, group = task_security_group(synthesis, env)
        assert "SecurityGroupIngress" not in group["Properties"], env
        assert group["Properties"]["SecurityGroupEgress"] == [
            {
                "CidrIp": "0.0.0.0/0",
                "Description": "Slack Socket Mode, Bedrock, S3, DynamoDB, ECR, Logs",
                "FromPort": 443,
                "IpProtocol": "tcp",
                "ToPort": 443,
            }
        ], env
        # Nor any standalone ingress rule attached to it.
        for rule in synthesis.resources(env, "AWS::EC2::SecurityGroupIngress").values():
            assert rule["Properties"]["GroupId"] != {"Fn::GetAtt": [group_id, "GroupId"]}, env


def test_the_service_uses_the_task_security_group(synthesis: Synthesis) -> None:
    assert synthesis.templates, "nothing was synthesized"
    for env in synthesis.templates:
        group_id, _ = task_security_group(synthesis, env)
        _, service = synthesis.only(env, "AWS::ECS::Service")
        awsvpc = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert awsvpc["SecurityGroups"] == [{"Fn::GetAtt": [group_id, "GroupId"]}], env


def test_nothing_in_any_stack_admits_traffic_from_the_internet(synthesis: Synthesis) -> None:
    assert synthesis.templates, "nothing was synthesized"
    for env in synthesis.templates:
        text = json.dumps(
            [
                *synthesis.resources(env, "AWS::EC2::SecurityGroupIngress").values(),
                *(
                    g["Properties"].get("SecurityGroupIngress", [])
                    for g in synthesis.resources(env, "AWS::EC2::SecurityGroup").values()
                ),
            ]
        )
        assert "0.0.0.0/0" not in text and "::/0" not in text, env


def test_public_mode_has_public_ips_and_no_nat_gateway(synthesis: Synthesis) -> None:
    _, service = synthesis.only("t-public", "AWS::ECS::Service")

    assert (
        service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"]
        == "ENABLED"
    )
    assert synthesis.resources("t-public", "AWS::EC2::NatGateway") == {}


def test_private_endpoints_mode_uses_nat_and_keeps_aws_traffic_on_endpoints(
    assertions: TemplateOf, synthesis: Synthesis
) -> None:
    _, service = synthesis.only("t-private", "AWS::ECS::Service")
    awsvpc = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    endpoints = synthesis.resources("t-private", "AWS::EC2::VPCEndpoint").values()
    services = sorted(json.dumps(e["Properties"]["ServiceName"]) for e in endpoints)

    assert awsvpc["AssignPublicIp"] == "DISABLED"
    assert awsvpc["Subnets"] and all("privateSubnet" in s["Ref"] for s in awsvpc["Subnets"])
    assert len(synthesis.resources("t-private", "AWS::EC2::NatGateway")) == 1
    for name in (
        "bedrock-runtime",
        "bedrock-agent-runtime",  # the environment retrieves from a Knowledge Base
        "secretsmanager",
        "logs",
        "ecr.api",
        "ecr.dkr",
        "s3",
        "dynamodb",
    ):
        assert any(f".{name}" in s for s in services), name
    assertions("t-private").resource_count_is("AWS::EC2::VPCEndpoint", 8)


def test_gateway_endpoints_for_s3_and_dynamodb_exist_in_every_mode(synthesis: Synthesis) -> None:
    assert synthesis.templates, "nothing was synthesized"
    for env in synthesis.templates:
        gateway = [
            e
            for e in synthesis.resources(env, "AWS::EC2::VPCEndpoint").values()
            if e["Properties"].get("VpcEndpointType", "Gateway") == "Gateway"
        ]
        assert len(gateway) == 2, env


def test_flow_logs_record_rejected_traffic(synthesis: Synthesis) -> None:
    _, flow_log = synthesis.only("t-public", "AWS::EC2::FlowLog")

    assert flow_log["Properties"]["TrafficType"] == "REJECT"


# --- secrets and environment ----------------------------------------------------------------


def test_slack_tokens_are_ecs_secrets_never_environment_values(synthesis: Synthesis) -> None:
    assert synthesis.templates, "nothing was synthesized"
    for env in synthesis.templates:
        definition = container(synthesis, env)
        secrets = {item["Name"] for item in definition["Secrets"]}
        assert secrets == {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"}, env
        assert not secrets & set(environment_of(synthesis, env)), env
        assert definition["Secrets"] and all(
            ":secretsmanager:" in json.dumps(s["ValueFrom"]) for s in definition["Secrets"]
        )
        # No token-shaped string anywhere in the template.
        assert not re.search(r"xox[abposr]-|xapp-", json.dumps(synthesis.templates[env])), env


def test_secrets_are_referenced_not_created(synthesis: Synthesis) -> None:
    assert synthesis.templates, "nothing was synthesized"
    for env in synthesis.templates:
        assert synthesis.resources(env, "AWS::SecretsManager::Secret") == {}, env


def test_secret_references_follow_the_configuration(synthesis: Synthesis) -> None:
    values = {s["Name"]: s["ValueFrom"] for s in container(synthesis, "t-private")["Secrets"]}

    assert values["SLACK_BOT_TOKEN"] == (
        "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:team/slack-bot-AbCdEf"
    )
    assert values["SLACK_APP_TOKEN"] == (
        "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:team/slack-app"
    )


def test_container_environment_follows_the_configuration_contract(synthesis: Synthesis) -> None:
    table_id, _ = synthesis.only("t-private", "AWS::DynamoDB::Table")

    assert environment_of(synthesis, "t-private") == {
        "AWS_REGION": "ap-northeast-2",
        "BEDROCK_REGION": "ap-northeast-1",
        "MICRO_MODEL_ID": "amazon.nova-micro-v1:0",
        "PRO_MODEL_ID": "apac.amazon.nova-pro-v1:0",
        "EMBED_MODEL_ID": "amazon.titan-embed-text-v2:0",
        "DOCS_SOURCE": "s3://kb-docs-example/kb/docs/",
        "INDEX_URI": "s3://kb-docs-example/kb/index/",
        "CORPUS_LANGUAGES": "en",
        "STATE_TABLE": {"Ref": table_id},
        "LOG_FORMAT": "json",
        "METRICS_NAMESPACE": "Dualnova/t-private",
        "SHUTDOWN_GRACE_SECONDS": "60",
        "RETRIEVER": "bedrock-kb",
        "KNOWLEDGE_BASE_ID": "KB12345678",
        # Slack's limits are per workspace: each of up to max_count=4 tasks budgets 1/4.
        "SLACK_TASKS": "4",
    }


def test_created_bucket_environment_points_at_its_prefixes(synthesis: Synthesis) -> None:
    environment = environment_of(synthesis, "t-public")
    [bucket_id] = [
        b for b in synthesis.resources("t-public", "AWS::S3::Bucket") if "Documents" in b
    ]

    assert environment["DOCS_SOURCE"] == {"Fn::Join": ["", ["s3://", {"Ref": bucket_id}, "/docs/"]]}
    assert environment["INDEX_URI"] == {"Fn::Join": ["", ["s3://", {"Ref": bucket_id}, "/index/"]]}
    assert environment["AWS_REGION"] == {"Ref": "AWS::Region"}
    assert environment["BEDROCK_REGION"] == {"Ref": "AWS::Region"}
    assert environment["CORPUS_LANGUAGES"] == "en,ko"
    assert environment["ADMIN_USER_IDS"] == "U012ABCDEF,U034GHIJKL"


# --- storage ---------------------------------------------------------------------------------


def test_documents_bucket_is_encrypted_private_versioned_and_logged(
    assertions: TemplateOf, synthesis: Synthesis
) -> None:
    from aws_cdk.assertions import Match

    [bucket_id] = [
        b for b in synthesis.resources("t-public", "AWS::S3::Bucket") if "Documents" in b
    ]
    bucket = synthesis.templates["t-public"]["Resources"][bucket_id]["Properties"]

    assert bucket["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    }
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["LoggingConfiguration"]["LogFilePrefix"] == "documents/"
    assert synthesis.templates["t-public"]["Resources"][bucket_id]["DeletionPolicy"] == "Retain"
    # TLS-only: a Deny on aws:SecureTransport=false for the bucket's policy.
    assertions("t-public").has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_an_existing_bucket_is_imported_not_created(synthesis: Synthesis) -> None:
    assert synthesis.resources("t-private", "AWS::S3::Bucket") == {}
    assert synthesis.resources("t-private", "AWS::S3::BucketPolicy") == {}


def test_state_table_has_pk_sk_on_demand_ttl_and_point_in_time_recovery(
    synthesis: Synthesis,
) -> None:
    assert synthesis.templates, "nothing was synthesized"
    for env in synthesis.templates:
        _, table = synthesis.only(env, "AWS::DynamoDB::Table")
        properties = table["Properties"]
        assert properties["KeySchema"] == [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ]
        assert properties["AttributeDefinitions"] == [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["TimeToLiveSpecification"] == {
            "AttributeName": "expires_at",
            "Enabled": True,
        }
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        assert table["DeletionPolicy"] == "Retain"


# --- service ---------------------------------------------------------------------------------


def test_task_size_defaults_to_half_a_vcpu_and_one_gib(synthesis: Synthesis) -> None:
    _, task_definition = synthesis.only("t-public", "AWS::ECS::TaskDefinition")
    _, bigger = synthesis.only("t-private", "AWS::ECS::TaskDefinition")

    assert (task_definition["Properties"]["Cpu"], task_definition["Properties"]["Memory"]) == (
        "512",
        "1024",
    )
    assert (bigger["Properties"]["Cpu"], bigger["Properties"]["Memory"]) == ("1024", "2048")


def test_service_rolls_back_failed_deploys_without_a_gap(synthesis: Synthesis) -> None:
    _, service = synthesis.only("t-private", "AWS::ECS::Service")
    properties = service["Properties"]

    assert properties["DesiredCount"] == 2
    assert properties["LaunchType"] == "FARGATE"
    assert properties["EnableExecuteCommand"] is False
    assert properties["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
        "Enable": True,
        "Rollback": True,
    }
    assert properties["DeploymentConfiguration"]["MinimumHealthyPercent"] == 100
    assert properties["DeploymentConfiguration"]["MaximumPercent"] == 200


def test_service_scales_on_cpu_between_desired_and_max(synthesis: Synthesis) -> None:
    _, target = synthesis.only("t-private", "AWS::ApplicationAutoScaling::ScalableTarget")
    _, policy = synthesis.only("t-private", "AWS::ApplicationAutoScaling::ScalingPolicy")
    tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]

    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (2, 4)
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
    }
    assert tracking["TargetValue"] == 60


def test_container_runs_the_image_asset_with_a_health_check(synthesis: Synthesis) -> None:
    definition = container(synthesis, "t-public")

    assert definition["HealthCheck"]["Command"] == ["CMD", "dualnova", "health"]
    assert "container-assets" in json.dumps(definition["Image"])
    assert definition["LogConfiguration"]["LogDriver"] == "awslogs"
    assert definition["LogConfiguration"]["Options"]["mode"] == "non-blocking"


def test_stop_timeout_is_the_shutdown_grace_plus_a_margin_within_fargates_limit(
    synthesis: Synthesis,
) -> None:
    from bot.config import Settings

    app_default = Settings.model_fields["shutdown_grace_seconds"].default
    for env in synthesis.templates:
        grace = float(environment_of(synthesis, env).get("SHUTDOWN_GRACE_SECONDS", app_default))
        stop_timeout = container(synthesis, env)["StopTimeout"]
        # SIGKILL must not land while the drain's last updates and log lines are written.
        assert grace + 15 <= stop_timeout <= 120, (env, grace, stop_timeout)
    assert container(synthesis, "t-private")["StopTimeout"] == 75


def test_image_build_context_holds_only_the_package_sources(synthesis: Synthesis) -> None:
    manifest = json.loads((synthesis.outdir / "Dualnova-t-public.assets.json").read_text())
    [image] = manifest["dockerImages"].values()
    context = synthesis.outdir / image["source"]["directory"]
    top_level = {path.name for path in context.iterdir()}

    assert image["source"]["platform"] == "linux/amd64"
    packages = {"bot", "retrieval", "kernel"}
    assert {"Dockerfile", "pyproject.toml", *packages} <= top_level
    assert top_level <= {"Dockerfile", ".dockerignore", "pyproject.toml", *packages}
    assert not list(context.rglob("__pycache__"))


def test_cluster_has_container_insights_for_the_task_count_alarm(synthesis: Synthesis) -> None:
    _, cluster = synthesis.only("t-public", "AWS::ECS::Cluster")

    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["Properties"][
        "ClusterSettings"
    ]


# --- logs and alarms -------------------------------------------------------------------------


def test_every_log_group_has_the_configured_retention(synthesis: Synthesis) -> None:
    assert synthesis.configs, "no environment was synthesized"
    for env, config in synthesis.configs.items():
        groups = synthesis.resources(env, "AWS::Logs::LogGroup")
        assert len(groups) == 2, env  # the bot's logs and rejected VPC flows
        for group in groups.values():
            assert group["Properties"]["RetentionInDays"] == config.log_retention_days, env


def test_task_count_alarm_fires_below_the_desired_count(synthesis: Synthesis) -> None:
    alarms = synthesis.resources("t-private", "AWS::CloudWatch::Alarm")
    [running] = [a for a in alarms.values() if a["Properties"]["MetricName"] == "RunningTaskCount"]
    properties = running["Properties"]

    assert properties["Namespace"] == "ECS/ContainerInsights"
    assert properties["ComparisonOperator"] == "LessThanThreshold"
    assert properties["Threshold"] == 2
    assert properties["TreatMissingData"] == "breaching"
    assert {d["Name"] for d in properties["Dimensions"]} == {"ClusterName", "ServiceName"}
    assert properties["AlarmActions"]


def test_error_burst_alarm_counts_error_lines_of_the_json_logs(synthesis: Synthesis) -> None:
    _, metric_filter = synthesis.only("t-public", "AWS::Logs::MetricFilter")
    [log_group_id] = [
        g
        for g in synthesis.resources("t-public", "AWS::Logs::LogGroup")
        if g.startswith("LogsLogGroup")
    ]
    pattern = metric_filter["Properties"]["FilterPattern"]
    [transformation] = metric_filter["Properties"]["MetricTransformations"]
    alarms = synthesis.resources("t-public", "AWS::CloudWatch::Alarm").values()
    [burst] = [a for a in alarms if a["Properties"]["MetricName"] == transformation["MetricName"]]

    assert metric_filter["Properties"]["LogGroupName"] == {"Ref": log_group_id}
    assert '$.level = "ERROR"' in pattern
    assert burst["Properties"]["Threshold"] == 5
    assert burst["Properties"]["Period"] == 300
    assert burst["Properties"]["Statistic"] == "Sum"


def test_alarm_email_is_subscribed_only_when_configured(synthesis: Synthesis) -> None:
    [subscription] = synthesis.resources("t-public", "AWS::SNS::Subscription").values()

    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"
    assert synthesis.resources("t-private", "AWS::SNS::Subscription") == {}


STACK_OUTPUTS = {
    "ClusterName",
    "ServiceName",
    "TaskDefinitionArn",
    "TaskSubnetIds",
    "TaskSecurityGroupId",
    "AssignPublicIp",
    "DocumentsBucketName",
    "DocsSource",
    "IndexUri",
    "StateTableName",
    "LogGroupName",
    "AlarmTopicArn",
}


def test_stack_outputs_are_the_ones_the_deploy_guide_reads(synthesis: Synthesis) -> None:
    guide = (REPO / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    # Every `$(out Name)` in the guide must name a real output.
    read_by_guide = set(re.findall(r"\$\(out (\w+)\)", guide))

    for env in synthesis.templates:
        assert set(synthesis.templates[env]["Outputs"]) == STACK_OUTPUTS, env
    assert read_by_guide, "the guide reads no stack output"
    assert read_by_guide <= STACK_OUTPUTS
