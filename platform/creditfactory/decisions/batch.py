"""Column-wise back-test: many stored applications against one compiled rule set at once.

The per-decision path holds, per column, "which ROWS accept this value" (an integer with a bit per row) and
ANDs those per application. Over a batch of applications the axis flips: per column each application's value
is reduced once to a one-byte code (its piece of the value line, its string key, "other" or null), the codes of
a batch are one ``bytes`` object, and for each distinct cell ``codes.translate(table)`` (C speed) gives a byte
per application, 1 where the cell accepts it. Read as one integer those bytes are a bitset of APPLICATIONS;
a row's matching applications are the AND of its cells' bitsets — a few big-integer operations per row for the
whole batch instead of a loop per application. Collect and first hit policies are set operations; the reasons
are spread back to applications by ``bytes.find``. Without numpy, this is how pure Python gets C-speed loops.

A rule set this path cannot take (priority/unique tables, more than 254 pieces in a column, a column mixing
booleans with numbers in one batch) falls back to the per-application path; the results are the same either way
(tests/test_decisions_batch.py compares them with :meth:`CompiledRuleSet.evaluate`).
"""

from __future__ import annotations

import gc
from bisect import bisect_left, bisect_right
from collections import deque
from functools import partial
from itertools import accumulate, chain, compress, repeat
from operator import getitem, itemgetter
from typing import Any

from .tables import CompiledTable

#: Applications per batch: the big-integer operations are linear in it; the per-row overhead is not.
BATCH = 50_000
#: Reading a plane per application costs about an eighth of spreading one hit: packing pays while the
#: planes are fewer than this many times the hits per application.
PLANES_PER_HIT = 8
_ZERO_ONE = bytes.maketrans(b"01", b"\x00\x01")
_SEVERITY = {"approve": 1, "refer": 2, "decline": 3}
#: Byte value with bit0 = approve, bit1 = refer, bit2 = decline present -> the strongest severity.
_STRONGEST = bytes(3 if b & 4 else 2 if b & 2 else 1 if b & 1 else 0 for b in range(256))


consume = partial(deque, maxlen=0)
_plus_one = (1).__add__


class _ColumnPlan:
    """One input column of a table for the batch path: value -> code, and the distinct cell tables."""

    __slots__ = ("fact", "getter", "breakpoints", "n_segments", "keys", "other", "null", "tables", "row_table")

    def __init__(self, column, all_rows: int, n_rows: int):
        self.fact = column.fact
        self.getter = column.getter
        self.breakpoints = column.breakpoints
        self.n_segments = len(column.segment_masks)
        keys = list(column.discrete)
        self.keys = {k: self.n_segments + i for i, k in enumerate(keys)}
        self.other = self.n_segments + len(keys)
        self.null = self.other + 1
        if self.null > 255:
            raise _Unsupported
        code_masks = column.segment_masks + [column.discrete[k] for k in keys] + [column.discrete_default,
                                                                                   column.null_mask]
        every = all_rows
        for m in code_masks:
            every &= m
        constrained = all_rows & ~every  # rows whose cell rejects some value of this column
        # Transpose: per code, the row bits as text (char r = row r); zip(*) gives per row its flag per code.
        texts = [format(m & all_rows, f"0{n_rows}b")[::-1] for m in code_masks]
        pad = "0" * (256 - len(code_masks))
        distinct: dict[bytes, int] = {}
        self.row_table: dict[int, int] = {}
        for r, flags in enumerate(zip(*texts)):
            if not (constrained >> r) & 1:
                continue
            table = ("".join(flags) + pad).encode("ascii").translate(_ZERO_ONE)
            self.row_table[r] = distinct.setdefault(table, len(distinct))
        self.tables = list(distinct)

    def codes(self, applications: list[dict], values: Any = None) -> bytes:
        """One byte per application: the code of its value (``values`` when already read, in order)."""
        if values is None:
            fact = self.fact
            if fact is not None:
                values = list(map(dict.get, applications, repeat(fact)))
            else:
                getter = self.getter
                values = [getter(facts) for facts in applications]
        distinct = set(values)
        classes = {v.__class__ for v in distinct}
        if bool in classes and (int in classes or float in classes):
            raise _Unsupported  # True == 1 would share a code
        memo = self.numeric_codes([v for v in distinct if v.__class__ is int or v.__class__ is float])
        for v in distinct:
            if v not in memo or v.__class__ is bool:
                memo[v] = self.code(v)
        return bytes(map(memo.__getitem__, values))

    def numeric_codes(self, numbers: list) -> dict:
        """Codes of many numbers at once: sort them and cut the sorted run at each breakpoint (no per-value
        bisect): values between breakpoints i-1 and i get 2i, a value equal to breakpoint i gets 2i + 1."""
        numbers.sort()
        codes: list[int] = []
        extend = codes.extend
        done = 0
        for i, p in enumerate(self.breakpoints):
            lo = bisect_left(numbers, p, done)
            hi = bisect_right(numbers, p, lo)
            extend([2 * i] * (lo - done))
            extend([2 * i + 1] * (hi - lo))
            done = hi
        extend([2 * len(self.breakpoints)] * (len(numbers) - done))
        return dict(zip(numbers, codes))

    def code(self, v: Any) -> int:
        if v is None:
            return self.null
        if v.__class__ is str:
            return self.keys.get(v, self.other)
        if v.__class__ is bool:
            return self.keys.get(("bool", v), self.other)
        b = self.breakpoints
        try:
            return bisect_left(b, v) + bisect_right(b, v)
        except TypeError:
            return self.other


class _Unsupported(Exception):
    pass


class _TablePlan:
    def __init__(self, table: CompiledTable, rows: list):
        if table.table.hit_policy not in ("collect", "first"):
            raise _Unsupported
        n_rows = len(table.row_ids)
        self.table = table
        self.policy = table.table.hit_policy
        self.columns = [_ColumnPlan(c, table.all_rows, n_rows) for c in table.columns]
        #: per row: ((column index, table index), ...) of its constrained columns
        self.row_cells = [tuple((ci, col.row_table[r]) for ci, col in enumerate(self.columns) if r in col.row_table)
                          for r in range(n_rows)]
        self.rows = rows  # (reason code, severity) or None when outputs are computed
        self.constant = None not in rows


def plan_for(compiled) -> list[_TablePlan] | None:
    """The batch plan of a compiled rule set (built once, kept on it), or None when it needs the row path."""
    plan = getattr(compiled, "_batch_plan", False)
    if plan is not False:
        return plan
    try:
        plan = []
        for t, prebuilt in zip(compiled.tables, compiled._prebuilt):
            rows = [(ready[0].reason_code, ready[1]) if ready is not None else None for ready in prebuilt]
            plan.append(_TablePlan(t, rows))
    except _Unsupported:
        plan = None
    compiled._batch_plan = plan
    return plan


def _read_facts(facts: list[str], applications: list[dict]) -> dict[str, Any]:
    """fact -> its values over the batch, in order. When every application has every fact (stored
    applications usually do), one ``itemgetter`` pass reads all of them and ``zip(*)`` turns the rows into
    columns, both in C; otherwise ``dict.get`` per fact (a missing fact reads as None)."""
    if len(facts) > 1:
        try:
            return dict(zip(facts, zip(*map(itemgetter(*facts), applications))))
        except KeyError:
            pass
    return {fact: list(map(dict.get, applications, repeat(fact))) for fact in facts}


def _spread(reasons: list[list[str]], after_none: list, m: int, n: int, reason: str) -> None:
    """Append ``reason`` to the list of every application whose byte is set in ``m``, in C loops.

    Sparse rows cut the hit bytes at every hit and accumulate the run lengths (+ 1 each): that gives each
    hit's position + 1, so ``after_none`` (``[None, *reasons]``) is indexed with it directly."""
    buf = m.to_bytes(n, "little")
    if m.bit_count() * 32 > n:
        # dense: one pass of compress over the batch is cheaper than cutting the buffer at every hit
        consume(map(list.append, compress(reasons, buf), repeat(reason)))
    else:
        parts = buf.split(b"\x01")
        parts.pop()
        consume(map(list.append, map(after_none.__getitem__, accumulate(map(_plus_one, map(len, parts)))),
                    repeat(reason)))


class _Planes:
    """A table's matching rows (with their reasons), packed 8 to a byte per application.

    Spreading row by row appends one reason per hit (~10 per application in a 3,000-rule stage), each hit
    costing several C calls. Packed, row *k* is bit *k % 8* of plane *k // 8*: one shift and one OR per row.
    At the end each application's byte in every plane is read at once (a strided slice of the joined planes)
    and each byte value maps to the tuple of its rows' reasons through a 256-entry table per plane, so an
    application costs one lookup per plane instead of several calls per hit. Used when the planes are few
    against the hits per application; otherwise the rows are unpacked and spread one by one.
    """

    __slots__ = ("n", "planes", "reasons", "plane", "slot", "current", "hits")

    def __init__(self, n: int):
        self.n = n
        self.planes: list[int] = []
        self.reasons: list[list[str]] = []
        self.plane = 0
        self.slot = 0
        self.current: list[str] = []
        self.hits = 0

    def add(self, m: int, reason: str) -> None:
        self.plane |= m << self.slot
        self.current.append(reason)
        self.hits += m.bit_count()
        self.slot += 1
        if self.slot == 8:
            self._flush()

    def _flush(self) -> None:
        self.planes.append(self.plane)
        self.reasons.append(self.current)
        self.plane, self.slot, self.current = 0, 0, []

    def spread(self, reasons: list[list[str]], after_none: list, everyone: int) -> None:
        if self.slot:
            self._flush()
        if not self.planes:
            return
        n = self.n
        if len(self.planes) > PLANES_PER_HIT * (self.hits / n + 1):  # many rows, few hits: one by one
            for plane, plane_reasons in zip(self.planes, self.reasons):
                for bit, reason in enumerate(plane_reasons):
                    _spread(reasons, after_none, (plane >> bit) & everyone, n, reason)
            return
        joined = b"".join([plane.to_bytes(n, "little") for plane in self.planes])
        tables = [_byte_reasons(tuple(plane_reasons)) for plane_reasons in self.reasons]
        # per application: its byte in each plane (a strided slice), each byte -> its rows' reasons, joined
        columns = map(joined.__getitem__, map(slice, range(n), repeat(None), repeat(n)))
        per_application = map(tuple, map(chain.from_iterable, map(map, repeat(getitem), repeat(tables), columns)))
        consume(map(list.extend, reasons, per_application))


def _byte_reasons(reasons: tuple[str, ...]) -> list[tuple[str, ...]]:
    """For each byte value 0–255, the reasons of its set bits, lowest bit first (bit k = ``reasons[k]``)."""
    table: list[tuple[str, ...]] = [()] * 256
    for k, reason in enumerate(reasons):
        high = 1 << k
        for b in range(high):
            table[b | high] = table[b] + (reason,)
    return table


def backtest_batch(compiled, plans: list[_TablePlan], applications: list[dict]) -> list[tuple]:
    """(outcome, reason codes) per application, column-wise; raises _Unsupported for the row path."""
    n = len(applications)
    everyone = int.from_bytes(b"\x01" * n, "little")
    reasons: list[list[str]] = [[] for _ in range(n)]
    after_none = [None, *reasons]
    by_severity = [0, 0, 0, 0]
    per_app_severity: bytearray | None = None
    read: dict[str, Any] = {}  # fact -> values over the batch, shared by the tables that test it
    for plan in plans:
        # Each cell's set of applications is made when a row first needs it: most rows are emptied by their
        # first cell or two, so many cells are never made.
        wanted = [column.fact for column in plan.columns if column.fact is not None and column.fact not in read]
        if wanted:
            read.update(_read_facts(wanted, applications))
        codes = [column.codes(applications, read.get(column.fact) if column.fact is not None else None)
                 for column in plan.columns]
        cell_sets: list[list[int | None]] = [[None] * len(column.tables) for column in plan.columns]
        tables = [column.tables for column in plan.columns]
        remaining = everyone
        first = plan.policy == "first"
        # When every row's reason is a constant, the table's reasons are gathered per application at the end
        # from "planes": 8 matching rows per byte of each application (see _spread_planes).
        planes = _Planes(n) if plan.constant else None
        for r, cells in enumerate(plan.row_cells):
            m = remaining if first else everyone
            for ci, ti in cells:
                cell = cell_sets[ci][ti]
                if cell is None:
                    cell = cell_sets[ci][ti] = int.from_bytes(codes[ci].translate(tables[ci][ti]), "little")
                m &= cell
                if not m:
                    break
            if not m:
                continue
            if first:
                remaining ^= m
            row = plan.rows[r]
            if row is None:  # computed outputs: per application
                buf = m.to_bytes(n, "little")
                if per_app_severity is None:
                    per_app_severity = bytearray(n)
                i = buf.find(1)
                while i >= 0:
                    out = plan.table.outputs_of(r, applications[i])
                    if out.get("reason_code"):
                        reasons[i].append(out["reason_code"])
                    s = _SEVERITY.get(out.get("action"), 0)
                    if s > per_app_severity[i]:
                        per_app_severity[i] = s
                    i = buf.find(1, i + 1)
            else:
                reason, severity = row
                if reason:
                    if planes is not None:
                        planes.add(m, reason)
                    else:  # append to each matching application's list, every loop in C
                        _spread(reasons, after_none, m, n, reason)
                if severity:
                    by_severity[severity] |= m
            if first and not remaining:
                break
        if planes is not None:
            planes.spread(reasons, after_none, everyone)
    rules = [(cr.fn, _SEVERITY.get(cr.rule.action, 0), cr.rule.reason_code or None) for cr in compiled.rules]
    if rules:
        if per_app_severity is None:
            per_app_severity = bytearray(n)
        for i, facts in enumerate(applications):
            for fn, s, reason in rules:
                if fn(facts) is True:
                    if reason:
                        reasons[i].append(reason)
                    if s > per_app_severity[i]:
                        per_app_severity[i] = s
    flags = by_severity[1] | (by_severity[2] << 1) | (by_severity[3] << 2)
    strongest = flags.to_bytes(n, "little").translate(_STRONGEST)
    if per_app_severity is not None:
        strongest = bytes(map(max, strongest, per_app_severity))
    from .engine import Outcome

    outcomes = (compiled.default, Outcome.APPROVE, Outcome.REFER, Outcome.DECLINE)
    return list(zip([outcomes[s] for s in strongest], map(tuple, reasons)))


def backtest(compiled, applications) -> list[tuple] | None:
    """The column-wise back-test over ``applications`` in batches, or None when the row path must be used."""
    plans = plan_for(compiled)
    if plans is None:
        return None
    applications = applications if isinstance(applications, list) else list(applications)
    results: list[tuple] = []
    # Millions of small lists and tuples would set the cyclic collector scanning the whole batch again and
    # again; none of them can form a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for start in range(0, len(applications), BATCH):
            results += backtest_batch(compiled, plans, applications[start:start + BATCH])
    except _Unsupported:
        return None
    finally:
        if collecting:
            gc.enable()
    return results
