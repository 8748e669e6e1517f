"""TOTP beyond the login step: self-enrolment, per-tenant policy, recovery codes, ``users reset-totp``."""

from __future__ import annotations

import re
import urllib.parse

import pyotp
import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from creditfactory.cli import cli
from creditfactory.db import shared_session, tenant_session
from creditfactory.errors import DomainError
from creditfactory.identity import totp
from creditfactory.identity.models import RecoveryCode, User
from creditfactory.testing.staff import CLOCK_START, csrf_token, log_in

HTML = {"Accept": "text/html", "Accept-Language": "en"}


def post(client, path, form_path, **data):
    return client.post(path, headers=HTML, data={"csrf_token": csrf_token(client, form_path, HTML), **data})


def stored(username) -> User:
    with shared_session() as shared:
        return shared.scalar(select(User).where(User.username == username))


def self_enrol(client, prefix):
    page = client.get(f"{prefix}/account/totp", headers=HTML).get_data(as_text=True)
    uri = re.search(r'<code class="secret">(otpauth://[^<]+)</code>', page)[1].replace("&amp;", "&")
    generator = pyotp.TOTP(urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0])
    done = post(client, f"{prefix}/account/totp", f"{prefix}/account/totp", code=generator.at(CLOCK_START))
    assert done.status_code == 200, done.get_data(as_text=True)
    codes = re.findall(r"<code>([a-z0-9]{4}(?:-[a-z0-9]{4}){3})</code>", done.get_data(as_text=True))
    return generator, codes


def set_policy(tenant, value):
    with tenant_session(tenant) as db, db.begin():
        db.execute(text("DELETE FROM tenant_parameter WHERE key = :k"), {"k": totp.POLICY_PARAMETER})
        if value is not None:
            db.execute(text("INSERT INTO tenant_parameter (key, value) VALUES (:k, CAST(:v AS jsonb))"),
                       {"k": totp.POLICY_PARAMETER, "v": __import__("json").dumps(value)})


def test_self_enrolment_from_the_profile_and_recovery_codes(app, make_user, tenant_a, now):
    prefix = f"/t/{tenant_a.slug}"
    username = make_user("loan_officer", tenant_a)
    client = app.test_client()
    assert log_in(client, prefix, username, headers=HTML).headers["Location"] == f"{prefix}/account"
    profile = client.get(f"{prefix}/account", headers=HTML).get_data(as_text=True)
    assert f'href="{prefix}/account/totp"' in profile
    generator, codes = self_enrol(client, prefix)
    assert len(codes) == 10 == len(set(codes))
    with shared_session() as shared:
        hashes = list(shared.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == stored(username).id)))
    assert len(hashes) == 10 and not any(c.replace("-", "") in h for c in codes for h in hashes)
    profile = client.get(f"{prefix}/account", headers=HTML).get_data(as_text=True)
    assert "剩余备用恢复码：10 个" in profile and "/account/totp\"" not in profile

    # Next login asks for the code; a recovery code passes instead, once, and its use is audited.
    now.advance(minutes=5)
    other = app.test_client()
    assert log_in(other, prefix, username, headers=HTML).headers["Location"] == f"{prefix}/login/totp"
    done = post(other, f"{prefix}/login/totp", f"{prefix}/login/totp", recovery_code=codes[0].upper())
    assert done.status_code == 302 and done.headers["Location"] == f"{prefix}/account"
    third = app.test_client()
    log_in(third, prefix, username, headers=HTML)
    again = post(third, f"{prefix}/login/totp", f"{prefix}/login/totp", recovery_code=codes[0])
    assert again.status_code == 401
    with shared_session() as shared:
        actions = list(shared.execute(text("SELECT action, actor FROM cf_shared.audit_entry WHERE object_id = :i "
                                           "AND object_type = 'user' ORDER BY seq"), {"i": str(stored(username).id)}))
    assert [a for a, _ in actions] == ["identity.totp.recovery_codes.generate", "identity.totp.recovery_code.use"]
    assert actions[1][1] == str(stored(username).id)

    # Regenerating invalidates the old codes.
    page = post(other, f"{prefix}/account/totp/recovery-codes", f"{prefix}/account")
    fresh = re.findall(r"<code>([a-z0-9]{4}(?:-[a-z0-9]{4}){3})</code>", page.get_data(as_text=True))
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    fourth = app.test_client()
    log_in(fourth, prefix, username, headers=HTML)
    assert post(fourth, f"{prefix}/login/totp", f"{prefix}/login/totp", recovery_code=codes[1]).status_code == 401
    assert post(fourth, f"{prefix}/login/totp", f"{prefix}/login/totp",
                recovery_code=fresh[1]).status_code == 302


@pytest.mark.parametrize("value, expected", [
    (None, False), (False, False), ("none", False), ([], frozenset()), (True, True), ("all", True),
    (["loan_officer", "my_role"], frozenset({"loan_officer", "my_role"})),
])
def test_policy_values(value, expected):
    assert totp.parse_policy(value) == expected


@pytest.mark.parametrize("value", ["everyone", 1, [1], {"a": 1}])
def test_malformed_policies_are_refused(value):
    with pytest.raises(DomainError):
        totp.parse_policy(value)


def test_tenant_policy_requires_the_second_factor(app, make_user, tenant_a, now):
    prefix = f"/t/{tenant_a.slug}"
    officer, reviewer = make_user("loan_officer", tenant_a), make_user("reviewer", tenant_a)
    try:
        set_policy(tenant_a, ["loan_officer"])
        assert log_in(app.test_client(), prefix, officer, headers=HTML).headers["Location"] == \
            f"{prefix}/login/totp/enrol"
        assert log_in(app.test_client(), prefix, reviewer, headers=HTML).headers["Location"] == f"{prefix}/account"
        set_policy(tenant_a, "all")
        assert log_in(app.test_client(), prefix, reviewer, headers=HTML).headers["Location"] == \
            f"{prefix}/login/totp/enrol"
        # A malformed value fails closed.
        set_policy(tenant_a, "everyone")
        assert log_in(app.test_client(), prefix, reviewer, headers=HTML).headers["Location"] == \
            f"{prefix}/login/totp/enrol"
    finally:
        set_policy(tenant_a, None)


def test_reset_totp_forces_re_enrolment_and_ends_sessions(app, make_user, tenant_a, now):
    prefix = f"/t/{tenant_a.slug}"
    username = make_user("loan_officer", tenant_a)
    client = app.test_client()
    log_in(client, prefix, username, headers=HTML)
    self_enrol(client, prefix)
    assert client.get(f"{prefix}/account", headers=HTML).status_code == 200
    runner = CliRunner()
    done = runner.invoke(cli, ["users", "reset-totp", username], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert runner.invoke(cli, ["users", "reset-totp", "nobody-here"]).exit_code == 2
    user = stored(username)
    assert user.totp_secret is None and user.totp_enabled_at is None and user.totp_must_enrol
    assert client.get(f"{prefix}/account", headers=HTML).status_code == 302
    with shared_session() as shared:
        assert not list(shared.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)))
        assert shared.scalar(text("SELECT actor FROM cf_shared.audit_entry WHERE action = 'identity.totp.reset' "
                                  "AND object_id = :i"), {"i": str(user.id)}).startswith("cli:")
    # The optional second factor must be enrolled again at the next login; then it is optional again.
    now.advance(minutes=2)
    fresh = app.test_client()
    assert log_in(fresh, prefix, username, headers=HTML).headers["Location"] == f"{prefix}/login/totp/enrol"
    page = fresh.get(f"{prefix}/login/totp/enrol", headers=HTML).get_data(as_text=True)
    uri = re.search(r"otpauth://[^<]+", page)[0].replace("&amp;", "&")
    generator = pyotp.TOTP(urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0])
    done = post(fresh, f"{prefix}/login/totp/enrol", f"{prefix}/login/totp/enrol", code=generator.at(now.at))
    assert done.status_code == 302
    assert not stored(username).totp_must_enrol
