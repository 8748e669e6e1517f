"""Applications: intake columns, state history, idempotency keys, approval authority, committee, decisions, reminders.

Revision ID: t0130
Revises: t0120
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0130"
down_revision = "t0120"
branch_labels = None
depends_on = None

CHANNELS = "channel IN ('branch', 'field_app', 'wechat_mini', 'mobile_banking', 'online_banking', 'phone', 'partner')"
DECISIONS = "IN ('approve', 'approve_with_conditions', 'reject', 'return')"


def upgrade() -> None:
    op.add_column("loan_application", sa.Column("officer_id", sa.Integer(), nullable=True))
    op.add_column("loan_application", sa.Column("assignee_id", sa.Integer(), nullable=True))
    op.add_column("loan_application", sa.Column("investigator_id", sa.Integer(), nullable=True))
    op.add_column("loan_application", sa.Column("state_entered_at", sa.DateTime(timezone=True),
                                                server_default=sa.func.now(), nullable=False))
    op.add_column("loan_application", sa.Column("purpose", sa.Text(), server_default="", nullable=False))
    op.create_index("ix_loan_application_officer_id", "loan_application", ["officer_id"])
    op.create_index("ix_loan_application_assignee_id", "loan_application", ["assignee_id"])
    op.create_check_constraint("channel", "loan_application", CHANNELS)

    op.create_table(
        "application_state_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(30), nullable=True),
        sa.Column("to_state", sa.String(30), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_application_state_history"),
        sa.ForeignKeyConstraint(["application_id"], ["loan_application.id"],
                                name="fk_application_state_history_application_id_loan_application"),
    )
    op.create_index("ix_application_state_history_application_id", "application_state_history", ["application_id"])

    op.create_table(
        "application_idempotency_key",
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("response", postgresql.JSONB(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("owner", "key", name="pk_application_idempotency_key"),
        sa.ForeignKeyConstraint(["application_id"], ["loan_application.id"],
                                name="fk_application_idempotency_key_application_id_loan_application"),
    )

    op.create_table(
        "approval_authority",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("product_code", sa.String(40), nullable=False),
        sa.Column("max_amount", sa.Numeric(20, 2), nullable=False),
        sa.Column("max_term_months", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approval_authority"),
        sa.UniqueConstraint("role", "product_code", name="uq_approval_authority_role_product_code"),
    )

    op.create_table(
        "committee_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_date", sa.Date(), nullable=False),
        sa.Column("quorum", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), server_default="open", nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_committee_session"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="status"),
    )
    op.create_table(
        "committee_member",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "user_id", name="pk_committee_member"),
        sa.ForeignKeyConstraint(["session_id"], ["committee_session.id"],
                                name="fk_committee_member_session_id_committee_session"),
    )
    op.create_table(
        "committee_case",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(30), nullable=True),
        sa.Column("conditions", postgresql.JSONB(), nullable=False),
        sa.Column("dissent", postgresql.JSONB(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("session_id", "application_id", name="pk_committee_case"),
        sa.ForeignKeyConstraint(["session_id"], ["committee_session.id"],
                                name="fk_committee_case_session_id_committee_session"),
        sa.ForeignKeyConstraint(["application_id"], ["loan_application.id"],
                                name="fk_committee_case_application_id_loan_application"),
        sa.CheckConstraint(f"decision IS NULL OR decision {DECISIONS}", name="decision"),
    )
    op.create_table(
        "committee_vote",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("vote", sa.String(30), nullable=False),
        sa.Column("comment", sa.Text(), server_default="", nullable=False),
        sa.Column("conditions", postgresql.JSONB(), nullable=False),
        sa.Column("cast_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "application_id", "member_id", name="pk_committee_vote"),
        sa.ForeignKeyConstraint(["session_id"], ["committee_session.id"],
                                name="fk_committee_vote_session_id_committee_session"),
        sa.ForeignKeyConstraint(["application_id"], ["loan_application.id"],
                                name="fk_committee_vote_application_id_loan_application"),
        sa.CheckConstraint(f"vote {DECISIONS}", name="vote"),
    )
    op.create_table(
        "application_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(30), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("by_committee", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("conditions", postgresql.JSONB(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_application_decision"),
        sa.ForeignKeyConstraint(["application_id"], ["loan_application.id"],
                                name="fk_application_decision_application_id_loan_application"),
        sa.ForeignKeyConstraint(["by_committee"], ["committee_session.id"],
                                name="fk_application_decision_by_committee_committee_session"),
        sa.CheckConstraint(f"decision {DECISIONS}", name="decision"),
        sa.CheckConstraint("by_committee IS NOT NULL OR decided_by IS NOT NULL", name="who"),
    )
    op.create_index("ix_application_decision_application_id", "application_decision", ["application_id"])
    op.create_table(
        "application_reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("state_entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_application_reminder"),
        sa.ForeignKeyConstraint(["application_id"], ["loan_application.id"],
                                name="fk_application_reminder_application_id_loan_application"),
        sa.UniqueConstraint("application_id", "state", "state_entered_at",
                            name="uq_application_reminder_application_id_state_state_entered_at"),
    )
    op.create_index("ix_application_reminder_application_id", "application_reminder", ["application_id"])
    op.create_index("ix_application_reminder_user_id", "application_reminder", ["user_id"])


def downgrade() -> None:
    for table in ("application_reminder", "application_decision", "committee_vote", "committee_case",
                  "committee_member", "committee_session", "approval_authority", "application_idempotency_key",
                  "application_state_history"):
        op.drop_table(table)
    op.drop_constraint("channel", "loan_application", type_="check")
    op.drop_index("ix_loan_application_assignee_id", "loan_application")
    op.drop_index("ix_loan_application_officer_id", "loan_application")
    for column in ("purpose", "state_entered_at", "investigator_id", "assignee_id", "officer_id"):
        op.drop_column("loan_application", column)
