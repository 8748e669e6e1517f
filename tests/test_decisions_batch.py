"""The column-wise back-test gives exactly what one decision at a time gives (outcome and every reason, in order)."""

from __future__ import annotations

import random

import pytest

from creditfactory.bench.decisions import generate_applicant, generate_ruleset
from creditfactory.decisions import batch
from creditfactory.decisions.engine import CompiledRuleSet, RuleSet


def _expected(compiled, applications):
    return [(d.outcome, tuple(d.reason_codes)) for d in map(compiled.evaluate, applications)]


@pytest.mark.parametrize("stage,size,seed", [("admission", 100, 1), ("pre_approval", 300, 2), ("approval", 600, 3)])
def test_column_wise_back_test_equals_evaluate(stage, size, seed, monkeypatch):
    compiled = CompiledRuleSet(generate_ruleset(stage, size, seed=seed))
    rng = random.Random(seed)
    applications = [generate_applicant(rng) for _ in range(700)]
    for facts in applications[::7]:  # missing and null facts too
        facts.pop(next(iter(facts)))
    for facts in applications[3::11]:
        facts[next(iter(facts))] = None
    monkeypatch.setattr(batch, "BATCH", 256)  # several batches, the last one short
    assert batch.plan_for(compiled) is not None
    assert compiled.backtest(applications) == _expected(compiled, applications)
    assert compiled.backtest_rows(applications) == _expected(compiled, applications)


@pytest.mark.parametrize("planes_per_hit", [8, 0])  # reasons gathered from packed planes, or row by row
def test_complete_applications_read_in_one_pass_and_dense_and_sparse_rows_agree(planes_per_hit, monkeypatch):
    monkeypatch.setattr(batch, "PLANES_PER_HIT", planes_per_hit)
    # every application has every fact: the one-pass itemgetter read; 3,000 rows over 2,000 applications give
    # rows that hit a few applications and rows that hit many (the two ways of spreading reasons)
    compiled = CompiledRuleSet(generate_ruleset("approval", 3000, seed=4))
    rng = random.Random(4)
    applications = [generate_applicant(rng) for _ in range(2000)]
    plan = batch.plan_for(compiled)
    facts = [c.fact for c in plan[0].columns]
    assert all(set(facts) <= set(a) for a in applications)
    read = batch._read_facts(facts, applications)
    assert read == {f: tuple(a[f] for a in applications) for f in facts}
    hits = [m.bit_count() for m in _row_sets(compiled, applications)]
    assert any(h * 32 > len(applications) for h in hits) and any(0 < h * 32 <= len(applications) for h in hits)
    assert compiled.backtest(applications) == _expected(compiled, applications)
    first = generate_ruleset("approval", 3000, seed=4)
    first.tables[0].hit_policy = "first"
    compiled = CompiledRuleSet(first)
    assert compiled.backtest(applications) == _expected(compiled, applications)


def _row_sets(compiled, applications):
    table = compiled.tables[0]
    sets = [0] * len(table.row_ids)
    for i, facts in enumerate(applications):
        for r in table.hits(facts):
            sets[r] |= 1 << i
    return sets


def test_standard_sets_with_first_policy_rules_and_computed_outputs_agree():
    import json
    import pathlib

    directory = pathlib.Path(__file__).resolve().parents[1] / "tenants" / "_standard" / "rules"
    rng = random.Random(5)
    applications = [generate_applicant(rng) for _ in range(400)]
    for path in sorted(directory.glob("*.json")):
        compiled = CompiledRuleSet(RuleSet.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        assert compiled.backtest(applications) == _expected(compiled, applications), path.name


def test_a_priority_table_takes_the_row_path():
    ruleset = generate_ruleset("approval", 50, seed=9)
    ruleset.tables[0].hit_policy = "priority"
    compiled = CompiledRuleSet(ruleset)
    assert batch.plan_for(compiled) is None
    rng = random.Random(9)
    applications = [generate_applicant(rng) for _ in range(200)]
    assert compiled.backtest(applications) == _expected(compiled, applications)
