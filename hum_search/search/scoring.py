"""Scores and the confidence decision: a result's score is the estimated probability that it is the
hummed song; ``confident`` is decided here, and only here (``CONFIDENT_MIN_SCORE``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

# The score of a result is the estimated probability that it is the hummed song, from a logistic
# model of three numbers: its alignment cost (mean semitones of mismatch), how much better it is than
# the best other song (log of that song's cost over its own) and where the first stage ranked it
# (log(1 + rank), 0 = the first stage's best): two stages that agree are surer than the alignment
# alone. Fitted by logistic regression on the development benchmark's medium instance, two
# generator seeds, their "dev" and "wide" hums (600), each once as it is and once out of the
# catalogue (its song taken out of the candidates). Refitted when the alignment gained its pitch
# tolerance (``align.PITCH_TOLERANCE``), which lowers every cost, a wrong song's too: the previous
# coefficients (-0.964, -0.490, 16.537, -0.902) then let 3.3 % / 5.3 % of the two seeds' dev hums
# through out of the catalogue at 0.75. Simulated true / false accepts at 0.75, seed 0 / seed 1:
# dev 94.7 / 94.0 % with 2.0 / 2.7 % false, wide 70.0 / 78.0 % with 0.0 / 0.7 %; fitted on one
# seed and tested on the other: dev 94.7 / 94.0 % with 2.0 / 2.7 %, wide 71.3 / 76.7 % with
# 0.0 / 0.7 %. See docs/melody.md "Score and confidence".
SCORE_BIAS = 0.153
SCORE_COST = -3.435  # per semitone of mean alignment cost
SCORE_MARGIN = 10.922  # per unit of log(cost of the best other song / own cost)
SCORE_FIRST_RANK = -0.773  # per unit of log(1 + the first stage's rank of the song, 0-based)
CONFIDENT_MIN_SCORE = 0.75
# Costs under this count as this in the margin: with the alignment's pitch tolerance a clean hum can
# align at 0, and 0.00 against 0.01 (the same recording twice in a collection) is a tie, not a
# margin of 10,000 to 1. The lowest costs of the 1,200 fitting rows: 0.033, then 0.074 and up.
MARGIN_COST_FLOOR = 0.05


def match_score(cost: float, other_best_cost: float | None, first_rank: int = 0) -> float:
    margin = 0.0
    if other_best_cost is not None:
        margin = math.log(max(other_best_cost, MARGIN_COST_FLOOR) / max(cost, MARGIN_COST_FLOOR))
    z = SCORE_BIAS + SCORE_COST * cost + SCORE_MARGIN * margin + SCORE_FIRST_RANK * math.log1p(max(first_rank, 0))
    return float(1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0))))


def score_results(results: list[Any], first_ranks: Sequence[int] | None = None) -> list[Any]:
    """Fill in each (cost-ranked) ``results.Result``'s score: cost against the best *other* song's
    cost, and the first stage's rank of its song (``first_ranks``, one per result; 0 when not given)."""
    costs = [r.cost for r in results]
    ranks = list(first_ranks) if first_ranks is not None else [0] * len(results)
    for i, r in enumerate(results):
        others = costs[:i] + costs[i + 1:]
        r.score = match_score(r.cost, min(others) if others else None, ranks[i])
    return results


def confidence(results: Sequence[Any]) -> bool:
    """Whether the best result (a ``results.Result``) is confident: the one place this is decided."""
    return bool(results) and results[0].cost is not None and results[0].score >= CONFIDENT_MIN_SCORE
