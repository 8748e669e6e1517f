"""Head-office console and regulator portal pages: league tables and SVG charts, drill-down, exports, tenant list,
provisioning as a job, suspend/resume, regulator views and downloads, large reports through a job (real broker)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import re
import time
import uuid
from decimal import Decimal

import dramatiq
import pyotp
import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select, text

from creditfactory import settings as settings_module
from creditfactory.audit.models import SharedAuditEntry
from creditfactory.audit.reads import ACTION
from creditfactory.db import SystemContext, shared_session
from creditfactory.identity import totp
from creditfactory.identity.models import User
from creditfactory.identity.permissions import Context
from creditfactory.jobs import make_broker, system_actor
from creditfactory.reporting import jobs as reporting_jobs, services
from creditfactory.reporting.charts import distribution_chart, trend_chart
from creditfactory.reporting.kpis import REFERENCES
from creditfactory.reporting.models import ConsoleTask
from creditfactory.reporting.portal import league
from creditfactory.tenancy import console as tenancy_console
from creditfactory.tenancy.models import Tenant
from creditfactory.testing.staff import csrf_token, log_in

HTML = {"Accept": "text/html", "Accept-Language": "en"}


@pytest.fixture
def staff(make_user):
    """``staff(role, tenant=None)``: a user with the role and an enrolled authenticator; returns (name, TOTP)."""

    def make(role: str, tenant=None):
        username = make_user(role, tenant)
        secret = pyotp.random_base32()
        with shared_session() as shared, shared.begin():
            user = shared.scalar(select(User).where(User.username == username))
            user.totp_secret = totp._seal(user, secret)
            user.totp_enabled_at = dt.datetime.now(dt.timezone.utc)
        return username, pyotp.TOTP(secret)

    return make


def logged_in(app, username, authenticator, prefix=""):
    client = app.test_client()
    client.get(f"{prefix}/lang/en")
    first = log_in(client, prefix, username, headers=HTML)
    assert first.headers["Location"] == f"{prefix}/login/totp", first.get_data(as_text=True)
    token = csrf_token(client, f"{prefix}/login/totp", HTML)
    done = client.post(f"{prefix}/login/totp", headers=HTML, data={"code": authenticator.now(), "csrf_token": token})
    assert done.status_code == 302, done.get_data(as_text=True)
    return client


def post(client, page, action, data):
    return client.post(action, headers=HTML, data={**data, "csrf_token": csrf_token(client, page, HTML)})


@pytest.fixture
def snapshots(tenant_a, tenant_b):
    """Committed KPI and regulator snapshots of tenants A and B, with an older day for the trend lines."""
    for tenant in (tenant_a, tenant_b):
        services.refresh_tenant(tenant)
        services.refresh_tenant(tenant, as_of=dt.date.today() - dt.timedelta(days=3))
    yield
    with shared_session() as shared, shared.begin():
        for table in ("kpi_snapshot", "regulatory_snapshot"):
            shared.execute(text(f"DELETE FROM cf_shared.{table} WHERE tenant_slug IN (:a, :b)"),
                           {"a": tenant_a.slug, "b": tenant_b.slug})


def _reads(what):
    with shared_session() as shared:
        return list(shared.scalars(select(SharedAuditEntry).where(
            SharedAuditEntry.action == ACTION, SharedAuditEntry.object_id == what).order_by(SharedAuditEntry.seq)))


# --- pure parts ----------------------------------------------------------------------------------------------------


def test_league_ranks_best_first_and_absent_values_last():
    values = {"a": {"npl_ratio": Decimal("0.02")}, "b": {"npl_ratio": Decimal("0.01")}, "c": {"npl_ratio": None}}
    assert [(r["rank"], r["tenant"]) for r in league(values, "npl_ratio")] == [(1, "b"), (2, "a"), (None, "c")]
    values = {"a": {"loans_per_officer": Decimal(12)}, "b": {"loans_per_officer": Decimal(30)}}
    assert [r["tenant"] for r in league(values, "loans_per_officer")] == ["b", "a"]


def test_charts_are_plain_svg_with_reference_lines_and_gaps():
    day = dt.date(2026, 11, 1)
    trend = str(trend_chart("t", "loans_per_officer", {
        "puer": [(day, Decimal(10)), (day + dt.timedelta(days=1), None), (day + dt.timedelta(days=2), Decimal(12)),
                 (day + dt.timedelta(days=3), Decimal(14))],
        "<x>": [(day, Decimal(20))]}, REFERENCES["loans_per_officer"], {"after": "after"}))
    assert trend.startswith("<svg") and "style=" not in trend and "<script" not in trend
    assert trend.count('class="reference"') == 2 and "after 25.0" in trend
    # The absent day breaks puer's line: one lone point, then a two-point line; names are escaped.
    assert trend.count("<polyline") == 1 and trend.count("<circle") == 2 and "&lt;x&gt;" in trend
    bars = str(distribution_chart("d", "npl_ratio", [("a", Decimal("0.01")), ("b", None)], REFERENCES["npl_ratio"]))
    assert bars.count("<rect") == 1 and "1.00%" in bars and "1.0%" in bars and bars.count('class="reference"') == 3


# --- dashboard -----------------------------------------------------------------------------------------------------


def test_dashboard_league_table_charts_drill_down_and_exports(app, staff, tenant_a, tenant_b, snapshots):
    client = logged_in(app, *staff("benchmarking_analyst"))
    before = len(_reads("kpi.benchmark"))
    page = client.get("/head-office/benchmarks?metric=npl_ratio", headers=HTML)
    assert page.status_code == 200, page.get_data(as_text=True)
    body = page.get_data(as_text=True)
    league_table = body[body.index('id="league"'):body.index("</table>", body.index('id="league"'))]
    assert tenant_a.slug in league_table and tenant_b.slug in league_table
    assert body.count("<svg") == 2 and "limit 5.0%" in body
    # Two audited reads: the latest snapshots and the trend series.
    assert len(_reads("kpi.benchmark")) == before + 2

    drill = client.get(f"/head-office/benchmarks/bank?tenant={tenant_a.slug}", headers=HTML)
    assert drill.status_code == 200
    assert drill.get_data(as_text=True).count("<svg") == 20  # one chart per KPI
    assert _reads("kpi.benchmark")[-1].after["tenants"] == [tenant_a.slug]
    assert client.get("/head-office/benchmarks/bank?tenant=nosuchbank", headers=HTML).status_code == 404

    exported = client.get("/head-office/benchmarks/export?format=csv")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    lines = exported.data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("tenant,loans_per_officer") and any(l.startswith(tenant_a.slug) for l in lines)
    xlsx = client.get("/head-office/benchmarks/export?format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert next(sheet.iter_rows(max_row=1, values_only=True))[0] == "tenant"


def test_dashboard_refuses_a_regulator_and_a_bank_user(app, staff, make_user, tenant_a):
    regulator = logged_in(app, *staff("regulator"))
    assert regulator.get("/head-office/benchmarks", headers=HTML).status_code == 403
    officer = app.test_client()
    prefix = f"/t/{tenant_a.slug}"
    assert log_in(officer, prefix, make_user("loan_officer", tenant_a), headers=HTML).status_code == 302
    for page in ("/head-office/benchmarks", "/head-office/tenants", "/regulator/reports"):
        assert officer.get(prefix + page, headers=HTML).status_code == 403


# --- tenant list, suspend and resume -------------------------------------------------------------------------------


def test_tenant_list_and_suspend_resume_audited(app, staff, tenant_a, tenant_factory):
    bank = tenant_factory()
    client = logged_in(app, *staff("platform_admin"))
    page = client.get("/head-office/tenants", headers=HTML)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    row = body[body.index(f'id="tenant-{bank.slug}"'):]
    row = row[:row.index("</tr>")]
    assert "active" in row and "t0" in row and "no COB yet" in row
    assert post(client, "/head-office/tenants", f"/head-office/tenants/{bank.slug}/suspension",
                {"reason": ""}).status_code == 422
    done = post(client, "/head-office/tenants", f"/head-office/tenants/{bank.slug}/suspension",
                {"reason": "inspection"})
    assert done.status_code == 303
    with shared_session() as shared:
        assert shared.scalar(select(Tenant.status).where(Tenant.slug == bank.slug)) == "suspended"
    assert post(client, "/head-office/tenants", f"/head-office/tenants/{bank.slug}/resumption", {}).status_code == 303
    with shared_session() as shared:
        assert shared.scalar(select(Tenant.status).where(Tenant.slug == bank.slug)) == "active"
        actions = shared.scalars(select(SharedAuditEntry.action).where(SharedAuditEntry.object_id == bank.slug)
                                 .order_by(SharedAuditEntry.seq)).all()
    assert actions[-2:] == ["tenant.suspend", "tenant.resume"]
    analyst = logged_in(app, *staff("benchmarking_analyst"))
    refused = post(analyst, "/head-office/tenants", f"/head-office/tenants/{bank.slug}/suspension", {"reason": "x"})
    assert refused.status_code == 403


# --- provisioning through a job (real broker) ----------------------------------------------------------------------


@pytest.fixture
def real_broker(monkeypatch):
    """The real broker (CREDITFACTORY_TEST_BROKER_URL) with the console's actors re-declared on a queue of this
    test alone (as tests/test_jobs.py does), and a worker on it."""
    url = os.environ.get("CREDITFACTORY_TEST_BROKER_URL", "")
    if not url:
        pytest.skip("CREDITFACTORY_TEST_BROKER_URL is not set (CI sets it to amqp://guest:guest@127.0.0.1:5672/)")
    suffix = uuid.uuid4().hex[:10]
    queue = f"cf_test_console_{suffix}"
    broker = make_broker(url)
    for module, name in ((reporting_jobs, "generate_regulatory_report"), (tenancy_console, "provision_tenant")):
        actor = system_actor(broker=broker, queue_name=queue, actor_name=f"{name}_{suffix}")(getattr(module, name).fn)
        monkeypatch.setattr(module, name, actor)
    worker = dramatiq.Worker(broker, queues=[queue], worker_timeout=50, worker_threads=1)
    worker.start()
    yield broker
    worker.stop(timeout=10_000)
    if hasattr(broker, "channel"):
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            broker.channel.queue_delete(name)
    broker.close()


def _wait_for_task(task_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with shared_session() as shared:
            task = shared.get(ConsoleTask, task_id)
            if task.status in ("done", "failed"):
                return task
        time.sleep(0.3)
    raise AssertionError(f"task {task_id} did not finish")


def test_provisioning_from_the_form_runs_as_a_job(app, staff, real_broker):
    client = logged_in(app, *staff("platform_admin"))
    form = "/head-office/tenants/new"
    bad = post(client, form, form, {"slug": "Bad Slug", "name_zh": "", "name_en": "x"})
    assert bad.status_code == 422 and "name_zh" in bad.get_data(as_text=True)
    slug = f"c{uuid.uuid4().hex[:8]}"
    try:
        started = post(client, form, form, {"slug": slug, "name_zh": "控制台村镇银行", "name_en": "Console Bank",
                                            "legal_entity_code": f"LE-{slug}", "province": "云南",
                                            "net_capital": "300000000"})
        assert started.status_code == 303, started.get_data(as_text=True)
        task_id = int(re.search(r"id=(\d+)", started.headers["Location"])[1])
        progress = client.get(started.headers["Location"], headers=HTML).get_data(as_text=True)
        assert 'id="task-progress"' in progress
        task = _wait_for_task(task_id)
        assert task.status == "done", task.message
        page = client.get(f"/head-office/tenants/provisioning?id={task_id}", headers=HTML).get_data(as_text=True)
        assert 'http-equiv="refresh"' not in page and 'value="3"' in page and f"{slug} is active." in page
        client.get("/lang/zh")
        chinese = client.get(f"/head-office/tenants/provisioning?id={task_id}", headers=HTML).get_data(as_text=True)
        assert f"{slug} 已开业。" in chinese
        client.get("/lang/en")
        assert f'id="tenant-{slug}"' in client.get("/head-office/tenants", headers=HTML).get_data(as_text=True)
        with shared_session() as shared:
            assert services.capital_of(shared, slug)["net_capital"] == Decimal("300000000.00")
        again = post(client, form, form, {"slug": slug, "name_zh": "重复", "name_en": "Again",
                                          "legal_entity_code": f"LE2-{slug}", "province": "云南"})
        assert again.status_code == 422 and "already exists" in again.get_data(as_text=True)
        # Another head-office user does not see the task.
        other = logged_in(app, *staff("platform_admin"))
        assert other.get(f"/head-office/tenants/provisioning?id={task_id}", headers=HTML).status_code == 404
    finally:
        with SystemContext("test: forget console bank"):
            from creditfactory.tenancy.schema import quote_schema, schema_name
            from creditfactory.db import engine_for
            with engine_for("default").begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {quote_schema(schema_name(slug))} CASCADE")
            with shared_session() as shared, shared.begin():
                shared.execute(delete(Tenant).where(Tenant.slug == slug))


# --- regulator portal ----------------------------------------------------------------------------------------------


def test_regulator_views_and_downloads_csv_and_xlsx_audited(app, staff, tenant_a, tenant_b, snapshots):
    client = logged_in(app, *staff("regulator"))
    page = client.get("/regulator/reports", headers=HTML)
    assert page.status_code == 200 and f'value="{tenant_a.slug}"' in page.get_data(as_text=True)
    view = client.get(f"/regulator/reports?view=1&tenant={tenant_a.slug}&tenant={tenant_b.slug}", headers=HTML)
    assert view.status_code == 200 and "Five-tier classification" in view.get_data(as_text=True)
    assert _reads("report.regulatory")[-1].after["parameters"]["format"] == "html"
    bad = client.get("/regulator/reports?view=1&as_of=yesterday", headers=HTML)
    assert bad.status_code == 422
    data = {"tenant": [tenant_a.slug], "as_of": ""}
    before = len(_reads("report.regulatory"))
    csv_file = post(client, "/regulator/reports", "/regulator/reports/download", {**data, "format": "csv"})
    assert csv_file.status_code == 200 and csv_file.mimetype == "text/csv"
    assert f"{tenant_a.slug}:ratios" in csv_file.data.decode("utf-8-sig")
    xlsx = post(client, "/regulator/reports", "/regulator/reports/download", {**data, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))] == ["section", "item", "measure", "value"]
    reads = _reads("report.regulatory")
    assert len(reads) == before + 2 and [r.after["parameters"]["format"] for r in reads[-2:]] == ["csv", "xlsx"]
    head_office = logged_in(app, *staff("benchmarking_analyst"))
    assert head_office.get("/regulator/reports", headers=HTML).status_code == 403


@pytest.fixture
def large_reports(cf_settings):
    """Every regulator report counts as large (built by a job)."""
    settings_module.configure(dataclasses.replace(settings_module.get(), report_async_min_tenants=0))
    yield
    settings_module.configure(cf_settings)


def test_large_report_through_the_api_is_a_job_with_a_file(app, tenant_a, snapshots, large_reports, real_broker):
    from test_reporting_api import _token

    client_id, headers = _token(app, "reports:regulatory", Context.REGULATOR)
    http = app.test_client()
    before = len(_reads("report.regulatory"))
    answer = http.get("/api/v1/reports/regulatory", query_string={"tenant": tenant_a.slug, "format": "csv"},
                      headers=headers)
    assert answer.status_code == 202, answer.json
    assert answer.headers["Location"] == answer.json["status_url"]
    assert _reads("report.regulatory")[-1].after["parameters"]["asynchronous"] is True
    task = _wait_for_task(answer.json["id"])
    assert task.status == "done", task.message
    status = http.get(answer.json["status_url"], headers=headers).json
    assert status["status"] == "done" and status["step"] == 3 and status["file_url"]
    assert status["message"] == "The file is ready."
    got = http.get(status["file_url"], headers=headers)
    assert got.status_code == 200 and f"{tenant_a.slug}:ratios" in got.data.decode("utf-8-sig")
    assert len(_reads("report.regulatory")) == before + 2
    # Another regulator client does not see the task.
    _, others = _token(app, "reports:regulatory", Context.REGULATOR)
    assert http.get(answer.json["status_url"], headers=others).status_code == 404
    assert http.get(status["file_url"], headers=others).status_code == 404


def test_large_report_from_the_page_shows_progress_then_the_file(app, staff, tenant_a, snapshots, large_reports,
                                                                 real_broker):
    client = logged_in(app, *staff("regulator"))
    started = post(client, "/regulator/reports", "/regulator/reports/download",
                   {"tenant": [tenant_a.slug], "format": "xlsx"})
    assert started.status_code == 303
    task_id = int(re.search(r"id=(\d+)", started.headers["Location"])[1])
    _wait_for_task(task_id)
    page = client.get(started.headers["Location"], headers=HTML).get_data(as_text=True)
    assert "Download" in page and 'http-equiv="refresh"' not in page
    got = post(client, started.headers["Location"], "/regulator/reports/tasks/file", {"id": str(task_id)})
    assert got.status_code == 200 and "attachment" in got.headers["Content-Disposition"]
    assert load_workbook(io.BytesIO(got.data)).active is not None


def test_a_pasted_declaration_is_checked_before_anything_is_queued(app, staff):
    client = logged_in(app, *staff("platform_admin"))
    form = "/head-office/tenants/new"
    with shared_session() as shared:
        tasks_before = shared.scalar(select(text("count(*)")).select_from(ConsoleTask))
    not_yaml = post(client, form, form, {"spec": "slug: [unclosed"})
    assert not_yaml.status_code == 422 and "not YAML" in not_yaml.get_data(as_text=True)
    bad = post(client, form, form, {"spec": "slug: ok_slug\nname_zh: 银行\ncolour: blue\n"})
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "colour" in body and "unknown field" in body
    missing = post(client, form, form, {"spec": "slug: ok_slug\nname_zh: 银行\n"})
    assert missing.status_code == 422 and "legal_entity_code" in missing.get_data(as_text=True)
    with shared_session() as shared:
        assert shared.scalar(select(text("count(*)")).select_from(ConsoleTask)) == tasks_before
