"""Customers below the web layer: KYC validation, sealing and blind-index duplicates, masking with audited reveals,
related-party rules, documents in the file store, consents and ``require_consent`` (real PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from creditfactory.audit.models import AuditEntry
from creditfactory.db import CurrentTenant
from creditfactory.errors import Conflict, NotFound
from creditfactory.files.store import file_store, key_for
from creditfactory.identity.errors import AccessDenied
from creditfactory.identity.permissions import Context, Permission
from creditfactory.identity.principal import CurrentPrincipal, Principal
from creditfactory.lending.customers import services
from creditfactory.lending.customers.models import Customer

from customer_samples import PNG, resident_id

# Beijing Chaoyang (110105), born 1949-12-31, sequence 002: the 17th digit 2 is even, so female.
ID_1949 = "11010519491231002X"
USCC = "91110108MA01ABCD0K"
MOBILE = "13812345678"

MANAGE = frozenset({Permission.CUSTOMER_READ, Permission.CUSTOMER_MANAGE})


@pytest.fixture(scope="module")
def bank(tenant_factory):
    return tenant_factory(name_en="Customers Village Bank")


@pytest.fixture(scope="module")
def other_bank(tenant_factory):
    return tenant_factory(name_en="Other Village Bank")


@contextmanager
def acting(tenant, permissions=MANAGE | {Permission.PII_READ}, user_id=11):
    principal = Principal(user_id=user_id, username=f"officer{user_id}", context=Context.TENANT,
                          tenant_slug=tenant.slug, permissions=frozenset(permissions), roles=frozenset())
    with CurrentTenant.bind(tenant), CurrentPrincipal.bind(principal):
        yield principal


@pytest.fixture
def db(bank, tenant_db):
    return tenant_db(bank)


def valid_uscc(seed: str = "MA01ABCD0") -> str:
    from stdnum.cn import uscc
    body = f"91110108{seed}"
    return body + uscc.calc_check_digit(body)


def reveals(db):
    return db.scalars(select(AuditEntry).where(AuditEntry.action == "pii.reveal")).all()


# --- KYC ---------------------------------------------------------------------------------------------------------


def test_the_example_identifiers_are_valid():
    # Guards the hand-made samples (calc_check_digit ignores the last character it is given).
    from stdnum.cn import ric
    assert ric.calc_check_digit("11010519491231002" + "?") == "X"
    assert services.normalise(services.USCC.kind, valid_uscc()) == valid_uscc()


def test_create_seals_identifiers_and_derives_birth_date_and_gender(bank, db):
    with acting(bank):
        customer = services.create_customer(db, kind="individual", name="王建国", resident_id=ID_1949.lower(),
                                            mobile="+86 138-1234-5678", address="云南省普洱市思茅区振兴大道1号",
                                            sector_code="f5221", years_in_business=6, household_members=4,
                                            marital_status="married")
    row = db.execute(text("SELECT resident_id_sealed, mobile_sealed, resident_id_index FROM customer WHERE id = :id"),
                     {"id": customer.id}).one()
    # At rest: neither the number nor any recognisable part of it.
    assert "19491231" not in row.resident_id_sealed and MOBILE not in row.mobile_sealed
    assert len(row.resident_id_index) == 64
    assert customer.birth_date == dt.date(1949, 12, 31)
    # The 17th digit (2) is even: female.
    assert customer.gender == "female"
    assert customer.sector_code == "F5221"
    assert customer.officer_user_id == 11 and customer.created_by_user_id == 11
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "customer.create")).one()
    assert entry.after["resident_id"] == "110***********002X" and entry.after["mobile"] == "138****5678"
    assert ID_1949 not in str(entry.after)


def test_view_is_masked_without_pii_read_and_clear_reads_are_audited(bank, db):
    with acting(bank):
        customer = services.create_customer(db, kind="individual", name="李梅", resident_id=ID_1949, mobile=MOBILE,
                                            address="云南省普洱市思茅区振兴大道1号")
    with acting(bank, MANAGE):
        masked = services.customer_view(db, customer)
    assert masked["resident_id"] == "110***********002X"
    assert masked["mobile"] == "138****5678"
    assert masked["address"].startswith("云南省普洱市") and "振兴" not in masked["address"]
    assert masked["birth_date"] == "1949-**-**" and masked["pii_clear"] is False
    assert reveals(db) == []
    with acting(bank):
        clear = services.customer_view(db, customer)
    assert clear["resident_id"] == ID_1949 and clear["mobile"] == MOBILE and clear["birth_date"] == "1949-12-31"
    fields = sorted(entry.after["field"] for entry in reveals(db))
    assert fields == ["customer.address", "customer.mobile", "customer.resident_id"]
    assert all(entry.actor == "11" or entry.actor.startswith("test:") for entry in reveals(db))


def test_the_same_id_number_twice_is_refused_with_a_clear_error(bank, db):
    with acting(bank):
        first = services.create_customer(db, kind="individual", name="赵一", resident_id=ID_1949)
        with pytest.raises(services.DuplicateCustomer, match=f"resident ID number .* already exists: customer "
                                                             f"{first.id}"):
            services.create_customer(db, kind="household", name="赵一家", resident_id=ID_1949.lower())
        enterprise = services.create_customer(db, kind="micro_enterprise", name="普洱茶叶有限公司", uscc=valid_uscc(),
                                              legal_representative_name="赵一")
        with pytest.raises(services.DuplicateCustomer, match="unified social credit code"):
            services.create_customer(db, kind="micro_enterprise", name="同一家公司", uscc=valid_uscc().lower())
        assert enterprise.id


def test_the_same_id_number_in_another_bank_is_another_customer(bank, other_bank, tenant_db):
    with acting(bank):
        a = services.create_customer(tenant_db(bank), kind="individual", name="钱二", resident_id=ID_1949)
    other = tenant_db(other_bank)
    with acting(other_bank):
        b = services.create_customer(other, kind="individual", name="钱二", resident_id=ID_1949)
        # Blind indexes are keyed per bank: equal numbers, unrelated indexes.
        assert a.resident_id_index != b.resident_id_index
        assert [c.id for c in services.search_customers(other, resident_id=ID_1949)] == [b.id]


def test_every_invalid_field_is_reported_at_once(bank, db):
    with acting(bank), pytest.raises(services.CustomerInvalid) as refused:
        services.create_customer(db, kind="individual", name=" ", resident_id="110105194912310021",
                                 mobile="12345", sector_code="Z99", years_in_business=101, household_members=0,
                                 marital_status="complicated", legal_representative_name="某人")
    errors = refused.value.errors
    assert set(errors) == {"name", "resident_id", "mobile", "sector_code", "years_in_business", "household_members",
                           "marital_status", "legal_representative_name"}
    assert "check character" in errors["resident_id"]
    assert db.scalar(select(Customer.id)) is None


@pytest.mark.parametrize("kind, values, field", [
    ("micro_enterprise", {}, "uscc"),
    ("micro_enterprise", {"uscc": "VALID", "resident_id": ID_1949}, "resident_id"),
    ("micro_enterprise", {"uscc": "VALID", "marital_status": "married"}, "marital_status"),
    ("household", {"resident_id": ID_1949, "uscc": "VALID"}, "uscc"),
    ("individual", {}, "resident_id"),
    ("individual", {"resident_id": ID_1949, "uscc": "91110108MA01ABCD0A"}, "uscc"),
])
def test_identifiers_must_fit_the_kind_of_customer(bank, db, kind, values, field):
    values = {k: (valid_uscc() if v == "VALID" else v) for k, v in values.items()}
    with acting(bank), pytest.raises(services.CustomerInvalid) as refused:
        services.create_customer(db, kind=kind, name="某客户", **values)
    assert field in refused.value.errors


def test_an_individual_business_owner_may_have_a_uscc(bank, db):
    with acting(bank):
        customer = services.create_customer(db, kind="individual", name="张记小卖部", resident_id=ID_1949,
                                            uscc=valid_uscc("MA02XYW11"))
    assert customer.uscc_index and customer.resident_id_index


def test_search_by_identifier_uses_the_blind_index_and_by_name_contains(bank, db):
    with acting(bank):
        customer = services.create_customer(db, kind="individual", name="孙_百%分", resident_id=ID_1949,
                                            mobile=MOBILE)
        services.create_customer(db, kind="individual", name="孙悟空", resident_id=resident_id())
        assert [c.id for c in services.search_customers(db, resident_id=ID_1949.lower())] == [customer.id]
        assert [c.id for c in services.search_customers(db, mobile="+8613812345678")] == [customer.id]
        # LIKE wildcards in a name are literal.
        assert [c.id for c in services.search_customers(db, name="_百%")] == [customer.id]
        assert len(services.search_customers(db, name="孙")) == 2
        with pytest.raises(services.CustomerInvalid, match="resident_id"):
            services.search_customers(db, resident_id="123")
        with pytest.raises(services.CustomerInvalid, match="query"):
            services.search_customers(db)


def test_my_customers_are_those_i_registered_or_am_assigned(bank, db):
    with acting(bank, user_id=21):
        mine = services.create_customer(db, kind="individual", name="甲", resident_id=resident_id())
    with acting(bank, user_id=22):
        assigned = services.create_customer(db, kind="individual", name="乙", resident_id=resident_id(),
                                            officer_user_id=21)
        services.create_customer(db, kind="individual", name="丙", resident_id=resident_id())
    with acting(bank, user_id=21):
        assert {c.id for c in services.list_customers(db, mine=True)} == {mine.id, assigned.id}
        assert len(services.list_customers(db)) == 3


def test_update_reseals_rechecks_duplicates_and_keeps_the_kind(bank, db):
    other_id = resident_id()
    with acting(bank):
        customer = services.create_customer(db, kind="individual", name="周", resident_id=ID_1949)
        services.create_customer(db, kind="individual", name="吴", resident_id=other_id)
        with pytest.raises(services.DuplicateCustomer):
            services.update_customer(db, customer.id, resident_id=other_id)
        with pytest.raises(services.CustomerInvalid, match="kind"):
            services.update_customer(db, customer.id, kind="household")
        with pytest.raises(services.CustomerInvalid, match="resident_id"):
            services.update_customer(db, customer.id, resident_id=None)
        updated = services.update_customer(db, customer.id, mobile=MOBILE, years_in_business=2)
        assert services.customer_view(db, updated)["mobile"] == MOBILE
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "customer.update")).one()
    assert entry.before["mobile"] is None and entry.after["mobile"] == "138****5678"
    assert entry.after["years_in_business"] == 2


def test_reading_and_changing_need_their_permissions(bank, db):
    with acting(bank, {Permission.CUSTOMER_READ}):
        with pytest.raises(AccessDenied):
            services.create_customer(db, kind="individual", name="无权", resident_id=ID_1949)
        with pytest.raises(NotFound):
            services.get_customer(db, 999999)
    with acting(bank, {Permission.APPLICATION_READ}), pytest.raises(AccessDenied):
        services.list_customers(db)


# --- related parties ---------------------------------------------------------------------------------------------


@pytest.fixture
def people(bank, db):
    with acting(bank):
        husband = services.create_customer(db, kind="individual", name="陈先生", resident_id=resident_id(),
                                           marital_status="married")
        wife = services.create_customer(db, kind="household", name="林女士", resident_id=resident_id())
        company = services.create_customer(db, kind="micro_enterprise", name="思茅米线厂", uscc=valid_uscc("MA03QWE12"))
    return husband, wife, company


def test_spouse_rules(bank, db, people):
    husband, wife, company = people
    with acting(bank):
        party = services.add_related_party(db, husband.id, role="spouse", related_customer_id=wife.id)
        assert services.party_view(db, party)["name"] == "林女士"
        with pytest.raises(Conflict, match="already has a spouse"):
            services.add_related_party(db, husband.id, role="spouse", name="另一人")
        with pytest.raises(Conflict, match="not an enterprise"):
            services.add_related_party(db, company.id, role="spouse", name="某人")
        with pytest.raises(Conflict, match="must be a person"):
            services.add_related_party(db, wife.id, role="spouse", related_customer_id=company.id)
        with pytest.raises(Conflict, match="own related party"):
            services.add_related_party(db, wife.id, role="guarantor", related_customer_id=wife.id)
        # A spouse recorded means the marital status cannot drop to single behind it.
        with pytest.raises(Conflict, match="spouse"):
            services.update_customer(db, husband.id, marital_status="single")


def test_a_single_customer_has_no_spouse(bank, db):
    with acting(bank):
        single = services.create_customer(db, kind="individual", name="单身", resident_id=resident_id(),
                                          marital_status="single")
        with pytest.raises(Conflict, match="marital status is single"):
            services.add_related_party(db, single.id, role="spouse", name="某人")


def test_enterprise_roles_shares_and_sealed_person_records(bank, db, people):
    husband, wife, company = people
    rep_id = resident_id()
    with acting(bank):
        with pytest.raises(Conflict, match="micro enterprise"):
            services.add_related_party(db, husband.id, role="shareholder", name="某人", share_percent="10")
        rep = services.add_related_party(db, company.id, role="legal_representative", name="陈老板",
                                         resident_id=rep_id, mobile=MOBILE)
        with pytest.raises(Conflict, match="already has a legal representative"):
            services.add_related_party(db, company.id, role="legal_representative", related_customer_id=husband.id)
        services.add_related_party(db, company.id, role="shareholder", related_customer_id=husband.id,
                                   share_percent="60.5")
        with pytest.raises(Conflict, match="100.5000%"):
            services.add_related_party(db, company.id, role="shareholder", name="陈老板", share_percent=Decimal("40"))
        with pytest.raises(services.CustomerInvalid, match="share_percent"):
            services.add_related_party(db, company.id, role="guarantor", name="担保人", share_percent="5")
        with pytest.raises(services.CustomerInvalid, match="resident_id"):
            services.add_related_party(db, company.id, role="guarantor", name="担保人", resident_id="123")
        services.add_related_party(db, company.id, role="guarantor", name="陈老板", resident_id=rep_id)
        with pytest.raises(Conflict, match="already recorded as guarantor"):
            services.add_related_party(db, company.id, role="guarantor", name="x", resident_id=rep_id)
    assert rep_id not in rep.resident_id_sealed and rep.resident_id_index
    with acting(bank, MANAGE):
        view = services.party_view(db, rep)
    assert view["resident_id"] == rep_id[:3] + "*" * 11 + rep_id[-4:] and view["mobile"] == "138****5678"
    with acting(bank):
        assert services.party_view(db, rep)["resident_id"] == rep_id
        services.remove_related_party(db, company.id, rep.id)
        assert [p.role for p in services.list_related_parties(db, company.id)] == ["shareholder", "guarantor"]


# --- documents ---------------------------------------------------------------------------------------------------


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 64
PDF = b"%PDF-1.7\n" + b"0" * 64


def test_upload_sniffs_the_type_and_stores_by_sha256_under_the_tenant_prefix(bank, db, people):
    import hashlib
    husband = people[0]
    with acting(bank):
        photo = services.upload_document(db, husband.id, doc_type="site_photo", filename="../../etc/passwd.png",
                                         data=JPEG)
        again = services.upload_document(db, husband.id, doc_type="other", filename="copy.jpg", data=JPEG)
    digest = hashlib.sha256(JPEG).hexdigest()
    assert photo.content_type == "image/jpeg" and photo.sha256 == digest and photo.size_bytes == len(JPEG)
    assert photo.storage_key == key_for(bank.slug, digest) == again.storage_key
    assert "/" not in photo.filename
    assert file_store().get(photo.storage_key) == JPEG


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"<html><script>alert(1)</script>", "not a photo or PDF"),
    (b"MZ\x90\x00 executable", "not a photo or PDF"),
])
def test_upload_refuses_what_is_no_photo_or_pdf(bank, db, people, data, message):
    with acting(bank), pytest.raises(services.CustomerInvalid, match=message):
        services.upload_document(db, people[0].id, doc_type="other", filename="x.jpg", data=data)


def test_upload_refuses_files_over_the_limit(bank, db, people, cf_settings, monkeypatch):
    import dataclasses

    from creditfactory import settings as settings_module
    monkeypatch.setattr(settings_module, "get", lambda: dataclasses.replace(cf_settings, upload_max_bytes=100))
    with acting(bank), pytest.raises(services.CustomerInvalid, match="limit is 100 bytes"):
        services.upload_document(db, people[0].id, doc_type="contract", filename="c.pdf", data=PDF + b"0" * 100)


def test_download_is_audited_and_sensitive_documents_need_pii_read(bank, db, people):
    husband = people[0]
    with acting(bank):
        photo = services.upload_document(db, husband.id, doc_type="site_photo", filename="shop.png", data=PNG)
        card = services.upload_document(db, husband.id, doc_type="id_card", filename="card.pdf", data=PDF)
    with acting(bank, MANAGE):
        assert services.read_document(db, husband.id, photo.id)[1] == PNG
        with pytest.raises(AccessDenied, match="pii.read"):
            services.read_document(db, husband.id, card.id)
        with pytest.raises(NotFound):
            services.read_document(db, people[1].id, photo.id)
    with acting(bank):
        assert services.read_document(db, husband.id, card.id)[1] == PDF
    downloads = db.scalars(select(AuditEntry).where(AuditEntry.action == "customer.document.download")).all()
    assert [entry.after["document_id"] for entry in downloads] == [photo.id, card.id]


# --- consents ----------------------------------------------------------------------------------------------------


def grant(db, customer_id, **overrides):
    values = {"purpose": "bureau_query", "scope": "查询征信报告，用于本次贷款审批", "consent_type": "written",
              "channel": "paper_scan", "evidence_signature": "ESIGN-2026-0001"}
    return services.grant_consent(db, customer_id, **{**values, **overrides})


@pytest.mark.parametrize("overrides, field", [
    ({"consent_type": "general"}, "consent_type"),
    ({"consent_type": "separate"}, "consent_type"),
    ({"purpose": "bank_statement_analysis", "consent_type": "general"}, "consent_type"),
    ({"purpose": "marketing", "consent_type": "general", "sensitive": True}, "consent_type"),
    ({"purpose": "guarantor_data_sharing", "consent_type": "separate"}, "recipients"),
    ({"evidence_signature": None}, "evidence"),
    ({"evidence_document_id": 999999}, "evidence_document_id"),
    ({"scope": "  "}, "scope"),
    ({"expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)}, "expires_at"),
    ({"granted_at": dt.datetime(2020, 1, 1)}, "granted_at"),
])
def test_consents_that_break_the_rules_are_refused(bank, db, people, overrides, field):
    with acting(bank), pytest.raises(services.CustomerInvalid) as refused:
        grant(db, people[0].id, **overrides)
    assert field in refused.value.errors


def test_require_consent_active_expired_withdrawn_missing(bank, db, people, now):
    customer = people[0].id
    start = now.at
    with acting(bank):
        with pytest.raises(services.ConsentMissing, match="no consent for bureau_query"):
            services.require_consent(db, customer, "bureau_query", start)
        scan = services.upload_document(db, customer, doc_type="other", filename="授权书.pdf", data=PDF)
        consent = grant(db, customer, evidence_document_id=scan.id, evidence_signature=None,
                        expires_at=start + dt.timedelta(days=30))
        assert consent.captured_by == "officer11" and consent.granted_at == start
        assert services.require_consent(db, customer, "bureau_query", start + dt.timedelta(days=29)).id == consent.id
        with pytest.raises(services.ConsentMissing, match="expired"):
            services.require_consent(db, customer, "bureau_query", start + dt.timedelta(days=30))
        with pytest.raises(services.ConsentMissing, match="bank_statement_analysis"):
            services.require_consent(db, customer, "bank_statement_analysis", start)
        now.advance(hours=1)
        withdrawn = services.withdraw_consent(db, customer, consent.id, reason="客户来电撤回授权")
        assert withdrawn.withdrawn_at == start + dt.timedelta(hours=1) and withdrawn.withdrawn_by == "officer11"
        # Immediate and final: no question about an earlier moment makes it count again.
        for at in (start, start + dt.timedelta(minutes=30), now.at):
            with pytest.raises(services.ConsentMissing, match="withdrew"):
                services.require_consent(db, customer, "bureau_query", at)
        with pytest.raises(Conflict, match="already withdrawn"):
            services.withdraw_consent(db, customer, consent.id, reason="again")
        with pytest.raises(services.CustomerInvalid, match="reason"):
            services.withdraw_consent(db, customer, grant(db, customer).id, reason=" ")
        # A new consent after the withdrawal covers the purpose again.
        assert services.require_consent(db, customer, "bureau_query", now.at).purpose == "bureau_query"
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "customer.consent.withdraw")).one()
    assert entry.after["reason"] == "客户来电撤回授权" and entry.before["withdrawn_at"] is None


def test_sensitive_purposes_are_marked_sensitive(bank, db, people):
    with acting(bank):
        consent = grant(db, people[0].id, purpose="bank_statement_analysis", consent_type="separate",
                        data_categories=["银行账户流水"])
    assert consent.sensitive is True and consent.data_categories == ["银行账户流水"]
