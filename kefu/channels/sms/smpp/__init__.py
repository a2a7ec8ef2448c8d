"""SMPP 3.4: the sans-I/O codec (:mod:`.pdu`) and the asyncio ESME client (:mod:`.client`)."""
