"""The creditfactory command: tenants as code, lifecycle commands, exit code 2 on bad input."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from creditfactory.cli import cli
from creditfactory.tenancy.registry import directory

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run(cf_settings):
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def tenants_dir(tmp_path, demo_plugins):
    target = tmp_path / "tenants"
    shutil.copytree(ROOT / "tenants", target)
    return target


def _rename_slugs(folder, suffix):
    """Give the demo files unique slugs and codes so tests don't collide with other tests' tenants."""
    for path in folder.glob("*.yaml"):
        text = path.read_text().replace("DEMO-", f"DEMO{suffix}-")
        (folder / f"{path.stem}{suffix}.yaml").write_text(text)
        path.unlink()


def test_every_command_has_help(run):
    for args in (["--help"], ["up", "--help"], ["db", "upgrade", "--help"], ["db", "status", "--help"],
                 ["tenants", "apply", "--help"], ["tenants", "list", "--help"], ["tenants", "show", "--help"],
                 ["tenants", "create", "--help"], ["tenants", "suspend", "--help"], ["tenants", "resume", "--help"],
                 ["tenants", "offboard", "--help"], ["bench", "--help"]):
        result = run(*args)
        assert result.exit_code == 0, (args, result.output)
        assert "Usage:" in result.output


def test_apply_plans_first_then_converges_idempotently(run, tenants_dir):
    _rename_slugs(tenants_dir, "x1")
    dry = run("tenants", "apply", tenants_dir, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "+ create   puerx1" in dry.output and "dry run" in dry.output
    assert directory.lookup("puerx1") is None

    first = run("tenants", "apply", tenants_dir)
    assert first.exit_code == 0, first.output
    assert "created puerx1" in first.output and "created honghux1" in first.output
    assert directory.get_serving("shangshuix1").name_zh == "河南商水粮丰村镇银行"

    again = run("tenants", "apply", tenants_dir)
    assert again.exit_code == 0 and "nothing to do" in again.output

    spec = tenants_dir / "puerx1.yaml"
    spec.write_text(spec.read_text().replace("思茅区", "宁洱哈尼族彝族自治县"))
    changed = run("tenants", "apply", tenants_dir)
    assert "~ update   puerx1" in changed.output and "updated puerx1: county" in changed.output

    shown = json.loads(run("tenants", "show", "puerx1", "--json").output)
    assert shown["county"] == "宁洱哈尼族彝族自治县"
    assert shown["parameters"]["interest.day_count"] == "ACT/360"  # inherited from _standard
    assert shown["parameters"]["region.industries"] == ["tea", "coffee", "beef_cattle", "feed"]


def test_apply_never_drops_without_prune_and_confirmation(fresh_database, run, tenants_dir):
    # Its own database: --prune offboards every registered tenant without a file, other tests' included.
    _rename_slugs(tenants_dir, "x2")
    assert run("tenants", "apply", tenants_dir).exit_code == 0
    (tenants_dir / "honghux2.yaml").unlink()
    kept = run("tenants", "apply", tenants_dir)
    assert "? orphan   honghux2" in kept.output
    assert directory.get("honghux2").status == "active"
    refused = run("tenants", "apply", tenants_dir, "--prune", input="n\n")
    assert refused.exit_code == 1 and directory.get("honghux2").status == "active"
    pruned = run("tenants", "apply", tenants_dir, "--prune", "--yes")
    assert pruned.exit_code == 0, pruned.output
    assert directory.get("honghux2").status == "offboarding"


def test_bad_tenant_file_is_refused_with_exit_2_and_changes_nothing(run, tenants_dir):
    _rename_slugs(tenants_dir, "x3")
    (tenants_dir / "Bad-Slug.yaml").write_text("name_zh: x\n")
    result = run("tenants", "apply", tenants_dir)
    assert result.exit_code == 2
    assert "Bad-Slug.yaml" in result.output and "slug" in result.output
    assert directory.lookup("puerx3") is None


@pytest.mark.parametrize("args", [
    ["tenants", "show", "NOT-A-SLUG"],
    ["tenants", "show", "nosuchtenant"],
    ["tenants", "suspend", "nosuchtenant", "--reason", "x"],
    ["tenants", "resume", "nosuchtenant"],
    ["tenants", "create", "--slug", "1bad"],
    ["db", "upgrade", "--tenant", "Bad Slug"],
    ["db", "upgrade", "--workers", "0"],
    ["tenants", "offboard"],
])
def test_bad_input_exits_2(run, args):
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Error" in result.output


def test_lifecycle_commands(run, tenant_factory):
    tenant = tenant_factory()
    assert run("tenants", "suspend", tenant.slug, "--reason", "regulator order").exit_code == 0
    listed = json.loads(run("tenants", "list", "--json").output)
    row = next(r for r in listed if r["slug"] == tenant.slug)
    assert row["status"] == "suspended" and row["status_reason"] == "regulator order"
    assert run("tenants", "resume", tenant.slug).exit_code == 0
    assert directory.get(tenant.slug).status == "active"
    offboarded = run("tenants", "offboard", tenant.slug, "--yes")
    assert offboarded.exit_code == 0 and "export in" in offboarded.output


def test_create_from_options(run):
    result = run("tenants", "create", "--slug", "clicreated", "--name-zh", "测试", "--name-en", "Test",
                 "--legal-entity-code", "CLI-1", "--province", "云南省")
    assert result.exit_code == 0, result.output
    assert directory.get_serving("clicreated").schema == "t_clicreated"


def test_db_status_and_noop_upgrade(run, tenant_a):
    status = json.loads(run("db", "status", "--json", "--all").output)
    assert status["behind"] == 0 and status["tenants"] >= 1
    upgraded = json.loads(run("db", "upgrade", "--json").output)
    assert upgraded["failed"] == 0 and upgraded["results"] == []


def test_db_revision_creates_the_next_numbered_migration(run, tmp_path, monkeypatch):
    import dataclasses

    from creditfactory import settings as settings_module
    from creditfactory.tenancy.schema import head

    shutil.copytree(ROOT / "migrations", tmp_path / "migrations")
    monkeypatch.setattr(settings_module, "_current",
                        dataclasses.replace(settings_module.get(), migrations_dir=str(tmp_path / "migrations")))
    previous = head("tenant")
    result = run("db", "revision", "--scope", "tenant", "-m", "add loan officer code")
    assert result.exit_code == 0, result.output
    created = list((tmp_path / "migrations" / "tenant").glob(f"t{int(previous[1:]) + 1:04d}_*.py"))
    assert len(created) == 1
    text = created[0].read_text()
    assert f"down_revision = '{previous}'" in text and "add loan officer code" in text
