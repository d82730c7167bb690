"""What a search returns (``Result``, ``SearchResponse``, ``MatchPlot``) and how every front end
shows a match position (``mmss``) and a score (``score_label``), so that the CLI and the app agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..features.extract import QueryAnalysis, unsure_hint
from ..types import SongMeta
from .scoring import CONFIDENT_MIN_SCORE


@dataclass
class Result:
    rank: int
    song: SongMeta
    score: float  # hum mode: estimated probability that this is the hummed song; sound mode: (1+cos)/2
    cost: float | None = None  # mean alignment cost in semitones (hum mode)
    match_start_s: float | None = None
    match_end_s: float | None = None
    transpose: float | None = None  # semitones to add to the hum to reach the song's key (mod 12)
    matched: float | None = None  # share of the hum's frames aligned within align.PITCH_TOLERANCE (hum mode)

    def to_dict(self) -> dict:
        s = self.song
        return {"rank": self.rank, "song_id": s.song_id, "title": s.title, "artist": s.artist, "genre": s.genre,
                "path": s.path, "score": round(self.score, 4),
                "match_start_s": _round(self.match_start_s), "match_end_s": _round(self.match_end_s)}


@dataclass
class SearchResponse:
    query: str
    mode: str
    results: list[Result]
    confident: bool
    timing_ms: dict[str, float]
    analysis: QueryAnalysis | None = None

    @property
    def hint(self) -> str | None:
        """What the person could do for a better hum when its answer is not confident (None when it
        is, and in "sounds like" mode): the front ends' one source for it (``extract.unsure_hint``)."""
        if self.confident or self.mode != "hum" or self.analysis is None:
            return None
        return unsure_hint(self.analysis.voiced_s, self.analysis.snr_db)

    def to_dict(self) -> dict:
        return {"query": self.query, "mode": self.mode, "confident": self.confident, "hint": self.hint,
                "results": [r.to_dict() for r in self.results],
                "timing_ms": {k: round(v, 1) for k, v in self.timing_ms.items()}}


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 2)


@dataclass
class MatchPlot:
    """Data for the "why it matched" plot (MIDI pitch over song time)."""

    song_time_s: np.ndarray
    song_pitch: np.ndarray  # the song's melody around the match (NaN = none)
    hum_time_s: np.ndarray  # the hum, warped onto song time
    hum_pitch: np.ndarray  # the hum, transposed into the song's key and octave
    match_start_s: float
    match_end_s: float


def mmss(seconds: float | None) -> str:
    """1:05, or 1:02:05 for an hour or more. Rounded down, as a player's start time is: a match
    at 83.6 s shows 1:23 and the player starts at 1:23."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(max(seconds, 0.0))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


# How a hum-mode score reads. The first band starts at the threshold that decides ``confident``, so a
# confident result never reads as weak; below it, "Possible match" down to half the threshold.
SCORE_BANDS = (
    (0.9, "Strong match", "green"),
    (CONFIDENT_MIN_SCORE, "Good match", "green"),
    (CONFIDENT_MIN_SCORE / 2, "Possible match", "orange"),
    (0.0, "Weak match", "gray"),
)


def score_label(score: float, mode: str = "hum") -> tuple[str, str]:
    """(words, colour) for a result's score: ("Strong match", "green"). In sound mode the score is
    a similarity, not a probability: ("Similarity", "blue")."""
    if mode == "sound":
        return "Similarity", "blue"
    for threshold, words, colour in SCORE_BANDS:
        if score >= threshold:
            return words, colour
    return SCORE_BANDS[-1][1], SCORE_BANDS[-1][2]
