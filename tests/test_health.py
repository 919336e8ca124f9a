"""`dualnova health`, the ECS container health check: cheap, and reading what `serve` writes."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.health import check_health, health_file, write_health

DUALNOVA = Path(sys.executable).parent / "dualnova"
#: Modules whose import is what made the health check cost seconds of CPU.
HEAVY = ("pydantic", "pydantic_settings", "slack_bolt", "slack_sdk", "aiohttp", "boto3",
         "botocore", "llama_index", "lingua", "numpy", "bot.cli", "bot.config")  # fmt: skip


def _heartbeat(tmp_path: Path, *, connected: bool = True) -> dict[str, str]:
    path = tmp_path / "health.json"
    write_health(path, connected=connected)
    env = {k: v for k, v in os.environ.items() if k.upper() != "HEALTH_FILE"}
    return {**env, "HEALTH_FILE": str(path)}


#: Runs one command and reports its own CPU time and peak RSS. A small separate process does
#: the spawning because Linux counts the spawning process's resident size (here, pytest's
#: ~100 MB) into a child's ru_maxrss up to its exec.
_MEASURE = """
import json, os, sys
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime,
                  usage.ru_maxrss / 1024]))
"""


def _cost_of_one_run(argv: list[str], env: dict[str, str]) -> tuple[int, float, float]:
    """Exit code, CPU seconds (user + system) and peak RSS in MB of one child process."""
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv], env=env, capture_output=True, text=True, check=True
    )
    code, cpu, rss = json.loads(result.stdout.splitlines()[-1])
    return int(code), float(cpu), float(rss)


def test_the_health_check_costs_under_100_ms_of_cpu_and_30_mb(tmp_path: Path) -> None:
    # The console script the Dockerfile and the task definition run, as a child process.
    env = _heartbeat(tmp_path)
    runs = [_cost_of_one_run([str(DUALNOVA), "health"], env) for _ in range(3)]

    assert [code for code, _, _ in runs] == [0, 0, 0]
    cpu_ms = statistics.median(cpu for _, cpu, _ in runs) * 1000
    rss_mb = statistics.median(rss for _, _, rss in runs)
    assert cpu_ms <= 100, f"{cpu_ms:.0f} ms of CPU per health check"
    assert rss_mb <= 30, f"{rss_mb:.1f} MB resident per health check"


def test_the_health_check_imports_neither_settings_nor_the_slack_or_model_stacks(
    tmp_path: Path,
) -> None:
    probe = (
        "import sys, json; from bot.entry import main; code = main(['health']); "
        "print(json.dumps([code, sorted(sys.modules)]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=_heartbeat(tmp_path), capture_output=True, text=True
    )
    code, modules = json.loads(result.stdout.splitlines()[-1])

    assert code == 0
    assert [m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY] == []


@pytest.mark.parametrize(
    "command", [[str(DUALNOVA), "health"], [sys.executable, "-m", "bot", "health"]]
)
def test_health_exits_1_with_a_reason_when_serve_is_disconnected(
    tmp_path: Path, command: list[str]
) -> None:
    result = subprocess.run(
        command, env=_heartbeat(tmp_path, connected=False), capture_output=True, text=True
    )

    assert (result.returncode, result.stdout) == (1, "Socket Mode is not connected\n")


def test_health_is_unhealthy_without_a_heartbeat_or_with_a_stale_one(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    assert check_health(path) == (
        False,
        f"no heartbeat at {path} (is `dualnova serve` running?)",
    )
    write_health(path, connected=True)
    assert check_health(path)[0] is True
    assert check_health(path, now=time.time() + 60) == (False, "heartbeat is 60s old")


@pytest.mark.parametrize(
    ("environ", "dotenv"),
    [
        ({}, None),
        ({"HEALTH_FILE": "/run/dualnova/hb.json"}, None),
        ({"health_file": "/run/dualnova/lower.json"}, None),
        ({"HEALTH_FILE": ""}, None),
        ({}, "HEALTH_FILE=/srv/from-dotenv.json\n"),
        ({"HEALTH_FILE": "/run/env-wins.json"}, "HEALTH_FILE=/srv/from-dotenv.json\n"),
        ({"HEALTH_FILE": ""}, "# comment\nexport HEALTH_FILE='/srv/quoted.json'\n"),
    ],
)
def test_health_reads_health_file_exactly_as_settings_does(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    environ: dict[str, str],
    dotenv: str | None,
) -> None:
    # serve writes to Settings.health_file; the check must look in the same place.
    for name in list(os.environ):
        if name.upper() == "HEALTH_FILE":
            monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv, "utf-8")

    assert health_file() == load_settings().health_file
