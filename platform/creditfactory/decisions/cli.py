"""``creditfactory rules``: evaluate decision tables from files (GoRules JDM), list the facts catalogue."""

from __future__ import annotations

import json

import click


@click.group(name="rules")
def rules() -> None:
    """Decision rules: evaluate JDM tables, list facts."""


@rules.command("eval")
@click.option("--jdm", "jdm_file", type=click.Path(exists=True, dir_okay=False), required=True,
              help="A GoRules JDM decision (one decision table).")
@click.option("--input", "input_file", type=click.Path(exists=True, dir_okay=False), required=True,
              help="The input context as JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON document.")
def rules_eval(jdm_file: str, input_file: str, as_json: bool) -> None:
    """Evaluate a JDM decision table with this engine and print the result (as zen-engine shapes it)."""
    from ..cli import InputError, _echo_json
    from ..errors import DomainError
    from .jdm import evaluate_jdm, load_jdm

    try:
        with open(jdm_file, encoding="utf-8") as f:
            compiled = load_jdm(f.read())
        with open(input_file, encoding="utf-8") as f:
            payload = json.load(f)
    except (DomainError, json.JSONDecodeError) as exc:
        raise InputError(str(exc)) from exc
    if not isinstance(payload, dict):
        raise InputError("the input must be a JSON object")
    result = evaluate_jdm(compiled, payload)
    if as_json:
        click.echo(json.dumps({"result": result}, ensure_ascii=False))
    else:
        _echo_json(result)


@rules.command("facts")
@click.option("--json", "as_json", is_flag=True)
def rules_facts(as_json: bool) -> None:
    """List the facts rules may read, with types and labels."""
    from .facts import CATALOGUE

    if as_json:
        click.echo(json.dumps([f.as_dict() for f in CATALOGUE], ensure_ascii=False))
        return
    for fact in CATALOGUE:
        click.echo(f"{fact.name:<34} {fact.type.value:<8} {fact.label_zh} / {fact.label_en}")
