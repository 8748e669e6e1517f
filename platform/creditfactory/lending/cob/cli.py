"""``creditfactory cob``: run the close of business, see where each tenant stands, check the books."""

from __future__ import annotations

import datetime as dt
import sys

import click
from sqlalchemy import text


def _tenants(slug: str | None):
    from ...db import shared_session
    from ...tenancy.registry import directory

    with shared_session() as session, session.begin():
        slugs = session.execute(text("SELECT slug FROM cf_shared.tenant WHERE status = 'active' ORDER BY slug")
                                ).scalars().all()
    if slug is not None:
        if slug not in slugs:
            from ...errors import NotFound

            raise NotFound(f"no active tenant {slug!r}")
        slugs = [slug]
    return [directory.get(s) for s in slugs]


@click.group()
def cob() -> None:
    """Close of business: accrual, due instalments, DPD, penalties, states, classification, provisions."""


@cob.command("run")
@click.option("--tenant", "slug", default=None, help="Only this tenant (default: every active tenant).")
@click.option("--until", "until", default=None, metavar="DATE",
              help="Close days until the business date is DATE (default: close one day).")
def cob_run(slug: str | None, until: str | None) -> None:
    """Close business days, tenant by tenant, with a progress bar; safe to re-run after an interruption."""
    from ...cli import InputError, boot, domain_errors
    from ...db import SystemContext, tenant_session
    from . import services

    @domain_errors
    def go() -> None:
        boot()
        target = None
        if until is not None:
            try:
                target = dt.date.fromisoformat(until)
            except ValueError:
                raise InputError("--until takes a date YYYY-MM-DD") from None
        with SystemContext("cli: cob run"):
            refs = _tenants(slug)
            plan = []
            for ref in refs:
                with tenant_session(ref) as session, session.begin():
                    today = services.business_date(session)
                days = max(0, (target - today).days) if target is not None else 1
                plan.append((ref, today, days))
            total = sum(days for _, _, days in plan)
            with click.progressbar(length=total, label="COB", show_pos=True, file=sys.stderr,
                                   item_show_func=lambda x: x) as bar:
                for ref, today, days in plan:
                    for _ in range(days):
                        result = services.close_day(ref)
                        bar.update(1, f"{ref.slug} {result.business_date}")
            for ref, _, _ in plan:
                with tenant_session(ref) as session, session.begin():
                    click.echo(f"{ref.slug:<20} business date {services.business_date(session)}")

    go()


@cob.command("status")
@click.option("--tenant", "slug", default=None)
def cob_status(slug: str | None) -> None:
    """Each tenant's business date and the steps of its last close."""
    from ...cli import boot, domain_errors
    from ...db import SystemContext, tenant_session
    from . import services

    @domain_errors
    def go() -> None:
        boot()
        with SystemContext("cli: cob status"):
            for ref in _tenants(slug):
                with tenant_session(ref) as session, session.begin():
                    state = services.status(session)
                steps = ", ".join(f"{s['step']} {s['millis']} ms" for s in state["last_steps"]) or "-"
                click.echo(f"{ref.slug:<20} {state['business_date']}  last close: {steps}")

    go()


@cob.command("check")
@click.option("--tenant", "slug", default=None)
def cob_check(slug: str | None) -> None:
    """Check every tenant's books: balanced entries, trial balance, each loan's sub-ledger; exit 1 if wrong."""
    from ...cli import boot, domain_errors
    from ...db import SystemContext, tenant_session
    from ..ledger import services as ledger

    @domain_errors
    def go() -> None:
        boot()
        bad = 0
        with SystemContext("cli: cob check"):
            for ref in _tenants(slug):
                with tenant_session(ref) as session, session.begin():
                    found = ledger.problems(session)
                click.echo(f"{ref.slug:<20} {'ok' if not found else 'OUT OF BALANCE'}")
                for problem in found:
                    click.echo(f"    {problem}")
                bad += bool(found)
        if bad:
            raise click.exceptions.Exit(1)

    go()
