"""sessions.account_proof: how a session proved control of its account

Sessions opened before this revision were opened by accepting an invitation with its token alone, which could
link an existing account (the takeover fixed in 0.2): they keep NULL, so they act in their org only and can
neither read nor delete the account (GET/DELETE /v1/me) nor vouch for it when accepting another invitation.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_proof', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('account_proof')
