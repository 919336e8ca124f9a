"""Mutants of one module: small, single changes to its syntax tree, each with a stable key.

The operators are the changes that matter for this project's safety code: comparisons and
boolean logic (`is_dm and ...`), numbers (limits), strings and regular expressions (an
alternative of a pattern, an anchor, a flag), calls that can be skipped (`neutralize(x)` ->
`x`, one `.replace` of a chain), slices (`[:MAX_SOURCES]`), comprehension filters, and whole
statements (a hold that is never set).
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

Edit = Callable[[ast.AST], ast.AST | None]  # returns the replacement node (None: unchanged)

_COMPARE_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BINOP_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Add,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
}
# Deleting a definition at module level only makes a NameError; inside a function it is a
# real question (a hold never set, an escape never applied).
_STATEMENTS = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.If, ast.For)
_STRING_METHODS = {"replace", "strip", "lstrip", "rstrip", "lower", "upper", "casefold"}
_REGEX_FUNCTIONS = {"compile", "match", "search", "sub", "fullmatch", "findall", "split"}


@dataclass(frozen=True)
class Mutant:
    key: str  # "<scope>: <what changed>", stable across unrelated edits (no line numbers)
    line: int
    tree: ast.Module


@dataclass(frozen=True)
class _Point:
    index: int  # position of the node in ast.walk order
    scope: str
    line: int
    description: str
    edit: Edit


def mutants(source: str) -> list[Mutant]:
    tree = ast.parse(source)
    nodes = list(ast.walk(tree))
    skipped = _skipped(tree)
    scopes = _scopes(tree)
    regexes = _regex_strings(tree)
    points: list[_Point] = []
    for index, node in enumerate(nodes):
        if id(node) in skipped:
            continue
        scope = scopes.get(id(node), "<module>")
        edits = _edits(node, regex=id(node) in regexes, module_level=scope == "<module>")
        for description, edit in edits:
            line = getattr(node, "lineno", 0)
            points.append(_Point(index, scope, line, description, edit))
    result: list[Mutant] = []
    seen: dict[str, int] = {}
    for point in points:
        key = f"{point.scope}: {point.description}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key = f"{key} #{seen[key]}"
        mutated = copy.deepcopy(tree)
        target = list(ast.walk(mutated))[point.index]
        replacement = point.edit(target)
        if replacement is None:
            continue
        if replacement is not target:
            _replace(mutated, target, replacement)
        ast.fix_missing_locations(mutated)
        result.append(Mutant(key, point.line, mutated))
    return result


def _edits(node: ast.AST, *, regex: bool, module_level: bool) -> Iterator[tuple[str, Edit]]:
    text = _short(node)
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            swap = _COMPARE_SWAP.get(type(op))
            if swap is not None:
                yield f"`{text}`: {_op(op)} -> {_op(swap())}", _set_op(i, swap)
    elif isinstance(node, ast.BoolOp):
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        yield f"`{text}`: {_op(node.op)} -> {_op(other())}", _swap_boolop(other)
        for i in range(len(node.values)):
            yield f"`{text}`: drop operand {i + 1}", _drop_operand(i)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield f"`{text}`: drop `not`", lambda n: n.operand  # type: ignore[attr-defined]
    elif isinstance(node, (ast.If, ast.While, ast.IfExp)):
        for value in (True, False):
            yield f"`{_short(node.test)}` -> {value}", _set_test(value)
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        for delta in (1, -1):
            yield f"{node.value!r} -> {node.value + delta!r}", _add(delta)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        if node.value:
            yield f"{_clip(node.value)!r} -> ''", _set_string("")
        else:
            yield "'' -> 'X'", _set_string("X")
        if regex:
            for description, pattern in _regex_mutants(node.value):
                yield f"regex {_clip(node.value)!r}: {description}", _set_string(pattern)
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield f"{node.value} -> {not node.value}", _set_string(not node.value)  # type: ignore[arg-type]
    elif isinstance(node, ast.Call):
        yield from _call_edits(node, text)
    elif isinstance(node, ast.BinOp):
        swap_op = _BINOP_SWAP.get(type(node.op))
        if swap_op is not None:
            yield f"`{text}`: {_op(node.op)} -> {_op(swap_op())}", _swap_binop(swap_op)
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        yield f"`{text}`: no slice", lambda n: n.value  # type: ignore[attr-defined]
    elif isinstance(node, ast.comprehension):
        for i, condition in enumerate(node.ifs):
            yield f"drop filter `{_short(condition)}`", _drop_filter(i)
    if isinstance(node, _STATEMENTS) and not module_level:
        yield f"delete `{text}`", lambda _n: ast.Pass()
    if isinstance(node, ast.Return) and not (
        node.value is None or (isinstance(node.value, ast.Constant) and node.value.value is None)
    ):
        yield f"`{text}` -> return None", lambda n: ast.Return(value=ast.Constant(None))


def _call_edits(node: ast.Call, text: str) -> Iterator[tuple[str, Edit]]:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if len(node.args) == 1 and not node.keywords and not isinstance(func, ast.Attribute):
        yield f"`{text}` -> its argument", lambda n: n.args[0]  # type: ignore[attr-defined]
    if isinstance(func, ast.Attribute) and name in _STRING_METHODS:
        yield f"`{text}`: skip .{name}()", lambda n: n.func.value  # type: ignore[attr-defined]
    if name in ("min", "max") and isinstance(func, ast.Name):
        other = "max" if name == "min" else "min"
        yield f"`{text}`: {name} -> {other}", _rename_call(other)
    if len(node.args) >= 2:
        yield f"`{text}`: drop last argument", _drop_last_arg
    for i, keyword in enumerate(node.keywords):
        if keyword.arg is not None:
            yield f"`{text}`: drop {keyword.arg}=", _drop_keyword(i)


def _regex_mutants(pattern: str) -> Iterator[tuple[str, str]]:
    """An alternative dropped, an anchor or word boundary dropped, a bound moved by one."""
    for group in re.finditer(r"\(([^()]*\|[^()]*)\)", pattern):
        alternatives = group.group(1).split("|")
        for i, alternative in enumerate(alternatives):
            kept = "|".join(a for j, a in enumerate(alternatives) if j != i)
            yield (
                f"drop alternative {alternative!r}",
                pattern[: group.start(1)] + kept + pattern[group.end(1) :],
            )
    for anchor in (r"\b", "$", r"\Z", "^"):
        start = pattern.find(anchor)
        while start != -1:
            yield f"drop {anchor!r}", pattern[:start] + pattern[start + len(anchor) :]
            start = pattern.find(anchor, start + 1)
    for bound in re.finditer(r"\{(\d+),(\d+)\}", pattern):
        low, high = int(bound.group(1)), int(bound.group(2))
        for new in ({low + 1, high}, {low, high - 1}):
            if len(new) == 2:
                a, b = sorted(new)
                yield (
                    f"{bound.group(0)} -> {{{a},{b}}}",
                    pattern[: bound.start()] + f"{{{a},{b}}}" + pattern[bound.end() :],
                )


# --- where not to mutate --------------------------------------------------------------------


def _skipped(tree: ast.Module) -> set[int]:
    """Docstrings, imports, annotations, dict keys: changing them tests nothing."""
    skip: set[int] = set()

    def all_of(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            all_of(body[0])
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            all_of(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            all_of(node.returns)
            for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
                all_of(arg.annotation)
        if isinstance(node, ast.AnnAssign):
            all_of(node.annotation)
        if isinstance(node, ast.Dict):
            for key in node.keys:
                all_of(key)
    return skip


def _scopes(tree: ast.Module) -> dict[int, str]:
    scopes: dict[int, str] = {}

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = scope
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = child.name if scope == "<module>" else f"{scope}.{child.name}"
            scopes[id(child)] = inner
            visit(child, inner)

    visit(tree, "<module>")
    return scopes


def _regex_strings(tree: ast.Module) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "re"
            and node.func.attr in _REGEX_FUNCTIONS
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(id(node.args[0]))
    return found


# --- edits ------------------------------------------------------------------------------------


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list) and any(item is old for item in value):
                value[[id(item) for item in value].index(id(old))] = new
                return
    raise LookupError("mutated node not found in its tree")


def _set_op(i: int, op: type[ast.cmpop]) -> Edit:
    def edit(node: ast.AST) -> ast.AST:
        node.ops[i] = op()  # type: ignore[attr-defined]
        return node

    return edit


def _swap_boolop(op: type[ast.boolop]) -> Edit:
    def edit(node: ast.AST) -> ast.AST:
        node.op = op()  # type: ignore[attr-defined]
        return node

    return edit


def _drop_operand(i: int) -> Edit:
    def edit(node: ast.AST) -> ast.AST:
        values = [v for j, v in enumerate(node.values) if j != i]  # type: ignore[attr-defined]
        if len(values) == 1:
            return values[0]
        node.values = values  # type: ignore[attr-defined]
        return node

    return edit


def _set_test(value: bool) -> Edit:
    def edit(node: ast.AST) -> ast.AST:
        node.test = ast.Constant(value)  # type: ignore[attr-defined]
        return node

    return edit


def _add(delta: int) -> Edit:
    def edit(node: ast.AST) -> ast.AST:
        node.value += delta  # type: ignore[attr-defined]
        return node

    return edit


def _set_string(value: str) -> Edit:
    def edit(node: ast.AST) -> ast.AST:
        node.value = value  # type: ignore[attr-defined]
        return node

    return edit


def _swap_binop(op: type[ast.operator]) -> Edit:
    def edit(node: ast.AST) -> ast.AST:
        node.op = op()  # type: ignore[attr-defined]
        return node

    return edit


def _rename_call(name: str) -> Edit:
    def edit(node: ast.AST) -> ast.AST:
        node.func = ast.Name(id=name, ctx=ast.Load())  # type: ignore[attr-defined]
        return node

    return edit


def _drop_last_arg(node: ast.AST) -> ast.AST:
    node.args = node.args[:-1]  # type: ignore[attr-defined]
    return node


def _drop_keyword(i: int) -> Edit:
    def edit(node: ast.AST) -> ast.AST:
        del node.keywords[i]  # type: ignore[attr-defined]
        return node

    return edit


def _drop_filter(i: int) -> Edit:
    def edit(node: ast.AST) -> ast.AST:
        del node.ifs[i]  # type: ignore[attr-defined]
        return node

    return edit


def _op(op: ast.AST) -> str:
    symbols = {
        ast.Lt: "<",
        ast.LtE: "<=",
        ast.Gt: ">",
        ast.GtE: ">=",
        ast.Eq: "==",
        ast.NotEq: "!=",
        ast.In: "in",
        ast.NotIn: "not in",
        ast.Is: "is",
        ast.IsNot: "is not",
        ast.And: "and",
        ast.Or: "or",
        ast.Add: "+",
        ast.Sub: "-",
        ast.Mult: "*",
        ast.FloorDiv: "//",
        ast.Div: "/",
    }
    return symbols.get(type(op), type(op).__name__)


def _short(node: ast.AST) -> str:
    if not isinstance(node, (ast.expr, ast.stmt)) or isinstance(node, ast.Module):
        return ""
    return _clip((ast.unparse(node).splitlines() or [""])[0])


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
