"""voice: SIP registrations, recordings and voicemail

Revision ID: 0010
Revises: 0009
Created: 2026-11-22 10:00:00.000000

Agents get SIP credentials (user name and digest HA1 hashes) for their phones; call
recordings get a table. New table and nullable columns only.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sip_username", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("sip_ha1_md5", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("sip_ha1_sha256", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_agents_sip_username"),
                                          ["sip_username"])
    op.create_table(
        "call_recordings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"], ["interactions.id"],
            name=op.f("fk_call_recordings_interaction_id_interactions"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_call_recordings_tenant_id_tenants"),
            ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_recordings")),
    )
    with op.batch_alter_table("call_recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_recordings_interaction_id"),
                              ["interaction_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_recordings_tenant_id"), ["tenant_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("call_recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_recordings_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_call_recordings_interaction_id"))
    op.drop_table("call_recordings")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_agents_sip_username"), type_="unique")
        batch_op.drop_column("sip_ha1_sha256")
        batch_op.drop_column("sip_ha1_md5")
        batch_op.drop_column("sip_username")
