"""Voice: kefu as a SIP user agent and back-to-back user agent with its own RTP media.

- :mod:`.sip` — the sans-IO SIP core: messages, transactions, dialogs, digest auth;
- :mod:`.sdp` — SDP and the offer/answer model (PCMU, PCMA, telephone-event);
- :mod:`.media` — G.711, RTP, pacing, jitter buffer, RFC 4733 DTMF, WAV prompts and
  recordings, the conference mixer;
- :mod:`.transport` and :mod:`.ua` — the thin asyncio UDP/TCP transports and the user agent
  (calls, registrar, hold, DTMF) built on them.
"""
