"""Payment adapters: how a disbursement reaches the core-banking payment system.

An adapter has a ``name`` and ``send(session, disbursement) -> str`` that hands the payment order over and returns
a reference to it (``adapter_ref``). Settlement comes back separately (``services.mark_settled`` with the core
banking's 出账流水号), by an operator reading the core banking's result or by an integration calling the API.

The built-in default, :class:`BankTransferFileAdapter`, writes one bank-transfer file per disbursement into the
file store (CSV, UTF-8 with BOM so spreadsheet software shows the Chinese names; format in docs/disbursement.md)
for the operator to upload to the core banking's batch-payment screen. A bank with an online interface registers
its own adapter with :func:`register_adapter` and names it in the ``disbursement.adapter`` tenant parameter... or
passes ``adapter=`` when creating the disbursement.
"""

from __future__ import annotations

import csv
import io
from typing import Protocol

from sqlalchemy.orm import Session

from ...errors import DomainError
from ...files.store import file_store
from .models import Disbursement

#: Columns of the bank-transfer file, in order.
TRANSFER_FILE_COLUMNS = ("disbursement_id", "reference", "value_date", "currency", "amount", "mode",
                         "payee_name", "payee_account", "payee_bank", "purpose")


class AdapterError(DomainError):
    """An unknown adapter, or one that refused the payment order."""


class PaymentAdapter(Protocol):
    name: str

    def send(self, session: Session, disbursement: Disbursement, *, reference: str) -> str: ...


def transfer_file(disbursement: Disbursement, *, reference: str) -> bytes:
    """The bank-transfer file for one disbursement (header + one row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TRANSFER_FILE_COLUMNS)
    writer.writerow([disbursement.id, reference, disbursement.value_date.isoformat() if disbursement.value_date
                     else "", "CNY", f"{disbursement.amount:.2f}", disbursement.mode, disbursement.payee_name,
                     disbursement.payee_account, disbursement.payee_bank, disbursement.purpose.replace("\n", " ")])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


class BankTransferFileAdapter:
    name = "bank_transfer_file"

    def send(self, session: Session, disbursement: Disbursement, *, reference: str) -> str:
        stored = file_store().put(session.info["tenant"].slug, transfer_file(disbursement, reference=reference))
        return stored.key


DEFAULT_ADAPTER = BankTransferFileAdapter.name
_adapters: dict[str, PaymentAdapter] = {DEFAULT_ADAPTER: BankTransferFileAdapter()}


def register_adapter(adapter: PaymentAdapter) -> None:
    _adapters[adapter.name] = adapter


def unregister_adapter(name: str) -> None:
    if name != DEFAULT_ADAPTER:
        _adapters.pop(name, None)


def get_adapter(name: str) -> PaymentAdapter:
    try:
        return _adapters[name]
    except KeyError:
        raise AdapterError(f"unknown payment adapter {name!r}; known: {', '.join(sorted(_adapters))}") from None
