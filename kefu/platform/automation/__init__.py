"""Automation: the platform host of the workflow and rules engines.

- :mod:`.effects` carries out what a workflow step asks for beyond the ticket row:
  notifications, follow-up visits (回访) as outbound interactions, events for the rules.
- :mod:`.events` records events for the rules engine in the same transaction as the change
  they report (an outbox) and queues the rules job after commit; :mod:`.hooks` are the calls
  the message store and the interaction lifecycle make.
- :mod:`.rules` is the rules job: it runs the tenant's rules on one stored event, records
  every firing once and carries the actions out; :mod:`.webhooks` delivers ``webhook``
  actions from a job of their own.
- :mod:`.sweep` is the runtime service that wakes tickets whose timers are due (SLA warnings,
  breaches, escalations, automatic transitions, follow-ups) and re-queues stored events whose
  job was lost.

See ``docs/workflows-and-rules.md`` for what runs when and what is guaranteed.
"""
