"""The sans-IO SIP core (RFC 3261): :mod:`.message`, :mod:`.transaction`, :mod:`.dialog`,
:mod:`.auth`. Nothing here does I/O or reads a clock; hosts pass bytes and ``now`` in."""
