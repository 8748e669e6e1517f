"""OAuth API: who the bearer token acts as."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from ...web.smorest import Blueprint
from .protector import current_token

blp = Blueprint("me", __name__, url_prefix="/me", tenant_required=False,
                description="The machine client, or the user through an app, a bearer token acts as.")


class TokenIdentitySchema(ma.Schema):
    client_id = ma.fields.String()
    client_name = ma.fields.String()
    context = ma.fields.String(metadata={"description": "tenant, head_office or regulator"})
    tenant = ma.fields.String(allow_none=True, metadata={"description": "The village bank's slug; null outside one"})
    scopes = ma.fields.List(ma.fields.String())
    user = ma.fields.String(allow_none=True, metadata={"description": "The user's username; null for a machine"})


@blp.route("")
class MeViews(MethodView):
    @blp.auth()
    @blp.response(200, TokenIdentitySchema)
    def get(self) -> dict[str, Any]:
        """The client, context, tenant, scopes and user of the bearer token"""
        token = current_token()
        return {"client_id": token.client.client_id, "client_name": token.client.name, "context": token.context,
                "tenant": token.tenant_slug, "scopes": token.scope.split(),
                "user": token.user.username if token.user is not None else None}
