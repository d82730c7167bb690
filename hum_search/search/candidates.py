"""First stage of a hum search: query windows -> kNN per window -> a vote -> candidate songs.

Each query window (``melody.query_windows``: a few tempo ratios x window offsets, at most
``melody.MAX_QUERY_WINDOWS`` of them, sent to the store as ONE batch of kNN searches) asks the
store for its K_PER_WINDOW nearest songs (best segment each). A song's best single window is a poor
ranking: over many windows x thousands of segments some wrong song always has one lucky window. So
each hit votes for a start of the hum in the song (segment start - window offset x tempo), and a
song's candidate score is the largest sum, over distinct window offsets, of how much each hit beats
that window's K_PER_WINDOW-th best song, within a VOTE_BIN_S bin of start times (each hit also
counts for the next bin). Consistent evidence from many windows wins; one lucky window does not.
The RERANK_SONGS best go to the alignment re-rank (``rerank.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..features.extract import QueryAnalysis
from ..store.base import Store

K_PER_WINDOW = 20  # songs the kNN returns for each query window
RERANK_SONGS = 50  # candidates re-ranked by alignment
VOTE_BIN_S = 1.0  # width of a bin of estimated hum starts (song seconds)
NO_BASE_SCORE = 0.5  # a window's baseline when the store returned fewer than K_PER_WINDOW songs


@dataclass
class Candidate:
    song_id: str
    best: float  # the song's vote (see the module docstring)
    hits: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    # (score, estimated hum start in the song, tempo, query window mean pitch, song segment start)


def candidates(store: Store, qa: QueryAnalysis, genres: Sequence[str] | None) -> list[Candidate]:
    """The RERANK_SONGS best candidate songs for the hum ``qa``, best first."""
    w = qa.windows
    if len(w.vectors) == 0:
        return []
    per_window = store.melody_knn(w.vectors, k=K_PER_WINDOW, genres=genres, per_song=1)
    by_song: dict[str, Candidate] = {}
    rows = []  # (song index, offset index, estimated start, evidence)
    song_index: dict[str, int] = {}
    offsets, offset_idx = np.unique(w.offset_s, return_inverse=True)
    for qi, hits in enumerate(per_window):
        if not hits:
            continue
        base = hits[-1].score if len(hits) >= K_PER_WINDOW else NO_BASE_SCORE
        for h in hits:
            c = by_song.get(h.song_id)
            if c is None:
                c = by_song[h.song_id] = Candidate(h.song_id, h.score)
                song_index[h.song_id] = len(song_index)
            start = h.start_s - float(w.offset_s[qi]) * float(w.tempo[qi])
            c.hits.append((h.score, start, float(w.tempo[qi]), float(w.mean_pitch[qi]), h.start_s))
            rows.append((song_index[h.song_id], offset_idx[qi], start, h.score - base))
    if rows:
        votes = _votes(np.array(rows, dtype=np.float64), len(song_index), len(offsets))
        for sid, v in zip(song_index, votes):
            by_song[sid].best = float(v)
    return sorted(by_song.values(), key=lambda c: -c.best)[:RERANK_SONGS]


def _votes(arr: np.ndarray, n_songs: int, n_off: int) -> np.ndarray:
    """Each song's vote from rows (song index, offset index, estimated start, evidence): the best
    evidence per (song, start bin, offset), summed over offsets, best bin (a hit also counts for
    the next bin)."""
    song, off, start = arr[:, 0].astype(int), arr[:, 1].astype(int), arr[:, 2]
    ev = np.maximum(arr[:, 3], 0)
    b = np.floor(start / VOTE_BIN_S).astype(int)
    b -= b.min()
    n_bins = int(b.max()) + 2
    cell = np.zeros((n_songs, n_bins, n_off))
    np.maximum.at(cell, (song, b, off), ev)
    np.maximum.at(cell, (song, b + 1, off), ev)
    return cell.sum(axis=2).max(axis=1)
