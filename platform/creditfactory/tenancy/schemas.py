"""Tenancy API schemas."""

from __future__ import annotations

import marshmallow as ma


class TenantProfileSchema(ma.Schema):
    """Public profile of a village bank (村镇银行)."""

    slug = ma.fields.String(metadata={"description": "Short name in URLs: /t/<slug>/ or <slug>.<base domain>"})
    name_zh = ma.fields.String(metadata={"description": "Registered name in Chinese"})
    name_en = ma.fields.String(metadata={"description": "Name in English"})
    status = ma.fields.String(metadata={"description": "Lifecycle status; only active tenants serve requests"})
    timezone = ma.fields.String(metadata={"description": "IANA time zone of the bank's business date"})
    locale = ma.fields.String(metadata={"description": "Default language of the bank's staff portal"})
