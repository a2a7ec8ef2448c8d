"""SMS: an SMPP 3.4 client and a Kannel HTTP gateway adapter, with the encodings they share.

- :mod:`.encoding` — GSM 03.38 / UCS-2, splitting long messages, reassembling inbound parts;
- :mod:`.smpp.pdu` and :mod:`.smpp.client` — the SMPP codec and the asyncio ESME client;
- :mod:`.kannel` — sending through Kannel's sendsms and reading its MO and DLR callbacks;
- :mod:`.messages` — the plain data both gateways hand to the host.
"""
