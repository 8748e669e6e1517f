"""The context picker: a person with roles in several places chooses at the root login where this session acts;
every other address is refused (403), never switched."""

from __future__ import annotations

from creditfactory.db import SystemContext, shared_session
from creditfactory.identity import services
from creditfactory.testing.staff import csrf_token, log_in

HTML = {"Accept": "text/html", "Accept-Language": "en"}


def grant(username, role, tenant=None):
    with SystemContext("test"), shared_session() as shared, shared.begin():
        services.grant(shared, username, role, tenant.slug if tenant else None)


def choose(client, place):
    return client.post("/login/context", headers=HTML,
                       data={"place": place, "csrf_token": csrf_token(client, "/login/context", HTML)})


def test_a_person_with_several_places_chooses_one(app, make_user, tenant_a, tenant_b, now):
    username = make_user("benchmarking_analyst")
    grant(username, "loan_officer", tenant_a)
    grant(username, "reviewer", tenant_b)
    client = app.test_client()
    assert log_in(client, "", username, headers=HTML).headers["Location"] == "/login/context"
    page = client.get("/login/context", headers=HTML).get_data(as_text=True)
    for key in ("head_office", f"tenant:{tenant_a.slug}", f"tenant:{tenant_b.slug}"):
        assert f'value="{key}"' in page
    # Nothing is open while choosing; a place not offered is refused.
    assert client.get("/account", headers=HTML).status_code == 302
    assert choose(client, "regulator").status_code == 400
    done = choose(client, f"tenant:{tenant_a.slug}")
    assert done.status_code == 302 and done.headers["Location"] == f"/t/{tenant_a.slug}/account"
    assert client.get(f"/t/{tenant_a.slug}/account", headers=HTML).status_code == 200
    # Other addresses are refused, never switched.
    assert client.get(f"/t/{tenant_b.slug}/account", headers=HTML).status_code == 403
    assert client.get("/account", headers=HTML).status_code == 403
    assert client.get(f"/t/{tenant_a.slug}/account", headers=HTML).status_code == 200

    other = app.test_client()
    log_in(other, "", username, headers=HTML)
    assert choose(other, "head_office").headers["Location"] == "/account"
    assert other.get("/account", headers=HTML).status_code == 200
    assert other.get(f"/t/{tenant_a.slug}/account", headers=HTML).status_code == 403


def test_one_place_only_is_taken_at_once(app, make_user, tenant_a, now):
    username = make_user("loan_officer", tenant_a)
    client = app.test_client()
    assert log_in(client, "", username, headers=HTML).headers["Location"] == f"/t/{tenant_a.slug}/account"
    assert client.get(f"/t/{tenant_a.slug}/account", headers=HTML).status_code == 200
    # At a bank's own address the address decides, as before.
    both = make_user("platform_admin")
    grant(both, "auditor", tenant_a)
    bank = app.test_client()
    assert log_in(bank, f"/t/{tenant_a.slug}", both, headers=HTML).headers["Location"] == \
        f"/t/{tenant_a.slug}/account"


def test_the_picker_needs_a_password_first_and_lapses(app, make_user, tenant_a, now):
    client = app.test_client()
    page = client.get("/login/context", headers=HTML)
    assert page.status_code == 200 and 'name="place"' not in page.get_data(as_text=True)
    username = make_user("regulator")
    grant(username, "loan_officer", tenant_a)
    log_in(client, "", username, headers=HTML)
    now.advance(minutes=6)
    assert 'name="place"' not in client.get("/login/context", headers=HTML).get_data(as_text=True)


def test_choosing_a_context_that_needs_a_second_factor_goes_through_it(app, make_user, tenant_a, now):
    username = make_user("regulator")
    grant(username, "loan_officer", tenant_a)
    client = app.test_client()
    log_in(client, "", username, headers=HTML)
    assert choose(client, "regulator").headers["Location"] == "/login/totp/enrol"
    other = app.test_client()
    log_in(other, "", username, headers=HTML)
    assert choose(other, f"tenant:{tenant_a.slug}").headers["Location"] == f"/t/{tenant_a.slug}/account"
