"""Five-tier classification: DPD minimum class, proposals confirmed by a reviewer, upgrades, contagion, ratios."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from creditfactory.cli import cli
from creditfactory.db import CurrentTenant, SystemContext, tenant_session
from creditfactory.errors import Conflict
from creditfactory.identity.permissions import Context
from creditfactory.identity.permissions import Permission
from creditfactory.identity.principal import CurrentPrincipal, Principal
from creditfactory.lending.classification import services as classification
from creditfactory.lending.classification.models import ClassificationEvent
from creditfactory.lending.cob.dates import business_date
from creditfactory.lending.ledger import services as ledger
from creditfactory.lending.loans import services as loans

from servicing_helpers import close_days, customer, open_standard

D = Decimal


@contextlib.contextmanager
def acting(name, tenant, *perms):
    principal = Principal(user_id=abs(hash(name)) % 10_000_000, username=name, context=Context.TENANT,
                          tenant_slug=tenant.slug, permissions=frozenset(perms), roles=frozenset())
    with CurrentTenant.bind(tenant), CurrentPrincipal.bind(principal):
        yield principal


@pytest.fixture
def session(tenant_db, tenant_a):
    with SystemContext("test: servicing"):
        yield tenant_db(tenant_a)


def proposals(session, loan):
    return session.scalars(select(ClassificationEvent).where(ClassificationEvent.loan_id == loan.id)
                           .order_by(ClassificationEvent.id)).all()


def test_dpd_downgrade_proposed_then_confirmed_and_provisioned(session, tenant_a):
    loan = open_standard(session)
    close_days(session, 31)  # DPD 1 on 02-01 -> at least special mention
    [event] = proposals(session, loan)
    assert (event.to_class, event.trigger, event.status, event.evidence["dpd"]) == (
        "special_mention", "dpd", "proposed", 1)
    close_days(session, 1)
    assert len(proposals(session, loan)) == 1  # the same open proposal, not a pile
    with acting("reviewer", tenant_a, Permission.LOAN_SERVICE):
        classification.confirm(session, event.id)
    session.refresh(loan)
    assert loan.risk_class == "special_mention"
    close_days(session, 1)
    ratios = classification.ratios(session)
    # 12,000 special mention at 2% (the provision follows the confirmed class at the next close)
    assert ratios["provisions"] >= D("240.00")
    assert ledger.problems(session) == []


def test_dpd_over_90_proposes_substandard_and_non_accrual(session):
    loan = open_standard(session)
    close_days(session, 31 + 91)  # DPD 92 (past maturity: no scheduled interest left to accrue)
    session.refresh(loan)
    assert loan.dpd > 90 and loan.non_accrual
    event = proposals(session, loan)[-1]
    assert event.to_class == "substandard" and event.status == "proposed"
    penalty = loan.penalty_receivable
    close_days(session, 2)
    session.refresh(loan)
    assert loan.penalty_receivable == penalty  # no more on-balance income from a non-accrual loan
    assert ledger.problems(session) == []


def test_upgrade_only_by_approved_request_and_not_in_observation(session, tenant_a):
    loan = open_standard(session)
    close_days(session, 31)
    event = proposals(session, loan)[0]
    maker = ("maker", tenant_a, Permission.LOAN_SERVICE)
    checker = ("checker", tenant_a, Permission.LOAN_SERVICE, Permission.CONFIG_APPROVE)
    with acting(*checker):
        classification.confirm(session, event.id)
    loans.post_repayment(session, loan.id, "4120.00", idempotency_key=f"k-{uuid.uuid4()}")
    close_days(session, 1)
    session.refresh(loan)
    assert loan.dpd == 0 and loan.risk_class == "special_mention"  # never upgraded automatically
    with acting(*maker):
        request = classification.request_upgrade(session, loan.id, to_class="normal", reason="arrears cleared",
                                                 evidence={"paid": "4120.00"})
        with pytest.raises(Exception, match="cannot confirm"):
            classification.confirm(session, request.id)
    with acting(*checker):
        classification.confirm(session, request.id)
    session.refresh(loan)
    assert loan.risk_class == "normal"


def test_restructuring_keeps_old_version_and_holds_substandard(session, tenant_a):
    loan = open_standard(session)
    close_days(session, 31)
    loans.post_repayment(session, loan.id, "120.00", idempotency_key=f"k-{uuid.uuid4()}")  # interest arrears
    day = business_date(session)
    new = [{"due_date": day + dt.timedelta(days=30 * k), "principal": "2000.00", "interest": "50.00"}
           for k in range(1, 7)]
    loans.restructure(session, loan.id, installments=new, reason="harvest failed")
    session.refresh(loan)
    assert loan.state == "restructured" and loan.schedule_version == 2
    assert loan.observation_until >= day + dt.timedelta(days=365)
    close_days(session, 1)
    assert proposals(session, loan)[-1].to_class == "substandard"
    assert proposals(session, loan)[-1].trigger == "restructuring"
    assert ledger.problems(session) == []


def test_contagion_for_non_retail_debtor(session, tenant_a):
    firm = customer(session, kind="micro_enterprise")
    bad = open_standard(session, "L-F1", customer_id=firm.id, retail=False)
    good = open_standard(session, "L-F2", customer_id=firm.id, retail=False)
    bad.risk_class = "substandard"
    session.flush()
    close_days(session, 1)
    event = proposals(session, good)[-1]
    assert (event.to_class, event.trigger) == ("substandard", "contagion")
    assert event.evidence["debtor_npl_share"] == 0.5


def test_cob_cli_runs_until_a_date(tenant_factory):
    tenant = tenant_factory(business_date="2026-01-01")
    with SystemContext("test"), tenant_session(tenant) as s, s.begin():
        open_standard(s)
    result = CliRunner().invoke(cli, ["cob", "run", "--tenant", tenant.slug, "--until", "2026-01-05"])
    assert result.exit_code == 0, result.output
    assert "2026-01-05" in result.output
    check = CliRunner().invoke(cli, ["cob", "check", "--tenant", tenant.slug])
    assert check.exit_code == 0 and "ok" in check.output


# --- ten-grade sub-classification (十级分类) --------------------------------------------------------------------

from creditfactory.lending.classification import policy  # noqa: E402


@pytest.mark.parametrize(("risk_class", "dpd", "overdue_events", "grade"), [
    ("normal", 0, 0, "normal_1"), ("normal", 0, 1, "normal_2"), ("normal", 0, 2, "normal_2"),
    ("normal", 0, 3, "normal_3"),
    ("special_mention", 0, 0, "special_mention_1"), ("special_mention", 30, 1, "special_mention_1"),
    ("special_mention", 31, 1, "special_mention_2"), ("special_mention", 60, 1, "special_mention_2"),
    ("special_mention", 61, 1, "special_mention_3"),
    ("substandard", 91, 1, "substandard_1"), ("substandard", 180, 1, "substandard_1"),
    ("substandard", 181, 1, "substandard_2"), ("doubtful", 300, 1, "doubtful"), ("loss", 400, 1, "loss"),
])
def test_ten_grade_rules_with_the_default_parameters(risk_class, dpd, overdue_events, grade):
    assert policy.ten_grade(risk_class, dpd, overdue_events, policy.DEFAULTS) == grade


def test_ten_grade_parameters_move_the_boundaries():
    values = {**policy.DEFAULTS, "classification.ten_grade.special_mention_2_dpd": 10,
              "classification.ten_grade.normal_2_overdue_events": 2}
    assert policy.ten_grade("special_mention", 11, 0, values) == "special_mention_2"
    assert policy.ten_grade("normal", 0, 1, values) == "normal_1"
    assert len(policy.TEN_GRADES) == 10
    with pytest.raises(ValueError):
        policy.ten_grade("sideways", 0, 0, values)


def test_ten_grade_is_off_by_default_and_follows_the_confirmed_class(session, tenant_a):
    from sqlalchemy import text

    loan = open_standard(session)
    close_days(session, 36)  # fell overdue on 1 February: DPD 5
    assert classification.sub_grade(session, loan) is None
    session.execute(text("INSERT INTO tenant_parameter (key, value) VALUES "
                         "('classification.ten_grade.enabled', 'true'), "
                         "('classification.ten_grade.special_mention_2_dpd', '4')"))
    assert classification.sub_grade(session, loan) == "normal_2"  # downgrade proposed, not yet confirmed
    [event] = proposals(session, loan)
    with acting("reviewer", tenant_a, Permission.LOAN_SERVICE):
        classification.confirm(session, event.id)
    session.refresh(loan)
    assert classification.sub_grade(session, loan) == "special_mention_2"
