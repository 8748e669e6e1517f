"""Personal data: identifier rules, envelope encryption per tenant, blind indexes, masked and audited reveals."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import stat
import threading

import pytest
from sqlalchemy import func, select
from stdnum.cn import ric, uscc

from creditfactory.privacy.identifiers import (IdentifierKind, InvalidIdentifier, mask, normalise,
                                               normalise_mobile, normalise_resident_id, normalise_uscc)
from creditfactory.privacy.logs import PiiLogFilter, mask_text


def with_check(base17: str, module=ric) -> str:
    """A synthetic number completed with its correct check character."""
    return base17 + module.calc_check_digit(base17 + "0")


# The worked example of GB 11643-1999 (a standard's sample, nobody's card): 朝阳区, born 1949-12-31, check X.
SAMPLE_ID = "11010519491231002X"
SAMPLE_USCC = with_check("91110108MA01ABCD2", uscc)
SAMPLE_MOBILE = "13812345678"


# --- identifiers: pure functions, no database ---------------------------------------------------------------------

def test_sample_numbers_are_valid():
    assert ric.is_valid(SAMPLE_ID) and uscc.is_valid(SAMPLE_USCC)


@pytest.mark.parametrize("raw, expected", [
    (SAMPLE_ID, SAMPLE_ID),
    (SAMPLE_ID.lower(), SAMPLE_ID),
    (f" {SAMPLE_ID} ", SAMPLE_ID),
    (with_check("11010119900307001"), with_check("11010119900307001")),
])
def test_resident_id_normalised(raw, expected):
    assert normalise_resident_id(raw) == expected


@pytest.mark.parametrize("raw, reason", [
    ("11010519491231002", "must be 18 characters, got 17"),
    ("11010519491231002X1", "must be 18 characters, got 19"),
    ("110105194912310029", "check character does not match"),
    ("1101051949123A002X", "must be 17 digits followed by a digit or X"),
    (with_check("11010519490231002"), "birth date is not a real date"),
    (with_check("11010520991231002"), "birth date is in the future"),
    (with_check("99999919491231002"), "region code (first 6 digits) is unknown"),
])
def test_resident_id_refused_with_reason_and_never_the_value(raw, reason):
    with pytest.raises(InvalidIdentifier) as error:
        normalise_resident_id(raw, today=dt.date(2026, 1, 1))
    assert error.value.kind is IdentifierKind.RESIDENT_ID
    assert reason in str(error.value) and "resident ID number" in str(error.value)
    assert raw not in str(error.value)


def test_uscc():
    assert normalise_uscc(SAMPLE_USCC.lower()) == SAMPLE_USCC
    assert normalise_uscc(f"{SAMPLE_USCC[:9]}-{SAMPLE_USCC[9:]}") == SAMPLE_USCC
    wrong_check = SAMPLE_USCC[:-1] + ("0" if SAMPLE_USCC[-1] != "0" else "1")
    for raw, reason in [(wrong_check, "check character"), (SAMPLE_USCC[:-1], "18 characters"),
                        ("9111010IMA01ABCD2" + "0", "8 digits followed by")]:
        with pytest.raises(InvalidIdentifier, match="unified social credit code") as error:
            normalise_uscc(raw)
        assert reason in str(error.value)


@pytest.mark.parametrize("raw", ["13812345678", "+8613812345678", "+86 138-1234-5678", "008613812345678",
                                 "8613812345678", "(138) 1234 5678"])
def test_mobile_accepted(raw):
    assert normalise_mobile(raw) == SAMPLE_MOBILE


@pytest.mark.parametrize("raw", ["12812345678", "1381234567", "138123456789", "+85213812345678", "1381234567a",
                                 "010-12345678", ""])
def test_mobile_refused(raw):
    with pytest.raises(InvalidIdentifier, match="mobile number"):
        normalise_mobile(raw)


def test_normalise_dispatches_on_kind():
    assert normalise("mobile", "+86 13812345678") == SAMPLE_MOBILE
    assert normalise(IdentifierKind.USCC, SAMPLE_USCC) == SAMPLE_USCC


def test_masks():
    assert mask(IdentifierKind.RESIDENT_ID, "110105194912311234") == "110***********1234"
    assert mask(IdentifierKind.MOBILE, "13812345678") == "138****5678"
    assert mask(IdentifierKind.USCC, SAMPLE_USCC) == SAMPLE_USCC[:2] + "*" * 12 + SAMPLE_USCC[-4:]
    assert mask(IdentifierKind.MOBILE, "1234567") == "*******"


def test_log_text_masked():
    line = (f"customer {SAMPLE_ID} firm {SAMPLE_USCC} phone +8613812345678 or {SAMPLE_MOBILE}; "
            "request 3f9c2a1b4d5e6f708192a3b4c5d6e7f8 at 1733400000123 amount 99912345678901234567890")
    masked = mask_text(line)
    assert SAMPLE_ID not in masked and SAMPLE_USCC not in masked and SAMPLE_MOBILE not in masked
    assert "110***********002X" in masked and "138****5678 or 138****5678" in masked
    assert "3f9c2a1b4d5e6f708192a3b4c5d6e7f8" in masked and "1733400000123" in masked
    assert "99912345678901234567890" in masked


def test_log_filter_masks_messages_and_arguments():
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(self.format(record))

    handler = Collect()
    handler.addFilter(PiiLogFilter())
    logger = logging.getLogger("creditfactory.test_privacy")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("lookup of %s failed for %s", SAMPLE_ID, SAMPLE_MOBILE)
        logger.warning(f"direct {SAMPLE_MOBILE}")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert seen == ["lookup of 110***********002X failed for 138****5678", "direct 138****5678"]


def test_platform_log_handler_masks(cf_settings):
    from creditfactory.web import logs

    logs.configure(cf_settings)
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == logs.HANDLER_NAME)
    assert any(isinstance(f, PiiLogFilter) for f in handler.filters)


# --- master key ---------------------------------------------------------------------------------------------------

def test_master_key_setting_validated_and_never_shown():
    from creditfactory import settings as settings_module

    good = base64.b64encode(bytes(range(32))).decode()
    loaded = settings_module.load(environ={"CREDITFACTORY_MASTER_KEY": good})
    assert good not in repr(loaded)
    for bad, why in [("not base64!", "must be base64"), (base64.b64encode(b"short").decode(), "32 bytes, got 5")]:
        with pytest.raises(settings_module.SettingsError, match="CREDITFACTORY_MASTER_KEY") as error:
            settings_module.load(environ={"CREDITFACTORY_MASTER_KEY": bad})
        assert why in str(error.value) and bad not in str(error.value)


def test_development_master_key_generated_once_private(tmp_path):
    from creditfactory import settings as settings_module
    from creditfactory.privacy.keys import master_key

    settings = settings_module.load(environ={}, data_dir=str(tmp_path))
    first = master_key(settings)
    assert len(first) == 32 and master_key(settings) == first
    assert stat.S_IMODE((tmp_path / "master_key").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["master_key"]
    configured = base64.b64encode(bytes(32)).decode()
    assert master_key(settings_module.load(environ={}, data_dir=str(tmp_path), master_key=configured)) == bytes(32)


def test_secret_key_still_kept_in_the_data_dir(tmp_path):
    from creditfactory import settings as settings_module
    from creditfactory.runner import persistent_secret_key

    settings = settings_module.load(environ={}, data_dir=str(tmp_path))
    assert persistent_secret_key(settings) == persistent_secret_key(settings) == (tmp_path / "secret_key").read_text()


# --- sealing with tenant keys -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bank_x(tenant_factory):
    return tenant_factory(name_en="Privacy X Village Bank")


@pytest.fixture(scope="module")
def bank_y(tenant_factory):
    return tenant_factory(name_en="Privacy Y Village Bank")


def id_field():
    from creditfactory.privacy.fields import PiiField

    return PiiField(IdentifierKind.RESIDENT_ID, "customer.id_number")


def test_seal_round_trip_normalises(bank_x, tenant_db):
    from creditfactory.privacy.fields import seal, unseal

    db = tenant_db(bank_x)
    sealed = seal(db, id_field(), SAMPLE_ID.lower())
    key_id, nonce, ciphertext = sealed.value.split(":")
    assert int(key_id) >= 1 and len(base64.b64decode(nonce)) == 12
    assert SAMPLE_ID not in sealed.value and SAMPLE_ID not in repr(sealed)
    assert unseal(db, id_field(), sealed.value) == SAMPLE_ID
    # A fresh nonce every time: equal values give unrelated ciphertexts but the same blind index.
    again = seal(db, id_field(), SAMPLE_ID)
    assert again.value != sealed.value and again.blind_index == sealed.blind_index


def test_seal_refuses_invalid_input(bank_x, tenant_db):
    from creditfactory.privacy.fields import seal

    with pytest.raises(InvalidIdentifier, match="check character"):
        seal(tenant_db(bank_x), id_field(), "110105194912310029")


def test_ciphertext_bound_to_tenant_column_and_kind(bank_x, bank_y, tenant_db):
    from creditfactory.privacy.fields import PiiField, UnsealError, seal, unseal
    from creditfactory.privacy.keys import active_key

    x, y = tenant_db(bank_x), tenant_db(bank_y)
    active_key(y)
    sealed = seal(x, id_field(), SAMPLE_ID).value
    with pytest.raises(UnsealError, match="another tenant, column or kind"):
        unseal(x, PiiField(IdentifierKind.RESIDENT_ID, "guarantor.id_number"), sealed)
    with pytest.raises(UnsealError):
        unseal(x, PiiField(IdentifierKind.USCC, "customer.id_number"), sealed)
    with pytest.raises(UnsealError):
        unseal(y, id_field(), sealed)
    key_id, nonce, ciphertext = sealed.split(":")
    tampered = bytearray(base64.b64decode(ciphertext))
    tampered[0] ^= 1
    with pytest.raises(UnsealError):
        unseal(x, id_field(), f"{key_id}:{nonce}:{base64.b64encode(bytes(tampered)).decode()}")
    with pytest.raises(UnsealError, match="not a sealed value"):
        unseal(x, id_field(), SAMPLE_ID)


def test_wrapped_key_copied_to_another_tenant_does_not_open(bank_x, bank_y, tenant_db):
    from creditfactory.privacy.keys import KeyUnavailable, active_key, key_by_id
    from creditfactory.privacy.models import DataKey

    x, y = tenant_db(bank_x), tenant_db(bank_y)
    own = active_key(x)
    wrapped = x.scalar(select(DataKey.wrapped_key).where(DataKey.id == own.key_id))
    y.add(DataKey(id=9001, wrapped_key=wrapped, status="retired"))
    y.flush()
    with pytest.raises(KeyUnavailable, match="copied from another tenant"):
        key_by_id(y, 9001)
    with pytest.raises(KeyUnavailable, match="has no data key 9002"):
        key_by_id(y, 9002)


def test_data_key_stored_wrapped_only(bank_x, tenant_db):
    from creditfactory.privacy.keys import active_key
    from creditfactory.privacy.models import DataKey

    db = tenant_db(bank_x)
    key = active_key(db)
    stored = db.scalar(select(DataKey.wrapped_key).where(DataKey.id == key.key_id))
    assert key.data_key not in stored and len(stored) == 12 + 32 + 16
    assert key.data_key.hex() not in repr(key)


def test_blind_index_per_tenant(bank_x, bank_y, tenant_db):
    from creditfactory.privacy.fields import blind_index

    x, y = tenant_db(bank_x), tenant_db(bank_y)
    in_x = blind_index(x, IdentifierKind.MOBILE, "+86 138-1234-5678")
    assert in_x == blind_index(x, "mobile", SAMPLE_MOBILE)
    assert in_x != blind_index(x, "mobile", "13812345679")
    assert in_x != blind_index(y, "mobile", SAMPLE_MOBILE)
    assert len(in_x) == 64 and SAMPLE_MOBILE not in in_x


def test_concurrent_first_use_creates_one_key(tenant_factory):
    from creditfactory.db import tenant_session
    from creditfactory.privacy.keys import active_key
    from creditfactory.privacy.models import DataKey

    bank = tenant_factory(name_en="Privacy Race Village Bank")
    start = threading.Barrier(4)
    ids, errors = [], []

    def first_use():
        try:
            with tenant_session(bank) as db, db.begin():
                start.wait(timeout=10)
                ids.append(active_key(db).key_id)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == [] and len(ids) == 4 and len(set(ids)) == 1
    with tenant_session(bank) as db:
        assert db.scalar(select(func.count()).select_from(DataKey)) == 1


# --- reveal ---------------------------------------------------------------------------------------------------------

def principal_for(tenant, *permissions):
    from creditfactory.identity.permissions import Context
    from creditfactory.identity.principal import Principal

    return Principal(user_id=7, username="li.na", context=Context.TENANT, tenant_slug=tenant.slug,
                     permissions=frozenset(permissions), roles=frozenset({"loan_officer"}))


def test_reveal_end_to_end_through_a_stored_value(bank_x, tenant_db):
    from creditfactory.audit.models import AuditEntry
    from creditfactory.db import CurrentTenant
    from creditfactory.identity.permissions import Permission
    from creditfactory.identity.principal import CurrentPrincipal
    from creditfactory.privacy.access import reveal
    from creditfactory.privacy.fields import blind_index, seal
    from creditfactory.tenancy.models import TenantParameter

    db = tenant_db(bank_x)
    sealed = seal(db, id_field(), SAMPLE_ID)
    db.add(TenantParameter(key="privacy.test.customer", value={"id_number": sealed.value, "idx": sealed.blind_index}))
    db.flush()
    db.expunge_all()
    stored = db.scalar(select(TenantParameter.value).where(TenantParameter.key == "privacy.test.customer"))
    assert stored["idx"] == blind_index(db, "resident_id", SAMPLE_ID)

    def reveals():
        return select(AuditEntry).where(AuditEntry.action == "pii.reveal")

    with CurrentTenant.bind(bank_x):
        with CurrentPrincipal.bind(principal_for(bank_x, Permission.CUSTOMER_READ)):
            assert reveal(db, id_field(), stored["id_number"], object_type="customer", object_id=42) == \
                "110***********002X"
        assert db.scalars(reveals()).all() == []
        # Work without a person behind it (a job, the CLI) sees masked values too.
        assert reveal(db, id_field(), stored["id_number"], object_type="customer", object_id=42) == \
            "110***********002X"
        with CurrentPrincipal.bind(principal_for(bank_x, Permission.CUSTOMER_READ, Permission.PII_READ)):
            assert reveal(db, id_field(), stored["id_number"], object_type="customer", object_id=42) == SAMPLE_ID

    entry = db.scalars(reveals()).one()
    assert (entry.object_type, entry.object_id) == ("customer", "42")
    assert entry.after == {"field": "customer.id_number", "kind": "resident_id"}
    row = json.dumps({c.name: getattr(entry, c.key) for c in AuditEntry.__table__.columns}, default=str)
    assert SAMPLE_ID not in row and SAMPLE_ID[-4:] + '"' not in row


def test_reveal_attributed_to_the_principal_when_no_actor_is_bound(bank_x, tenant_db):
    from creditfactory.audit.context import _current as current_actor
    from creditfactory.audit.models import AuditEntry
    from creditfactory.db import CurrentTenant
    from creditfactory.identity.permissions import Permission
    from creditfactory.identity.principal import CurrentPrincipal
    from creditfactory.privacy.access import reveal
    from creditfactory.privacy.fields import PiiField, seal

    db = tenant_db(bank_x)
    phone = PiiField(IdentifierKind.MOBILE, "customer.mobile")
    sealed = seal(db, phone, SAMPLE_MOBILE)
    token = current_actor.set(None)
    try:
        with CurrentTenant.bind(bank_x), CurrentPrincipal.bind(principal_for(bank_x, Permission.PII_READ)):
            assert reveal(db, phone, sealed.value, object_type="customer", object_id=43) == SAMPLE_MOBILE
    finally:
        current_actor.reset(token)
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "pii.reveal")).one()
    assert (entry.actor, entry.actor_kind) == ("7", "user")


def test_reveal_for_another_tenant_refused(bank_x, bank_y, tenant_db):
    from creditfactory.db import CurrentTenant
    from creditfactory.identity.errors import TenantMismatchDenied
    from creditfactory.identity.permissions import Permission
    from creditfactory.identity.principal import CurrentPrincipal
    from creditfactory.privacy.access import reveal
    from creditfactory.privacy.fields import seal

    db = tenant_db(bank_x)
    sealed = seal(db, id_field(), SAMPLE_ID)
    with CurrentTenant.bind(bank_x), CurrentPrincipal.bind(principal_for(bank_y, Permission.PII_READ)):
        with pytest.raises(TenantMismatchDenied):
            reveal(db, id_field(), sealed.value, object_type="customer", object_id=1)
    with CurrentTenant.bind(bank_y), CurrentPrincipal.bind(principal_for(bank_y, Permission.PII_READ)):
        with pytest.raises(TenantMismatchDenied, match="personal data of tenant"):
            reveal(db, id_field(), sealed.value, object_type="customer", object_id=1)
