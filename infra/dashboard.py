"""One CloudWatch dashboard per environment, drawn from the bot's EMF metrics.

The bot writes Embedded Metric Format lines to stdout (`bot/metrics.py`); CloudWatch Logs
turns them into metrics in the environment's namespace with no agent. The metric and
dimension names here are the ones `bot/metrics.py` writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

#: Answer stages, as `bot/metrics.py` names their latency metrics.
LATENCY_METRICS = (
    "LatencyDetect",
    "LatencyCondense",
    "LatencyRetrieve",
    "LatencyFirstToken",
    "LatencyAnswer",
    "LatencyTotal",
)
OUTCOME_METRICS = ("Questions", "Answered", "NotFound", "Failed", "Refused")
VOTES = ("up", "down", "translation")


def metrics_namespace(env_name: str) -> str:
    """Each environment its own namespace, so two environments in one account stay apart."""
    return f"Dualnova/{env_name}"


@dataclass(frozen=True, kw_only=True, slots=True)
class DashboardProps:
    env_name: str
    namespace: str
    model_ids: Sequence[str]  # the configured Micro, Pro and embedding model ids
    alarms: Sequence[cloudwatch.IAlarm] = ()


class OperationsDashboard(Construct):
    """Questions and outcomes, latency per stage, tokens and cost by model, feedback."""

    def __init__(self, scope: Construct, construct_id: str, *, props: DashboardProps) -> None:
        super().__init__(scope, construct_id)
        namespace = props.namespace
        five_minutes, hour = Duration.minutes(5), Duration.hours(1)

        def metric(
            name: str,
            *,
            statistic: str = "Sum",
            period: Duration = five_minutes,
            dimensions: dict[str, str] | None = None,
            label: str | None = None,
        ) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=namespace,
                metric_name=name,
                dimensions_map=dimensions,
                statistic=statistic,
                period=period,
                label=label,
            )

        models = list(dict.fromkeys(props.model_ids))

        def by_model(name: str) -> list[cloudwatch.IMetric]:
            return [
                metric(name, period=hour, dimensions={"Model": model}, label=model)
                for model in models
            ]

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"dualnova-{props.env_name}",
            default_interval=Duration.days(7),
        )
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=(
                    f"# dualnova {props.env_name}\n"
                    f"EMF metrics in `{namespace}`. Per question: `question usage` log lines "
                    "(Logs Insights). Admins in Slack: `/dualnova usage`."
                ),
                width=24,
                height=2,
            )
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Questions and outcomes (per 5 min)",
                left=[metric(name) for name in OUTCOME_METRICS],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Latency per stage (p90, ms)",
                left=[metric(name, statistic="p90") for name in LATENCY_METRICS],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Tokens by model (per hour)",
                left=by_model("InputTokens") + by_model("CacheReadTokens"),
                right=by_model("OutputTokens"),
                left_y_axis=cloudwatch.YAxisProps(label="input", show_units=False),
                right_y_axis=cloudwatch.YAxisProps(label="output", show_units=False),
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Cost by model (USD per hour)",
                left=by_model("CostUSD"),
                stacked=True,
                width=8,
            ),
            cloudwatch.SingleValueWidget(
                title="Cost over the dashboard's range (USD)",
                metrics=[metric("CostUSD", period=hour, label="total")],
                set_period_to_time_range=True,
                width=4,
            ),
        )
        row: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title="Feedback (per hour)",
                left=[
                    metric("Feedback", period=hour, dimensions={"Vote": vote}, label=vote)
                    for vote in VOTES
                ],
                width=12,
            )
        ]
        if props.alarms:
            row.append(cloudwatch.AlarmStatusWidget(alarms=list(props.alarms), width=12))
        self.dashboard.add_widgets(*row)
