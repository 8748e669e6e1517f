"""``creditfactory bench decisions`` reports every figure issue 6 names (what it measures, never how fast)."""

from __future__ import annotations

from creditfactory.bench.decisions import effective_build, generate_ruleset, run_decisions, tenant_overlay
from creditfactory.decisions.engine import CompiledRuleSet
from creditfactory.decisions.overlay import apply_overlay


def test_the_bench_reports_latency_zen_ratio_explanation_back_test_and_build():
    result = run_decisions((20, 40, 60), n=30, backtest_n=300)
    for key in ("ours_p50_ms", "ours_p99_ms", "ours_cpu_p50_ms", "ours_cpu_p99_ms", "ours_decisions_per_s_core",
                "ours_cpu_decisions_per_s_core", "explain_cost_ratio", "explain_cost_ratio_p50", "explain_cost_ratio_wall",
                "backtest_applications_per_s_core", "backtest_applications_per_cpu_s", "build_cpu_ms_median",
                "build_wall_ms_median", "build_peak_mib", "load_average", "problems", "ok"):
        assert key in result, key
    assert result["backtest_applications"] == 300
    assert result["build_rows"] == 60 + 20
    assert result["build_peak_mib"] > 0 and result["explain_cost_ratio"] > 0
    if "zen_version" in result:  # zen-engine is in the test extra
        assert result["speedup_vs_zen_p50"] > 0 and result["speedup_vs_zen_cpu_p50"] > 0


def test_the_tenant_overlay_of_the_bench_is_accepted_and_compiles():
    standard = generate_ruleset("approval", 200, seed=3)
    overlay = tenant_overlay(standard)
    assert overlay["tighten"]
    compiled = CompiledRuleSet(apply_overlay(standard, overlay))
    assert len(compiled.tables[0].row_ids) == 220 and len(compiled.rules) == 1
    figures = effective_build(standard, overlay, repeat=1)
    assert figures["build_rows"] == 220
