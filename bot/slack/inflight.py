"""Answers in flight, so SIGTERM can let them finish before the process exits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

#: Events handed to the app just before shutdown start their listener a loop turn or two
#: later; give them this long to register before deciding that nothing is in flight.
SETTLE_S = 0.05


class InFlight:
    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def count(self) -> int:
        return self._count

    @contextlib.asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    async def drain(self, seconds: float) -> bool:
        """Wait until nothing is in flight; False if `seconds` passed first."""
        await asyncio.sleep(min(SETTLE_S, seconds))
        try:
            await asyncio.wait_for(self._idle.wait(), max(0.0, seconds - SETTLE_S))
        except TimeoutError:
            return False
        return True
