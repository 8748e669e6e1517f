"""OAuth2 for people: public clients with redirect URIs, authorization codes (hashed, PKCE), user tokens with
hashed refresh tokens in rotation families.

Revision ID: s0007
Revises: s0006
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = "s0007"
down_revision = "s0006"
branch_labels = None
depends_on = None

_CONTEXTS = "context IN ('tenant', 'head_office', 'regulator')"
_TENANT_RULE = "(context = 'tenant') = (tenant_id IS NOT NULL)"


def upgrade() -> None:
    op.alter_column("oauth_client", "secret_hash", nullable=True, schema="cf_shared")
    op.add_column("oauth_client", sa.Column("redirect_uris", sa.Text(), server_default="", nullable=False),
                  schema="cf_shared")

    op.add_column("oauth_token", sa.Column("user_id", sa.Integer(), nullable=True), schema="cf_shared")
    op.add_column("oauth_token", sa.Column("refresh_token_hash", sa.String(64), nullable=True), schema="cf_shared")
    op.add_column("oauth_token", sa.Column("refresh_expires_in", sa.Integer(), nullable=True), schema="cf_shared")
    op.add_column("oauth_token", sa.Column("family", sa.String(64), nullable=True), schema="cf_shared")
    op.create_foreign_key("fk_oauth_token_user_id_user_account", "oauth_token", "user_account", ["user_id"], ["id"],
                          source_schema="cf_shared", referent_schema="cf_shared", ondelete="CASCADE")
    op.create_unique_constraint("uq_oauth_token_refresh_token_hash", "oauth_token", ["refresh_token_hash"],
                                schema="cf_shared")
    op.create_index("ix_oauth_token_user_id", "oauth_token", ["user_id"], schema="cf_shared")
    op.create_index("ix_oauth_token_family", "oauth_token", ["family"], schema="cf_shared")

    op.create_table(
        "oauth_authorization_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("client_pk", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("context", sa.String(20), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("code_challenge_method", sa.String(10), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_oauth_authorization_code"),
        sa.UniqueConstraint("code_hash", name="uq_oauth_authorization_code_code_hash"),
        sa.CheckConstraint(_CONTEXTS, name="context"),
        sa.CheckConstraint(_TENANT_RULE, name="tenant_for_tenant_context"),
        sa.CheckConstraint("code_challenge_method = 'S256'", name="pkce_s256"),
        sa.ForeignKeyConstraint(["client_pk"], ["cf_shared.oauth_client.id"], ondelete="CASCADE",
                                name="fk_oauth_authorization_code_client_pk_oauth_client"),
        sa.ForeignKeyConstraint(["user_id"], ["cf_shared.user_account.id"], ondelete="CASCADE",
                                name="fk_oauth_authorization_code_user_id_user_account"),
        sa.ForeignKeyConstraint(["tenant_id"], ["cf_shared.tenant.id"], ondelete="CASCADE",
                                name="fk_oauth_authorization_code_tenant_id_tenant"),
        schema="cf_shared",
    )
    op.create_index("ix_oauth_authorization_code_client_pk", "oauth_authorization_code", ["client_pk"],
                    schema="cf_shared")
    op.create_index("ix_oauth_authorization_code_user_id", "oauth_authorization_code", ["user_id"],
                    schema="cf_shared")


def downgrade() -> None:
    op.drop_table("oauth_authorization_code", schema="cf_shared")
    op.drop_index("ix_oauth_token_family", "oauth_token", schema="cf_shared")
    op.drop_index("ix_oauth_token_user_id", "oauth_token", schema="cf_shared")
    op.drop_constraint("uq_oauth_token_refresh_token_hash", "oauth_token", schema="cf_shared")
    op.drop_constraint("fk_oauth_token_user_id_user_account", "oauth_token", schema="cf_shared")
    for column in ("family", "refresh_expires_in", "refresh_token_hash", "user_id"):
        op.drop_column("oauth_token", column, schema="cf_shared")
    op.drop_column("oauth_client", "redirect_uris", schema="cf_shared")
    # Public clients have no secret to restore: they go, with their tokens, before the column is required again.
    op.execute("DELETE FROM cf_shared.oauth_client WHERE secret_hash IS NULL")
    op.alter_column("oauth_client", "secret_hash", nullable=False, schema="cf_shared")
