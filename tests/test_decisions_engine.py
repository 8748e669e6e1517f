"""Decision engine: expression language, cells, tables and hit policies, stages, fact checks (no database)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from creditfactory.decisions.engine import (CompiledRuleSet, DecisionError, ExpressionRule, Outcome, ReasonCode,
                                            RuleSet, Stage, coerce_facts)
from creditfactory.decisions.expressions import RuleSyntaxError, compile_expression
from creditfactory.decisions.facts import CATALOGUE, FactType, register_fact
from creditfactory.decisions.tables import (Column, DecisionTable, HitPolicyViolation, Row, compile_table,
                                            parse_cell)


def ev(text, **facts):
    return compile_expression(text).fn({k.replace("__", "."): v for k, v in facts.items()})


def test_expressions_arithmetic_logic_null_and_dates():
    assert ev("business.net_profit + household.other_income - household.expenses",
              business__net_profit=8000, household__other_income=2000, household__expenses=3000) == 7000
    assert ev("applicant.age in [18..65] and not applicant.on_blacklist", applicant__age=65,
              applicant__on_blacklist=False) is True
    assert ev("applicant.age in [18..65)", applicant__age=65) is False
    assert ev("channel.code not in ['partner', 'agent']", channel__code="app") is True
    assert ev("bureau.score between 550 and 700", bureau__score=550) is True
    # null: comparisons are unknown, and/or are three-valued, is null tests
    assert ev("bureau.score > 600") is None
    assert ev("bureau.score > 600 or applicant.age > 60", applicant__age=70) is True
    assert ev("bureau.score > 600 and applicant.age > 60", applicant__age=30) is False
    assert ev("bureau.score is null") is True and ev("bureau.score is not null", bureau__score=1) is True
    assert ev("coalesce(bureau.score, 0)") == 0
    # dates: date - date is days; + n days; months; whole years
    d = dt.date(2026, 1, 31)
    assert ev("application.date - history.last_loan_end", application__date=d,
              history__last_loan_end=dt.date(2025, 12, 31)) == 31
    assert ev("add_months(application.date, 1)", application__date=d) == dt.date(2026, 2, 28)
    assert ev("application.date + 1", application__date=d) == dt.date(2026, 2, 1)
    assert ev("years_between(applicant.birth_date, application.date)", applicant__birth_date=dt.date(2000, 2, 1),
              application__date=d) == 25
    assert ev("application.date >= date('2026-01-01')", application__date=d) is True
    assert ev("application.amount / application.term_months", application__amount=12000,
              application__term_months=12) == 1000
    assert ev("application.amount / application.term_months", application__amount=1, application__term_months=0) is None


@pytest.mark.parametrize("text, message, position", [
    ("applicant.agee > 18", "unknown fact 'applicant.agee'", 1),
    ("applicant.age > 18 and channel.code > 5", "cannot compare a string with a number", 37),
    ("applicant.age == 'old'", "cannot compare a number with a string", 15),
    ("channel.code in ['app', 3]", "cannot compare a string with a number", 25),
    ("applicant.age >", "unexpected end of text", 16),
    ("applicant.age > 18 ;", "unexpected character ';'", 20),
    ("application.date + application.date > 1", "cannot apply '+' to a date and a date", 18),
    ("__import__('os')", "unknown function '__import__'", 1),
])
def test_refused_with_position(text, message, position):
    with pytest.raises(RuleSyntaxError) as info:
        compile_expression(text, expect="boolean")
    assert message in str(info.value)
    assert info.value.position == position


def test_cells_reference_semantics_match_the_bitset_index():
    cells = ["", "< 5", ">= 0.5", "[18..25]", "(1..3]", "'a', 'b'", '"x"', "5", "!= 'a'", "not in ['a', 'b']",
             "null", "in [1, 2]", "< 5, > 10", "!= 5", "true", "not in [3]"]
    table = DecisionTable("t", "", "collect", [Column("c", "x")], [Column("o", "o")],
                          [Row(f"r{i}", {"c": c}, {"o": str(i)}) for i, c in enumerate(cells)])
    compiled = compile_table(table, catalogue=None)
    parsed = [parse_cell(c) for c in cells]
    for value in [None, -1, 0, 0.5, 1, 2, 3, 4.99, 5, 6, 10, 11, 18, 25, 25.5, "a", "b", "x", "z", True, False]:
        expected = [i for i, cell in enumerate(parsed) if cell.accepts(value)]
        assert compiled.hits({"x": value}) == expected, value


def _table(policy, rows):
    return DecisionTable("t", "", policy, [Column("age", "applicant.age"), Column("ch", "channel.code")],
                         [Column("a", "action"), Column("r", "reason_code"), Column("s", "segment")],
                         [Row(f"r{i}", cells, outs, priority=p) for i, (cells, outs, p) in enumerate(rows)])


ROWS = [({"age": "< 18"}, {"a": "'decline'", "r": "'A01'"}, 1),
        ({"age": "[18..60]", "ch": "'app'"}, {"s": "'digital'"}, 5),
        ({"ch": "'app', 'wechat'"}, {"s": "'remote'"}, 9)]


def test_hit_policies():
    facts = {"applicant.age": 30, "channel.code": "app"}
    assert compile_table(_table("first", ROWS)).hits(facts) == [1]
    assert compile_table(_table("collect", ROWS)).hits(facts) == [1, 2]
    assert compile_table(_table("priority", ROWS)).hits(facts) == [2]
    with pytest.raises(HitPolicyViolation):
        compile_table(_table("unique", ROWS)).hits(facts)
    assert compile_table(_table("unique", ROWS)).hits({"applicant.age": 10, "channel.code": "branch"}) == [0]


def test_table_cell_type_errors_are_refused_with_position():
    bad = _table("first", [({"age": "'old'"}, {}, 0)])
    with pytest.raises(RuleSyntaxError) as info:
        compile_table(bad)
    assert "applicant.age is a number" in str(info.value) and "row r0" in str(info.value)
    unknown = DecisionTable("t", "", "first", [Column("c", "applicant.shoe_size")], [], [])
    with pytest.raises(RuleSyntaxError, match="unknown fact 'applicant.shoe_size'"):
        compile_table(unknown)
    with pytest.raises(RuleSyntaxError, match="position 3"):
        compile_table(_table("first", [({"age": "< 'x"}, {}, 0)]))


def _approval() -> CompiledRuleSet:
    table = DecisionTable("t1", "approval", "collect",
                          [Column("ratio", "ipc.repayment_ratio"), Column("amt", "application.amount"),
                           Column("bad", "bureau.has_bad_debt")],
                          [Column("a", "action"), Column("r", "reason_code")],
                          [Row("bad-debt", {"bad": "true"}, {"a": "'decline'", "r": "'D_BAD_DEBT'"}, locked=True),
                           Row("ratio", {"ratio": "> 0.7"}, {"a": "'refer'", "r": "'R_RATIO'"}),
                           Row("small", {"ratio": "<= 0.5", "amt": "<= 50000", "bad": "false"},
                               {"a": "'approve'", "r": "'A_SMALL'"})])
    rules = [ExpressionRule("young-business", "business.years_in_business < 1", "refer", "R_YOUNG")]
    reasons = {"D_BAD_DEBT": ReasonCode("D_BAD_DEBT", "征信记录不符合要求", "Your credit record does not meet our "
                                        "requirements", "征信存在不良", "Bad debt on the bureau report")}
    return CompiledRuleSet(RuleSet("std-approval", Stage.APPROVAL, "", [table], rules, reasons))


def test_approval_outcomes_reasons_and_explanation():
    engine = _approval()
    small = {"ipc.repayment_ratio": 0.4, "application.amount": 30000, "bureau.has_bad_debt": False,
             "business.years_in_business": 3}
    d = engine.evaluate(small)
    assert d.outcome is Outcome.APPROVE and d.reason_codes == ["A_SMALL"]
    d = engine.evaluate({**small, "ipc.repayment_ratio": 0.8, "business.years_in_business": 0.5}, explain=True)
    assert d.outcome is Outcome.REFER and d.reason_codes == ["R_RATIO", "R_YOUNG"]
    assert d.fired[0].values == {"ipc.repayment_ratio": 0.8}
    assert d.fired[1].values == {"business.years_in_business": 0.5}
    d = engine.evaluate({**small, "bureau.has_bad_debt": True, "ipc.repayment_ratio": 0.9})
    assert d.outcome is Outcome.DECLINE and d.reason_codes == ["D_BAD_DEBT", "R_RATIO"]
    assert engine.explain(d, "zh")[0]["text"] == "征信记录不符合要求"
    assert engine.explain(d, "en", "staff")[0]["text"] == "Bad debt on the bureau report"
    # nothing fired: approval refers by default, never approves silently
    assert engine.evaluate({"ipc.repayment_ratio": 0.6}).outcome is Outcome.REFER


def test_fact_types_checked_at_evaluation_and_coerced_from_json():
    engine = _approval()
    with pytest.raises(DecisionError, match="ipc.repayment_ratio must be a number"):
        engine.evaluate({"ipc.repayment_ratio": "0.4"})
    facts = coerce_facts({"ipc": {"repayment_ratio": "0.4"}, "application": {"date": "2026-11-28"}})
    assert facts == {"ipc.repayment_ratio": 0.4, "application.date": dt.date(2026, 11, 28)}
    with pytest.raises(DecisionError, match="unknown fact 'ipc.nope'"):
        coerce_facts({"ipc": {"nope": 1}})


def test_plugins_register_facts():
    register_fact("plugin_demo.land_mu", FactType.NUMBER, "承包地亩数", "Contracted land (mu)", source="demo")
    assert CATALOGUE.get("plugin_demo.land_mu").label_zh == "承包地亩数"
    assert compile_expression("plugin_demo.land_mu >= 5").fn({"plugin_demo.land_mu": 6}) is True


def test_random_tables_agree_with_reference_semantics():
    rng = random.Random(7)
    numeric = ["< {a}", "<= {a}", "> {a}", ">= {a}", "[{a}..{b}]", "({a}..{b}]", "{a}", "!= {a}",
               "not in [{a}, {b}]", "< {a}, > {b}", ""]
    for _ in range(30):
        cells = []
        for _ in range(40):
            a, b = sorted(rng.sample(range(0, 20), 2))
            cells.append(rng.choice(numeric).format(a=a, b=b))
        table = DecisionTable("t", "", "collect", [Column("c", "x")], [Column("o", "o")],
                              [Row(f"r{i}", {"c": c}, {"o": str(i)}) for i, c in enumerate(cells)])
        compiled = compile_table(table, catalogue=None)
        parsed = [parse_cell(c) for c in cells]
        for value in [None, *[v / 2 for v in range(-2, 44)]]:
            assert compiled.hits({"x": value}) == [i for i, c in enumerate(parsed) if c.accepts(value)]


def test_backtest_path_agrees_with_evaluate():
    from creditfactory.bench.decisions import generate_applicant, generate_ruleset

    rng = random.Random(3)
    applicants = [generate_applicant(rng) for _ in range(300)]
    for stage, size in (("admission", 100), ("approval", 600)):
        engine = CompiledRuleSet(generate_ruleset(stage, size, seed=5))
        expected = [(d.outcome, tuple(d.reason_codes)) for d in map(engine.evaluate, applicants)]
        assert engine.backtest(applicants) == expected
    standard = _approval()
    facts = [{"ipc.repayment_ratio": r / 10, "application.amount": 30000, "bureau.has_bad_debt": b,
              "business.years_in_business": y} for r in range(10) for b in (True, False) for y in (0.5, 3)]
    assert standard.backtest(facts) == [(d.outcome, tuple(d.reason_codes)) for d in map(standard.evaluate, facts)]


@pytest.mark.parametrize("text", ["< 5", "<=5", "> -3", ">= 0.25", ">- 2.5", "[1..2]", "(1..2]", "[ -1 .. 3.5 )",
                                  "(0..0)", "< 05", "> 1.0", "[550..700]", "[0.5..1)"])
def test_simple_cells_read_without_the_tokenizer_equal_the_full_parser(text, monkeypatch):
    import re

    from creditfactory.decisions import tables

    fast = parse_cell(text)
    never = re.compile("(?!)")
    monkeypatch.setattr(tables, "_SIMPLE_COMPARISON", never)
    monkeypatch.setattr(tables, "_SIMPLE_RANGE", never)
    full = parse_cell(text)
    assert fast == full
    assert [type(v) for i in fast.intervals for v in i] == [type(v) for i in full.intervals for v in i]


def test_overlay_changes_a_copy_equal_to_a_deep_copy_and_never_the_standard():
    import copy

    from creditfactory.bench.decisions import generate_ruleset, tenant_overlay
    from creditfactory.decisions.overlay import apply_overlay

    standard = generate_ruleset("approval", 300, seed=11)
    standard.rules.append(ExpressionRule("R1", "applicant.age < 20", "refer", "R1", {"note": "'young'"},
                                         optional=True))
    standard.reasons["R1"] = ReasonCode("R1", "年轻", "young", "年龄 < 20", "age < 20")
    before = copy.deepcopy(standard)
    overlay = tenant_overlay(standard)
    overlay["disable"] = ["R1"]
    effective = apply_overlay(standard, overlay)
    assert standard == before  # nothing of the standard changed
    (row_id, cells), = overlay["tighten"].items()
    index = [r.id for r in standard.tables[0].rows].index(row_id)
    assert effective.tables[0].rows[index].cells == {**standard.tables[0].rows[index].cells, **cells}
    assert effective.tables[0].rows[index].cells != standard.tables[0].rows[index].cells
    assert not effective.rules[0].enabled and standard.rules[0].enabled
    assert effective == apply_overlay(copy.deepcopy(standard), overlay)
    effective.tables[0].rows[1].outputs["extra"] = "1"
    effective.reasons["R1"].customer_en = "changed"
    assert standard == before


def test_reason_texts_in_first_fired_order_for_every_kind_of_code():
    table = DecisionTable("t", "", "collect", [Column("age", "applicant.age")],
                          [Column("reason", "reason_code"), Column("action", "action")],
                          [Row("r1", {"age": "< 30"}, {"reason": "'YOUNG'", "action": "'refer'"}),
                           Row("r2", {"age": "< 40"}, {"reason": "channel.code"}),
                           Row("r3", {"age": "< 50"}, {"reason": "'NOTEXT'"}),
                           Row("r4", {"age": "< 60"}, {"reason": "'YOUNG'"})])
    ruleset = RuleSet("s", Stage.APPROVAL, "", [table], [ExpressionRule("e1", "applicant.age < 25", "", "RULE")],
                      {"YOUNG": ReasonCode("YOUNG", "年轻", "young", "年龄小", "age below 30"),
                       "RULE": ReasonCode("RULE", "规则", "rule", "规则命中", "rule hit")})
    engine = CompiledRuleSet(ruleset)
    d = engine.evaluate({"applicant.age": 20, "channel.code": "app"})
    assert d.reason_codes == ["YOUNG", "app", "NOTEXT", "YOUNG", "RULE"]
    assert engine.explain(d, "zh_Hans_CN") == [{"code": "YOUNG", "text": "年轻"}, {"code": "app", "text": "app"},
                                               {"code": "NOTEXT", "text": "NOTEXT"}, {"code": "RULE", "text": "规则"}]
    texts = engine.explain(d, "en", "staff")
    assert [t["text"] for t in texts] == ["age below 30", "app", "NOTEXT", "rule hit"]
    texts[0]["text"] = "changed"  # each call hands out its own dicts
    assert engine.explain(d, "en", "staff")[0]["text"] == "age below 30"


def test_compiled_per_distinct_cell_matches_reference_semantics_and_constrained_columns():
    # three columns, two of them sharing an id (both read the row's cell), cells repeating across rows
    rng = random.Random(12)
    texts = ["< 3", "[2..5]", ">= 4", "", "-", "  ", "!= 2", "not in [1, 4]", "1, 3", "null"]
    for _ in range(20):
        rows = []
        for i in range(60):
            cells = {c: rng.choice(texts) for c in ("a", "b") if rng.random() < 0.8}
            rows.append(Row(f"r{i}", cells, {"o": str(i)}))
        table = DecisionTable("t", "", "collect", [Column("a", "x"), Column("b", "y"), Column("a", "z")],
                              [Column("o", "o")], rows)
        compiled = compile_table(table, catalogue=None)
        for row, tested in zip(rows, compiled.row_constrained):
            expected = [p for p, c in enumerate(("a", "b", "a")) if not parse_cell(row.cells.get(c, "")).any]
            assert list(tested) == expected
        for _ in range(30):
            facts = {k: rng.choice([None, 0, 1, 2, 3, 4.5, 6]) for k in ("x", "y", "z")}
            expected = [i for i, row in enumerate(rows)
                        if all(parse_cell(row.cells.get(c, "")).accepts(facts[f])
                               for c, f in (("a", "x"), ("b", "y"), ("a", "z")))]
            assert compiled.hits(facts) == expected
