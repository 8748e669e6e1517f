"""Head-office and regulator reads of village-bank data are recorded in the shared audit log."""

from __future__ import annotations

import base64
from typing import Any

import marshmallow as ma
import pytest
from flask.views import MethodView
from sqlalchemy import select

from creditfactory.app import create_app
from creditfactory.audit import verify_log
from creditfactory.audit.models import SharedAuditEntry
from creditfactory.audit.reads import ACTION, audits_cross_tenant_read, record_cross_tenant_read
from creditfactory.db import SystemContext, shared_session
from creditfactory.identity.errors import AccessDenied
from creditfactory.identity.oauth import services as oauth_services
from creditfactory.identity.permissions import Context
from creditfactory.identity.principal import CurrentPrincipal, Principal
from creditfactory.identity.scopes import Scope
from creditfactory.web.smorest import Blueprint, api_of


class AsOfSchema(ma.Schema):
    as_of = ma.fields.Date(required=True)


reports = Blueprint("probe_reports", __name__, url_prefix="/probe/regulatory", tenant_required=False,
                    description="A cross-bank read that exists only in this test.")


@reports.route("/<slug>")
class ProbeReportViews(MethodView):
    @reports.auth(Scope.REPORTS_REGULATORY)
    @reports.arguments(AsOfSchema, location="query")
    @reports.response(200)
    @audits_cross_tenant_read("report.regulatory.probe", tenants=lambda args, slug: [slug],
                              parameters=lambda args, slug: {"as_of": args["as_of"]})
    def get(self, args: dict[str, Any], slug: str) -> dict[str, Any]:
        """A regulator's report on one bank as of a date"""
        return {"bank": slug, "as_of": args["as_of"].isoformat()}


@pytest.fixture(scope="module")
def report_app(cf_settings):
    app = create_app(cf_settings, testing=True)
    api_of(app).register_blueprint(reports)
    return app


def entries(what: str) -> list[SharedAuditEntry]:
    with shared_session() as shared:
        return list(shared.scalars(select(SharedAuditEntry).where(SharedAuditEntry.action == ACTION,
                                                                 SharedAuditEntry.object_id == what)
                                   .order_by(SharedAuditEntry.seq)))


def test_a_regulator_read_through_a_route_is_recorded(report_app, tenant_a):
    with SystemContext("test: regulator client"), shared_session() as shared, shared.begin():
        issued = oauth_services.create_client(shared, "人民银行", "reports:regulatory", context=Context.REGULATOR)
    http = report_app.test_client()
    creds = base64.b64encode(f"{issued.client.client_id}:{issued.client_secret}".encode()).decode()
    token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                      headers={"Authorization": f"Basic {creds}"}).json["access_token"]
    before = len(entries("report.regulatory.probe"))
    answer = http.get(f"/api/v1/probe/regulatory/{tenant_a.slug}", query_string={"as_of": "2026-11-30"},
                      headers={"Authorization": f"Bearer {token}", "X-Request-ID": "read-probe-1"})
    assert answer.status_code == 200, answer.json
    found = entries("report.regulatory.probe")
    assert len(found) == before + 1
    entry = found[-1]
    assert entry.actor == issued.client.client_id and entry.actor_kind == "client"
    assert entry.after == {"context": "regulator", "principal": issued.client.client_id,
                           "client_id": issued.client.client_id, "tenants": [tenant_a.slug],
                           "parameters": {"as_of": "2026-11-30"}}
    assert entry.object_type == "tenant_data" and entry.request_id == "read-probe-1"
    # Refused calls read nothing and record nothing.
    assert http.get(f"/api/v1/probe/regulatory/{tenant_a.slug}", query_string={"as_of": "2026-11-30"}).status_code \
        == 401
    assert len(entries("report.regulatory.probe")) == before + 1
    with shared_session() as shared:
        assert verify_log(shared).ok


def test_the_function_records_head_office_reads_and_skips_a_bank_reading_itself(tenant_a, tenant_b):
    head_office = Principal(1, "analyst", Context.HEAD_OFFICE, None, frozenset(), frozenset({"benchmarking_analyst"}))
    from creditfactory.audit import Actor, ActorKind, CurrentActor

    with CurrentPrincipal.bind(head_office), CurrentActor.bind(Actor("1", ActorKind.USER, "analyst")):
        assert record_cross_tenant_read("benchmark.npl", [tenant_b.slug, tenant_a.slug, tenant_a.slug],
                                        {"period": "2026-10"}) is True
    entry = entries("benchmark.npl")[-1]
    assert entry.actor == "1" and entry.after["tenants"] == sorted({tenant_a.slug, tenant_b.slug})
    assert entry.after["context"] == "head_office" and entry.after["parameters"] == {"period": "2026-10"}
    count = len(entries("benchmark.npl"))
    officer = Principal(2, "officer", Context.TENANT, tenant_a.slug, frozenset(), frozenset({"loan_officer"}))
    with CurrentPrincipal.bind(officer):
        assert record_cross_tenant_read("benchmark.npl", [tenant_a.slug]) is False
    assert len(entries("benchmark.npl")) == count
    with pytest.raises(AccessDenied):
        record_cross_tenant_read("benchmark.npl", [tenant_a.slug])
