"""``creditfactory reports``: refresh snapshots, record a bank's capital; ``creditfactory demo seed``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

import click
from sqlalchemy import text


def _active_slugs() -> list[str]:
    from ..db import shared_session

    with shared_session() as session, session.begin():
        return list(session.execute(text(
            "SELECT slug FROM cf_shared.tenant WHERE status = 'active' ORDER BY slug")).scalars())


def _date(value: str | None) -> dt.date | None:
    from ..cli import InputError

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"not a date (YYYY-MM-DD): {value!r}") from None


@click.group()
def reports() -> None:
    """KPI and regulator snapshots, tenant capital and limits."""


@reports.command("refresh")
@click.option("--tenant", "slug", default=None, help="Only this tenant (default: every active tenant).")
@click.option("--as-of", "as_of", default=None, metavar="DATE", help="Snapshot date (default: the business date).")
def refresh(slug: str | None, as_of: str | None) -> None:
    """Recompute the day and month KPI snapshots and the regulator document of each tenant (idempotent)."""
    from ..cli import boot, domain_errors
    from ..db import SystemContext
    from ..errors import NotFound
    from ..tenancy.registry import directory
    from . import services

    @domain_errors
    def go() -> None:
        boot()
        day = _date(as_of)
        slugs = _active_slugs()
        if slug is not None:
            if slug not in slugs:
                raise NotFound(f"no active tenant {slug!r}")
            slugs = [slug]
        with SystemContext("cli: reports refresh"):
            for s in slugs:
                result = services.refresh_tenant(directory.get(s), as_of=day)
                click.echo(f"{s}: snapshots as of {result['as_of']}")

    go()


@reports.command("capital")
@click.argument("slug")
@click.option("--net-capital", required=True, help="Net capital in yuan.")
@click.option("--single-borrower-limit", default=None, help="Share of net capital (default 0.05).")
@click.option("--single-group-limit", default=None, help="Share of net capital (default 0.10).")
@click.option("--npl-ratio-limit", default=None, help="Default 0.05.")
@click.option("--provision-coverage-min", default=None, help="Default 1.50.")
@click.option("--loan-provision-ratio-min", default=None, help="Default 0.025.")
def capital(slug: str, net_capital: str, **limits: str | None) -> None:
    """Record a village bank's net capital and prudential limits (audited; DOMAIN §3.2 defaults)."""
    from ..cli import InputError, _echo_json, boot, domain_errors
    from ..db import SystemContext, shared_session
    from . import services

    @domain_errors
    def go() -> None:
        boot()
        try:
            amount = Decimal(net_capital)
            given = {k: Decimal(v) for k, v in limits.items() if v is not None}
        except InvalidOperation:
            raise InputError("amounts and limits must be decimal numbers") from None
        with SystemContext("cli: reports capital"), shared_session() as session, session.begin():
            services.set_capital(session, slug, net_capital=amount, **given)
            _echo_json(services.capital_of(session, slug))

    go()


@click.group()
def demo() -> None:
    """Demo data."""


@demo.command("seed")
@click.option("--tenants", type=click.IntRange(1, 200), required=True, help="Tenants to fill (made when missing).")
@click.option("--loans-per-tenant", "per_tenant", type=click.IntRange(1, 1_000_000), required=True)
@click.option("--seed", type=click.IntRange(0, 1_000_000), default=42, help="Same seed, same portfolios.")
def seed(tenants: int, per_tenant: int, seed: int) -> None:
    """Fill tenants with demo staff, loan officers, synthetic portfolios on their names (set-based SQL, see
    docs/reporting.md), the organisation with every officer an employee (talent demo), 360 profiles, snapshots.

    Uses the active tenants in slug order, provisioning demoNN tenants when there are fewer than --tenants.
    A tenant that already has loans keeps its book (said so); the other steps only add what is missing."""
    from ..cli import boot, domain_errors
    from ..db import SystemContext
    from ..runner import demo_banks
    from ..tenancy import services as tenancy

    @domain_errors
    def go() -> None:
        boot()
        slugs = _active_slugs()[:tenants]
        with SystemContext("cli: demo seed"):
            for i in range(len(slugs), tenants):
                slug = f"demo{i + 1:02d}"
                tenancy.provision(tenancy.TenantSpec.from_mapping({
                    "slug": slug, "name_zh": f"演示村镇银行{i + 1}", "name_en": f"Demo village bank {i + 1}",
                    "legal_entity_code": f"DEMO{i + 1:05d}", "province": "云南省"}))
                slugs.append(slug)
        # Officer pools of varied size: the benchmark's league tables need different productivity. No demo
        # applications (up --demo makes those): only the book, the organisation and the 360 profiles.
        demo_banks(slugs, loans=per_tenant, officers=lambda i: 5 + (seed + 7 * i) % 25,
                   seed=lambda i: ((seed + i) % 1000) / 1000, applications=False, strict=True)

    go()
