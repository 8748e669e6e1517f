"""Web skeleton: OpenAPI and docs, the problem+json error format, request ids, probes, tenant routing, i18n."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
import sys
import types
from html import unescape as html_unescape
from pathlib import Path

import marshmallow as ma
import pytest
from flask.views import MethodView
from sqlalchemy import create_engine, event

from creditfactory.app import create_app
from creditfactory.db import CurrentTenant, engine_for
from creditfactory.portal.i18n import translation_directories
from creditfactory.tenancy import routing, services
from creditfactory.tenancy.registry import TenantDirectory
from creditfactory.web import errors, health, logs
from creditfactory.web.errors import PROBLEM_MIMETYPE, UNEXPECTED_DETAIL, abort_problem
from creditfactory.web.smorest import Blueprint, api_of

PACKAGE = Path(__file__).resolve().parents[1] / "platform" / "creditfactory"
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class ProbeBodySchema(ma.Schema):
    name = ma.fields.String(required=True)
    amount = ma.fields.Decimal(required=True)
    period = ma.fields.Nested(ma.Schema.from_dict({"start": ma.fields.Date(required=True)}))


probe = Blueprint("probe", __name__, url_prefix="/probe", tenant_required=False)


@probe.route("")
class ProbeViews(MethodView):
    @probe.arguments(ProbeBodySchema)
    @probe.response(201)
    def post(self, body):
        """Accept a valid body"""
        return {}


@probe.route("/conflict")
class ProbeConflictViews(MethodView):
    def put(self):
        """Refuse with a problem"""
        abort_problem(409, "the loan was changed meanwhile", errors={"version": ["stale"]}, headers={"ETag": '"7"'})


@pytest.fixture
def probe_app(cf_settings):
    """An app with extra routes that fail on purpose; exceptions become 500s as in production."""
    app = create_app(cf_settings, testing=True)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    api_of(app).register_blueprint(probe)

    def boom():
        raise RuntimeError("secret-internal-detail")

    def chatty():
        logging.getLogger("creditfactory.test").warning("chatty view was here")
        return {"ok": True}

    app.add_url_rule("/boom", view_func=boom)
    app.add_url_rule("/chatty", view_func=chatty)
    return app


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.mimetype == PROBLEM_MIMETYPE
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


# --- OpenAPI and docs -------------------------------------------------------------------------


def test_openapi_json_describes_the_api(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"] == "3.0.3"
    assert spec["info"]["title"] == "Credit Factory API"
    operation = spec["paths"]["/api/v1/tenant"]["get"]
    assert set(operation["responses"]) >= {"200", "403", "404", "default"}
    not_found = spec["components"]["responses"]["NOT_FOUND"]
    assert list(not_found["content"]) == [PROBLEM_MIMETYPE]
    assert set(spec["components"]["schemas"]["Problem"]["properties"]) >= {"type", "title", "status", "detail", "errors"}
    assert spec["servers"] == [{"url": "/"}]


def test_openapi_server_is_the_tenant_the_spec_is_read_under(client, tenant_a):
    spec = client.get(f"/t/{tenant_a.slug}/api/v1/openapi.json").get_json()
    assert spec["servers"] == [{"url": f"/t/{tenant_a.slug}"}]


def test_swagger_ui_is_served_from_local_assets_only(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assets = [a for a in re.findall(r'(?:src|href)="([^"]+)"', html) if not a.startswith("data:")]
    assert any(a.partition("?")[0].endswith("swagger-ui-bundle.js") for a in assets)
    assert any(a.partition("?")[0].endswith("swagger-ui.css") for a in assets)
    for asset in assets:
        assert not asset.startswith(("http://", "https://", "//")), asset
        assert client.get(asset).status_code == 200, asset
    assert not re.search(r"https?://", html)
    config = json.loads(html_unescape(re.search(r'data-config="([^"]*)"', html).group(1)))
    assert config == {"validatorUrl": None}


# --- one error format -------------------------------------------------------------------------


def test_unknown_route_is_a_404_problem(client):
    body = assert_problem(client.get("/no/such/page"), 404)
    assert body["title"] == "Not Found"


def test_wrong_method_is_a_405_problem_with_allow(client, tenant_a):
    response = client.delete(f"/t/{tenant_a.slug}/api/v1/tenant")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_validation_errors_are_a_422_problem_with_field_errors(probe_app):
    response = probe_app.test_client().post("/api/v1/probe", json={"amount": "lots", "period": {"start": "soon"}})
    body = assert_problem(response, 422)
    assert body["detail"] == errors.INVALID_DETAIL
    assert set(body["errors"]) == {"name", "amount", "period.start"}
    assert all(isinstance(messages, list) and messages for messages in body["errors"].values())


def test_valid_body_passes(probe_app):
    response = probe_app.test_client().post("/api/v1/probe", json={"name": "x", "amount": "12.50"})
    assert response.status_code == 201


def test_malformed_json_is_a_400_problem(probe_app):
    response = probe_app.test_client().post("/api/v1/probe", data="{", content_type="application/json")
    body = assert_problem(response, 400)
    assert body["errors"] == {"json": ["Invalid JSON body."]}


def test_abort_problem_keeps_detail_errors_and_headers(probe_app):
    response = probe_app.test_client().put("/api/v1/probe/conflict")
    body = assert_problem(response, 409)
    assert body["detail"] == "the loan was changed meanwhile"
    assert body["errors"] == {"version": ["stale"]}
    assert response.headers["ETag"] == '"7"'


def test_unexpected_exception_is_a_500_problem_without_internals(probe_app, caplog):
    response = probe_app.test_client().get("/boom")
    body = assert_problem(response, 500)
    assert body["detail"] == UNEXPECTED_DETAIL
    text = response.get_data(as_text=True)
    assert "secret-internal-detail" not in text and "Traceback" not in text
    assert any(r.exc_info and "secret-internal-detail" in str(r.exc_info[1]) for r in caplog.records)


def test_browsers_get_an_html_error_page_on_portal_paths(client):
    response = client.get("/no/such/page", headers={**HTML, "Accept-Language": "zh-CN"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "页面不存在" in html and response.headers["X-Request-ID"] in html


def test_api_paths_answer_browsers_with_problem_json(client):
    assert_problem(client.get("/api/v1/nothing-here", headers=HTML), 404)


# --- request ids and logs ---------------------------------------------------------------------


def test_request_id_round_trip(client):
    response = client.get("/no/such/page", headers={"X-Request-ID": "edge-42.abc_DEF"})
    assert response.headers["X-Request-ID"] == "edge-42.abc_DEF"
    assert response.get_json(force=True)["request_id"] == "edge-42.abc_DEF"


@pytest.mark.parametrize("supplied", ["", "has space", "../../etc/passwd", "<script>", "x" * 200])
def test_insane_request_ids_are_replaced(client, supplied):
    response = client.get("/healthz", headers={"X-Request-ID": supplied})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_log_lines_carry_request_id_and_tenant_as_json(probe_app, cf_settings, tenant_a):
    logs.configure(dataclasses.replace(cf_settings, log_json=True))
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == logs.HANDLER_NAME)
    handler.setStream(stream := io.StringIO())
    try:
        response = probe_app.test_client().get(f"/t/{tenant_a.slug}/chatty", headers={"X-Request-ID": "trace-1"})
    finally:
        logs.configure(cf_settings)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    entry = next(line for line in lines if line["message"] == "chatty view was here")
    assert response.status_code == 200
    assert entry["request_id"] == "trace-1"
    assert entry["tenant"] == tenant_a.slug
    assert entry["level"] == "WARNING" and entry["logger"] == "creditfactory.test"


# --- probes -----------------------------------------------------------------------------------


@pytest.fixture
def broker(monkeypatch):
    """A stand-in ``creditfactory.jobs.broker`` whose reachability the test sets."""
    module = types.ModuleType("creditfactory.jobs.broker")
    module.state = (True, "broker answered")
    module.broker_reachable = lambda timeout=2.0: module.state
    monkeypatch.setitem(sys.modules, "creditfactory.jobs.broker", module)
    return module


def test_healthz_answers_without_io(client, monkeypatch):
    monkeypatch.setattr(health, "engine_for", None)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_when_database_and_broker_answer(client, broker):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"] == {"ok": True, "detail": "broker answered"}


def test_readyz_with_the_real_probes(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json(force=True)
    assert response.get_json()["checks"]["broker"]["ok"] is True


def test_readyz_names_an_unreachable_broker(client, broker):
    broker.state = (False, "connection refused")
    body = assert_problem(client.get("/readyz"), 503)
    assert "broker" in body["detail"] and "database" not in body["detail"]
    assert body["checks"]["broker"] == {"ok": False, "detail": "connection refused"}


def test_readyz_names_an_unreachable_database(client, broker, monkeypatch):
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    monkeypatch.setattr(health, "engine_for", lambda cluster="default": dead)
    body = assert_problem(client.get("/readyz"), 503)
    assert "database" in body["detail"] and "127.0.0.1" not in json.dumps(body)
    assert body["checks"]["database"]["ok"] is False


# --- tenant routing ---------------------------------------------------------------------------


def test_tenant_by_path_prefix(client, tenant_a):
    body = client.get(f"/t/{tenant_a.slug}/api/v1/tenant").get_json()
    assert body == {"slug": tenant_a.slug, "name_zh": tenant_a.name_zh, "name_en": tenant_a.name_en,
                    "status": "active", "timezone": tenant_a.timezone, "locale": tenant_a.locale}


def test_tenant_by_subdomain_ignoring_port(client, cf_settings, tenant_b):
    response = client.get("/api/v1/tenant", base_url=f"http://{tenant_b.slug}.{cf_settings.base_domain}:8443")
    assert response.get_json()["slug"] == tenant_b.slug


def test_no_tenant_named_is_a_404_problem_on_tenant_resources(client):
    body = assert_problem(client.get("/api/v1/tenant"), 404)
    assert "/t/<slug>/" in body["detail"]


def test_each_tenant_sees_only_itself(client, cf_settings, tenant_a, tenant_b):
    for _ in range(3):
        assert client.get(f"/t/{tenant_a.slug}/api/v1/tenant").get_json()["slug"] == tenant_a.slug
        assert client.get(f"/t/{tenant_b.slug}/api/v1/tenant").get_json()["slug"] == tenant_b.slug
    crossed = client.get(f"/t/{tenant_a.slug}/api/v1/tenant", base_url=f"http://{tenant_b.slug}.{cf_settings.base_domain}")
    body = assert_problem(crossed, 400)
    assert tenant_a.slug in body["detail"] and tenant_b.slug in body["detail"]
    assert tenant_b.name_en not in crossed.get_data(as_text=True)


def test_same_tenant_in_host_and_path_is_fine(client, cf_settings, tenant_a):
    response = client.get(f"/t/{tenant_a.slug}/api/v1/tenant", base_url=f"http://{tenant_a.slug}.{cf_settings.base_domain}")
    assert response.get_json()["slug"] == tenant_a.slug


def test_unknown_tenant_is_a_404_problem(client, cf_settings):
    assert_problem(client.get("/t/nosuchbank/api/v1/tenant"), 404)
    assert_problem(client.get("/api/v1/tenant", base_url=f"http://nosuchbank.{cf_settings.base_domain}"), 404)


@pytest.fixture
def statements(cf_settings):
    """SQL statements sent on the main database while the test runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine_for("default"), "before_cursor_execute", record)
    yield seen
    event.remove(engine_for("default"), "before_cursor_execute", record)


@pytest.mark.parametrize("path", ["/t/Bad-Slug/api/v1/tenant", "/t/x/", "/t//api/v1/tenant", "/t/a%20b/"])
def test_malformed_slug_is_a_404_without_sql(client, statements, path):
    assert_problem(client.get(path), 404)
    assert statements == []


def test_suspended_tenant_is_a_403_problem_with_the_reason(client, tenant_factory):
    tenant = tenant_factory()
    services.suspend(tenant.slug, "unpaid licence")
    try:
        body = assert_problem(client.get(f"/t/{tenant.slug}/api/v1/tenant"), 403)
        assert body["detail"] == f"tenant {tenant.slug!r} is suspended by the head office; its data is kept"
    finally:
        services.resume(tenant.slug)
    assert client.get(f"/t/{tenant.slug}/api/v1/tenant").status_code == 200


def test_tenant_is_unbound_after_each_request_even_after_errors(probe_app, tenant_a):
    client = probe_app.test_client()
    assert client.get(f"/t/{tenant_a.slug}/boom").status_code == 500
    assert CurrentTenant.get_or_none() is None
    assert client.get(f"/t/{tenant_a.slug}/api/v1/tenant").status_code == 200
    assert CurrentTenant.get_or_none() is None


def test_urls_built_under_a_tenant_keep_its_prefix(client, tenant_a):
    html = client.get(f"/t/{tenant_a.slug}/").get_data(as_text=True)
    assert f'href="/t/{tenant_a.slug}/lang/en?next=/"' in html
    assert f'href="/t/{tenant_a.slug}/static/portal/portal.css?v=' in html


def test_tenant_resolution_runs_no_sql_with_a_warm_cache(app, tenant_a, monkeypatch):
    # Speed itself is measured by `creditfactory bench routing`; here: no query per request once cached.
    from sqlalchemy import event

    from creditfactory.db import engine_for

    monkeypatch.setattr(routing, "directory", TenantDirectory(ttl=60.0))
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    # A request context skips the WSGI path middleware, so name the tenant by host.
    with app.test_request_context("/api/v1/tenant", base_url=f"http://{tenant_a.slug}.localhost"):
        routing.bind_tenant()
        routing.unbind_tenant()
        event.listen(engine_for(), "before_cursor_execute", record)
        try:
            for _ in range(50):
                routing.bind_tenant()
                assert CurrentTenant.get().slug == tenant_a.slug
                routing.unbind_tenant()
        finally:
            event.remove(engine_for(), "before_cursor_execute", record)
    assert statements == []


# --- portal shell and languages ---------------------------------------------------------------


def test_head_office_home_in_chinese_by_default(client):
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="zh-Hans-CN">' in html
    assert "Credit Factory 总行" in html and "欢迎使用" in html
    assert 'href="/api/v1/docs"' in html


@pytest.mark.parametrize(("header", "expected"), [("en-US,en;q=0.9", "Welcome to Credit Factory"),
                                                  ("zh-CN,zh;q=0.9,en;q=0.8", "欢迎使用"),
                                                  ("fr-FR, en;q=0.5", "Welcome to Credit Factory"),
                                                  ("de-DE", "欢迎使用")])
def test_accept_language_picks_the_best_match(client, header, expected):
    assert expected in client.get("/", headers={"Accept-Language": header}).get_data(as_text=True)


def test_tenant_home_shows_the_bank(client, tenant_a):
    html = client.get(f"/t/{tenant_a.slug}/").get_data(as_text=True)
    assert tenant_a.name_zh in html and tenant_a.slug in html and tenant_a.timezone in html
    assert "正常营业" in html


def test_tenant_locale_outranks_accept_language(client, tenant_factory):
    tenant = tenant_factory(locale="en")
    html = client.get(f"/t/{tenant.slug}/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert tenant.name_en in html and "Open for business" in html


def test_language_switch_sets_a_cookie_that_outranks_the_tenant(client, tenant_a):
    response = client.get(f"/t/{tenant_a.slug}/lang/en?next=/")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/t/{tenant_a.slug}/"
    cookie = response.headers["Set-Cookie"]
    assert "cf_lang=en" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    html = client.get(f"/t/{tenant_a.slug}/").get_data(as_text=True)
    assert tenant_a.name_en in html and "Open for business" in html
    client.get(f"/t/{tenant_a.slug}/lang/zh")
    assert "正常营业" in client.get(f"/t/{tenant_a.slug}/", headers={"Accept-Language": "en"}).get_data(as_text=True)


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "evil",
                                    "/\r\nSet-Cookie:x=1", "/\tfoo", "javascript:alert(1)"])
def test_language_switch_never_redirects_off_site(client, target):
    response = client.get("/lang/en", query_string={"next": target})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location == "/"


def test_unknown_language_is_a_404(client):
    assert_problem(client.get("/lang/fr"), 404)


# --- translation catalogues -------------------------------------------------------------------


#: Every capability that has pages keeps its own catalogue next to them (see portal/i18n.py).
CATALOGUES = [path.parent.relative_to(PACKAGE).as_posix() for path in translation_directories()]
LANGUAGES = ["zh_Hans_CN", "en"]


def catalogue(capability: str, language: str):
    from babel.messages.pofile import read_po

    with (PACKAGE / capability / "translations" / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po)


def test_the_portal_catalogue_is_found_first():
    assert CATALOGUES[0] == "portal"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("capability", CATALOGUES)
def test_compiled_catalogue_matches_its_po_file(capability, language):
    from babel.messages.mofile import write_mo

    compiled = io.BytesIO()
    write_mo(compiled, catalogue(capability, language))
    committed = (PACKAGE / capability / "translations" / language / "LC_MESSAGES" / "messages.mo").read_bytes()
    assert compiled.getvalue() == committed, f"run: pybabel compile -d platform/creditfactory/{capability}/translations"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("capability", CATALOGUES)
def test_catalogue_covers_every_message_in_the_source(capability, language):
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (PACKAGE / capability / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    in_source = {message for _, _, message, _, _ in extract_from_dir(str(PACKAGE / capability), method_map, options_map)}
    in_catalogue = {message.id for message in catalogue(capability, language) if message.id}
    assert in_source == in_catalogue, f"run pybabel extract and update (see {capability}/babel.cfg)"


@pytest.mark.parametrize("capability", CATALOGUES)
def test_chinese_catalogue_translates_everything(capability):
    untranslated = [m.id for m in catalogue(capability, "zh_Hans_CN") if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []


def test_a_domain_error_raised_below_the_web_layer_is_a_problem_with_its_status(cf_settings):
    from creditfactory.errors import Conflict, DomainError

    app = create_app(cf_settings, testing=True)

    @app.route("/raise/<kind>")
    def raise_it(kind):
        raise {"bad": DomainError("amount must be positive"), "state": Conflict("already approved")}[kind]

    client = app.test_client()
    assert assert_problem(client.get("/raise/bad"), 422)["detail"] == "amount must be positive"
    assert assert_problem(client.get("/raise/state"), 409)["detail"] == "already approved"


def test_the_menu_shows_only_the_links_a_user_may_follow(app, client, tenant_a, make_user):
    from creditfactory.identity.permissions import Permission
    from creditfactory.portal.nav import NavLink, _LINKS, register_nav
    from creditfactory.testing.staff import log_in

    register_nav(NavLink("portal.home", "Audit log", Permission.AUDIT_READ, order=1))
    try:
        anonymous = client.get(f"/t/{tenant_a.slug}/", headers={"Accept-Language": "en"}).get_data(as_text=True)
        assert 'class="wrap menu"' not in anonymous
        log_in(client, f"/t/{tenant_a.slug}", make_user("loan_officer", tenant_a))
        client.get(f"/t/{tenant_a.slug}/lang/en")
        page = client.get(f"/t/{tenant_a.slug}/").get_data(as_text=True)
        assert "My profile" in page and "Audit log" not in page
    finally:
        _LINKS.pop("portal.home")


def test_every_api_schema_has_its_own_name_in_the_openapi_document(cf_settings):
    import warnings

    # apispec renames a second schema that resolves to a taken name ("Case1"), a silent break for API clients.
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Multiple schemas resolved", category=UserWarning)
        create_app(cf_settings, testing=True)


@pytest.mark.parametrize("path, word", [("/customers/1", "有效"), ("/back-office/loans/NO-SUCH", "正常还款")])
def test_a_page_translates_shared_words_in_its_own_capabilitys_sense(cf_settings, path, word):
    """"Active" is a consent's 有效 on the customer pages and a loan's 正常还款 on the loan pages, whichever
    catalogue happens to be merged last."""
    from flask_babel import gettext

    from creditfactory.portal import i18n

    app = create_app(cf_settings, testing=True)
    with app.test_request_context(path, headers={"Accept-Language": "zh-CN"}):
        i18n._use_the_capability_catalogue()  # the before-request hook, without the login the page would need
        assert gettext("Active") == word
