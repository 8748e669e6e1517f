"""Tenancy API: the profile of the village bank a request is addressed to."""

from __future__ import annotations

from flask.views import MethodView

from ..db import CurrentTenant, TenantRef
from ..web.smorest import Blueprint
from .schemas import TenantProfileSchema

blp = Blueprint("tenant", __name__, url_prefix="/tenant", description="The village bank this request is addressed to.")


@blp.route("")
class CurrentTenantViews(MethodView):
    @blp.public("the bank's published profile (names, status, time zone, language), which apps need before anyone logs in")
    @blp.response(200, TenantProfileSchema)
    def get(self) -> TenantRef:
        """Profile of the village bank named by the request's path or host"""
        return CurrentTenant.get()
