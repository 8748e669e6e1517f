"""Product terms: parsing with the field named, the tightening rules, the diff, the application check (no database)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from creditfactory.errors import DomainError
from creditfactory.lending.products.terms import (ApplicationOutOfTerms, Difference, TermsError, apply_overrides,
                                                  check_application_terms, check_regulatory_floor, diff_terms,
                                                  parse_terms, terms_document)

STANDARD = Path(__file__).resolve().parents[1] / "tenants" / "_standard" / "products"


def template(code: str = "biz_operating") -> dict:
    return yaml.safe_load((STANDARD / f"{code}.v1.yaml").read_text(encoding="utf-8"))["terms"]


def test_standard_templates_parse_with_domain_defaults():
    terms = parse_terms(template())
    assert terms.amount.min == Decimal("10000") and terms.amount.max == Decimal("500000")
    assert terms.day_count == "act360" and terms.rounding == "ROUND_HALF_UP"
    assert terms.allocation_order == ("penalty", "overdue_interest", "overdue_principal", "current_interest",
                                      "current_principal")
    assert terms.regulatory_value("entrusted_payment.personal_business_threshold") == Decimal("500000")
    assert terms.regulatory_value("concentration.single_borrower_pct_net_capital") == Decimal("0.05")
    assert terms.investigation.cross_check("SALES_VS_SAMPLE").tolerance_pct == Decimal("0.10")
    assert terms.investigation.ratio("repayment_capacity_ratio_max").value == Decimal("0.70")
    assert terms.rate_range_for("retail").min == Decimal("0.06")
    assert terms.rate_range_for("services").min == Decimal("0.0435")  # no sector price: the product's range
    # Penalty rate: contract 6.12 % × 1.5 = 9.18 %.
    assert terms.penalty_rate(Decimal("0.0612")) == Decimal("0.09180000")
    # Every standard template parses; the revolving line offers only revolving draws.
    assert parse_terms(template("revolving_line")).repayment_methods == ("revolving",)
    assert parse_terms(template("farm_household")).investigation.cross_check("GROSS_MARGIN") is None


def test_round_trip_is_canonical():
    terms = parse_terms(template())
    assert parse_terms(terms_document(terms)) == terms


@pytest.mark.parametrize("change, field", [
    ({"amount": {"min": "600000", "max": "500000"}}, "amount.min"),
    ({"term_months": {"min": 3, "max": "x"}}, "term_months.max"),
    ({"annual_rate": {"min": "0.05", "max": "1.5"}}, "annual_rate.max"),
    ({"repayment_methods": ["equal_installment", "weekly"]}, "repayment_methods"),
    ({"day_count": "act366"}, "day_count"),
    ({"grace_days": 5}, "grace_days"),
    ({"sector_pricing": {"mining": {"min": "0.05", "max": "0.06"}}}, "sector_pricing.mining"),
    ({"investigation": {"cross_checks": {"VIBES": {}}}}, "investigation.cross_checks.VIBES"),
    ({"regulatory": {"entrusted_payment.unknown": "1"}}, "regulatory.entrusted_payment.unknown"),
    ({"colour": "red"}, "colour"),
])
def test_bad_terms_name_the_field(change, field):
    with pytest.raises(TermsError) as caught:
        parse_terms({**template(), **change})
    assert caught.value.field == field and field in str(caught.value)
    assert isinstance(caught.value, DomainError) and caught.value.status == 422


def test_overrides_may_tighten():
    terms = apply_overrides(template(), {
        "amount": {"max": "300000"}, "term_months": {"min": 6},
        "repayment_methods": ["equal_installment"], "eligible_sectors": ["retail", "catering"],
        "required_documents": ["id_card", "business_license", "bank_statements_6m", "site_visit_photos",
                               "credit_report_consent", "tax_records"],
        "investigation": {"cross_checks": {"GROSS_MARGIN": {"tolerance_pct": "0.05"}},
                          "ratios": {"repayment_capacity_ratio_max": "0.60", "quick_ratio_min": "1.2"}},
        "regulatory": {"entrusted_payment.personal_business_threshold": "300000",
                       "classification.dpd_substandard": "60"},
        "approval": {"single_approver_max_amount": "100000", "committee_quorum": 5},
    })
    assert terms.amount.max == Decimal("300000") and terms.term_months.min == 6
    # Narrowing the sectors drops the pricing of the sectors no longer served.
    assert {p.sector for p in terms.sector_pricing} == {"retail", "catering"}
    assert terms.regulatory_value("entrusted_payment.personal_business_threshold") == Decimal("300000")


@pytest.mark.parametrize("overrides, field", [
    ({"amount": {"max": "600000"}}, "amount.max"),
    ({"amount": {"min": "5000"}}, "amount.min"),
    ({"annual_rate": {"max": "0.20"}}, "annual_rate.max"),
    ({"sector_pricing": {"retail": {"min": "0.05", "max": "0.15"}}}, "sector_pricing.retail.min"),
    ({"repayment_methods": ["equal_installment", "bullet"]}, "repayment_methods"),
    ({"eligible_sectors": ["retail", "mining"]}, "eligible_sectors"),
    ({"collateral_types": ["credit", "crypto"]}, "collateral_types"),
    ({"required_documents": ["id_card"]}, "required_documents"),
    ({"day_count": "act365"}, "day_count"),
    ({"grace_period_max_months": 6}, "grace_period_max_months"),
    ({"penalty_rate_markup": "0.8"}, "penalty_rate_markup"),
    ({"investigation": {"cross_checks": {"GROSS_MARGIN": {"tolerance_pct": "0.2"}}}},
     "investigation.cross_checks.GROSS_MARGIN.tolerance_pct"),
    ({"investigation": {"ratios": {"repayment_capacity_ratio_max": "0.80"}}},
     "investigation.ratios.repayment_capacity_ratio_max"),
    ({"investigation": {"ratios": {"quick_ratio_min": "0.8"}}}, "investigation.ratios.quick_ratio_min"),
    ({"investigation": {"capacity_includes_existing_instalments": False}},
     "investigation.capacity_includes_existing_instalments"),
    ({"approval": {"single_approver_max_amount": "300000"}}, "approval.single_approver_max_amount"),
    ({"approval": {"committee_quorum": 2}}, "approval.committee_quorum"),
    ({"regulatory": {"entrusted_payment.personal_business_threshold": "800000"}},
     "regulatory.entrusted_payment.personal_business_threshold"),
    ({"regulatory": {"classification.dpd_substandard": "120"}}, "regulatory.classification.dpd_substandard"),
    ({"regulatory": {"concentration.single_borrower_pct_net_capital": "0.08"}},
     "regulatory.concentration.single_borrower_pct_net_capital"),
])
def test_loosening_is_refused_naming_the_field(overrides, field):
    with pytest.raises(TermsError) as caught:
        apply_overrides(template(), overrides)
    assert caught.value.field == field, caught.value.problems
    assert field in str(caught.value)


def test_regional_products_may_not_be_looser_than_the_regulatory_defaults():
    check_regulatory_floor(parse_terms(template()))
    loose = parse_terms({**template(), "regulatory": {"entrusted_payment.personal_business_threshold": "900000"}})
    with pytest.raises(TermsError, match="regulatory.entrusted_payment.personal_business_threshold"):
        check_regulatory_floor(loose)


def test_diff_lists_each_changed_field():
    base = parse_terms(template())
    tenant = apply_overrides(template(), {"amount": {"max": "300000"}, "repayment_methods": ["equal_installment"],
                                          "regulatory": {"entrusted_payment.personal_business_threshold": "200000"}})
    assert diff_terms(base, tenant) == [
        Difference("amount.max", "500000", "300000"),
        Difference("regulatory.entrusted_payment.personal_business_threshold", "500000", "200000"),
        Difference("repayment_methods", ["equal_installment", "equal_principal", "interest_only", "balloon"],
                   ["equal_installment"]),
    ]
    assert diff_terms(base, base) == []


def test_check_application_terms():
    terms = parse_terms(template())
    check_application_terms(terms, Decimal("100000"), 12, "equal_installment", "retail")
    check_application_terms(terms, Decimal("10000"), 36, "balloon", "agriculture")  # bounds are inclusive
    with pytest.raises(ApplicationOutOfTerms) as caught:
        check_application_terms(terms, Decimal("600000"), 48, "bullet", "mining")
    assert [name for name, _ in caught.value.problems] == ["amount", "term_months", "repayment_method", "sector"]
    assert caught.value.field == "amount" and "600000 is outside 10000–500000" in str(caught.value)
    with pytest.raises(ApplicationOutOfTerms, match="term_months: 2 is outside 3–36"):
        check_application_terms(terms, Decimal("50000"), 2, "equal_installment", "retail")
