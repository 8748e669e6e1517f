"""Identity: permission registry, principals, authorization below the web layer, segregation of duties, CLI."""

import json
import re
from contextlib import contextmanager

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from creditfactory.cli import cli
from creditfactory.db import CurrentTenant, SystemContext
from creditfactory.identity import changes, duties, passwords, services
from creditfactory.identity.authorization import authorize, requires
from creditfactory.identity.custom_roles import propose_custom_role
from creditfactory.identity.errors import (AccessDenied, IdentityError, SegregationOfDutiesViolation,
                                           TenantMismatchDenied)
from creditfactory.identity.models import ChangeRequest, CustomRole, User
from creditfactory.identity.permissions import CODE_RE, Context, Permission as P
from creditfactory.identity.principal import CurrentPrincipal, Principal, load_principal
from creditfactory.identity.roles import STANDARD_ROLES

ZH = re.compile(r"[\u4e00-\u9fff]")


# --- pure rules: no database ---------------------------------------------------------------------

def test_every_permission_has_a_code_context_and_labels_in_both_languages():
    for permission in P:
        assert CODE_RE.match(permission.code), permission
        assert isinstance(permission.context, Context)
        assert ZH.search(permission.label_zh) and permission.label_en.isascii() and permission.label_en, permission


def test_every_role_uses_registered_permissions_of_its_own_context():
    assert {"loan_officer", "reviewer", "approver", "credit_committee_member", "operations", "collections",
            "branch_manager", "risk_manager", "auditor", "compliance_officer", "tenant_admin", "platform_admin",
            "head_office_product_owner", "head_office_risk_owner", "benchmarking_analyst",
            "regulator"} == set(STANDARD_ROLES)
    for role in STANDARD_ROLES.values():
        assert role.permissions and role.permissions <= set(P), role.code
        assert {p.context for p in role.permissions} == {role.context}, role.code
        assert ZH.search(role.name_zh) and role.name_en.isascii(), role.code


def test_auditor_and_regulator_only_read():
    assert all(p.reads_only for p in STANDARD_ROLES["auditor"].permissions)
    assert P.AUDIT_READ in STANDARD_ROLES["auditor"].permissions
    assert STANDARD_ROLES["regulator"].permissions == {P.REPORT_REGULATORY_READ}


def test_investigating_and_approving_are_never_in_one_standard_role():
    for role in STANDARD_ROLES.values():
        assert not {P.APPLICATION_INVESTIGATE, P.APPLICATION_APPROVE} <= role.permissions, role.code


def test_separation_of_investigation_and_approval():
    duties.check_separation(investigator_id=1, approver_id=2)
    with pytest.raises(SegregationOfDutiesViolation, match="investigated"):
        duties.check_separation(investigator_id=7, approver_id=7)
    with pytest.raises(SegregationOfDutiesViolation):
        duties.check_maker_checker(3, 3)


def test_password_hash_verify_and_rehash():
    stored = passwords.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "correct horse battery") == (True, None)
    assert passwords.verify_password(stored, "wrong horse battery") == (False, None)
    assert passwords.verify_password("not a hash", "x") == (False, None)
    from argon2 import PasswordHasher
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("correct horse battery")
    ok, new_hash = passwords.verify_password(weak, "correct horse battery")
    assert ok and new_hash and new_hash.startswith("$argon2id$v=19$m=65536,t=3,p=2")


@pytest.mark.parametrize("password, why", [("short1234", "at least 12"), ("wang.xiaoming", "username"),
                                           ("WANG.XIAOMING", "username"), ("x" * 257, "at most")])
def test_password_policy_refuses(password, why):
    with pytest.raises(passwords.WeakPassword, match=why):
        passwords.check_policy(password, "wang.xiaoming")


def test_password_policy_accepts_and_one_time_passwords_pass_it():
    passwords.check_policy("a long enough passphrase", "wang.xiaoming")
    otp = passwords.one_time_password()
    passwords.check_policy(otp, "wang.xiaoming")
    assert otp != passwords.one_time_password()


# --- principals and authorization --------------------------------------------------------------

def principal(role, tenant=None, user_id=1):
    r = STANDARD_ROLES[role]
    return Principal(user_id, f"user{user_id}", r.context, tenant.slug if tenant else None, r.permissions,
                     frozenset({role}))


@contextmanager
def acting(p, tenant=None):
    with CurrentPrincipal.bind(p):
        if tenant is None:
            yield
        else:
            with CurrentTenant.bind(tenant):
                yield


AUTHORIZE_TABLE = [
    ("loan_officer", P.APPLICATION_INVESTIGATE, True), ("loan_officer", P.APPLICATION_APPROVE, False),
    ("approver", P.APPLICATION_APPROVE, True), ("approver", P.APPLICATION_INVESTIGATE, False),
    ("operations", P.LOAN_DISBURSE, True), ("reviewer", P.LOAN_DISBURSE, False),
    ("auditor", P.AUDIT_READ, True), ("auditor", P.CUSTOMER_MANAGE, False), ("auditor", P.PII_READ, False),
    ("tenant_admin", P.ROLE_MANAGE, True), ("tenant_admin", P.TENANT_PROVISION, False),
    ("risk_manager", P.CONFIG_APPROVE, True), ("collections", P.CONFIG_APPROVE, False),
    ("platform_admin", P.TENANT_PROVISION, True), ("platform_admin", P.APPLICATION_READ, False),
    ("benchmarking_analyst", P.BENCHMARK_READ, True), ("benchmarking_analyst", P.TENANT_SUSPEND, False),
    ("regulator", P.REPORT_REGULATORY_READ, True), ("regulator", P.LOAN_READ, False),
]


@pytest.mark.parametrize("role, permission, allowed", AUTHORIZE_TABLE)
def test_authorize_table(cf_settings, tenant_a, role, permission, allowed):
    is_tenant_role = STANDARD_ROLES[role].context is Context.TENANT
    p = principal(role, tenant_a if is_tenant_role else None)
    with acting(p, tenant_a if is_tenant_role else None):
        if allowed:
            authorize(permission)
        else:
            with pytest.raises(AccessDenied, match=permission.code):
                authorize(permission)


def test_tenant_mismatch_is_refused_never_switched(cf_settings, tenant_a, tenant_b):
    with acting(principal("approver", tenant_a), tenant_b):
        with pytest.raises(TenantMismatchDenied, match=f"acts for tenant '{tenant_a.slug}', not for tenant "
                                                       f"'{tenant_b.slug}'"):
            authorize(P.APPLICATION_APPROVE)
        assert CurrentTenant.get().slug == tenant_b.slug
    with CurrentPrincipal.bind(principal("approver", tenant_a)):
        with pytest.raises(AccessDenied, match="needs a tenant"):
            authorize(P.APPLICATION_APPROVE)


def test_no_principal_is_refused_and_system_work_passes_only_when_allowed(cf_settings):
    @requires(P.TENANT_SUSPEND, allow_system=True)
    def nightly():
        return "ran"

    with pytest.raises(AccessDenied, match="authenticated user"):
        authorize(P.LOAN_READ)
    with pytest.raises(AccessDenied):
        nightly()
    with SystemContext("test: nightly job"):
        assert nightly() == "ran"
        with pytest.raises(AccessDenied):
            authorize(P.LOAN_READ)


def test_a_bound_principal_cannot_be_switched(cf_settings, tenant_a):
    with CurrentPrincipal.bind(principal("approver", tenant_a, user_id=1)):
        with pytest.raises(AccessDenied, match="refusing to switch"):
            with CurrentPrincipal.bind(principal("approver", tenant_a, user_id=2)):
                pass


def make_user(shared_db, username):
    with SystemContext("test: users"):
        user, _ = services.create_user(shared_db, username, username.title(), password="a long enough passphrase")
    return user


def test_memberships_in_two_tenants_act_for_exactly_one(shared_db, tenant_a, tenant_b):
    user = make_user(shared_db, "zhang.wei")
    with SystemContext("test: grants"):
        services.grant(shared_db, "zhang.wei", "loan_officer", tenant_a.slug)
        services.grant(shared_db, "zhang.wei", "approver", tenant_b.slug)
        services.grant(shared_db, "zhang.wei", "benchmarking_analyst")
    in_a = load_principal(shared_db, user, Context.TENANT, tenant_a.slug)
    in_b = load_principal(shared_db, user, Context.TENANT, tenant_b.slug)
    head_office = load_principal(shared_db, user, Context.HEAD_OFFICE)
    assert in_a.roles == {"loan_officer"} and P.APPLICATION_INVESTIGATE in in_a.permissions
    assert P.APPLICATION_APPROVE not in in_a.permissions
    assert in_b.roles == {"approver"} and P.APPLICATION_INVESTIGATE not in in_b.permissions
    assert head_office.tenant_slug is None and head_office.permissions == STANDARD_ROLES["benchmarking_analyst"].permissions
    with acting(in_a, tenant_a):
        authorize(P.APPLICATION_INVESTIGATE)
    with acting(in_a, tenant_b), pytest.raises(TenantMismatchDenied):
        authorize(P.APPLICATION_INVESTIGATE)
    with pytest.raises(AccessDenied, match="holds no role in the regulator"):
        load_principal(shared_db, user, Context.REGULATOR)
    user.active = False
    with pytest.raises(AccessDenied, match="deactivated"):
        load_principal(shared_db, user, Context.TENANT, tenant_a.slug)


# --- maker-checker -------------------------------------------------------------------------------

@pytest.fixture
def bank(tenant_a, tenant_db, shared_db):
    """Tenant A with a tenant admin (maker), a risk manager (checker) and a loan officer, as principals."""
    session = tenant_db(tenant_a)
    people = {}
    for username, role in (("maker", "tenant_admin"), ("checker", "risk_manager"), ("officer", "loan_officer")):
        user = make_user(shared_db, username)
        with SystemContext("test: grants"):
            services.grant(shared_db, username, role, tenant_a.slug)
        people[username] = load_principal(shared_db, user, Context.TENANT, tenant_a.slug, tenant_db=session)
    return session, people


def test_custom_role_takes_effect_only_after_a_second_person_approves(bank, tenant_a, shared_db):
    session, people = bank
    with acting(people["maker"], tenant_a):
        request = propose_custom_role(session, "field_assistant", "助理客户经理", "Field assistant",
                                      ["customer.read", "application.create"])
    assert request.status == "pending" and request.maker_id == people["maker"].user_id
    assert session.get(CustomRole, "field_assistant").status == "pending"

    with acting(people["maker"], tenant_a), pytest.raises(SegregationOfDutiesViolation, match="maker"):
        changes.approve(session, request.id)
    with acting(people["officer"], tenant_a), pytest.raises(AccessDenied, match="config.approve"):
        changes.approve(session, request.id)
    with acting(people["checker"], tenant_a):
        changes.approve(session, request.id)
    assert (request.status, request.checker_id) == ("applied", people["checker"].user_id)
    assert request.checked_at is not None
    role = session.get(CustomRole, "field_assistant")
    assert role.status == "active" and role.permissions == ["application.create", "customer.read"]

    with acting(people["checker"], tenant_a), pytest.raises(changes.ChangeRequestError, match="already applied"):
        changes.approve(session, request.id)

    # The role now gives its permissions through a membership.
    with SystemContext("test: grant custom role"):
        services.grant(shared_db, "officer", "field_assistant", tenant_a.slug, tenant_db=session)
    officer = shared_db.scalar(select(User).where(User.username == "officer"))
    loaded = load_principal(shared_db, officer, Context.TENANT, tenant_a.slug, tenant_db=session)
    assert "field_assistant" in loaded.roles and P.APPLICATION_CREATE in loaded.permissions


def test_rejection_leaves_nothing_applied(bank, tenant_a):
    session, people = bank
    with acting(people["maker"], tenant_a):
        request = propose_custom_role(session, "night_desk", "夜间值班", "Night desk", ["loan.read"])
        with pytest.raises(changes.ChangeRequestError, match="already waiting"):
            propose_custom_role(session, "night_desk", "夜间值班", "Night desk", ["loan.read", "customer.read"])
    with acting(people["checker"], tenant_a):
        with pytest.raises(changes.ChangeRequestError, match="needs a reason"):
            changes.reject(session, request.id, " ")
        changes.reject(session, request.id, "use the standard operations role")
    assert request.status == "rejected" and request.reason == "use the standard operations role"
    assert session.get(CustomRole, "night_desk") is None
    with acting(people["checker"], tenant_a), pytest.raises(changes.ChangeRequestError, match="already rejected"):
        changes.approve(session, request.id)


def test_custom_roles_only_from_village_bank_permissions(bank, tenant_a):
    session, people = bank
    with acting(people["maker"], tenant_a):
        with pytest.raises(changes.ChangeRequestError, match="tenant.provision belongs to the head office"):
            propose_custom_role(session, "super", "超级", "Super", ["tenant.provision"])
        with pytest.raises(changes.ChangeRequestError, match="unknown permission 'loan.steal'"):
            propose_custom_role(session, "thief", "窃贼", "Thief", ["loan.steal"])
        with pytest.raises(changes.ChangeRequestError, match="standard role"):
            propose_custom_role(session, "approver", "审批", "Approver", ["loan.read"])
    with acting(people["officer"], tenant_a), pytest.raises(AccessDenied, match="role.manage"):
        propose_custom_role(session, "helper", "助手", "Helper", ["loan.read"])
    assert session.scalars(select(ChangeRequest)).all() == []


# --- CLI ---------------------------------------------------------------------------------------

@pytest.fixture
def run(cf_settings):
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)

    return invoke


def test_users_cli(run, tenant_a):
    created = run("users", "create", "li.na", "--display-name", "李娜", "--email", "li.na@example.cn")
    assert created.exit_code == 0, created.output
    otp = re.search(r"shown once.*: (\S+)", created.output).group(1)
    assert len(otp) == 20
    assert run("users", "create", "li.na", "--display-name", "again").exit_code == 2

    weak = run("users", "create", "wang.fang", "--display-name", "王芳", "--password-stdin", input="short\n")
    assert weak.exit_code == 2 and "at least 12" in weak.output
    own = run("users", "create", "wang.fang", "--display-name", "王芳", "--password-stdin",
              input="a long enough passphrase\n")
    assert own.exit_code == 0 and "one-time" not in own.output

    assert run("users", "grant", "li.na", "--role", "platform_admin").exit_code == 0
    assert run("users", "grant", "li.na", "--role", "auditor", "--tenant", tenant_a.slug).exit_code == 0
    for bad in (["--role", "sheriff", "--tenant", tenant_a.slug], ["--role", "sheriff"], ["--role", "auditor"],
                ["--role", "platform_admin", "--tenant", tenant_a.slug], ["--role", "auditor", "--tenant", "nobank"]):
        result = run("users", "grant", "li.na", *bad)
        assert result.exit_code == 2, (bad, result.output)
    assert run("users", "grant", "nobody", "--role", "platform_admin").exit_code == 2

    listed = {u["username"]: u for u in json.loads(run("users", "list", "--json").output)}
    assert listed["li.na"]["must_change_password"] and not listed["wang.fang"]["must_change_password"]
    assert listed["li.na"]["memberships"] == [
        {"role": "platform_admin", "context": "head_office", "tenant": None},
        {"role": "auditor", "context": "tenant", "tenant": tenant_a.slug}]
    assert "li.na" in run("users", "list").output

    assert run("users", "revoke", "li.na", "--role", "auditor", "--tenant", tenant_a.slug).exit_code == 0
    assert run("users", "revoke", "li.na", "--role", "auditor", "--tenant", tenant_a.slug).exit_code == 2
    reset = run("users", "reset-password", "wang.fang")
    assert reset.exit_code == 0 and "shown once" in reset.output
    assert run("users", "reset-password", "nobody").exit_code == 2
    listed = {u["username"]: u for u in json.loads(run("users", "list", "--json").output)}
    assert listed["wang.fang"]["must_change_password"]
    assert [m["role"] for m in listed["li.na"]["memberships"]] == ["platform_admin"]


def test_users_commands_have_help(run):
    for command in ("create", "grant", "revoke", "reset-password", "list"):
        result = run("users", command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output


def test_user_services_refuse_people_without_platform_user_management(shared_db, tenant_a):
    with acting(principal("tenant_admin", tenant_a), tenant_a), pytest.raises(AccessDenied,
                                                                              match="platform.user.manage"):
        services.create_user(shared_db, "sneaky", "Sneaky")
    with pytest.raises(IdentityError, match="username"):
        with SystemContext("test"):
            services.create_user(shared_db, "Bad Name", "Bad")


# --- documentation -------------------------------------------------------------------------------

def roles_table():
    """The roles table of docs/identity.md, generated from the registry."""
    lines = ["| Role code | 角色 | Role | Context | Permissions |", "|---|---|---|---|---|"]
    for role in STANDARD_ROLES.values():
        codes = ", ".join(f"`{p.code}`" for p in sorted(role.permissions, key=lambda p: p.code))
        lines.append(f"| `{role.code}` | {role.name_zh} | {role.name_en} | {role.context.label_en} | {codes} |")
    return "\n".join(lines)


def permissions_table():
    lines = ["| Permission | 权限 | Meaning | Context |", "|---|---|---|---|"]
    lines += [f"| `{p.code}` | {p.label_zh} | {p.label_en} | {p.context.label_en} |" for p in P]
    return "\n".join(lines)


def test_docs_list_every_role_and_permission_as_in_the_registry():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "identity.md").read_text(encoding="utf-8")
    assert roles_table() in text, "regenerate the roles table: python -c 'import tests.test_identity as t; print(t.roles_table())'"
    assert permissions_table() in text
