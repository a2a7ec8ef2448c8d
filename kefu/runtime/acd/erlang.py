"""Erlang C: the M/M/c prediction that ``simulate-load`` is checked against.

Notation: ``agents`` N, ``traffic`` A = λ·h in Erlangs, ``aht`` h in seconds, ``threshold`` T.
P_w = Erlang C probability of waiting; SL(T) = 1 − P_w·e^{−(N−A)·T/h}; ASA = P_w·h/(N−A).
"""

from __future__ import annotations

import math


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a contact waits (Erlang C). Raises ``ValueError`` unless
    0 ≤ traffic < agents (the queue would grow without bound)."""
    if agents < 1 or not 0 <= traffic < agents:
        raise ValueError("Erlang C needs 0 <= traffic < agents")
    b = 1.0  # Erlang B by the stable recursion B(k) = A·B(k−1) / (k + A·B(k−1))
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return agents * b / (agents - traffic * (1 - b))


def service_level(agents: int, traffic: float, aht: float, threshold: float) -> float:
    """Share (0..1) of contacts answered within ``threshold`` seconds."""
    return 1 - erlang_c(agents, traffic) * math.exp(-(agents - traffic) * threshold / aht)


def average_speed_of_answer(agents: int, traffic: float, aht: float) -> float:
    """Mean wait in seconds over all contacts (those answered at once count as 0)."""
    return erlang_c(agents, traffic) * aht / (agents - traffic)
