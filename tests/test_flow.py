"""bot/flow.py: budgets, the fair queue, adapting to throttles, busy past the max wait, and
the place-in-line notifications — against the Bedrock fake's quotas where Bedrock is involved.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from bot.flow import Budget, FlowControl, ModelGate, asker
from bot.progress import on_wait
from fakes.bedrock import FakeBedrock
from kernel.aws_errors import as_model_error
from kernel.errors import ModelBusy

NOVA_PRO = "us.amazon.nova-pro-v1:0"


@pytest.fixture
def client(bedrock: FakeBedrock) -> Iterator[Any]:
    yield boto3.client(
        "bedrock-runtime",
        endpoint_url=bedrock.url,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def converse(client: Any, text: str) -> dict[str, Any]:
    async def call() -> dict[str, Any]:
        try:
            return await asyncio.to_thread(
                client.converse,
                modelId=NOVA_PRO,
                messages=[{"role": "user", "content": [{"text": text}]}],
                inferenceConfig={"maxTokens": 50},
            )
        except Exception as exc:  # as the app sees it: a typed ModelError
            raise as_model_error(exc, model_id=NOVA_PRO) from exc

    return call  # type: ignore[return-value]


async def ask_as(user: str, gate: ModelGate, fn: Any, done: list[str], label: str) -> None:
    asker.set(user)
    await gate.call(fn, tokens=100)
    done.append(label)


async def test_one_askers_ten_questions_do_not_hold_back_anothers_one(
    bedrock: FakeBedrock, client: Any
) -> None:
    bedrock.set_quota("nova-pro", requests_per_minute=600, burst=2)
    gate = ModelGate("nova-pro", Budget(600, burst=1), max_wait_s=30)
    done: list[str] = []

    tasks = [
        asyncio.create_task(ask_as("U_A", gate, converse(client, f"a{i}"), done, f"A{i}"))
        for i in range(10)
    ]
    await asyncio.sleep(0.02)  # B asks after all of A's questions are queued
    tasks.append(asyncio.create_task(ask_as("U_B", gate, converse(client, "b"), done, "B")))
    await asyncio.gather(*tasks)

    assert done.index("B") <= 2, done  # served next in the rotation, not eleventh
    assert not [r for r in bedrock.requests if r.error], "paced within the quota"


async def test_a_budget_above_the_real_quota_adapts_and_every_call_goes_through(
    bedrock: FakeBedrock, client: Any
) -> None:
    bedrock.set_quota("nova-pro", requests_per_minute=300, burst=2)  # 5 a second
    gate = ModelGate("nova-pro", Budget(3000, burst=10), max_wait_s=30)  # thinks 50 a second
    done: list[str] = []

    await asyncio.gather(
        *(ask_as("U_A", gate, converse(client, f"q{i}"), done, str(i)) for i in range(12))
    )

    throttled = [r for r in bedrock.requests if r.error == "ThrottlingException"]
    assert len(done) == 12
    assert throttled and gate.throttles == len(throttled)
    assert gate.rate < 50, "the budget was cut"
    assert len(throttled) <= 16, "retried into the throttle instead of pacing"


def test_a_throttle_halves_the_rate_once_per_burst_and_successes_grow_it_back() -> None:
    now = [1.0]
    gate = ModelGate("nova-pro", Budget(600), max_wait_s=30, clock=lambda: now[0])

    gate._cut(granted_at=0.0)
    gate._cut(granted_at=0.0)  # admitted before the cut: an echo, no second halving
    after_cut = gate.rate
    now[0] += 3
    gate._cut(granted_at=2.0)  # admitted after it: the new rate is still too high
    after_second = gate.rate
    for _ in range(5):
        gate._grow()

    assert after_cut == 5.0 and after_second == 2.5
    assert gate.rate == pytest.approx(2.5 + 5 * 0.1)
    for _ in range(100):
        gate._grow()
    assert gate.rate == 10.0, "never above the configured budget"


async def test_the_token_budget_holds_back_a_call_until_tokens_are_free() -> None:
    gate = ModelGate("nova-pro", Budget(6000, tokens_per_minute=6000), max_wait_s=5)

    first = await gate.acquire(5000)
    started = time.monotonic()
    second = await gate.acquire(1100)  # 1,000 left: waits for 100 more at 100 a second
    waited = time.monotonic() - started
    first.succeeded(5000)
    second.succeeded(10)

    assert 0.9 <= waited < 1.6


async def test_a_question_waiting_past_the_max_wait_gets_model_busy_with_an_estimate() -> None:
    gate = ModelGate("nova-pro", Budget(6, burst=1), max_wait_s=0.5)  # one call every 10 s
    await gate.acquire(10)
    started = time.monotonic()

    with pytest.raises(ModelBusy) as busy:
        await gate.acquire(10)

    assert 0.5 <= time.monotonic() - started < 1.5
    assert busy.value.retry_after_s >= 60
    assert gate.waiting == 0, "the busy question left the line"


async def test_a_waiting_question_hears_its_place_after_the_first_wait_then_periodically() -> None:
    gate = ModelGate(
        "nova-pro",
        Budget(6, burst=1),
        max_wait_s=1.25,
        notify_after_s=0.3,
        notify_every_s=0.4,
    )
    heard: list[tuple[float, int, float]] = []
    started = time.monotonic()

    async def listener(position: int, eta_s: float) -> None:
        heard.append((time.monotonic() - started, position, eta_s))

    await gate.acquire(10)  # the budget's one request: everyone else waits

    async def waiting(user: str) -> None:
        asker.set(user)
        on_wait.set(listener if user == "U_B" else None)
        with pytest.raises(ModelBusy):
            async with gate.turn() as turn:
                await gate.acquire(10, turn=turn)

    await asyncio.gather(waiting("U_A"), waiting("U_B"))

    times = [t for t, _, _ in heard]
    assert [p for _, p, _ in heard] == [2, 2, 2]  # behind U_A, who asked first
    assert 0.3 <= times[0] < 0.45
    assert len(times) >= 2 and all(0.38 <= b - a < 0.6 for a, b in itertools.pairwise(times))
    assert heard and all(eta > 0 for _, _, eta in heard)


async def test_a_new_asker_joins_the_rotation_ahead_of_anothers_second_question() -> None:
    gate = ModelGate("nova-pro", Budget(60, burst=1), max_wait_s=5)
    await gate.acquire(1)
    asker.set("U_A")
    a1 = asyncio.create_task(gate.acquire(1))
    a2 = asyncio.create_task(gate.acquire(1))
    await asyncio.sleep(0)
    asker.set("U_B")
    b1 = asyncio.create_task(gate.acquire(1))
    await asyncio.sleep(0.01)

    waiters = [w for line in gate._queues.values() for w in line]
    positions = {w.user + str(i): gate.position(w) for i, w in enumerate(waiters)}

    assert positions == {"U_A0": 1, "U_A1": 3, "U_B2": 2}
    for task in (a1, a2, b1):
        task.cancel()
    await asyncio.gather(a1, a2, b1, return_exceptions=True)
    assert gate.waiting == 0


def test_flow_control_finds_the_gate_by_model_id_substring() -> None:
    flow = FlowControl({"nova-pro": Budget(60), "nova-micro": Budget(120)}, max_wait_s=10)

    assert flow.gate("apac.amazon.nova-pro-v1:0") is not None
    assert flow.gate("us.amazon.nova-micro-v1:0").budget.requests_per_minute == 120  # type: ignore[union-attr]
    assert flow.gate("amazon.titan-embed-text-v2:0") is None


async def test_through_the_pipeline_a_question_behind_an_exhausted_quota_hears_its_place_then_busy(
    settings: Any, bedrock: FakeBedrock
) -> None:
    from bot.messages import message
    from bot.wiring import build
    from kernel.models import Question

    bedrock.set_quota("nova-pro", requests_per_minute=60, burst=5)
    bedrock.exhaust_quota("nova-pro", 3600)
    settings = settings.model_copy(
        update={"queue_max_wait_seconds": 7.0, "bedrock_pro_requests_per_minute": 60}
    )
    heard: list[tuple[float, int, float]] = []

    async def listener(position: int, eta_s: float) -> None:
        heard.append((time.monotonic(), position, eta_s))

    on_wait.set(listener)
    stream = await build(settings).pipeline.answer(
        Question(text="How many days of paid annual leave do employees get?", user_id="U_A")
    )
    text = "".join([piece async for piece in stream])

    assert text == message("busy_retry", "en", minutes=1)
    assert stream.result().status == "failed"
    first_call = bedrock.calls(model="nova-pro")[0].started_at
    waited = [t - first_call for t, _, _ in heard]
    # Told at 5 s although a throttled attempt was in flight then; busy at 7 s, before 15.
    assert len(heard) == 1 and 4.8 <= waited[0] < 6, waited
    assert heard[0][1] == 1 and heard[0][2] > 0
    throttled = [r for r in bedrock.calls(model="nova-pro") if r.error == "ThrottlingException"]
    assert 1 <= len(throttled) <= 3 * 4, "paced, not retried into the wall"
