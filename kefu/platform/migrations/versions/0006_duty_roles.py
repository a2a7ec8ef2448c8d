"""duty roles: roles of a tenant's config held by its members

Revision ID: 0006
Revises: 0005
Created: 2026-11-22 02:10:00.000000

A new table only; the previous release never reads it.
"""

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duty_roles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_duty_roles_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_duty_roles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_roles")),
        sa.UniqueConstraint(
            "tenant_id", "user_id", "role", name=op.f("uq_duty_roles_tenant_id_user_id_role")
        ),
    )
    with op.batch_alter_table("duty_roles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_duty_roles_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_duty_roles_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("duty_roles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duty_roles_user_id"))
        batch_op.drop_index(batch_op.f("ix_duty_roles_tenant_id"))
    op.drop_table("duty_roles")
