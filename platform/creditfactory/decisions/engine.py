"""Rule sets per stage and their evaluation into a :class:`Decision` with every fired rule and reason code.

Stages (阶段): ``admission`` (准入, hard knock-outs), ``pre_approval`` (预批核, strategies: segment →
indicative limit, rate and term), ``approval`` (审批: auto-approve / auto-decline / refer). A rule set is
decision tables plus expression rules; a fired row or rule may set ``action`` (``decline``, ``refer``,
``approve``) and ``reason_code``, and any other outputs (``segment``, ``limit``, ``rate``, ``term``).
The stage outcome is the strongest action fired: decline > refer > approve, else the stage's default
(admission: ``pass``; pre-approval: ``pass``; approval: ``refer``, so nothing is approved unless a rule
says so).
"""

from __future__ import annotations

import datetime as dt
import enum
import gc
import hashlib
import json
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..errors import DomainError
from .expressions import RuleSyntaxError, compile_expression
from .facts import CATALOGUE, FactCatalogue, FactError, FactType
from .tables import CompiledTable, DecisionTable, compile_table, values_reader


class Stage(str, enum.Enum):
    ADMISSION = "admission"  # 准入
    PRE_APPROVAL = "pre_approval"  # 预批核
    APPROVAL = "approval"  # 审批


class Outcome(str, enum.Enum):
    PASS = "pass"
    APPROVE = "approve"
    REFER = "refer"
    DECLINE = "decline"


ACTIONS = ("decline", "refer", "approve")
_SEVERITY = {"approve": 1, "refer": 2, "decline": 3}
DEFAULT_OUTCOME = {Stage.ADMISSION: Outcome.PASS, Stage.PRE_APPROVAL: Outcome.PASS, Stage.APPROVAL: Outcome.REFER}


class DecisionError(DomainError):
    """Facts that do not fit the catalogue, or a rule set that cannot be evaluated."""


@dataclass
class ExpressionRule:
    """A rule written in the expression language: when ``when`` is true, it fires."""

    id: str
    when: str
    action: str = ""
    reason_code: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    description: str = ""
    optional: bool = False
    locked: bool = False
    enabled: bool = True


@dataclass
class ReasonCode:
    """Texts for a reason code (PIPL art. 24: the borrower may ask why; staff see the precise cause)."""

    code: str
    customer_zh: str
    customer_en: str
    staff_zh: str
    staff_en: str


@dataclass
class RuleSet:
    """One stage's rules as authored (JSON-serialisable)."""

    code: str
    stage: Stage
    name: str = ""
    tables: list[DecisionTable] = field(default_factory=list)
    rules: list[ExpressionRule] = field(default_factory=list)
    reasons: dict[str, ReasonCode] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "stage": self.stage.value, "name": self.name,
                "tables": [t.as_dict() for t in self.tables], "rules": [vars(r).copy() for r in self.rules],
                "reasons": {k: vars(v).copy() for k, v in sorted(self.reasons.items())}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RuleSet":
        try:
            stage = Stage(data["stage"])
        except (KeyError, ValueError):
            raise DecisionError(f"stage must be one of {', '.join(s.value for s in Stage)}") from None
        return cls(data["code"], stage, data.get("name", ""),
                   [DecisionTable.from_dict(t) for t in data.get("tables", [])],
                   [ExpressionRule(**r) for r in data.get("rules", [])],
                   {k: ReasonCode(**v) for k, v in data.get("reasons", {}).items()})

    def content_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False,
                                         default=str).encode()).hexdigest()


@dataclass(slots=True)
class FiredRule:
    """A row or rule that fired: what it decided and, when explained, the values it read."""

    rule_id: str
    table_id: str | None
    action: str | None
    reason_code: str | None
    outputs: dict[str, Any]
    values: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "table_id": self.table_id, "action": self.action,
                "reason_code": self.reason_code, "outputs": self.outputs, "values": self.values}


_new = object.__new__


@dataclass
class Decision:
    stage: Stage
    outcome: Outcome
    reason_codes: list[str]
    fired: list[FiredRule]
    outputs: dict[str, Any]
    ruleset_hash: str
    elapsed_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.stage.value, "outcome": self.outcome.value, "reason_codes": self.reason_codes,
                "fired": [f.as_dict() for f in self.fired], "outputs": self.outputs,
                "ruleset_hash": self.ruleset_hash, "elapsed_ms": self.elapsed_ms}


@dataclass
class _CompiledRule:
    rule: ExpressionRule
    fn: Any
    outputs: list[tuple[str, Any]]
    facts: tuple[str, ...]
    values: Any  # reader(get) -> the values an explanation shows


_PYTHON_TYPES = {FactType.NUMBER: (int, float), FactType.STRING: (str,), FactType.BOOLEAN: (bool,)}
#: The classes accepted without a second look (subclasses and Decimal take the slow path).
_EXACT_CLASSES = {FactType.NUMBER: frozenset({int, float, Decimal}), FactType.STRING: frozenset({str}),
                  FactType.BOOLEAN: frozenset({bool}), FactType.DATE: frozenset({dt.date})}


class CompiledRuleSet:
    """A rule set checked and compiled once; evaluate it many times (it is immutable and thread-safe)."""

    def __init__(self, ruleset: RuleSet, catalogue: FactCatalogue = CATALOGUE):
        # Thousands of small objects and none in a cycle: a cyclic collection triggered halfway would scan
        # everything the process holds (it doubled a 3,000-row build now and then).
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._compile(ruleset, catalogue)
        finally:
            if collecting:
                gc.enable()

    def _compile(self, ruleset: RuleSet, catalogue: FactCatalogue) -> None:
        self.ruleset = ruleset
        self.stage = ruleset.stage
        self.hash = ruleset.content_hash()
        self.tables: list[CompiledTable] = [compile_table(t, catalogue) for t in ruleset.tables]
        self.rules: list[_CompiledRule] = []
        for rule in ruleset.rules:
            if not rule.enabled:
                continue
            where = f"rule {rule.id}"
            if rule.action and rule.action not in ACTIONS:
                raise RuleSyntaxError(f"action must be one of {', '.join(ACTIONS)}", 1, rule.action, where)
            compiled = compile_expression(rule.when, catalogue=catalogue, expect="boolean", where=where)
            outs = []
            for name, text in rule.outputs.items():
                out = compile_expression(str(text), catalogue=catalogue, where=f"{where}, output {name}")
                outs.append((name, out.fn))
            facts = tuple(sorted(compiled.facts))
            self.rules.append(_CompiledRule(rule, compiled.fn, outs, facts, values_reader(facts)))
        for t in self.tables:
            for r, out in enumerate(t.row_outputs):
                for name, value, fn in out:
                    if name == "action" and fn is None and value not in ACTIONS:
                        raise RuleSyntaxError(f"action must be one of {', '.join(ACTIONS)}", 1, str(value),
                                              f"table {t.table.id}, row {t.row_ids[r]}")
        used: set[str] = set()
        for t in self.tables:
            used |= t.facts
        for r in self.rules:
            used |= set(r.facts)
        self.facts = frozenset(used)
        self._checks = []
        for name in sorted(self.facts):
            fact = catalogue.get(name)
            if fact is not None:
                self._checks.append((name, fact))
        self.default = DEFAULT_OUTCOME[self.stage]
        self._texts: dict[tuple[str, str], dict[str, str]] = {}
        self._fast_checks = tuple((name, _EXACT_CLASSES[fact.type]) for name, fact in self._checks)
        # The same check a type at a time, every loop in C: facts of one type, and the classes (None's too)
        # accepted without a second look.
        by_type: dict[FactType, list[str]] = {}
        for name, fact in self._checks:
            by_type.setdefault(fact.type, []).append(name)
        self._type_checks = tuple((tuple(names), _EXACT_CLASSES[t] | {type(None)}) for t, names in by_type.items())
        # Rows whose outputs are constants fire the same FiredRule every time: build it once (never mutated).
        self._prebuilt: list[list[tuple[FiredRule, int, dict]]] = []
        for t in self.tables:
            rows = []
            for r, constant in enumerate(t.row_constant_outputs):
                if constant is None:
                    rows.append(None)
                    continue
                out = dict(constant)
                action, reason = out.pop("action", None), out.pop("reason_code", None)
                rows.append((FiredRule(t.row_ids[r], t.table.id, action, reason, out),
                             _SEVERITY.get(action, 0), out))
            self._prebuilt.append(rows)

    def check_facts(self, facts: dict[str, Any]) -> None:
        """Refuse a fact of the wrong type (the rules were type-checked against the catalogue)."""
        get = facts.get
        for names, classes in self._type_checks:
            if not classes.issuperset(map(type, map(get, names))):
                for name, accepted in self._fast_checks:
                    v = get(name)
                    if v is not None and v.__class__ not in accepted:
                        self._check_slow(name, v)
                return

    def _check_slow(self, name: str, v: Any) -> None:
        fact = dict(self._checks)[name]
        if fact.type is FactType.DATE:
            ok = isinstance(v, dt.date)
        elif fact.type is FactType.NUMBER:
            ok = not isinstance(v, bool) and isinstance(v, (int, float, Decimal))
        else:
            ok = isinstance(v, _PYTHON_TYPES[fact.type])
        if not ok:
            raise DecisionError(f"fact {name} must be a {fact.type.value}, got {v!r}")

    def evaluate(self, facts: dict[str, Any], *, explain: bool = False, check: bool = True) -> Decision:
        """Every fired row and rule, the reason codes in order, the outcome and the merged outputs."""
        started = time.perf_counter()
        if check:
            self.check_facts(facts)
        fired: list[FiredRule] = []
        get = facts.get
        outputs: dict[str, Any] = {}
        severity = 0
        reasons: list[str] = []
        for t, prebuilt in zip(self.tables, self._prebuilt):
            hits = t.hits(facts)
            if explain and hits:
                read = t.row_values
            for r in hits:
                ready = prebuilt[r]
                if ready is not None:
                    rule, s, out = ready
                    if explain:
                        # filled in place rather than through FiredRule(...): the class call and its
                        # __init__ frame were a third of what an explanation adds, ~17 times per application
                        explained = _new(FiredRule)
                        explained.rule_id = rule.rule_id
                        explained.table_id = rule.table_id
                        explained.action = rule.action
                        explained.reason_code = rule.reason_code
                        explained.outputs = out
                        explained.values = read[r](get)
                        rule = explained
                    fired.append(rule)
                    if s > severity:
                        severity = s
                    if rule.reason_code:
                        reasons.append(rule.reason_code)
                    if out:
                        for k, v in out.items():
                            outputs.setdefault(k, v)
                    continue
                out = t.outputs_of(r, facts)
                action = out.pop("action", None)
                reason = out.pop("reason_code", None)
                values = None
                if explain:
                    values = t.row_values[r](get)
                fired.append(FiredRule(t.row_ids[r], t.table.id, action, reason, out, values))
                if action:
                    s = _SEVERITY[action]
                    if s > severity:
                        severity = s
                if reason:
                    reasons.append(reason)
                for k, v in out.items():
                    outputs.setdefault(k, v)
        for cr in self.rules:
            if cr.fn(facts) is True:
                rule = cr.rule
                out = {name: fn(facts) for name, fn in cr.outputs}
                values = cr.values(get) if explain else None
                fired.append(FiredRule(rule.id, None, rule.action or None, rule.reason_code or None, out, values))
                if rule.action:
                    s = _SEVERITY[rule.action]
                    if s > severity:
                        severity = s
                if rule.reason_code:
                    reasons.append(rule.reason_code)
                for k, v in out.items():
                    outputs.setdefault(k, v)
        if severity == 0:
            outcome = self.default
        else:
            outcome = (Outcome.APPROVE, Outcome.REFER, Outcome.DECLINE)[severity - 1]
        return Decision(self.stage, outcome, reasons, fired, outputs, self.hash,
                        (time.perf_counter() - started) * 1000)

    def backtest(self, applications) -> list[tuple[Outcome, tuple[str, ...]]]:
        """(outcome, reason codes) per application: the simulation path over stored applications.

        Same semantics as :meth:`evaluate` (tested so) without building Decision objects; facts are assumed
        checked when they were stored. Column-wise over batches (:mod:`.batch`) when the rule set allows it,
        else per application.
        """
        from .batch import backtest as column_wise

        results = column_wise(self, applications)
        return results if results is not None else self.backtest_rows(applications)

    def backtest_rows(self, applications) -> list[tuple[Outcome, tuple[str, ...]]]:
        """The per-application back-test (bitsets over rows); rows with computed outputs take the full path."""
        plans = []
        for t, prebuilt in zip(self.tables, self._prebuilt):
            rows = [(ready[0].reason_code, ready[1]) if ready is not None else None for ready in prebuilt]
            plans.append((t, t._plan, t.all_rows, t.table.hit_policy, rows))
        outcomes = (self.default, Outcome.APPROVE, Outcome.REFER, Outcome.DECLINE)
        rules = [(cr.fn, _SEVERITY.get(cr.rule.action, 0), cr.rule.reason_code or None) for cr in self.rules]
        results = []
        append = results.append
        for facts in applications:
            get = facts.get
            severity = 0
            reasons: list[str] = []
            for t, plan, m, policy, rows in plans:
                for fact, getter, b, masks, discrete, discrete_default, null_mask in plan:
                    v = get(fact) if fact is not None else getter(facts)
                    if v is None:
                        m &= null_mask
                    elif v.__class__ is str:
                        m &= discrete.get(v, discrete_default)
                    elif v.__class__ is bool:
                        m &= discrete.get(("bool", v), discrete_default)
                    else:
                        m &= masks[bisect_left(b, v) + bisect_right(b, v)]
                    if not m:
                        break
                if not m:
                    continue
                if policy == "collect":
                    text = bin(m)
                    last = len(text) - 1
                    i = text.rfind("1")
                    hit = []
                    while i > 1:
                        hit.append(last - i)
                        i = text.rfind("1", 0, i)
                elif policy == "first":
                    hit = [(m & -m).bit_length() - 1]
                else:
                    hit = t.hits(facts)
                for r in hit:
                    row = rows[r]
                    if row is None:
                        out = t.outputs_of(r, facts)
                        row = (out.get("reason_code"), _SEVERITY.get(out.get("action"), 0))
                    if row[0]:
                        reasons.append(row[0])
                    if row[1] > severity:
                        severity = row[1]
            for fn, s, reason in rules:
                if fn(facts) is True:
                    if reason:
                        reasons.append(reason)
                    if s > severity:
                        severity = s
            append((outcomes[severity], tuple(reasons)))
        return results

    def explain(self, decision: Decision, locale: str = "zh", audience: str = "customer") -> list[dict[str, Any]]:
        """Reason texts for a decision, in the order the reasons fired (customer- or staff-facing)."""
        by_code = self._texts.get((locale, audience))
        if by_code is None:
            by_code = self._reason_texts(locale, audience)
        text = by_code.get
        return [{"code": code, "text": text(code, code)} for code in dict.fromkeys(decision.reason_codes)]

    def _reason_texts(self, locale: str, audience: str) -> dict[str, str]:
        """Code -> text for one audience in one language, looked up once per compiled set, not per reason."""
        attribute = f"{audience}_{'zh' if locale.startswith('zh') else 'en'}"
        by_code = {code: getattr(reason, attribute) for code, reason in self.ruleset.reasons.items()}
        if audience in ("customer", "staff") and len(self._texts) < 16:  # locales come from requests: bounded
            self._texts[(locale, audience)] = by_code
        return by_code


def _read(facts: dict, field_text: str) -> Any:
    return facts.get(field_text) if field_text in facts else None


def coerce_facts(facts: dict[str, Any], catalogue: FactCatalogue = CATALOGUE) -> dict[str, Any]:
    """JSON facts (nested or dotted) as the engine reads them: dotted names, dates parsed, numbers as numbers.

    Unknown names are refused: a typo in an integration must not silently leave a fact missing.
    """
    from .facts import coerce

    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and prefix not in catalogue:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            flat[prefix] = value

    walk("", facts)
    result = {}
    for name, value in flat.items():
        fact = catalogue.get(name)
        if fact is None:
            raise DecisionError(f"unknown fact {name!r}")
        try:
            result[name] = coerce(fact, value)
        except FactError as exc:
            raise DecisionError(str(exc)) from None
    return result


__all__ = ["ACTIONS", "CompiledRuleSet", "Decision", "DecisionError", "ExpressionRule", "FiredRule", "Outcome",
           "ReasonCode", "RuleSet", "Stage", "coerce_facts"]
