"""sso_connections: what an OIDC connection needs beyond 0007's issuer, client id and sealed secret

The scopes asked for, the client's token endpoint authentication, and the issuer's discovery document (checked,
cached, refreshed by the worker like SAML metadata) with its refresh bookkeeping.

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa
import app.db
from sqlalchemy.dialects import postgresql

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('sso_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('oidc_scopes', _JSON, nullable=True))
        batch_op.add_column(sa.Column('oidc_token_auth_method', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('oidc_discovery', _JSON, nullable=True))
        batch_op.add_column(sa.Column('oidc_discovery_fetched_at', app.db.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('oidc_discovery_error', sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column('oidc_discovery_next_refresh_at', app.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index('ix_sso_connections_oidc_refresh', ['oidc_discovery_next_refresh_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sso_connections', schema=None) as batch_op:
        batch_op.drop_index('ix_sso_connections_oidc_refresh')
        batch_op.drop_column('oidc_discovery_next_refresh_at')
        batch_op.drop_column('oidc_discovery_error')
        batch_op.drop_column('oidc_discovery_fetched_at')
        batch_op.drop_column('oidc_discovery')
        batch_op.drop_column('oidc_token_auth_method')
        batch_op.drop_column('oidc_scopes')
