"""The quality gate in `make test`: the offline eval (BM25 + glossary, no models) over the
sample golden set must keep hit@5, MRR and abstention above floors set a little under the
values measured when they were last raised. A failure prints the items that passed in the
recorded baseline and fail now.

After an intended improvement, raise the floors and refresh the baseline:
    UPDATE_EVAL_BASELINE=1 .venv/bin/pytest tests/test_eval_gate.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.eval_run import EvalRun, evaluate
from bot.eval_set import load_golden_set
from fakes.harness import REPO

GOLDEN = REPO / "examples" / "eval" / "handbook.jsonl"
BASELINE = REPO / "examples" / "eval" / "handbook.offline-baseline.json"

#: Measured 2026-12-01 after the tuning (README "Measuring quality"): hit@5 73.3%, MRR 0.671,
#: abstention correct 84.3%.
FLOORS = {"hit_at_k": 0.70, "mrr": 0.63, "abstention": 0.80}


def passing(run: EvalRun) -> dict[str, list[str]]:
    """Ids that pass the gated checks: the expected source retrieved, abstention right."""
    return {
        "retrieval": [r.item.id for r in run.results if r.item.answerable and r.hit],
        "abstention": [r.item.id for r in run.results if r.abstention_ok],
    }


async def test_offline_eval_of_the_sample_golden_set_stays_above_its_floors(
    aws_env: Path, sample_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INDEX_URI", str(sample_index))
    monkeypatch.setenv("GLOSSARY_URI", str(REPO / "examples" / "glossary.json"))
    golden = load_golden_set(GOLDEN)
    assert golden.errors == ()

    run = await evaluate(load_settings(), golden, offline=True)

    now = passing(run)
    if os.environ.get("UPDATE_EVAL_BASELINE"):
        BASELINE.write_text(json.dumps(now, indent=1, ensure_ascii=False) + "\n", "utf-8")
    baseline = json.loads(BASELINE.read_text("utf-8"))
    broken = {check: [i for i in ids if i not in now[check]] for check, ids in baseline.items()}
    summary = run.summary
    low = {name: summary[name] for name, floor in FLOORS.items() if summary[name] < floor}
    if low:
        by_id = {r.item.id: r for r in run.results}
        lines = [f"{name} {value:.3f} < floor {FLOORS[name]}" for name, value in low.items()]
        for check, ids in broken.items():
            lines += [f"broke ({check}): {i}: {'; '.join(by_id[i].failures)}" for i in ids]
        pytest.fail("offline eval below its floors:\n" + "\n".join(lines))
    assert run.seconds < 30  # the gate must stay cheap enough for every `make test`
