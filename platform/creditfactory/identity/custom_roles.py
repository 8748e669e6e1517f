"""A village bank's custom roles (自定义角色), changed only through maker-checker (kind ``role.custom.upsert``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .changes import ChangeKind, ChangeRequest, ChangeRequestError, propose, register_change_kind
from .models import CustomRole, CustomRoleStatus
from .permissions import Context, Permission
from .roles import ROLE_CODE_RE, STANDARD_ROLES

UPSERT = "role.custom.upsert"


def validate_custom_role(code: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The normalised payload ``{name_zh, name_en, permissions}``; ``ChangeRequestError`` naming every problem."""
    problems = []
    if not ROLE_CODE_RE.match(code or ""):
        problems.append(f"role code {code!r} must match {ROLE_CODE_RE.pattern}")
    elif code in STANDARD_ROLES:
        problems.append(f"{code!r} is a standard role; a custom role needs its own code")
    unknown_fields = sorted(set(payload) - {"name_zh", "name_en", "permissions"})
    if unknown_fields:
        problems.append(f"unknown fields: {', '.join(unknown_fields)}")
    names = {key: str(payload.get(key) or "").strip() for key in ("name_zh", "name_en")}
    problems += [f"{key} is required (at most 200 characters)" for key, name in names.items()
                 if not name or len(name) > 200]
    codes = payload.get("permissions")
    if not isinstance(codes, list) or not codes:
        problems.append("permissions must be a non-empty list of permission codes")
        codes = []
    permissions = set()
    for raw in codes:
        try:
            permission = Permission.parse(str(raw))
        except ValueError as exc:
            problems.append(str(exc))
            continue
        # A village bank cannot mint head-office or regulator powers for itself.
        if permission.context is not Context.TENANT:
            problems.append(f"{permission.code} belongs to the {permission.context.label_en}, not to a village bank")
        permissions.add(permission.code)
    if problems:
        raise ChangeRequestError(f"custom role {code!r}: " + "; ".join(problems))
    return {**names, "permissions": sorted(permissions)}


def propose_custom_role(session: Session, code: str, name_zh: str, name_en: str,
                        permissions: list[str]) -> ChangeRequest:
    """Propose creating or changing custom role ``code``; it takes effect when a second person approves."""
    return propose(session, UPSERT, code, {"name_zh": name_zh, "name_en": name_en, "permissions": permissions})


def _reserve(session: Session, code: str, payload: dict[str, Any]) -> None:
    # A new code is reserved as a pending role that grants nothing; an existing role keeps working unchanged.
    if session.get(CustomRole, code) is None:
        session.add(CustomRole(code=code, name_zh=payload["name_zh"], name_en=payload["name_en"], permissions=[],
                               status=CustomRoleStatus.PENDING.value))


def _apply(session: Session, code: str, payload: dict[str, Any]) -> None:
    role = session.get(CustomRole, code) or CustomRole(code=code)
    role.name_zh, role.name_en = payload["name_zh"], payload["name_en"]
    role.permissions = payload["permissions"]
    role.status = CustomRoleStatus.ACTIVE.value
    session.add(role)


def _release(session: Session, code: str) -> None:
    role = session.get(CustomRole, code)
    if role is not None and role.status == CustomRoleStatus.PENDING.value:
        session.delete(role)


def _current(session: Session, code: str) -> dict[str, Any] | None:
    role = session.get(CustomRole, code)
    if role is None or role.status != CustomRoleStatus.ACTIVE.value:
        return None
    return {"name_zh": role.name_zh, "name_en": role.name_en, "permissions": sorted(role.permissions)}


register_change_kind(ChangeKind(UPSERT, Permission.ROLE_MANAGE, validate_custom_role, _apply, _reserve, _release,
                                _current))
