"""Issue 13's rules for the product code, kept: no function or constructor takes more than
seven parameters (a longer list wants a value object), and `Pipeline.answer` reads in one
screen. The layers and the absence of import cycles are import-linter's (`make lint`)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "retrieval", "kernel")
MAX_PARAMETERS = 7
MAX_ANSWER_LINES = 50


def _functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text("utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found.append((str(path.relative_to(ROOT)), node))
    return found


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    return [name for name in names if name not in ("self", "cls")]


def test_no_function_takes_more_than_seven_parameters() -> None:
    functions = _functions()
    assert len(functions) > 500, "the walk found too little code to judge"
    too_long = [
        f"{path}:{node.lineno} {node.name}({', '.join(_parameters(node))})"
        for path, node in functions
        if len(_parameters(node)) > MAX_PARAMETERS
    ]
    assert too_long == []


def test_the_rule_sees_a_long_signature() -> None:
    (node,) = ast.parse("def f(self, a, b, c, *, d, e, f, g, h): ...").body
    assert isinstance(node, ast.FunctionDef)
    assert len(_parameters(node)) == 8


def test_pipeline_answer_fits_in_one_screen() -> None:
    (answer,) = [
        node for path, node in _functions() if path == "bot/pipeline.py" and node.name == "answer"
    ]
    assert answer.end_lineno is not None
    assert answer.end_lineno - answer.lineno + 1 <= MAX_ANSWER_LINES
