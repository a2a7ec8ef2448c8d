"""``kefu simulate-load``: drive the ACD router with simulated traffic and print the metrics."""

from __future__ import annotations

import click


@click.command("simulate-load")
@click.option("--agents", type=click.IntRange(min=1), required=True, help="Agents staffed.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), required=True,
              help="Arrivals per hour (Poisson).")
@click.option("--aht", type=click.FloatRange(min=0, min_open=True), default=180.0,
              show_default=True, help="Mean handle time in seconds (exponential).")
@click.option("--patience", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Mean patience in seconds before callers hang up (default: never).")
@click.option("--threshold", type=click.FloatRange(min=0), default=20.0, show_default=True,
              help="Service-level threshold in seconds.")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True), default=8.0,
              show_default=True, help="Simulated hours.")
@click.option("--warmup", type=click.FloatRange(min=0), default=0.5, show_default=True,
              help="Hours at the start that are not measured.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--erlang/--no-erlang", default=True, show_default=True,
              help="Also print the Erlang C prediction (when it applies).")
def simulate_load(  # noqa: PLR0917 - click passes every option as a parameter
        agents: int, rate: float, aht: float, patience: float | None,
                  threshold: float, hours: float, warmup: float, seed: int,
                  erlang: bool) -> None:
    """Simulate Poisson arrivals and exponential handle times on one queue and print
    service level, ASA, abandon rate, AHT and occupancy."""
    from kefu.runtime.acd import erlang as ec
    from kefu.runtime.acd.simulate import simulate_load as run

    if warmup >= hours:
        raise click.BadParameter("must be shorter than --hours", param_hint="--warmup")
    res = run(agents=agents, arrival_rate=rate / 3600, aht=aht, duration=hours * 3600,
              threshold=threshold, patience=patience, warmup=warmup * 3600, seed=seed)
    traffic = rate / 3600 * aht
    click.echo(f"agents {agents}  offered load {traffic:.2f} Erlangs  "
               f"contacts {res.offered}  answered {res.answered}  abandoned {res.abandoned}")
    click.echo(f"service level ({threshold:g} s)  {res.service_level * 100:6.2f} %")
    click.echo(f"ASA                  {res.asa:8.2f} s")
    click.echo(f"abandon rate         {res.abandon_rate * 100:6.2f} %")
    click.echo(f"AHT                  {res.aht:8.2f} s")
    click.echo(f"occupancy            {res.occupancy * 100:6.2f} %")
    if erlang and patience is None and traffic < agents:
        click.echo(f"Erlang C: service level "
                   f"{ec.service_level(agents, traffic, aht, threshold) * 100:.2f} %, "
                   f"ASA {ec.average_speed_of_answer(agents, traffic, aht):.2f} s, "
                   f"P(wait) {ec.erlang_c(agents, traffic) * 100:.2f} %")
