"""``creditfactory bench NAME``: run one registered benchmark and print its result.

Mounted into the main command with ``cli.add_command(bench)``. Usable on its own too::

    python -c "from creditfactory.bench.cli import bench; bench()" provisioning --n 5 --json
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from typing import Any, Iterator

import click

from .. import settings as settings_module
from ..db.engines import libpq_url
from ..settings import SettingsError
from . import BENCHES, BenchContext
from .common import BenchFailure

class _BadSettings(click.ClickException):
    """Malformed settings are bad input, exit code 2, as everywhere in the ``creditfactory`` command."""

    exit_code = 2


#: Fields printed on the headline of the readable summary, in this order.
_HEADLINE = ("p50_ms", "p95_ms", "p99_ms", "min_ms", "max_ms", "mean_ms")


def _server_url(settings: settings_module.Settings) -> tuple[str, bool]:
    """(URL of an existing database on the server to benchmark, whether it is the embedded server).

    The configured database's server when ``database_url`` is set, else the embedded PostgreSQL,
    started if needed (and stopped at exit if this process started it), as every other command does.
    """
    if settings.database_url:
        return libpq_url(settings.database_url), False
    from ..db.embedded import start_embedded

    server = start_embedded(settings.data_dir)
    return server.get_uri("postgres"), True


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout during the run to stderr, at the file-descriptor level too.

    ``--json`` promises one line on stdout and nothing else; pg_ctl (embedded server) and the
    orchestrator's spawned worker processes write to the inherited file descriptor 1, not to
    ``sys.stdout``, so redirecting the Python object alone would not keep that promise.
    """
    sys.stdout.flush()
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no real descriptor 1 (embedded interpreters): the Python-level redirect still holds
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so the temporary database is dropped when a run is killed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def render_summary(result: dict[str, Any]) -> str:
    """The readable form of a result: name and size, the latency headline, then every other field."""
    lines = [f"{result['name']}: n={result['n']}"
             + (f", workers={result['workers']}" if result.get("workers") is not None else "")]
    headline = (f"{key[:-3]} {result[key]:,.1f}" for key in _HEADLINE if key in result)
    lines.append("  latency ms   " + "  ".join(headline))
    shown = {"name", "n", "workers", *_HEADLINE}
    width = max((len(key) for key in result if key not in shown), default=0)
    for key, value in result.items():
        if key not in shown:
            lines.append(f"  {key.ljust(width)}  {_format_value(value)}")
    return "\n".join(lines)


def _bench_help() -> str:
    listing = "\n".join(f"  {name:<14} {b.summary}" for name, b in BENCHES.items())
    return ("Run benchmark NAME in a temporary database (created on the configured server, or on the "
            "embedded PostgreSQL, and always dropped) and print its result: latency percentiles "
            "(nearest rank) plus the benchmark's own figures.\n\n\b\nBenchmarks:\n" + listing)


@click.command(name="bench", help=_bench_help())
@click.argument("name", metavar="NAME", type=click.Choice(list(BENCHES)))
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON line on stdout, nothing else.")
@click.option("--n", "n", type=click.IntRange(1, 100_000), default=None,
              help="Size of the run (tenants for provisioning and migrations). Default: per benchmark.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Parallel workers, for benchmarks that have them (migrations: default 4; api: gunicorn web "
                   "workers, default one per CPU).")
@click.option("--rules", "rules", default=None,
              help="decisions: rule-set sizes per stage, comma-separated (default 100,1500,3000).")
@click.option("--loans", type=click.IntRange(1, 10_000_000), default=None, help="cob: loans in the portfolio.")
@click.option("--tenants", type=click.IntRange(1, 5000), default=None,
              help="cob: tenants the loans are split over; api: banks registered (default 1000); reports: tenants.")
@click.option("--loans-per-tenant", "loans_per_tenant", type=click.IntRange(1, 1_000_000), default=None,
              help="reports: loans in each tenant.")
@click.option("--users", type=click.IntRange(1, 512), default=None, help="api: concurrent users (default 32).")
@click.option("--duration", type=click.FloatRange(1, 3600), default=None, help="api: seconds of load (default 30).")
@click.option("--flows", default=None,
              help="api: the flows the users run, comma-separated, of intake,loan_read,repayment (default: all three).")
@click.option("--rate", type=click.FloatRange(1, 100_000, min_open=False), default=None,
              help="api: requests per second the users offer together, each on a fixed schedule (default: back to "
                   "back, as fast as the server answers).")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages on stderr.")
def bench(name: str, as_json: bool, n: int | None, workers: int | None, rules: str | None, loans: int | None,
          tenants: int | None, loans_per_tenant: int | None, users: int | None, duration: float | None,
          flows: str | None, rate: float | None, quiet: bool) -> None:
    chosen = BENCHES[name]
    options: dict = {}
    if rules is not None:
        if name != "decisions":
            raise click.BadOptionUsage("rules", f"benchmark {name!r} takes no --rules")
        try:
            options["rules"] = tuple(int(part) for part in rules.split(","))
        except ValueError:
            raise click.BadOptionUsage("rules", "--rules takes sizes like 100,1500,3000") from None
        if not 1 <= len(options["rules"]) <= 3 or min(options["rules"]) < 1:
            raise click.BadOptionUsage("rules", "--rules takes one to three positive sizes")
    if loans is not None and name != "cob":
        raise click.BadOptionUsage("loans", "--loans is an option of the cob benchmark")
    if tenants is not None and name not in ("cob", "api", "reports"):
        raise click.BadOptionUsage("tenants", "--tenants is an option of the cob, api and reports benchmarks")
    if loans_per_tenant is not None and name != "reports":
        raise click.BadOptionUsage("loans_per_tenant", "--loans-per-tenant is an option of the reports benchmark")
    if (users is not None or duration is not None or flows is not None or rate is not None) and name != "api":
        raise click.BadOptionUsage("users", "--users, --duration, --flows and --rate are options of the api benchmark")
    if name == "cob":
        options.update(loans=loans, tenants=tenants)
    if name == "reports":
        options.update(tenants=tenants, loans_per_tenant=loans_per_tenant)
    if name == "api":
        options.update(tenants=tenants, duration=duration, rate=rate)
        if flows is not None:
            from .api import FLOWS

            chosen_flows = tuple(dict.fromkeys(part.strip() for part in flows.split(",") if part.strip()))
            unknown = [flow for flow in chosen_flows if flow not in FLOWS]
            if unknown or not chosen_flows:
                raise click.BadOptionUsage("flows", f"--flows takes some of {','.join(FLOWS)}, not {flows!r}")
            options["flows"] = chosen_flows
        n = users if users is not None else n
    if workers is not None and chosen.default_workers is None:
        raise click.BadOptionUsage("workers", f"benchmark {name!r} takes no --workers")
    try:
        settings = settings_module.get()
    except SettingsError as exc:
        raise _BadSettings(str(exc)) from exc

    def progress(message: str) -> None:
        if not quiet:
            click.echo(f"[bench {name}] {message}", err=True)

    with _stdout_to_stderr(), _terminate_as_interrupt():
        server_url, embedded = _server_url(settings)
        ctx = BenchContext(
            n=n if n is not None else chosen.default_n,
            workers=None if chosen.default_workers is None else (workers or chosen.default_workers),
            server_url=server_url,
            settings=settings,
            progress=progress,
            embedded=embedded,
            options=options,
        )
        try:
            result = chosen(ctx)
        except BenchFailure as exc:
            raise click.ClickException(f"benchmark {name} failed: {exc}") from exc
    click.echo(json.dumps(result) if as_json else render_summary(result))
    if result.get("ok") is False:
        click.echo(f"benchmark {name} failed its checks: " + "; ".join(result.get("problems", [])), err=True)
        raise click.exceptions.Exit(1)


__all__ = ["bench", "render_summary"]
