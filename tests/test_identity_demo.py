"""Demo staff for ``up --demo``: one user per standard bank role per demo bank, a platform admin and a regulator,
with the documented password; idempotent."""

from __future__ import annotations

from sqlalchemy import delete, select

from creditfactory.db import SystemContext, shared_session
from creditfactory.identity.demo import DEMO_PASSWORD, EXTRA_BANK_USERS, ensure_demo_staff
from creditfactory.identity.models import Membership, User
from creditfactory.identity.permissions import Context
from creditfactory.identity.roles import STANDARD_ROLES
from creditfactory.testing.staff import log_in

HTML = {"Accept": "text/html", "Accept-Language": "en"}
BANK_ROLES = [code for code, role in STANDARD_ROLES.items() if role.context is Context.TENANT]


def test_demo_staff_are_made_once_and_can_log_in(app, tenant_a, tenant_b, now):
    slugs = [tenant_a.slug, tenant_b.slug]
    try:
        with SystemContext("test: demo"), shared_session() as shared, shared.begin():
            first = ensure_demo_staff(shared, slugs)
        # The head office's two demo users may be there already (another demo run in this database); the banks' are new.
        assert len(first) == 2 + 2 * (len(BANK_ROLES) + len(EXTRA_BANK_USERS))
        assert all(u.created for u in first if u.tenant_slug is not None)
        # A committee session needs three voting members; a recording's QC a second operations person.
        voters = [u for u in first if u.tenant_slug == tenant_a.slug and u.role == "credit_committee_member"]
        assert [u.username for u in voters] == [f"{tenant_a.slug}.credit_committee_member",
                                                 f"{tenant_a.slug}.credit_committee_member2",
                                                 f"{tenant_a.slug}.credit_committee_member3"]
        assert len([u for u in first if u.tenant_slug == tenant_a.slug and u.role == "operations"]) == 2
        with SystemContext("test: demo"), shared_session() as shared, shared.begin():
            again = ensure_demo_staff(shared, slugs)
        assert [u.username for u in again] == [u.username for u in first] and not any(u.created for u in again)
        with shared_session() as shared:
            memberships = shared.scalar(select(Membership.id).join(User).where(User.username == f"{tenant_a.slug}.approver"))
            assert memberships is not None
            assert len(list(shared.scalars(select(Membership).join(User).where(User.username.like("demo.%"))))) == 2
        done = log_in(app.test_client(), f"/t/{tenant_a.slug}", f"{tenant_a.slug}.loan_officer", DEMO_PASSWORD,
                      headers=HTML)
        assert done.status_code == 302 and done.headers["Location"] == f"/t/{tenant_a.slug}/account"
        admin = log_in(app.test_client(), "", "demo.platform_admin", DEMO_PASSWORD, headers=HTML)
        assert admin.headers["Location"] == "/login/totp/enrol"
    finally:
        with shared_session() as shared, shared.begin():
            shared.execute(delete(User).where(User.username.like("demo.%") | User.username.like(f"{tenant_a.slug}.%")
                                              | User.username.like(f"{tenant_b.slug}.%")))
