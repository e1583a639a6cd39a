"""audit_chain_heads.occurred_at: the time of each chain's last link

A chain's events are in time order: each is later than the one before it, whose time the head now keeps, so
that linking in the database (app/audit/one_statement.py) reads it under the head's lock. Filled from each
chain's last event; NULL where that event was purged (the next event then takes its own time).

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa
import app.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_chain_heads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('occurred_at', app.db.UtcDateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE audit_chain_heads SET occurred_at = (SELECT e.occurred_at FROM audit_events e "
        "WHERE e.chain = audit_chain_heads.chain AND e.seq = audit_chain_heads.seq)"
    )


def downgrade() -> None:
    with op.batch_alter_table('audit_chain_heads', schema=None) as batch_op:
        batch_op.drop_column('occurred_at')
