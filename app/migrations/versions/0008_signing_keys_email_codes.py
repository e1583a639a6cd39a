"""signing_keys_email_codes: access-token signing keys and email one-time codes

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa
import app.db
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "public_jwk",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("private_key_sealed", sa.Text(), nullable=True),
        sa.Column("created_at", app.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("activated_at", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("rotated_at", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("publish_until", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    op.create_index(
        "uq_signing_keys_current",
        "signing_keys",
        ["state"],
        unique=True,
        sqlite_where=sa.text("state = 'current'"),
        postgresql_where=sa.text("state = 'current'"),
    )
    op.create_index(
        "uq_signing_keys_next",
        "signing_keys",
        ["state"],
        unique=True,
        sqlite_where=sa.text("state = 'next'"),
        postgresql_where=sa.text("state = 'next'"),
    )
    op.create_table(
        "email_codes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", app.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("used_at", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_codes")),
    )
    op.create_index("ix_email_codes_email", "email_codes", ["email", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_email_codes_email", table_name="email_codes")
    op.drop_table("email_codes")
    op.drop_index("uq_signing_keys_next", table_name="signing_keys")
    op.drop_index("uq_signing_keys_current", table_name="signing_keys")
    op.drop_table("signing_keys")
