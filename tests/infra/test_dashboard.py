"""The operations dashboard: one per environment, drawing the metrics the bot writes as EMF."""

from __future__ import annotations

import json
from typing import Any

from bot.metrics import LATENCY_METRICS, STATUS_METRICS, VOTES, EmfMetrics
from bot.pricing import PriceTable
from bot.usage import usage_of
from infra.dashboard import LATENCY_METRICS as DRAWN_LATENCY
from infra.dashboard import OUTCOME_METRICS
from infra.dashboard import VOTES as DRAWN_VOTES
from kernel.models import Answer, ModelCall, Route
from tests.infra.synthesis import Synthesis
from tests.infra.test_stack_resources import environment_of


def dashboard_body(synthesis: Synthesis, env: str) -> dict[str, Any]:
    """The DashboardBody JSON, with CloudFormation references (the region) filled in."""
    _, dashboard = synthesis.only(env, "AWS::CloudWatch::Dashboard")
    body = dashboard["Properties"]["DashboardBody"]
    if isinstance(body, dict):  # {"Fn::Join": ["", [parts and {"Ref": ...}]]}
        parts = body["Fn::Join"][1]
        body = "".join(p if isinstance(p, str) else "REGION" for p in parts)
    return json.loads(body)


def drawn_metrics(body: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric name, dimensions) of every metric on every widget."""
    found = []
    for widget in body["widgets"]:
        for line in widget.get("properties", {}).get("metrics", []):
            names = [p for p in line if isinstance(p, str)]
            namespace, name, *pairs = names
            found.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def emitted_metrics(namespace: str, model: str) -> set[tuple[str, str, tuple[str, ...]]]:
    """(namespace, name, dimension keys) of what the bot writes for one question and a vote."""
    lines: list[str] = []
    metrics = EmfMetrics(namespace=namespace, write=lines.append)
    answer = Answer(
        question="q",
        question_id="q1",
        language="en",
        text="a",
        citations=(),
        route=Route(standalone_question="q", calls=(ModelCall(model=model, purpose="answer"),)),
        status="answered",
        timings=tuple((stage, 1.0) for stage in LATENCY_METRICS),
    )
    metrics.question(usage_of(answer, PriceTable(), user_id=None, channel_id=None))
    metrics.feedback(vote="up", language="en")
    out = set()
    for line in lines:
        for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
            for dims in directive["Dimensions"]:
                for m in directive["Metrics"]:
                    out.add((directive["Namespace"], m["Name"], tuple(dims)))
    return out


def test_each_environment_has_a_dashboard_in_the_namespace_its_container_writes(
    synthesis: Synthesis,
) -> None:
    assert synthesis.configs, "no environment was synthesized"
    for env, config in synthesis.configs.items():
        _, dashboard = synthesis.only(env, "AWS::CloudWatch::Dashboard")
        namespace = environment_of(synthesis, env)["METRICS_NAMESPACE"]
        assert namespace == f"Dualnova/{env}"
        assert dashboard["Properties"]["DashboardName"] == f"dualnova-{env}"
        drawn = drawn_metrics(dashboard_body(synthesis, env))
        assert drawn and {ns for ns, _, _ in drawn} == {namespace}, env
        models = {dims["Model"] for _, name, dims in drawn if name == "CostUSD" and dims}
        assert models == {config.micro_model_id, config.pro_model_id, config.embed_model_id}


def test_every_metric_drawn_is_one_the_bot_writes(synthesis: Synthesis) -> None:
    env = "t-public"
    namespace = environment_of(synthesis, env)["METRICS_NAMESPACE"]
    model = synthesis.configs[env].pro_model_id
    emitted = emitted_metrics(namespace, model)

    for ns, name, dims in drawn_metrics(dashboard_body(synthesis, env)):
        assert (ns, name, tuple(sorted(dims))) in emitted, (name, dims)
    names = {name for _, name, _ in drawn_metrics(dashboard_body(synthesis, env))}
    assert set(OUTCOME_METRICS) == {"Questions", *STATUS_METRICS.values()}
    assert set(DRAWN_LATENCY) <= names and set(DRAWN_LATENCY) == {
        *LATENCY_METRICS.values(),
        "LatencyTotal",
    }
    assert set(DRAWN_VOTES) == set(VOTES)
    assert {"CostUSD", "InputTokens", "OutputTokens", "Feedback"} <= names


def test_the_dashboard_shows_the_stacks_alarms(synthesis: Synthesis) -> None:
    body = dashboard_body(synthesis, "t-public")
    (alarms,) = [w for w in body["widgets"] if "alarms" in w.get("properties", {})]
    assert len(alarms["properties"]["alarms"]) == 2  # error burst, tasks below desired
