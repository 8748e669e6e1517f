"""User and role administration, maker-checker for granting roles, the approvals page and the changes API."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
import uuid
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from sqlalchemy import delete, func, select

from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.audit.models import AuditEntry
from creditfactory.db import CurrentTenant, SystemContext, shared_session, tenant_session
from creditfactory.errors import NotFound
from creditfactory.identity import administration, totp
from creditfactory.identity.custom_roles import propose_custom_role
from creditfactory.identity.errors import AccessDenied, SegregationOfDutiesViolation, TenantMismatchDenied
from creditfactory.identity.models import ChangeRequest, Membership, User
from creditfactory.identity.oauth import services as oauth_services
from creditfactory.identity.permissions import Context, Permission
from creditfactory.identity.principal import CurrentPrincipal, load_principal
from creditfactory.identity.roles import STANDARD_ROLES
from creditfactory.testing.staff import STAFF_PASSWORD, csrf_token, log_in

HTML = {"Accept": "text/html", "Accept-Language": "en"}
REDIRECT = "cn.creditfactory.field:/oauth"


# --- helpers -------------------------------------------------------------------------------------------------------


@pytest.fixture
def staff(make_user):
    """``staff(role, tenant=None)``: a committed user with the role and an enrolled second factor; returns the
    username and their authenticator (every login asks an enrolled user for a code)."""

    def make(role: str, tenant=None) -> tuple[str, pyotp.TOTP]:
        username = make_user(role, tenant)
        secret = pyotp.random_base32()
        with shared_session() as shared, shared.begin():
            user = shared.scalar(select(User).where(User.username == username))
            user.totp_secret = totp._seal(user, secret)
            user.totp_enabled_at = dt.datetime.now(dt.timezone.utc)
        return username, pyotp.TOTP(secret)

    return make


@pytest.fixture
def forget_users():
    """Usernames created through the pages, removed after the test."""
    made: list[str] = []
    yield made
    with shared_session() as shared, shared.begin():
        shared.execute(delete(User).where(User.username.in_(made)))


def english(client, prefix: str):
    """Pick English (the tenant's own locale, Chinese, outranks the browser's language)."""
    client.get(f"{prefix}/lang/en")
    return client


def logged_in(app, prefix: str, username: str, authenticator: pyotp.TOTP):
    client = english(app.test_client(), prefix)
    first = log_in(client, prefix, username, headers=HTML)
    assert first.headers["Location"] == f"{prefix}/login/totp", first.get_data(as_text=True)
    token = csrf_token(client, f"{prefix}/login/totp", HTML)
    done = client.post(f"{prefix}/login/totp", headers=HTML, data={"code": authenticator.now(), "csrf_token": token})
    assert done.status_code == 302, done.get_data(as_text=True)
    return client


def post(client, page: str, action: str, data: dict[str, str]):
    return client.post(action, headers=HTML, data={**data, "csrf_token": csrf_token(client, page, HTML)})


@contextmanager
def acting(username: str, tenant):
    """Bind ``username`` acting for ``tenant`` (principal, tenant and audit actor), as a request would."""
    with shared_session() as shared:
        user = shared.scalar(select(User).where(User.username == username))
        principal = load_principal(shared, user, Context.TENANT, tenant.slug)
    with CurrentTenant.bind(tenant), CurrentPrincipal.bind(principal), \
            CurrentActor.bind(Actor(id=str(user.id), kind=ActorKind.USER, display=username)):
        yield


def memberships(username: str) -> set[tuple[str, str | None]]:
    with shared_session() as shared:
        rows = shared.execute(select(Membership.role, Membership.context).join(User).where(
            User.username == username)).all()
    return {(role, context) for role, context in rows}


# --- services ------------------------------------------------------------------------------------------------------


def test_a_granted_role_takes_effect_only_after_a_second_administrator(make_user, tenant_db, tenant_a):
    maker, checker = make_user("tenant_admin", tenant_a), make_user("tenant_admin", tenant_a)
    db = tenant_db(tenant_a)
    newcomer = f"n{uuid.uuid4().hex[:10]}"
    # Only this test's entries: other tests' objects in tenant A may share the change request's number.
    before = db.scalar(select(func.coalesce(func.max(AuditEntry.seq), 0)))
    with acting(maker, tenant_a):
        with administration.shared_for(db) as shared:
            user, password, request = administration.create_bank_user(shared, db, newcomer, "张伟", "loan_officer")
            assert user.must_change_password and len(password) >= 12
            listed = {u.username: u for u in administration.list_bank_users(shared, db)}
        assert listed[newcomer].roles == () and listed[newcomer].pending_roles == ("loan_officer",)
        assert request.kind == "membership.grant" and request.target == f"{newcomer}/loan_officer"
        with administration.shared_for(db) as shared:
            assert shared.scalar(select(Membership).join(User).where(User.username == newcomer)) is None
        with pytest.raises(SegregationOfDutiesViolation):
            administration.approve_change(db, request.id)
    with acting(checker, tenant_a):
        administration.approve_change(db, request.id)
        with administration.shared_for(db) as shared:
            held = shared.scalars(select(Membership.role).join(User).where(User.username == newcomer)).all()
            assert held == ["loan_officer"]
            assert {u.username: u for u in administration.list_bank_users(shared, db)}[newcomer].roles == \
                ("loan_officer",)
        actions = db.scalars(select(AuditEntry.action).where(AuditEntry.seq > before, AuditEntry.object_id.in_(
            [newcomer, str(request.id)])).order_by(AuditEntry.seq)).all()
        assert actions == ["user.create", "membership.grant.propose", "membership.grant", "change.approve"]
        with administration.shared_for(db) as shared:
            administration.revoke_role(shared, db, newcomer, "loan_officer")
            assert shared.scalar(select(Membership).join(User).where(User.username == newcomer)) is None
            with pytest.raises(NotFound):
                administration.revoke_role(shared, db, newcomer, "loan_officer")
        assert db.scalar(select(AuditEntry.action).order_by(AuditEntry.seq.desc()).limit(1)) == \
            "membership.revoke"


def test_grants_are_checked_at_proposal(make_user, tenant_db, tenant_a):
    admin, officer = make_user("tenant_admin", tenant_a), make_user("loan_officer", tenant_a)
    db = tenant_db(tenant_a)
    with acting(admin, tenant_a), administration.shared_for(db) as shared:
        with pytest.raises(administration.ChangeRequestError, match="already holds"):
            administration.propose_grant(shared, db, officer, "loan_officer")
        with pytest.raises(administration.ChangeRequestError, match="head office"):
            administration.propose_grant(shared, db, officer, "platform_admin")
        with pytest.raises(administration.ChangeRequestError, match="unknown role"):
            administration.propose_grant(shared, db, officer, "no_such_role")
        with pytest.raises(NotFound):
            administration.propose_grant(shared, db, "nobody-here", "reviewer")
        request = administration.propose_grant(shared, db, officer, "reviewer")
        with pytest.raises(administration.ChangeRequestError, match="already waiting"):
            administration.propose_grant(shared, db, officer, "reviewer")
    assert request.status == "pending"


@pytest.mark.parametrize("role, refusal", [("loan_officer", AccessDenied), ("risk_manager", AccessDenied),
                                           ("other_tenant_admin", TenantMismatchDenied)])
def test_only_the_banks_administrator_manages_its_users(make_user, tenant_db, tenant_a, tenant_b, role, refusal):
    target = make_user("loan_officer", tenant_a)
    actor = make_user("tenant_admin", tenant_b) if role == "other_tenant_admin" else make_user(role, tenant_a)
    acting_for = tenant_b if role == "other_tenant_admin" else tenant_a
    db = tenant_db(tenant_a)
    with shared_session() as shared:
        user = shared.scalar(select(User).where(User.username == actor))
        principal = load_principal(shared, user, Context.TENANT, acting_for.slug)
    with CurrentTenant.bind(tenant_a), CurrentPrincipal.bind(principal), \
            CurrentActor.bind(Actor(id=str(user.id), kind=ActorKind.USER)), administration.shared_for(db) as shared:
        for call in (lambda: administration.list_bank_users(shared, db),
                     lambda: administration.create_bank_user(shared, db, f"x{uuid.uuid4().hex[:8]}", "x", "reviewer"),
                     lambda: administration.reset_bank_user_password(shared, db, target),
                     lambda: administration.set_bank_user_active(shared, db, target, False),
                     lambda: administration.propose_grant(shared, db, target, "reviewer"),
                     lambda: administration.revoke_role(shared, db, target, "loan_officer")):
            with pytest.raises(refusal):
                call()


def test_an_account_with_power_elsewhere_is_left_to_the_head_office(make_user, tenant_db, tenant_a, tenant_b):
    admin = make_user("tenant_admin", tenant_a)
    both = make_user("loan_officer", tenant_a)
    with SystemContext("test: second bank"), shared_session() as shared, shared.begin():
        from creditfactory.identity import services
        services.grant(shared, both, "loan_officer", tenant_b.slug)
    own, stranger = make_user("loan_officer", tenant_a), make_user("loan_officer", tenant_b)
    db = tenant_db(tenant_a)
    with acting(admin, tenant_a), administration.shared_for(db) as shared:
        assert {u.username: u.managed_here for u in administration.list_bank_users(shared, db)}[both] is False
        with pytest.raises(AccessDenied, match="head office"):
            administration.reset_bank_user_password(shared, db, both)
        with pytest.raises(AccessDenied, match="head office"):
            administration.set_bank_user_active(shared, db, both, False)
        with pytest.raises(NotFound):
            administration.reset_bank_user_password(shared, db, stranger)
        password = administration.reset_bank_user_password(shared, db, own)
        assert shared.scalar(select(User.must_change_password).where(User.username == own)) is True
        assert len(password) >= 12
        administration.set_bank_user_active(shared, db, own, False)
        assert shared.scalar(select(User.active).where(User.username == own)) is False
        with pytest.raises(administration.IdentityError, match="your own"):
            administration.set_bank_user_active(shared, db, admin, False)


def test_diff_is_generic_over_payloads():
    rows = {row.name: row for row in administration.diff(
        {"name_zh": "柜员", "permissions": ["customer.read", "loan.read"], "limit": 5},
        {"name_zh": "柜员", "permissions": ["loan.read", "pii.read"], "note": None})}
    assert rows["name_zh"].changed is False
    assert rows["permissions"].added == ("pii.read",) and rows["permissions"].removed == ("customer.read",)
    assert (rows["limit"].before, rows["limit"].after) == (5, None)
    assert rows["note"].changed is False
    assert [r.name for r in administration.diff(None, {"username": "li", "role": "reviewer"})] == ["username", "role"]


def test_makers_see_the_kinds_they_may_propose_and_checkers_see_all(make_user, tenant_db, tenant_a):
    admin, risk = make_user("tenant_admin", tenant_a), make_user("risk_manager", tenant_a)
    officer = make_user("loan_officer", tenant_a)
    db = tenant_db(tenant_a)
    with acting(admin, tenant_a):
        role = propose_custom_role(db, f"r{uuid.uuid4().hex[:8]}", "柜员", "Teller", ["customer.read"])
        with administration.shared_for(db) as shared:
            grant = administration.propose_grant(shared, db, officer, "reviewer")
    with acting(risk, tenant_a), administration.shared_for(db) as shared:
        seen = {v.id: v for v in administration.list_changes(shared, db)}
        assert {role.id, grant.id} <= set(seen) and not seen[grant.id].mine
        assert seen[role.id].before is None and seen[role.id].payload["permissions"] == ["customer.read"]
    with acting(officer, tenant_a), administration.shared_for(db) as shared, pytest.raises(AccessDenied):
        administration.list_changes(shared, db)


@pytest.fixture(scope="module")
def bank(tenant_factory):
    """A bank of this module's own for the flows that commit change requests: other modules' tests expect
    tenant A's change requests to be their own."""
    return tenant_factory(name_en="Administration Test Village Bank")


# --- pages ---------------------------------------------------------------------------------------------------------

#: (endpoint, path, the role that opens it, the role in the same place that does not).
PAGES = [
    ("identity.users", "/admin/users", "tenant_admin", "risk_manager"),
    ("identity.custom_roles", "/admin/roles", "tenant_admin", "loan_officer"),
    ("identity.approvals", "/admin/approvals", "risk_manager", "loan_officer"),
    ("identity.head_office_users", "/head-office/users", "platform_admin", "benchmarking_analyst"),
]


@pytest.mark.parametrize("endpoint, path, allowed, refused", PAGES)
@pytest.mark.parametrize("caller", ["allowed", "refused", "other_tenant", "anonymous"])
def test_page_access(app, staff, tenant_a, tenant_b, endpoint, path, allowed, refused, caller):
    head_office = STANDARD_ROLES[allowed].context is Context.HEAD_OFFICE
    prefix = "" if head_office else f"/t/{tenant_a.slug}"
    if caller == "anonymous":
        response = app.test_client().get(prefix + path, headers=HTML)
        assert response.status_code == 302 and response.headers["Location"].startswith(f"{prefix}/login?next=")
        return
    if caller == "other_tenant":
        # A bank's administrator at this address: another bank's session (403), or at the head office's page a
        # bank's session at its own address (403, the permission belongs to the head office).
        where = tenant_b if not head_office else tenant_a
        client = logged_in(app, f"/t/{where.slug}", *staff("tenant_admin", where))
        url = f"/t/{tenant_a.slug}{path}" if not head_office else f"/t/{tenant_a.slug}{path}"
        assert client.get(url, headers=HTML).status_code == 403
        return
    role = allowed if caller == "allowed" else refused
    client = logged_in(app, prefix, *staff(role, None if head_office else tenant_a))
    response = client.get(prefix + path, headers=HTML)
    assert response.status_code == (200 if caller == "allowed" else 403), response.get_data(as_text=True)
    menu = client.get(f"{prefix}/account", headers=HTML).get_data(as_text=True)
    assert (f'href="{prefix}{path}"' in menu) is (caller == "allowed")


def test_every_permission_page_serves_a_holder(app, staff, tenant_a):
    """Positive control of the page matrix (tests/test_authorization.py) for pages needing a permission."""
    from test_authorization import walk_pages

    pages = [(endpoint, access) for endpoint, access in walk_pages(app)[0] if access.permission is not None]
    assert {endpoint for endpoint, _ in pages} >= {page[0] for page in PAGES}
    for endpoint, access in pages:
        permission: Permission = access.permission
        role = next(r for r in STANDARD_ROLES.values() if permission in r.permissions and r.context is permission.context)
        tenant = tenant_a if permission.context is Context.TENANT else None
        prefix = f"/t/{tenant.slug}" if tenant else ""
        client = logged_in(app, prefix, *staff(role.code, tenant))
        url = prefix + next(app.url_map.iter_rules(endpoint)).rule
        assert client.get(url, headers=HTML).status_code == 200, f"{endpoint} as {role.code}"


def test_create_propose_approve_and_first_login_through_the_pages(app, staff, bank, forget_users):
    prefix = f"/t/{bank.slug}"
    maker = logged_in(app, prefix, *staff("tenant_admin", bank))
    checker = logged_in(app, prefix, *staff("tenant_admin", bank))
    newcomer = f"n{uuid.uuid4().hex[:10]}"
    forget_users.append(newcomer)
    users = f"{prefix}/admin/users"
    created = post(maker, users, users, {"username": newcomer, "display_name": "张伟", "email": "",
                                         "role": "reviewer"})
    assert created.status_code == 200, created.get_data(as_text=True)
    password = re.search(r'<code class="secret">([^<]+)</code>', created.get_data(as_text=True))[1]
    assert "Awaiting approval" in maker.get(users, headers=HTML).get_data(as_text=True)
    # Not yet: the newcomer holds no role here, so the login is refused like a wrong password.
    assert log_in(app.test_client(), prefix, newcomer, password, HTML).status_code == 401

    approvals = f"{prefix}/admin/approvals"
    with tenant_session(bank) as db:
        change_id = db.scalar(select(ChangeRequest.id).where(ChangeRequest.target == f"{newcomer}/reviewer"))
    own_page = maker.get(approvals, headers=HTML).get_data(as_text=True)
    assert "You proposed this change" in own_page and f"Approve change {change_id}" not in own_page
    refused = post(maker, users, f"{approvals}/{change_id}", {"decision": "approve"})
    assert refused.status_code == 403
    page = checker.get(approvals, headers=HTML).get_data(as_text=True)
    assert f"Approve change {change_id}" in page and "membership.grant" in page and newcomer in page
    assert post(checker, approvals, f"{approvals}/{change_id}", {"decision": "reject", "reason": ""}).status_code == 422
    approved = post(checker, approvals, f"{approvals}/{change_id}", {"decision": "approve"})
    assert approved.status_code == 302 and approved.headers["Location"].endswith("done=approved")
    assert ("reviewer", "tenant") in memberships(newcomer)
    assert "approved" in maker.get(approvals, headers=HTML).get_data(as_text=True)

    newbie = english(app.test_client(), prefix)
    first = log_in(newbie, prefix, newcomer, password, HTML)
    assert first.headers["Location"] == f"{prefix}/account/password"
    assert newbie.get(f"{prefix}/account", headers=HTML).headers["Location"] == f"{prefix}/account/password"
    changed = post(newbie, f"{prefix}/account/password", f"{prefix}/account/password", {
        "current_password": password, "new_password": "my own long passphrase", "confirm_password":
        "my own long passphrase"})
    assert changed.status_code == 302
    profile = newbie.get(f"{prefix}/account", headers=HTML).get_data(as_text=True)
    assert "Reviewer" in profile and f'href="{users}"' not in profile and f'href="{approvals}"' not in profile


def test_revoke_lock_reset_and_reject_through_the_pages(app, staff, make_user, bank):
    prefix = f"/t/{bank.slug}"
    admin = logged_in(app, prefix, *staff("tenant_admin", bank))
    checker = logged_in(app, prefix, *staff("risk_manager", bank))
    officer = make_user("loan_officer", bank)
    users = f"{prefix}/admin/users"
    reset = post(admin, users, f"{users}/{officer}/password", {})
    password = re.search(r'<code class="secret">([^<]+)</code>', reset.get_data(as_text=True))[1]
    assert log_in(app.test_client(), prefix, officer, password, HTML).headers["Location"] == \
        f"{prefix}/account/password"
    assert post(admin, users, f"{users}/{officer}/active", {"active": "0"}).status_code == 302
    assert log_in(app.test_client(), prefix, officer, password, HTML).status_code == 401
    assert post(admin, users, f"{users}/{officer}/active", {"active": "1"}).status_code == 302
    proposed = post(admin, users, f"{users}/{officer}/roles", {"role": "collections"})
    assert proposed.status_code == 302 and proposed.headers["Location"].endswith("done=proposed")
    with tenant_session(bank) as db:
        change_id = db.scalar(select(ChangeRequest.id).where(ChangeRequest.target == f"{officer}/collections"))
    approvals = f"{prefix}/admin/approvals"
    rejected = post(checker, approvals, f"{approvals}/{change_id}", {"decision": "reject", "reason": "不需要催收"})
    assert rejected.status_code == 302
    assert ("collections", "tenant") not in memberships(officer)
    assert "不需要催收" in admin.get(approvals, headers=HTML).get_data(as_text=True)
    assert post(admin, users, f"{users}/{officer}/roles/loan_officer/revoke", {}).status_code == 302
    assert memberships(officer) == set()
    # Forms without the CSRF token are refused.
    assert admin.post(f"{users}/{officer}/password", headers=HTML).status_code == 400


def test_custom_role_proposal_page(app, staff, bank):
    prefix = f"/t/{bank.slug}"
    admin = logged_in(app, prefix, *staff("tenant_admin", bank))
    page = f"{prefix}/admin/roles"
    code = f"r{uuid.uuid4().hex[:8]}"
    client_data = {"code": code, "name_zh": "柜员", "name_en": "Teller"}
    response = admin.post(page, headers=HTML, data={**client_data, "permissions": ["customer.read", "loan.read"],
                                                    "csrf_token": csrf_token(admin, page, HTML)})
    assert response.status_code == 302
    assert code in admin.get(page, headers=HTML).get_data(as_text=True)
    bad = admin.post(page, headers=HTML, data={**client_data, "code": "x", "permissions": ["tenant.provision"],
                                               "csrf_token": csrf_token(admin, page, HTML)})
    assert bad.status_code == 422 and "head office" in bad.get_data(as_text=True)


# --- API -----------------------------------------------------------------------------------------------------------


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def user_token(app, tenant, username: str, scope: str) -> str:
    """A user's access token through the real authorization-code flow (PKCE) of a registered app."""
    with SystemContext("test: app client"), shared_session() as shared, shared.begin():
        app_id = oauth_services.create_client(shared, "复核App", scope, tenant_slug=tenant.slug,
                                              redirect_uris=(REDIRECT,), public=True).client.client_id
    http = app.test_client()
    assert log_in(http, f"/t/{tenant.slug}", username, headers=HTML).status_code == 302
    verifier = secrets.token_urlsafe(48)
    params = {"response_type": "code", "client_id": app_id, "redirect_uri": REDIRECT, "scope": scope,
              "state": "s", "code_challenge": _challenge(verifier), "code_challenge_method": "S256"}
    url = f"/t/{tenant.slug}/oauth/authorize"
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      http.get(url, query_string=params, headers=HTML).get_data(as_text=True))[1]
    answer = http.post(url, query_string=params, headers=HTML, data={"csrf_token": token, "decision": "allow"})
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    issued = app.test_client().post("/oauth/token", data={
        "grant_type": "authorization_code", "client_id": app_id, "code": code, "code_verifier": verifier,
        "redirect_uri": REDIRECT})
    assert issued.status_code == 200, issued.json
    return issued.json["access_token"]


def test_api_approve_and_reject(app, make_user, bank, tenant_a):
    admin, risk = make_user("tenant_admin", bank), make_user("risk_manager", bank)
    officer = make_user("loan_officer", bank)
    with acting(admin, bank), tenant_session(bank) as db, db.begin():
        with administration.shared_for(db) as shared:
            grant = administration.propose_grant(shared, db, officer, "reviewer").id
            other = administration.propose_grant(shared, db, officer, "operations").id
    bearer = {"Authorization": f"Bearer {user_token(app, bank, risk, 'config:approve config:write')}"}
    base = f"/t/{bank.slug}/api/v1/changes"
    http = app.test_client()
    listed = http.get(base, headers=bearer, query_string={"status": "pending"})
    assert listed.status_code == 200
    assert {grant, other} <= {c["id"] for c in listed.json}
    shown = next(c for c in listed.json if c["id"] == grant)
    assert shown["kind"] == "membership.grant" and shown["maker"] == admin and shown["before"] is None
    assert {f["name"]: f["after"] for f in shown["fields"]} == {"username": officer, "role": "reviewer"}

    approved = http.post(f"{base}/{grant}/approve", headers=bearer)
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "applied" and approved.json["checker"] == risk
    assert ("reviewer", "tenant") in memberships(officer)
    assert http.post(f"{base}/{grant}/approve", headers=bearer).status_code == 422
    assert http.post(f"{base}/{other}/reject", headers=bearer, json={}).status_code == 422
    rejected = http.post(f"{base}/{other}/reject", headers=bearer, json={"reason": "岗位不符"})
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    assert rejected.json["reason"] == "岗位不符"
    assert ("operations", "tenant") not in memberships(officer)
    assert http.post(f"{base}/2147483647/approve", headers=bearer).status_code == 404
    # The same token at another bank's address is refused.
    assert http.get(f"/t/{tenant_a.slug}/api/v1/changes", headers=bearer).status_code == 403
