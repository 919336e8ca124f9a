"""The Socket Mode heartbeat file and `dualnova health`, the container health check.

ECS runs the health check every 30 s inside the task's own CPU budget, so this module
imports the standard library only: no pydantic, Slack, boto3 or LlamaIndex (importing those
cost ~4 s of CPU and ~135 MB per check). `bot.entry` routes `dualnova health` here without
importing the full command line.

It reads one variable itself, `HEALTH_FILE`, the same way `bot.config.Settings` does
(environment first, then `.env`, names case-insensitive, empty values ignored): loading
Settings would import pydantic. `tests/test_health.py` pins the two readings together.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

#: Per-container scratch file (not shared between tasks), written by `serve` every 5 s.
DEFAULT_HEALTH_FILE = Path("/tmp/dualnova-health.json")  # noqa: S108
HEALTH_MAX_AGE_S = 30.0
_VARIABLE = "HEALTH_FILE"


def write_health(path: Path, *, connected: bool) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"connected": connected, "at": time.time(), "pid": os.getpid()}), "utf-8"
    )
    os.replace(tmp, path)


def check_health(path: Path, *, now: float | None = None) -> tuple[bool, str]:
    """Healthy only while the socket is connected and the heartbeat is fresh."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return False, f"no heartbeat at {path} (is `dualnova serve` running?)"
    age = (now or time.time()) - float(data.get("at", 0))
    if age > HEALTH_MAX_AGE_S:
        return False, f"heartbeat is {age:.0f}s old"
    if not data.get("connected"):
        return False, "Socket Mode is not connected"
    return True, f"connected (heartbeat {age:.0f}s ago)"


def _lookup(values: Mapping[str, str | None]) -> str | None:
    for name, value in values.items():
        if name.upper() == _VARIABLE and value:
            return value
    return None


def health_file(environ: Mapping[str, str] | None = None, env_file: Path = Path(".env")) -> Path:
    """HEALTH_FILE as `Settings.health_file` resolves it, without importing pydantic."""
    value = _lookup(os.environ if environ is None else environ)
    if value is None and env_file.is_file():
        # The parser pydantic-settings itself uses for `.env`; loaded only when one exists.
        from dotenv import dotenv_values

        value = _lookup(dotenv_values(env_file, encoding="utf-8"))
    return Path(value) if value else DEFAULT_HEALTH_FILE


def main() -> int:
    """`dualnova health`: exit 0 while `serve` is connected, 1 otherwise."""
    healthy, detail = check_health(health_file())
    print(detail)
    return 0 if healthy else 1
