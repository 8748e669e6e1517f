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


def test_the_checker_rejects_on_the_cycle_page_and_the_maker_cannot_approve(app, staff, tenant_factory):  # noqa: F811
    import datetime as dt

    from sqlalchemy import select

    from applications_support import acting, principal
    from creditfactory.db import tenant_session
    from creditfactory.identity import changes
    from creditfactory.talent import services
    from creditfactory.talent.models import Evaluation
    from creditfactory.testing.staff import csrf_token

    bank = tenant_factory(name_en="Talent Check Bank")
    prefix = f"/t/{bank.slug}"
    (maker_name, maker_key), (checker_name, checker_key) = staff("tenant_admin", bank), staff("tenant_admin", bank)
    maker, checker = principal(maker_name, bank, "tenant_admin"), principal(checker_name, bank, "tenant_admin")
    with tenant_session(bank) as session, session.begin():
        with acting(maker, bank):
            request = services.propose_adoption(session, {})
        with acting(checker, bank):
            changes.approve(session, request.id)
        with acting(maker, bank):
            services.create_org_unit(session, code="HO", kind="head_office", name_zh="本行", name_en="HO")
            services.hire(session, employee_no="E1", name="钱多多", org_unit_code="HO", grade_code="OP-1",
                          hired_on=dt.date(2015, 1, 1))
            services.open_cycle(session, code="C1", period="2026", effective_date=dt.date(2027, 1, 1))
            change_id = services.propose_evaluation(session, "C1", "E1", exam_score="70", kpi_score="70",
                                                    competency_score="70", decision="promote").change_request_id
    page = f"{prefix}/talent/cycles/C1"
    action = f"{page}/evaluations/{change_id}"

    as_maker = logged_in(app, prefix, maker_name, maker_key)
    assert "Approve decision for" not in as_maker.get(page, headers=HTML).get_data(as_text=True)
    refused = as_maker.post(action, headers=HTML, data={"decision": "approve",
                                                        "csrf_token": csrf_token(as_maker, page, HTML)})
    assert refused.status_code == 403

    as_checker = logged_in(app, prefix, checker_name, checker_key)
    assert "Approve decision for 钱多多" in as_checker.get(page, headers=HTML).get_data(as_text=True)
    done = as_checker.post(action, headers=HTML, data={"decision": "reject", "reason": "exam below the bar",
                                                       "csrf_token": csrf_token(as_checker, page, HTML)})
    assert done.status_code == 302
    with tenant_session(bank) as session:
        assert session.scalars(select(Evaluation)).one().status == "rejected"
