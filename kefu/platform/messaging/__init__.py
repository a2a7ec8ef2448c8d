"""The channel-independent half of messaging: web chat, email and SMS all go through here.

- :mod:`.bindings` — which tenant owns a channel address (mailbox, SMS number, widget key);
- :mod:`.attachments` — attachment bytes on disk by content hash, with size and type limits;
- :mod:`.intake` — an inbound message becomes a stored message in the right conversation
  (interaction) of the right customer, runs the channel's flow and the tenant's rules, and is
  queued for an agent;
- :mod:`.outbound` — agents' replies, and the delivery of every queued outbound message
  through the sender its channel registered (email relay, SMPP, Kannel; web chat pushes its
  own over the socket).

The protocol adapters live in ``kefu.channels`` (sans-I/O parts) and in the channel hosts
here that run them.
"""
