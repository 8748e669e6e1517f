"""Regulator and head-office API: client-credentials tokens, JSON/CSV/XLSX, figures as stored, every pull audited."""

from __future__ import annotations

import base64
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text

from creditfactory.audit.models import SharedAuditEntry
from creditfactory.audit.reads import ACTION
from creditfactory.db import SystemContext, shared_session, tenant_session
from creditfactory.identity.oauth import services as oauth_services
from creditfactory.identity.permissions import Context
from creditfactory.reporting import services


def _token(app, scope, context):
    with SystemContext("test: reporting client"), shared_session() as shared, shared.begin():
        issued = oauth_services.create_client(shared, "监管测试", scope, context=context)
    creds = base64.b64encode(f"{issued.client.client_id}:{issued.client_secret}".encode()).decode()
    answer = app.test_client().post("/oauth/token", data={"grant_type": "client_credentials"},
                                    headers={"Authorization": f"Basic {creds}"})
    return issued.client.client_id, {"Authorization": f"Bearer {answer.json['access_token']}"}


@pytest.fixture
def snapshots(tenant_a, tenant_b):
    """Committed snapshots of tenants A and B (the API reads with its own sessions); removed afterwards."""
    for tenant in (tenant_a, tenant_b):
        services.refresh_tenant(tenant)
    yield
    with shared_session() as shared, shared.begin():
        for table in ("kpi_snapshot", "regulatory_snapshot"):
            shared.execute(text(f"DELETE FROM cf_shared.{table} WHERE tenant_slug IN (:a, :b)"),
                           {"a": tenant_a.slug, "b": tenant_b.slug})


def _reads(what):
    with shared_session() as shared:
        return list(shared.scalars(select(SharedAuditEntry).where(
            SharedAuditEntry.action == ACTION, SharedAuditEntry.object_id == what).order_by(SharedAuditEntry.seq)))


def test_regulator_pulls_json_csv_xlsx_audited(app, tenant_a, tenant_b, snapshots):
    client_id, headers = _token(app, "reports:regulatory", Context.REGULATOR)
    http = app.test_client()
    before = len(_reads("report.regulatory"))
    answer = http.get("/api/v1/reports/regulatory", query_string={"tenant": [tenant_a.slug, tenant_b.slug]},
                      headers=headers)
    assert answer.status_code == 200, answer.json
    report = answer.json
    assert set(report["tenants"]) == {tenant_a.slug, tenant_b.slug} and report["missing"] == []
    # Figures as the tenant schema has them, by direct SQL.
    for tenant in (tenant_a, tenant_b):
        with tenant_session(tenant) as session:
            gross = session.execute(text("SELECT coalesce(sum(principal_outstanding), 0) FROM loan_account WHERE "
                                         "state NOT IN ('settled', 'written_off')")).scalar()
        assert Decimal(report["tenants"][tenant.slug]["ratios"]["gross_loans"]) == gross
    entry = _reads("report.regulatory")[-1]
    assert len(_reads("report.regulatory")) == before + 1
    assert entry.actor == client_id and entry.after["tenants"] == sorted([tenant_a.slug, tenant_b.slug])
    assert entry.after["parameters"]["format"] == "json"

    csv_answer = http.get("/api/v1/reports/regulatory", query_string={"tenant": tenant_a.slug, "format": "csv"},
                          headers=headers)
    assert csv_answer.status_code == 200 and csv_answer.mimetype == "text/csv"
    assert "attachment" in csv_answer.headers["Content-Disposition"]
    assert f"{tenant_a.slug}:ratios" in csv_answer.data.decode("utf-8-sig")
    # Named banks: a pull of every bank is a job once the test database holds report_async_min_tenants of them.
    xlsx = http.get("/api/v1/reports/regulatory", query_string={"tenant": [tenant_a.slug, tenant_b.slug],
                                                                "format": "xlsx"}, headers=headers)
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))] == ["section", "item", "measure", "value"]
    assert len(_reads("report.regulatory")) == before + 3
    assert _reads("report.regulatory")[-1].after["parameters"]["format"] == "xlsx"


def test_unknown_tenant_is_404_and_head_office_token_refused(app, snapshots):
    _, headers = _token(app, "reports:regulatory", Context.REGULATOR)
    http = app.test_client()
    assert http.get("/api/v1/reports/regulatory", query_string={"tenant": "nosuchbank"},
                    headers=headers).status_code == 404
    _, head_office = _token(app, "benchmarks:read", Context.HEAD_OFFICE)
    assert http.get("/api/v1/reports/regulatory", headers=head_office).status_code == 403


def test_head_office_benchmark(app, tenant_a, snapshots):
    _, headers = _token(app, "benchmarks:read", Context.HEAD_OFFICE)
    answer = app.test_client().get("/api/v1/benchmarks/kpis", headers=headers)
    assert answer.status_code == 200, answer.json
    rows = {row["tenant"]: row["values"] for row in answer.json["tenants"]}
    assert rows[tenant_a.slug]["cold_visit_success_rate"] is None
    assert answer.json["references"]["loans_per_officer"][1] == {"label": "after", "value": "25"}
    assert _reads("kpi.benchmark")[-1].after["parameters"] == {"period": "month"}
