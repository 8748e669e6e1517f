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


@rules.command("check")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False), required=True)
def rules_check(files: tuple[str, ...]) -> None:
    """Check rule-set files (JSON): every fact known, every comparison typed; errors give the position."""
    from ..cli import InputError
    from ..errors import DomainError
    from .engine import CompiledRuleSet, RuleSet

    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                compiled = CompiledRuleSet(RuleSet.from_dict(json.load(f)))
        except (DomainError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: {exc}") from exc
        rows = sum(len(t.row_ids) for t in compiled.tables)
        click.echo(f"{path}: {compiled.ruleset.code} ({compiled.stage.value}) ok, {rows} rows, "
                   f"{len(compiled.rules)} rules, hash {compiled.hash[:12]}")


@rules.command("sync-standard")
@click.option("--effective-from", type=click.DateTime(["%Y-%m-%d"]), required=True,
              help="Date the new standard versions take effect.")
def rules_sync_standard(effective_from) -> None:
    """Publish each head-office rule-set file (tenants/_standard/rules) whose content changed."""
    from ..cli import boot, cli_actor, domain_errors
    from ..audit import CurrentActor
    from ..db import SystemContext, shared_session
    from .services import sync_standard

    @domain_errors
    def run() -> None:
        boot()
        with SystemContext("rules sync-standard"), CurrentActor.bind(cli_actor()), shared_session() as session, \
                session.begin():
            published = sync_standard(session, effective_from.date())
        for version in published:
            click.echo(f"published {version.code} v{version.version} ({version.content_hash[:12]}) "
                       f"from {version.effective_from}")
        if not published:
            click.echo("standard rule sets are up to date")

    run()
