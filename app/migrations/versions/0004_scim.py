"""scim: groups, group members and group mappings; memberships.user_name with the SCIM lookup indexes

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import app.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scim_groups",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", app.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_scim_groups_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_groups")),
    )
    with op.batch_alter_table("scim_groups", schema=None) as batch_op:
        batch_op.create_index("ix_scim_groups_org_id", ["org_id", "id"], unique=False)
        batch_op.create_index("ix_scim_groups_org_display_name", ["org_id", "display_name"], unique=False)
        batch_op.create_index("ix_scim_groups_org_external_id", ["org_id", "external_id"], unique=False)
    op.create_table(
        "scim_group_members",
        sa.Column("group_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["scim_groups.id"], name=op.f("fk_scim_group_members_group_id_scim_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["memberships.id"], name=op.f("fk_scim_group_members_member_id_memberships"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "member_id", name=op.f("pk_scim_group_members")),
    )
    with op.batch_alter_table("scim_group_members", schema=None) as batch_op:
        batch_op.create_index("ix_scim_group_members_member", ["member_id"], unique=False)
    op.create_table(
        "scim_group_mappings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("group_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=True),
        sa.Column("seat_type", sa.String(length=32), nullable=True),
        sa.Column("created_at", app.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["scim_groups.id"], name=op.f("fk_scim_group_mappings_group_id_scim_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_scim_group_mappings_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_group_mappings")),
        sa.UniqueConstraint("group_id", name=op.f("uq_scim_group_mappings_group_id")),
    )
    with op.batch_alter_table("scim_group_mappings", schema=None) as batch_op:
        batch_op.create_index("ix_scim_group_mappings_org_id", ["org_id", "id"], unique=False)

    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_name", sa.String(length=320), nullable=True))
    # Members from before SCIM answer to their account email as userName.
    op.execute("UPDATE memberships SET user_name = (SELECT email FROM users WHERE users.id = memberships.user_id)")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index("uq_memberships_org_user_name", ["org_id", "user_name"], unique=True)
        batch_op.create_index("ix_memberships_org_external_id", ["org_id", "external_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_memberships_org_external_id")
        batch_op.drop_index("uq_memberships_org_user_name")
        batch_op.drop_column("user_name")
    with op.batch_alter_table("scim_group_mappings", schema=None) as batch_op:
        batch_op.drop_index("ix_scim_group_mappings_org_id")
    op.drop_table("scim_group_mappings")
    with op.batch_alter_table("scim_group_members", schema=None) as batch_op:
        batch_op.drop_index("ix_scim_group_members_member")
    op.drop_table("scim_group_members")
    with op.batch_alter_table("scim_groups", schema=None) as batch_op:
        batch_op.drop_index("ix_scim_groups_org_external_id")
        batch_op.drop_index("ix_scim_groups_org_display_name")
        batch_op.drop_index("ix_scim_groups_org_id")
    op.drop_table("scim_groups")
