"""Hosting the voice channel: the SIP runtime service, calls through flows and queues,
recordings."""
