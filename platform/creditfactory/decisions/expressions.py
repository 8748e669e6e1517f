"""The rule expression language: tokenised, parsed, type-checked against the facts catalogue, compiled to closures.

Never ``eval``: user text becomes an AST, the AST is checked, and each node becomes a small Python closure.

Expressions (rules' ``when``, table input columns, outputs)::

    ipc.repayment_ratio > 0.7 and business.years_in_business < 2
    applicant.age in [18..65]            bureau.score between 550 and 700
    channel.code in ['app', 'wechat']    channel.code not in ['partner']
    bureau.report_date is null           coalesce(household.other_income, 0) + business.net_profit
    days_between(history.last_loan_end, application.date) < 90
    application.date - applicant.birth_date >= 6570     add_months(application.date, 12)

Null handling is SQL-like: arithmetic and comparisons with a missing value give null, ``and``/``or`` use
three-valued logic, and a rule whose condition is null does not fire. Dates minus dates are days; a date
plus or minus a number moves it by days.

Unary tests (decision-table cells; the GoRules JDM subset) test the column's value: empty (any),
``< 5``, ``>= 0.5``, ``[18..25]``, ``(1..3]``, ``'a', 'b'`` (one of), ``"x"``, ``5``, ``== 5``, ``!= 'a'``,
``in ['a', 'b']``, ``not in ['a', 'b']``, ``null``. Items separated by commas are alternatives.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import DomainError
from .facts import CATALOGUE, FactCatalogue, FactType


class RuleSyntaxError(DomainError):
    """A rule's text is refused; ``position`` is the 1-based character offset of the problem."""

    def __init__(self, message: str, position: int, text: str = "", where: str = ""):
        self.position = position
        self.text = text
        self.where = where
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{message} at position {position}" + (f" in {text!r}" if text else ""))


# --- tokens -------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>\.\.|==|!=|<=|>=|<|>|\+|-|\*|/|%|\(|\)|\[|\]|,|\$)
""", re.VERBOSE)

KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false", "between"}


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op, kw, end
    value: Any
    pos: int  # 1-based


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:
            raise RuleSyntaxError(f"unexpected character {text[i]!r}", i + 1, text)
        kind = m.lastgroup
        raw = m.group()
        if kind == "number":
            tokens.append(Token("number", float(raw) if any(c in raw for c in ".eE") else int(raw), i + 1))
        elif kind == "string":
            body = raw[1:-1]
            tokens.append(Token("string", re.sub(r"\\(.)", r"\1", body), i + 1))
        elif kind == "name":
            tokens.append(Token("kw" if raw in KEYWORDS else "name", raw, i + 1))
        elif kind == "op":
            tokens.append(Token("op", raw, i + 1))
        i = m.end()
    tokens.append(Token("end", None, len(text) + 1))
    return tokens


# --- AST ----------------------------------------------------------------------------------------------

@dataclass
class Node:
    pos: int


@dataclass
class Literal(Node):
    value: Any
    type: str  # number, string, boolean, date, null


@dataclass
class FactRef(Node):
    name: str


@dataclass
class Unary(Node):
    op: str
    operand: Node


@dataclass
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass
class InList(Node):
    operand: Node
    items: list[Node]
    negated: bool


@dataclass
class InRange(Node):
    operand: Node
    low: Node
    high: Node
    low_inclusive: bool
    high_inclusive: bool
    negated: bool = False


@dataclass
class IsNull(Node):
    operand: Node
    negated: bool


@dataclass
class Call(Node):
    name: str
    args: list[Node]


@dataclass
class Placeholder(Node):
    """``$``: the column's value inside a unary test."""


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, token: Token | None = None) -> RuleSyntaxError:
        return RuleSyntaxError(message, (token or self.tok).pos, self.text)

    def take(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def at(self, kind: str, value: Any = None) -> bool:
        t = self.tok
        return t.kind == kind and (value is None or t.value == value)

    def expect(self, kind: str, value: Any = None) -> Token:
        if not self.at(kind, value):
            found = "end of text" if self.tok.kind == "end" else repr(self.tok.value)
            raise self.error(f"expected {value or kind}, found {found}")
        return self.take()

    def parse_all(self) -> Node:
        if self.at("end"):
            raise self.error("empty expression")
        node = self.parse_or()
        if not self.at("end"):
            raise self.error(f"unexpected {self.tok.value!r}")
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.at("kw", "or"):
            t = self.take()
            node = Binary(t.pos, "or", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_not()
        while self.at("kw", "and"):
            t = self.take()
            node = Binary(t.pos, "and", node, self.parse_not())
        return node

    def parse_not(self) -> Node:
        if self.at("kw", "not"):
            t = self.take()
            return Unary(t.pos, "not", self.parse_not())
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_additive()
        t = self.tok
        if t.kind == "op" and t.value in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            return Binary(t.pos, t.value, left, self.parse_additive())
        if self.at("kw", "in"):
            self.take()
            return self.parse_in_target(left, t.pos, negated=False)
        if self.at("kw", "not") and self.tokens[self.i + 1].kind == "kw" and self.tokens[self.i + 1].value == "in":
            self.take()
            self.take()
            return self.parse_in_target(left, t.pos, negated=True)
        if self.at("kw", "is"):
            self.take()
            negated = bool(self.at("kw", "not") and self.take())
            self.expect("kw", "null")
            return IsNull(t.pos, left, negated)
        if self.at("kw", "between"):
            self.take()
            low = self.parse_additive()
            self.expect("kw", "and")
            high = self.parse_additive()
            return InRange(t.pos, left, low, high, True, True)
        return left

    def parse_in_target(self, operand: Node, pos: int, negated: bool) -> Node:
        opener = self.tok
        if not (opener.kind == "op" and opener.value in ("[", "(")):
            raise self.error("expected a list [a, b] or a range [a..b] after 'in'")
        self.take()
        first = self.parse_additive()
        if self.at("op", ".."):
            self.take()
            high = self.parse_additive()
            closer = self.tok
            if not (closer.kind == "op" and closer.value in ("]", ")")):
                raise self.error("expected ] or ) to close the range")
            self.take()
            return InRange(pos, operand, first, high, opener.value == "[", closer.value == "]", negated)
        if opener.value != "[":
            raise self.error("a list is written [a, b, c]", opener)
        items = [first]
        while self.at("op", ","):
            self.take()
            items.append(self.parse_additive())
        self.expect("op", "]")
        return InList(pos, operand, items, negated)

    def parse_additive(self) -> Node:
        node = self.parse_multiplicative()
        while self.tok.kind == "op" and self.tok.value in ("+", "-"):
            t = self.take()
            node = Binary(t.pos, t.value, node, self.parse_multiplicative())
        return node

    def parse_multiplicative(self) -> Node:
        node = self.parse_unary()
        while self.tok.kind == "op" and self.tok.value in ("*", "/", "%"):
            t = self.take()
            node = Binary(t.pos, t.value, node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self.at("op", "-"):
            t = self.take()
            operand = self.parse_unary()
            if isinstance(operand, Literal) and operand.type == "number":
                return Literal(t.pos, -operand.value, "number")
            return Unary(t.pos, "-", operand)
        return self.parse_primary()

    def parse_primary(self) -> Node:
        t = self.tok
        if t.kind == "number":
            self.take()
            return Literal(t.pos, t.value, "number")
        if t.kind == "string":
            self.take()
            return Literal(t.pos, t.value, "string")
        if t.kind == "kw" and t.value in ("true", "false"):
            self.take()
            return Literal(t.pos, t.value == "true", "boolean")
        if t.kind == "kw" and t.value == "null":
            self.take()
            return Literal(t.pos, None, "null")
        if t.kind == "op" and t.value == "$":
            self.take()
            return Placeholder(t.pos)
        if t.kind == "op" and t.value == "(":
            self.take()
            node = self.parse_or()
            self.expect("op", ")")
            return node
        if t.kind == "name":
            self.take()
            if self.at("op", "("):
                self.take()
                args: list[Node] = []
                if not self.at("op", ")"):
                    args.append(self.parse_or())
                    while self.at("op", ","):
                        self.take()
                        args.append(self.parse_or())
                self.expect("op", ")")
                if t.value == "date" and len(args) == 1 and isinstance(args[0], Literal) and args[0].type == "string":
                    try:
                        return Literal(t.pos, dt.date.fromisoformat(args[0].value), "date")
                    except ValueError:
                        raise RuleSyntaxError(f"not a date (YYYY-MM-DD): {args[0].value!r}", args[0].pos,
                                              self.text) from None
                return Call(t.pos, t.value, args)
            return FactRef(t.pos, t.value)
        if t.kind == "end":
            raise self.error("unexpected end of text")
        raise self.error(f"unexpected {t.value!r}")


def parse(text: str) -> Node:
    """The AST of an expression, or :class:`RuleSyntaxError` with the position."""
    return _Parser(text).parse_all()


# --- types and compilation ----------------------------------------------------------------------------

Fn = Callable[[dict], Any]

_FUNCTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    # name: (argument types, result type); "same" = the type of the first argument
    "days_between": (("date", "date"), "number"),
    "years_between": (("date", "date"), "number"),
    "add_days": (("date", "number"), "date"),
    "add_months": (("date", "number"), "date"),
    "abs": (("number",), "number"),
    "round": (("number", "number"), "number"),
    "min": (("number", "number"), "number"),
    "max": (("number", "number"), "number"),
    "coalesce": (("any", "same"), "same"),
    "date": (("string",), "date"),
}


def _add_months(d: dt.date, n: float) -> dt.date:
    months = d.year * 12 + d.month - 1 + int(n)
    year, month = divmod(months, 12)
    month += 1
    days = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.date(year, month, 1)).days
    return dt.date(year, month, min(d.day, days))


def _years_between(a: dt.date, b: dt.date) -> int:
    years = b.year - a.year
    if (b.month, b.day) < (a.month, a.day):
        years -= 1
    return years


def _round_half_up(x: float, n: float) -> float:
    factor = 10 ** int(n)
    return math.floor(abs(x) * factor + 0.5) / factor * (1 if x >= 0 else -1)


_IMPLEMENTATIONS: dict[str, Callable] = {
    "days_between": lambda a, b: (b - a).days,
    "years_between": _years_between,
    "add_days": lambda d, n: d + dt.timedelta(days=int(n)),
    "add_months": _add_months,
    "abs": abs,
    "round": _round_half_up,
    "min": min,
    "max": max,
    "date": lambda s: dt.date.fromisoformat(s),
}


@dataclass
class Compiled:
    """A compiled expression: ``fn(facts) -> value``, its type and the facts it reads."""

    fn: Fn
    type: str
    facts: frozenset[str] = field(default_factory=frozenset)
    constant: bool = False


class Compiler:
    """Type-checks an AST against a catalogue and turns it into closures.

    ``catalogue=None`` is the JDM mode: any dotted name is an input field of unknown type, checked at run
    time by the null-safe operators (a comparison across types is false, as in zen-engine).
    """

    def __init__(self, catalogue: FactCatalogue | None = CATALOGUE, text: str = "", where: str = ""):
        self.catalogue = catalogue
        self.text = text
        self.where = where

    def error(self, message: str, node: Node) -> RuleSyntaxError:
        return RuleSyntaxError(message, node.pos, self.text, self.where)

    def compile(self, node: Node) -> Compiled:
        method = getattr(self, "_" + type(node).__name__)
        return method(node)

    def _Literal(self, node: Literal) -> Compiled:
        value = node.value
        return Compiled(lambda facts: value, node.type, frozenset(), True)

    def _Placeholder(self, node: Placeholder) -> Compiled:
        # Decision-table cells are compiled by tables.py, which reads "$" as the column's input itself; in an
        # expression of its own "$" stands for nothing.
        raise self.error("$ is only allowed in a decision-table cell", node)

    def _FactRef(self, node: FactRef) -> Compiled:
        name = node.name
        if self.catalogue is None:
            ftype = "any"
        else:
            fact = self.catalogue.get(name)
            if fact is None:
                raise self.error(f"unknown fact {name!r}", node)
            ftype = fact.type.value
        return Compiled(lambda facts: facts.get(name), ftype, frozenset([name]))

    def _check(self, expected: str, got: Compiled, node: Node, what: str) -> None:
        if got.type in ("any", "null") or expected == "any" or got.type == expected:
            return
        raise self.error(f"{what} must be a {expected}, not a {got.type}", node)

    def _Unary(self, node: Unary) -> Compiled:
        inner = self.compile(node.operand)
        f = inner.fn
        if node.op == "not":
            self._check("boolean", inner, node.operand, "the operand of 'not'")

            def fn(facts):
                v = f(facts)
                return None if v is None else not v
            return Compiled(fn, "boolean", inner.facts)
        self._check("number", inner, node.operand, "the operand of '-'")

        def neg(facts):
            v = f(facts)
            return None if v is None else -v
        return Compiled(neg, "number", inner.facts)

    def _Binary(self, node: Binary) -> Compiled:
        left, right = self.compile(node.left), self.compile(node.right)
        lf, rf = left.fn, right.fn
        used = left.facts | right.facts
        op = node.op
        if op in ("and", "or"):
            self._check("boolean", left, node.left, f"the left side of '{op}'")
            self._check("boolean", right, node.right, f"the right side of '{op}'")
            if op == "and":
                def fn(facts):
                    a = lf(facts)
                    if a is False:
                        return False
                    b = rf(facts)
                    if b is False:
                        return False
                    return None if a is None or b is None else True
            else:
                def fn(facts):
                    a = lf(facts)
                    if a is True:
                        return True
                    b = rf(facts)
                    if b is True:
                        return True
                    return None if a is None or b is None else False
            return Compiled(fn, "boolean", used)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            self._comparable(left, right, node, ordered=op not in ("==", "!="))
            return Compiled(_comparison(op, lf, rf), "boolean", used)
        result_type = self._arithmetic_type(op, left, right, node)
        return Compiled(_arithmetic(op, lf, rf, left.type, right.type), result_type, used)

    def _comparable(self, left: Compiled, right: Compiled, node: Binary | Node, ordered: bool) -> None:
        lt, rt = left.type, right.type
        if "any" in (lt, rt) or "null" in (lt, rt):
            if ordered and "null" in (lt, rt):
                raise self.error("use 'is null' to test for a missing value", node)
            return
        if lt != rt:
            raise self.error(f"cannot compare a {lt} with a {rt}", node)
        if ordered and lt in ("string", "boolean"):
            raise self.error(f"a {lt} has no order; use == or 'in'", node)

    def _arithmetic_type(self, op: str, left: Compiled, right: Compiled, node: Binary) -> str:
        lt, rt = left.type, right.type
        if "any" in (lt, rt):
            return "any"
        if lt == "number" and rt == "number":
            return "number"
        if op == "-" and lt == "date" and rt == "date":
            return "number"
        if op in ("+", "-") and lt == "date" and rt == "number":
            return "date"
        if op == "+" and lt == "number" and rt == "date":
            return "date"
        raise self.error(f"cannot apply '{op}' to a {lt} and a {rt}", node)

    def _InList(self, node: InList) -> Compiled:
        operand = self.compile(node.operand)
        items = [self.compile(item) for item in node.items]
        for item, item_node in zip(items, node.items):
            if not item.constant:
                raise self.error("list items must be literals", item_node)
            self._comparable(operand, item, item_node, ordered=False)
        values = frozenset(_key(item.fn({})) for item in items)
        f = operand.fn
        negated = node.negated

        def fn(facts):
            v = f(facts)
            if v is None:
                return None
            return (_key(v) in values) != negated
        return Compiled(fn, "boolean", operand.facts)

    def _InRange(self, node: InRange) -> Compiled:
        operand, low, high = self.compile(node.operand), self.compile(node.low), self.compile(node.high)
        self._comparable(operand, low, node.low, ordered=True)
        self._comparable(operand, high, node.high, ordered=True)
        f, lf, hf = operand.fn, low.fn, high.fn
        li, hi, negated = node.low_inclusive, node.high_inclusive, node.negated

        def fn(facts):
            v, lo, up = f(facts), lf(facts), hf(facts)
            if v is None or lo is None or up is None:
                return None
            try:
                inside = (lo <= v if li else lo < v) and (v <= up if hi else v < up)
            except TypeError:
                return False
            return inside != negated
        return Compiled(fn, "boolean", operand.facts | low.facts | high.facts)

    def _IsNull(self, node: IsNull) -> Compiled:
        operand = self.compile(node.operand)
        f, negated = operand.fn, node.negated
        return Compiled(lambda facts: (f(facts) is None) != negated, "boolean", operand.facts)

    def _Call(self, node: Call) -> Compiled:
        signature = _FUNCTIONS.get(node.name)
        if signature is None:
            raise self.error(f"unknown function {node.name!r}", node)
        arg_types, result = signature
        if len(node.args) != len(arg_types):
            raise self.error(f"{node.name}() takes {len(arg_types)} argument(s)", node)
        args = [self.compile(a) for a in node.args]
        for expected, arg, arg_node in zip(arg_types, args, node.args):
            self._check(args[0].type if expected == "same" else expected, arg, arg_node,
                        f"argument of {node.name}()")
        used = frozenset().union(*(a.facts for a in args))
        fns = [a.fn for a in args]
        if node.name == "coalesce":
            a, b = fns

            def coalesce(facts):
                v = a(facts)
                return b(facts) if v is None else v
            return Compiled(coalesce, args[0].type if args[0].type != "null" else args[1].type, used)
        impl = _IMPLEMENTATIONS[node.name]

        def call(facts):
            values = [g(facts) for g in fns]
            if any(v is None for v in values):
                return None
            try:
                return impl(*values)
            except (TypeError, ValueError, OverflowError, AttributeError):
                return None
        return Compiled(call, result, used)


def _key(value: Any) -> Any:
    """Set-membership key: keeps True apart from 1 (Python's hash equality would merge them)."""
    return ("bool", value) if value is True or value is False else value


def _comparison(op: str, lf: Fn, rf: Fn) -> Fn:
    if op == "==":
        def fn(facts):
            a, b = lf(facts), rf(facts)
            if a is None or b is None:
                return (a is None) == (b is None) if (a is None and b is None) else None
            return _key(a) == _key(b)
    elif op == "!=":
        def fn(facts):
            a, b = lf(facts), rf(facts)
            if a is None or b is None:
                return None if not (a is None and b is None) else False
            return _key(a) != _key(b)
    else:
        import operator

        cmp = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]

        def fn(facts):
            a, b = lf(facts), rf(facts)
            if a is None or b is None:
                return None
            if a.__class__ is bool or b.__class__ is bool:
                return False
            try:
                return cmp(a, b)
            except TypeError:
                return False
    return fn


def _arithmetic(op: str, lf: Fn, rf: Fn, lt: str, rt: str) -> Fn:
    def fn(facts):
        a, b = lf(facts), rf(facts)
        if a is None or b is None:
            return None
        try:
            if op == "+":
                if isinstance(a, dt.date) and not isinstance(b, dt.date):
                    return a + dt.timedelta(days=int(b))
                if isinstance(b, dt.date) and not isinstance(a, dt.date):
                    return b + dt.timedelta(days=int(a))
                return a + b
            if op == "-":
                if isinstance(a, dt.date):
                    if isinstance(b, dt.date):
                        return (a - b).days
                    return a - dt.timedelta(days=int(b))
                return a - b
            if op == "*":
                return a * b
            if op == "/":
                return None if b == 0 else a / b
            return None if b == 0 else a % b
        except TypeError:
            return None
    return fn


def compile_expression(text: str, *, catalogue: FactCatalogue | None = CATALOGUE, expect: str | None = None,
                       where: str = "") -> Compiled:
    """Parse, type-check and compile ``text``; ``expect`` ("boolean"...) checks the result type."""
    try:
        node = parse(text)
    except RuleSyntaxError as exc:
        raise RuleSyntaxError(str(exc).split(" at position")[0], exc.position, text, where) from None
    compiled = Compiler(catalogue, text, where).compile(node)
    if expect and compiled.type not in (expect, "any", "null"):
        raise RuleSyntaxError(f"must be a {expect} expression, not a {compiled.type}", 1, text, where)
    return compiled


def fact_type_name(t: FactType) -> str:
    return t.value


__all__ = ["Compiled", "Compiler", "RuleSyntaxError", "compile_expression", "parse", "tokenize"]
