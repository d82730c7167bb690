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
# alone. Fitted on the development benchmark's medium instance, its "dev" and "wide" hums, each once
# as it is and once out of the catalogue (its song taken out of the candidates). On those hums the
# previous model (cost and margin only: -1.62, -1.57, 16.77 at 0.75) accepted 94.7 % / 59.3 % of
# dev / wide with 2.7 % / 0.0 % false accepts; this one 94.0 % / 69.3 % with 2.0 % / 0.0 %. Fitted
# on dev alone it gives wide 72.0 % at 0.7 % false accepts (the old pair 59.3 % at 0.0 %): the
# rank generalizes across conditions. Simulated the same way against +10,000 songs (the scale
# benchmark's store): dev 82.7 -> 87.3 % with 4.7 % false accepts both; wide 44.7 -> 48.0 %, 2.0 ->
# 2.7 %. The real out-of-catalogue run (75 in, 75 out): wide 64.0 -> 74.7 % at 0.0 %, dev 93.3 ->
# 92.0 % at 2.7 %. See docs/melody.md "Score and confidence".
SCORE_BIAS = -0.964
SCORE_COST = -0.490  # per semitone of mean alignment cost
SCORE_MARGIN = 16.537  # per unit of log(cost of the best other song / own cost)
SCORE_FIRST_RANK = -0.902  # per unit of log(1 + the first stage's rank of the song, 0-based)
CONFIDENT_MIN_SCORE = 0.75


def match_score(cost: float, other_best_cost: float | None, first_rank: int = 0) -> float:
    margin = math.log(max(other_best_cost, 1e-6) / max(cost, 1e-6)) if other_best_cost is not None else 0.0
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
