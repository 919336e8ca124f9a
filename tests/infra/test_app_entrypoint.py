"""`python infra/app.py` (what cdk.json runs) synthesizes offline, and fails loudly on bad config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.synthesis import REPO, require_toolchain


def run_app(tmp_path: Path, context: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        # What the CDK CLI passes to the app; here without the CLI.
        "CDK_CONTEXT_JSON": json.dumps(context),
        "CDK_OUTDIR": str(tmp_path),
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    # No credentials, so nothing can quietly reach AWS during synthesis.
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, str(REPO / "infra" / "app.py")],
        cwd=tmp_path,  # not the repo root: the script must find its package by itself
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_cdk_json_runs_the_app_script() -> None:
    config = json.loads((REPO / "cdk.json").read_text(encoding="utf-8"))

    assert config["app"].endswith("python infra/app.py")


@pytest.mark.slow
def test_app_script_synthesizes_one_environment_offline(tmp_path: Path) -> None:
    require_toolchain()

    result = run_app(tmp_path, {"env": "dev"})

    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "Dualnova-dev.template.json").is_file()
    assert not (tmp_path / "Dualnova-prod.template.json").exists()


@pytest.mark.slow
def test_app_script_names_an_unknown_environment_and_exits_non_zero(tmp_path: Path) -> None:
    require_toolchain()

    result = run_app(tmp_path, {"env": "staging"})

    assert result.returncode != 0
    assert "dualnova infra: -c env=staging: no such environment" in result.stderr
