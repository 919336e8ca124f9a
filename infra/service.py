"""The bot itself: a Fargate service running the image built from the Dockerfile.

One container, no load balancer (Socket Mode dials out), rolling deploys that roll
back on their own when new tasks do not stay healthy, and CPU-based scaling
between the configured count and a ceiling (each task is one Socket Mode
connection; Slack spreads events across them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration, Size, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.network import Network
from infra.permissions import StatementSpec


@dataclass(frozen=True, kw_only=True, slots=True)
class BotServiceProps:
    env_name: str
    network: Network
    image_directory: str
    log_group: logs.ILogGroup
    environment: Mapping[str, str]
    secrets: Mapping[str, secretsmanager.ISecret]
    task_statements: Sequence[StatementSpec]
    cpu: int
    memory_mib: int
    desired_count: int
    max_count: int
    scale_out_cpu_percent: int
    stop_timeout_seconds: int
    secrets_kms_key_arn: str | None = None


def _ecs_tasks_principal(stack: Stack) -> iam.ServicePrincipal:
    # Confused-deputy guard: only ECS acting for this account may assume the roles.
    return iam.ServicePrincipal(
        "ecs-tasks.amazonaws.com",
        conditions={
            "ArnLike": {
                "aws:SourceArn": f"arn:{stack.partition}:ecs:{stack.region}:{stack.account}:*"
            },
            "StringEquals": {"aws:SourceAccount": stack.account},
        },
    )


class BotService(Construct):
    """Cluster, task definition (roles, container) and the Fargate service."""

    def __init__(self, scope: Construct, construct_id: str, *, props: BotServiceProps) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        # The process's own permissions: exactly the statements derived from config.
        self.task_statements = tuple(props.task_statements)
        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=_ecs_tasks_principal(stack),
            description=f"dualnova {props.env_name}: what the bot process may do",
        )
        for spec in props.task_statements:
            self.task_role.add_to_policy(
                iam.PolicyStatement(
                    sid=spec.sid,
                    actions=list(spec.actions),
                    resources=list(spec.resources),
                    conditions={k: dict(v) for k, v in spec.conditions.items()}
                    if spec.conditions
                    else None,
                )
            )
        # What ECS needs to start the task: CDK adds the ECR pull of this image's
        # repository, writing to this log group, and reading the two secrets.
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=_ecs_tasks_principal(stack),
            description=f"dualnova {props.env_name}: what ECS may do to start the bot",
        )

        if props.secrets_kms_key_arn:
            # Secrets under a customer-managed key: ECS decrypts them with this role at task
            # start, through Secrets Manager only ("AccessDeniedException ... kms:Decrypt").
            self.execution_role.add_to_policy(
                iam.PolicyStatement(
                    sid="DecryptSlackSecrets",
                    actions=["kms:Decrypt"],
                    resources=[props.secrets_kms_key_arn],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": f"secretsmanager.{stack.region}.amazonaws.com"
                        }
                    },
                )
            )

        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=props.network.vpc,
            # Provides RunningTaskCount for the tasks-below-desired alarm.
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=props.cpu,
            memory_limit_mib=props.memory_mib,
            task_role=self.task_role,
            execution_role=self.execution_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.container = self.task_definition.add_container(
            "bot",
            image=ecs.ContainerImage.from_asset(
                props.image_directory,
                # Build for Fargate's architecture even on an arm64 laptop.
                platform=ecr_assets.Platform.LINUX_AMD64,
            ),
            # Slack's rate limits are per workspace, shared by every task: each task budgets
            # 1/N of them, N the most tasks that can run (scaling never breaks the limits).
            environment={
                **props.environment,
                "SLACK_TASKS": str(max(props.desired_count, props.max_count)),
            },
            secrets={
                name: ecs.Secret.from_secrets_manager(secret)
                for name, secret in props.secrets.items()
            },
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="bot",
                log_group=props.log_group,
                # A CloudWatch hiccup must not block the event loop on stdout.
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
                max_buffer_size=Size.mebibytes(25),
            ),
            # `dualnova health` exits 0 only while the Socket Mode connection is up;
            # an unhealthy task is replaced, and a deploy whose tasks never get
            # healthy is rolled back by the circuit breaker.
            health_check=ecs.HealthCheck(
                command=["CMD", "dualnova", "health"],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(10),
                retries=3,
                start_period=Duration.seconds(90),
            ),
            # SIGKILL comes this long after SIGTERM: the app's drain plus a margin
            # (EnvironmentConfig.stop_timeout_seconds), so the last writes still land.
            stop_timeout=Duration.seconds(props.stop_timeout_seconds),
        )

        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            desired_count=props.desired_count,
            assign_public_ip=props.network.assign_public_ip,
            vpc_subnets=props.network.task_subnets,
            security_groups=[props.network.security_group],
            platform_version=ecs.FargatePlatformVersion.LATEST,
            # Start the new task before stopping the old one: no gap in Slack.
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            # ECS Exec would add ssmmessages:* on "*" to the task role; the first
            # ingest runs as a one-off task instead (docs/DEPLOY.md).
            enable_execute_command=False,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )

        if props.max_count > props.desired_count:
            scaling = self.service.auto_scale_task_count(
                min_capacity=props.desired_count, max_capacity=props.max_count
            )
            scaling.scale_on_cpu_utilization(
                "Cpu",
                target_utilization_percent=props.scale_out_cpu_percent,
                scale_out_cooldown=Duration.minutes(2),
                scale_in_cooldown=Duration.minutes(10),
            )
