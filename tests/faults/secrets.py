"""Secrets never reach a log record: Slack tokens and the AWS secret key, at any level."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

#: Shaped like an AWS secret access key (40 characters), and unique to the tests.
AWS_SECRET = "tEsT/aWsSeCrEt+0123456789abcdefGHIJKLMNOP"
_TOKEN = re.compile(r"xox[abposr]-[A-Za-z0-9-]{4,}|xapp-[A-Za-z0-9-]{4,}")


def _texts(record: logging.LogRecord) -> Iterable[str]:
    try:
        yield record.getMessage()
    except Exception:  # a record whose args do not fit its format: scan the parts
        yield str(record.msg)
        yield repr(record.args)
    if record.exc_info and record.exc_info[1] is not None:
        yield repr(record.exc_info[1])
    if record.exc_text:
        yield record.exc_text
    yield repr({k: v for k, v in vars(record).items() if k not in ("msg", "args", "exc_info")})


def leaks(records: Iterable[logging.LogRecord], secrets: Iterable[str] = ()) -> list[str]:
    """One line per record that carries a Slack token or one of `secrets`."""
    wanted = [s for s in secrets if s]
    found = []
    for record in records:
        if record.name.startswith("tests."):
            continue  # the fakes may log what they received; the app's logs are what matter
        for text in _texts(record):
            if _TOKEN.search(text) or any(secret in text for secret in wanted):
                found.append(f"{record.levelname} {record.name}: {text[:300]}")
                break
    return found
