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
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from curate.errors import ConfigError

KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false"})

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


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, keyword, op, end
    value: str
    pos: int


@dataclass
class Rule:
    """One parsed rule: its name, source text, the keep-expression and the columns it reads."""

    name: str
    source: str
    expr: pl.Expr
    columns: set[str] = field(default_factory=set)


class _RuleSyntaxError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


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


class _Parser:
    """Recursive descent over the token list; builds polars expressions as it goes."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
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

    # -- grammar
    def parse(self) -> pl.Expr:
        if self.tok.kind == "end":
            raise _RuleSyntaxError("empty rule", 0)
        expr = self._or()
        if self.tok.kind != "end":
            raise _RuleSyntaxError(f"unexpected {self._describe(self.tok)}", self.tok.pos)
        return expr

    def _or(self) -> pl.Expr:
        expr = self._and()
        while self._accept("keyword", "or"):
            expr = expr | self._and()
        return expr

    def _and(self) -> pl.Expr:
        expr = self._not()
        while self._accept("keyword", "and"):
            expr = expr & self._not()
        return expr

    def _not(self) -> pl.Expr:
        if self._accept("keyword", "not"):
            return self._not().not_()
        return self._comparison()

    def _comparison(self) -> pl.Expr:
        left = self._sum()
        t = self.tok
        if t.kind == "op" and t.value in ("==", "!=", "<", "<=", ">", ">="):
            self._advance()
            right = self._sum()
            ops = {
                "==": left.__eq__, "!=": left.__ne__, "<": left.__lt__,
                "<=": left.__le__, ">": left.__gt__, ">=": left.__ge__,
            }
            return ops[t.value](right)
        if t.kind == "keyword" and t.value == "not" and self.tokens[self.i + 1].value == "in":
            self.i += 2
            return left.is_in(self._list()).not_()
        if self._accept("keyword", "in"):
            return left.is_in(self._list())
        if self._accept("keyword", "is"):
            negate = self._accept("keyword", "not") is not None
            self._expect("keyword", "null", "'null' after 'is'")
            return left.is_not_null() if negate else left.is_null()
        return left

    def _list(self) -> pl.Series:
        start = self._expect("op", "[", "'[' starting a list after 'in'")
        values: list[Any] = []
        while not self._accept("op", "]"):
            values.append(self._literal_value())
            if not self._accept("op", ","):
                self._expect("op", "]", "',' or ']' in the list")
                break
        kinds = {type(v) for v in values if v is not None}
        if len(kinds - {int, float}) > 0 and len(kinds) > 1:
            raise _RuleSyntaxError("a list must hold values of one type", start.pos)
        if kinds <= {int, float} and float in kinds:
            values = [None if v is None else float(v) for v in values]
        return pl.Series(values)

    def _literal_value(self) -> Any:
        negative = self._accept("op", "-") is not None
        t = self._advance()
        if t.kind == "number":
            value: Any = float(t.value) if re.search(r"[.eE]", t.value) else int(t.value)
            return -value if negative else value
        if negative:
            raise _RuleSyntaxError("expected a number after '-'", t.pos)
        if t.kind == "string":
            return _unquote(t.value)
        if t.kind == "keyword" and t.value in ("true", "false"):
            return t.value == "true"
        if t.kind == "keyword" and t.value == "null":
            return None
        raise _RuleSyntaxError(f"expected a literal value in the list, got {self._describe(t)}", t.pos)

    def _sum(self) -> pl.Expr:
        expr = self._product()
        while self.tok.kind == "op" and self.tok.value in ("+", "-"):
            op = self._advance().value
            right = self._product()
            expr = expr + right if op == "+" else expr - right
        return expr

    def _product(self) -> pl.Expr:
        expr = self._unary()
        while self.tok.kind == "op" and self.tok.value in ("*", "/", "%"):
            op = self._advance().value
            right = self._unary()
            expr = expr * right if op == "*" else (expr / right if op == "/" else expr % right)
        return expr

    def _unary(self) -> pl.Expr:
        if self._accept("op", "-"):
            return -self._unary()
        return self._atom()

    def _atom(self) -> pl.Expr:
        t = self._advance()
        if t.kind == "number":
            return pl.lit(float(t.value) if re.search(r"[.eE]", t.value) else int(t.value))
        if t.kind == "string":
            return pl.lit(_unquote(t.value))
        if t.kind == "keyword" and t.value in ("true", "false"):
            return pl.lit(t.value == "true")
        if t.kind == "keyword" and t.value == "null":
            return pl.lit(None)
        if t.kind == "name":
            self.columns.setdefault(t.value, t.pos)
            return pl.col(t.value)
        if t.kind == "op" and t.value == "(":
            expr = self._or()
            self._expect("op", ")", "')'")
            return expr
        raise _RuleSyntaxError(f"expected a column, a value or '(', got {self._describe(t)}", t.pos)


def _caret(text: str, pos: int) -> str:
    return f"\n    {text}\n    {' ' * pos}^"


def parse_rule(name: str, text: str, known_columns: Iterable[str] | None = None) -> Rule:
    """Compile one named rule; raise ConfigError naming the rule, the position and the columns.

    With ``known_columns`` every column the rule reads must be among them (checked at plan
    time, before any data is read).
    """
    known = sorted(set(known_columns)) if known_columns is not None else None
    hint = f"known columns: {', '.join(known)}" if known is not None else None
    if not isinstance(text, str):
        raise ConfigError(f"filter rule {name!r}: expected an expression string (got {text!r})")
    try:
        parser = _Parser(text)
        expr = parser.parse()
    except _RuleSyntaxError as err:
        raise ConfigError(
            f"filter rule {name!r}: syntax error at position {err.pos + 1}: {err.message}"
            + _caret(text, err.pos),
            hint=hint or "rules use comparisons, and/or/not, in [...], arithmetic and column names",
        ) from None
    if known is not None:
        for column, pos in parser.columns.items():
            if column not in known:
                raise ConfigError(
                    f"filter rule {name!r}: unknown column {column!r} at position {pos + 1}"
                    + _caret(text, pos),
                    hint=hint,
                )
    return Rule(name=name, source=text, expr=expr.alias(name), columns=set(parser.columns))


def rule_columns(text: str) -> set[str]:
    """The columns a rule reads (for planning); syntax errors surface later from parse_rule."""
    try:
        parser = _Parser(text)
        parser.parse()
    except _RuleSyntaxError:
        return set()
    return set(parser.columns)
