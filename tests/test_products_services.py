"""Products against real PostgreSQL: templates, adoption and updates through maker-checker, audit, products as code."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from creditfactory.audit import Actor, ActorKind, CurrentActor
from creditfactory.audit.models import AuditEntry
from creditfactory.db import CurrentTenant, SystemContext, tenant_session
from creditfactory.errors import Conflict, NotFound
from creditfactory.identity import changes
from creditfactory.identity.errors import AccessDenied, SegregationOfDutiesViolation
from creditfactory.identity.permissions import Context
from creditfactory.identity.principal import CurrentPrincipal, Principal
from creditfactory.identity.roles import STANDARD_ROLES
from creditfactory.lending.products import declared, services
from creditfactory.lending.products.models import Product, ProductTemplate
from creditfactory.lending.products.terms import TermsError

TENANTS_DIR = Path(__file__).resolve().parents[1] / "tenants"


def person(role: str, tenant, user_id: int) -> Principal:
    r = STANDARD_ROLES[role]
    return Principal(user_id, f"user{user_id}", r.context, tenant.slug if tenant else None, r.permissions,
                     frozenset({role}))


@contextmanager
def acting(principal, tenant=None):
    with CurrentPrincipal.bind(principal), CurrentActor.bind(Actor(str(principal.user_id), ActorKind.USER)):
        if tenant is None:
            yield
        else:
            with CurrentTenant.bind(tenant):
                yield


@pytest.fixture(scope="module")
def standard_templates(cf_settings):
    """The head-office templates of tenants/_standard/products, published (committed; idempotent)."""
    with CurrentActor.bind(Actor("test:products", ActorKind.SYSTEM)):
        declared.publish_templates(declared.load_folder(TENANTS_DIR), TENANTS_DIR)


@pytest.fixture
def bank(tenant_factory, standard_templates):
    return tenant_factory(name_en="Products Bank")


MAKER, CHECKER, OFFICER = 101, 102, 103


def test_templates_are_immutable_and_republishing_is_a_no_op(standard_templates, shared_db):
    template = shared_db.scalars(select(ProductTemplate).where(ProductTemplate.code == "biz_operating",
                                                              ProductTemplate.version == 1)).one()
    assert template.terms["amount"] == {"min": "10000", "max": "500000"}
    assert template.source == "file:_standard/products/biz_operating.v1.yaml"
    owner = Principal(9, "owner", Context.HEAD_OFFICE, None,
                      STANDARD_ROLES["head_office_product_owner"].permissions, frozenset())
    with acting(owner):
        same, created = services.publish_template(shared_db, "biz_operating", 1, template.name_zh,
                                                  template.name_en, template.terms, "api:owner")
        assert (same.id, created) == (template.id, False)
        with pytest.raises(Conflict, match="immutable; publish the change as v2"):
            services.publish_template(shared_db, "biz_operating", 1, template.name_zh, template.name_en,
                                      {**template.terms, "grace_days": 0}, "api:owner")
        with pytest.raises(services.ProductError, match="next version is v2"):
            services.publish_template(shared_db, "biz_operating", 3, "x", "x", template.terms, "api:owner")
        v2, created = services.publish_template(shared_db, "biz_operating", 2, template.name_zh, template.name_en,
                                                {**template.terms, "grace_days": 0}, "api:owner")
        assert created and v2.version == 2
        with pytest.raises(TermsError, match="amount.max"):
            services.publish_template(shared_db, "broken", 1, "坏", "Broken",
                                      {**template.terms, "amount": {"min": "1", "max": "x"}}, "api:owner")
    # A bank's staff cannot publish.
    with acting(person("tenant_admin", _Ref("x"), 5)), pytest.raises(AccessDenied):
        services.publish_template(shared_db, "biz_operating", 2, "x", "x", template.terms, "api:x")


class _Ref:
    def __init__(self, slug):
        self.slug = slug


def test_adoption_takes_effect_only_after_a_second_person_approves(bank):
    maker, checker, officer = (person("tenant_admin", bank, MAKER), person("tenant_admin", bank, CHECKER),
                               person("loan_officer", bank, OFFICER))
    with tenant_session(bank) as session, session.begin():
        with acting(officer, bank), pytest.raises(AccessDenied, match="product.configure"):
            services.propose_adoption(session, "biz", "biz_operating", 1)
        with acting(maker, bank):
            request = services.propose_adoption(session, "biz", "biz_operating", 1,
                                                {"amount": {"max": "300000"}})
        assert request.status == "pending" and request.kind == "product.adopt"
        assert session.scalars(select(Product).where(Product.code == "biz")).first() is None
        with acting(maker, bank), pytest.raises(SegregationOfDutiesViolation):
            changes.approve(session, request.id)
        with acting(officer, bank), pytest.raises(AccessDenied, match="config.approve"):
            changes.approve(session, request.id)
        with acting(checker, bank):
            changes.approve(session, request.id)
            product = services.get_product(session, "biz")
        assert (product.version, product.status, product.template_code, product.template_version) == \
               (1, "active", "biz_operating", 1)
        assert product.change_request_id == request.id
        assert product.terms["amount"] == {"min": "10000", "max": "300000"}
        assert services.terms_of(session, product.id).amount.max == Decimal("300000")
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "product.adopt")).one()
        assert entry.before is None and entry.after["terms"]["amount"]["max"] == "300000"
        assert entry.actor == str(CHECKER)

        # An update is a new immutable version; the old one is superseded and unchanged.
        with acting(maker, bank):
            update = services.propose_update(session, "biz", {"amount": {"max": "200000"}})
        with acting(checker, bank):
            changes.approve(session, update.id)
            versions = services.product_versions(session, "biz")
            diff = services.diff_against_template(session, "biz")
        assert [(v.version, v.status) for v in versions] == [(1, "superseded"), (2, "active")]
        assert versions[0].terms["amount"]["max"] == "300000"
        assert [(d.field, d.template, d.tenant) for d in diff["differences"]] == [("amount.max", "500000", "200000")]
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "product.update")).one()
        assert audit.before["version"] == 1 and audit.after["version"] == 2
        versions[0].name_en = "Changed"
        with pytest.raises(Conflict, match="immutable"):
            session.flush()
        session.rollback()


def test_loosening_is_refused_at_proposal_naming_the_field(bank):
    maker = person("tenant_admin", bank, MAKER)
    with tenant_session(bank) as session, session.begin(), acting(maker, bank):
        with pytest.raises(TermsError) as caught:
            services.propose_adoption(session, "biz", "biz_operating", 1, {
                "regulatory": {"entrusted_payment.personal_business_threshold": "800000"}})
        assert caught.value.field == "regulatory.entrusted_payment.personal_business_threshold"
        with pytest.raises(TermsError, match="amount.max"):
            services.propose_adoption(session, "biz", "biz_operating", 1, {"amount": {"max": "900000"}})
        with pytest.raises(NotFound):
            services.propose_adoption(session, "biz", "biz_operating", 99)
        assert services.pending_changes(session) == []


def test_machine_clients_cannot_be_makers(bank):
    client = Principal(None, "client-1", Context.TENANT, bank.slug,
                       STANDARD_ROLES["tenant_admin"].permissions, frozenset(), client_id="client-1")
    with tenant_session(bank) as session, session.begin(), acting_client(client, bank):
        with pytest.raises(AccessDenied, match="proposed by a person"):
            services.propose_adoption(session, "biz", "biz_operating", 1)


@contextmanager
def acting_client(principal, tenant):
    with CurrentPrincipal.bind(principal), CurrentActor.bind(Actor("client-1", ActorKind.CLIENT)), \
            CurrentTenant.bind(tenant):
        yield


def test_regional_product_through_maker_checker(bank):
    maker, checker = person("tenant_admin", bank, MAKER), person("tenant_admin", bank, CHECKER)
    import creditfactory_plugin_yunnan_agri as yunnan

    terms = {t.code: t for t in yunnan.register_product_templates({})}["yn_grass_loan"].terms
    with tenant_session(bank) as session, session.begin():
        with acting(maker, bank):
            loose = {**terms, "regulatory": {"entrusted_payment.personal_business_threshold": "600000"}}
            with pytest.raises(TermsError, match="regulatory.entrusted_payment.personal_business_threshold"):
                services.propose_regional(session, "yn_grass_loan", "草贷", "Grass loan", loose)
            request = services.propose_regional(session, "yn_grass_loan", "草贷", "Grass loan", terms)
        with acting(checker, bank):
            changes.approve(session, request.id)
            diff = services.diff_against_template(session, "yn_grass_loan")
        assert diff["template"] is None and diff["differences"] == []
        with acting(maker, bank), pytest.raises(services.ProductError, match="full terms"):
            services.propose_update(session, "yn_grass_loan", {"amount": {"max": "1"}})


def test_rejected_change_applies_nothing(bank):
    maker, checker = person("tenant_admin", bank, MAKER), person("tenant_admin", bank, CHECKER)
    with tenant_session(bank) as session, session.begin():
        with acting(maker, bank):
            request = services.propose_adoption(session, "farm", "farm_household", 1)
            assert [c.id for c in services.pending_changes(session)] == [request.id]
        with acting(checker, bank):
            changes.reject(session, request.id, "wait for the board")
        assert session.scalars(select(Product).where(Product.code == "farm")).first() is None


def test_declared_products_are_applied_idempotently_and_audited(bank, enabled_plugin):
    import creditfactory_plugin_yunnan_agri as yunnan

    enabled_plugin(yunnan, "yunnan_agri", bank)  # offers the regional 草贷 and 饲料贷 the Pu'er file names
    catalogue = declared.load_folder(TENANTS_DIR)
    entries = catalogue.products["puer"]
    with CurrentActor.bind(Actor("cli:operator", ActorKind.SYSTEM)):
        first = declared.apply_tenant_products(bank.slug, entries)
        again = declared.apply_tenant_products(bank.slug, entries)
    assert first == [f"product {bank.slug}/{e['code']} v1" for e in entries] and again == []
    with tenant_session(bank) as session, session.begin(), SystemContext("test: read"):
        products = {p.code: p for p in services.list_products(session)}
        assert set(products) == {"biz_operating", "farm_household", "yn_grass_loan", "yn_feed_loan"}
        terms = services.terms_of(session, products["biz_operating"].id)
        assert terms.regulatory_value("entrusted_payment.personal_business_threshold") == Decimal("300000")
        assert products["yn_feed_loan"].template_code is None
        entries_audited = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "product.declare")).all()
        assert len(entries_audited) == 4 and {e.actor for e in entries_audited} == {"cli:operator"}


def test_bad_declarations_are_refused_before_anything_changes(tmp_path):
    (tmp_path / "_standard" / "products").mkdir(parents=True)
    for path in (TENANTS_DIR / "_standard" / "products").glob("*.yaml"):
        (tmp_path / "_standard" / "products" / path.name).write_text(path.read_text(encoding="utf-8"),
                                                                      encoding="utf-8")
    (tmp_path / "bank.yaml").write_text(
        "products:\n  - code: biz\n    template: biz_operating\n    template_version: 1\n"
        "    overrides: {regulatory: {entrusted_payment.personal_business_threshold: '900000'}}\n",
        encoding="utf-8")
    with pytest.raises(declared.DeclaredProductsError,
                       match="bank.yaml: product 'biz': regulatory.entrusted_payment.personal_business_threshold"):
        declared.load_folder(tmp_path)


def test_tenants_apply_gives_the_demo_banks_their_products(cf_settings, tmp_path, demo_plugins):
    import shutil

    from click.testing import CliRunner

    from creditfactory.cli import cli

    folder = tmp_path / "tenants"
    shutil.copytree(TENANTS_DIR, folder)
    for path in folder.glob("*.yaml"):  # unique slugs and codes: other tests provision the demo banks too
        (folder / f"{path.stem}p7.yaml").write_text(path.read_text().replace("DEMO-", "DEMOP7-"))
        path.unlink()
    runner = CliRunner()
    first = runner.invoke(cli, ["tenants", "apply", str(folder)], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "product puerp7/yn_grass_loan v1" in first.output and "product honghup7/revolving_line v1" in first.output
    again = runner.invoke(cli, ["tenants", "apply", str(folder)], catch_exceptions=False)
    assert again.exit_code == 0 and "product " not in again.output
    with tenant_session(declared.directory.get("puerp7")) as session, session.begin(), SystemContext("test"):
        assert {p.code for p in services.list_products(session)} == {
            "biz_operating", "farm_household", "yn_grass_loan", "yn_feed_loan"}
    # A loosening in a file is refused before anything changes, naming the field; exit code 2.
    spec = folder / "puerp7.yaml"
    spec.write_text(spec.read_text().replace('amount: {max: "300000"}', 'amount: {max: "800000"}'))
    refused = runner.invoke(cli, ["tenants", "apply", str(folder)])
    assert refused.exit_code == 2 and "puerp7.yaml: product 'biz_operating': amount.max" in refused.output
