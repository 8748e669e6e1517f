"""``creditfactory up``: migrate, optionally apply the demo tenants, run web, worker and scheduler until Ctrl-C."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time

import click

from .settings import Settings, data_dir_secret

#: Seconds the web server and worker get to finish in-flight requests and messages on Ctrl-C.
GRACE_SECONDS = 20


def persistent_secret_key(settings: Settings) -> str:
    """The configured secret key, else one generated once and kept (0600) in the data directory."""
    if settings.secret_key:
        return settings.secret_key
    return data_dir_secret(settings, "secret_key", lambda: secrets.token_urlsafe(48))


def _children(settings: Settings, host: str, port: int, web_workers: int) -> dict[str, subprocess.Popen]:
    env = dict(os.environ)
    env.update({
        "CREDITFACTORY_DATABASE_URL": settings.database_url,
        "CREDITFACTORY_DATA_DIR": settings.data_dir,
        "CREDITFACTORY_SECRET_KEY": persistent_secret_key(settings),
    })
    web = [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(web_workers),
           "--graceful-timeout", str(GRACE_SECONDS), "--access-logfile", "-", "creditfactory.wsgi:app"]
    worker = [sys.executable, "-m", "dramatiq", "creditfactory.jobs.worker", "--processes", "1", "--threads", "2"]
    scheduler = [sys.executable, "-m", "creditfactory.cli", "scheduler"]
    # Own sessions: a terminal Ctrl-C reaches only this process, which then stops the children gracefully
    # (gunicorn treats SIGINT as a quick shutdown) and only afterwards the embedded database.
    return {"web": subprocess.Popen(web, env=env, start_new_session=True),
            "worker": subprocess.Popen(worker, env=env, start_new_session=True),
            "scheduler": subprocess.Popen(scheduler, env=env, start_new_session=True)}


def _stop(children: dict[str, subprocess.Popen]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the graceful stop short
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS + 5
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _demo_staff(slugs: list[str]) -> None:
    """Demo users for the demo banks and the head office (``identity/demo.py``); only ever called with --demo."""
    from .db import SystemContext, shared_session
    from .identity.demo import ensure_demo_staff

    with SystemContext("up --demo: demo staff"), shared_session() as session, session.begin():
        made = ensure_demo_staff(session, slugs)
    created = [u for u in made if u.created]
    click.echo(f"demo staff: {len(created)} created, {len(made) - len(created)} already there")


#: Synthetic loans per demo bank: enough for the console's league tables and charts, small enough that start-up
#: stays short (``creditfactory demo seed`` makes bigger books).
DEMO_LOANS_PER_BANK = 400


_FAILED = object()


def _step(what: str, slug: str, strict: bool, run):
    """One bank's demo step, its result or ``_FAILED``: ``up --demo`` reports a failure and goes on (one bank's demo
    data must not keep the platform from starting); ``demo seed`` (``strict``) stops at it."""
    try:
        return run()
    except Exception as exc:  # noqa: BLE001 - see above
        if strict:
            raise
        click.echo(f"demo {what} for {slug}: failed: {exc}", err=True)
        return _FAILED


def _demo_books(slugs: list[str], *, loans: int = DEMO_LOANS_PER_BANK, officers=lambda i: 6 + 5 * i,
                seed=lambda i: (42 + i) / 1000, strict: bool = False) -> None:
    """Each demo bank's loan officers (``talent/demo.py``: the demo loan officer and ``<slug>.officerNN``,
    ``officers(i)`` of them) and its synthetic loan book on their names (``reporting/synthetic.py``), before any other
    demo customer exists (the generator numbers its customers from the lowest id); a bank with loans is left alone."""
    from .db import SystemContext
    from .reporting.synthetic import seed_tenant
    from .talent.demo import ensure_demo_officers
    from .tenancy.registry import directory

    with SystemContext("demo: synthetic loan books"):
        for i, slug in enumerate(slugs):
            def book(i=i, slug=slug):
                return seed_tenant(directory.get(slug), loans=loans, officers=ensure_demo_officers(slug, officers(i)),
                                   seed=seed(i))
            made = _step("loan book", slug, strict, book)
            if made is not _FAILED:
                click.echo(f"demo loan book for {slug}: "
                           f"{f'{loans:,} synthetic loans' if made else 'has loans already, left alone'}")


def _demo_snapshots(slugs: list[str], *, strict: bool = False) -> None:
    """KPI and regulator snapshots of the demo banks, so the console shows figures at once (idempotent)."""
    from .db import SystemContext
    from .reporting.services import refresh_tenant
    from .tenancy.registry import directory

    with SystemContext("demo: KPI snapshots"):
        for slug in slugs:
            _step("snapshots", slug, strict, lambda slug=slug: refresh_tenant(directory.get(slug)))
    click.echo(f"demo snapshots: {len(slugs)} bank(s)")


def _demo_data(slugs: list[str], *, applications: bool = True, strict: bool = False) -> None:
    """Each demo bank's customers and applications in every state (``lending/origination/demo.py``, unless not
    ``applications``) and its organisation, ladder and scorecards (``talent/demo.py``) and 360 risk profiles
    (``talent/risk360/demo.py``); idempotent."""
    from .lending.origination.demo import ensure_demo_applications
    from .talent.demo import seed_demo
    from .talent.risk360.demo import seed_demo as seed_risk360
    from .tenancy.registry import directory

    steps = ((("applications", ensure_demo_applications),) if applications else ()) + (
        ("organisation", lambda s: seed_demo(directory.get(s))),
        ("employee 360", lambda s: seed_risk360(directory.get(s))))
    for slug in slugs:
        for what, seed in steps:
            made = _step(what, slug, strict, lambda seed=seed, slug=slug: seed(slug))
            if made is not _FAILED:
                click.echo(f"demo {what} for {slug}: {made or 'already there'}")


def demo_banks(slugs: list[str], *, loans: int = DEMO_LOANS_PER_BANK, officers=lambda i: 6 + 5 * i,
               seed=lambda i: (42 + i) / 1000, applications: bool = True, strict: bool = False) -> None:
    """The demo data of ``slugs``, in the one order both ``up --demo`` and ``creditfactory demo seed`` use:
    staff users, then per bank its loan officers and synthetic book on their names, then the demo applications,
    the organisation (every loan officer an employee; scorecards and pay computed from the book) and the 360
    profiles (portfolio signals from the same loans), and last the KPI snapshots."""
    _demo_staff(slugs)
    _demo_books(slugs, loans=loans, officers=officers, seed=seed, strict=strict)
    _demo_data(slugs, applications=applications, strict=strict)
    _demo_snapshots(slugs, strict=strict)


def run_platform(settings: Settings, *, demo: bool, host: str, port: int, web_workers: int) -> int:
    from .db import shared_session
    from .lending.products import declared as products_declared
    from .tenancy import migrations, specs
    from .tenancy.services import list_tenants

    report = migrations.upgrade()
    click.echo(f"database ready: cf_shared {report.shared[1]}, {report.at_head + len(report.upgraded)} tenant(s) "
               f"at {report.head}, {len(report.failed)} failed")
    from .lending.origination.services import ensure_standard_rules
    published = ensure_standard_rules("creditfactory up: standard rule sets")
    click.echo(f"standard rule sets: {', '.join(published) if published else 'unchanged'}")
    demo_slugs: list[str] = []
    if demo:
        demo_specs = specs.load_specs(settings.tenants_dir)
        errors = specs.apply(specs.plan(demo_specs), on_step=click.echo)
        errors += products_declared.apply_folder(settings.tenants_dir, on_step=click.echo)
        for error in errors:
            click.echo(f"error: {error}", err=True)
        demo_slugs = [spec.slug for spec in demo_specs]
    with shared_session() as session:
        active = [t.slug for t in list_tenants(session) if t.status == "active"]
    if demo:
        demo_banks([slug for slug in demo_slugs if slug in active])
    children = _children(settings, host, port, web_workers)
    base = f"http://{host}:{port}"
    click.echo("\nCredit Factory is running:")
    click.echo(f"  head office   {base}/")
    click.echo(f"  API docs      {base}/api/v1/docs")
    for slug in active:
        click.echo(f"  {slug:<13} {base}/t/{slug}/   http://{slug}.{settings.base_domain}:{port}/")
    if demo:
        from .identity.demo import DEMO_PASSWORD
        click.echo(f"Demo logins (password {DEMO_PASSWORD!r}; demo data only): head office demo.platform_admin, "
                   "regulator demo.regulator at /login; in each bank <slug>.<role>, e.g. "
                   f"{(active or ['puer'])[0]}.loan_officer, at /t/<slug>/login "
                   "(administrators and the regulator enrol an authenticator app first)")
    click.echo("Press Ctrl-C to stop.")
    stopping = {"signal": None}

    def request_stop(signum, frame):
        stopping["signal"] = signum

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while stopping["signal"] is None:
        for name, child in children.items():
            if child.poll() is not None:
                click.echo(f"{name} exited with code {child.returncode}; stopping", err=True)
                _stop(children)
                return 1
        time.sleep(0.5)
    click.echo("stopping web server, worker and scheduler ...")
    _stop(children)
    click.echo("stopped")
    return 0
