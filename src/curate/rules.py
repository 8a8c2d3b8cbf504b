"""The filter-rule language: a small, safe grammar compiled to polars expressions (never eval).

Grammar (lowest to highest precedence)::

    rule       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum [("==" | "!=" | "<" | "<=" | ">" | ">=") sum
                       | ["not"] "in" "[" literal ("," literal)* [","] "]"
                       | "is" ["not"] "null"]
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/" | "%") unary)*
    unary      := "-" unary | atom
    atom       := NUMBER | STRING | "true" | "false" | "null" | NAME | `quoted name` | "(" rule ")"

A comparison with a missing value (null) is null, and the filter treats null as "fails",
so a document without the signal a rule needs is rejected by that rule, never kept by accident.

A rule is parsed into a small syntax tree first, then compiled. Chains of ``and``/``or`` are one
n-ary node each, compiled to ``pl.all_horizontal``/``pl.any_horizontal`` (same null logic as
``&``/``|``), so a long chain is a flat expression, not a deep binary tree. Limits, all reported
as syntax errors with a position: ``MAX_RULE_CHARS`` characters, ``MAX_DEPTH`` levels of
nesting, ``MAX_NODES`` columns, values and operators; integer literals must fit Int64, floats
must be finite. The tree also tells, before any data is read, which columns a rule reads and
what each comparison compares them with (:meth:`Rule.type_problems`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import polars as pl

from curate.errors import ConfigError

KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false"})

MAX_RULE_CHARS = 200_000
"""Longest rule text (characters): bounds tokenising time and memory."""
MAX_DEPTH = 100
"""Deepest nesting: parentheses, ``not``, minus signs and each operator of an arithmetic chain
count one level (the parser's recursion and polars' cost on deep expressions stay bounded)."""
MAX_NODES = 50_000
"""Most columns, values and operators in one rule (a list after ``in`` counts once)."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<qname>`[^`]+`)
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|%|\(|\)|\[|\]|,)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}
_CMP_OPS = ("==", "!=", "<", "<=", ">", ">=")
_ARITH_PREC = {"+": 5, "-": 5, "*": 6, "/": 6, "%": 6}
_OR, _AND, _NOT, _CMP = 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number, string, name, keyword, op, end
    value: str
    pos: int


# ---------------------------------------------------------------- syntax tree
# Every node knows where it starts (``pos``, for carets) and how deep it is (``depth``).


@dataclass(frozen=True, slots=True, eq=False)
class Lit:
    value: Any
    kind: str  # int, float, string, bool, null
    pos: int
    depth: int = 1


@dataclass(frozen=True, slots=True, eq=False)
class Col:
    name: str
    pos: int
    depth: int = 1


@dataclass(frozen=True, slots=True, eq=False)
class Neg:
    operand: Node
    pos: int
    depth: int


@dataclass(frozen=True, slots=True, eq=False)
class Arith:
    op: str
    left: Node
    right: Node
    pos: int  # the operator's position
    depth: int


@dataclass(frozen=True, slots=True, eq=False)
class Cmp:
    op: str
    left: Node
    right: Node
    pos: int
    depth: int


@dataclass(frozen=True, slots=True, eq=False)
class In:
    operand: Node
    values: tuple[Any, ...]
    kind: str  # int, float, string, bool, null: the list's values (ints with a float: float)
    negate: bool
    pos: int
    depth: int


@dataclass(frozen=True, slots=True, eq=False)
class IsNull:
    operand: Node
    negate: bool
    pos: int
    depth: int


@dataclass(frozen=True, slots=True, eq=False)
class Not:
    operand: Node
    pos: int
    depth: int


@dataclass(frozen=True, slots=True, eq=False)
class Logic:
    op: str  # and, or
    items: tuple[Node, ...]
    pos: int
    depth: int


Node = Lit | Col | Neg | Arith | Cmp | In | IsNull | Not | Logic


class Comparison(NamedTuple):
    """One comparison a rule makes: ``column`` (None when that side is not a bare column)
    against ``other``: a literal kind (int, float, string, bool, null), ``column`` or ``expression``."""

    op: str  # ==, !=, <, <=, >, >=, in, not in
    column: str | None
    other: str
    other_column: str | None
    pos: int


@dataclass
class Rule:
    """One parsed rule: its name, source text, the keep-expression and the columns it reads."""

    name: str
    source: str
    expr: pl.Expr
    columns: set[str] = field(default_factory=set)
    tree: Node | None = None
    _by_schema: dict[tuple[Any, ...], pl.Expr] = field(default_factory=dict, repr=False)

    def expr_for(self, schema: Mapping[str, pl.DataType]) -> pl.Expr:
        """The keep-expression for frames of this schema (a list after ``in`` is cast to the
        column's type, which polars requires); cached per dtype of the columns read."""
        if self.tree is None:
            return self.expr
        key = tuple(str(schema.get(c)) for c in sorted(self.columns))
        if key not in self._by_schema:
            kinds = {c: dtype_kind(schema.get(c)) for c in self.columns}
            self._by_schema[key] = _compile(self.tree, kinds).alias(self.name)
        return self._by_schema[key]

    def comparisons(self) -> list[Comparison]:
        """Every comparison (``==`` ... ``>=``, ``in``) with what it compares the column to."""
        return [] if self.tree is None else list(_comparisons(self.tree))

    def type_problems(self, schema: Mapping[str, pl.DataType | None]) -> list[tuple[str, int]]:
        """(message, position) for each misuse of a column's type; None types are not checked.

        Messages read like ``column m is Int64, compared with a string``.
        """
        if self.tree is None:
            return []
        checker = _TypeChecker(schema)
        checker.condition(checker.kind(self.tree), self.tree)
        return checker.problems


class _RuleSyntaxError(Exception):
    """A rule that cannot compile: ``syntax`` (grammar), ``limit`` (size, nesting) or ``literal``
    (a value out of range); ``pos`` is None when no one position is at fault (the length)."""

    def __init__(self, message: str, pos: int | None, kind: str = "syntax") -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.kind = kind

    def describe(self, text: str) -> str:
        """``syntax error at position 6: unexpected character '='`` and the rule with a caret."""
        if self.pos is None:
            return self.message
        where = f"syntax error at position {self.pos + 1}" if self.kind == "syntax" else f"at position {self.pos + 1}"
        return f"{where}: {self.message}" + excerpt(text, self.pos)


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise _RuleSyntaxError(f"unexpected character {text[pos]!r}", pos)
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "name" and value.lower() in KEYWORDS:
            tokens.append(Token("keyword", value.lower(), pos))
        elif kind == "qname":
            tokens.append(Token("name", value[1:-1], pos))
        elif kind != "ws":
            tokens.append(Token(kind, value, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _number(token: Token, negative: bool) -> Lit:
    """A numeric literal, range-checked: integers fit Int64, floats are finite."""
    text = token.value
    sign = "-" if negative else ""
    pos = token.pos
    if re.search(r"[.eE]", text):
        value = float(text)
        if not math.isfinite(value):
            raise _RuleSyntaxError(f"number {sign}{text} is too large (numbers must be finite)", pos, "literal")
        return Lit(-value if negative else value, "float", pos)
    digits = text.lstrip("0") or "0"
    value_i = None if len(digits) > 19 else (-int(digits) if negative else int(digits))
    if value_i is None or not INT64_MIN <= value_i <= INT64_MAX:
        shown = f"{sign}{text}" if len(text) <= 30 else f"{sign}{text[:12]}...{text[-6:]} ({len(text)} digits)"
        raise _RuleSyntaxError(
            f"integer {shown} does not fit in 64 bits (from {INT64_MIN} to {INT64_MAX}); "
            "write it as a float (1e30) if a float will do",
            pos,
            "literal",
        )
    return Lit(value_i, "int", pos)


class _Parser:
    """Precedence climbing over the token list, building the syntax tree.

    Recursion happens only at a parenthesis, ``not`` or a minus sign (two frames each), and
    never deeper than ``MAX_DEPTH`` levels.
    """

    def __init__(self, text: str) -> None:
        if len(text) > MAX_RULE_CHARS:
            raise _RuleSyntaxError(
                f"the rule is {len(text):,} characters long; the limit is {MAX_RULE_CHARS:,}", None, "limit"
            )
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.nodes = 0
        self.columns: dict[str, int] = {}  # column name -> first position (for error carets)

    # -- helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _advance(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def _accept(self, kind: str, value: str | None = None) -> Token | None:
        t = self.tok
        if t.kind == kind and (value is None or t.value == value):
            self.i += 1
            return t
        return None

    def _expect(self, kind: str, value: str, what: str) -> Token:
        t = self._accept(kind, value)
        if t is None:
            raise _RuleSyntaxError(f"expected {what}, got {self._describe(self.tok)}", self.tok.pos)
        return t

    @staticmethod
    def _describe(t: Token) -> str:
        return "end of rule" if t.kind == "end" else repr(t.value)

    def _node(self, node: Node) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _RuleSyntaxError(
                f"the rule is too large: more than {MAX_NODES:,} columns, values and operators", node.pos, "limit"
            )
        if node.depth > MAX_DEPTH:
            raise _RuleSyntaxError(self._too_deep(), node.pos, "limit")
        return node

    @staticmethod
    def _too_deep() -> str:
        return (
            f"the rule nests deeper than {MAX_DEPTH} levels (each parenthesis, 'not', minus sign "
            "and operator in an arithmetic chain adds one)"
        )

    # -- grammar
    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise _RuleSyntaxError("empty rule", 0)
        node = self._expr(0, 0)
        if self.tok.kind != "end":
            raise _RuleSyntaxError(f"unexpected {self._describe(self.tok)}", self.tok.pos)
        return node

    def _expr(self, min_prec: int, nest: int) -> Node:
        left = self._prefix(min_prec, nest)
        compared = False
        while True:
            t = self.tok
            if t.kind == "keyword" and t.value in ("or", "and"):
                prec = _OR if t.value == "or" else _AND
                if prec < min_prec:
                    return left
                items = [left]
                while self._accept("keyword", t.value):
                    items.append(self._expr(prec + 1, nest))
                depth = 1 + max(n.depth for n in items)
                left = self._node(Logic(t.value, tuple(items), left.pos, depth))
                continue
            is_cmp = (t.kind == "op" and t.value in _CMP_OPS) or (
                t.kind == "keyword"
                and (t.value in ("in", "is") or (t.value == "not" and self.tokens[self.i + 1].value == "in"))
            )
            if is_cmp:
                if min_prec > _CMP:
                    return left
                if compared:  # comparisons do not chain: a < b < c
                    raise _RuleSyntaxError(f"unexpected {self._describe(t)}", t.pos)
                left = self._comparison(left, nest)
                compared = True
                continue
            if t.kind == "op" and t.value in _ARITH_PREC:
                prec = _ARITH_PREC[t.value]
                if prec < min_prec:
                    return left
                self._advance()
                right = self._expr(prec + 1, nest)
                left = self._node(Arith(t.value, left, right, t.pos, 1 + max(left.depth, right.depth)))
                continue
            return left

    def _comparison(self, left: Node, nest: int) -> Node:
        t = self._advance()
        if t.kind == "op":
            right = self._expr(_CMP + 1, nest)
            return self._node(Cmp(t.value, left, right, t.pos, 1 + max(left.depth, right.depth)))
        if t.value == "not":
            self._advance()  # in
            return self._node(In(left, *self._list(), True, t.pos, left.depth + 1))
        if t.value == "in":
            return self._node(In(left, *self._list(), False, t.pos, left.depth + 1))
        negate = self._accept("keyword", "not") is not None
        self._expect("keyword", "null", "'null' after 'is'")
        return self._node(IsNull(left, negate, t.pos, left.depth + 1))

    def _list(self) -> tuple[tuple[Any, ...], str]:
        start = self._expect("op", "[", "'[' starting a list after 'in'")
        values: list[Any] = []
        kinds: set[str] = set()
        while not self._accept("op", "]"):
            lit = self._literal()
            values.append(lit.value)
            kinds.add(lit.kind)
            if not self._accept("op", ","):
                self._expect("op", "]", "',' or ']' in the list")
                break
        kinds.discard("null")
        if len(kinds - {"int", "float"}) > 0 and len(kinds) > 1:
            raise _RuleSyntaxError("a list must hold values of one type", start.pos)
        if kinds == {"int", "float"}:
            values = [None if v is None else float(v) for v in values]
            kinds = {"float"}
        return tuple(values), (kinds.pop() if kinds else "null")

    def _literal(self) -> Lit:
        negative = self._accept("op", "-") is not None
        t = self._advance()
        if t.kind == "number":
            return _number(t, negative)
        if negative:
            raise _RuleSyntaxError("expected a number after '-'", t.pos)
        lit = self._simple_literal(t)
        if lit is None:
            raise _RuleSyntaxError(f"expected a literal value in the list, got {self._describe(t)}", t.pos)
        return lit

    @staticmethod
    def _simple_literal(t: Token) -> Lit | None:
        if t.kind == "string":
            return Lit(_unquote(t.value), "string", t.pos)
        if t.kind == "keyword" and t.value in ("true", "false"):
            return Lit(t.value == "true", "bool", t.pos)
        if t.kind == "keyword" and t.value == "null":
            return Lit(None, "null", t.pos)
        return None

    def _prefix(self, min_prec: int, nest: int) -> Node:
        t = self._advance()
        if t.kind == "op" and t.value == "-":
            if self.tok.kind == "number":  # fold: -9223372036854775808 fits, its magnitude does not
                return self._node(_number(self._advance(), True))
            if nest + 1 > MAX_DEPTH:
                raise _RuleSyntaxError(self._too_deep(), t.pos, "limit")
            operand = self._prefix(max(min_prec, _ARITH_PREC["*"] + 1), nest + 1)
            return self._node(Neg(operand, t.pos, operand.depth + 1))
        if t.kind == "keyword" and t.value == "not" and min_prec <= _NOT:
            if nest + 1 > MAX_DEPTH:
                raise _RuleSyntaxError(self._too_deep(), t.pos, "limit")
            operand = self._expr(_NOT, nest + 1)
            return self._node(Not(operand, t.pos, operand.depth + 1))
        if t.kind == "number":
            return self._node(_number(t, False))
        lit = self._simple_literal(t)
        if lit is not None:
            return self._node(lit)
        if t.kind == "name":
            self.columns.setdefault(t.value, t.pos)
            return self._node(Col(t.value, t.pos))
        if t.kind == "op" and t.value == "(":
            if nest + 1 > MAX_DEPTH:
                raise _RuleSyntaxError(self._too_deep(), t.pos, "limit")
            node = self._expr(0, nest + 1)
            self._expect("op", ")", "')'")
            return node
        raise _RuleSyntaxError(f"expected a column, a value or '(', got {self._describe(t)}", t.pos)


# ---------------------------------------------------------------- compiling


def dtype_kind(dtype: pl.DataType | None) -> str | None:
    """int, float, bool, string, null or None (unknown, or a type rules do not check)."""
    if dtype is None:
        return None
    if dtype.is_integer():
        return "int"
    if dtype.is_float() or dtype.is_decimal():
        return "float"
    if dtype == pl.Boolean:
        return "bool"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return "string"
    if dtype == pl.Null:
        return "null"
    return None


def _arith_kind(op: str, a: str | None, b: str | None) -> str | None:
    if "null" in (a, b):
        return "null"
    if a is None or b is None or not {a, b} <= {"int", "float", "bool"}:
        return None
    return "float" if op == "/" or "float" in (a, b) else "int"


def _static_kind(node: Node, kinds: Mapping[str, str | None]) -> str | None:
    """The kind of a numeric sub-expression, given column kinds (None: unknown)."""
    if isinstance(node, Lit):
        return node.kind
    if isinstance(node, Col):
        return kinds.get(node.name)
    if isinstance(node, Neg):
        return _static_kind(node.operand, kinds)
    if isinstance(node, Arith):
        return _arith_kind(node.op, _static_kind(node.left, kinds), _static_kind(node.right, kinds))
    return "bool"


def _in_list(node: In, operand: pl.Expr, kinds: Mapping[str, str | None]) -> pl.Expr:
    """``operand in values``: polars wants both sides of one type, so numbers meet as Int64
    (integers against integers, exact) or Float64 (anything else)."""
    series = pl.Series(list(node.values), dtype=pl.String if node.kind == "string" else None)
    if node.kind in ("int", "float", "bool"):
        operand_kind = _static_kind(node.operand, kinds)
        target: type[pl.DataType] | None = None
        if node.kind == "bool" and operand_kind == "bool":
            target = None
        elif node.kind in ("int", "bool") and operand_kind in ("int", "bool"):
            target = pl.Int64
            operand = operand.cast(pl.Int64, strict=False)  # a UInt64 beyond Int64 matches no literal
        elif operand_kind in ("int", "float", "bool", None):
            target = pl.Float64
            operand = operand.cast(pl.Float64)
        if target is not None:
            series = series.cast(target)
    out = operand.is_in(series.implode())
    return out.not_() if node.negate else out


def _compile(node: Node, kinds: Mapping[str, str | None]) -> pl.Expr:
    """The syntax tree as a polars expression (recursion is bounded by MAX_DEPTH)."""
    if isinstance(node, Lit):
        return pl.lit(node.value)
    if isinstance(node, Col):
        return pl.col(node.name)
    if isinstance(node, Neg):
        return -_compile(node.operand, kinds)
    if isinstance(node, Arith):
        a, b = _compile(node.left, kinds), _compile(node.right, kinds)
        return {"+": a.__add__, "-": a.__sub__, "*": a.__mul__, "/": a.__truediv__, "%": a.__mod__}[node.op](b)
    if isinstance(node, Cmp):
        a, b = _compile(node.left, kinds), _compile(node.right, kinds)
        ops = {"==": a.__eq__, "!=": a.__ne__, "<": a.__lt__, "<=": a.__le__, ">": a.__gt__, ">=": a.__ge__}
        return ops[node.op](b)
    if isinstance(node, In):
        return _in_list(node, _compile(node.operand, kinds), kinds)
    if isinstance(node, IsNull):
        inner = _compile(node.operand, kinds)
        return inner.is_not_null() if node.negate else inner.is_null()
    if isinstance(node, Not):
        return _compile(node.operand, kinds).not_()
    items = [_compile(n, kinds) for n in node.items]
    return pl.any_horizontal(items) if node.op == "or" else pl.all_horizontal(items)


# ---------------------------------------------------------------- plan-time type checks


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Neg | Not | In | IsNull):
        return (node.operand,)
    if isinstance(node, Arith | Cmp):
        return (node.left, node.right)
    if isinstance(node, Logic):
        return node.items
    return ()


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(_children(n)))


def _other(node: Node) -> tuple[str, str | None]:
    if isinstance(node, Lit):
        return node.kind, None
    if isinstance(node, Col):
        return "column", node.name
    return "expression", None


def _comparisons(tree: Node) -> Iterator[Comparison]:
    for n in _walk(tree):
        if isinstance(n, Cmp):
            for subject, other in ((n.left, n.right), (n.right, n.left)):
                if isinstance(subject, Col):
                    yield Comparison(n.op, subject.name, *_other(other), subject.pos)
                    break
            else:
                yield Comparison(n.op, None, *_other(n.right), n.pos)
        elif isinstance(n, In):
            column = n.operand.name if isinstance(n.operand, Col) else None
            yield Comparison("not in" if n.negate else "in", column, n.kind, None, n.operand.pos)


_WORDS = {"int": "a number", "float": "a number", "string": "a string", "bool": "a boolean", "null": "null"}
_GROUP = {"int": "number", "float": "number", "bool": "number", "string": "string"}


class _TypeChecker:
    """Infers each sub-expression's kind from the schema and records misuses (never raises)."""

    def __init__(self, schema: Mapping[str, pl.DataType | None]) -> None:
        self.schema = schema
        self.problems: list[tuple[str, int]] = []

    def _subject(self, node: Node, kind: str) -> str:
        if isinstance(node, Col):
            return f"column {node.name} is {self.schema.get(node.name)}"
        return f"this {'number' if _GROUP.get(kind) == 'number' else kind} expression"

    def _describe(self, node: Node, kind: str) -> str:
        if isinstance(node, Col):
            return f"column {node.name} ({self.schema.get(node.name)})"
        if isinstance(node, Lit):
            return _WORDS[kind]
        return f"a {_GROUP.get(kind, kind)} expression"

    def condition(self, kind: str | None, node: Node) -> None:
        """``node`` is used where true/false is needed (a rule, and/or/not)."""
        if kind in (None, "bool", "null"):
            return
        self.problems.append((f"{self._subject(node, kind)}, used as a condition (true/false)", node.pos))

    def kind(self, node: Node) -> str | None:
        if isinstance(node, Lit):
            return node.kind
        if isinstance(node, Col):
            return dtype_kind(self.schema.get(node.name))
        if isinstance(node, Neg | Arith):
            operands = (node.operand,) if isinstance(node, Neg) else (node.left, node.right)
            got = [self.kind(n) for n in operands]
            for n, k in zip(operands, got, strict=True):
                if k == "string":
                    self.problems.append((f"{self._subject(n, k)}, used in arithmetic", n.pos))
                    return None
            if isinstance(node, Neg):
                return got[0] if got[0] in ("int", "float", "null") else None
            return _arith_kind(node.op, got[0], got[1])
        if isinstance(node, Cmp):
            self._compare(node.left, self.kind(node.left), node.right, self.kind(node.right))
            return "bool"
        if isinstance(node, In):
            kind = self.kind(node.operand)
            if kind is not None and node.kind != "null" and _GROUP.get(kind) != _GROUP.get(node.kind):
                what = {"string": "strings", "bool": "booleans"}.get(node.kind, "numbers")
                self.problems.append((f"{self._subject(node.operand, kind)}, compared with a list of {what}", node.operand.pos))
            return "bool"
        if isinstance(node, IsNull):
            self.kind(node.operand)
            return "bool"
        if isinstance(node, Not):
            self.condition(self.kind(node.operand), node.operand)
            return "bool"
        for item in node.items:
            self.condition(self.kind(item), item)
        return "bool"

    def _compare(self, left: Node, lk: str | None, right: Node, rk: str | None) -> None:
        if lk is None or rk is None or "null" in (lk, rk) or _GROUP.get(lk) == _GROUP.get(rk):
            return
        if _GROUP.get(lk) is None or _GROUP.get(rk) is None:
            return
        if not isinstance(left, Col) and isinstance(right, Col):
            left, lk, right, rk = right, rk, left, lk
        self.problems.append((f"{self._subject(left, lk)}, compared with {self._describe(right, rk)}", left.pos))


# ---------------------------------------------------------------- entry points


def excerpt(text: str, pos: int, width: int = 72) -> str:
    """Two indented lines: the rule (a window around ``pos`` when long) and a caret under ``pos``."""
    flat = re.sub(r"\s", " ", text)
    start, end = 0, len(flat)
    if len(flat) > width:
        start = max(0, min(pos - width // 2, len(flat) - width))
        end = start + width
    line = flat[start:end]
    offset = pos - start
    if start > 0:
        line, offset = "..." + line, offset + 3
    if end < len(flat):
        line += "..."
    return f"\n    {line}\n    {' ' * offset}^"


def rule_syntax_error(text: str) -> str | None:
    """What is wrong with ``text`` (syntax, a limit, a literal's range) with a caret, else None."""
    try:
        _Parser(text).parse()
    except _RuleSyntaxError as err:
        return err.describe(text)
    return None


def parse_rule(
    name: str, text: str, known_columns: Iterable[str] | None = None, *, where: str | None = None
) -> Rule:
    """Compile one named rule; raise ConfigError naming the rule, the position and the columns.

    With ``known_columns`` every column the rule reads must be among them (checked at plan
    time, before any data is read). ``where`` names the rule in messages (default
    ``filter rule 'NAME'``; the planner passes ``stages[2].filter.rules.NAME``).
    """
    label = where or f"filter rule {name!r}"
    known = sorted(set(known_columns)) if known_columns is not None else None
    hint = f"known columns: {', '.join(known)}" if known is not None else None
    if not isinstance(text, str):
        raise ConfigError(f"{label}: expected an expression string (got {text!r})")
    try:
        parser = _Parser(text)
        tree = parser.parse()
    except _RuleSyntaxError as err:
        raise ConfigError(
            f"{label}: {err.describe(text)}",
            hint=hint or "rules use comparisons, and/or/not, in [...], arithmetic and column names",
        ) from None
    if known is not None:
        for column, pos in parser.columns.items():
            if column not in known:
                raise ConfigError(
                    f"{label}: unknown column {column!r} at position {pos + 1}" + excerpt(text, pos),
                    hint=hint,
                )
    expr = _compile(tree, {}).alias(name)
    return Rule(name=name, source=text, expr=expr, columns=set(parser.columns), tree=tree)


def rule_columns(text: str) -> set[str]:
    """The columns a rule reads (for planning); syntax errors surface later from parse_rule."""
    try:
        parser = _Parser(text)
        parser.parse()
    except _RuleSyntaxError:
        return set()
    return set(parser.columns)
