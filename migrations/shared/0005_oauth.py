"""OAuth2: machine clients and their access tokens, stored as SHA-256 hashes.

Revision ID: s0005
Revises: s0004
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "s0005"
down_revision = "s0004"
branch_labels = None
depends_on = None

_CONTEXTS = "context IN ('tenant', 'head_office', 'regulator')"
_TENANT_RULE = "(context = 'tenant') = (tenant_id IS NOT NULL)"


def upgrade() -> None:
    op.create_table(
        "oauth_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("context", sa.String(20), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("grant_types", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_oauth_client"),
        sa.UniqueConstraint("client_id", name="uq_oauth_client_client_id"),
        sa.CheckConstraint(_CONTEXTS, name="context"),
        sa.CheckConstraint(_TENANT_RULE, name="tenant_for_tenant_context"),
        sa.ForeignKeyConstraint(["tenant_id"], ["cf_shared.tenant.id"], ondelete="CASCADE",
                                name="fk_oauth_client_tenant_id_tenant"),
        schema="cf_shared",
    )
    op.create_index("ix_oauth_client_tenant_id", "oauth_client", ["tenant_id"], schema="cf_shared")
    op.create_table(
        "oauth_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("access_token_hash", sa.String(64), nullable=False),
        sa.Column("client_pk", sa.Integer(), nullable=False),
        sa.Column("context", sa.String(20), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_in", sa.Integer(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_oauth_token"),
        sa.UniqueConstraint("access_token_hash", name="uq_oauth_token_access_token_hash"),
        sa.CheckConstraint(_CONTEXTS, name="context"),
        sa.CheckConstraint(_TENANT_RULE, name="tenant_for_tenant_context"),
        sa.ForeignKeyConstraint(["client_pk"], ["cf_shared.oauth_client.id"], ondelete="CASCADE",
                                name="fk_oauth_token_client_pk_oauth_client"),
        sa.ForeignKeyConstraint(["tenant_id"], ["cf_shared.tenant.id"], ondelete="CASCADE",
                                name="fk_oauth_token_tenant_id_tenant"),
        schema="cf_shared",
    )
    op.create_index("ix_oauth_token_client_pk", "oauth_token", ["client_pk"], schema="cf_shared")


def downgrade() -> None:
    op.drop_table("oauth_token", schema="cf_shared")
    op.drop_table("oauth_client", schema="cf_shared")
