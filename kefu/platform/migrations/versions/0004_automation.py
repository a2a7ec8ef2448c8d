"""automation: ticket timers, events for the rules, rule firings, notifications

Revision ID: 0004
Revises: 0003
Created: 2026-11-22 01:04:40.669116

Every migration must keep the previous release working while it runs next to the new one:
add columns nullable or with a server default, backfill in a later step, drop only what the
previous release no longer reads.

``tickets.next_wakeup_at`` is added empty: tickets opened before this release get their
wake-up time the next time a workflow step is applied to them.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "automation_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=True),
        sa.Column("ticket_id", sa.Uuid(), nullable=True),
        sa.Column("chain", JSON, nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "done", "failed", name="eventstatus", native_enum=False,
                    length=24),
            nullable=False,
        ),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("skipped", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"], ["interactions.id"],
            name=op.f("fk_automation_events_interaction_id_interactions"), ondelete="SET NULL",
        ),
        _tenant_fk("automation_events"),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"],
            name=op.f("fk_automation_events_ticket_id_tickets"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_events")),
    )
    with op.batch_alter_table("automation_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_automation_events_status_created", ["status", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_automation_events_tenant_id"), ["tenant_id"], unique=False
        )
        batch_op.create_index(
            "ix_automation_events_tenant_interaction", ["tenant_id", "interaction_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_automation_events_tenant_ticket", ["tenant_id", "ticket_id"], unique=False
        )

    op.create_table(
        "rule_firings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_kind", sa.String(length=64), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=True),
        sa.Column("ticket_id", sa.Uuid(), nullable=True),
        sa.Column("config_version_id", sa.Uuid(), nullable=True),
        sa.Column("chain", JSON, nullable=False),
        sa.Column("actions", JSON, nullable=False),
        sa.Column("results", JSON, nullable=False),
        sa.Column(
            "status",
            sa.Enum("done", "partial", "failed", name="firingstatus", native_enum=False,
                    length=24),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["config_version_id"], ["config_versions.id"],
            name=op.f("fk_rule_firings_config_version_id_config_versions"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["automation_events.id"],
            name=op.f("fk_rule_firings_event_id_automation_events"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"], ["interactions.id"],
            name=op.f("fk_rule_firings_interaction_id_interactions"), ondelete="SET NULL",
        ),
        _tenant_fk("rule_firings"),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"],
            name=op.f("fk_rule_firings_ticket_id_tickets"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_firings")),
        # However often an event is handled, a rule fires on it once.
        sa.UniqueConstraint(
            "tenant_id", "event_id", "rule", name=op.f("uq_rule_firings_tenant_id_event_id_rule")
        ),
    )
    with op.batch_alter_table("rule_firings", schema=None) as batch_op:
        batch_op.create_index("ix_rule_firings_tenant_at", ["tenant_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_rule_firings_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_rule_firings_tenant_interaction", ["tenant_id", "interaction_id"], unique=False
        )
        batch_op.create_index(
            "ix_rule_firings_tenant_rule", ["tenant_id", "rule", "at"], unique=False
        )

    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("target_kind", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=True),
        sa.Column("interaction_id", sa.Uuid(), nullable=True),
        sa.Column("rule_firing_id", sa.Uuid(), nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"], ["interactions.id"],
            name=op.f("fk_notifications_interaction_id_interactions"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rule_firing_id"], ["rule_firings.id"],
            name=op.f("fk_notifications_rule_firing_id_rule_firings"), ondelete="SET NULL",
        ),
        _tenant_fk("notifications"),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"],
            name=op.f("fk_notifications_ticket_id_tickets"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"],
            name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_notifications_tenant_target", ["tenant_id", "target", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_notifications_tenant_ticket", ["tenant_id", "ticket_id"], unique=False
        )
        batch_op.create_index(
            "ix_notifications_tenant_user", ["tenant_id", "user_id", "created_at"], unique=False
        )

    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_wakeup_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_tickets_next_wakeup", ["next_wakeup_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_next_wakeup")
        batch_op.drop_column("next_wakeup_at")

    op.drop_table("notifications")
    op.drop_table("rule_firings")
    op.drop_table("automation_events")
