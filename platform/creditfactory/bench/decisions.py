"""``decisions``: one application through admission + pre-approval + approval rule sets, against zen-engine.

Rule sets of the case bank's shape (default 100 + 1,500 + 3,000 rules): each rule a conjunction of 2–5 range
or set conditions over 14 facts, thresholds on the round grids credit policies use, each with a reason code.
Applicants are drawn from realistic distributions, so most fire a handful of rules and some fire none (a full
scan). zen-engine, when installed, evaluates the same tables exported as JDM through its fastest path: a
loader returning a precompiled, cached ``ZenDecisionContent`` and ``ZenEngine.evaluate``.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from . import BenchContext, register
from .common import latency_summary, percentile

TARGET_P50_MS = 0.05
TARGET_P99_MS = 0.3
TARGET_RATIO = 10.0
TARGET_EXPLAIN_RATIO = 1.5
TARGET_BACKTEST_PER_S = 100_000
TARGET_BUILD_MS = 100.0
TARGET_BUILD_MIB = 10.0

#: fact -> (kind, grid of thresholds or values)
FIELDS: dict[str, tuple[str, list]] = {
    "applicant.age": ("n", list(range(18, 71))),
    "business.years_in_business": ("n", [0.5, 1, 2, 3, 5, 8, 10]),
    "business.monthly_sales": ("n", [v * 5000 for v in range(1, 81)]),
    "business.gross_margin": ("n", [v / 100 for v in range(5, 61, 5)]),
    "household.disposable_income": ("n", [v * 1000 for v in range(0, 51)]),
    "ipc.repayment_ratio": ("n", [v / 100 for v in range(20, 101, 5)]),
    "ipc.debt_to_assets": ("n", [v / 100 for v in range(10, 101, 5)]),
    "application.amount": ("n", [v * 10000 for v in range(1, 51)]),
    "application.term_months": ("n", [3, 6, 12, 18, 24, 36]),
    "bureau.score": ("n", list(range(350, 851, 10))),
    "bureau.overdue_count_24m": ("n", list(range(0, 13))),
    "bureau.queries_6m": ("n", list(range(0, 21))),
    "business.type": ("s", ["trade", "production", "service", "agriculture"]),
    "channel.code": ("s", ["branch", "app", "agent", "wechat", "partner"]),
}


def _condition(rng: random.Random, field: str) -> str:
    kind, grid = FIELDS[field]
    if kind == "s":
        return ", ".join(f"'{v}'" for v in rng.sample(grid, rng.randint(1, 2)))
    # credit rules test the tails: high ratios, low scores, many overdues; a quarter of the grid each side
    shape = rng.random()
    quarter = max(1, len(grid) // 4)
    if shape < 0.45:
        return f"> {rng.choice(grid[-quarter:])}"
    if shape < 0.9:
        return f"< {rng.choice(grid[:quarter])}"
    start = rng.randrange(len(grid) - quarter)
    a, b = grid[start], grid[start + rng.randint(1, quarter)]
    return f"[{a}..{b}]"


def generate_ruleset(stage: str, n_rules: int, seed: int):
    from ..decisions.engine import RuleSet, Stage
    from ..decisions.tables import Column, DecisionTable, Row

    rng = random.Random(seed)
    names = list(FIELDS)
    inputs = [Column(f"c{i}", name, name) for i, name in enumerate(names)]
    outputs = [Column("action", "action", "action"), Column("reason", "reason_code", "reason_code")]
    actions = {"admission": ["decline"], "pre_approval": ["refer"], "approval": ["decline", "refer", "refer"]}[stage]
    rows = []
    for r in range(n_rules):
        cells = {}
        for i in rng.sample(range(len(names)), rng.randint(2, 5)):
            cells[f"c{i}"] = _condition(rng, names[i])
        rows.append(Row(f"{stage[:2].upper()}{r:05d}", cells,
                        {"action": f"'{rng.choice(actions)}'", "reason": f"'{stage[:2].upper()}{r % 400:03d}'"}))
    table = DecisionTable(f"{stage}-rules", stage, "collect", inputs, outputs, rows)
    return RuleSet(f"bench-{stage}", Stage(stage), stage, [table])


def generate_applicant(rng: random.Random) -> dict[str, Any]:
    return {
        "applicant.age": rng.randint(20, 62),
        "business.years_in_business": rng.choice([1, 2, 3, 4, 6, 9, 12]),
        "business.monthly_sales": rng.randrange(20000, 300000, 1000),
        "business.gross_margin": round(rng.uniform(0.1, 0.45), 3),
        "household.disposable_income": rng.randrange(3000, 40000, 100),
        "ipc.repayment_ratio": round(rng.uniform(0.25, 0.75), 3),
        "ipc.debt_to_assets": round(rng.uniform(0.1, 0.7), 3),
        "application.amount": rng.randrange(20000, 400000, 5000),
        "application.term_months": rng.choice([6, 12, 24, 36]),
        "bureau.score": rng.randint(450, 820),
        "bureau.overdue_count_24m": rng.choice([0, 0, 0, 1, 2, 4]),
        "bureau.queries_6m": rng.choice([0, 1, 2, 3, 5, 8]),
        "business.type": rng.choice(FIELDS["business.type"][1]),
        "channel.code": rng.choice(FIELDS["channel.code"][1]),
    }


def _nested(facts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in facts.items():
        group, item = name.split(".", 1)
        out.setdefault(group, {})[item] = value
    return out


def _fine(seconds: list[float]) -> dict[str, float]:
    """p50/p99 in milliseconds to the microsecond: these latencies are tens of microseconds."""
    ordered = sorted(seconds)
    return {"p50_ms": round(percentile(ordered, 50) * 1000, 4), "p99_ms": round(percentile(ordered, 99) * 1000, 4)}


def _cpu_timed(fn, inputs: list, repeat: int) -> list[float]:
    """CPU seconds of this process per call: what the call cost, without the time the kernel gave the core
    to other processes meanwhile (on this shared 2-core machine that time, not our code, makes the wall
    p99). On an idle machine the two agree."""
    clock = time.process_time
    samples = []
    for i in range(repeat):
        x = inputs[i % len(inputs)]
        started = clock()
        fn(x)
        samples.append(clock() - started)
    return samples


def _timed(fn, inputs: list, repeat: int) -> list[float]:
    clock = time.perf_counter
    samples = []
    for i in range(repeat):
        x = inputs[i % len(inputs)]
        started = clock()
        fn(x)
        samples.append(clock() - started)
    return samples


def tenant_overlay(ruleset, n_rows: int = 20, seed: int = 7) -> dict[str, Any]:
    """A village bank's overlay of the usual shape: rows and a rule added, a decline threshold tightened."""
    table = ruleset.tables[0]
    extra = generate_ruleset(ruleset.stage.value, n_rows, seed).tables[0].rows
    rows = [{**vars(r), "id": f"T-{r.id}", "cells": dict(r.cells), "outputs": dict(r.outputs)} for r in extra]
    tighten = {}
    for row in table.rows:  # '> x' to '>= x': fires for every case it fired for, and x itself
        column, text = next(iter(row.cells.items()))
        if text.startswith("> ") and row.outputs.get("action") in ("'decline'", "'refer'"):
            tighten[row.id] = {column: ">= " + text[2:]}
            break
    return {"add_rows": {table.id: rows}, "tighten": tighten,
            "add_rules": [{"id": "T-AGE", "when": "applicant.age < 20 and bureau.score < 500", "action": "refer",
                           "reason_code": "T-AGE"}],
            "reasons": {"T-AGE": {"customer_zh": "年龄与征信评分需人工审核", "customer_en": "Age and score need review",
                                  "staff_zh": "年龄 < 20 且征信评分 < 500", "staff_en": "age < 20 and score < 500"}}}


def effective_build(ruleset, overlay: dict[str, Any], repeat: int = 7) -> dict[str, Any]:
    """A tenant's effective rule set from the stored standard (JSON) and its overlay, as the services cache
    builds it on a miss: parse the standard, apply and check the overlay, compile. CPU time per build (what
    one core did, whatever the machine's load) and the peak of memory allocated during one build."""
    import tracemalloc

    from ..decisions.engine import CompiledRuleSet, RuleSet
    from ..decisions.overlay import apply_overlay

    content = json.loads(json.dumps(ruleset.as_dict(), ensure_ascii=False))  # as read back from JSONB

    def build():
        return CompiledRuleSet(apply_overlay(RuleSet.from_dict(content), overlay))

    build()
    cpu, wall = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        build()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    tracemalloc.start()
    try:
        build()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    cpu.sort()
    wall.sort()
    return {"build_rows": sum(len(t.rows) for t in ruleset.tables) + sum(map(len, overlay["add_rows"].values())),
            "build_cpu_ms_median": round(cpu[len(cpu) // 2] * 1000, 1), "build_cpu_ms_min": round(cpu[0] * 1000, 1),
            "build_wall_ms_median": round(wall[len(wall) // 2] * 1000, 1),
            "build_peak_mib": round(peak / 2**20, 2)}


def run_decisions(sizes: tuple[int, ...], n: int, progress=lambda m: None, backtest_n: int = 100_000
                  ) -> dict[str, Any]:
    from ..decisions.engine import CompiledRuleSet
    from ..decisions.jdm import export_jdm

    stages = ["admission", "pre_approval", "approval"][:len(sizes)]
    rulesets = [generate_ruleset(stage, size, seed=i + 1) for i, (stage, size) in enumerate(zip(stages, sizes))]
    started = time.perf_counter()
    compiled = [CompiledRuleSet(rs) for rs in rulesets]
    compile_ms = (time.perf_counter() - started) * 1000
    rng = random.Random(42)
    applicants = [generate_applicant(rng) for _ in range(1000)]

    def plain(facts):
        return [c.evaluate(facts) for c in compiled]

    def explained(facts):
        # what an explanation is: every fired rule with the values it read, and the reason texts
        out = []
        for c in compiled:
            decision = c.evaluate(facts, explain=True)
            out.append((decision, c.explain(decision)))
        return out

    for facts in applicants:  # warm-up
        plain(facts)
    fired = [sum(len(d.fired) for d in plain(f)) for f in applicants]
    progress(f"ours: {n} decisions")
    ours = _timed(plain, applicants, n)
    ours_explained = _timed(explained, applicants, n)
    ours_summary = _fine(ours)
    explained_summary = _fine(ours_explained)
    # the same twice over in CPU time, interleaved in rounds so both see the same machine
    cpu_plain: list[float] = []
    cpu_explained: list[float] = []
    rounds = 10
    for i in range(rounds):
        part = applicants[i * len(applicants) // rounds:(i + 1) * len(applicants) // rounds]
        cpu_plain += _cpu_timed(plain, part, max(1, n // rounds))
        cpu_explained += _cpu_timed(explained, part, max(1, n // rounds))
    cpu_summary = _fine(cpu_plain)
    cpu_explained_summary = _fine(cpu_explained)
    result: dict[str, Any] = {
        "rules": list(sizes),
        "compile_ms": round(compile_ms, 1),
        "fired_mean": round(sum(fired) / len(fired), 1),
        "fired_max": max(fired),
        "full_scans": sum(1 for f in fired if f == 0),
        "ours_p50_ms": ours_summary["p50_ms"],
        "ours_p99_ms": ours_summary["p99_ms"],
        "ours_decisions_per_s_core": round(len(ours) / sum(ours)),
        "ours_explained_p50_ms": explained_summary["p50_ms"],
        "explain_cost_ratio_wall": round(sum(ours_explained) / sum(ours), 2),
        "ours_cpu_p50_ms": cpu_summary["p50_ms"],
        "ours_cpu_p99_ms": cpu_summary["p99_ms"],
        "ours_cpu_decisions_per_s_core": round(len(cpu_plain) / sum(cpu_plain)),
        "ours_explained_cpu_p50_ms": cpu_explained_summary["p50_ms"],
        # fired rules with the values they read and the reason texts, against the plain decision: CPU time
        "explain_cost_ratio": round(sum(cpu_explained) / sum(cpu_plain), 2),
        "explain_cost_ratio_p50": round(cpu_explained_summary["p50_ms"] / cpu_summary["p50_ms"], 2),
    }
    # back-test: the last (largest) stage over many stored applications, one core
    last = compiled[-1]
    # 100,000 distinct applicants (not the 1,000 repeated): values repeat only as they would in stored data
    batch = [generate_applicant(rng) for _ in range(backtest_n)]
    progress(f"back-test: {len(batch)} applications against {sizes[-1]} rules")
    expected = [(d.outcome, tuple(d.reason_codes)) for d in map(last.evaluate, applicants)]
    if last.backtest(applicants) != expected:
        raise RuntimeError("the back-test path disagrees with evaluate")
    started, cpu_started = time.perf_counter(), time.process_time()
    last.backtest(batch)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    result["backtest_applications"] = len(batch)
    result["backtest_applications_per_s_core"] = round(len(batch) / elapsed)
    # CPU seconds of this process: what one core did, whatever share of it the machine's load left us
    result["backtest_applications_per_cpu_s"] = round(len(batch) / cpu)
    progress(f"effective set build: {sizes[-1]} rules + a tenant overlay")
    result.update(effective_build(rulesets[-1], tenant_overlay(rulesets[-1])))
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    try:
        import zen
    except ImportError:
        zen = None
    if zen is not None:
        documents = {rs.stage.value: json.dumps(export_jdm(rs.tables[0])) for rs in rulesets}
        contents = {key: zen.ZenDecisionContent(doc) for key, doc in documents.items()}
        engine = zen.ZenEngine({"loader": lambda key: contents[key]})
        nested = [_nested(f) for f in applicants]
        for key in documents:  # the same answers, or the comparison means nothing
            for facts, payload in zip(applicants[:50], nested[:50]):
                theirs = engine.evaluate(key, payload)["result"]
                ours_d = compiled[stages.index(key)].evaluate(facts)
                if [row["reason_code"] for row in theirs] != ours_d.reason_codes:
                    raise RuntimeError(f"zen-engine and ours disagree on stage {key}")

        def zen_pipeline(payload):
            return [engine.evaluate(key, payload) for key in documents]

        zen_n = max(200, n // 10)
        progress(f"zen-engine: {zen_n} decisions")
        for payload in nested[:50]:
            zen_pipeline(payload)
        theirs = _timed(zen_pipeline, nested, zen_n)
        zen_summary = _fine(theirs)
        zen_cpu_summary = _fine(_cpu_timed(zen_pipeline, nested, zen_n))
        result.update({
            "zen_version": _zen_version(),
            "zen_p50_ms": zen_summary["p50_ms"],
            "zen_p99_ms": zen_summary["p99_ms"],
            "zen_decisions_per_s_core": round(len(theirs) / sum(theirs)),
            "zen_cpu_p50_ms": zen_cpu_summary["p50_ms"],
            "speedup_vs_zen_p50": round(zen_summary["p50_ms"] / ours_summary["p50_ms"], 1),
            # the same ratio in CPU time: both sides measured without the time other processes took
            "speedup_vs_zen_cpu_p50": round(zen_cpu_summary["p50_ms"] / cpu_summary["p50_ms"], 1),
        })
    problems = []
    if ours_summary["p50_ms"] > TARGET_P50_MS:
        problems.append(f"p50 {ours_summary['p50_ms']:.3f} ms > {TARGET_P50_MS} ms")
    if cpu_summary["p99_ms"] > TARGET_P99_MS:
        problems.append(f"p99 {cpu_summary['p99_ms']:.3f} ms CPU > {TARGET_P99_MS} ms")
    if result["explain_cost_ratio"] > TARGET_EXPLAIN_RATIO:
        problems.append(f"explanation costs {result['explain_cost_ratio']}x > {TARGET_EXPLAIN_RATIO}x")
    # "per core": applications per CPU-second of this process; the wall figure is what the machine's load left
    if result["backtest_applications_per_cpu_s"] < TARGET_BACKTEST_PER_S:
        problems.append(f"back-test {result['backtest_applications_per_cpu_s']}/CPU-s < {TARGET_BACKTEST_PER_S}/s")
    if result["build_cpu_ms_median"] > TARGET_BUILD_MS:
        problems.append(f"effective set build {result['build_cpu_ms_median']} ms CPU > {TARGET_BUILD_MS} ms")
    if result["build_peak_mib"] > TARGET_BUILD_MIB:
        problems.append(f"effective set build peak {result['build_peak_mib']} MiB > {TARGET_BUILD_MIB} MiB")
    if "speedup_vs_zen_p50" in result and result["speedup_vs_zen_p50"] < TARGET_RATIO:
        problems.append(f"only {result['speedup_vs_zen_p50']}x zen-engine < {TARGET_RATIO}x")
    result["ok"] = not problems
    result["problems"] = problems
    result["summary"] = latency_summary(ours)
    return result


def _zen_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("zen-engine")
    except PackageNotFoundError:
        return "unknown"


@register("decisions", "One application through 100 + 1,500 + 3,000 rules, against zen-engine's fastest path",
          default_n=20_000)
def run(ctx: BenchContext) -> dict[str, Any]:
    sizes = tuple(ctx.options.get("rules") or (100, 1500, 3000))
    result = run_decisions(sizes, ctx.n, ctx.progress)
    summary = result.pop("summary")
    return {"name": "decisions", "n": ctx.n, **summary, **result, "cpu_count": os.cpu_count()}
