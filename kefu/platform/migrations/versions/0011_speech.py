"""speech: prompt cache entries

Revision ID: 0011
Revises: 0010
Created: 2026-11-22 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
