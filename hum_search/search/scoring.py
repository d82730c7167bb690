"""Scores and the confidence decision: a result's score is the estimated probability that it is the
hummed song; ``confident`` is decided here, and only here (``CONFIDENT_MIN_SCORE``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

# The score of a result is the estimated probability that it is the hummed song, from a logistic
# model of two numbers: its alignment cost (mean semitones of mismatch) and how much better it is than
# the best other song (log of that song's cost over its own). Fitted on the development benchmark's
# queries (in-catalogue and out-of-catalogue, 300- and 750-song catalogues); see docs/melody.md.
SCORE_BIAS = 1.64
SCORE_COST = -5.27  # per semitone of mean alignment cost
SCORE_MARGIN = 8.76  # per unit of log(cost of the best other song / own cost)
CONFIDENT_MIN_SCORE = 0.45  # chosen on dev data (medium and 750-song instances, half out of catalogue): see README


def match_score(cost: float, other_best_cost: float | None) -> float:
    margin = math.log(max(other_best_cost, 1e-6) / max(cost, 1e-6)) if other_best_cost is not None else 0.0
    z = SCORE_BIAS + SCORE_COST * cost + SCORE_MARGIN * margin
    return float(1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0))))


def score_results(results: list[Any]) -> list[Any]:
    """Fill in each (cost-ranked) ``results.Result``'s score: cost against the best *other* song's cost."""
    costs = [r.cost for r in results]
    for i, r in enumerate(results):
        others = costs[:i] + costs[i + 1:]
        r.score = match_score(r.cost, min(others) if others else None)
    return results


def confidence(results: Sequence[Any]) -> bool:
    """Whether the best result (a ``results.Result``) is confident: the one place this is decided."""
    return bool(results) and results[0].cost is not None and results[0].score >= CONFIDENT_MIN_SCORE
