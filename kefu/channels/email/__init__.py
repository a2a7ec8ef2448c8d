"""The email channel: SMTP in (kefu's own listener), IMAP polling, SMTP out through a relay.

Pure parts (sans-I/O, tested without sockets):

- :mod:`.mime` parses raw mail into :class:`~.mime.ParsedEmail` (charsets, attachments,
  HTML to text) and classifies it (:mod:`.classify`: personal, auto-reply, bounce, list...);
- :mod:`.compose` builds answers with kefu's Message-IDs and RFC 3834 auto-reply marks, and
  decides whether an automatic answer is allowed;
- :mod:`.threads` finds the conversation a message continues and the key that makes a
  message delivered twice count once.

I/O parts, which the platform hosts by handing them its callables:

- :class:`.smtp_listener.SmtpListener` and :class:`.imap.ImapPoller` hand every inbound
  message to a :class:`.delivery.Deliver` callable and acknowledge only after it returned;
- :func:`.relay.send_via_relay` sends outbound mail through the configured relay.

Nothing here imports :mod:`kefu.platform`; see ``docs/email.md`` for operating it.
"""
