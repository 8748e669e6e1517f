"""GoRules JDM import/export and agreement with zen-engine on random tables and inputs."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner

from creditfactory.decisions.jdm import UnsupportedJDM, evaluate_jdm, export_jdm, import_jdm, load_jdm

zen = pytest.importorskip("zen")

STRINGS = ["trade", "production", "service", "agriculture"]


def _numeric_cell(rng: random.Random) -> str:
    a, b = sorted(rng.sample(range(0, 100, 5), 2))
    return rng.choice([f"< {a}", f"<= {a}", f"> {a}", f">= {a}", f"[{a}..{b}]", f"({a}..{b}]", f"[{a}..{b})",
                       f"({a}..{b})", f"{a}", f"!= {a}", f"not in [{a}, {b}]", f"in [{a}, {b}]", f"{a / 10}",
                       ""])


def _string_cell(rng: random.Random) -> str:
    a, b = rng.sample(STRINGS, 2)
    return rng.choice([f"'{a}'", f"'{a}', '{b}'", f'"{a}"', f"!= '{a}'", f"not in ['{a}', '{b}']",
                       f"in ['{a}']", "null", ""])


def _bool_cell(rng: random.Random) -> str:
    return rng.choice(["true", "false", "", "null"])


def random_document(rng: random.Random) -> dict:
    kinds = [rng.choice(["n", "n", "s", "b"]) for _ in range(rng.randint(1, 5))]
    inputs = [{"id": f"i{k}", "name": f"col{k}", "field": f"applicant.f{k}"} for k in range(len(kinds))]
    outputs = [{"id": "o1", "name": "code", "field": "result.code"}, {"id": "o2", "name": "score", "field": "score"}]
    rules = []
    for r in range(rng.randint(1, 40)):
        rule = {"_id": f"r{r}"}
        for k, kind in enumerate(kinds):
            rule[f"i{k}"] = {"n": _numeric_cell, "s": _string_cell, "b": _bool_cell}[kind](rng)
        rule["o1"] = f"'R{r}'"
        rule["o2"] = rng.choice([str(r), f"{r}.5", "true", "null", ""])
        rules.append(rule)
    return {"nodes": [{"id": "in", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 0}},
                      {"id": "t", "type": "decisionTableNode", "name": "T", "position": {"x": 0, "y": 0},
                       "content": {"hitPolicy": rng.choice(["first", "collect"]), "inputs": inputs,
                                   "outputs": outputs, "rules": rules}},
                      {"id": "out", "type": "outputNode", "name": "Response", "position": {"x": 0, "y": 0}}],
            "edges": [{"id": "e1", "sourceId": "in", "targetId": "t", "type": "edge"},
                      {"id": "e2", "sourceId": "t", "targetId": "out", "type": "edge"}]}, kinds


def random_input(rng: random.Random, kinds: list[str]) -> dict:
    applicant = {}
    for k, kind in enumerate(kinds):
        if rng.random() < 0.1:
            continue  # missing
        if rng.random() < 0.1:
            applicant[f"f{k}"] = None
        elif kind == "n":
            applicant[f"f{k}"] = rng.choice([rng.randrange(0, 100, 5), rng.uniform(-5, 105), rng.randint(0, 100)])
        elif kind == "s":
            applicant[f"f{k}"] = rng.choice(STRINGS + ["other"])
        else:
            applicant[f"f{k}"] = rng.choice([True, False])
    return {"applicant": applicant}


def test_random_tables_agree_with_zen_engine():
    rng = random.Random(20261128)
    engine = zen.ZenEngine()
    compared = 0
    for _ in range(150):
        document, kinds = random_document(rng)
        ours = load_jdm(document)
        theirs = engine.create_decision(json.dumps(document))
        for _ in range(15):
            payload = random_input(rng, kinds)
            expected = theirs.evaluate(payload)["result"]
            assert evaluate_jdm(ours, payload) == expected, (document, payload)
            compared += 1
    assert compared == 150 * 15


def test_round_trip_and_refusals(tmp_path):
    document, _ = random_document(random.Random(1))
    table = import_jdm(document)
    again = import_jdm(export_jdm(table))
    assert again.as_dict() == table.as_dict()
    switch = {"nodes": [{"id": "s", "type": "switchNode", "name": "Route"}], "edges": []}
    with pytest.raises(UnsupportedJDM, match="node 'Route' of type 'switchNode' is not supported"):
        import_jdm(switch)
    computed = json.loads(json.dumps(document))
    computed["nodes"][1]["content"]["rules"][0]["o2"] = "applicant.f0 * 2"
    with pytest.raises(UnsupportedJDM, match="only literal outputs"):
        import_jdm(computed)
    table.hit_policy = "priority"
    with pytest.raises(UnsupportedJDM, match="no 'priority' hit policy"):
        export_jdm(table)


def test_rules_eval_command(tmp_path):
    from creditfactory.cli import cli

    document = {"nodes": [{"id": "in", "type": "inputNode", "name": "Request"},
                          {"id": "t", "type": "decisionTableNode", "name": "Admission",
                           "content": {"hitPolicy": "collect",
                                       "inputs": [{"id": "a", "name": "Age", "field": "applicant.age"}],
                                       "outputs": [{"id": "r", "name": "Reason", "field": "reason"}],
                                       "rules": [{"_id": "1", "a": "< 18", "r": "'A_MINOR'"},
                                                 {"_id": "2", "a": "> 65", "r": "'A_OLD'"},
                                                 {"_id": "3", "a": "", "r": "'SEEN'"}]}},
                          {"id": "out", "type": "outputNode", "name": "Response"}],
                "edges": [{"id": "e1", "sourceId": "in", "targetId": "t"},
                          {"id": "e2", "sourceId": "t", "targetId": "out"}]}
    (tmp_path / "t.json").write_text(json.dumps(document))
    (tmp_path / "in.json").write_text(json.dumps({"applicant": {"age": 70}}))
    result = CliRunner().invoke(cli, ["rules", "eval", "--jdm", str(tmp_path / "t.json"), "--input",
                                      str(tmp_path / "in.json"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"result": [{"reason": "A_OLD"}, {"reason": "SEEN"}]}
    (tmp_path / "bad.json").write_text(json.dumps({"nodes": [{"id": "x", "type": "functionNode"}]}))
    result = CliRunner().invoke(cli, ["rules", "eval", "--jdm", str(tmp_path / "bad.json"), "--input",
                                      str(tmp_path / "in.json")])
    assert result.exit_code == 2 and "functionNode" in result.output


def test_rules_check_command(tmp_path):
    from pathlib import Path

    from creditfactory.cli import cli

    rules = Path(__file__).resolve().parents[1] / "tenants" / "_standard" / "rules"
    result = CliRunner().invoke(cli, ["rules", "check", str(rules / "approval.json")])
    assert result.exit_code == 0 and "std-approval (approval) ok, 6 rows" in result.output, result.output
    bad = json.loads((rules / "admission.json").read_text(encoding="utf-8"))
    bad["rules"][0]["when"] = "bureau.max_overdue_dayz > 90"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    result = CliRunner().invoke(cli, ["rules", "check", str(tmp_path / "bad.json")])
    assert result.exit_code == 2 and "unknown fact 'bureau.max_overdue_dayz' at position 1" in result.output
