"""No test may pass because nothing happened.

Two shapes pass on an empty collection: a test whose every check sits inside a loop (or an
`if`) over something computed, and `assert all(...)` over something computed. Loops over a
literal (`for refuse in (False, True)`) are non-empty by construction and fine. Guard the
rest: `assert found and all(...)`, an `assert found` before the loop, or `max(...)`.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
GUARDS = (ast.For, ast.AsyncFor, ast.While, ast.If)


def _literal(node: ast.expr, literals: set[str]) -> bool:
    if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
        return bool(getattr(node, "elts", None) or getattr(node, "keys", None))
    if isinstance(node, ast.Call) and ast.unparse(node.func) in ("range", "enumerate", "zip"):
        return all(
            isinstance(a, ast.Constant) or _literal(a, literals) for a in node.args if a
        ) and bool(node.args)
    return isinstance(node, ast.Name) and node.id in literals


def _literal_names(test: ast.AST) -> set[str]:
    """Names assigned a non-empty literal in the test (`scoped = [...]`)."""
    names: set[str] = set()
    for node in ast.walk(test):
        if isinstance(node, ast.Assign) and _literal(node.value, set()):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _is_check(node: ast.AST) -> bool:
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return any("raises" in ast.unparse(item.context_expr) for item in node.items)
    if isinstance(node, ast.Call):
        name = ast.unparse(node.func)
        return name == "pytest.fail" or name.split(".")[-1].startswith("assert")
    return False


def _checks(test: ast.AST, literals: set[str]) -> list[tuple[ast.AST, bool]]:
    """Every check in the test, and whether it can be skipped (inside a loop over something
    computed, or inside an `if`)."""
    found: list[tuple[ast.AST, bool]] = []

    def visit(node: ast.AST, skippable: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            inside = skippable
            if isinstance(node, GUARDS) and (child in node.body or child in node.orelse):
                literal_loop = isinstance(node, (ast.For, ast.AsyncFor)) and _literal(
                    node.iter, literals
                )
                inside = skippable or not literal_loop
            if _is_check(child):
                found.append((child, inside))
            visit(child, inside)

    visit(test, False)
    return found


def _tests() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found = []
    for path in sorted(TESTS.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
                "test_"
            ):
                found.append((f"{path.relative_to(TESTS.parent)}:{node.lineno}", node))
    return found


def test_no_test_has_all_its_checks_inside_a_loop_or_if_over_something_computed() -> None:
    vacuous = []
    for where, test in _tests():
        checks = _checks(test, _literal_names(test))
        if checks and all(skippable for _, skippable in checks):
            vacuous.append(f"{where} {test.name}")

    assert vacuous == []


def test_no_bare_all_assert_over_something_computed() -> None:
    vacuous = []
    for where, test in _tests():
        literals = _literal_names(test)
        for node in ast.walk(test):
            if (
                isinstance(node, ast.Assert)
                and isinstance(node.test, ast.Call)
                and ast.unparse(node.test.func) == "all"
                and node.test.args
                and isinstance(node.test.args[0], ast.GeneratorExp | ast.ListComp)
                and not all(_literal(g.iter, literals) for g in node.test.args[0].generators)
            ):
                vacuous.append(f"{where} {test.name}: {ast.unparse(node.test)[:80]}")

    assert vacuous == []


def test_the_checker_sees_both_shapes() -> None:
    source = """
def test_loop(xs):
    for x in xs:
        assert x
def test_literal_loop():
    for x in (1, 2):
        assert x
def test_all(xs):
    assert all(x for x in xs)
def test_guarded_all(xs):
    assert xs and all(x for x in xs)
"""
    tests = {
        node.name: node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)
    }

    loop_checks = _checks(tests["test_loop"], set())
    literal_checks = _checks(tests["test_literal_loop"], set())

    assert [skippable for _, skippable in loop_checks] == [True]
    assert [skippable for _, skippable in literal_checks] == [False]
    bare = tests["test_all"].body[0]
    guarded = tests["test_guarded_all"].body[0]
    assert isinstance(bare, ast.Assert) and isinstance(bare.test, ast.Call)
    assert isinstance(guarded, ast.Assert) and isinstance(guarded.test, ast.BoolOp)
