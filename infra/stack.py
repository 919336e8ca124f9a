"""One deployment of dualnova: network, storage, secrets, service, alarms.

Reads top to bottom in dependency order; each piece is a small construct with
typed, keyword-only props. The container's environment uses the settings
listed in docs/ARCHITECTURE.md; the Slack tokens arrive as ECS secrets, never as values.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnOutput, Environment, Stack, Tags
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import EnvironmentConfig
from infra.dashboard import DashboardProps, OperationsDashboard, metrics_namespace
from infra.monitoring import Alarms, AlarmsProps, ApplicationLogs, LogsProps
from infra.nag import acknowledge_stack_findings
from infra.network import Network, NetworkProps
from infra.permissions import task_role_statements
from infra.service import BotService, BotServiceProps
from infra.slack_secrets import SlackSecrets, SlackSecretsProps
from infra.storage import DocumentStore, DocumentStoreProps, StateTable


def retention_days(days: int) -> logs.RetentionDays:
    """The RetentionDays member for a number of days (config validated the number)."""
    by_days = {
        1: logs.RetentionDays.ONE_DAY,
        3: logs.RetentionDays.THREE_DAYS,
        5: logs.RetentionDays.FIVE_DAYS,
        7: logs.RetentionDays.ONE_WEEK,
        14: logs.RetentionDays.TWO_WEEKS,
        30: logs.RetentionDays.ONE_MONTH,
        60: logs.RetentionDays.TWO_MONTHS,
        90: logs.RetentionDays.THREE_MONTHS,
        120: logs.RetentionDays.FOUR_MONTHS,
        150: logs.RetentionDays.FIVE_MONTHS,
        180: logs.RetentionDays.SIX_MONTHS,
        365: logs.RetentionDays.ONE_YEAR,
        400: logs.RetentionDays.THIRTEEN_MONTHS,
        545: logs.RetentionDays.EIGHTEEN_MONTHS,
        731: logs.RetentionDays.TWO_YEARS,
        1096: logs.RetentionDays.THREE_YEARS,
        1827: logs.RetentionDays.FIVE_YEARS,
        2192: logs.RetentionDays.SIX_YEARS,
        2557: logs.RetentionDays.SEVEN_YEARS,
        2922: logs.RetentionDays.EIGHT_YEARS,
        3288: logs.RetentionDays.NINE_YEARS,
        3653: logs.RetentionDays.TEN_YEARS,
    }
    return by_days[days]


@dataclass(frozen=True, kw_only=True, slots=True)
class DualnovaStackProps:
    config: EnvironmentConfig
    image_directory: str  # the Docker build context (the repository root)


class DualnovaStack(Stack):
    """Everything one environment needs to run the bot."""

    def __init__(self, scope: Construct, construct_id: str, *, props: DualnovaStackProps) -> None:
        config = props.config
        super().__init__(
            scope,
            construct_id,
            description=f"dualnova Slack knowledge bot ({config.name})",
            env=Environment(account=config.account, region=config.region)
            if config.account or config.region
            else None,
        )
        Tags.of(self).add("project", "dualnova")
        Tags.of(self).add("environment", config.name)
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)
        retention = retention_days(config.log_retention_days)
        bedrock_region = config.bedrock_region or self.region

        self.network = Network(
            self,
            "Network",
            props=NetworkProps(
                mode=config.network_mode,
                nat_gateways=config.nat_gateways,
                availability_zones=config.availability_zones,
                flow_log_retention=retention,
                knowledge_base=config.knowledge_base_id is not None,
            ),
        )
        self.documents = DocumentStore(
            self,
            "Storage",
            props=DocumentStoreProps(
                existing_bucket_name=config.existing_bucket_name,
                docs_prefix=config.docs_prefix,
                index_prefix=config.index_prefix,
            ),
        )
        self.state = StateTable(self, "State")
        self.slack = SlackSecrets(
            self,
            "Slack",
            props=SlackSecretsProps(
                bot_token_secret=config.slack_bot_token_secret,
                app_token_secret=config.slack_app_token_secret,
            ),
        )
        self.logs = ApplicationLogs(self, "Logs", props=LogsProps(retention=retention))

        environment = {
            "AWS_REGION": self.region,
            "BEDROCK_REGION": bedrock_region,
            "MICRO_MODEL_ID": config.micro_model_id,
            "PRO_MODEL_ID": config.pro_model_id,
            "EMBED_MODEL_ID": config.embed_model_id,
            "DOCS_SOURCE": self.documents.docs_uri,
            "INDEX_URI": self.documents.index_uri,
            "CORPUS_LANGUAGES": ",".join(config.corpus_languages),
            "STATE_TABLE": self.state.table.table_name,
            "LOG_FORMAT": "json",
            "METRICS_NAMESPACE": metrics_namespace(config.name),
            "SHUTDOWN_GRACE_SECONDS": str(config.shutdown_grace_seconds),
        }
        if config.knowledge_base_id:
            environment["RETRIEVER"] = "bedrock-kb"
            environment["KNOWLEDGE_BASE_ID"] = config.knowledge_base_id
        if config.admin_user_ids:
            environment["ADMIN_USER_IDS"] = ",".join(config.admin_user_ids)

        self.bot = BotService(
            self,
            "Bot",
            props=BotServiceProps(
                env_name=config.name,
                network=self.network,
                image_directory=props.image_directory,
                log_group=self.logs.log_group,
                environment=environment,
                secrets={
                    "SLACK_BOT_TOKEN": self.slack.bot_token,
                    "SLACK_APP_TOKEN": self.slack.app_token,
                },
                task_statements=task_role_statements(
                    chat_model_ids=[config.micro_model_id, config.pro_model_id],
                    embed_model_id=config.embed_model_id,
                    bedrock_region=bedrock_region,
                    account=self.account,
                    partition=self.partition,
                    bucket_arn=self.documents.bucket.bucket_arn,
                    docs_prefix=config.docs_prefix,
                    index_prefix=config.index_prefix,
                    table_arn=self.state.table.table_arn,
                    knowledge_base_id=config.knowledge_base_id,
                    bucket_kms_key_arn=config.bucket_kms_key_arn,
                    bucket_region=self.region,
                ),
                secrets_kms_key_arn=config.secrets_kms_key_arn,
                cpu=config.cpu,
                memory_mib=config.memory_mib,
                desired_count=config.desired_count,
                max_count=config.max_count,
                scale_out_cpu_percent=config.scale_out_cpu_percent,
                stop_timeout_seconds=config.stop_timeout_seconds,
            ),
        )
        self.alarms = Alarms(
            self,
            "Alarms",
            props=AlarmsProps(
                env_name=config.name,
                log_group=self.logs.log_group,
                cluster_name=self.bot.cluster.cluster_name,
                service_name=self.bot.service.service_name,
                minimum_running_tasks=config.desired_count,
                error_threshold=config.error_alarm_threshold,
                alarm_email=config.alarm_email,
            ),
        )
        self.dashboard = OperationsDashboard(
            self,
            "Dashboard",
            props=DashboardProps(
                env_name=config.name,
                namespace=environment["METRICS_NAMESPACE"],
                model_ids=(config.micro_model_id, config.pro_model_id, config.embed_model_id),
                alarms=[
                    a
                    for a in (self.alarms.error_burst, self.alarms.tasks_below_desired)
                    if a is not None
                ],
            ),
        )
        acknowledge_stack_findings(self)
        self._outputs()

    def _outputs(self) -> None:
        """Everything docs/DEPLOY.md's commands read back with describe-stacks."""
        network = self.network
        outputs = {
            "ClusterName": self.bot.cluster.cluster_name,
            "ServiceName": self.bot.service.service_name,
            "TaskDefinitionArn": self.bot.task_definition.task_definition_arn,
            "TaskSubnetIds": ",".join(network.task_subnet_ids),
            "TaskSecurityGroupId": network.security_group.security_group_id,
            "AssignPublicIp": "ENABLED" if network.assign_public_ip else "DISABLED",
            "DocumentsBucketName": self.documents.bucket.bucket_name,
            "DocsSource": self.documents.docs_uri,
            "IndexUri": self.documents.index_uri,
            "StateTableName": self.state.table.table_name,
            "LogGroupName": self.logs.log_group.log_group_name,
            "AlarmTopicArn": self.alarms.topic.topic_arn,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
