"""Run each mutant of a module against the tests that pin it; print the score.

Why not mutmut or cosmic-ray: mutmut 3 mutates only inside functions (through trampolines),
so the module-level patterns and limits that matter most here (`_BROADCAST`, `SECTION_LIMIT`)
are never mutated, and neither tool mutates inside a regular expression or skips a call
(`neutralize(x)` -> `x`). This runner imports the heavy libraries once, then forks one child
per mutant: the child drops the project's modules, installs the mutated module under its real
name (so `from bot.slack.render import ...` elsewhere sees it), and runs pytest on the tests
the target names. A mutant is killed when pytest fails or the child times out.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.mutation.mutants import Mutant, mutants
from tests.mutation.targets import TARGETS, Target

REPO = Path(__file__).resolve().parents[2]
THRESHOLD = 90.0
_PROJECT = ("bot", "retrieval", "fakes", "tests")


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed | timeout | survived | equivalent
    seconds: float


def _warm(target: Target) -> None:
    """Import the tests (and so every library they use) once, in the parent."""
    os.chdir(REPO)
    importlib.import_module("tests.conftest")
    for test in target.tests:
        importlib.import_module(test.removesuffix(".py").replace("/", "."))


def _dependents(module: str) -> set[str]:
    """The target and every project module (tests included) that imports it, directly or not:
    they are imported again in the child so they bind the mutant. The rest (kernel.errors, the
    fakes, conftest, ...) stay imported, so their classes are the same objects on both sides
    and the child starts fast."""
    loaded = {
        name: Path(getattr(mod, "__file__", None) or "")
        for name, mod in sys.modules.items()
        if name.split(".")[0] in _PROJECT
    }
    found = {module}
    grew = True
    while grew:
        grew = False
        for name, path in loaded.items():
            if name in found or not path.is_file():
                continue
            text = path.read_text("utf-8")
            if any(re.search(rf"\b{re.escape(dep)}\b", text) for dep in found):
                found.add(name)
                grew = True
    return found


def _child(target: Target, tree: ast.Module | None) -> int:
    """In the forked child: install the (mutated) module, run its tests, return pytest's code."""
    tests = {t.removesuffix(".py").replace("/", ".") for t in target.tests}
    for name in _dependents(target.module) | tests:
        sys.modules.pop(name, None)
    if tree is not None:
        parent_name, _, leaf = target.module.rpartition(".")
        parent = importlib.import_module(parent_name)
        spec = importlib.util.find_spec(target.module)
        assert spec is not None and spec.origin is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[target.module] = module
        exec(compile(tree, spec.origin, "exec"), module.__dict__)
        setattr(parent, leaf, module)
    from hypothesis import settings

    settings.register_profile("mutation", derandomize=True, database=None, deadline=None)
    settings.load_profile("mutation")
    import pytest

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    return int(
        pytest.main(
            ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *target.tests],
        )
    )


def _spawn(target: Target, tree: ast.Module | None) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            code = _child(target, tree)
        finally:
            os._exit(code)
    return pid


def _wait(pid: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "survived" if os.waitstatus_to_exitcode(status) == 0 else "killed"
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.02)


def run_target(
    target: Target, *, jobs: int, verbose: bool, only: list[str] | None = None
) -> list[Outcome]:
    source_path = importlib.util.find_spec(target.module)
    assert source_path is not None and source_path.origin is not None
    all_mutants = [
        m
        for m in mutants(Path(source_path.origin).read_text("utf-8"))
        if only is None or any(text in m.key for text in only)
    ]
    _warm(target)

    started = time.monotonic()
    baseline = _wait(_spawn(target, None), 600)
    baseline_s = time.monotonic() - started
    if baseline != "survived":
        raise SystemExit(f"{target.module}: its tests fail without any mutant; fix them first")
    # Generous: a slow machine must not pass off a surviving mutant as a timeout (killed).
    timeout = max(60.0, baseline_s * 10)

    outcomes: list[Outcome] = []
    queue = list(all_mutants)
    running: dict[int, tuple[Mutant, float]] = {}
    while queue or running:
        while queue and len(running) < jobs:
            mutant = queue.pop(0)
            if mutant.key in target.equivalent:
                outcomes.append(Outcome(mutant, "equivalent", 0.0))
                continue
            running[_spawn(target, mutant.tree)] = (mutant, time.monotonic())
        for pid, (mutant, began) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            elapsed = time.monotonic() - began
            if done:
                killed = os.waitstatus_to_exitcode(status) != 0
                outcome = Outcome(mutant, "killed" if killed else "survived", elapsed)
            elif elapsed > timeout:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                outcome = Outcome(mutant, "timeout", elapsed)
            else:
                continue
            del running[pid]
            outcomes.append(outcome)
            if verbose:
                print(f"  {outcome.status:9} L{mutant.line:<4} {mutant.key}", flush=True)
        time.sleep(0.02)
    return outcomes


def report(target: Target, outcomes: list[Outcome], *, partial: bool = False) -> float:
    counts = {s: 0 for s in ("killed", "timeout", "survived", "equivalent")}
    for outcome in outcomes:
        counts[outcome.status] += 1
    judged = len(outcomes) - counts["equivalent"]
    score = 100.0 * (counts["killed"] + counts["timeout"]) / judged if judged else 100.0
    print(
        f"{target.module}: {score:.1f}% killed — {len(outcomes)} mutants, "
        f"{counts['killed']} killed, {counts['timeout']} timed out, "
        f"{counts['survived']} survived, {counts['equivalent']} equivalent"
    )
    by_key = {o.mutant.key: o for o in outcomes}
    for key, reason in target.equivalent.items():
        if key not in by_key:
            if not partial:  # with --only, the others were not generated
                print(f"  stale equivalent (no such mutant now): {key}")
        else:
            print(f"  equivalent L{by_key[key].mutant.line}: {key}\n      because {reason}")
    for outcome in sorted(outcomes, key=lambda o: o.mutant.line):
        if outcome.status == "survived":
            print(f"  SURVIVED   L{outcome.mutant.line}: {outcome.mutant.key}")
        elif outcome.status == "timeout":  # killed, but say which: a loop, or a slow machine?
            print(f"  timed out  L{outcome.mutant.line}: {outcome.mutant.key}")
    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__)
    parser.add_argument("modules", nargs="*", help="only these (e.g. bot.slack.render)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="mutants run at once")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every mutant")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument(
        "--only",
        metavar="TEXT",
        action="append",
        help="only the mutants whose key contains TEXT (e.g. Governor.acquire; repeatable), to "
        "re-check survivors after a test was strengthened; the score then covers those alone",
    )
    args = parser.parse_args(argv)
    chosen = [t for t in TARGETS if not args.modules or t.module in args.modules]
    if not chosen:
        parser.error(f"no target named {args.modules}; known: {[t.module for t in TARGETS]}")
    failed = []
    for target in chosen:
        if args.list:
            spec = importlib.util.find_spec(target.module)
            assert spec is not None and spec.origin is not None
            for mutant in mutants(Path(spec.origin).read_text("utf-8")):
                print(f"{target.module} L{mutant.line}: {mutant.key}")
            continue
        started = time.monotonic()
        outcomes = run_target(target, jobs=max(1, args.jobs), verbose=args.verbose, only=args.only)
        score = report(target, outcomes, partial=args.only is not None)
        print(f"  ({time.monotonic() - started:.0f} s)")
        if score < THRESHOLD:
            failed.append(target.module)
    if failed:
        print(f"below {THRESHOLD:.0f}%: {', '.join(failed)}")
        return 1
    return 0
