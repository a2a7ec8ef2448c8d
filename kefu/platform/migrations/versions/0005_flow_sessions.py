"""flow sessions: tenant flows running for text interactions

Revision ID: 0005
Revises: 0004
Created: 2026-11-22 01:30:00.000000

Every migration must keep the previous release working while it runs next to the new one:
add columns nullable or with a server default, backfill in a later step, drop only what the
previous release no longer reads.

A new table only; the previous release never reads it.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "flow_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("config_version_id", sa.Uuid(), nullable=False),
        sa.Column("flow", sa.String(length=100), nullable=False),
        sa.Column(
            "mode",
            sa.Enum("voice", "text", "touch", name="mode", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum("running", "ended", name="flowstatus", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("node", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("snapshot", JSON, nullable=False),
        sa.Column("timers", JSON, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["config_version_id"], ["config_versions.id"],
            name=op.f("fk_flow_sessions_config_version_id_config_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"], ["interactions.id"],
            name=op.f("fk_flow_sessions_interaction_id_interactions"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"],
            name=op.f("fk_flow_sessions_tenant_id_tenants"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_sessions")),
        # One flow session per interaction.
        sa.UniqueConstraint(
            "tenant_id", "interaction_id",
            name=op.f("uq_flow_sessions_tenant_id_interaction_id"),
        ),
    )
    with op.batch_alter_table("flow_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_flow_sessions_next_due", ["next_due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_flow_sessions_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("flow_sessions")
