"""agent portal: wrap-up, transfers and supervisor actions

Revision ID: 0009
Revises: 0008
Created: 2026-11-22 10:00:00.000000

Nothing to store: transfers and takeovers are interaction events, wrap-up lives in the ACD
state, escalations are ticket events, the lifecycle's new ``connect`` trigger fits the
existing (non-native) enum column, and the portal config is read from the compiled config
versions. The revision keeps the chain of numbered migrations unbroken.
"""

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
