"""How a question that waits for a model tells its asker where it stands.

The Bedrock fair queue calls `notify_waiting` while a question waits for its turn; the
Slack layer sets `on_wait` around the question it is answering and shows the place in line.
With no listener set (the CLI), nothing happens. A context variable keeps the two layers
apart: the queue never imports Slack code, and the Slack layer never reaches into the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

log = logging.getLogger(__name__)

#: `(position, eta_s)`: 1-based place in the model's queue, and the estimated wait in seconds.
WaitListener = Callable[[int, float], Awaitable[None]]

on_wait: ContextVar[WaitListener | None] = ContextVar("dualnova_on_wait", default=None)


async def notify_waiting(position: int, eta_s: float) -> None:
    """Tell the current question's listener, if any, its place in line (never raises)."""
    listener = on_wait.get()
    if listener is None:
        return
    try:
        await listener(position, eta_s)
    except Exception as exc:  # showing the place in line is cosmetic: never fail the answer
        log.warning("could not show the queue position", extra={"reason": exc.__class__.__name__})
