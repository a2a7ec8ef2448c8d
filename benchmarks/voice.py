"""Voice capacity of one kefu process: SIP call setups per second and bridged calls with RTP.

Two measurements, each against one kefu user agent process pinned to core 0 (``taskset``), with
the load generator pinned to core 1 (the machine has two; the figures are conservative):

``setups``: SIPp (Debian ``sip-tester``) as the caller, a scenario INVITE (with SDP) → 100 →
200 → ACK → 100 ms → BYE → 200, at rising rates for ``--seconds`` each. kefu answers every
call with SDP and opens an RTP leg for it (the media clock sends to SIPp's media port). Printed
per rate: calls per second achieved, failed calls, retransmissions, the time to first
response (INVITE → 100 Trying) p50/p99 from SIPp's response-time trace, and kefu's CPU.

``media``: kefu's own user agent as the load generator places ``2 × N`` calls to kefu; kefu
bridges them in pairs (caller leg ↔ agent leg, as for a call connected to an agent) and, unless
``--no-record``, records every pair as a stereo WAV. Every generator leg sends a tone at 50
packets/s and receives the other leg's. After a warm-up, for ``--seconds``: kefu's CPU (% of
one core), RTP packets per second in and out of kefu, loss (packets the generator legs did not
receive of those due, and kefu's jitter-buffer losses), and the send-interval error: how late
kefu's media clock ticks were against their absolute schedule, p50/p99/max.

    .venv/bin/python benchmarks/voice.py setups [--rates 50,100,150,200,300] [--seconds 10]
    .venv/bin/python benchmarks/voice.py media [--calls 100,200,300] [--seconds 20]
    .venv/bin/python benchmarks/voice.py all

Targets (issue 7): >= 150 setups/s with 0 failures, first response p99 < 20 ms, >= 300
bridged calls on <= one core with 0.0 % loss and p99 interval error <= 5 ms. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="kefu setup">
  <send retrans="500" start_rtd="1">
    <![CDATA[
      INVITE sip:+442071234567@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+447700900[call_number]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
      To: <sip:+442071234567@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
  <recv response="100" rtd="1"></recv>
  <recv response="180" optional="true"></recv>
  <recv response="200" rrs="true"></recv>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+447700900[call_number]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
      To: <sip:+442071234567@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="100"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:+447700900[call_number]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
      To: <sip:+442071234567@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"></recv>
  <ResponseTimeRepartition value="5, 10, 20, 50, 100, 200"/>
</scenario>
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --------------------------------------------------------------------------- the SUT
def serve(args: argparse.Namespace) -> None:
    """kefu's user agent: answer every call; in bridge mode connect calls in pairs."""
    from kefu.channels.voice.ua import Call, UserAgent

    record_dir = Path(args.record) if args.record else None
    waiting: list[Call] = []
    bridged: list[Any] = []

    async def on_call(call: Call) -> None:
        await call.answer()
        if args.mode == "bridge":
            if waiting:
                other = waiting.pop()
                recording = (str(record_dir / f"{call.id}.wav") if record_dir else None)
                bridged.append(call.ua.bridge({"customer": other, "agent": call},
                                              recording=recording, customer="customer"))
            else:
                waiting.append(call)
        await call.ended.wait()

    async def main() -> None:
        low, high = (int(p) for p in args.rtp.split("-"))
        ua = UserAgent(host="127.0.0.1", port=args.port, rtp_ports=(low, high),
                       on_call=on_call, tcp=False)
        clock = ua.clock
        await ua.start()
        measuring = {"cpu": 0.0, "wall": 0.0}

        def begin() -> None:
            clock.lateness.clear()
            clock.measure = True
            for call in ua.calls.values():
                s = call.session
                s.stats.received = s.stats.sent = 0
                s.jitter.stats.lost = 0
            usage = resource.getrusage(resource.RUSAGE_SELF)
            measuring["cpu"] = usage.ru_utime + usage.ru_stime
            measuring["wall"] = time.monotonic()

        def finish() -> None:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            wall = time.monotonic() - measuring["wall"]
            sessions = [c.session for c in ua.calls.values()]
            lateness = [x * 1000 for x in clock.lateness]
            Path(args.stats).write_text(json.dumps({
                "wall": wall,
                "cpu": usage.ru_utime + usage.ru_stime - measuring["cpu"],
                "legs": len(sessions),
                "bridges": len(bridged),
                "received": sum(s.stats.received for s in sessions),
                "sent": sum(s.stats.sent for s in sessions),
                "jitter_lost": sum(s.jitter.stats.lost for s in sessions),
                "late_p50_ms": percentile(lateness, 0.5),
                "late_p99_ms": percentile(lateness, 0.99),
                "late_max_ms": max(lateness, default=float("nan")),
                "skipped_ticks": clock.skipped_ticks,
            }))
            clock.measure = False

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, begin)
        loop.add_signal_handler(signal.SIGUSR2, finish)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        print("READY", flush=True)
        await stop.wait()
        await ua.stop()

    asyncio.run(main())


# --------------------------------------------------------------------------- generator
def dial(args: argparse.Namespace) -> None:
    """Place 2 × calls to kefu, send a tone on every leg, count what comes back."""
    import numpy as np

    from kefu.channels.voice.sip.message import Uri
    from kefu.channels.voice.ua import UserAgent

    async def main() -> None:
        low, high = (int(p) for p in args.rtp.split("-"))
        ua = UserAgent(host="127.0.0.1", port=0, rtp_ports=(low, high), tcp=False)
        await ua.start()
        t = np.arange(8000 * (args.seconds + 60)) / 8000
        tone = (6000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
        target = Uri("sip", "+442071234567", "127.0.0.1", args.sut_port)
        legs = []
        players = []
        for i in range(2 * args.calls):
            call = await ua.dial(target, ("127.0.0.1", args.sut_port), caller=f"gen{i}")
            legs.append(call)
            players.append(asyncio.ensure_future(call.play(tone)))
            if i % 20 == 19:
                await asyncio.sleep(0.2)
        await asyncio.sleep(3)  # warm-up: jitter buffers filled, all pairs bridged
        sessions = [c.session for c in legs]
        arrivals: dict[int, list[float]] = {i: [] for i in range(0, len(sessions),
                                                                 max(1, len(sessions) // 20))}
        for index, log in arrivals.items():
            session = sessions[index]
            original = session.datagram_received

            def spy(data: bytes, addr: Any, original: Any = original,
                    log: list[float] = log) -> None:
                log.append(time.monotonic())
                original(data, addr)
            session.datagram_received = spy  # type: ignore[method-assign]
        for s in sessions:
            s.stats.received = s.stats.sent = 0
            s.jitter.stats.lost = 0
        my_cpu = resource.getrusage(resource.RUSAGE_SELF)
        sut_cpu = cpu_seconds(args.sut_pid)
        os.kill(args.sut_pid, signal.SIGUSR1)
        start = time.monotonic()
        await asyncio.sleep(args.seconds)
        os.kill(args.sut_pid, signal.SIGUSR2)
        wall = time.monotonic() - start
        sut_cpu = cpu_seconds(args.sut_pid) - sut_cpu
        usage = resource.getrusage(resource.RUSAGE_SELF)
        gaps = []
        for log in arrivals.values():
            gaps += [abs((b - a) * 1000 - 20) for a, b in itertools.pairwise(log)]
        due = wall * 50 * len(sessions)
        print(json.dumps({
            "legs": len(sessions), "wall": wall, "sut_cpu": sut_cpu,
            "gen_cpu": usage.ru_utime + usage.ru_stime - my_cpu.ru_utime - my_cpu.ru_stime,
            "received": sum(s.stats.received for s in sessions),
            "sent": sum(s.stats.sent for s in sessions), "due": due,
            "gaps": sum(s.jitter.stats.lost for s in sessions),
            "arrival_error_p99_ms": percentile(gaps, 0.99),
        }), flush=True)
        await asyncio.wait_for(asyncio.gather(*(c.hangup() for c in legs)), 30)
        await ua.stop()

    asyncio.run(main())


# --------------------------------------------------------------------------- orchestration
def start_sut(mode: str, port: int, rtp: str, stats: Path, record: str | None) -> Any:
    command = ["taskset", "-c", "0", sys.executable, __file__, "_serve", "--mode", mode,
               "--port", str(port), "--rtp", rtp, "--stats", str(stats)]
    if record:
        command += ["--record", record]
    sut = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert sut.stdout is not None
    line = sut.stdout.readline()
    if "READY" not in line:
        raise SystemExit(f"kefu did not start: {line!r}")
    return sut


def stop_sut(sut: Any) -> None:
    sut.send_signal(signal.SIGTERM)
    try:
        sut.wait(timeout=30)
    except subprocess.TimeoutExpired:
        sut.kill()
        sut.wait()


def load_note() -> str:
    """The machine's load average: other work on the two cores skews every figure."""
    one, five, _ = os.getloadavg()
    return f"(load average before the run: {one:.1f} over 1 min, {five:.1f} over 5 min)"


def run_setups(args: argparse.Namespace) -> None:
    print(load_note())
    if not shutil.which("sipp"):
        raise SystemExit("sipp is not installed (Debian package sip-tester)")
    print("Call setups (SIPp -> kefu, INVITE/100/200/ACK/100 ms/BYE); first response =")
    print("INVITE -> 100 Trying as SIPp times it, in whole milliseconds (0 = under 1 ms):")
    print(f"{'rate':>6} {'calls/s':>8} {'ok':>7} {'failed':>7} {'retrans':>8} "
          f"{'1st p50':>8} {'1st p99':>8} {'kefu CPU':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "scenario.xml").write_text(SCENARIO)
        for rate in [int(r) for r in args.rates.split(",")]:
            port = free_port()
            sut = start_sut("answer", port, "40000-50000", work / "stats.json", None)
            try:
                before = cpu_seconds(sut.pid)
                started = time.monotonic()
                total = rate * args.seconds
                result = subprocess.run(
                    ["taskset", "-c", "1", "sipp", "-sf", str(work / "scenario.xml"),
                     "-i", "127.0.0.1", "-p", str(free_port()), "-mi", "127.0.0.1",
                     "-mp", str(free_port()), "-r", str(rate), "-m", str(total),
                     "-l", str(rate * 5), "-nostdin", "-trace_stat", "-fd", "1",
                     "-trace_rtt", "-rtt_freq", "1", "-timeout", str(args.seconds + 30),
                     "-timeout_error",
                     f"127.0.0.1:{port}"],
                    cwd=work, capture_output=True, text=True, timeout=args.seconds + 60,
                    check=False)
                elapsed = time.monotonic() - started
                cpu = cpu_seconds(sut.pid) - before
            finally:
                stop_sut(sut)
            stat_files = sorted(work.glob("scenario_*_.csv")) or sorted(
                work.glob("scenario_*[0-9].csv"))
            ok = failed = retrans = 0
            rate_seen = 0.0
            for stat in stat_files:
                rows = list(csv.DictReader(stat.open(), delimiter=";"))
                if rows:
                    last = rows[-1]
                    ok = int(last.get("SuccessfulCall(C)", 0))
                    failed = int(last.get("FailedCall(C)", 0))
                    retrans = int(last.get("Retransmissions(C)", 0))
                    elapsed_call = float(last.get("ElapsedTime(C)", "0").split(":")[-1] or 0)
                    rate_seen = ok / max(elapsed_call, 1e-9) if elapsed_call else ok / elapsed
                stat.unlink()
            rtts: list[float] = []
            for rtt in work.glob("scenario_*_rtt.csv"):
                for row in csv.reader(rtt.open(), delimiter=";"):
                    # Date_ms;response_time_ms;rtd_no -- SIPp counts whole milliseconds
                    if len(row) >= 3 and row[1].replace(".", "", 1).isdigit():
                        rtts.append(float(row[1]))
                rtt.unlink()
            if result.returncode not in (0, 1):
                print(f"  sipp exit {result.returncode}: {result.stderr.strip()[-300:]}")
            print(f"{rate:>6} {rate_seen:>8.1f} {ok:>7} {failed:>7} {retrans:>8} "
                  f"{percentile(rtts, 0.5):>6.2f}ms {percentile(rtts, 0.99):>6.2f}ms "
                  f"{100 * cpu / elapsed:>8.1f}%")


def run_media(args: argparse.Namespace) -> None:
    print(load_note())
    print("Bridged calls with G.711 RTP both ways on every leg (kefu's UA as generator):")
    print(f"{'calls':>6} {'legs':>5} {'pkt/s in':>9} {'pkt/s out':>9} {'kefu CPU':>9} "
          f"{'loss':>8} {'jb lost':>8} {'late p50':>9} {'late p99':>9} {'late max':>9} "
          f"{'gen CPU':>8}")
    for calls in [int(c) for c in args.calls.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            port = free_port()
            record = None if args.no_record else str(work / "recordings")
            if record:
                Path(record).mkdir()
            sut = start_sut("bridge", port, "20000-24000", work / "stats.json", record)
            try:
                gen = subprocess.run(
                    ["taskset", "-c", "1", sys.executable, __file__, "_dial", "--calls",
                     str(calls), "--sut-port", str(port), "--sut-pid", str(sut.pid),
                     "--seconds", str(args.seconds), "--rtp", "30000-34000"],
                    capture_output=True, text=True, timeout=args.seconds + 300, check=False)
                time.sleep(0.5)
                stats_path = work / "stats.json"
                for _ in range(50):
                    if stats_path.exists():
                        break
                    time.sleep(0.1)
                sut_stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
            finally:
                stop_sut(sut)
            line = next((x for x in gen.stdout.splitlines() if x.startswith("{")), None)
            if line is None or not sut_stats:
                print(f"{calls:>6}  generator failed: {gen.stderr.strip()[-500:]}")
                continue
            g = json.loads(line)
            wall = sut_stats["wall"]
            loss = max(0.0, 1 - g["received"] / g["due"]) if g["due"] else float("nan")
            jb_lost = sut_stats["jitter_lost"] / max(1, sut_stats["received"])
            print(f"{calls:>6} {sut_stats['legs']:>5} {sut_stats['received'] / wall:>9.0f} "
                  f"{sut_stats['sent'] / wall:>9.0f} {100 * sut_stats['cpu'] / wall:>8.1f}% "
                  f"{100 * loss:>7.2f}% {100 * jb_lost:>7.2f}% "
                  f"{sut_stats['late_p50_ms']:>7.2f}ms {sut_stats['late_p99_ms']:>7.2f}ms "
                  f"{sut_stats['late_max_ms']:>7.2f}ms {100 * g['gen_cpu'] / g['wall']:>7.1f}%")
            print(f"{'':>6} generator side: sequence gaps {g['gaps']} of {g['received']} "
                  f"received; arrival interval error p99 {g['arrival_error_p99_ms']:.2f} ms; "
                  f"kefu skipped ticks {sut_stats['skipped_ticks']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    setups = sub.add_parser("setups")
    setups.add_argument("--rates", default="50,100,150,200,300")
    setups.add_argument("--seconds", type=int, default=10)
    media = sub.add_parser("media")
    media.add_argument("--calls", default="100,200,300")
    media.add_argument("--seconds", type=int, default=20)
    media.add_argument("--no-record", action="store_true")
    both = sub.add_parser("all")
    both.add_argument("--rates", default="50,100,150,200,300")
    both.add_argument("--calls", default="100,200,300")
    both.add_argument("--seconds", type=int, default=10)
    both.add_argument("--no-record", action="store_true")
    serve_p = sub.add_parser("_serve")
    serve_p.add_argument("--mode", choices=("answer", "bridge"))
    serve_p.add_argument("--port", type=int)
    serve_p.add_argument("--rtp")
    serve_p.add_argument("--stats")
    serve_p.add_argument("--record")
    dial_p = sub.add_parser("_dial")
    dial_p.add_argument("--calls", type=int)
    dial_p.add_argument("--sut-port", type=int)
    dial_p.add_argument("--sut-pid", type=int)
    dial_p.add_argument("--seconds", type=int)
    dial_p.add_argument("--rtp")
    args = parser.parse_args()
    if args.what == "_serve":
        serve(args)
    elif args.what == "_dial":
        dial(args)
    elif args.what == "setups":
        run_setups(args)
    elif args.what == "media":
        run_media(args)
    else:
        run_setups(args)
        run_media(args)


if __name__ == "__main__":
    main()
