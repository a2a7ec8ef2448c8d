"""Fixtures for voice tests with real sockets and real SIP phones (baresip) on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.voice.baresip import Baresip, tone_wav


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports free for UDP and TCP on 127.0.0.1."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count >= 65535:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    held.append(s)
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no run of free ports")


class Phones:
    """Starts baresip phones and stops them all at the end of the test."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[Baresip] = []

    def start(self, name: str, *, account: str, tone_hz: float, seconds: float = 60) -> Baresip:
        base = free_ports(4)  # SIP, SIP+1 (baresip's TLS), ctrl_tcp, spare
        rtp = free_ports(20)
        mic = tone_wav(self.tmp_path / f"{name}-mic.wav", tone_hz, seconds)
        phone = Baresip(self.tmp_path / name, sip_port=base, ctrl_port=base + 2,
                        rtp_ports=(rtp, rtp + 19), account=account.format(port=base),
                        microphone=mic)
        self.started.append(phone)
        return phone

    def stop(self) -> None:
        for phone in self.started:
            phone.stop()


@pytest.fixture
def phones(tmp_path: Path) -> Iterator[Phones]:
    started = Phones(tmp_path)
    try:
        yield started
    finally:
        started.stop()
