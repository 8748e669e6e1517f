"""The ``creditfactory`` command: run the platform, migrate, manage tenants, benchmark."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import sys
from typing import TYPE_CHECKING, Any, Callable

import click

from . import settings as settings_module
from .bench.cli import bench
from .plugins.cli import plugin, plugins
from .decisions.cli import rules
from .lending.calc.cli import calc
from .lending.cob.cli import cob as cob_cli
from .reporting.cli import demo as demo_cli, reports as reports_cli
from .settings import SettingsError

if TYPE_CHECKING:
    from .audit import Actor


class InputError(click.ClickException):
    """Bad input: a clear message and exit code 2, nothing changed."""

    exit_code = 2


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=str, indent=2))


def boot() -> settings_module.Settings:
    """Load settings and, with no database URL, start the embedded PostgreSQL (stopped when the command ends,
    unless another process, such as ``creditfactory up``, still uses it)."""
    from .db.embedded import with_embedded_database

    try:
        settings = settings_module.get()
    except SettingsError as exc:
        raise InputError(str(exc)) from exc
    if settings.embedded:
        settings = settings_module.configure(with_embedded_database(settings))
    return settings


def domain_errors(func: Callable) -> Callable:
    """Turn the domain's input errors into exit code 2 with the domain's own message."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from .errors import DomainError
        from .tenancy.schema import InvalidSlug
        from .tenancy.services import TenantError
        from .tenancy.specs import SpecDirectoryError

        try:
            return func(*args, **kwargs)
        except (TenantError, InvalidSlug, SpecDirectoryError, SettingsError, DomainError) as exc:
            raise InputError(str(exc)) from exc

    return wrapper


def cli_actor() -> "Actor":
    """Whoever runs the command answers for what it changes: ``cli:<os user>`` in the audit log."""
    import getpass
    import os

    from .audit import Actor, ActorKind

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # a container user with no passwd entry and no LOGNAME
        user = f"uid{os.getuid()}"
    return Actor(id=f"cli:{user}", kind=ActorKind.SYSTEM, display=f"creditfactory command run by {user}")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Credit Factory: the micro-credit factory for many village banks."""
    from .audit import CurrentActor
    from .web import logs

    # The settings may be invalid here (reported by the command itself); the format needs none of them.
    logs.configure(settings_module.Settings(), level="DEBUG" if verbose else "WARNING")
    ctx.with_resource(CurrentActor.bind(cli_actor()))


# --- db ---------------------------------------------------------------------------------------

@cli.group()
def db() -> None:
    """Database schema: upgrade shared and tenant schemas, show their versions."""


@db.command("upgrade")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Parallel tenant worker processes [setting migration_workers].")
@click.option("--canary", type=click.IntRange(0), default=0, help="Upgrade N tenants first, one by one; stop if one fails.")
@click.option("--tenant", "slugs", multiple=True, help="Only these tenants (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@domain_errors
def db_upgrade(workers: int | None, canary: int, slugs: tuple[str, ...], as_json: bool) -> None:
    """Upgrade cf_shared, then every tenant schema behind head (resumable; failures are retried next run)."""
    from .tenancy import migrations
    from .tenancy.schema import validate_slug

    for slug in slugs:
        validate_slug(slug)
    boot()
    progress: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:

        def on_plan(count: int) -> None:
            if count and not as_json:
                progress["bar"] = stack.enter_context(
                    click.progressbar(length=count, label="tenants", file=sys.stderr, show_pos=True))

        def on_result(result) -> None:
            if "bar" in progress:
                progress["bar"].update(1)

        try:
            report = migrations.upgrade(workers=workers, canary=canary, slugs=slugs or None, on_plan=on_plan,
                                        on_result=on_result)
        except migrations.MigrationRunInProgress as exc:
            raise click.ClickException(str(exc)) from exc
    if as_json:
        _echo_json(dataclasses.asdict(report) | {"failed": len(report.failed)})
    else:
        before, after = report.shared
        click.echo(f"cf_shared: {before or 'empty'} -> {after}")
        click.echo(f"tenants: {len(report.upgraded)} upgraded to {report.head}, {report.at_head} already at head, "
                   f"{len(report.failed)} failed ({report.seconds:.2f} s)")
        for result in report.failed:
            click.echo(f"  FAILED {result.slug}: {result.error}", err=True)
        if report.aborted_after_canary:
            click.echo("canary failed: the other tenants were not touched", err=True)
        for slug, error in report.plugin_failures.items():
            click.echo(f"  FAILED plugin tables of {slug}: {error}", err=True)
    if report.failed or report.plugin_failures:
        sys.exit(1)


@db.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.option("--all", "show_all", is_flag=True, help="List every tenant, not only those behind head.")
def db_status(as_json: bool, show_all: bool) -> None:
    """Show the shared revision and the tenants whose schema is behind head."""
    from sqlalchemy.exc import ProgrammingError

    from .tenancy import migrations

    boot()
    try:
        shared, head, versions = migrations.status()
    except ProgrammingError as exc:  # no cf_shared yet
        raise click.ClickException("the database is not initialised: run 'creditfactory db upgrade'") from exc
    behind = [v for v in versions if v.behind]
    listed = versions if show_all else behind
    if as_json:
        _echo_json({"shared": shared, "tenant_head": head, "tenants": len(versions), "behind": len(behind),
                    "rows": [dataclasses.asdict(v) for v in listed]})
        return
    click.echo(f"cf_shared at {shared}; tenant head {head}; {len(behind)} of {len(versions)} tenants behind")
    for v in listed:
        error = f"  last error: {v.last_error}" if v.last_error else ""
        click.echo(f"  {v.slug:<24} {v.revision or '-':<12}{error}")


@db.command("revision")
@click.option("--scope", type=click.Choice(["shared", "tenant"]), required=True)
@click.option("-m", "--message", required=True)
def db_revision(scope: str, message: str) -> None:
    """Create an empty migration in migrations/<scope>/ (see migrations/README.md)."""
    from alembic import command

    from .tenancy.schema import alembic_config

    settings = settings_module.get()
    config = alembic_config(scope)  # type: ignore[arg-type]
    script = command.revision(config, message=message, rev_id=_next_rev_id(scope))
    click.echo(f"created {script.path if script else '?'} ({settings.migrations_dir})")


def _next_rev_id(scope: str) -> str:
    from .tenancy.schema import script_directory

    prefix = scope[0]
    numbers = [int(rev.revision[1:]) for rev in script_directory(scope).walk_revisions()  # type: ignore[arg-type]
               if rev.revision[1:].isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1:04d}"


# --- tenants ----------------------------------------------------------------------------------

@cli.group()
def tenants() -> None:
    """Village banks: declare, create, suspend, resume, offboard."""


@tenants.command("apply")
@click.argument("path", type=click.Path(file_okay=False), default=lambda: settings_module.get().tenants_dir)
@click.option("--dry-run", is_flag=True, help="Show the plan, change nothing.")
@click.option("--prune", is_flag=True, help="Offboard registered tenants that have no file (export first).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation of --prune.")
@domain_errors
def tenants_apply(path: str, dry_run: bool, prune: bool, yes: bool) -> None:
    """Converge the registry to the tenant files in PATH (default: tenants/). Idempotent."""
    from .lending.products import declared as products_declared
    from .tenancy import specs

    declared = specs.load_specs(path)
    products_declared.load_folder(path)  # refuse bad product files before anything changes
    boot()
    current = specs.plan(declared)
    for line in current.lines(prune=prune):
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing changed")
        return
    errors = []
    if current.empty and not (prune and current.orphans):
        click.echo("nothing to do for the registry")
    else:
        if prune and current.orphans and not yes:
            click.confirm(f"Offboard {len(current.orphans)} tenant(s) not in {path}? Their data is exported, "
                          f"their schema dropped after the retention period", abort=True)
        errors = specs.apply(current, prune=prune, on_step=click.echo)
    # Standard product templates, then each bank's declared products (see docs/products.md).
    errors += products_declared.apply_folder(path, on_step=click.echo)
    # The head-office rule sets every bank's decision engine reads (as `rules sync-standard`).
    from .lending.origination.services import ensure_standard_rules
    published = ensure_standard_rules("tenants apply: standard rule sets")
    click.echo(f"standard rule sets: {', '.join(published) if published else 'unchanged'}")
    for error in errors:
        click.echo(f"error: {error}", err=True)
    if errors:
        sys.exit(1)


@tenants.command("list")
@click.option("--json", "as_json", is_flag=True)
def tenants_list(as_json: bool) -> None:
    """List registered tenants with status and business date."""
    from .db import shared_session
    from .tenancy.services import list_tenants, spec_of

    boot()
    with shared_session() as session:
        rows = [spec_of(t) for t in list_tenants(session)]
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['slug']:<20} {row['status']:<12} {row['business_date']}  {row['province']}{row['city']}"
                   f"{row['county']}  {row['name_zh']}")
    click.echo(f"{len(rows)} tenant(s)")


@tenants.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True)
@domain_errors
def tenants_show(slug: str, as_json: bool) -> None:
    """Show one tenant's registry entry, schema version and parameters (read as that tenant)."""
    from sqlalchemy import select

    from .db import CurrentTenant, shared_session, tenant_session
    from .tenancy.models import TenantParameter
    from .tenancy.registry import directory
    from .tenancy.services import get_tenant, spec_of

    boot()
    with shared_session() as session:
        data = spec_of(get_tenant(session, slug))
    if data["status"] in ("active", "suspended", "offboarding"):
        tenant = directory.get(slug)
        with CurrentTenant.bind(tenant), tenant_session() as session:
            data["parameters"] = {p.key: p.value for p in session.scalars(select(TenantParameter).order_by(TenantParameter.key))}
    if as_json:
        _echo_json(data)
        return
    for key, value in data.items():
        click.echo(f"{key:<18} {value}")


@tenants.command("create")
@click.option("--file", "spec_file", type=click.Path(exists=True, dir_okay=False), help="A tenant YAML file.")
@click.option("--slug")
@click.option("--name-zh")
@click.option("--name-en")
@click.option("--legal-entity-code")
@click.option("--province")
@click.option("--city", default="")
@click.option("--county", default="")
@click.option("--cluster", default="")
@domain_errors
def tenants_create(spec_file: str | None, **fields: str) -> None:
    """Provision one tenant from a file or from options (creates schema at head in one transaction)."""
    from pathlib import Path

    import yaml

    from .tenancy import services, spares
    from .tenancy.specs import DEFAULTS_FILE, STANDARD_DIR

    defaults_path = Path(settings_module.get().tenants_dir) / STANDARD_DIR / DEFAULTS_FILE
    defaults = yaml.safe_load(defaults_path.read_text(encoding="utf-8")) if defaults_path.is_file() else {}
    data = {k: v for k, v in fields.items() if v}
    if spec_file:
        data = {"slug": Path(spec_file).stem, **(yaml.safe_load(Path(spec_file).read_text(encoding="utf-8")) or {}), **data}
    data["parameters"] = {**(defaults.pop("parameters", None) or {}), **(data.get("parameters") or {})}
    spec = services.TenantSpec.from_mapping(data, defaults)
    boot()
    started = dt.datetime.now()
    ref = services.provision(spec)
    click.echo(f"created {ref.slug} (schema {ref.schema}) in {(dt.datetime.now() - started).total_seconds():.3f} s")
    spares.refresh(spec.cluster)


@tenants.command("suspend")
@click.argument("slug")
@click.option("--reason", required=True, help="Shown to the tenant's users and kept in the registry.")
@domain_errors
def tenants_suspend(slug: str, reason: str) -> None:
    """Refuse the tenant's requests and jobs with a clear message; keep its data."""
    from .tenancy import services

    boot()
    services.suspend(slug, reason)
    click.echo(f"suspended {slug}")


@tenants.command("resume")
@click.argument("slug")
@domain_errors
def tenants_resume(slug: str) -> None:
    """Serve a suspended tenant again."""
    from .tenancy import services

    boot()
    services.resume(slug)
    click.echo(f"resumed {slug}")


@tenants.command("offboard")
@click.argument("slug", required=False)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--finalize-due", is_flag=True, help="Drop the schemas of offboarded tenants past retention.")
@domain_errors
def tenants_offboard(slug: str | None, yes: bool, finalize_due: bool) -> None:
    """Export SLUG, stop serving it and drop its schema after the retention period."""
    from .tenancy import services

    if finalize_due:
        boot()
        dropped = services.finalize_offboarding()
        click.echo(f"dropped {len(dropped)} schema(s): {', '.join(dropped) or '-'}")
        return
    if not slug:
        raise InputError("name the tenant to offboard (or use --finalize-due)")
    boot()
    if not yes:
        click.confirm(f"Offboard {slug}? Its users lose access now; its data is exported", abort=True)
    export = services.offboard(slug)
    click.echo(f"{slug} is offboarding; export in {export}; schema dropped after "
               f"{settings_module.get().offboard_retention_days} days")


def _archive_key(key_file: str | None) -> bytes:
    from .tenancy.backup import archive_key, load_key

    if key_file:
        with open(key_file, encoding="ascii") as handle:
            return load_key(handle.read())
    return archive_key()


@tenants.command("export")
@click.argument("slug")
@click.option("--to", "target", required=True, type=click.Path(dir_okay=False), help="Archive file to write (new).")
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False),
              help="File with the base64 32-byte archive key [default: setting export_key, else from the master key].")
@click.option("--json", "as_json", is_flag=True)
@domain_errors
def tenants_export(slug: str, target: str, key_file: str | None, as_json: bool) -> None:
    """Write one tenant's schema data, registry entry and audit chain head to an encrypted archive."""
    from pathlib import Path

    from .tenancy.backup import export_archive

    boot()
    info = export_archive(slug, Path(target), _archive_key(key_file))
    if as_json:
        _echo_json(dataclasses.asdict(info))
        return
    rows = sum(info.tables.values())
    click.echo(f"exported {slug} (revision {info.revision}, {len(info.tables)} tables, {rows} rows) to {info.path}")


@tenants.command("restore")
@click.argument("archive", type=click.Path(dir_okay=False))
@click.option("--as", "as_slug", help="Slug of the restored tenant [default: the archived one].")
@click.option("--cluster", help="Database cluster to restore into [default: setting default_cluster].")
@click.option("--legal-entity-code", help="Needed when the archived bank's code is still registered (a copy).")
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False), help="File with the archive key (see export).")
@domain_errors
def tenants_restore(archive: str, as_slug: str | None, cluster: str | None, legal_entity_code: str | None,
                    key_file: str | None) -> None:
    """Restore a tenant archive, under its own or a new slug, into this or another cluster."""
    from pathlib import Path

    from .tenancy.backup import restore_archive

    boot()
    ref = restore_archive(Path(archive), _archive_key(key_file), as_slug=as_slug, cluster=cluster,
                          legal_entity_code=legal_entity_code)
    click.echo(f"restored {ref.slug} on cluster {ref.cluster}; it is active")


# --- audit ------------------------------------------------------------------------------------

@cli.group()
def audit() -> None:
    """Tamper-evident audit logs: verify their hash chains."""


@audit.command("verify")
@click.option("--tenant", "slug", help="Verify this tenant's log instead of the shared (head-office) one.")
@click.option("--all", "verify_all", is_flag=True, help="Verify the shared log and every tenant that has a schema.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON, with each log's head hash.")
@domain_errors
def audit_verify(slug: str | None, verify_all: bool, as_json: bool) -> None:
    """Check every entry's hash, the chain, the sequence and the head; exit 1 if any log is broken."""
    from .audit import verify_log
    from .db import TenantRef, shared_session, tenant_session
    from .tenancy.models import STATUSES_WITH_SCHEMA
    from .tenancy.schema import validate_slug
    from .tenancy.services import get_tenant, list_tenants

    if slug and verify_all:
        raise InputError("use either --tenant or --all")
    if slug:
        validate_slug(slug)
    boot()
    with_schema = {status.value for status in STATUSES_WITH_SCHEMA}
    with shared_session() as session:
        if slug:
            registered = [get_tenant(session, slug)]
            if registered[0].status not in with_schema:
                raise InputError(f"tenant {slug!r} is {registered[0].status} and has no schema to verify")
        else:
            registered = [t for t in list_tenants(session) if t.status in with_schema] if verify_all else []
        tenants = [TenantRef(slug=t.slug, cluster=t.cluster, status=t.status) for t in registered]
    reports = []
    if not slug:
        with shared_session() as session:
            reports.append(verify_log(session))
    for tenant in tenants:
        with tenant_session(tenant) as session:
            reports.append(verify_log(session))
    if as_json:
        _echo_json({"ok": all(r.ok for r in reports), "logs": [r.as_dict() for r in reports]})
    else:
        for report in reports:
            state = "intact" if report.ok else "BROKEN" + (f" from entry {report.first_broken}"
                                                           if report.first_broken else "")
            click.echo(f"{report.log}: {state}, {report.entries} entries, head {report.head_seq or 0} "
                       f"{report.head_hash or '-'}")
            for problem in report.problems:
                click.echo(f"  {problem}")
    if not all(r.ok for r in reports):
        sys.exit(1)


# --- users ------------------------------------------------------------------------------------

@contextlib.contextmanager
def _operator_unit_of_work(action: str):
    """The operator at the console acts as the platform itself: a named SystemContext, one committed transaction."""
    from .db import SystemContext, shared_session

    boot()
    with SystemContext(f"cli: {action}"), shared_session() as session, session.begin():
        yield session


@cli.group()
def users() -> None:
    """Users and their roles in village banks, the head office or as regulators."""


@users.command("create")
@click.argument("username")
@click.option("--display-name", required=True, help="The person's name as colleagues know it.")
@click.option("--email", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (else a one-time "
              "password is generated, printed once and must be changed at first login).")
@domain_errors
def users_create(username: str, display_name: str, email: str | None, password_stdin: bool) -> None:
    """Create a user (no roles yet: grant them with 'users grant')."""
    from .identity import services

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    with _operator_unit_of_work("users create") as session:
        user, generated = services.create_user(session, username, display_name, email=email, password=password)
    click.echo(f"created user {user.username}")
    if generated:
        click.echo(f"one-time password (shown once, must be changed at first login): {generated}")


@users.command("grant")
@click.argument("username")
@click.option("--role", required=True, help="A standard role code (see docs/identity.md) or a tenant's custom role.")
@click.option("--tenant", "tenant_slug", default=None, help="The village bank, for village-bank roles only.")
@domain_errors
def users_grant(username: str, role: str, tenant_slug: str | None) -> None:
    """Give USERNAME a role; the role decides the context (village bank, head office, regulator)."""
    from .identity import services

    from .audit import record

    # Direct, not maker-checker: the operator bootstraps the first administrators, before anyone exists to approve
    # (docs/identity.md). Recorded in the shared audit log with the operator as actor.
    with _operator_unit_of_work("users grant") as session:
        services.grant(session, username, role, tenant_slug)
        record(session, "membership.grant", object_type="user", object_id=username,
               after={"role": role, "tenant": tenant_slug})
    click.echo(f"granted {role} to {username}" + (f" in {tenant_slug}" if tenant_slug else ""))


@users.command("revoke")
@click.argument("username")
@click.option("--role", required=True)
@click.option("--tenant", "tenant_slug", default=None)
@domain_errors
def users_revoke(username: str, role: str, tenant_slug: str | None) -> None:
    """Take a role from USERNAME."""
    from .identity import services

    from .audit import record

    with _operator_unit_of_work("users revoke") as session:
        services.revoke(session, username, role, tenant_slug)
        record(session, "membership.revoke", object_type="user", object_id=username,
               before={"role": role, "tenant": tenant_slug})
    click.echo(f"revoked {role} from {username}" + (f" in {tenant_slug}" if tenant_slug else ""))


@users.command("reset-password")
@click.argument("username")
@domain_errors
def users_reset_password(username: str) -> None:
    """Set a one-time password (printed once) that USERNAME must change at next login; lifts any lockout."""
    from .identity import services

    with _operator_unit_of_work("users reset-password") as session:
        password = services.reset_password(session, username)
    click.echo(f"one-time password for {username} (shown once, must be changed at next login): {password}")


@users.command("reset-totp")
@click.argument("username")
@domain_errors
def users_reset_totp(username: str) -> None:
    """Take USERNAME's second factor away (lost phone): codes and recovery codes stop working, every session
    ends, and the next login must enrol a new authenticator app. Audited."""
    from .identity import services, totp

    with _operator_unit_of_work("users reset-totp") as session:
        totp.reset(session, services.get_user(session, username))
    click.echo(f"second factor of {username} reset: the next login enrols a new authenticator app")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
def users_list(as_json: bool) -> None:
    """List users with their roles."""
    from .identity import services

    with _operator_unit_of_work("users list") as session:
        rows = services.list_users(session)
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        roles = ", ".join(f"{m['role']}@{m['tenant'] or m['context']}" for m in row["memberships"]) or "-"
        flags = ("" if row["active"] else " [inactive]") + (" [must change password]" if row["must_change_password"] else "")
        click.echo(f"{row['username']:<24} {row['display_name']:<20} {roles}{flags}")
    click.echo(f"{len(rows)} user(s)")


# --- OAuth clients ----------------------------------------------------------------------------

@cli.group()
def clients() -> None:
    """OAuth2 machine clients: village-bank systems, head-office services, regulators' collectors."""


@clients.command("create")
@click.option("--tenant", "tenant_slug", default=None, help="The village bank the client acts for (tenant context).")
@click.option("--name", required=True, help="What the client is, e.g. the system's name.")
@click.option("--scope", required=True, help='Space-separated scopes, e.g. "applications:read loans:read".')
@click.option("--context", type=click.Choice(["tenant", "head_office", "regulator"]), default="tenant",
              show_default=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True,
              help="An app users log in to (authorization code with PKCE): where codes go, matched exactly. "
                   "Repeat for several.")
@click.option("--public", is_flag=True, help="The app cannot keep a secret (a mobile app): none is issued.")
@click.option("--json", "as_json", is_flag=True)
@domain_errors
def clients_create(tenant_slug: str | None, name: str, scope: str, context: str, redirect_uris: tuple[str, ...],
                   public: bool, as_json: bool) -> None:
    """Register a client; its id and secret are printed once (only the secret's hash is stored)."""
    from .identity.oauth import services
    from .identity.permissions import Context

    with _operator_unit_of_work("clients create") as session:
        issued = services.create_client(session, name, scope, context=Context(context), tenant_slug=tenant_slug,
                                        redirect_uris=redirect_uris, public=public)
    client = issued.client
    if as_json:
        _echo_json({"client_id": client.client_id, "client_secret": issued.client_secret, "name": client.name,
                    "context": client.context, "tenant": tenant_slug, "scope": client.scope,
                    "grant_types": client.grant_types.split(), "redirect_uris": client.redirect_uris.split()})
        return
    click.echo(f"created OAuth client {client.client_id} ({client.name}) for {tenant_slug or context}, "
               f"scope: {client.scope}, grants: {client.grant_types}")
    if issued.client_secret is None:
        click.echo("public client: no secret; it proves its requests with PKCE")
    else:
        click.echo(f"client secret (shown once, stored only as a hash): {issued.client_secret}")


@clients.command("revoke")
@click.argument("client_id")
@domain_errors
def clients_revoke(client_id: str) -> None:
    """Revoke a client: no new tokens, and its current tokens stop working at once."""
    from .identity.oauth import services

    with _operator_unit_of_work("clients revoke") as session:
        services.revoke_client(session, client_id)
    click.echo(f"revoked OAuth client {client_id}")


# --- running ----------------------------------------------------------------------------------

@cli.command()
@click.option("--demo", is_flag=True, help="Apply tenants/ (three demo village banks) before starting.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--web-workers", type=click.IntRange(1, 32), default=2, show_default=True)
@domain_errors
def up(demo: bool, host: str, port: int, web_workers: int) -> None:
    """Migrate, (with --demo) apply tenants/, start the web server and a job worker; Ctrl-C stops all."""
    from .runner import run_platform

    settings = boot()
    sys.exit(run_platform(settings, demo=demo, host=host, port=port, web_workers=web_workers))


@cli.command()
@click.option("--tick", type=click.FloatRange(1, 3600), default=15, show_default=True,
              help="Seconds between two looks at the clock.")
def scheduler(tick: float) -> None:
    """Send periodic jobs (housekeeping, close of business...) on time; run 1+ replicas, one leads."""
    import signal
    import threading

    boot()
    from .jobs import schedule, worker  # noqa: F401 - the worker module installs the broker and every job

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    schedule.run(stop, tick_seconds=tick)


cli.add_command(bench)
cli.add_command(plugins)
cli.add_command(plugin)
cli.add_command(rules)
cli.add_command(calc)
cli.add_command(cob_cli)
cli.add_command(reports_cli)
cli.add_command(demo_cli)


def main() -> None:
    try:
        cli.main(prog_name="creditfactory")
    except SettingsError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
