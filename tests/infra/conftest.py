"""One synthesis of the CDK app per test session, shared by every infra test.

Synthesizing starts a jsii (Node) kernel and takes seconds per stack, so every
stack the tests look at is built in a single App and synthesized once: the
environments shipped in infra/environments.json (what operators deploy) plus two
test environments that exercise the other branches (imported bucket, private
subnets with endpoints, explicit account/region, a separate Bedrock region).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.config import load_environments
from tests.infra.synthesis import TEST_ENVIRONMENTS, Synthesis, require_toolchain


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    require_toolchain()
    from aws_cdk import App

    from infra.app import build_app

    configs = {**load_environments(), **TEST_ENVIRONMENTS}
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app(configs, app=App(outdir=str(outdir)))
    error = None
    try:
        app.synth()
    except RuntimeError as exc:
        # cdk-nag errors raise ValidationFailed after the templates are written;
        # keep going so the nag test can name them and the other tests still run.
        if "ValidationFailed" not in str(exc):
            raise
        error = str(exc)
    templates = {
        name: json.loads((outdir / f"{config.stack_name}.template.json").read_text())
        for name, config in configs.items()
    }
    report = json.loads((outdir / "validation-report.json").read_text())
    return Synthesis(outdir, configs, templates, report, error)


@pytest.fixture(scope="session")
def assertions(synthesis: Synthesis) -> Callable[[str], Any]:
    """`aws_cdk.assertions.Template` for an environment's synthesized template."""
    from aws_cdk.assertions import Template

    cache: dict[str, Any] = {}

    def template(env: str) -> Any:
        if env not in cache:
            cache[env] = Template.from_json(synthesis.templates[env])
        return cache[env]

    return template
