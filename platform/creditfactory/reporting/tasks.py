"""Console tasks (后台任务): long work started from a page or the API, run by a dramatiq job, with its progress.

A task row records who asked, in which context, the step reached and, for a report, where its file is kept
(``creditfactory.files``, under the ``cf-console`` prefix, which no tenant slug can take because slugs have no
hyphen). Only the principal who asked reads a task and its file; reading it checks the task's permission again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import shared_session
from ..errors import NotFound
from ..identity.authorization import authorize
from ..identity.permissions import Permission
from ..identity.principal import CurrentPrincipal
from .models import ConsoleTask

#: File-store prefix of console results (a tenant slug never contains a hyphen).
FILE_PREFIX = "cf-console"

#: The permission that reads each kind of task.
READ_PERMISSION = {"regulatory_report": Permission.REPORT_REGULATORY_READ, "provision": Permission.TENANT_PROVISION}


def requester() -> str:
    """Who a task belongs to: the OAuth client for a machine, else the user name."""
    principal = CurrentPrincipal.get()
    return principal.client_id or principal.username


def create(session: Session, kind: str, parameters: dict[str, Any], *, steps: int) -> ConsoleTask:
    """A queued task of the current principal (shared session; the caller commits, then sends the job)."""
    principal = CurrentPrincipal.get()
    task = ConsoleTask(kind=kind, status="queued", step=0, steps=steps, message="", message_args={},
                       parameters=parameters,
                       result_key="", result_name="", requested_by=requester(), context=principal.context.value)
    session.add(task)
    session.flush()
    return task


def get(session: Session, task_id: int, kind: str) -> ConsoleTask:
    """The current principal's task ``task_id`` of ``kind``; another's is as unknown as a missing one."""
    authorize(READ_PERMISSION[kind])
    task = session.get(ConsoleTask, task_id)
    if task is None or task.kind != kind or task.requested_by != requester():
        raise NotFound(f"no task {task_id}")
    return task


def recent(session: Session, kind: str, limit: int = 20) -> list[ConsoleTask]:
    """The current principal's latest tasks of ``kind``."""
    authorize(READ_PERMISSION[kind])
    return list(session.scalars(select(ConsoleTask).where(ConsoleTask.kind == kind,
                                                          ConsoleTask.requested_by == requester())
                                .order_by(ConsoleTask.id.desc()).limit(limit)))


def advance(task_id: int, step: int, message: str, *, status: str = "running", args: dict[str, Any] | None = None,
            **values: Any) -> None:
    """Record progress in its own transaction, so a page polling the task sees it at once (jobs). ``message`` is
    a msgid marked with ``N_`` and ``args`` its values, so each page shows it in its reader's language."""
    with shared_session() as session, session.begin():
        task = session.get(ConsoleTask, task_id, with_for_update=True)
        task.step, task.message, task.message_args, task.status = step, message[:2000], args or {}, status
        for key, value in values.items():
            setattr(task, key, value)


def as_dict(task: ConsoleTask) -> dict[str, Any]:
    return {"id": task.id, "kind": task.kind, "status": task.status, "step": task.step, "steps": task.steps,
            "message": task.message % task.message_args if task.message_args else task.message,
            "message_id": task.message, "message_args": task.message_args, "parameters": task.parameters, "ready": bool(task.result_key),
            "created_at": task.created_at}
