"""Moving interactions through the shared lifecycle (``kefu.runtime.lifecycle``): every
transition updates the interaction row, appends an ``interaction_events`` row and, after
commit, publishes ``tenant.<id>.interaction.<trigger>`` on the event bus, so reports, the
portal and wallboards all see the same truth."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from kefu.platform.db import utcnow
from kefu.platform.events.after_commit import publish_after_commit
from kefu.platform.events.api import EventBus
from kefu.platform.interactions.models import Interaction, InteractionEvent
from kefu.platform.tenancy.scope import current_tenant_id
from kefu.runtime.lifecycle import STAMPS, Outcome, State, Transition, Trigger, advance


def interaction_topic(tenant_id: uuid.UUID, name: str) -> str:
    return f"tenant.{tenant_id}.interaction.{name}"


class InteractionLifecycle:
    """Apply lifecycle triggers to stored interactions, in the caller's transaction."""

    def __init__(self, db: Session, bus: EventBus | None) -> None:
        self.db = db
        self.bus = bus

    def apply(
        self,
        interaction: Interaction,
        trigger: Trigger,
        *,
        outcome: Outcome | None = None,
        data: dict[str, Any] | None = None,
    ) -> Transition:
        """Move ``interaction`` on by ``trigger`` now.

        Raises:
            InvalidTransition: the trigger does not fit the interaction's state or outcome.
        """
        stamped = frozenset(name for name in STAMPS.values()
                            if getattr(interaction, name) is not None)
        transition = advance(State(interaction.state), trigger, utcnow(), outcome=outcome,
                             already_stamped=stamped, data=data)
        interaction.state = transition.to_state
        for name, value in transition.stamps.items():
            setattr(interaction, name, value)
        if transition.outcome is not None:
            interaction.outcome = transition.outcome
        for key in ("queue", "flow"):
            if key in transition.data:
                setattr(interaction, key, transition.data[key])
        if "agent_id" in transition.data:
            interaction.agent_id = uuid.UUID(str(transition.data["agent_id"]))
        self.db.add(InteractionEvent(
            interaction_id=interaction.id, trigger=trigger, from_state=transition.from_state,
            to_state=transition.to_state, outcome=transition.outcome, data=transition.data,
            at=transition.at))
        self.db.flush()
        if trigger == Trigger.END:
            # The tenant's rules run on the end (call.ended...) from a job, reliably.
            from kefu.platform.automation.hooks import interaction_ended

            interaction_ended(self.db, interaction, transition)
        self._publish(interaction, transition)
        return transition

    def history(self, interaction_id: uuid.UUID) -> list[InteractionEvent]:
        import sqlalchemy as sa

        return list(self.db.scalars(
            sa.select(InteractionEvent).where(InteractionEvent.interaction_id == interaction_id)
            .order_by(InteractionEvent.at, InteractionEvent.id)))

    def _publish(self, interaction: Interaction, transition: Transition) -> None:
        tenant_id = current_tenant_id(self.db) or interaction.tenant_id
        if self.bus is None or tenant_id is None:
            return
        publish_after_commit(self.db, self.bus, interaction_topic(tenant_id,
                                                                  transition.trigger.value), {
            "interaction_id": str(interaction.id),
            "channel": interaction.channel.value,
            "from": transition.from_state.value,
            "to": transition.to_state.value,
            "outcome": transition.outcome.value if transition.outcome else None,
            "at": transition.at.isoformat(),
            "data": transition.data,
        })
