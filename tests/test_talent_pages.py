"""The talent pages without a browser: who sees the menu links, "my career" for people without an employee record
(a loan officer not on the org chart, a head-office administrator outside any village bank), and refusals."""

from __future__ import annotations

from test_identity_admin import HTML, logged_in, staff  # noqa: F401 (fixture)


def test_my_career_without_an_employee_record(app, staff, tenant_factory):  # noqa: F811
    bank = tenant_factory(name_en="Talent Pages Bank")
    prefix = f"/t/{bank.slug}"
    officer = logged_in(app, prefix, *staff("loan_officer", bank))
    page = officer.get(f"{prefix}/talent/my-career", headers=HTML)
    assert page.status_code == 200 and "You have no employee record in this bank." in page.get_data(as_text=True)
    menu = officer.get(f"{prefix}/talent/my-career", headers=HTML).get_data(as_text=True)
    assert f'href="{prefix}/talent/my-career"' in menu and f'href="{prefix}/talent/org"' not in menu
    assert officer.get(f"{prefix}/talent/org", headers=HTML).status_code == 403
    assert officer.post(f"{prefix}/talent/cycles", headers=HTML, data={}).status_code in (400, 403)

    admin = logged_in(app, "", *staff("platform_admin"))
    page = admin.get("/talent/my-career", headers=HTML)
    assert page.status_code == 200 and "You have no employee record in this bank." in page.get_data(as_text=True)
