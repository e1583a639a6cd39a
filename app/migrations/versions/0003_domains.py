"""domains: claimed names and their verification; organizations.auto_join

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import app.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("verified_at", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_checked_at", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=32), nullable=True),
        sa.Column("next_check_at", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("failing_since", app.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_domains_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domains")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_domains_org_id")),
    )
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_domains_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_domains_status_next_check", ["status", "next_check_at"], unique=False)
        # At most one org holds a name verified, enforced by the database under concurrency.
        batch_op.create_index(
            "uq_domains_verified_name",
            ["name"],
            unique=True,
            sqlite_where=sa.text("status = 'verified'"),
            postgresql_where=sa.text("status = 'verified'"),
        )

    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auto_join", sa.String(length=16), server_default="off", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("auto_join")
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_index("uq_domains_verified_name")
        batch_op.drop_index("ix_domains_status_next_check")
        batch_op.drop_index(batch_op.f("ix_domains_org_id"))
    op.drop_table("domains")
