"""audit_over_years: sealed personal values, subject keys, in-place erasures (issue 13, audit half)

Revision ID: 0009
Revises: 0008

Events recorded before this revision keep their personal values in clear (their hashes cover them, and
re-hashing would break every signed checkpoint): an account deletion erases them in place and attests the
result (app/audit/erasure.py). Events recorded after it seal them per subject.
"""

from alembic import op
import sqlalchemy as sa
import app.db
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("sealed", JSON, nullable=True))
        batch.add_column(sa.Column("redacted", JSON, nullable=True))
    op.create_index("ix_audit_event_targets_target", "audit_event_targets", ["target_id"])
    op.create_table(
        "audit_subject_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("wrapped", sa.String(length=128), nullable=True),
        sa.Column("created_at", app.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("erased_at", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_subject_keys")),
    )
    op.create_index("ix_audit_subject_keys_subject", "audit_subject_keys", ["subject", "erased_at"])
    op.create_table(
        "audit_redactions",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("erasure_id", sa.String(length=36), nullable=False),
        sa.Column("chain", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("intact_before", sa.Boolean(), nullable=False),
        sa.Column("redacted_at", app.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "erasure_id", name=op.f("pk_audit_redactions")),
    )
    op.create_index("ix_audit_redactions_chain", "audit_redactions", ["chain", "seq"])
    op.create_table(
        "audit_signing_keys",
        sa.Column("kid", sa.String(length=32), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("private_wrapped", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", app.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_audit_signing_keys")),
    )
    op.create_table(
        "audit_verifications",
        sa.Column("chain", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("verified_at", app.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("checkpoint", JSON, nullable=True),
        sa.Column("full_verified_at", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("full_ok", sa.Boolean(), nullable=True),
        sa.Column("full_broken", JSON, nullable=True),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_verifications")),
    )


def downgrade() -> None:
    op.drop_table("audit_verifications")
    op.drop_table("audit_signing_keys")
    op.drop_index("ix_audit_redactions_chain", table_name="audit_redactions")
    op.drop_table("audit_redactions")
    op.drop_index("ix_audit_subject_keys_subject", table_name="audit_subject_keys")
    op.drop_table("audit_subject_keys")
    op.drop_index("ix_audit_event_targets_target", table_name="audit_event_targets")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("redacted")
        batch.drop_column("sealed")
