"""The pipeline observer used by `serve`: budgets before a question, accounting after it.

`build_observer` is the single place that decides which observer runs.
"""

from __future__ import annotations

from bot.config import Settings
from bot.pipeline import NoObserver, PipelineObserver
from bot.state import StateStore


def build_observer(settings: Settings, state: StateStore) -> PipelineObserver:
    """No budgets or accounting yet: every question is admitted, nothing is recorded."""
    del settings, state
    return NoObserver()
