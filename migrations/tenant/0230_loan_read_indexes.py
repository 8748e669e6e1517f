"""Loan read path: a loan's journal lines newest first by index (API postings, keyset paging by entry).

Revision ID: t0230
Revises: t0220
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "t0230"
down_revision = "t0220"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_journal_line_loan_entry", "journal_line", ["loan_id", "entry_id", "id"],
                    postgresql_where=sa.text("loan_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_journal_line_loan_entry", table_name="journal_line")
