"""Simulation jobs and champion/challenger (shadow mode) on real PostgreSQL and a real broker (the PostgreSQL
broker, as tests/test_jobs.py's round trip: a worker thread in this process consumes the job).

Every figure is checked against a direct computation: each stored decision's facts evaluated one by one with
``CompiledRuleSet.evaluate`` on sets built here from the versions' JSON (not the back-test, not the cache), and
loan outcomes from what the fixture made (which loans are matured, which are bad, by which route).
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from contextlib import contextmanager
from decimal import Decimal

import dramatiq
import pytest
from sqlalchemy import func, select

from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.db import CurrentTenant, SystemContext, shared_session, tenant_session
from creditfactory.decisions import services, shadow, simulation
from creditfactory.decisions.engine import CompiledRuleSet, RuleSet, Stage, coerce_facts
from creditfactory.decisions.models import (DecisionRecord, DecisionSimulation, RuleSetOverlayVersion,
                                            ShadowDecision, StandardRuleSetVersion)
from creditfactory.decisions.overlay import apply_overlay
from creditfactory.errors import DomainError, NotFound
from creditfactory.identity import changes, services as identity_services
from creditfactory.jobs import make_broker, use_broker
from creditfactory.lending.applications.models import LoanApplication
from creditfactory.lending.classification.models import ClassificationEvent
from creditfactory.lending.cob.dates import set_business_date
from creditfactory.lending.customers.models import Customer
from creditfactory.lending.loans import services as loans
from creditfactory.lending.products.models import Product

from applications_support import acting as _acting_principal, principal
from test_products_api import bearer, machine_token

DAY = dt.date(2026, 11, 28)
BASE = {"applicant.age": 40, "applicant.on_blacklist": False, "applicant.id_verified": True,
        "bureau.has_bad_debt": False, "business.years_in_business": 4, "history.is_employee": False,
        "bureau.max_overdue_days": 0, "bureau.overdue_count_24m": 0, "business.cross_checks_failed": 0,
        "application.date": DAY}
#: In force: decline from a repayment ratio above 0.65 (the standard says 0.7).
CURRENT = {"tighten": {"APR-RATIO": {"ratio": "> 0.65"}}}
#: The draft: decline above 0.6, no refer on bureau queries (swap-ins), small-case approval only to 50,000
#: (swap-outs).
DRAFT = {"tighten": {"APR-RATIO": {"ratio": "> 0.6"}, "APR-SMALL-STANDARD": {"amount": "<= 50000"}},
         "disable": ["APR-QUERIES"]}
JOIN_MS = 10_000
N_APPLICATIONS = 90


@contextmanager
def acting(person, tenant):
    """The person as principal and as the audited actor."""
    with _acting_principal(person, tenant), CurrentActor.bind(Actor(id=str(person.user_id), kind=ActorKind.USER,
                                                                    display=person.username)):
        yield person


def _user(slug: str) -> str:
    username = f"sim{uuid.uuid4().hex[:8]}"
    with SystemContext("test: simulation users"), shared_session() as shared, shared.begin():
        identity_services.create_user(shared, username, "风险经理", password="a long enough passphrase")
        identity_services.grant(shared, username, "risk_manager", slug)
    return username


def _published_overlay(bank, maker, checker, content) -> int:
    with tenant_session(bank) as session, session.begin(), shared_session() as shared:
        with acting(maker, bank):
            draft = services.save_overlay_draft(session, shared, "std-approval", content, DAY - dt.timedelta(days=1))
            request = services.propose_overlay_publication(session, draft.id)
        with acting(checker, bank):
            changes.approve(session, request.id)
        return draft.id


def _facts(rng: random.Random) -> dict:
    return {**BASE, "ipc.repayment_ratio": rng.choice([0.3, 0.3, 0.45, 0.45, 0.55, 0.62, 0.68, 0.75]),
            "application.amount": rng.choice([30000, 30000, 80000, 150000]),
            "bureau.queries_6m": rng.choice([2, 2, 9]),
            "ipc.debt_to_assets": rng.choice([0.3, 0.3, 0.6]), "bureau.score": rng.choice([560, 610, 660, 720])}


@pytest.fixture(scope="module")
def bank(tenant_factory):
    """A bank with a published overlay in force, a draft, 90 applications decided at approval (one decided
    twice: only its latest decision counts) and loans: matured good, matured bad by four routes, not matured."""
    tenant = tenant_factory(name_en="Simulation Bank")
    with SystemContext("test: standard rule sets"), shared_session() as shared, shared.begin():
        services.sync_standard(shared, DAY - dt.timedelta(days=30))
    maker = principal(_user(tenant.slug), tenant, "risk_manager")
    checker = principal(_user(tenant.slug), tenant, "risk_manager")
    current_id = _published_overlay(tenant, maker, checker, CURRENT)
    with tenant_session(tenant) as session, session.begin(), shared_session() as shared, acting(maker, tenant):
        draft_id = services.save_overlay_draft(session, shared, "std-approval", DRAFT, DAY).id

    rng = random.Random(6)
    loans_made: dict[int, dict] = {}
    with CurrentTenant.bind(tenant), CurrentActor.bind(Actor("test:simulation", ActorKind.SYSTEM)), \
            SystemContext("test: applications and loans"), tenant_session(tenant) as session, session.begin():
        product = Product(code="sim_biz", version=1, name_zh="经营贷", name_en="Business loan")
        session.add(product)
        session.flush()
        for i in range(N_APPLICATIONS):
            customer = Customer(kind="individual", name=f"客户{i}")
            session.add(customer)
            session.flush()
            application = LoanApplication(reference=f"SIM-{i}", customer_id=customer.id, product_id=product.id,
                                          amount=Decimal(30000), term_months=6, channel="branch", state="APPROVED")
            session.add(application)
            session.flush()
            facts = _facts(rng)
            if i == 0:  # decided earlier with other facts: superseded by the decision below
                services.evaluate_stage(session, Stage.APPROVAL, {**facts, "ipc.repayment_ratio": 0.9},
                                        application_id=application.id)
            services.evaluate_stage(session, Stage.APPROVAL, facts, application_id=application.id)
            # A decision of another stage never enters an approval simulation.
            services.evaluate_stage(session, Stage.ADMISSION, facts, application_id=application.id)
            if i % 2:
                continue
            matured = i % 4 == 0 or i % 3 == 0
            set_business_date(session, DAY - dt.timedelta(days=200 if matured else 20))
            due = DAY - dt.timedelta(days=170) if matured else DAY + dt.timedelta(days=100)
            loan = loans.open_loan(session, reference=f"SIM-L-{i}", customer_id=customer.id, principal="10000.00",
                                   annual_rate="0.12", application_id=application.id,
                                   installments=[{"due_date": due, "principal": "10000.00", "interest": "100.00"}])
            route = ("dpd", "written_off", "classified", "history")[i // 8 % 4] if i % 8 == 0 else None
            # Test data standing for what COB and classification would have done to these loans.
            if route == "dpd":
                loan.state, loan.dpd = "overdue", 95
            elif route == "written_off":
                loan.state = "written_off"
            elif route == "classified":
                loan.risk_class = "substandard"
            elif route == "history":  # 90+ DPD once, confirmed substandard, cured and settled since
                loan.state = "settled"
                session.add(ClassificationEvent(loan_id=loan.id, from_class="normal", to_class="substandard",
                                                direction="downgrade", trigger="dpd", dpd=95, status="confirmed",
                                                proposed_by="cob", business_date=DAY - dt.timedelta(days=60)))
            bad = route is not None
            loans_made[application.id] = {"matured": matured or bad, "bad": bad}
        set_business_date(session, DAY)
    return {"tenant": tenant, "maker": maker, "checker": checker, "current_id": current_id, "draft_id": draft_id,
            "loans": loans_made}


@pytest.fixture
def pg_worker(cf_settings):
    """The PostgreSQL job broker installed, with a worker thread consuming it."""
    broker = make_broker(cf_settings.database_url)
    worker = None
    try:
        with use_broker(broker):
            worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
            worker.start()
            yield broker
    finally:
        if worker is not None:
            worker.stop(timeout=JOIN_MS)
        broker.close()


def _wait_done(bank, simulation_id: int, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with tenant_session(bank) as session:
            run = session.get(DecisionSimulation, simulation_id)
            if run.status in ("done", "failed"):
                return simulation.report(run)
        time.sleep(0.2)
    raise AssertionError(f"simulation {simulation_id} did not finish in {timeout} s")


def _compiled(content_of_overlay) -> CompiledRuleSet:
    with shared_session() as shared:
        standard = shared.scalar(select(StandardRuleSetVersion).where(
            StandardRuleSetVersion.code == "std-approval", StandardRuleSetVersion.status == "published")
            .order_by(StandardRuleSetVersion.version.desc()).limit(1))
    return CompiledRuleSet(apply_overlay(RuleSet.from_dict(standard.content), content_of_overlay))


def _direct(bank_data, *, sample=None, min_loans=3) -> dict:
    """The expected figures, one decision at a time."""
    tenant = bank_data["tenant"]
    with tenant_session(tenant) as session:
        records = session.execute(select(DecisionRecord.id, DecisionRecord.application_id, DecisionRecord.facts,
                                         DecisionRecord.stage).order_by(DecisionRecord.id)).all()
    latest, latest_any = {}, {}
    for record in records:
        latest_any[record.application_id] = record
        if record.stage == "approval":
            latest[record.application_id] = record
    population = sorted(latest.values(), key=lambda r: r.id)
    if sample is not None:
        population = population[-sample:]
    current, draft = _compiled(CURRENT), _compiled(DRAFT)
    made = bank_data["loans"]

    def band(score):
        return str(int(score // 50 * 50))

    matured_all = {app: v["bad"] for app, v in made.items() if v["matured"]}
    # The band of a booked loan: the score in its application's latest decision, whatever the stage.
    scores = {app: r.facts["bureau.score"] for app, r in latest_any.items()}
    by_band: dict[str, list[bool]] = {}
    for app, is_bad in matured_all.items():
        by_band.setdefault(band(scores[app]), []).append(is_bad)
    overall = sum(matured_all.values()) / len(matured_all)

    def expected(score):
        outcomes = by_band.get(band(score), [])
        return sum(outcomes) / len(outcomes) if len(outcomes) >= min_loans else overall

    figures = {side: {"accepted": 0, "matured": 0, "bad": 0, "expected": [], "outcomes": {}}
               for side in ("current", "draft")}
    swap_in, swap_out, changed = set(), set(), 0
    for record in population:
        facts = coerce_facts(record.facts)
        outcomes = {"current": current.evaluate(facts).outcome.value, "draft": draft.evaluate(facts).outcome.value}
        for side, outcome in outcomes.items():
            f = figures[side]
            f["outcomes"][outcome] = f["outcomes"].get(outcome, 0) + 1
            if outcome in ("pass", "approve"):
                f["accepted"] += 1
                f["expected"].append(expected(facts["bureau.score"]))
                loan = made.get(record.application_id)
                if loan and loan["matured"]:
                    f["matured"] += 1
                    f["bad"] += loan["bad"]
        changed += outcomes["current"] != outcomes["draft"]
        was, now = outcomes["current"] == "approve", outcomes["draft"] == "approve"
        if now and not was:
            swap_in.add(record.application_id)
        if was and not now:
            swap_out.add(record.application_id)
    return {"n": len(population), "figures": figures, "swap_in": swap_in, "swap_out": swap_out,
            "changed": changed}


def _assert_matches(result: dict, direct: dict) -> None:
    r = result["results"]
    assert result["status"] == "done" and result["progress"] == {"done": direct["n"], "total": direct["n"],
                                                                  "percent": 100.0}
    assert r["evaluated"] == direct["n"] and r["skipped"] == 0 and r["changed"] == direct["changed"]
    for side in ("current", "draft"):
        mine, theirs = r[side], direct["figures"][side]
        assert {k: v for k, v in mine["outcomes"].items() if v} == theirs["outcomes"], side
        assert mine["accepted"] == theirs["accepted"]
        assert mine["approval_rate"] == pytest.approx(theirs["accepted"] / direct["n"], abs=1e-6)
        assert mine["observed"]["matured"] == theirs["matured"] and mine["observed"]["bad"] == theirs["bad"]
        if theirs["matured"]:
            assert mine["observed"]["bad_rate"] == pytest.approx(theirs["bad"] / theirs["matured"], abs=1e-6)
        assert mine["expected_bad_rate"] == pytest.approx(sum(theirs["expected"]) / len(theirs["expected"]),
                                                          abs=1e-5)
    assert {a["application_id"] for a in r["swap_in"]["applications"]} == direct["swap_in"]
    assert {a["application_id"] for a in r["swap_out"]["applications"]} == direct["swap_out"]
    assert r["swap_in"]["count"] == len(direct["swap_in"]) and r["swap_out"]["count"] == len(direct["swap_out"])
    assert all(a["current"] != "approve" and a["draft"] == "approve" for a in r["swap_in"]["applications"])


def _start(bank_data, **kwargs) -> int:
    tenant = bank_data["tenant"]
    with tenant_session(tenant) as session, session.begin(), acting(bank_data["maker"], tenant):
        return simulation.start_simulation(session, bank_data["draft_id"], as_of=DAY, **kwargs).id


def test_the_job_runs_in_chunks_and_its_figures_equal_a_direct_computation(bank, pg_worker, monkeypatch):
    monkeypatch.setattr(simulation, "CHUNK", 7)  # many chunks over 90 applications
    monkeypatch.setattr(simulation, "MIN_BAND_LOANS", 3)
    simulation_id = _start(bank)
    result = _wait_done(bank["tenant"], simulation_id)
    direct = _direct(bank)
    assert direct["n"] == N_APPLICATIONS
    assert direct["swap_in"] and direct["swap_out"] and direct["changed"] > len(direct["swap_in"] | direct["swap_out"])
    assert direct["figures"]["current"]["matured"] and direct["figures"]["current"]["bad"]
    _assert_matches(result, direct)
    table = result["results"]["bad_rates"]
    made = [v for v in bank["loans"].values() if v["matured"]]
    assert table["overall"] == {"matured": len(made), "bad": sum(v["bad"] for v in made),
                                "rate": round(sum(v["bad"] for v in made) / len(made), 6)}
    assert table["min_loans"] == 3 and table["band_width"] == 50


def test_sample_takes_the_latest_applications(bank, pg_worker, monkeypatch):
    monkeypatch.setattr(simulation, "MIN_BAND_LOANS", 3)
    simulation_id = _start(bank, sample=25)
    result = _wait_done(bank["tenant"], simulation_id)
    assert result["sample"] == 25
    _assert_matches(result, _direct(bank, sample=25))


def test_a_redelivered_job_changes_nothing(bank, pg_worker, monkeypatch):
    monkeypatch.setattr(simulation, "MIN_BAND_LOANS", 3)
    tenant = bank["tenant"]
    simulation_id = _start(bank)
    result = _wait_done(tenant, simulation_id)
    with CurrentTenant.bind(tenant):
        simulation.run_simulation.fn(simulation_id)  # delivered again after it finished, in-process
        simulation.run_simulation.send(simulation_id)  # and through the broker
    time.sleep(1.0)
    again = _wait_done(tenant, simulation_id)
    assert again["results"] == result["results"] and again["progress"] == result["progress"]
    assert again["finished_at"] == result["finished_at"]


def test_steps_committed_one_by_one_give_the_same_figures(bank, monkeypatch, cf_settings):
    """A run whose worker died after some chunks: another worker continues from the cursor."""
    monkeypatch.setattr(simulation, "CHUNK", 10)
    monkeypatch.setattr(simulation, "MIN_BAND_LOANS", 3)
    tenant = bank["tenant"]
    broker = make_broker(cf_settings.database_url)
    try:
        with use_broker(broker):  # the message waits in the queue: no worker here
            simulation_id = _start(bank)
            with CurrentTenant.bind(tenant), SystemContext("test: first worker"):
                assert simulation.advance(simulation_id, tenant) is True  # started: bad-rate table
                for _ in range(3):
                    assert simulation.advance(simulation_id, tenant) is True
            with tenant_session(tenant) as session:
                run = session.get(DecisionSimulation, simulation_id)
                assert (run.status, run.done, run.total) == ("running", 30, N_APPLICATIONS)
                assert simulation.report(run)["progress"]["percent"] == pytest.approx(33.3)
                assert run.results["evaluated"] == 30
            worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
            worker.start()
            try:
                result = _wait_done(tenant, simulation_id)
            finally:
                worker.stop(timeout=JOIN_MS)
    finally:
        broker.close()
    _assert_matches(result, _direct(bank))


def test_bad_input_is_refused_and_records_nothing(bank, pg_worker):
    tenant = bank["tenant"]
    with tenant_session(tenant) as session:
        before = session.scalar(select(func.count()).select_from(DecisionSimulation))
    with tenant_session(tenant) as session, acting(bank["maker"], tenant):
        with pytest.raises(NotFound):
            simulation.start_simulation(session, 999_999, as_of=DAY)
        with pytest.raises(DomainError):
            simulation.start_simulation(session, bank["draft_id"], sample=0, as_of=DAY)
        session.rollback()
    with tenant_session(tenant) as session:
        assert session.scalar(select(func.count()).select_from(DecisionSimulation)) == before
        with pytest.raises(NotFound), acting(bank["maker"], tenant):
            simulation.simulation_status(session, 999_999)


# --- champion / challenger ----------------------------------------------------------------------------------

def test_in_share_is_deterministic_and_close_to_the_share():
    ids = range(1, 20_001)
    assert not any(shadow.in_share(i, 0) for i in ids) and all(shadow.in_share(i, 100) for i in ids)
    inside = [i for i in ids if shadow.in_share(i, Decimal("25"))]
    assert 0.23 < len(inside) / 20_000 < 0.27
    assert inside == [i for i in ids if shadow.in_share(i, 25.0)]
    assert set(i for i in ids if shadow.in_share(i, 10)) <= set(inside)  # a larger share keeps the smaller's


def test_challenger_is_recorded_without_changing_outcomes_and_reported(bank):
    tenant = bank["tenant"]
    rng = random.Random(11)
    with tenant_session(tenant) as session, session.begin(), acting(bank["maker"], tenant):
        with pytest.raises(DomainError):
            simulation.set_challenger(session, bank["draft_id"], "101")
        challenger = simulation.set_challenger(session, bank["draft_id"], "50")
        assert challenger.stage == "approval" and challenger.share_percent == Decimal("50.00")
        assert simulation.list_challengers(session)[0].version_id == bank["draft_id"]
    champion, challenger_set = _compiled(CURRENT), _compiled(DRAFT)
    decided = []
    with CurrentTenant.bind(tenant), CurrentActor.bind(Actor("test:shadow", ActorKind.SYSTEM)), \
            SystemContext("test: live decisions"), tenant_session(tenant) as session, session.begin():
        apps = session.scalars(select(LoanApplication.id).order_by(LoanApplication.id)).all()
        for app_id in apps:
            facts = _facts(rng)
            decision = services.evaluate_stage(session, Stage.APPROVAL, facts, application_id=app_id)
            assert decision.outcome is champion.evaluate(facts).outcome  # the live outcome is the champion's
            decided.append((app_id, decision.record_id, facts))
        services.evaluate_stage(session, Stage.ADMISSION, _facts(rng), application_id=apps[0])  # no challenger
    with tenant_session(tenant) as session:
        stored = {s.decision_record_id: s for s in session.scalars(
            select(ShadowDecision).where(ShadowDecision.decision_record_id.in_([d[1] for d in decided])))}
    in_share = [d for d in decided if shadow.in_share(d[0], 50)]
    assert set(stored) == {d[1] for d in in_share} and 0 < len(in_share) < len(decided)
    pairs: dict[tuple[str, str], int] = {}
    for app_id, record_id, facts in in_share:
        shadow_row = stored[record_id]
        assert shadow_row.outcome == challenger_set.evaluate(facts).outcome.value
        assert shadow_row.version_id == bank["draft_id"] and shadow_row.application_id == app_id
        key = (champion.evaluate(facts).outcome.value, shadow_row.outcome)
        pairs[key] = pairs.get(key, 0) + 1

    with tenant_session(tenant) as session, acting(bank["maker"], tenant):
        report = simulation.challenger_report(session, "approval", bank["draft_id"])
    assert {(p["champion"], p["challenger"]): p["count"] for p in report["pairs"]} == pairs
    assert report["decisions"] == len(in_share)
    agree = sum(n for (a, b), n in pairs.items() if a == b)
    assert report["agreement_rate"] == pytest.approx(agree / len(in_share), abs=1e-6)
    swap_in = sum(n for (a, b), n in pairs.items() if a != "approve" and b == "approve")
    assert report["swap_in"]["count"] == swap_in == len(report["swap_in"]["applications"])
    assert report["challenger_approval_rate"] == pytest.approx(
        sum(n for (a, b), n in pairs.items() if b == "approve") / len(in_share), abs=1e-6)

    with tenant_session(tenant) as session, session.begin(), acting(bank["maker"], tenant):
        simulation.clear_challenger(session, "approval")
        with pytest.raises(NotFound):
            simulation.clear_challenger(session, "approval")
    with CurrentTenant.bind(tenant), SystemContext("test: after clearing"), tenant_session(tenant) as session, \
            session.begin():
        record_id = services.evaluate_stage(session, Stage.APPROVAL, _facts(rng), application_id=in_share[0][0]
                                            ).record_id
        session.flush()
        assert session.scalar(select(func.count()).select_from(ShadowDecision)
                              .where(ShadowDecision.decision_record_id == record_id)) == 0


# --- API ----------------------------------------------------------------------------------------------------

def test_api_start_poll_list_and_challenger(app, bank, pg_worker, monkeypatch):
    monkeypatch.setattr(simulation, "MIN_BAND_LOANS", 3)
    tenant = bank["tenant"]
    http = app.test_client()
    prefix = f"/t/{tenant.slug}/api/v1/decisions"
    writer = bearer(machine_token(app, "rulesets:read config:write", tenant_slug=tenant.slug))
    reader = bearer(machine_token(app, "rulesets:read", tenant_slug=tenant.slug))
    assert http.post(f"{prefix}/simulations", headers=reader,
                     json={"draft_version_id": bank["draft_id"]}).status_code == 403
    refused = http.post(f"{prefix}/simulations", headers=writer, json={"draft_version_id": bank["draft_id"],
                                                                       "sample": 0})
    assert refused.status_code == 422
    started = http.post(f"{prefix}/simulations", headers=writer,
                        json={"draft_version_id": bank["draft_id"], "as_of": DAY.isoformat()})
    assert started.status_code == 202, started.json
    location = started.headers["Location"]
    assert location.endswith(f"/decisions/simulations/{started.json['id']}")
    assert started.json["progress"]["total"] == N_APPLICATIONS and started.json["status"] == "queued"
    _wait_done(tenant, started.json["id"])
    polled = http.get(location, headers=reader)
    assert polled.status_code == 200 and polled.json["status"] == "done"
    _assert_matches(polled.json, _direct(bank))
    listed = http.get(f"{prefix}/simulations", headers=reader).json
    assert listed[0]["id"] == started.json["id"]
    assert http.get(f"{prefix}/simulations/999999", headers=reader).status_code == 404

    put = http.put(f"{prefix}/challengers", headers=writer, json={"version_id": bank["draft_id"],
                                                                   "share_percent": "12.5"})
    assert put.status_code == 200, put.json
    assert put.json["share_percent"] == "12.50" and put.json["stage"] == "approval"
    assert http.get(f"{prefix}/challengers", headers=reader).json[0]["version_id"] == bank["draft_id"]
    report = http.get(f"{prefix}/challengers/approval/report", headers=reader)
    assert report.status_code == 200 and report.json["stage"] == "approval"
    assert http.delete(f"{prefix}/challengers/approval", headers=writer).status_code == 204
    assert http.delete(f"{prefix}/challengers/approval", headers=writer).status_code == 404
    assert http.get(f"{prefix}/challengers/nowhere/report", headers=reader).status_code == 404
