"""The policy rule language: a tiny, safe condition language over applicant fields.

A condition is text such as ``AGE < 18``, ``PAY_0 >= 3 and LIMIT_BAL <= 20000``,
``EDUCATION in (0, 5, 6)``, ``not (MARRIAGE in ("1", "2"))`` or ``AGE is missing``. It is tokenised
and parsed here by a recursive-descent parser into a small tree (never Python ``eval``), and
evaluated on one applicant (a dict, for the service) or on a whole table (a DataFrame, for
`policy simulate`); both give the same answer for the same row.

Grammar (keywords are case-insensitive; names that are not identifiers go in backticks)::

    condition  := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | test
    test       := "(" condition ")"
                | operand (op operand)            op: == != < <= > >=   (= is ==, <> is !=)
                | name ["not"] "in" "(" literal ("," literal)* ")"   (or [ ... ])
                | name "is" ["not"] "missing"
                | "true" | "false"
    operand    := name | number | string

Missing values (absent, null, NaN) make every comparison and ``in`` false, so ``not (AGE < 18)`` is
true for a missing age; say ``AGE is missing`` to catch them. A text literal matches a category the
way the binning does (`binning.variable.category_key`): ``EDUCATION == "1"`` and ``EDUCATION == "1.0"``
match 1, 1.0 and "1"; spaces around a value do not count.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.variable import category_key, category_keys, numeric_values
from creditflow.data.errors import CreditflowError, SchemaError

MAX_LENGTH = 2000
MAX_DEPTH = 50


class ConditionError(CreditflowError):
    """A rule condition that cannot be parsed or uses something the language does not have."""


Value = float | str
OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_SWAP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
KEYWORDS = {"and", "or", "not", "in", "is", "missing", "true", "false"}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<quoted>`[^`]+`)
      | (?P<op><=|>=|==|!=|<>|<|>|=)
      | (?P<punct>[(),\[\]])
      | (?P<word>[^\W\d]\w*)
    )""",
    re.VERBOSE | re.UNICODE,
)


# ----------------------------------------------------------------------------- tree
@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Const:
    value: Value


@dataclass(frozen=True)
class Compare:
    op: str
    left: Field | Const
    right: Field | Const


@dataclass(frozen=True)
class InList:
    field: Field
    values: tuple[Value, ...]
    negate: bool = False


@dataclass(frozen=True)
class IsMissing:
    field: Field
    negate: bool = False


@dataclass(frozen=True)
class Bool:
    value: bool


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | InList | IsMissing | Bool | And | Or | Not


# --------------------------------------------------------------------------- parser
@dataclass(frozen=True)
class Token:
    kind: str  # number | string | name | keyword | op | punct | end
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    """Split a condition into tokens; anything the language does not know is an error."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            start = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise ConditionError(f"unexpected character {text[start]!r} at position {start + 1} in {text!r}"
                                 + _character_hint(text, start))
        kind = m.lastgroup or ""
        value = m.group(kind)
        start = m.start(kind)
        if kind == "word":
            low = value.lower()
            tokens.append(Token("keyword", low, start) if low in KEYWORDS else Token("name", value, start))
        elif kind == "quoted":
            tokens.append(Token("name", value[1:-1], start))
        elif kind == "string":
            body = value[1:-1]
            tokens.append(Token("string", re.sub(r"\\(.)", r"\1", body), start))
        elif kind == "op":
            tokens.append(Token("op", {"=": "==", "<>": "!="}.get(value, value), start))
        else:
            tokens.append(Token(kind, value, start))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# characters that end a name written without backticks in a hint (operators, quotes, commas, brackets)
_NAME_STOP = "<>=!,'\"`[]"
# full-width punctuation a Chinese input method types, and the ASCII the language reads
_FULL_WIDTH = {"（": "(", "）": ")", "，": ",", "＝": "=", "＜": "<", "＞": ">", "！": "!", "“": '"', "”": '"',
               "‘": "'", "’": "'", "［": "[", "］": "]", "｀": "`"}


def _backtick_hint(name: str) -> str:
    return (f" (if {name!r} is one field's name, write it in backticks: `{name}`; a name that is not an "
            "identifier — spaces, a leading digit, punctuation such as / ( ) （ ） — goes in backticks)")


def _character_hint(text: str, start: int) -> str:
    """Why a character the language does not know is there: part of a field's name written without
    backticks (`收入/月`, `还款状态（8月）`), or full-width punctuation (（ ， ＝) where ASCII was meant."""
    if start > 0 and not text[start - 1].isspace() and text[start - 1] not in _NAME_STOP + "()":
        begin = start
        while begin > 0 and not text[begin - 1].isspace() and text[begin - 1] not in _NAME_STOP + "()":
            begin -= 1
        end = start
        while end < len(text) and not text[end].isspace() and text[end] not in _NAME_STOP:
            end += 1
        name = text[begin:end]
        if name and not name[0].isdigit() or any(c.isalpha() for c in name):
            return _backtick_hint(name)
    ascii_ = _FULL_WIDTH.get(text[start])
    if ascii_ is not None:
        return f" (full-width {text[start]!r}: write the ASCII {ascii_!r})"
    return ""


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    # helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        tok = self.tok
        if tok.kind == kind and (text is None or tok.text == text):
            self.i += 1
            return tok
        return None

    def expect(self, kind: str, text: str | None = None, what: str = "") -> Token:
        tok = self.accept(kind, text)
        if tok is None:
            self.fail(f"expected {what or text or kind}")
        return tok  # type: ignore[return-value]

    def fail(self, why: str) -> None:
        got = "the end" if self.tok.kind == "end" else repr(self.tok.text)
        raise ConditionError(f"{why} but found {got} at position {self.tok.pos + 1} in {self.text!r}"
                             + self._name_hint())

    def _name_hint(self) -> str:
        """When the token that failed continues a bare name or number before it (`3个月最大逾期`, `最近 还款状态`,
        `账单金额(9月)`), the text was most likely one field's name that is not an identifier: say to backtick it."""
        tok = self.tok
        prev = self.tokens[self.i - 1] if self.i > 0 else None
        if prev is None or prev.kind not in ("name", "number") or self.text[prev.pos] == "`":
            return ""
        if self.i >= 2 and self.tokens[self.i - 2].kind == "op":
            return ""  # `PAY_0 >= 3 AGE`: the name or number is a comparison's right side, complete
        adjacent = tok.pos == prev.pos + len(prev.text)
        if prev.kind == "number" and not (adjacent and prev.text[-1].isdigit()):
            return ""
        if not (tok.kind == "name" and self.text[tok.pos] != "`" or adjacent and tok.kind in ("punct", "number")):
            return ""
        end = tok.pos
        while end < len(self.text) and not self.text[end].isspace() and self.text[end] not in _NAME_STOP:
            end += 1
        if tok.kind == "punct" and tok.text == "(":  # `账单金额(9月)`: through the closing parenthesis
            close = self.text.find(")", tok.pos)
            end = close + 1 if close > 0 else end
        return _backtick_hint(self.text[prev.pos:end].strip())

    # grammar
    def parse(self) -> Node:
        node = self.or_()
        if self.tok.kind != "end":
            self.fail("expected and/or or the end of the condition")
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.accept("keyword", "or"):
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Node:
        items = [self.not_()]
        while self.accept("keyword", "and"):
            items.append(self.not_())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_(self) -> Node:
        if self.accept("keyword", "not"):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                self.fail(f"nested more than {MAX_DEPTH} levels")
            node = Not(self.not_())
            self.depth -= 1
            return node
        return self.test()

    def test(self) -> Node:
        if self.accept("punct", "("):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                self.fail(f"nested more than {MAX_DEPTH} levels")
            node = self.or_()
            self.expect("punct", ")")
            self.depth -= 1
            return node
        if self.accept("keyword", "true"):
            return Bool(True)
        if self.accept("keyword", "false"):
            return Bool(False)
        left = self.operand()
        if isinstance(left, Field):
            if self.accept("keyword", "is"):
                negate = self.accept("keyword", "not") is not None
                self.expect("keyword", "missing", "'missing' after 'is'")
                return IsMissing(left, negate)
            negate = False
            if self.tok.kind == "keyword" and self.tok.text == "not" and self.tokens[self.i + 1].text == "in":
                self.i += 1
                negate = True
            if self.accept("keyword", "in"):
                return InList(left, self.literal_list(), negate)
        op = self.tok
        if op.kind != "op":
            self.fail("expected a comparison (==, !=, <, <=, >, >=), 'in' or 'is missing'")
        self.i += 1
        right = self.operand()
        if isinstance(left, Const) and isinstance(right, Const):
            raise ConditionError(f"comparison of two constants ({left.value!r} {op.text} {right.value!r}) "
                                 f"in {self.text!r}: name an applicant field")
        return Compare(op.text, left, right)

    def operand(self) -> Field | Const:
        tok = self.take()
        if tok.kind == "name":
            return Field(tok.text)
        if tok.kind in ("number", "string"):
            return Const(_literal(tok))
        self.i -= 1
        self.fail("expected a field name, a number or a quoted text")
        raise AssertionError  # unreachable

    def literal_list(self) -> tuple[Value, ...]:
        close = ")" if self.accept("punct", "(") else "]" if self.accept("punct", "[") else None
        if close is None:
            self.fail("expected '(' or '[' after 'in'")
        values = []
        while True:
            tok = self.take()
            if tok.kind not in ("number", "string"):
                self.i -= 1
                self.fail("expected a number or a quoted text in the list")
            values.append(_literal(tok))
            if self.accept("punct", close):
                break
            self.expect("punct", ",", f"',' or '{close}'")
        return tuple(values)


def _literal(tok: Token) -> Value:
    if tok.kind == "string":
        if not tok.text.strip():  # a blank value is a missing one, which no comparison matches
            raise ConditionError(f"a blank text value {tok.text!r} is a missing value: write `FIELD is missing` "
                                 "or `FIELD is not missing`")
        return tok.text
    value = float(tok.text)
    if not math.isfinite(value):
        raise ConditionError(f"number {tok.text} is out of range")
    return value


# ------------------------------------------------------------------------ condition
@dataclass(frozen=True)
class Condition:
    """A parsed rule condition; `text` is what the policy file says."""

    text: str
    tree: Node

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fn", _compile(self.tree))

    @classmethod
    def parse(cls, text: Any) -> Condition:
        """Parse a condition, refusing anything outside the language with a `ConditionError`."""
        if isinstance(text, bool):  # YAML reads an unquoted `when: true` as a boolean, not as the condition
            word = str(text).lower()
            raise ConditionError(f"a condition must be text, not the YAML boolean {word}: quote it "
                                 f"(when: \"{word}\")")
        if not isinstance(text, str) or not text.strip():
            raise ConditionError(f"a condition must be non-empty text, not {text!r}")
        if len(text) > MAX_LENGTH:
            raise ConditionError(f"a condition may be at most {MAX_LENGTH} characters long")
        return cls(text=text, tree=_Parser(text).parse())

    def _leaves(self) -> list[Any]:
        """The comparisons, list tests, missing tests and bare fields under the and / or / not of the tree."""
        out: list[Any] = []

        def walk(node: Any) -> None:
            if isinstance(node, (And, Or)):
                for item in node.items:
                    walk(item)
            elif isinstance(node, Not):
                walk(node.item)
            else:
                out.append(node)

        walk(self.tree)
        return out

    @property
    def fields(self) -> list[str]:
        """Applicant fields the condition reads, in order of first use."""
        out: list[str] = []
        for node in self._leaves():
            if isinstance(node, Compare):
                named = [x for x in (node.left, node.right) if isinstance(x, Field)]
            elif isinstance(node, (InList, IsMissing)):
                named = [node.field]
            else:
                named = [node] if isinstance(node, Field) else []
            out += [f.name for f in named if f.name not in out]
        return out

    def uses(self) -> dict[str, set[str]]:
        """Each field with the kinds of literal it is compared with ("number", "text", "order")."""
        out: dict[str, set[str]] = {}

        def note(name: str, kind: str) -> None:
            out.setdefault(name, set()).add(kind)

        for node in self._leaves():
            if isinstance(node, Compare):
                fields = [x for x in (node.left, node.right) if isinstance(x, Field)]
                consts = [x for x in (node.left, node.right) if isinstance(x, Const)]
                for f in fields:
                    if consts:
                        note(f.name, "text" if isinstance(consts[0].value, str) else "number")
                    else:
                        note(f.name, "number")
                    if node.op not in ("==", "!="):
                        note(f.name, "order")
            elif isinstance(node, InList):
                for v in node.values:
                    note(node.field.name, "text" if isinstance(v, str) else "number")
            elif isinstance(node, IsMissing):
                note(node.field.name, "any")
        return out

    def text_values(self) -> dict[str, set[str]]:
        """Each field with the text values it is compared with for (in)equality (== "x", in ("x", "y"))."""
        out: dict[str, set[str]] = {}
        for node in self._leaves():
            if isinstance(node, Compare) and node.op in ("==", "!="):
                consts = [x.value for x in (node.left, node.right) if isinstance(x, Const) and isinstance(x.value, str)]
                for f in (x for x in (node.left, node.right) if isinstance(x, Field)):
                    out.setdefault(f.name, set()).update(consts)
            elif isinstance(node, InList):
                out.setdefault(node.field.name, set()).update(v for v in node.values if isinstance(v, str))
        return {k: v for k, v in out.items() if v}

    def evaluate(self, row: dict[str, Any]) -> bool:
        """Whether the condition holds for one applicant (a dict of field -> value)."""
        return self._fn(row)  # type: ignore[attr-defined]

    def evaluate_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Whether the condition holds for each row of a table (bool array, same order)."""
        return _eval_frame(self.tree, frame, {})


# ------------------------------------------------------------------ row evaluation
def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _number(value: Any, name: str) -> float | None:
    if _is_missing(value):
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        x = float(value)
        return None if x != x else x
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            x = float(value)
        except ValueError:
            raise SchemaError(f"not a number: {value!r}", column=name) from None
        return None if x != x else x
    raise SchemaError(f"not a number: {value!r}", column=name)


def _compile(node: Node) -> Callable[[dict[str, Any]], bool]:
    """The tree as nested closures (row -> bool): the same answers as walking it, a few times faster."""
    if isinstance(node, Compare):
        text = any(isinstance(x, Const) and isinstance(x.value, str) for x in (node.left, node.right))
        if text and node.op not in ("==", "!="):
            return lambda row: False
        op = OPS[node.op]
        left, right = _operand(node.left, text), _operand(node.right, text)

        def compare(row: dict[str, Any]) -> bool:
            a = left(row)
            if a is None:
                return False
            b = right(row)
            return b is not None and bool(op(a, b))

        return compare
    if isinstance(node, InList):
        name, negate = node.field.name, node.negate
        wanted = frozenset(category_key(v) for v in node.values)

        def in_list(row: dict[str, Any]) -> bool:
            key = category_key(row.get(name))
            return key is not None and (key in wanted) != negate

        return in_list
    if isinstance(node, IsMissing):
        name, negate = node.field.name, node.negate
        return lambda row: (category_key(row.get(name)) is None) != negate
    if isinstance(node, Bool):
        value = node.value
        return lambda row: value
    if isinstance(node, And):
        parts = [_compile(item) for item in node.items]
        return lambda row: all(p(row) for p in parts)
    if isinstance(node, Or):
        parts = [_compile(item) for item in node.items]
        return lambda row: any(p(row) for p in parts)
    if isinstance(node, Not):
        inner = _compile(node.item)
        return lambda row: not inner(row)
    raise TypeError(f"unknown node {node!r}")


def _operand(x: Field | Const, text: bool) -> Callable[[dict[str, Any]], Any]:
    if isinstance(x, Const):
        value = category_key(x.value) if text else x.value  # "1.0" and " car " as the binning knows them
        return lambda row: value
    name = x.name
    if text:
        return lambda row: category_key(row.get(name))
    return lambda row: _number(row.get(name), name)


# ---------------------------------------------------------------- frame evaluation
def _eval_frame(node: Node, frame: pd.DataFrame, cache: dict) -> np.ndarray:
    n = len(frame)
    if isinstance(node, Compare):
        text = any(isinstance(x, Const) and isinstance(x.value, str) for x in (node.left, node.right))
        a, a_ok = _frame_operand(node.left, frame, text, cache)
        b, b_ok = _frame_operand(node.right, frame, text, cache)
        ok = a_ok & b_ok
        if text and node.op not in ("==", "!="):
            return np.zeros(n, dtype=bool)
        with np.errstate(invalid="ignore"):
            if text:
                av = np.broadcast_to(np.asarray(a, dtype=object), (n,))
                bv = np.broadcast_to(np.asarray(b, dtype=object), (n,))
                eq = np.fromiter((x == y for x, y in zip(av, bv, strict=True)), dtype=bool, count=n)
                res = eq if node.op == "==" else ~eq
            else:
                res = np.asarray(OPS[node.op](a, b), dtype=bool)
        return np.broadcast_to(res, (n,)) & ok
    if isinstance(node, InList):
        keys = _keys(frame, node.field.name, cache)
        wanted = {category_key(v) for v in node.values}
        present = pd.notna(keys)
        found = pd.Series(keys, dtype=object).isin(wanted).to_numpy()
        return present & (found != node.negate)
    if isinstance(node, IsMissing):
        keys = _keys(frame, node.field.name, cache)
        return pd.isna(keys) != node.negate
    if isinstance(node, Bool):
        return np.full(n, node.value)
    if isinstance(node, And):
        out = np.ones(n, dtype=bool)
        for item in node.items:
            out &= _eval_frame(item, frame, cache)
        return out
    if isinstance(node, Or):
        out = np.zeros(n, dtype=bool)
        for item in node.items:
            out |= _eval_frame(item, frame, cache)
        return out
    if isinstance(node, Not):
        return ~_eval_frame(node.item, frame, cache)
    raise TypeError(f"unknown node {node!r}")


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        raise SchemaError("field used by a policy rule is not in the data", column=name)
    return frame[name]


def _keys(frame: pd.DataFrame, name: str, cache: dict) -> np.ndarray:
    key = ("keys", name)
    if key not in cache:
        cache[key] = category_keys(_column(frame, name))
    return cache[key]


def _frame_operand(x: Field | Const, frame: pd.DataFrame, text: bool, cache: dict) -> tuple[Any, np.ndarray | bool]:
    if isinstance(x, Const):
        return (category_key(x.value) if text else x.value), True
    if text:
        keys = _keys(frame, x.name, cache)
        return keys, pd.notna(keys)
    key = ("num", x.name)
    if key not in cache:
        cache[key] = numeric_values(_column(frame, x.name), x.name)
    values = cache[key]
    return values, ~np.isnan(values)


# ------------------------------------------------------------------ rules that never fire
Interval = tuple[float, bool, float, bool]  # low, low excluded, high, high excluded
_EVERYTHING: Interval = (-math.inf, False, math.inf, False)


def _narrow(interval: Interval, op: str, c: float) -> Interval:
    """`interval` cut by `x op c` (op one of < <= > >= ==)."""
    lo, lo_open, hi, hi_open = interval
    if op in (">", ">=", "==") and (c > lo or (c == lo and op == ">")):
        lo, lo_open = c, op == ">"
    if op in ("<", "<=", "==") and (c < hi or (c == hi and op == "<")):
        hi, hi_open = c, op == "<"
    return lo, lo_open, hi, hi_open


def _empty(interval: Interval) -> bool:
    lo, lo_open, hi, hi_open = interval
    return lo > hi or (lo == hi and (lo_open or hi_open))


def _bound(node: Any) -> tuple[str, str, float] | None:
    """A comparison of one field with a number as (field, op, number), the field on the left; else None."""
    if not isinstance(node, Compare) or node.op == "!=":
        return None
    left, right, op = node.left, node.right, node.op
    if isinstance(left, Const):
        left, right, op = right, left, _SWAP[op]
    if isinstance(left, Field) and isinstance(right, Const) and not isinstance(right.value, str):
        return left.name, op, float(right.value)
    return None


def never_holds(node: Node, ranges: dict[str, Interval]) -> bool:
    """Whether no applicant whose numbers lie in `ranges` (field -> accepted interval) makes the condition true:
    a comparison beyond a field's range (`AGE > 200` where AGE is accepted up to 120), comparisons on one field
    that exclude each other under `and` (`PAY_0 > 3 and PAY_0 < 2`), `false`, and and/or of those. Only what
    can be proven is said: a condition not shown impossible may still never hold."""
    if isinstance(node, Bool):
        return not node.value
    if isinstance(node, Compare):
        bound = _bound(node)
        return bound is not None and _empty(_narrow(ranges.get(bound[0], _EVERYTHING), bound[1], bound[2]))
    if isinstance(node, Or):
        return all(never_holds(item, ranges) for item in node.items)
    if isinstance(node, And):
        narrowed = dict(ranges)
        for item in node.items:
            bound = _bound(item)
            if bound is not None:
                narrowed[bound[0]] = _narrow(narrowed.get(bound[0], _EVERYTHING), bound[1], bound[2])
        return any(_empty(v) for v in narrowed.values()) or any(never_holds(item, narrowed) for item in node.items)
    return False
