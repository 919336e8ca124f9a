"""The `dualnova` console script: `health` runs without importing the command line.

`bot.cli` imports pydantic and, through its commands, the Slack and LlamaIndex stacks; the
container health check runs every 30 s and must stay a few milliseconds of CPU.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["health"]:
        from bot.health import main as health

        return health()
    from bot.cli import main as cli

    return cli(args)
