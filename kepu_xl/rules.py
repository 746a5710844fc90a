"""Audit rule expressions: text → `Expr` → a value (Python) or a formula (Excel).

A rule's `when` is a small expression over field ids that is true when something looks wrong,
e.g. ``activities > 0 and staff_total == 0``. It is parsed with `ast` and only a whitelist of
node types is accepted (never `eval`). The same tree is evaluated by collect and rendered as an
Excel formula for the form's live self-check cells, so a unit sees the warning while filling.

Grammar: numbers, field ids, ``detail_rows`` (filled rows of the detail table),
``detail_sum(column_id)``, ``+ - * /``, comparisons (chains allowed), ``and or not``,
``abs() min() max() sum()``. A blank or text input counts as 0, as in the form (`excel_value`).

``prev(field_id)`` (audit rules only, `parse(..., previous=True)`) is last year's value of the field for
the same unit ([compare] in kepuxl.toml). It has no cell in the form: such a rule is checked by collect
only, and not at all for a unit without last year's value of every field it reads through prev() — an
expression that reads a blank prev() is false, whatever its shape (`Expr.evaluate`).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

FUNCTIONS = {"abs": abs, "min": min, "max": max, "sum": lambda *xs: sum(xs)}
DETAIL_ROWS = "detail_rows"
DETAIL_SUM = "detail_sum"

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "=", ast.NotEq: "<>"}
_PYCMP: dict[type, Callable[[float, float], bool]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: abs(a - b) < 1e-9,
    ast.NotEq: lambda a, b: abs(a - b) >= 1e-9,
}


class RuleError(ValueError):
    """The expression is not in the rule language; the message is Chinese, for the user."""


@dataclass(frozen=True, slots=True)
class Expr:
    """A checked expression: its source text, its tree and the names it reads, in order.

    `previous`: the fields it reads through prev() (last year's values), not among `names`.
    Two expressions are equal when their texts are (ast nodes compare by identity; the tree is the text's).
    """

    text: str
    tree: ast.expr = field(compare=False)
    names: tuple[str, ...]
    detail_columns: tuple[str, ...]
    previous: tuple[str, ...] = ()

    def evaluate(
        self,
        values: Mapping[str, float | None],
        detail: DetailStats | None = None,
        previous: Mapping[str, float | None] | None = None,
    ) -> float | bool:
        """Evaluate on numeric values (None = blank = 0). Division by zero gives 0, never raises.

        An expression that reads prev() is False when any value it reads that way is blank (no last
        year's value): a rule over last year says nothing about a unit that has none.
        """
        if self.previous and (previous is None or any(previous.get(n) is None for n in self.previous)):
            return False
        return _eval(self.tree, values, detail or DetailStats(), previous or {})

    def to_excel(
        self, ref: Callable[[str], str], detail_ref: Callable[[str | None], str] | None = None
    ) -> str:
        """The expression as an Excel formula body (no leading '='), `ref(name)` giving a cell."""
        return _excel(self.tree, ref, detail_ref)


@dataclass(frozen=True, slots=True)
class DetailStats:
    """What rules may read from the detail table: the filled row count and per-column sums."""

    rows: int = 0
    sums: Mapping[str, float] = None  # type: ignore[assignment]

    def sum(self, column: str) -> float:
        return (self.sums or {}).get(column, 0.0)


def parse(
    text: str, names: set[str], detail_columns: set[str] = frozenset(), *, previous: bool = False
) -> Expr:
    """Parse and check `text`; raise `RuleError` naming the first problem. `previous`: prev() allowed."""
    source = text.strip()
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        # Python reports offset 0 for "unexpected end of input": the problem is at the end
        offset = exc.offset if exc.offset and exc.lineno == 1 else len(source) + 1
        raise RuleError(f"语法错误（第 {offset} 个字符附近）") from None
    found: list[str] = []
    columns: list[str] = []
    prev: list[str] | None = [] if previous else None
    _check(tree, names, detail_columns, found, columns, prev)
    return Expr(
        text=source,
        tree=tree,
        names=tuple(dict.fromkeys(found)),
        detail_columns=tuple(columns),
        previous=tuple(dict.fromkeys(prev or ())),
    )


def _check(
    node: ast.AST,
    names: set[str],
    columns: set[str],
    found: list[str],
    used: list[str],
    prev: list[str] | None = None,
) -> None:
    """Raise RuleError unless `node` is in the language; collect the fields, detail columns and prev()
    fields it reads (`prev` is None where prev() is not allowed: formulas of computed fields)."""

    def sub(n: ast.AST) -> None:
        _check(n, names, columns, found, used, prev)

    match node:
        case ast.Constant(value=v) if isinstance(v, int | float) and not isinstance(v, bool):
            return
        case ast.Name(id="detail_rows"):
            return
        case ast.Name(id=name):
            if name not in names:
                raise RuleError(f"未知的指标编号“{name}”")
            found.append(name)
        case ast.Call(func=ast.Name(id="detail_sum"), args=[ast.Name(id=col)], keywords=[]):
            if col not in columns:
                raise RuleError(f"明细表没有列“{col}”")
            used.append(col)
        case ast.Call(func=ast.Name(id="prev"), args=[ast.Name(id=name)], keywords=[]) if prev is not None:
            if name not in names:
                raise RuleError(f"prev() 中的“{name}”不是指标编号")
            prev.append(name)
        case ast.Call(func=ast.Name(id="prev")) if prev is not None:
            raise RuleError("prev() 只能写一个指标编号，如 prev(activities)")
        case ast.Call(func=ast.Name(id=fn), args=args, keywords=[]) if fn in FUNCTIONS and args:
            for arg in args:
                sub(arg)
        case ast.Call():
            also = "、prev(指标编号)" if prev is not None else ""
            raise RuleError(f"只能使用函数 abs、min、max、sum、detail_sum(列编号){also}")
        case ast.BinOp(op=op, left=left, right=right) if type(op) in _BINOPS:
            sub(left)
            sub(right)
        case ast.UnaryOp(op=ast.USub() | ast.UAdd() | ast.Not(), operand=operand):
            sub(operand)
        case ast.BoolOp(values=values):
            for value in values:
                sub(value)
        case ast.Compare(left=left, ops=ops, comparators=comps) if all(type(o) in _CMPOPS for o in ops):
            for part in (left, *comps):
                sub(part)
        case _:
            raise RuleError(f"不支持的写法“{ast.unparse(node)}”")


def _eval(
    node: ast.expr,
    values: Mapping[str, float | None],
    detail: DetailStats,
    previous: Mapping[str, float | None],
) -> float | bool:
    def sub(n: ast.expr) -> float | bool:
        return _eval(n, values, detail, previous)

    match node:
        case ast.Constant(value=v):
            return v
        case ast.Name(id="detail_rows"):
            return detail.rows
        case ast.Name(id=name):
            return values.get(name) or 0
        case ast.Call(func=ast.Name(id="detail_sum"), args=[ast.Name(id=col)]):
            return detail.sum(col)
        case ast.Call(func=ast.Name(id="prev"), args=[ast.Name(id=name)]):
            return previous.get(name) or 0  # evaluate() returned False already when it is blank
        case ast.Call(func=ast.Name(id=fn), args=args):
            return FUNCTIONS[fn](*(sub(a) for a in args))
        case ast.BinOp(op=op, left=left, right=right):
            a, b = sub(left), sub(right)
            if isinstance(op, ast.Div):
                return a / b if b else 0  # a self-check never divides by zero; Excel is guarded alike
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}[type(op)]
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not sub(operand)
        case ast.UnaryOp(op=op, operand=operand):
            v = sub(operand)
            return -v if isinstance(op, ast.USub) else v
        case ast.BoolOp(op=ast.And(), values=parts):
            return all(sub(p) for p in parts)
        case ast.BoolOp(values=parts):
            return any(sub(p) for p in parts)
        case ast.Compare(left=left, ops=ops, comparators=comps):
            a = sub(left)
            for op, comp in zip(ops, comps, strict=True):
                b = sub(comp)
                if not _PYCMP[type(op)](a, b):
                    return False
                a = b
            return True
    raise RuleError(f"不支持的写法“{ast.unparse(node)}”")  # unreachable after parse()


def _excel(node: ast.expr, ref: Callable[[str], str], detail_ref: Callable[[str | None], str] | None) -> str:
    def sub(n: ast.expr) -> str:
        """An operand: a truth value becomes 1/0 as in Python (Excel never equates TRUE and 1)."""
        text = _excel(n, ref, detail_ref)
        return f"IF({text},1,0)" if _is_truth(n) else text

    def cond(n: ast.expr) -> str:
        """A condition: any value, read as true when non-zero."""
        return _excel(n, ref, detail_ref)

    match node:
        case ast.Constant(value=v):
            return repr(v)
        case ast.Name(id="detail_rows"):
            return _need(detail_ref)(None)
        case ast.Name(id=name):
            return excel_value(ref(name))
        case ast.Call(func=ast.Name(id="detail_sum"), args=[ast.Name(id=col)]):
            return _need(detail_ref)(col)
        case ast.Call(func=ast.Name(id="prev")):
            raise RuleError("prev() 没有对应的单元格：用到它的规则只在汇总时检查，不放进表内自查")
        case ast.Call(func=ast.Name(id=fn), args=args):
            return f"{fn.upper()}({','.join(sub(a) for a in args)})"
        case ast.BinOp(op=ast.Div(), left=left, right=right):
            # IF short-circuits in Excel; AND() does not, so guard the division itself
            return f"IF(({sub(right)})=0,0,({sub(left)})/({sub(right)}))"
        case ast.BinOp(op=op, left=left, right=right):
            return f"({sub(left)}{_BINOPS[type(op)]}{sub(right)})"
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return f"NOT({cond(operand)})"
        case ast.UnaryOp(op=op, operand=operand):
            return f"(-{sub(operand)})" if isinstance(op, ast.USub) else sub(operand)
        case ast.BoolOp(op=op, values=parts):
            # nested IFs short-circuit like Python's and/or; the last part is a truth value too
            acc = f"IF({cond(parts[-1])},TRUE,FALSE)" if not _is_truth(parts[-1]) else cond(parts[-1])
            for part in reversed(parts[:-1]):
                acc = (
                    f"IF({cond(part)},{acc},FALSE)"
                    if isinstance(op, ast.And)
                    else f"IF({cond(part)},TRUE,{acc})"
                )
            return acc
        case ast.Compare(left=left, ops=ops, comparators=comps):
            terms, a = [], left
            for op, b in zip(ops, comps, strict=True):
                terms.append(f"{sub(a)}{_CMPOPS[type(op)]}{sub(b)}")
                a = b
            return terms[0] if len(terms) == 1 else f"AND({','.join(terms)})"
    raise RuleError(f"不支持的写法“{ast.unparse(node)}”")


def excel_value(cell: str) -> str:
    """A cell as a number in every office suite: its number, else 0 (blank, text, an error value).

    Not N(): N() of an empty cell is #NUM! in Gnumeric, and Gnumeric's N("１５") is 15 where Excel
    and LibreOffice give 0.
    """
    return f"IF(ISNUMBER({cell}),{cell},0)"


def _is_truth(node: ast.expr) -> bool:
    """Whether the node yields a truth value (comparison, and/or, not) rather than a number."""
    return isinstance(node, ast.Compare | ast.BoolOp) or (
        isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
    )


def _need(detail_ref: Callable[[str | None], str] | None) -> Callable[[str | None], str]:
    if detail_ref is None:
        raise RuleError("此表没有明细表，不能使用 detail_rows / detail_sum")
    return detail_ref
