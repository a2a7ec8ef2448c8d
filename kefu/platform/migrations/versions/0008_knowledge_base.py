"""knowledge base: articles per tenant with search

Revision ID: 0008
Revises: 0007
Created: 2026-11-22 10:00:00.000000

New tables only; the previous release ignores them.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "knowledge_articles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("author_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_knowledge_articles_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"], ["users.id"],
            name=op.f("fk_knowledge_articles_author_user_id_users"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_articles")),
    )
    with op.batch_alter_table("knowledge_articles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_articles_tenant_id"), ["tenant_id"],
                              unique=False)
        batch_op.create_index("ix_knowledge_articles_tenant_updated",
                              ["tenant_id", "updated_at"], unique=False)
    op.create_table(
        "knowledge_terms",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("article_id", sa.Uuid(), nullable=False),
        sa.Column("field", sa.String(length=1), nullable=False),
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_knowledge_terms_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["article_id"], ["knowledge_articles.id"],
            name=op.f("fk_knowledge_terms_article_id_knowledge_articles"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", "field", "term", name=op.f("pk_knowledge_terms")),
    )
    with op.batch_alter_table("knowledge_terms", schema=None) as batch_op:
        batch_op.create_index("ix_knowledge_terms_term_tenant", ["term", "tenant_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("knowledge_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_knowledge_terms_term_tenant")
    op.drop_table("knowledge_terms")
    with op.batch_alter_table("knowledge_articles", schema=None) as batch_op:
        batch_op.drop_index("ix_knowledge_articles_tenant_updated")
        batch_op.drop_index(batch_op.f("ix_knowledge_articles_tenant_id"))
    op.drop_table("knowledge_articles")
