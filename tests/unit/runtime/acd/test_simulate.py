"""``simulate-load`` against Erlang C, and the Erlang C formulas against a worked example."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from kefu.platform.commands.acd import simulate_load as simulate_load_command
from kefu.runtime.acd import erlang
from kefu.runtime.acd.simulate import simulate_load


def test_erlang_c_matches_the_worked_example() -> None:
    # 360 calls per 1,800 s, 240 s AHT → 48 Erlangs on 55 agents, 15 s threshold
    # (research/performance-anchors.md §3.2).
    assert erlang.erlang_c(55, 48) == pytest.approx(0.239, abs=0.0005)
    assert erlang.service_level(55, 48, 240, 15) == pytest.approx(0.846, abs=0.0005)
    assert erlang.average_speed_of_answer(55, 48, 240) == pytest.approx(8.2, abs=0.05)
    # 10 Erlangs need 13 agents for 80/20 (79.6 %) and 14 give 88.8 %.
    assert erlang.service_level(13, 10, 180, 20) == pytest.approx(0.796, abs=0.0005)
    assert erlang.service_level(14, 10, 180, 20) == pytest.approx(0.888, abs=0.0005)


def test_erlang_c_refuses_an_overloaded_queue() -> None:
    with pytest.raises(ValueError):
        erlang.erlang_c(5, 5.0)


# (agents, offered load in Erlangs, service-level threshold in seconds); AHT 100 s.
# Each point simulates 80,000 arrivals (after a warm-up of 20 handle times, not measured),
# with seed 0. At these sizes the standard error of the measured ASA is about 2-3 % and of
# the service level about 0.3 percentage points, so the 5 % / 2 pp tolerances hold with margin.
POINTS = [(1, 0.5, 50.0), (2, 1.0, 20.0), (3, 1.5, 20.0)]


@pytest.mark.slow
@pytest.mark.parametrize(("agents", "load", "threshold"), POINTS)
def test_simulated_mmc_queue_matches_erlang_c(agents: int, load: float,
                                              threshold: float) -> None:
    aht = 100.0
    rate = load / aht
    res = simulate_load(agents=agents, arrival_rate=rate, aht=aht, duration=80_000 / rate,
                        warmup=20 * aht, threshold=threshold, seed=0)
    assert res.abandoned == 0
    assert res.service_level == pytest.approx(
        erlang.service_level(agents, load, aht, threshold), abs=0.02)
    assert res.asa == pytest.approx(erlang.average_speed_of_answer(agents, load, aht), rel=0.05)
    assert res.occupancy == pytest.approx(load / agents, abs=0.02)
    assert res.aht == pytest.approx(aht, rel=0.03)


def test_impatient_callers_abandon_and_lower_the_service_level() -> None:
    patient = simulate_load(agents=2, arrival_rate=1.8 / 100, aht=100, duration=200_000,
                            threshold=20, seed=3)
    impatient = simulate_load(agents=2, arrival_rate=1.8 / 100, aht=100, duration=200_000,
                              threshold=20, patience=30, seed=3)
    assert patient.abandon_rate == 0
    assert impatient.abandon_rate > 0.1
    assert impatient.abandoned + impatient.answered == impatient.offered
    assert impatient.asa < patient.asa  # those who would wait longest hang up


def test_simulate_load_command_prints_the_metrics() -> None:
    assert isinstance(simulate_load_command, click.Command)
    result = CliRunner().invoke(simulate_load_command,
                                ["--agents", "5", "--rate", "120", "--aht", "120",
                                 "--hours", "4", "--seed", "1"])
    assert result.exit_code == 0, result.output
    for label in ("service level (20 s)", "ASA", "abandon rate", "AHT", "occupancy",
                  "Erlang C"):
        assert label in result.output


def test_simulate_load_command_rejects_a_warmup_longer_than_the_run() -> None:
    result = CliRunner().invoke(simulate_load_command,
                                ["--agents", "5", "--rate", "120", "--hours", "1",
                                 "--warmup", "2"])
    assert result.exit_code != 0
    assert "--warmup" in result.output
