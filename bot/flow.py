"""Flow control in front of Bedrock: per-model budgets and a fair queue across askers.

Bedrock's on-demand quotas are per account, region and model, in requests and tokens a
minute; past them every call answers ThrottlingException. Rather than let a burst of
questions run into that wall (and retry into it), each model gets a gate here:

- a budget of requests a minute (a token bucket holding ten seconds' worth) and of tokens a
  minute (reserved at the start as input + maxTokens, settled to the real count after, as
  Bedrock itself counts them);
- the budget adapts: a throttle halves the request rate and empties the bucket (another
  client of the account, or a lower quota than configured); each success grows it back by
  a hundredth of the configured rate (at least one request a minute), never past it;
- waiting questions are served round robin across askers, so one person's ten questions
  take turns with everyone else's one;
- a question that has waited more than 5 s is told its place in line (`bot.progress`), then
  at most every 10 s; past `QUEUE_MAX_WAIT_SECONDS` it gets `ModelBusy` with an estimate.

The budgets are per process: with several tasks, give each its share of the quota.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from bot.progress import notify_waiting
from kernel.errors import ModelBusy, ModelThrottled

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Who is asking (Slack user id, or "" for the CLI): the unit of round-robin fairness. Set
#: by the pipeline for the question it is answering; model calls made in that context queue
#: under that name.
asker: ContextVar[str] = ContextVar("dualnova_asker", default="")

NOTIFY_AFTER_S = 5.0
NOTIFY_EVERY_S = 10.0
#: The request bucket holds this many seconds of the rate: short bursts pass at once.
BURST_SECONDS = 10.0
#: Success grows the rate by this share of the configured rate (at least one request a
#: minute): after a halving, about fifty calls bring it back. A throttle halves it.
GROWTH_SHARE = 0.01
FLOOR_SHARE = 0.05


@dataclass(frozen=True)
class Budget:
    """A model's configured budget: requests and tokens a minute (None: tokens unlimited)."""

    requests_per_minute: float
    tokens_per_minute: float | None = None
    #: Requests that may go at once; None: ten seconds' worth of the rate.
    burst: int | None = None


@dataclass(eq=False)
class _Waiter:
    user: str
    tokens: int
    since: float
    granted: bool = False


@dataclass
class Ticket:
    """One admitted call: what it reserved, to settle when the call ends."""

    gate: ModelGate
    reserved: int
    since: float
    granted_at: float = 0.0
    settled: bool = field(default=False)

    def succeeded(self, used_tokens: int | None = None) -> None:
        """The call went through: settle the reservation to what it used, grow the rate."""
        self.gate._settle(self, used_tokens)
        self.gate._grow()

    def throttled(self) -> None:
        """Bedrock refused the call: nothing was used; cut the rate and pause."""
        self.gate._settle(self, 0)
        self.gate._cut(self.granted_at)


class ModelGate:
    """The budget and fair queue of one model (see the module doc)."""

    def __init__(
        self,
        name: str,
        budget: Budget,
        *,
        max_wait_s: float,
        clock: Callable[[], float] = time.monotonic,
        notify_after_s: float = NOTIFY_AFTER_S,
        notify_every_s: float = NOTIFY_EVERY_S,
    ) -> None:
        self.name = name
        self.budget = budget
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._notify_after_s = notify_after_s
        self._notify_every_s = notify_every_s
        self._limit = budget.requests_per_minute / 60
        self.rate = self._limit  # requests a second, adapted
        self._capacity = float(budget.burst or max(1, math.floor(self._limit * BURST_SECONDS)))
        now = clock()
        self._requests = self._capacity
        self._tokens = float(budget.tokens_per_minute or 0)
        self._at = now
        self._last_cut = float("-inf")
        self._queues: dict[str, deque[_Waiter]] = {}  # insertion order = round-robin order
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.throttles = 0

    # budget ------------------------------------------------------------------------------

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._at)
        self._at = now
        self._requests = min(self._capacity, self._requests + elapsed * self.rate)
        if self.budget.tokens_per_minute is not None:
            tpm = self.budget.tokens_per_minute
            self._tokens = min(tpm, self._tokens + elapsed * tpm / 60)

    def _delay(self, tokens: int) -> float:
        """Seconds until the budget admits one request of `tokens` (0: now)."""
        self._refill()
        delay = max(0.0, (1 - self._requests) / self.rate)
        tpm = self.budget.tokens_per_minute
        if tpm is not None:
            need = min(tokens, tpm)  # a call larger than the budget waits for a full bucket
            delay = max(delay, (need - self._tokens) / (tpm / 60))
        return delay

    def _settle(self, ticket: Ticket, used: int | None) -> None:
        if ticket.settled:
            return
        ticket.settled = True
        if self.budget.tokens_per_minute is not None and used is not None:
            self._refill()
            self._tokens = min(self.budget.tokens_per_minute, self._tokens + ticket.reserved - used)
        self._wake()

    def _grow(self) -> None:
        step = max(1 / 60, self._limit * GROWTH_SHARE)
        self.rate = min(self._limit, self.rate + step)

    def _cut(self, granted_at: float | None = None) -> None:
        self.throttles += 1
        self._refill()
        now = self._clock()
        # Calls admitted before the last cut come back throttled together: they are echoes
        # of the burst already paid for, or ten in-flight calls would take the rate to the floor.
        if granted_at is None or granted_at >= self._last_cut:
            self._last_cut = now
            self.rate = max(self._limit * FLOOR_SHARE, self.rate / 2)
            log.warning(
                "bedrock throttled; budget cut",
                extra={"model": self.name, "requests_per_minute": round(self.rate * 60, 1)},
            )
        self._requests = min(self._requests, 0.0)  # pause for one interval at the rate
        self._wake()

    # queue -------------------------------------------------------------------------------

    def _event(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._changed is None:
            # A new event loop (a new CLI run, a new test): waiters of the old one are gone.
            self._loop, self._changed, self._queues = loop, asyncio.Event(), {}
        return self._changed

    def _wake(self) -> None:
        if self._changed is not None and self._loop is not None and not self._loop.is_closed():
            self._changed.set()

    def _next(self) -> _Waiter | None:
        for waiters in self._queues.values():
            return waiters[0]
        return None

    def position(self, waiter: _Waiter) -> int:
        """1-based place in the round-robin order in which waiters will be served."""
        users = list(self._queues)
        mine = self._queues.get(waiter.user)
        if mine is None or waiter not in mine:
            return 0
        k = mine.index(waiter)
        rank = users.index(waiter.user)
        ahead = 0
        for i, user in enumerate(users):
            ahead += min(len(self._queues[user]), k + (1 if i < rank else 0))
        return ahead + 1

    def eta_s(self, position: int) -> float:
        """Estimated wait, at the current rate, for the waiter at `position`."""
        self._refill()
        return max(0.0, (position - self._requests) / self.rate)

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def turn(self) -> Turn:
        """A new model call of the current question (see `Turn`)."""
        return Turn(self)

    async def acquire(self, tokens: int, *, turn: Turn | None = None) -> Ticket:
        """Wait for this asker's turn and the budget; reserve `tokens`.

        With `turn`, a retry after a throttle keeps the turn's deadline and goes to the front
        of the asker's own line; the turn tells the asker their place while this waits.
        """
        changed = self._event()
        turn = turn or Turn(self)
        waiter = _Waiter(asker.get(), tokens, turn.since)
        line = self._queues.setdefault(waiter.user, deque())
        if turn.previous is not None:
            line.appendleft(waiter)
        else:
            line.append(waiter)
        turn.waiter = waiter
        try:
            while True:
                now = self._clock()
                deadline = waiter.since + self.max_wait_s
                if now >= deadline:
                    position = self.position(waiter)
                    retry_after = max(60.0, self.eta_s(position))
                    log.warning(
                        "question waited too long for the model",
                        extra={"model": self.name, "position": position, "waiting": self.waiting},
                    )
                    raise ModelBusy(
                        f"{self.name}: waited {now - waiter.since:.0f} s in line at position "
                        f"{position}",
                        retry_after_s=retry_after,
                    )
                timeout = deadline - now
                if self._next() is waiter:
                    delay = self._delay(tokens)
                    if delay <= 0:
                        self._take(waiter)
                        turn.previous = Ticket(self, tokens, waiter.since, granted_at=now)
                        return turn.previous
                    timeout = min(timeout, delay)
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=max(0.001, timeout))
        finally:
            if not waiter.granted:
                self._remove(waiter)

    def _take(self, waiter: _Waiter) -> None:
        self._requests -= 1
        if self.budget.tokens_per_minute is not None:
            self._tokens -= waiter.tokens
        waiter.granted = True
        self._remove(waiter)
        # Round robin: this asker goes to the back of the rotation.
        line = self._queues.pop(waiter.user, None)
        if line:
            self._queues[waiter.user] = line

    def _remove(self, waiter: _Waiter) -> None:
        line = self._queues.get(waiter.user)
        if line is not None and waiter in line:
            line.remove(waiter)
            if not line:
                del self._queues[waiter.user]
        self._wake()

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        tokens: int,
        used: Callable[[T], int | None] | None = None,
    ) -> T:
        """Run one non-streaming call in turn; a throttle re-queues it (same place, same
        deadline) instead of failing, until the wait passes QUEUE_MAX_WAIT_SECONDS.
        `used` reads the tokens the call counted from its result, to settle the budget."""
        async with self.turn() as turn:
            while True:
                ticket = await self.acquire(tokens, turn=turn)
                try:
                    result = await fn()
                except ModelThrottled:
                    ticket.throttled()
                    continue
                except BaseException:
                    ticket.succeeded(None)  # not a quota problem: keep the reservation
                    raise
                ticket.succeeded(used(result) if used is not None else None)
                return result


class Turn:
    """One model call of one question, across its throttled retries: one deadline (from the
    first wait), and one schedule of place-in-line notices — after `NOTIFY_AFTER_S`, then
    every `NOTIFY_EVERY_S` — that keeps running while a throttled attempt is in flight
    (botocore's own retries included), until the answer starts (`started()`) or the turn ends.
    """

    def __init__(self, gate: ModelGate) -> None:
        self.gate = gate
        self.since = gate._clock()
        self.waiter: _Waiter | None = None
        self.previous: Ticket | None = None
        self._notifier: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Turn:
        # The task copies this context: the asker's `progress.on_wait` listener included.
        self._notifier = asyncio.create_task(self._notify())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.started()

    def started(self) -> None:
        """The model is answering: no more place-in-line notices."""
        if self._notifier is not None:
            self._notifier.cancel()
            self._notifier = None

    async def _notify(self) -> None:
        gate = self.gate
        await asyncio.sleep(max(0.0, self.since + gate._notify_after_s - gate._clock()))
        while True:
            waiter = self.waiter
            queued = waiter is not None and not waiter.granted
            # In flight (a throttled attempt being retried): next in line.
            position = max(1, gate.position(waiter)) if queued and waiter else 1
            await notify_waiting(position, gate.eta_s(position))
            await asyncio.sleep(gate._notify_every_s)


class FlowControl:
    """The gates of the models that have a budget, looked up by model id."""

    def __init__(
        self,
        budgets: Mapping[str, Budget],
        *,
        max_wait_s: float,
        clock: Callable[[], float] = time.monotonic,
        notify_after_s: float = NOTIFY_AFTER_S,
        notify_every_s: float = NOTIFY_EVERY_S,
    ) -> None:
        self._gates = {
            key: ModelGate(
                key,
                budget,
                max_wait_s=max_wait_s,
                clock=clock,
                notify_after_s=notify_after_s,
                notify_every_s=notify_every_s,
            )
            for key, budget in budgets.items()
        }

    def gate(self, model_id: str) -> ModelGate | None:
        """The gate whose key the model id contains ("nova-pro" for "us.amazon.nova-pro-v1:0")."""
        matches = [key for key in self._gates if key in model_id]
        return self._gates[max(matches, key=len)] if matches else None
