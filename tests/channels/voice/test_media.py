"""G.711, RTP, the jitter buffer, RFC 4733 DTMF, WAV prompts/recordings and the mixer."""

from __future__ import annotations

import importlib
import subprocess
import warnings
import wave
from pathlib import Path

import numpy as np
import pytest

from kefu.channels.voice.media import g711
from kefu.channels.voice.media.dtmf import DtmfError, DtmfReceiver, DtmfSender, EventPayload
from kefu.channels.voice.media.jitter import JitterBuffer
from kefu.channels.voice.media.mixer import mix
from kefu.channels.voice.media.rtp import OutgoingStream, RtpError, RtpPacket, parse_rtp
from kefu.channels.voice.media.wav import (
    PromptError,
    PromptPlayer,
    StereoRecorder,
    _convert,
    load_prompt,
)

ALL_SAMPLES = np.arange(-32768, 32768, dtype="<i2").tobytes()


def reference_audioop():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module("audioop")


def test_g711_matches_the_reference_codec_for_every_sample() -> None:
    audioop = reference_audioop()
    assert g711.ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)
    assert g711.alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)
    codes = bytes(range(256))
    assert g711.ulaw_decode(codes) == audioop.ulaw2lin(codes, 2)
    assert g711.alaw_decode(codes) == audioop.alaw2lin(codes, 2)


def test_g711_round_trip_keeps_a_tone() -> None:
    t = np.arange(160) / 8000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    for encode, decode in (g711.codec("PCMU"), g711.codec("PCMA")):
        back = np.frombuffer(decode(encode(tone.tobytes())), dtype="<i2")
        assert np.max(np.abs(back.astype(int) - tone)) < 300
    assert g711.ulaw_encode(bytes(320)) == bytes([g711.ULAW_SILENCE]) * 160
    assert g711.alaw_encode(bytes(320)) == bytes([g711.ALAW_SILENCE]) * 160
    with pytest.raises(ValueError, match="G722"):
        g711.codec("G722")


def test_rtp_round_trip_with_csrc_extension_and_padding() -> None:
    packet = RtpPacket(0, 65535, 2**32 - 1, 0xDEADBEEF, b"\xff" * 160, True, (1, 2))
    assert parse_rtp(bytes(packet)) == packet
    raw = bytearray(bytes(RtpPacket(8, 1, 2, 3, b"abc")))
    raw[0] |= 0x10 | 0x20  # extension + padding
    raw[12:12] = b"\xbe\xde\x00\x01" + b"\x00" * 4
    raw += b"\x00\x00\x03"
    parsed = parse_rtp(bytes(raw))
    assert parsed.payload == b"abc"


@pytest.mark.parametrize(("data", "what"), [
    (b"\x80\x00", "shorter than the 12-byte"),
    (b"\x40" + bytes(11), "version 1"),
    (b"\x8f" + bytes(11), "CSRC list"),
    (b"\x90" + bytes(11), "header extension"),
    (b"\xa0" + bytes(11) + b"\x10", "bad padding"),
    (b"\x80\xc8" + bytes(10), "RTCP"),
])
def test_bad_rtp_is_rejected_with_a_reason(data: bytes, what: str) -> None:
    with pytest.raises(RtpError, match=what):
        parse_rtp(data)


def test_outgoing_stream_wraps_sequence_and_timestamp_and_marks_talkspurts() -> None:
    stream = OutgoingStream(0, ssrc=7, sequence=65535, timestamp=2**32 - 160)
    first = parse_rtp(stream.audio(bytes(160)))
    second = parse_rtp(stream.audio(bytes(160)))
    assert (first.sequence, first.timestamp, first.marker) == (65535, 2**32 - 160, True)
    assert (second.sequence, second.timestamp, second.marker) == (0, 0, False)
    stream.skip()
    third = parse_rtp(stream.audio(bytes(160)))
    assert (third.sequence, third.timestamp, third.marker) == (1, 320, True)
    assert {first.ssrc, second.ssrc, third.ssrc} == {7}


def packets(seqs: list[int], ssrc: int = 1) -> list[RtpPacket]:
    return [RtpPacket(0, s & 0xFFFF, s * 160, ssrc, bytes([s & 0xFF]) * 160) for s in seqs]


def test_jitter_buffer_reorders_and_reports_loss() -> None:
    jb = JitterBuffer(depth=3)
    for p in packets([65534, 65533, 65535, 1, 2, 4]):  # reordered, wrapping, 0 and 3 lost
        jb.push(p)
    out = [jb.pop() for _ in range(7)]
    firsts = [f[0] if f else None for f in out]
    assert firsts == [65533 & 0xFF, 65534 & 0xFF, 65535 & 0xFF, None, 1, 2, None]
    assert jb.stats.lost == 2
    assert jb.stats.played == 5
    assert jb.pop() == packets([4])[0].payload
    assert jb.pop() is None  # underrun: waits for depth again
    assert jb.stats.lost == 2


def test_jitter_buffer_waits_for_depth_and_drops_late_and_duplicate_packets() -> None:
    jb = JitterBuffer(depth=2)
    pkts = packets([10, 11, 12])
    jb.push(pkts[0])
    assert jb.pop() is None
    jb.push(pkts[1])
    jb.push(pkts[1])
    assert jb.stats.duplicate == 1
    assert jb.pop() == pkts[0].payload
    jb.push(pkts[0])  # after its slot
    assert jb.stats.late == 1
    # a new SSRC starts over
    jb.push(packets([500], ssrc=2)[0])
    jb.push(packets([501], ssrc=2)[0])
    assert jb.pop() == packets([500])[0].payload


def test_dtmf_sender_marks_first_grows_duration_and_repeats_the_end() -> None:
    sender = DtmfSender(duration_ms=100, gap_ms=40)
    sender.send("5#")
    ticks = []
    ts = 1000
    while sender.busy:
        ticks.append(sender.tick(ts))
        ts += 160
    events = [(EventPayload.parse(t[0]), t[1], t[2]) if t else None for t in ticks]
    first_key = events[:7]
    assert [e[0].event for e in first_key if e] == [5] * 7
    assert [e[0].duration for e in first_key if e] == [160, 320, 480, 640, 800, 800, 800]
    assert [e[0].end for e in first_key if e] == [False] * 4 + [True] * 3
    assert [e[2] for e in first_key if e] == [True] + [False] * 6
    assert {e[1] for e in first_key if e} == {1000}
    assert events[7:9] == [None, None]  # the gap
    assert events[9][0].event == 11
    assert events[9][1] == 1000 + 9 * 160
    with pytest.raises(DtmfError, match="'x' is not a DTMF key"):
        sender.send("x")


def test_dtmf_receiver_reports_each_key_once_even_without_end_packets() -> None:
    sender = DtmfSender(duration_ms=60, gap_ms=0)
    sender.send("12")
    receiver = DtmfReceiver(101)
    stream = OutgoingStream(0)
    got: list[str] = []
    ts = 0
    while sender.busy:
        tick = sender.tick(ts)
        if tick:
            payload, event_ts, marker = tick
            got += receiver.push(parse_rtp(stream.event(101, payload, event_ts,
                                                         marker=marker)))
        ts += 160
    assert got == ["1", "2"]
    # end packets lost: the next key's first packet reports the previous key
    lossy = DtmfReceiver(101)
    first = RtpPacket(101, 1, 100, 1, bytes(EventPayload(9, False, 10, 160)))
    second = RtpPacket(101, 2, 900, 1, bytes(EventPayload(0, True, 10, 480)))
    assert lossy.push(first) == []
    assert lossy.push(second) == ["9", "0"]
    assert lossy.push(RtpPacket(0, 3, 900, 1, bytes(160))) == []  # audio is not DTMF


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return path


def test_prompt_at_16khz_stereo_is_converted_to_8khz_mono(tmp_path: Path) -> None:
    t = np.arange(16000) / 16000
    tone = 8000 * np.sin(2 * np.pi * 440 * t)
    path = write_wav(tmp_path / "p.wav", np.repeat(tone, 2), 16000, channels=2)
    pcm = np.frombuffer(load_prompt(path), dtype="<i2")
    assert abs(len(pcm) - 8000) <= 8
    spectrum = np.abs(np.fft.rfft(pcm))
    assert abs(np.argmax(spectrum) * 8000 / len(pcm) - 440) < 5
    fallback = np.frombuffer(_convert(np.repeat(tone, 2).astype("<i2").tobytes(), 16000, 2,
                                      2, path), dtype="<i2")
    assert len(fallback) == 8000


def test_bad_prompts_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="does not exist"):
        load_prompt(tmp_path / "missing.wav")
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(PromptError, match=r"text\.wav is not a PCM WAV"):
        load_prompt(tmp_path / "text.wav")


def test_prompt_player_plays_frames_and_reports_finished_prompts() -> None:
    player = PromptPlayer()
    player.enqueue(b"\x01\x00" * 200, "a")  # 400 bytes: 1.25 frames
    player.enqueue(b"\x02\x00" * 160, "b")
    _frame1, done1 = player.next_frame()
    frame2, done2 = player.next_frame()
    _frame3, done3 = player.next_frame()
    assert (done1, done2, done3) == ([], ["a"], ["b"])
    assert frame2 is not None
    assert frame2[78:82] == b"\x01\x00\x02\x00"
    assert player.next_frame() == (None, [])
    player.enqueue(b"\x00" * 1000, "c")
    assert player.clear() == ["c"]


def test_stereo_recorder_puts_customer_left_and_agent_right(tmp_path: Path) -> None:
    recorder = StereoRecorder(tmp_path / "calls" / "r.wav", flush_frames=3)
    for i in range(10):
        recorder.write(b"\x10\x00" * 160, None if i % 2 else b"\x20\x00" * 160)
    recorder.close()
    with wave.open(str(tmp_path / "calls" / "r.wav")) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, 8000, 1600)
        data = np.frombuffer(w.readframes(1600), dtype="<i2").reshape(-1, 2)
    assert set(data[:, 0]) == {16}
    assert set(data[:160, 1]) == {32}
    assert set(data[160:320, 1]) == {0}
    assert recorder.seconds == pytest.approx(0.2)


def frame(value: int) -> bytes:
    return np.full(160, value, dtype="<i2").tobytes()


def test_mixer_conference_whisper_and_clipping() -> None:
    heard = mix({"a": frame(100), "b": frame(200), "c": frame(30000)})
    assert np.frombuffer(heard["a"], "<i2")[0] == 30200
    assert np.frombuffer(heard["c"], "<i2")[0] == 300
    loud = mix({"a": frame(30000), "b": frame(30000), "c": frame(0)})
    assert np.frombuffer(loud["c"], "<i2")[0] == 32767
    whisper = mix({"customer": frame(1), "agent": frame(2), "supervisor": frame(4)},
                  hears={"customer": ["agent"], "agent": ["customer", "supervisor"],
                         "supervisor": ["customer", "agent"]})
    assert np.frombuffer(whisper["customer"], "<i2")[0] == 2
    assert np.frombuffer(whisper["agent"], "<i2")[0] == 5
    assert np.frombuffer(whisper["supervisor"], "<i2")[0] == 3
    assert mix({"a": None, "b": frame(5)}) == {"a": frame(5), "b": None}


def test_sox_is_available_for_prompt_conversion() -> None:
    assert subprocess.run(["sox", "--version"], capture_output=True, check=False).returncode == 0


def test_recorder_decodes_g711_payloads_per_block_and_mixes_with_pcm_frames(
        tmp_path: Path) -> None:
    recorder = StereoRecorder(tmp_path / "r.wav", flush_frames=4)
    tone = (np.arange(160) * 50).astype("<i2").tobytes()
    for i in range(6):
        if i == 2:
            recorder.write(tone, None)  # a PCM tick between encoded ones
        else:
            recorder.write_encoded(g711.ulaw_encode(tone), g711.ulaw_decode,
                                   None if i == 3 else g711.alaw_encode(tone), g711.alaw_decode)
    recorder.close()
    with wave.open(str(tmp_path / "r.wav")) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert len(data) == 6 * 160
    expected_left = np.frombuffer(g711.ulaw_decode(g711.ulaw_encode(tone)), dtype="<i2")
    expected_right = np.frombuffer(g711.alaw_decode(g711.alaw_encode(tone)), dtype="<i2")
    assert np.array_equal(data[:160, 0], expected_left)
    assert np.array_equal(data[320:480, 0], np.frombuffer(tone, dtype="<i2"))  # PCM as is
    assert np.array_equal(data[:160, 1], expected_right)
    assert not data[320:640, 1].any()  # the silent ticks stay silent
    assert np.array_equal(data[800:, 1], expected_right)
