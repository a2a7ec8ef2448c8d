"""Call media: :mod:`.g711` codecs, :mod:`.rtp` packets and streams, :mod:`.jitter` buffer,
:mod:`.dtmf` (RFC 4733), :mod:`.wav` prompts and stereo recordings, :mod:`.mixer` for
conferences and whisper, and :mod:`.clock`, the one 20 ms media clock of a process."""
