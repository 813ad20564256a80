"""A small, safe expression language shared by filters, tag rules and derived features.

An expression is Python-like text such as ``repayment_status >= 1 and bill_amount > 0`` or
``bill_last_1m / account__credit_limit``. It is parsed once into an AST that is checked against
a whitelist, and can then be evaluated over a DataFrame (pandas) or rendered as DuckDB SQL.
Both agree on missing values, as SQL does:

* arithmetic with a missing operand is missing; ``x / 0`` is missing (never infinite);
* a comparison with a missing operand is unknown; ``and``/``or``/``not`` use three-valued logic;
  a filter or tag condition that is unknown does not match;
* ``isna(x)``, ``notna(x)``, ``coalesce(x, y, ...)``, ``abs(x)``, ``min(x, y, ...)`` and
  ``max(x, y, ...)`` (both skip missing values) are the only functions.

Column names that are not Python identifiers can be written in backticks: ``\u0060bill amount\u0060 > 0``.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from creditflow.data.errors import DataError

FUNCTIONS = ("abs", "isna", "notna", "coalesce", "min", "max")
_COMPARE: dict[type, tuple[str, Callable]] = {
    ast.Eq: ("=", operator.eq),
    ast.NotEq: ("<>", operator.ne),
    ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le),
    ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge),
}
_ARITH: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_BACKTICK = re.compile(r"`([^`]+)`")


class ExpressionError(DataError):
    """An expression that cannot be parsed, uses something not allowed, or names a missing column."""


# kinds of values, for checking an expression before it runs (`Expression.check`)
NUMBER, TEXT, BOOL, EMPTY = "numbers", "text", "true/false", "empty"


def column_kind(values: pd.Series) -> str | None:
    """The kind of a column's values; None for kinds the check does not judge (e.g. dates)."""
    if not values.notna().any():
        return EMPTY
    if pd.api.types.is_bool_dtype(values.dtype):
        return BOOL
    if pd.api.types.is_numeric_dtype(values.dtype):
        return NUMBER
    if pd.api.types.is_datetime64_any_dtype(values.dtype) or pd.api.types.is_timedelta64_dtype(values.dtype):
        return None
    return TEXT


class KindError(ExpressionError):
    """A column used with values of another kind (`found` in the column, `wanted` by the expression)."""

    def __init__(
        self, reason: str, *, column: str, found: str, wanted: str, text: str, hint: str | None = None
    ) -> None:
        super().__init__(reason, column=column, hint=hint)
        self.found = found
        self.wanted = wanted
        self.text = text


# a run of words joined by spaces or by characters no identifier holds (`还款 金额`, `还款金额（元）`, `3个月逾期`)
_ODD_NAME = re.compile(r"(?<![\w`'\"])(?:\d+[^\W\d]\w*|[^\W\d]\w*(?:(?:[ \u3000]+|[（）()/%.\-])+\w+[）)]?)+)")


def _name_hint(text: str) -> str | None:
    """For an expression that does not parse: a column name that is not an identifier, written without
    backticks, is the usual cause in a Chinese spec. Name the first such run, or say the rule."""
    outside = _BACKTICK.sub(lambda m: " " * len(m.group(0)), re.sub(r"'[^']*'|\"[^\"]*\"", lambda m: " " * len(m.group(0)), text))
    for m in _ODD_NAME.finditer(outside):
        words = m.group(0).split()
        if not any(w.lower() in ("and", "or", "not", "in", "is") for w in words):
            return f"if {m.group(0)!r} is one column's name, write it in backticks: `{m.group(0)}`"
    if any(c in text for c in "（），"):
        return "full-width punctuation (（ ） ，): write ASCII ( ) , or, in a column's name, backtick the name"
    return None


@dataclass(frozen=True)
class Expression:
    """A parsed, validated expression; `text` is what the user wrote."""

    text: str
    # parsed from the text: two expressions of the same text are equal (ast nodes compare by identity)
    tree: ast.expr = field(compare=False)
    names: dict[str, str] = field(compare=False)  # placeholder identifier -> column name (backtick-quoted names)

    @classmethod
    def parse(cls, text: str) -> Expression:
        """Parse `text`, refusing anything outside the whitelist with an `ExpressionError`."""
        if not isinstance(text, str) or not text.strip():
            raise ExpressionError(f"expected an expression as text, got {text!r}")
        names: dict[str, str] = {}

        def quote(m: re.Match) -> str:
            key = f"__q{len(names)}__"
            names[key] = m.group(1)
            return key

        source = _BACKTICK.sub(quote, text.strip())
        try:
            tree = ast.parse(source, mode="eval").body
        except SyntaxError as exc:
            raise ExpressionError(f"cannot parse expression {text!r}: {exc.msg}", hint=_name_hint(text)) from None
        _check(tree, text)
        return cls(text=text, tree=tree, names=names)

    @property
    def columns(self) -> list[str]:
        """Column names the expression reads, in order of first use."""
        out: list[str] = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Name) and node.id not in FUNCTIONS:
                name = self.names.get(node.id, node.id)
                if name not in out:
                    out.append(name)
        return out

    def evaluate(self, frame: pd.DataFrame) -> pd.Series:
        """Evaluate over `frame`: a float, text or nullable-boolean Series aligned with it."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ExpressionError(f"expression {self.text!r} names column(s) not in the data: {missing}")
        out = _Evaluator(frame, self).visit(self.tree)
        if not isinstance(out, pd.Series):
            out = pd.Series([out] * len(frame), index=frame.index)
        return out

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Evaluate a condition to a plain bool array: unknown (missing) counts as not matched."""
        out = self.evaluate(frame)
        if not pd.api.types.is_bool_dtype(out.dtype):
            raise ExpressionError(f"expression {self.text!r} is not a condition (it gives {out.dtype} values)")
        return out.fillna(False).to_numpy(dtype=bool)

    def to_sql(self, prefix: str = "") -> str:
        """Render as DuckDB SQL; column names are quoted and prefixed with `prefix` (e.g. ``e.``)."""
        return _to_sql(self.tree, self, prefix)

    def text_literals(self) -> list[tuple[str, str]]:
        """(column, text) for each text a column is compared with by ``==``, ``!=``, ``in`` or ``not in``."""
        out: list[tuple[str, str]] = []
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Compare):
                continue
            left = node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                pairs: list[tuple[ast.AST, ast.AST]] = []
                if isinstance(op, (ast.In, ast.NotIn)):
                    pairs = [(left, e) for e in right.elts]  # type: ignore[attr-defined]
                elif isinstance(op, (ast.Eq, ast.NotEq)):
                    pairs = [(left, right), (right, left)]
                for col, value in pairs:
                    if (isinstance(col, ast.Name) and isinstance(value, ast.Constant)
                            and isinstance(value.value, str)):
                        item = (self.names.get(col.id, col.id), value.value)
                        if item not in out:
                            out.append(item)
                left = right
        return out

    def check(self, kinds: dict[str, str | None] | None = None, *, condition: bool = False) -> set[str]:
        """Refuse, before any engine runs it, text compared with numbers and (with `condition`) an
        expression that is not true/false, such as ``dpd`` or ``dpd + 1``.

        `kinds` maps columns to `column_kind`; without it only what the text shows is checked.
        Returns the `EMPTY` columns compared with text (to be typed as text: they match nothing).
        """
        checker = _KindCheck(self, kinds or {})
        kind = checker.kind(self.tree)
        if condition and kind not in (BOOL, None):
            raise checker.not_condition(self.tree, kind)
        return checker.as_text


def _check(node: ast.AST, text: str) -> None:
    allowed = (
        ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.BinOp, ast.Compare,
        ast.Name, ast.Load, ast.Constant, ast.Call, ast.List, ast.Tuple, ast.In, ast.NotIn,
        *_COMPARE, *_ARITH,
    )
    for sub in ast.walk(node):
        if not isinstance(sub, allowed):
            raise ExpressionError(f"expression {text!r}: '{type(sub).__name__}' is not allowed")
        if isinstance(sub, ast.Constant) and not isinstance(sub.value, (int, float, str, bool)):
            raise ExpressionError(f"expression {text!r}: constant {sub.value!r} is not allowed (use isna())")
        if isinstance(sub, ast.Call):
            if not isinstance(sub.func, ast.Name) or sub.func.id not in FUNCTIONS or sub.keywords:
                raise ExpressionError(
                    f"expression {text!r}: only the functions {list(FUNCTIONS)} are allowed"
                )
            want_one = sub.func.id in ("abs", "isna", "notna")
            if (want_one and len(sub.args) != 1) or (not want_one and len(sub.args) < 2):
                raise ExpressionError(f"expression {text!r}: wrong number of arguments to {sub.func.id}()")
        if isinstance(sub, ast.Compare):
            for op, right in zip(sub.ops, sub.comparators, strict=True):
                is_list = isinstance(right, (ast.List, ast.Tuple))
                if isinstance(op, (ast.In, ast.NotIn)) != is_list:
                    raise ExpressionError(f"expression {text!r}: 'in' needs a literal list such as [1, 2]")
        if isinstance(sub, (ast.List, ast.Tuple)) and not all(isinstance(e, ast.Constant) for e in sub.elts):
            raise ExpressionError(f"expression {text!r}: lists may hold constants only")
        if isinstance(sub, (ast.List, ast.Tuple)) and len({isinstance(e.value, str) for e in sub.elts}) > 1:
            raise ExpressionError(f"expression {text!r}: a list mixes text and numbers; use one kind of value")


def _constant_kind(value: object) -> str:
    return BOOL if isinstance(value, bool) else (TEXT if isinstance(value, str) else NUMBER)


class _KindCheck:
    """The kind of value each node gives, refusing text where numbers are needed and vice versa."""

    def __init__(self, expr: Expression, kinds: dict[str, str | None]) -> None:
        self.expr = expr
        self.kinds = kinds
        self.as_text: set[str] = set()

    def column(self, node: ast.AST) -> str | None:
        return self.expr.names.get(node.id, node.id) if isinstance(node, ast.Name) else None

    def kind(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant):
            return _constant_kind(node.value)
        if isinstance(node, ast.Name):
            return self.kinds.get(self.column(node) or "")
        if isinstance(node, ast.BoolOp) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            for operand in node.values if isinstance(node, ast.BoolOp) else [node.operand]:
                kind = self.kind(operand)
                if kind not in (BOOL, None):
                    raise self.not_condition(operand, kind, "'and', 'or' and 'not' need conditions: ")
            return BOOL
        if isinstance(node, ast.Compare):
            left = node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, (ast.In, ast.NotIn)):
                    values = [e.value for e in right.elts]  # type: ignore[attr-defined]
                    self.compare(left, self.kind(left), values)
                else:
                    self.compare(left, self.kind(left), right)
                left = right
            return BOOL
        if isinstance(node, ast.Call) and node.func.id in ("isna", "notna"):  # type: ignore[attr-defined]
            self.kind(node.args[0])
            return BOOL
        if isinstance(node, ast.Call) and node.func.id == "coalesce":  # type: ignore[attr-defined]
            kinds = [self.kind(a) for a in node.args]
            known = [k for k in kinds if k not in (None, EMPTY)]
            return known[0] if known else (EMPTY if EMPTY in kinds else None)
        # arithmetic, abs, min, max: numbers in, a number out
        operands = [node.left, node.right] if isinstance(node, ast.BinOp) else (
            [node.operand] if isinstance(node, ast.UnaryOp) else list(node.args))  # type: ignore[attr-defined]
        for operand in operands:
            kind = self.kind(operand)
            if kind in (TEXT, BOOL):
                raise self.mismatch(operand, kind, NUMBER, "is used in arithmetic, which needs numbers")
        return NUMBER

    def compare(self, left: ast.AST, left_kind: str | None, right: ast.AST | list) -> None:
        right_kind = (_constant_kind(right[0]) if right else None) if isinstance(right, list) else self.kind(right)
        for a, a_kind, b_kind in ((left, left_kind, right_kind), (right, right_kind, left_kind)):
            if a_kind == EMPTY and b_kind == TEXT and not isinstance(a, list) and self.column(a):
                self.as_text.add(self.column(a))  # type: ignore[arg-type]
        # true/false against text: SQL casts 'true' to TRUE, pandas finds them never equal
        if {left_kind, right_kind} not in ({TEXT, NUMBER}, {TEXT, BOOL}):
            return
        # name the column side: the left one, unless only the right one is a column
        side, kind, other, other_kind = left, left_kind, right, right_kind
        if self.column(left) is None and not isinstance(right, list) and self.column(right) is not None:
            side, kind, other, other_kind = right, right_kind, left, left_kind
        if isinstance(other, list):
            what = f"the values {other!r}"
        elif isinstance(other, ast.Constant):
            what = f"{ {NUMBER: 'the number', TEXT: 'the text', BOOL: 'the value'}[other_kind]} {other.value!r}"
        else:
            what = f"{other_kind}"
        raise self.mismatch(side, kind, other_kind, f"is compared with {what}")  # type: ignore[arg-type]

    def mismatch(self, node: ast.AST, found: str, wanted: str, what: str) -> ExpressionError:
        column = self.column(node)
        if column is None:
            return ExpressionError(f"expression {self.expr.text!r}: {found} {what}")
        hint = {NUMBER: "compare it with numbers, written without quotes",
                BOOL: "use the column as the condition, or compare it with True or False, without quotes"}.get(found)
        return KindError(f"expression {self.expr.text!r}: column '{column}' holds {found} but {what}",
                         column=column, found=found, wanted=wanted, text=self.expr.text, hint=hint)

    def not_condition(self, node: ast.AST, kind: str | None, prefix: str = "") -> ExpressionError:
        column = self.column(node)
        gives = f"column '{column}' holds {kind}" if column else f"it gives {kind}"
        reason = (f"expression {self.expr.text!r} is not a condition: {prefix}{gives}, not true/false "
                  "(write a comparison such as 'dpd >= 1')")
        if column is None:
            return ExpressionError(reason)
        return KindError(reason, column=column, found=kind or "", wanted=BOOL, text=self.expr.text)


def _is_missing(value: object) -> pd.Series | bool:
    if isinstance(value, pd.Series):
        return value.isna()
    return False


def _is_text(value: object) -> bool:
    if isinstance(value, pd.Series):
        return not pd.api.types.is_numeric_dtype(value.dtype) and not pd.api.types.is_bool_dtype(value.dtype)
    return isinstance(value, str)


def _as_bool(value: object, text: str) -> pd.Series | bool:
    if isinstance(value, pd.Series):
        if not pd.api.types.is_bool_dtype(value.dtype):
            raise ExpressionError(f"expression {text!r}: 'and', 'or' and 'not' need conditions")
        return value.astype("boolean")
    if isinstance(value, bool):
        return value
    raise ExpressionError(f"expression {text!r}: 'and', 'or' and 'not' need conditions")


def _as_number(value: object, text: str) -> pd.Series | float:
    if isinstance(value, pd.Series):
        if pd.api.types.is_bool_dtype(value.dtype) or not pd.api.types.is_numeric_dtype(value.dtype):
            present = value.dropna()
            example = f", e.g. {present.iloc[0]!r}" if len(present) else ""
            named = f"column {value.name!r} holds {value.dtype}{example}" if value.name is not None else f"got {value.dtype}"
            hint = ": numbers written as text (\"1000\" in the JSON)?" if example and isinstance(present.iloc[0], str) else ""
            raise ExpressionError(f"expression {text!r}: arithmetic needs numeric columns, but {named}{hint}")
        return value.astype("float64")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExpressionError(f"expression {text!r}: arithmetic needs numbers, got {value!r}")
    return float(value)


class _Evaluator:
    def __init__(self, frame: pd.DataFrame, expr: Expression) -> None:
        self.frame = frame
        self.expr = expr

    def visit(self, node: ast.AST) -> object:
        text = self.expr.text
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            col = self.frame[self.expr.names.get(node.id, node.id)]
            if pd.api.types.is_bool_dtype(col.dtype):
                return col.astype("boolean")
            if pd.api.types.is_numeric_dtype(col.dtype):
                return col.astype("float64")
            return col
        if isinstance(node, ast.BoolOp):
            values = [_as_bool(self.visit(v), text) for v in node.values]
            out = values[0]
            for v in values[1:]:
                out = (out & v) if isinstance(node.op, ast.And) else (out | v)
            return out
        if isinstance(node, ast.UnaryOp):
            value = self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                b = _as_bool(value, text)
                return ~b if isinstance(b, pd.Series) else not b
            num = _as_number(value, text)
            return -num if isinstance(node.op, ast.USub) else num
        if isinstance(node, ast.BinOp):
            return self._arith(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise ExpressionError(f"expression {text!r}: cannot evaluate {type(node).__name__}")

    def _arith(self, node: ast.BinOp) -> object:
        a = _as_number(self.visit(node.left), self.expr.text)
        b = _as_number(self.visit(node.right), self.expr.text)
        with np.errstate(divide="ignore", invalid="ignore"):
            if isinstance(node.op, ast.Div):
                if isinstance(b, pd.Series):
                    b = b.where(b != 0)
                elif b == 0:
                    b = np.nan
                out = a / b
            else:
                out = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}[type(node.op)](a, b)
        if isinstance(out, pd.Series):
            return out.where(np.isfinite(out.to_numpy(dtype=float, na_value=np.nan)))
        return out if np.isfinite(out) else np.nan

    def _compare(self, node: ast.Compare) -> object:
        left = self.visit(node.left)
        result: object = True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, (ast.In, ast.NotIn)):
                values = [e.value for e in right_node.elts]  # type: ignore[attr-defined]
                part = self._isin(left, values, isinstance(op, ast.NotIn))
                right = None
            else:
                right = self.visit(right_node)
                part = self._binary_compare(left, right, _COMPARE[type(op)][1])
            result = part if result is True else (result & part)  # type: ignore[operator]
            left = right
        return result

    def _binary_compare(self, a: object, b: object, fn: Callable) -> object:
        if not isinstance(a, pd.Series) and not isinstance(b, pd.Series):
            return bool(fn(a, b))
        if _is_text(a) != _is_text(b):
            raise ExpressionError(f"expression {self.expr.text!r}: cannot compare text with numbers")
        try:
            raw = fn(a, b)
        except TypeError:
            raise ExpressionError(
                f"expression {self.expr.text!r}: cannot compare text with numbers"
            ) from None
        out = pd.Series(raw, index=self.frame.index).astype("boolean")
        out[_is_missing(a) | _is_missing(b)] = pd.NA
        return out

    def _isin(self, a: object, values: list, negate: bool) -> object:
        if not isinstance(a, pd.Series):
            return (a in values) != negate
        out = a.isin(values)
        out = (~out if negate else out).astype("boolean")
        out[a.isna()] = pd.NA
        return out

    def _call(self, node: ast.Call) -> object:
        name = node.func.id  # type: ignore[attr-defined]
        args = [self.visit(a) for a in node.args]
        index = self.frame.index
        if name in ("isna", "notna"):
            miss = _is_missing(args[0])
            miss = miss if isinstance(miss, pd.Series) else pd.Series(miss, index=index)
            return (miss if name == "isna" else ~miss).astype("boolean")
        if name == "abs":
            return abs(_as_number(args[0], self.expr.text))
        if name == "coalesce":
            out = args[0] if isinstance(args[0], pd.Series) else pd.Series([args[0]] * len(index), index=index)
            for a in args[1:]:
                out = out.where(out.notna(), a)
            return out
        nums = [_as_number(a, self.expr.text) for a in args]
        fn = np.fmin if name == "min" else np.fmax
        out = nums[0]
        for a in nums[1:]:
            out = fn(out, a)
        return out if isinstance(out, pd.Series) else pd.Series(out, index=index, dtype=float)


def _sql_constant(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(float(value)) if isinstance(value, float) else str(value)


def _to_sql(node: ast.AST, expr: Expression, prefix: str) -> str:
    def sql(n: ast.AST) -> str:
        return _to_sql(n, expr, prefix)

    if isinstance(node, ast.Constant):
        return _sql_constant(node.value)
    if isinstance(node, ast.Name):
        name = expr.names.get(node.id, node.id).replace('"', '""')
        return f'{prefix}"{name}"'
    if isinstance(node, ast.BoolOp):
        joiner = " AND " if isinstance(node.op, ast.And) else " OR "
        return "(" + joiner.join(sql(v) for v in node.values) + ")"
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            return f"(NOT {sql(node.operand)})"
        return f"({'-' if isinstance(node.op, ast.USub) else '+'}{sql(node.operand)})"
    if isinstance(node, ast.BinOp):
        op = _ARITH[type(node.op)]
        if op == "/":
            return f"(CAST({sql(node.left)} AS DOUBLE) / NULLIF({sql(node.right)}, 0))"
        return f"({sql(node.left)} {op} {sql(node.right)})"
    if isinstance(node, ast.Compare):
        parts = []
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, (ast.In, ast.NotIn)):
                items = ", ".join(_sql_constant(e.value) for e in right.elts)  # type: ignore[attr-defined]
                word = "NOT IN" if isinstance(op, ast.NotIn) else "IN"
                parts.append(f"({sql(left)} {word} ({items}))")
            else:
                parts.append(f"({sql(left)} {_COMPARE[type(op)][0]} {sql(right)})")
            left = right
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"
    if isinstance(node, ast.Call):
        name = node.func.id  # type: ignore[attr-defined]
        args = [sql(a) for a in node.args]
        if name == "isna":
            return f"({args[0]} IS NULL)"
        if name == "notna":
            return f"({args[0]} IS NOT NULL)"
        fn = {"abs": "abs", "coalesce": "coalesce", "min": "least", "max": "greatest"}[name]
        return f"{fn}({', '.join(args)})"
    raise ExpressionError(f"expression {expr.text!r}: cannot render {type(node).__name__} as SQL")
