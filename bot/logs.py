"""Logging for operators: structured fields, one line per record, secrets never printed."""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

_SECRET = re.compile(
    r"xox[abposr]-[\w-]+|xapp-[\w-]+|(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"
)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    """Mask Slack tokens and AWS secret-key-shaped strings wherever they appear."""
    return _SECRET.sub("[redacted]", text)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(data, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = _fields(record)
        if extra:
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return redact(line)


def configure_logging(*, level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Chatty libraries stay at WARNING so INFO lines are ours.
    for name in (
        "botocore",
        "boto3",
        "urllib3",
        "httpx",
        "bm25s",
        "llama_index",
        "slack_bolt",
        "slack_sdk",
    ):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
