"""Demo applications for ``creditfactory up --demo``: in each demo bank, customers and applications in every state
of DOMAIN §2.2, made through the services by the demo staff (``identity/demo.py``), audited as the demo system
actor. Idempotent: a state whose demo customer exists is skipped on a re-run.

States made: LEAD, APPLIED, PRE_SCREENED, INVESTIGATING, ANALYSED, IN_REVIEW, IN_COMMITTEE (referred by the demo
reviewer to an open committee session), APPROVED (auto-approved by the engine within its authority, and decided by
the demo approver), APPROVED_WITH_CONDITIONS (the three demo committee members vote and close their session),
REJECTED (admission: over 65), CONTRACTED (the demo operations clerk prepares the contract, the borrower, the
spouse — a person recorded without a customer record — and the bank sign, the 双录 recording is stored and the
second operations clerk passes its QC), DISBURSED (the same, then the disbursement is created, sent and settled:
the loan account is open), CANCELLED and EXPIRED. Every customer whose case passes the pre-screen first gives the
written credit-bureau consent it needs (captured by the officer, on a paper form); the APPLIED one has none yet.

The 双录 media and the disbursement's invoice are placeholders of the demo (a bare MP4 header and a one-page
PDF): the real ones come from the branch's camera and the borrower's supplier.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ...audit import Actor, ActorKind, CurrentActor
from ...db import CurrentTenant, shared_session, tenant_session
from ...identity.models import User
from ...identity.permissions import Context
from ...identity.principal import CurrentPrincipal, Principal
from ...identity.roles import STANDARD_ROLES
from ...tenancy.registry import directory
from ..applications import services as applications
from ..applications.models import ApprovalAuthority
from ..applications.states import Event, transition
from ..customers.models import Customer
from ..products.models import Product
from . import services as origination

#: The placeholder 双录 media (an MP4 file header) and supplier invoice (a one-page PDF) of the demo contracts.
DEMO_RECORDING = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64
DEMO_INVOICE = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
COMMITTEE_MEMBERS = ("credit_committee_member", "credit_committee_member2", "credit_committee_member3")
DEMO_ACTOR = Actor(id="system:demo", kind=ActorKind.SYSTEM, display="demo data (creditfactory up --demo)")
PREFIX = "演示客户·"
#: Region code of the demo resident IDs (昆明市呈贡); the numbers are synthetic, with a valid check character.
REGION = "530121"

#: A grocery shop's worksheet whose every cross-check passes (the figures of docs/investigation.md's example).
WORKSHEET: dict[str, Any] = {
    "business_balance_sheet": {"cash_on_hand": "5000", "bank_balances": "15000", "receivables": "10000",
                               "inventory": "60000", "fixed_assets": "40000", "supplier_payables": "10000",
                               "bank_loans": "20000"},
    "household_balance_sheet": {"house": "300000", "vehicles": "50000", "deposits": "20000", "mortgage": "100000"},
    "pnl": {
        "typical": {"lines": [{"name": "大米", "sales": "30000", "gross_margin": "0.20"},
                              {"name": "食用油", "sales": "10000", "gross_margin": "0.30"}],
                    "operating_expenses": {"rent": "1000", "wages": "2000", "other": "1000"},
                    "other_household_income": "1000", "household_expenses": {"food": "1500", "education": "500"}},
        "good": {"lines": [{"name": "all", "sales": "50000", "gross_margin": "0.20"}],
                 "operating_expenses": {"all": "4000"}, "other_household_income": "1000",
                 "household_expenses": {"all": "2000"}},
        "bad": {"lines": [{"name": "all", "sales": "20000", "gross_margin": "0.20"}],
                "operating_expenses": {"all": "4000"}, "other_household_income": "1000",
                "household_expenses": {"all": "2000"}},
    },
    "seasonality": ["good", "bad"] + ["typical"] * 9 + ["good"],
    "existing_instalments": "500",
    "loan": {"amount": "10000", "term_months": 12, "annual_rate": "0.0612", "method": "equal_installment",
             "planned_use": "10000"},
    "evidence": {"sample_daily_sales": "1500", "operating_days": 26, "sample_month": 3,
                 "purchases_month": "33000", "stock_change_month": "2000",
                 "bank_inflows_month": "20000", "bank_share_of_sales": "0.5",
                 "price_samples": [{"product": "大米", "buy_price": "8", "sell_price": "10"},
                                   {"product": "食用油", "buy_price": "7", "sell_price": "10"}],
                 "sector_inventory_months": "1.9", "initial_equity": "50000", "retained_profits": "70000",
                 "withdrawals": "20000", "household_size": 4, "living_cost_per_person": "500",
                 "bureau_debts": "120000"},
}

#: Target state → (steps after intake, amount, birth year). Steps name what happens in order.
PLAN: dict[str, tuple[tuple[str, ...], str, int]] = {
    "LEAD": (("lead",), "20000", 1985),
    "APPLIED": ((), "20000", 1984),
    "PRE_SCREENED": (("prescreen",), "30000", 1983),
    "INVESTIGATING": (("prescreen", "visit"), "30000", 1982),
    "ANALYSED": (("prescreen", "visit", "worksheet"), "10000", 1981),
    "IN_REVIEW": (("prescreen", "visit", "worksheet_checks_fail", "submit"), "20000", 1980),
    "APPROVED": (("prescreen", "visit", "worksheet", "submit"), "10000", 1979),
    "APPROVED_BY_APPROVER": (("prescreen", "visit", "worksheet_checks_fail", "submit", "approve"), "20000", 1978),
    "IN_COMMITTEE": (("prescreen", "visit", "worksheet_checks_fail", "submit", "refer"), "60000", 1975),
    "APPROVED_WITH_CONDITIONS": (("prescreen", "visit", "worksheet_checks_fail", "submit", "refer", "committee"),
                                 "60000", 1974),
    "CONTRACTED": (("spouse", "prescreen", "visit", "worksheet", "submit", "contract"), "10000", 1973),
    "DISBURSED": (("prescreen", "visit", "worksheet", "submit", "contract", "disburse"), "10000", 1972),
    "REJECTED": ((), "20000", 1950),
    "CANCELLED": (("prescreen", "cancel"), "20000", 1977),
    "EXPIRED": (("expire",), "20000", 1976),
}


def resident_id(birth_year: int, sequence: int) -> str:
    from stdnum.cn import ric

    body = f"{REGION}{birth_year:04d}0615{sequence % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum reads the first 17 characters of a full number


def _principal(username: str, slug: str, role: str | None = None) -> Principal | None:
    """The demo user ``username`` acting in bank ``slug`` in ``role`` (by default the role the name ends with)."""
    with shared_session() as shared:
        user = shared.scalar(select(User).where(User.username == username))
    if user is None:
        return None
    role = role or username.split(".", 1)[1]
    return Principal(user.id, username, Context.TENANT, slug, frozenset(STANDARD_ROLES[role].permissions),
                     frozenset({role}))


def _product(session) -> Product | None:
    products = [p for p in session.scalars(select(Product).where(Product.status == "active").order_by(Product.code))
                if p.terms]
    return next((p for p in products if "retail" in (p.terms.get("eligible_sectors") or [])),
                products[0] if products else None)


def _ensure_authority(slug: str, product: Product) -> None:
    """The approver's row and the engine's row (role ``system``) for the demo product, through maker-checker (the
    demo risk manager proposes, the demo tenant administrator approves), unless the bank has them."""
    from ...identity import changes
    from ..applications import authority

    maker, checker = _principal(f"{slug}.risk_manager", slug), _principal(f"{slug}.tenant_admin", slug)
    if maker is None or checker is None:
        return
    for role, amount, months in (("approver", "100000", 24), (origination.AUTO_APPROVER_ROLE, "50000", 12)):
        with tenant_session() as session:
            have = session.scalar(select(ApprovalAuthority.role).where(ApprovalAuthority.role == role,
                                                                       ApprovalAuthority.product_code == product.code))
        if have is not None:
            continue
        with CurrentPrincipal.bind(maker), tenant_session() as session, session.begin():
            request = authority.propose_authority(session, role, product.code, Decimal(amount), months)
            request_id = request.id
        with CurrentPrincipal.bind(checker), tenant_session() as session, session.begin():
            changes.approve(session, request_id)


@dataclasses.dataclass(frozen=True)
class Staff:
    """The demo people who work the cases of one bank."""

    officer: Principal
    approver: Principal
    reviewer: Principal | None
    members: tuple[Principal, ...]
    clerk: Principal | None
    checker: Principal | None

    def for_step(self, step: str) -> Principal | None:
        return {"approve": self.approver, "refer": self.reviewer, "contract": self.clerk,
                "disburse": self.clerk}.get(step, self.officer)


def _staff(slug: str) -> Staff | None:
    officer, approver = _principal(f"{slug}.loan_officer", slug), _principal(f"{slug}.approver", slug)
    if officer is None or approver is None:
        return None
    members = tuple(m for m in (_principal(f"{slug}.{name}", slug, "credit_committee_member")
                                for name in COMMITTEE_MEMBERS) if m is not None)
    return Staff(officer, approver, _principal(f"{slug}.reviewer", slug), members,
                 _principal(f"{slug}.operations", slug), _principal(f"{slug}.operations2", slug, "operations"))


def _possible(target: str, steps: tuple[str, ...], staff: Staff) -> bool:
    """Whether the bank has the people a plan needs (demo staff made before these people existed lack them)."""
    if "refer" in steps and staff.reviewer is None:
        return False
    if "committee" in steps and len(staff.members) < 3:
        return False
    return not ("contract" in steps and (staff.clerk is None or staff.checker is None))


def ensure_demo_applications(slug: str) -> list[str]:
    """Make the demo customers and applications of bank ``slug`` that are missing; the states made."""
    tenant = directory.get(slug)
    made: list[str] = []
    with CurrentTenant.bind(tenant), CurrentActor.bind(DEMO_ACTOR):
        staff = _staff(slug)
        if staff is None:
            return made
        with tenant_session() as session:
            product = _product(session)
            if product is not None:
                session.expunge(product)
        if product is None:
            return made
        _ensure_authority(slug, product)
        sector = "retail" if "retail" in product.terms.get("eligible_sectors", []) else product.terms["eligible_sectors"][0]
        method = product.terms["repayment_methods"][0]
        for n, (target, (steps, amount, birth_year)) in enumerate(PLAN.items(), start=1):
            name = f"{PREFIX}{target}"
            with tenant_session() as session:
                if session.scalar(select(Customer.id).where(Customer.name == name)) is not None:
                    continue
            if not _possible(target, steps, staff):
                continue
            _make(staff, product, name, target, steps, amount, birth_year, n, sector, method)
            made.append(target)
    return made


def _make(staff: Staff, product, name, target, steps, amount, birth_year, n, sector, method) -> None:
    from ..customers.services import add_related_party, create_customer, grant_consent
    from ..investigation.routes import today

    officer = staff.officer
    with CurrentPrincipal.bind(officer), tenant_session() as session, session.begin():
        customer = create_customer(session, kind="individual", name=name, resident_id=resident_id(birth_year, n),
                                   years_in_business=6, household_members=4, officer_user_id=officer.user_id,
                                   marital_status="married" if "spouse" in steps else None)
        if "prescreen" in steps:
            # The pre-screen queries the credit bureau: the written consent comes first (DOMAIN §4.2). The demo
            # APPLIED case has none, so its page shows the pre-screen refused until one is captured.
            grant_consent(session, customer.id, purpose="bureau_query", consent_type="written", channel="paper_scan",
                          scope="查询本人征信报告，用于本次贷款审批 / credit report query for this application",
                          evidence_signature=f"演示纸质授权书 / demo signed form DEMO-AUTH-{n:03d}")
        if "spouse" in steps:
            # The spouse signs the contract without being a customer of the bank (a person record).
            add_related_party(session, customer.id, role="spouse", name=f"{name}·配偶",
                              resident_id=resident_id(birth_year + 2, n + 500))
        application, _ = applications.create_application(session, {
            "customer_id": customer.id, "product_id": product.id, "amount": amount, "term_months": 12,
            "channel": "field_app", "repayment_method": method, "sector": sector,
            "purpose": "进货周转 / stock for the shop", "lead": "lead" in steps})
        application_id = application.id
    for step in steps:
        if step == "spouse":
            continue
        if step == "committee":
            _committee(staff, application_id)
            continue
        if step == "contract":
            _contract(staff, application_id)
            continue
        if step == "disburse":
            _disburse(staff, application_id)
            continue
        person = staff.for_step(step)
        with CurrentPrincipal.bind(person), tenant_session() as session, session.begin():
            if step == "prescreen":
                applications.fire(session, application_id, Event.PRESCREEN_PASS, "演示：授权已取得 / consents captured")
            elif step == "visit":
                applications.fire(session, application_id, Event.SCHEDULE_VISIT, "演示：周二上门 / visit on Tuesday")
            elif step in ("worksheet", "worksheet_checks_fail"):
                from ..investigation.questionnaire import DEFAULT_QUESTIONNAIRE

                data = copy.deepcopy(WORKSHEET)
                # The officer's soft-information answers: the best option of each of the 15 indicators.
                data["soft_answers"] = {i.code: max(i.options, key=lambda o: o.score).code
                                        for i in DEFAULT_QUESTIONNAIRE.indicators}
                data["loan"]["amount"] = data["loan"]["planned_use"] = amount
                if step == "worksheet_checks_fail":
                    data["evidence"]["withdrawals"] = "30000"  # equity 100000 against 90000 expected: 11 %
                origination.save_investigation(session, application_id, data, visit_date=today())
            elif step == "submit":
                applications.fire(session, application_id, Event.SUBMIT, "演示：调查完成 / investigation complete")
            elif step == "approve":
                applications.decide(session, application_id, "approve",
                                    "演示：权益差异已核实 / equity difference explained by a family loan")
            elif step == "refer":
                committee = applications.create_session(session, today(), [m.user_id for m in staff.members])
                applications.add_case(session, committee.id, application_id,
                                      "演示：权益检验差异 11%，提交审贷会 / equity check off by 11 %: to the committee")
            elif step == "cancel":
                applications.fire(session, application_id, Event.CANCEL, "演示：客户撤回 / the customer withdrew")
            elif step == "expire":
                transition(session, applications.get_application(session, application_id, for_update=True),
                           Event.EXPIRE, reason="演示数据：直接置为过期 / demo data: expired to show the state", check_permission=False)


def _committee(staff: Staff, application_id: int) -> None:
    """The three members vote on the case of the session it was referred to, and the first closes the session."""
    from ..applications.models import CommitteeCase

    with tenant_session() as session:
        session_id = session.scalar(select(CommitteeCase.session_id)
                                    .where(CommitteeCase.application_id == application_id))
    conditions = ["配偶共同签字 / the spouse co-signs", "每月报送进货单据 / monthly purchase receipts"]
    votes = (("approve_with_conditions", conditions), ("approve", []), ("approve_with_conditions", conditions[:1]))
    for member, (choice, wanted) in zip(staff.members, votes):
        with CurrentPrincipal.bind(member), tenant_session() as session, session.begin():
            applications.vote(session, session_id, application_id, choice, "演示 / demo", wanted)
    with CurrentPrincipal.bind(staff.members[0]), tenant_session() as session, session.begin():
        applications.close_session(session, session_id, "演示：审议 1 笔 / demo: one case heard")


def _contract(staff: Staff, application_id: int) -> None:
    """Prepare the contract at the product's rate, record the 双录, sign every party, QC by the second clerk."""
    from ..contracts import services as contracts
    from ..products.services import terms_of

    with CurrentPrincipal.bind(staff.clerk), tenant_session() as session, session.begin():
        application = applications.get_application(session, application_id)
        terms = terms_of(session, application.product_id)
        pricing = terms.rate_range_for(application.sector or "")
        rate = application.indicative_rate if application.indicative_rate is not None \
            and pricing.contains(Decimal(application.indicative_rate)) else pricing.min
        contract = contracts.prepare_contract(session, application_id, annual_rate=rate,
                                              repayment_method=application.repayment_method or "equal_installment")
        started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        recording = contracts.record_recording(
            session, contract.id, media=DEMO_RECORDING, started_at=started - dt.timedelta(minutes=12),
            ended_at=started, script_version="loan-signing-v1", risk_disclosures_read=["rate", "penalty", "use"],
            customer_confirmations=["我已知晓并确认 / I understand and confirm"], location="演示营业部 / demo branch")
        for party in contracts.parties_of(session, contract.id):
            contracts.sign(session, contract.id, party.id)
        recording_id = recording.id
    with CurrentPrincipal.bind(staff.checker), tenant_session() as session, session.begin():
        contracts.review_recording(session, recording_id, passed=True, note="演示：质检通过 / demo: QC passed")


def _disburse(staff: Staff, application_id: int) -> None:
    """Entrusted payment to the borrower's supplier, sent and settled: the loan account opens."""
    from ..contracts import services as contracts
    from ..disbursement import services as disbursements

    with CurrentPrincipal.bind(staff.clerk), tenant_session() as session, session.begin():
        contract = contracts.contract_for_application(session, application_id)
        disbursement, _ = disbursements.create_disbursement(
            session, contract.id, idempotency_key=f"demo-{contract.reference}", payee_name="演示供应商 / demo supplier",
            payee_account="6222020200112233", payee_bank="演示农商银行 / demo rural bank",
            purpose="进货 / stock purchase", evidence=[("invoice.pdf", DEMO_INVOICE)])
        disbursements.send(session, disbursement.id)
        disbursements.mark_settled(session, disbursement.id, core_banking_ref=f"DEMO-{contract.reference}")
