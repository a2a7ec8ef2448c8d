"""``kefu simulate``: an interactive text session on the IVR interpreter and a virtual clock,
driven through standard input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from kefu.platform.commands import dsl as commands

TENANTS = Path(__file__).parents[3] / "tenants"
DEMO = TENANTS / "demo"
ANN = 'account_lookup={"name": "Ann", "balance": 12, "vip": false}'


def simulate(*args: str, stdin: str = "") -> list[str]:
    result = CliRunner().invoke(commands.simulate, [str(DEMO), *args], input=stdin)
    assert result.exit_code == 0, result.output
    return [line.strip() for line in result.output.splitlines()]


def test_a_caller_hears_prompts_sees_the_menu_and_types_answers() -> None:
    lines = simulate("--mock", ANN, stdin="1\n12345678\n")
    assert lines[:7] == [
        "flow  main (voice), virtual clock Mon 2025-03-03 10:00",
        "say  Welcome to Acme Gas.",
        "say  For your balance press 1 or say balance. To report a leak press 2 or say leak. "
        "For anything else press 0.",
        "menu  1. balance",
        "2. leak",
        "0. agent",
        "answer  keys (1 digit) or words; no input after 5s",
    ]
    assert lines[7:] == [
        "caller  1",
        "say  Please key in your eight digit account number.",
        "answer  keys (8 digits); no input after 5s",
        "caller  12345678",
        "lookup  account_lookup: GET https://billing.acme.example/api/accounts/12345678 -> ok",
        "say  Hello Ann. Your balance is 12 pounds.",
        "say  Thank you for calling Acme Gas. Goodbye.",
        "hangup",
        "outcome  completed",
    ]


def test_an_empty_line_is_silence_on_the_virtual_clock() -> None:
    lines = simulate(stdin="\n\n\n")
    assert lines.count("caller  (silence)") == 3
    assert "clock  10:00:05 (+5s)" in lines
    assert "clock  10:00:10 (+5s)" in lines
    assert "clock  10:00:15 (+5s)" in lines
    assert lines.count("say  Sorry, I did not hear you.") == 2
    assert lines[-2:] == ["queue  general_q", "outcome  answered (agent)"]


def test_words_wrong_keys_and_the_end_of_input() -> None:
    lines = simulate(stdin="7\nbalance\n123\n")
    assert "say  Sorry, that is not an option." in lines
    assert "say  That was not eight digits." in lines
    assert lines[-2:] == ["caller  (hangs up)", "outcome  abandoned"]


def test_busy_agents_make_the_queue_time_out_after_its_max_wait() -> None:
    lines = simulate("--agents", "busy", "--at", "2025-03-03T17:59", stdin="2\n")
    queue = lines.index("queue  emergency_q")
    assert lines[queue + 1:] == ["clock  18:00:00 (+1m00s)", "transfer  +447700900123",
                                 "outcome  transferred (+447700900123)"]


def test_closed_hours_and_scripted_inputs() -> None:
    lines = simulate("--at", "2025-12-25 10:00", "-v")
    assert "step  main.closed" in lines
    assert lines[-1] == "outcome  voicemail (voicemail.wav)"
    lines = simulate("--input", "say:I smell a gas leak")
    assert "caller  say:I smell a gas leak" in lines
    assert "queue  emergency_q" in lines


def test_text_mode_shows_numbered_choices_and_takes_replies() -> None:
    lines = simulate("--mode", "text", stdin="balance\n/hangup\n")
    assert "menu  1. balance" in lines
    assert "answer  a reply; no input after 5s" in lines
    assert "answer  a reply (8 digits); no input after 5s" in lines
    assert lines[-2:] == ["caller  /hangup", "outcome  abandoned"]


def test_bad_options_are_refused() -> None:
    result = CliRunner().invoke(commands.simulate, [str(DEMO), "--mock", "account_lookup"])
    assert result.exit_code == 2
    assert "HTTP=error" in result.output
    result = CliRunner().invoke(commands.simulate, [str(DEMO), "--flow", "nope"])
    assert result.exit_code == 1
    assert "no flow 'nope'" in result.output


def test_the_kefu_command_reads_a_real_pipe() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kefu.platform.commands.dsl", "simulate", str(TENANTS / "gas"),
         "--mock", '客户识别={"姓名": "张三", "大客户": false}'],
        input="3\n", capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines()]
    assert "menu  1. 订气" in lines
    assert "caller  3" in lines
    assert "queue  抢修调度" in lines
    assert lines[-1] == "outcome  answered (agent)"
