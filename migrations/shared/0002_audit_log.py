"""Head-office audit log: hash-chained, append-only audit_entry and its audit_head checkpoint.

Revision ID: s0002
Revises: s0001
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None

# Kept literally here (migrations are history); tests/test_migrations.py checks it equals the models' DDL.
APPEND_ONLY_FUNCTION = """\
CREATE OR REPLACE FUNCTION cf_shared.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'the audit log is append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused',
        ERRCODE = 'insufficient_privilege';
END
$body$"""


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("actor_kind", sa.String(10), nullable=False),
        sa.Column("tenant", sa.String(31), nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("object_type", sa.String(60), nullable=False),
        sa.Column("object_id", sa.Text(), nullable=False),
        sa.Column("before", postgresql.JSONB(), nullable=True),
        sa.Column("after", postgresql.JSONB(), nullable=True),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_entry"),
        sa.CheckConstraint("actor_kind IN ('user', 'client', 'system')", name="actor_kind"),
        schema="cf_shared",
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
        sa.CheckConstraint("id = 1", name="singleton"),
        schema="cf_shared",
    )
    op.execute(APPEND_ONLY_FUNCTION)
    for table, row_operations in (("audit_entry", "UPDATE OR DELETE"), ("audit_head", "DELETE")):
        op.execute(f"CREATE TRIGGER {table}_refuse_changes BEFORE {row_operations} ON cf_shared.{table} "
                   "FOR EACH ROW EXECUTE FUNCTION cf_shared.audit_append_only()")
        op.execute(f"CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON cf_shared.{table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION cf_shared.audit_append_only()")


def downgrade() -> None:
    op.drop_table("audit_head", schema="cf_shared")
    op.drop_table("audit_entry", schema="cf_shared")
    op.execute("DROP FUNCTION cf_shared.audit_append_only()")
