"""Decision tables (决策表): typed input columns, unary-test cells, outputs, hit policies; compiled to bitsets.

Why bitsets: a stage holds thousands of rows over a dozen columns, and almost every cell is a range or a
set test against one value. For each column the compiler cuts the value line at every threshold any row
uses and stores, for each piece, one Python integer whose bit *r* says "row *r* accepts a value here".
Evaluating a table is then, per column, one binary search and one ``&`` of two integers: the cost grows
with the number of columns, not rows; the bits left standing are every matching row, in order, so every
fired reason comes for free.
"""

from __future__ import annotations

import gc
import math
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any, Callable

from .expressions import (Compiler, InList, InRange, Literal, Node, Placeholder, RuleSyntaxError, _Parser, _key,
                          compile_expression)
from .facts import FactCatalogue, CATALOGUE

HIT_POLICIES = ("first", "collect", "priority", "unique")

_NEG_INF, _POS_INF = -math.inf, math.inf


class HitPolicyViolation(Exception):
    """A ``unique`` table matched more than one row for one input (a rule-set bug, not bad input)."""


# --- cells ---------------------------------------------------------------------------------------------

@dataclass
class CellTest:
    """What one cell accepts: numeric/date intervals, discrete values, null; empty means any."""

    any: bool = False
    intervals: list[tuple[Any, bool, Any, bool]] = field(default_factory=list)
    num_negative: bool = False  # a '!=' / 'not in' over numbers: non-numbers pass too
    positives: set = field(default_factory=set)
    disc_negative: bool = False
    negatives: set | None = None  # intersection of the 'not in' sets
    null_pass: bool = False
    kinds: set = field(default_factory=set)  # "number", "date", "string", "boolean"

    def accepts(self, value: Any) -> bool:
        """Reference semantics, used by tests and to check the bitset index."""
        if self.any:
            return True
        if value is None:
            return self.null_pass
        if isinstance(value, (str, bool)):
            k = _key(value)
            return k in self.positives or (self.disc_negative and k not in (self.negatives or set())) \
                or self.numbers_negative_only
        for lo, li, hi, hinc in self.intervals:
            try:
                if (lo < value or (li and lo == value)) and (value < hi or (hinc and value == hi)):
                    return True
            except TypeError:
                return False
        return self.discrete_negative_only

    @property
    def numbers_negative_only(self) -> bool:
        """'!= 5' or 'not in [1, 2]' alone: a string or boolean passes (it is not one of those numbers)."""
        return self.num_negative and not (self.kinds & {"string", "boolean"})

    @property
    def discrete_negative_only(self) -> bool:
        """'!= \'a\'' alone: a number passes."""
        return self.disc_negative and not (self.kinds & {"number", "date"})


def _literal_kind(node: Node, text: str) -> tuple[str, Any]:
    if isinstance(node, Literal):
        if node.type == "null":
            return "null", None
        return node.type, node.value
    raise RuleSyntaxError("a cell compares with literals only", node.pos, text)


def _complement(value: Any) -> list[tuple[Any, bool, Any, bool]]:
    return [(_NEG_INF, False, value, False), (value, False, _POS_INF, False)]


#: The two cell forms most rows use, '< 0.25' and '[550..700]', read without the tokenizer (the same numbers:
#: int unless written with a point, as the tokenizer reads them). Anything else takes the full parser.
_SIMPLE_COMPARISON = re.compile(r"(<=|>=|<|>)[ \t]*(-?)[ \t]*(\d+(?:\.\d+)?)")
_SIMPLE_RANGE = re.compile(r"([\[(])[ \t]*(-?)[ \t]*(\d+(?:\.\d+)?)[ \t]*\.\.[ \t]*(-?)[ \t]*(\d+(?:\.\d+)?)[ \t]*([\])])")


def _number(sign: str, digits: str) -> int | float:
    value = float(digits) if "." in digits else int(digits)
    return -value if sign else value


def parse_cell(text: str) -> CellTest:
    """A unary-test cell as a :class:`CellTest`; refusals carry the position in the cell."""
    text = (text or "").strip()
    cell = CellTest()
    if text in ("", "-"):
        cell.any = True
        return cell
    simple = _SIMPLE_COMPARISON.fullmatch(text)
    if simple is not None:
        op, sign, digits = simple.groups()
        value = _number(sign, digits)
        cell.kinds.add("number")
        cell.intervals.append({"<": (_NEG_INF, False, value, False), "<=": (_NEG_INF, False, value, True),
                               ">": (value, False, _POS_INF, False), ">=": (value, True, _POS_INF, False)}[op])
        return cell
    simple = _SIMPLE_RANGE.fullmatch(text)
    if simple is not None:
        opener, low_sign, low, high_sign, high, closer = simple.groups()
        cell.kinds.add("number")
        cell.intervals.append((_number(low_sign, low), opener == "[", _number(high_sign, high), closer == "]"))
        return cell
    parser = _Parser(text)
    while True:
        _parse_item(parser, cell, text)
        if parser.at("op", ","):
            parser.take()
            continue
        if not parser.at("end"):
            raise parser.error(f"unexpected {parser.tok.value!r}")
        return cell


def _add_point(cell: CellTest, kind: str, value: Any, negative: bool) -> None:
    if kind in ("number", "date"):
        cell.kinds.add(kind)
        if negative:
            cell.intervals.extend(_complement(value))
            cell.num_negative = True
            cell.null_pass = True
        else:
            cell.intervals.append((value, True, value, True))
    elif kind in ("string", "boolean"):
        cell.kinds.add(kind)
        if negative:
            cell.disc_negative = True
            cell.null_pass = True
            cell.negatives = {_key(value)} if cell.negatives is None else cell.negatives & {_key(value)}
        else:
            cell.positives.add(_key(value))
    elif kind == "null":
        if negative:
            cell.any = False
            cell.intervals.append((_NEG_INF, False, _POS_INF, False))
            cell.disc_negative = True
            cell.negatives = set() if cell.negatives is None else cell.negatives & set()
        else:
            cell.null_pass = True


def _parse_item(parser: _Parser, cell: CellTest, text: str) -> None:
    t = parser.tok
    if t.kind == "op" and t.value in ("<", "<=", ">", ">="):
        parser.take()
        kind, value = _literal_kind(parser.parse_additive(), text)
        if kind not in ("number", "date"):
            raise RuleSyntaxError(f"'{t.value}' needs a number or a date, not a {kind}", t.pos, text)
        cell.kinds.add(kind)
        cell.intervals.append({"<": (_NEG_INF, False, value, False), "<=": (_NEG_INF, False, value, True),
                               ">": (value, False, _POS_INF, False), ">=": (value, True, _POS_INF, False)}[t.value])
        return
    if t.kind == "op" and t.value in ("==", "!="):
        parser.take()
        kind, value = _literal_kind(parser.parse_additive(), text)
        _add_point(cell, kind, value, t.value == "!=")
        return
    if t.kind == "kw" and t.value in ("in", "not"):
        negative = t.value == "not"
        parser.take()
        if negative:
            parser.expect("kw", "in")
        node = parser.parse_in_target(Placeholder(t.pos), t.pos, negative)
        _add_collection(cell, node, text)
        return
    if t.kind == "op" and t.value in ("[", "("):
        node = parser.parse_in_target(Placeholder(t.pos), t.pos, False)
        if not isinstance(node, InRange):
            raise RuleSyntaxError("a list in a cell is written 'a', 'b' or in [a, b]", t.pos, text)
        _add_collection(cell, node, text)
        return
    kind, value = _literal_kind(parser.parse_additive(), text)
    _add_point(cell, kind, value, False)


def _add_collection(cell: CellTest, node: Node, text: str) -> None:
    if isinstance(node, InRange):
        lk, lo = _literal_kind(node.low, text)
        hk, hi = _literal_kind(node.high, text)
        if lk != hk or lk not in ("number", "date"):
            raise RuleSyntaxError("a range needs two numbers or two dates", node.pos, text)
        cell.kinds.add(lk)
        if node.negated:
            cell.intervals.extend([(_NEG_INF, False, lo, not node.low_inclusive),
                                   (hi, not node.high_inclusive, _POS_INF, False)])
            cell.num_negative = True
            cell.null_pass = True
        else:
            cell.intervals.append((lo, node.low_inclusive, hi, node.high_inclusive))
        return
    assert isinstance(node, InList)
    if node.negated:
        values = [_literal_kind(item, text) for item in node.items]
        disc = {_key(v) for k, v in values if k in ("string", "boolean")}
        nums = sorted({v for k, v in values if k in ("number", "date")})
        cell.null_pass = True
        for k, _ in values:
            if k != "null":
                cell.kinds.add(k)
        if any(k == "null" for k, _ in values):
            cell.null_pass = False
        # not in [a, b] accepts every value but those: numbers outside the points, any other discrete value
        cell.disc_negative = True
        cell.negatives = disc if cell.negatives is None else cell.negatives & disc
        edges = [_NEG_INF, *nums, _POS_INF]
        for lo, hi in zip(edges, edges[1:]):
            cell.intervals.append((lo, False, hi, False))
        cell.num_negative = True
        return
    for item in node.items:
        kind, value = _literal_kind(item, text)
        _add_point(cell, kind, value, False)


# --- the column index ----------------------------------------------------------------------------------

@dataclass
class ColumnIndex:
    """For one input column: value -> bitmask of the rows whose cell accepts it."""

    getter: Callable[[dict], Any]
    #: The fact name when the column reads one fact directly (looked up inline: the hot path), else None.
    fact: str | None
    breakpoints: list
    segment_masks: list[int]
    discrete: dict
    discrete_default: int
    null_mask: int

    def mask(self, value: Any) -> int:
        if value is None:
            return self.null_mask
        if value.__class__ is str or value.__class__ is bool:
            return self.discrete.get(_key(value), self.discrete_default)
        b = self.breakpoints
        try:
            return self.segment_masks[bisect_left(b, value) + bisect_right(b, value)]
        except TypeError:
            return self.discrete_default


def build_column_index(getter: Callable[[dict], Any], cells: list[CellTest], fact: str | None = None) -> ColumnIndex:
    """The index of one column from its cells, one per row (identical cell objects are indexed once)."""
    groups: dict[int, list] = {}
    for r, cell in enumerate(cells):
        group = groups.get(id(cell))
        if group is None:
            groups[id(cell)] = [cell, 1 << r]
        else:
            group[1] |= 1 << r
    return index_cells(getter, [(cell, rows) for cell, rows in groups.values()], fact)


def index_cells(getter: Callable[[dict], Any], groups: list[tuple[CellTest, int]],
                fact: str | None = None) -> ColumnIndex:
    """The index of one column from its DISTINCT cells, each with the bitmask of the rows holding it.

    A 3,000-row column holds a few dozen distinct cell texts: every step below loops over those and works
    on whole row bitmasks, so building the index costs per distinct cell, not per row.
    """
    any_rows = 0
    num_neg_rows = 0
    disc_neg_rows = 0
    null_rows = 0
    points: set = set()
    for cell, rows in groups:
        if cell.any:
            any_rows |= rows
            continue
        if cell.null_pass:
            null_rows |= rows
        if cell.numbers_negative_only:
            num_neg_rows |= rows
        if cell.discrete_negative_only:
            disc_neg_rows |= rows
        for lo, _, hi, _ in cell.intervals:
            if lo is not _NEG_INF and lo != _NEG_INF:
                points.add(lo)
            if hi is not _POS_INF and hi != _POS_INF:
                points.add(hi)
    breakpoints = sorted(points)
    position = {p: i for i, p in enumerate(breakpoints)}
    n_segments = 2 * len(breakpoints) + 1
    toggles = [0] * (n_segments + 1)
    for cell, rows in groups:
        if cell.any or not cell.intervals:
            continue
        spans = []
        for lo, li, hi, hinc in cell.intervals:
            s0 = 0 if lo == _NEG_INF else 2 * position[lo] + (1 if li else 2)
            s1 = n_segments - 1 if hi == _POS_INF else 2 * position[hi] + (1 if hinc else 0)
            if s0 <= s1:
                spans.append((s0, s1))
        spans.sort()
        merged: list[list[int]] = []
        for s0, s1 in spans:
            if merged and s0 <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], s1)
            else:
                merged.append([s0, s1])
        # the groups hold disjoint rows and a cell's merged spans are disjoint: toggling by XOR stays exact
        for s0, s1 in merged:
            toggles[s0] ^= rows
            toggles[s1 + 1] ^= rows
    base = any_rows | disc_neg_rows  # a number passes a 'not in' over strings
    masks = []
    current = 0
    for s in range(n_segments):
        current ^= toggles[s]
        masks.append(current | base)
    discrete_default = any_rows | num_neg_rows
    keys: set = set()
    for cell, rows in groups:
        if cell.any:
            continue
        if cell.disc_negative:
            discrete_default |= rows
        keys |= cell.positives
        if cell.negatives:
            keys |= cell.negatives
    discrete = {}
    for k in keys:
        m = any_rows | num_neg_rows
        for cell, rows in groups:
            if cell.any:
                continue
            if k in cell.positives or (cell.disc_negative and k not in (cell.negatives or ())):
                m |= rows
        discrete[k] = m
    return ColumnIndex(getter, fact, breakpoints, masks, discrete, discrete_default, any_rows | null_rows)


# --- tables --------------------------------------------------------------------------------------------

@dataclass
class Column:
    id: str
    field: str  # an expression over facts; usually one fact name
    name: str = ""


@dataclass
class Row:
    id: str
    cells: dict[str, str]  # input column id -> unary test text
    outputs: dict[str, str]  # output column id -> expression text
    description: str = ""
    priority: int = 0
    #: Head office: a tenant overlay may disable this row.
    optional: bool = False
    #: Head office: never changed by an overlay (regulatory, blacklist).
    locked: bool = False
    enabled: bool = True


@dataclass
class DecisionTable:
    """A decision table as authored; :func:`compile_table` turns it into a :class:`CompiledTable`."""

    id: str
    name: str
    hit_policy: str
    inputs: list[Column]
    outputs: list[Column]
    rows: list[Row]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "hit_policy": self.hit_policy,
                "inputs": [vars(c).copy() for c in self.inputs], "outputs": [vars(c).copy() for c in self.outputs],
                "rows": [vars(r).copy() for r in self.rows]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DecisionTable":
        return cls(data["id"], data.get("name", ""), data.get("hit_policy", "first"),
                   [Column(**c) for c in data["inputs"]], [Column(**c) for c in data["outputs"]],
                   [Row(**r) for r in data["rows"]])


@dataclass
class Hit:
    """One row that matched."""

    table_id: str
    row_id: str
    index: int
    outputs: dict[str, Any]


@dataclass
class CompiledTable:
    table: DecisionTable
    columns: list[ColumnIndex]
    column_fields: list[str]
    row_ids: list[str]
    row_outputs: list[list[tuple[str, Any, Callable | None]]]
    row_constant_outputs: list[dict | None]
    row_priority: list[int]
    row_constrained: list[tuple[int, ...]]  # columns each row tests: what an explanation shows
    all_rows: int
    facts: frozenset[str]
    column_facts: list[frozenset[str]] = field(default_factory=list)

    def match(self, facts: dict) -> int:
        m = self.all_rows
        get = facts.get
        for fact, getter, b, masks, discrete, discrete_default, null_mask in self._plan:
            v = get(fact) if fact is not None else getter(facts)
            if v is None:
                m &= null_mask
            elif v.__class__ is str:
                m &= discrete.get(v, discrete_default)
            elif v.__class__ is bool:
                m &= discrete.get(_key(v), discrete_default)
            else:
                try:
                    m &= masks[bisect_left(b, v) + bisect_right(b, v)]
                except TypeError:  # a value of another type (JDM inputs are untyped)
                    m &= discrete_default
            if not m:
                return 0
        return m

    @property
    def row_read(self) -> list[tuple[str, ...]]:
        """What an explanation shows for each row: the facts its constrained columns read (made on first use:
        a plain decision never needs it)."""
        read = self._row_read
        if read is None:
            facts = self.column_facts
            cache: dict[tuple[int, ...], tuple[str, ...]] = {}
            read = []
            for cols in self.row_constrained:
                names = cache.get(cols)
                if names is None:
                    names = cache[cols] = tuple(sorted({f for c in cols for f in facts[c]}))
                read.append(names)
            self._row_read = read
        return read

    @property
    def row_values(self) -> list[Callable[[Callable[[str], Any]], dict[str, Any]]]:
        """Per row, ``reader(facts.get)`` -> the values its explanation shows (rows reading the same facts
        share one reader)."""
        readers = self._row_values
        if readers is None:
            cache: dict[tuple[str, ...], Callable] = {}
            readers = []
            for names in self.row_read:
                reader = cache.get(names)
                if reader is None:
                    reader = cache[names] = values_reader(names)
                readers.append(reader)
            self._row_values = readers
        return readers

    def __post_init__(self) -> None:
        self._row_read: list[tuple[str, ...]] | None = None
        self._row_values: list[Callable] | None = None
        # Columns as plain tuples, most selective first: a row set emptied early stops the loop.
        plan = [(c.fact, c.getter, c.breakpoints, c.segment_masks, c.discrete, c.discrete_default, c.null_mask)
                for c in self.columns]
        self._plan = plan

    def outputs_of(self, r: int, facts: dict) -> dict[str, Any]:
        constant = self.row_constant_outputs[r]
        if constant is not None:
            return dict(constant)
        return {name: (fn(facts) if fn is not None else value) for name, value, fn in self.row_outputs[r]}

    def hits(self, facts: dict) -> list[int]:
        """Indexes of the rows that fire under the hit policy, in order."""
        m = self.match(facts)
        if not m:
            return []
        policy = self.table.hit_policy
        if policy == "first":
            return [(m & -m).bit_length() - 1]
        # the set bits, lowest first: scanning the binary text in C beats peeling bits off a big integer
        text = bin(m)
        last = len(text) - 1
        rows = []
        i = text.rfind("1")
        while i > 1:
            rows.append(last - i)
            i = text.rfind("1", 0, i)
        if policy == "collect":
            return rows
        if policy == "unique":
            if len(rows) > 1:
                raise HitPolicyViolation(f"table {self.table.id}: unique hit policy matched rows "
                                         + ", ".join(self.row_ids[r] for r in rows))
            return rows
        best = rows[0]
        for r in rows[1:]:
            if self.row_priority[r] > self.row_priority[best]:
                best = r
        return [best]


def values_reader(names: tuple[str, ...]) -> Callable[[Callable[[str], Any]], dict[str, Any]]:
    """``reader(get)`` -> ``{name: get(name) for name in names}``, in that order.

    Written out as a dict display for the usual 1–6 names: a comprehension makes a function object and a
    frame and loops, which made an explained decision's ~17 small dicts cost about a third of the decision.
    """
    if len(names) == 1:
        a, = names
        return lambda get: {a: get(a)}
    if len(names) == 2:
        a, b = names
        return lambda get: {a: get(a), b: get(b)}
    if len(names) == 3:
        a, b, c = names
        return lambda get: {a: get(a), b: get(b), c: get(c)}
    if len(names) == 4:
        a, b, c, d = names
        return lambda get: {a: get(a), b: get(b), c: get(c), d: get(d)}
    if len(names) == 5:
        a, b, c, d, e = names
        return lambda get: {a: get(a), b: get(b), c: get(c), d: get(d), e: get(e)}
    if len(names) == 6:
        a, b, c, d, e, f = names
        return lambda get: {a: get(a), b: get(b), c: get(c), d: get(d), e: get(e), f: get(f)}
    return lambda get: {name: get(name) for name in names}


def _getter(field_text: str, catalogue: FactCatalogue | None, where: str) -> tuple[Callable, str, frozenset]:
    """(value getter, type, facts read) of an input column; ``getter.fact`` is set for a plain fact."""
    from .expressions import FactRef, parse

    node = parse(field_text)
    if isinstance(node, FactRef):
        if catalogue is not None:
            fact = catalogue.get(node.name)
            if fact is None:
                raise RuleSyntaxError(f"unknown fact {node.name!r}", node.pos, field_text, where)
            kind = fact.type.value
        else:
            kind = "any"
        name = node.name
        if catalogue is None and "." in name:
            parts = name.split(".")

            def nested(facts, name=name, parts=parts):
                if name in facts:
                    return facts[name]
                v: Any = facts
                for p in parts:
                    if not isinstance(v, dict):
                        return None
                    v = v.get(p)
                return v
            return nested, kind, frozenset([name])
        getter = lambda facts: facts.get(name)  # noqa: E731
        getter.fact = name  # type: ignore[attr-defined]
        return getter, kind, frozenset([name])
    compiled = Compiler(catalogue, field_text, where).compile(node)
    return compiled.fn, compiled.type, compiled.facts


_COMPATIBLE = {"number": {"number"}, "date": {"date"}, "string": {"string"}, "boolean": {"boolean"},
               "any": {"number", "date", "string", "boolean"}}


def compile_table(table: DecisionTable, catalogue: FactCatalogue | None = CATALOGUE) -> CompiledTable:
    """Check every column and cell (unknown facts, incompatible types, with positions) and build the index."""
    # Tens of thousands of small lists, sets and ints, none in a cycle: the cyclic collector would otherwise
    # run again and again over everything the process holds (a large share of a 3,000-row build).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _compile_table(table, catalogue)
    finally:
        if collecting:
            gc.enable()


def _row_masks(texts: list[str], distinct: list[str], all_rows: int) -> list[int]:
    """For each distinct text, the bitmask of the rows (bit r = row r) whose cell is that text.

    In C rather than a loop over rows: the rows' text numbers are one ``bytes`` (reversed, so the highest row
    comes first), ``translate`` marks one text's rows with '1' and ``int(..., 2)`` reads that as the mask.
    """
    if len(distinct) == 1:
        return [all_rows]
    if len(distinct) > 256:
        number = {t: i for i, t in enumerate(distinct)}
        masks = [0] * len(distinct)
        for r, text in enumerate(texts):
            masks[number[text]] |= 1 << r
        return masks
    number = {t: i for i, t in enumerate(distinct)}
    codes = bytes(map(number.__getitem__, reversed(texts)))
    masks = []
    for i in range(len(distinct)):
        mark = bytearray(b"0" * 256)
        mark[i] = 0x31  # "1"
        masks.append(int(codes.translate(mark), 2))
    return masks


def _compile_table(table: DecisionTable, catalogue: FactCatalogue | None) -> CompiledTable:
    if table.hit_policy not in HIT_POLICIES:
        raise RuleSyntaxError(f"unknown hit policy {table.hit_policy!r} (one of {', '.join(HIT_POLICIES)})", 1,
                              "", f"table {table.id}")
    rows = [r for r in table.rows if r.enabled]
    if len(rows) > 0 and len({r.id for r in rows}) != len(rows):
        raise RuleSyntaxError("row ids must be unique", 1, "", f"table {table.id}")
    all_rows = (1 << len(rows)) - 1
    columns: list[ColumnIndex] = []
    fields: list[str] = []
    cell_cache: dict[str, CellTest] = {}  # cells repeat across rows ('< 18', "'app'"); parse each text once
    used: set[str] = set()
    column_facts: list[frozenset[str]] = []
    #: column id -> [(position, text -> cell)]: which columns each row constrains, for explanations
    parsed_columns: dict[str, list[tuple[int, dict[str, CellTest]]]] = {}
    # The cell texts column by column, read row by row over the cells each row HAS (a few of the columns)
    numbers_of: dict[str, list[int]] = {}  # column id -> its input columns (an id used twice reads twice)
    for i, column in enumerate(table.inputs):
        numbers_of.setdefault(column.id, []).append(i)
    column_texts: list[list[str]] = [[""] * len(rows) for _ in table.inputs]
    for r, row in enumerate(rows):
        for column_id, text in row.cells.items():
            if text:
                for i in numbers_of.get(column_id, ()):
                    column_texts[i][r] = text
    for column, texts in zip(table.inputs, column_texts):
        where = f"table {table.id}, input {column.id}"
        getter, kind, facts = _getter(column.field, catalogue, where)
        column_facts.append(facts)
        compatible = _COMPATIBLE.get(kind, set())
        position = len(fields)
        # Each distinct text is parsed and checked once, in the order rows first use it: the first refused
        # text is the first refused row's, so the error names the same row as a row-by-row check would.
        distinct = list(dict.fromkeys(texts))
        cells: dict[str, CellTest] = {}
        for cell_text in distinct:
            cell = cell_cache.get(cell_text)
            row_id = None
            if cell is None:
                try:
                    cell = cell_cache[cell_text] = parse_cell(cell_text)
                except RuleSyntaxError as exc:
                    row_id = rows[texts.index(cell_text)].id
                    raise RuleSyntaxError(str(exc).split(" at position")[0], exc.position, exc.text,
                                          f"table {table.id}, row {row_id}, column {column.id}") from None
            bad = cell.kinds - compatible
            if (bad and kind != "any") or ("date" in cell.kinds and "number" in cell.kinds):
                row = rows[texts.index(cell_text)]
                cell_where = f"table {table.id}, row {row.id}, column {column.id}"
                if bad and kind != "any":
                    raise RuleSyntaxError(f"{column.field} is a {kind}; this cell compares it with a "
                                          f"{sorted(bad)[0]}", 1, row.cells.get(column.id, ""), cell_where)
                raise RuleSyntaxError("a cell cannot mix dates and numbers", 1, row.cells.get(column.id, ""),
                                      cell_where)
            cells[cell_text] = cell
        parsed_columns.setdefault(column.id, []).append((position, cells))
        kinds = set().union(*(c.kinds for c in cells.values())) if cells else set()
        if "date" in kinds and "number" in kinds:
            raise RuleSyntaxError("column mixes dates and numbers", 1, column.field, where)
        if all(c.any for c in cells.values()):
            fields.append(column.field)  # keeps explanation indexes aligned; no index needed
            columns.append(None)  # type: ignore[arg-type]
            continue
        groups = list(zip(cells.values(), _row_masks(texts, distinct, all_rows)))
        columns.append(index_cells(getter, groups, getattr(getter, "fact", None)))
        fields.append(column.field)
        used |= facts
    constrained: list[tuple[int, ...]] = []
    for row in rows:
        tested = []
        for column_id, text in row.cells.items():
            for position, cells in parsed_columns.get(column_id, ()):
                if not cells[text or ""].any:
                    tested.append(position)
        tested.sort()
        constrained.append(tuple(tested))
    outputs: list[list[tuple[str, Any, Callable | None]]] = []
    constants: list[dict | None] = []
    output_cache: dict[str, Any] = {}
    # Rows repeat the same output texts ('decline', a reason code used by several rows): the compiled
    # outputs of one combination of texts are made once and shared (never mutated: outputs_of copies).
    row_cache: dict[tuple, tuple[list, dict | None]] = {}
    output_columns = [(column.id, column.field) for column in table.outputs]
    for row in rows:
        row_outputs = row.outputs
        key = tuple([row_outputs.get(column_id, "") for column_id, _ in output_columns])
        try:
            done = row_cache.get(key)
        except TypeError:  # an unhashable output value: compiled below (and refused there)
            done = None
        if done is not None:
            outputs.append(done[0])
            constants.append(done[1])
            continue
        out = []
        all_constant = True
        for (column_id, column_field), text in zip(output_columns, key):
            if text is None or str(text).strip() == "":
                continue
            compiled = output_cache.get(str(text))
            if compiled is None:
                compiled = compile_expression(str(text), catalogue=catalogue,
                                              where=f"table {table.id}, row {row.id}, output {column_id}")
                output_cache[str(text)] = compiled
            used |= compiled.facts
            if compiled.constant:
                out.append((column_field, compiled.fn({}), None))
            else:
                all_constant = False
                out.append((column_field, None, compiled.fn))
        constant = {name: value for name, value, _ in out} if all_constant else None
        try:
            row_cache[key] = (out, constant)
        except TypeError:
            pass
        outputs.append(out)
        constants.append(constant)
    return CompiledTable(
        table=table,
        columns=[c for c in columns if c is not None],
        column_fields=fields,
        row_ids=[r.id for r in rows],
        row_outputs=outputs,
        row_constant_outputs=constants,
        row_priority=[r.priority for r in rows],
        row_constrained=constrained,
        all_rows=all_rows,
        facts=frozenset(used),
        column_facts=column_facts,
    )


__all__ = ["CellTest", "Column", "CompiledTable", "DecisionTable", "HIT_POLICIES", "Hit", "HitPolicyViolation",
           "Row", "build_column_index", "compile_table", "parse_cell"]
