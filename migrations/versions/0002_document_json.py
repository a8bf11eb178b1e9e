"""document_revision.doc as json: kept verbatim, cheaper to load

Revision ID: 0002
Revises: 0001
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # rewrites the table: on a large mirror this takes a while, once
    op.alter_column('document_revision', 'doc', type_=postgresql.JSON(astext_type=sa.Text()),
                    existing_type=postgresql.JSONB(astext_type=sa.Text()), existing_nullable=False,
                    postgresql_using='doc::text::json')


def downgrade() -> None:
    # a document jsonb cannot hold (a \u0000 escape) makes this fail rather than lose it
    op.alter_column('document_revision', 'doc', type_=postgresql.JSONB(astext_type=sa.Text()),
                    existing_type=postgresql.JSON(astext_type=sa.Text()), existing_nullable=False,
                    postgresql_using='doc::jsonb')
