"""Real SIP phones for the voice tests: baresip (Debian) driven over its ctrl_tcp socket.

Each :class:`Baresip` runs in its own config directory: aufile plays a WAV as the microphone,
sndfile writes what the phone hears (``dump-*-dec.wav``) and sends (``-enc``), ALSA's null
device stands in for the speaker, and ctrl_tcp takes netstring-JSON commands (``dial``,
``hangup``, ``sndcode`` for RFC 4733 DTMF, ``hold``/``resume``, ``transfer``) and reports
events (``CALL_ESTABLISHED``, ``CALL_CLOSED``, ``REGISTER_OK``…).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
import wave
from pathlib import Path

import numpy as np

from tests.waiting import wait_until


def tone_wav(path: Path, frequency: float, seconds: float, amplitude: int = 8000) -> Path:
    """A sine tone as an 8 kHz mono 16-bit WAV."""
    t = np.arange(int(8000 * seconds)) / 8000
    samples = (amplitude * np.sin(2 * np.pi * frequency * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int, int]:
    """(samples as float, rate, channels); stereo comes back as an (n, 2) array."""
    with wave.open(str(path)) as w:
        rate, channels = w.getframerate(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    return (data.reshape(-1, channels) if channels > 1 else data), rate, channels


def peak_frequency(samples: np.ndarray, rate: int) -> float:
    """The strongest frequency in ``samples`` (Hz)."""
    if len(samples) == 0:
        return 0.0
    window = samples * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(window))
    spectrum[:3] = 0  # ignore DC
    return float(np.argmax(spectrum) * rate / len(samples))


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples ** 2))) if len(samples) else 0.0


def netstring(data: bytes) -> bytes:
    return str(len(data)).encode() + b":" + data + b","


class Baresip:
    """One baresip process with one account.

    Args:
        workdir: its config directory (created).
        sip_port: its SIP port (it also binds sip_port+1 for TLS: leave gaps).
        ctrl_port: the ctrl_tcp port.
        rtp_ports: its RTP port range.
        account: the accounts line (``<sip:user@host>;auth_pass=…;answermode=auto``).
        microphone: the WAV it sends.
    """

    def __init__(self, workdir: Path, *, sip_port: int, ctrl_port: int,
                 rtp_ports: tuple[int, int], account: str, microphone: Path) -> None:
        self.workdir = workdir
        self.ctrl_port = ctrl_port
        self.sip_port = sip_port
        self.dumps = workdir / "dumps"
        self.dumps.mkdir(parents=True, exist_ok=True)
        (workdir / "config").write_text("\n".join([
            "poll_method epoll",
            f"sip_listen 127.0.0.1:{sip_port}",
            "call_local_timeout 120",
            "call_max_calls 4",
            "audio_player alsa,null",
            f"audio_source aufile,{microphone}",
            "audio_alert alsa,null",
            "ausrc_srate 8000",
            "auplay_srate 8000",
            "ausrc_channels 1",
            "auplay_channels 1",
            "audio_buffer 20-160",
            f"rtp_ports {rtp_ports[0]}-{rtp_ports[1]}",
            "rtcp_mux no",
            "jitter_buffer_delay 2-6",
            "module_path /usr/lib/baresip/modules",
            "module g711.so",
            "module alsa.so",
            "module aufile.so",
            "module sndfile.so",
            "module_tmp uuid.so",
            "module_tmp account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen 127.0.0.1:{ctrl_port}",
            f"snd_path {self.dumps}",
            "",
        ]))
        (workdir / "accounts").write_text(account + "\n")
        (workdir / "contacts").write_text("")
        self.log = (workdir / "baresip.log").open("wb")
        self.process = subprocess.Popen(["baresip", "-f", str(workdir)], stdout=self.log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.events: list[dict[str, object]] = []
        self.responses: list[dict[str, object]] = []
        self._lock = threading.Lock()
        self.sock = self._connect()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + 15
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"baresip exited: {self.log_text()}")
            try:
                return socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _read(self) -> None:
        buffer = b""
        self.sock.settimeout(None)
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while b":" in buffer:
                length_text, _, rest = buffer.partition(b":")
                if not length_text.isdigit():
                    return
                length = int(length_text)
                if len(rest) < length + 1:
                    break
                payload, buffer = rest[:length], rest[length + 1:]
                with contextlib.suppress(ValueError):
                    message = json.loads(payload)
                    with self._lock:
                        (self.events if message.get("event") else self.responses).append(
                            message)

    def command(self, command: str, params: str = "") -> None:
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        self.sock.sendall(netstring(body))

    def wait_event(self, kind: str, timeout: float = 20.0, after: int = 0) -> dict[str, object]:
        def find() -> dict[str, object] | None:
            with self._lock:
                for event in self.events[after:]:
                    if event.get("type") == kind:
                        return event
            return None
        return wait_until(find, f"baresip event {kind} (log: {self.log_path})", timeout)

    def event_count(self) -> int:
        with self._lock:
            return len(self.events)

    @property
    def log_path(self) -> Path:
        return self.workdir / "baresip.log"

    def log_text(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def heard(self) -> list[Path]:
        """The WAV files of what this phone received (decoded), oldest first."""
        return sorted(self.dumps.glob("*-dec.wav"), key=lambda p: p.stat().st_mtime)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.command("quit")
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        with contextlib.suppress(OSError):
            self.sock.close()
        self.log.close()
