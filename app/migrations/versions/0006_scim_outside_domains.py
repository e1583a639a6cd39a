"""scim_outside_domains: organizations.scim_outside_domains (accept or refuse SCIM identities outside the
org's verified domains)

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scim_outside_domains", sa.String(length=16), server_default="accept", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("scim_outside_domains")
