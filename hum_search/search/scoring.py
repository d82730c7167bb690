"""Scores and the confidence decision: a result's score is the estimated probability that it is the
hummed song; ``confident`` is decided here, and only here (``CONFIDENT_MIN_SCORE``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

# The score of a result is the estimated probability that it is the hummed song, from a logistic
# model of two numbers: its alignment cost (mean semitones of mismatch) and how much better it is than
# the best other song (log of that song's cost over its own). Fitted on the development benchmark's
# medium instance, its "dev" and "wide" hums, each once as it is and once out of the catalogue (its
# song taken out of the candidates), after the re-rank's wider tempo and key search: the previous
# coefficients (1.64, -5.27, 8.76 at 0.45) let 7 % of out-of-catalogue dev hums through. See
# docs/melody.md "Score and confidence".
SCORE_BIAS = -1.62
SCORE_COST = -1.57  # per semitone of mean alignment cost
SCORE_MARGIN = 16.77  # per unit of log(cost of the best other song / own cost)
CONFIDENT_MIN_SCORE = 0.75  # melody model v2, on those hums: dev 2.7 % / wide 0.0 % false accepts (0.65: 4.7 % / 0.7 %)


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
