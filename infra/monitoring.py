"""What tells an operator the bot is down or failing: logs, alarms, a topic.

Two alarms cover the two ways the bot fails users:
- fewer running tasks than configured (crash loop, failed deploy, image pull
  error): Container Insights' `RunningTaskCount`, because the AWS/ECS namespace
  has no task-count metric;
- a burst of ERROR lines (Bedrock throttling, S3 access denied, Slack errors):
  a metric filter on the JSON logs (`LOG_FORMAT=json`).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

# Matches the JSON log records of `LOG_FORMAT=json` whether the level field is
# called `level` or `levelname` (the stdlib attribute name).
ERROR_LOG_PATTERN = logs.FilterPattern.any(
    logs.FilterPattern.string_value("$.level", "=", "ERROR"),
    logs.FilterPattern.string_value("$.level", "=", "CRITICAL"),
    logs.FilterPattern.string_value("$.levelname", "=", "ERROR"),
    logs.FilterPattern.string_value("$.levelname", "=", "CRITICAL"),
)
METRIC_NAMESPACE = "Dualnova"


@dataclass(frozen=True, kw_only=True, slots=True)
class LogsProps:
    retention: logs.RetentionDays


class ApplicationLogs(Construct):
    """The container's log group, with retention (never the infinite default)."""

    def __init__(self, scope: Construct, construct_id: str, *, props: LogsProps) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=props.retention,
            # Kept after a stack delete for the post-mortem; retention still expires it.
            removal_policy=RemovalPolicy.RETAIN,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class AlarmsProps:
    env_name: str
    log_group: logs.ILogGroup
    cluster_name: str
    service_name: str
    minimum_running_tasks: int
    error_threshold: int
    alarm_email: str | None


class Alarms(Construct):
    """Alarms to one SNS topic; an e-mail subscription when configured."""

    def __init__(self, scope: Construct, construct_id: str, *, props: AlarmsProps) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self, "Topic", display_name=f"dualnova {props.env_name} alarms", enforce_ssl=True
        )
        Validations.of(self.topic).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SNS2",
                reason="Alarm notifications carry only alarm names and states. CloudWatch "
                "cannot publish to a topic encrypted with the AWS-managed SNS key, and a "
                "customer-managed key would cost more than the rest of the idle stack's "
                "alarms; publishing is TLS-only (enforce_ssl).",
            )
        )
        if props.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(props.alarm_email))
        action = cloudwatch_actions.SnsAction(self.topic)

        errors = logs.MetricFilter(
            self,
            "ErrorLines",
            log_group=props.log_group,
            filter_pattern=ERROR_LOG_PATTERN,
            metric_namespace=METRIC_NAMESPACE,
            metric_name=f"ErrorLogLines-{props.env_name}",
            metric_value="1",
            default_value=0,
        )
        self.error_burst = cloudwatch.Alarm(
            self,
            "ErrorBurst",
            alarm_description=(
                f"dualnova {props.env_name}: {props.error_threshold}+ ERROR log lines in "
                "5 minutes. Read them: aws logs tail LOG_GROUP --since 15m --filter-pattern ERROR"
            ),
            metric=errors.metric(statistic="Sum", period=Duration.minutes(5)),
            threshold=props.error_threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

        if props.minimum_running_tasks > 0:
            running = cloudwatch.Metric(
                namespace="ECS/ContainerInsights",
                metric_name="RunningTaskCount",
                dimensions_map={
                    "ClusterName": props.cluster_name,
                    "ServiceName": props.service_name,
                },
                statistic="Minimum",
                period=Duration.minutes(1),
            )
            self.tasks_below_desired: cloudwatch.Alarm | None = cloudwatch.Alarm(
                self,
                "TasksBelowDesired",
                alarm_description=(
                    f"dualnova {props.env_name}: fewer than {props.minimum_running_tasks} "
                    "running task(s) for 5 minutes: the bot may be offline in Slack. "
                    "See the service's events: aws ecs describe-services"
                ),
                metric=running,
                threshold=props.minimum_running_tasks,
                # Five minutes rides out one task replacement (about two minutes)
                # without paging anyone.
                evaluation_periods=5,
                datapoints_to_alarm=5,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                # No data means Container Insights saw no task: that is an outage.
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            )
        else:
            self.tasks_below_desired = None

        for alarm in (self.error_burst, self.tasks_below_desired):
            if alarm is not None:
                alarm.add_alarm_action(action)
                alarm.add_ok_action(action)
