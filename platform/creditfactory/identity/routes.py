"""Change requests API (双人复核): list the bank's configuration changes, approve or reject one.

Listing needs ``config:write`` (makers and apps following their changes) or ``config:approve``; approving and
rejecting need ``config:approve``, a people-only scope: the second pair of eyes is always a person, never a machine
client. The services check permissions again (``identity/administration.py``).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from ..db import shared_session, tenant_session
from ..web.smorest import Blueprint
from . import administration
from .models import ChangeStatus
from .scopes import Scope

blp = Blueprint("changes", __name__, url_prefix="/changes",
                description="Configuration changes of the village bank awaiting, or decided by, a second person.")


class FieldDiffSchema(ma.Schema):
    name = ma.fields.String()
    before = ma.fields.Raw(allow_none=True, metadata={"description": "The value now (pending changes only)"})
    after = ma.fields.Raw(allow_none=True, metadata={"description": "The value once applied"})
    added = ma.fields.List(ma.fields.Raw(), metadata={"description": "For list fields: items the change adds"})
    removed = ma.fields.List(ma.fields.Raw(), metadata={"description": "For list fields: items the change removes"})
    changed = ma.fields.Boolean()


class ChangeSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"description": "e.g. role.custom.upsert, membership.grant"})
    target = ma.fields.String()
    status = ma.fields.String(metadata={"description": "pending, approved, rejected or applied"})
    maker = ma.fields.String(metadata={"description": "Username of the person who proposed it"})
    made_at = ma.fields.DateTime()
    checker = ma.fields.String(allow_none=True)
    checked_at = ma.fields.DateTime(allow_none=True)
    reason = ma.fields.String(metadata={"description": "Why it was rejected"})
    payload = ma.fields.Dict()
    before = ma.fields.Dict(allow_none=True)
    fields = ma.fields.List(ma.fields.Nested(FieldDiffSchema))


class ChangeQueryArgsSchema(ma.Schema):
    status = ma.fields.String(validate=ma.validate.OneOf([s.value for s in ChangeStatus]))


class RejectionSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))


@blp.route("")
class ChangesViews(MethodView):
    @blp.auth(Scope.CONFIG_WRITE)
    @blp.arguments(ChangeQueryArgsSchema, location="query")
    @blp.response(200, ChangeSchema(many=True))
    def get(self, args: dict[str, Any]) -> list[administration.ChangeView]:
        """Change requests the caller may see, newest first: all for a checker, else those of kinds it may propose
        and its own"""
        with tenant_session() as tenant_db, shared_session() as shared:
            return administration.list_changes(shared, tenant_db, status=args.get("status"))


@blp.route("/<int:change_id>/approve")
class ApproveViews(MethodView):
    @blp.auth(Scope.CONFIG_APPROVE)
    @blp.response(200, ChangeSchema)
    def post(self, change_id: int) -> administration.ChangeView:
        """Approve a pending change (never one's own) and apply it"""
        return _decide(change_id, lambda tenant_db: administration.approve_change(tenant_db, change_id))


@blp.route("/<int:change_id>/reject")
class RejectViews(MethodView):
    @blp.auth(Scope.CONFIG_APPROVE)
    @blp.arguments(RejectionSchema)
    @blp.response(200, ChangeSchema)
    def post(self, args: dict[str, Any], change_id: int) -> administration.ChangeView:
        """Reject a pending change (never one's own) with the reason the maker will read"""
        return _decide(change_id, lambda tenant_db: administration.reject_change(tenant_db, change_id,
                                                                                 args["reason"]))


def _decide(change_id: int, action) -> administration.ChangeView:
    with tenant_session() as tenant_db, tenant_db.begin():
        action(tenant_db)
    with tenant_session() as tenant_db, shared_session() as shared:
        return administration.get_change(shared, tenant_db, change_id)
