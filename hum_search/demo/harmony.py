"""Harmony for the demo songs: the diatonic chords of a key, and one chord per bar for a melody.

``harmonize`` is a small dynamic programme: each bar scores every candidate chord by how much of
the melody in that bar (longer and stressed notes count more) are chord tones, adds a prior for
common chords, prefers common progressions between bars and ends on the tonic with a dominant
before it.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .notation import MODES

Chord = tuple[str, tuple[int, int, int]]  # (roman numeral, pitch classes root/third/fifth)


def scale_pitch_classes(key_root: int, mode: str) -> list[int]:
    try:
        intervals = MODES[mode]
    except KeyError:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}") from None
    return [(key_root + i) % 12 for i in intervals]


def chord_candidates(key_root: int, mode: str) -> list[Chord]:
    """Diatonic major/minor triads of the mode (diminished ones left out) as (roman, pcs)."""
    scale = scale_pitch_classes(key_root, mode)
    out = []
    romans = ("I", "II", "III", "IV", "V", "VI", "VII")
    for degree in range(7):
        root, third, fifth = scale[degree], scale[(degree + 2) % 7], scale[(degree + 4) % 7]
        if (fifth - root) % 12 != 7:
            continue  # diminished or augmented
        major = (third - root) % 12 == 4
        out.append((romans[degree] if major else romans[degree].lower(), (root, third, fifth)))
    if mode == "minor":  # harmonic minor's major dominant, the usual cadence chord
        dom = (key_root + 7) % 12
        out = [c for c in out if c[0] != "v"] + [("V", (dom, (dom + 4) % 12, (dom + 7) % 12))]
    return out


_PRIOR = {"I": 0.25, "i": 0.25, "IV": 0.12, "iv": 0.1, "V": 0.15, "vi": 0.02, "VI": 0.02,
          "ii": 0.0, "iii": -0.06, "III": -0.02, "VII": -0.04, "II": -0.02, "v": -0.05}
_GOOD_MOVES = {("V", "I"), ("V", "i"), ("IV", "V"), ("iv", "V"), ("ii", "V"), ("IV", "I"), ("vi", "ii"),
               ("vi", "IV"), ("I", "IV"), ("I", "V"), ("i", "iv"), ("i", "V"), ("VI", "V"), ("i", "VI"),
               ("III", "VI"), ("VII", "III"), ("VI", "iv")}


def harmonize(
    melody_beats: Sequence[tuple[float, float, float]],
    n_bars: int,
    *,
    beats_per_bar: float,
    first_downbeat: float,
    key_root: int,
    mode: str,
    strong_beats: Iterable[float] = (0.0,),
) -> list[Chord]:
    """One chord per bar for a melody given as (start_beat, beats, pitch); bar ``b`` covers beats
    [first_downbeat + b*beats_per_bar, +beats_per_bar). A small dynamic programme scores chord tones
    against the melody (longer and stressed notes count more), prefers common progressions and
    ends on the tonic with a dominant before it."""
    cands = chord_candidates(key_root, mode)
    strong = set(strong_beats)
    fit = np.zeros((n_bars, len(cands)))
    for b in range(n_bars):
        lo = first_downbeat + b * beats_per_bar
        fit[b] = _bar_fit(melody_beats, lo, lo + beats_per_bar, strong, cands)
    tonic = 0
    dominant = next((i for i, (n, _) in enumerate(cands) if n == "V"), None)
    fit[-1, tonic] += 2.0
    if n_bars >= 2 and dominant is not None:
        fit[-2, dominant] += 0.3
    fit[0, tonic] += 0.3
    return [cands[c] for c in _best_path(fit, cands)]


def _bar_fit(melody_beats: Sequence[tuple[float, float, float]], lo: float, hi: float, strong: set[float],
             cands: list[Chord]) -> np.ndarray:
    """How well each candidate fits the melody in beats [lo, hi): the duration-weighted share of
    chord tones (a note on a strong beat weighs 1.6 times), plus the chord's prior."""
    total = 0.0
    scores = np.zeros(len(cands))
    fit = np.zeros(len(cands))
    for start, beats, pitch in melody_beats:
        ov = min(hi, start + beats) - max(lo, start)
        if ov <= 1e-9:
            continue
        w = ov * (1.6 if (start >= lo - 1e-9 and round(start - lo, 6) in strong) else 1.0)
        pc = int(round(pitch)) % 12
        for c, (_, pcs) in enumerate(cands):
            scores[c] += w * (1.0 if pc in pcs else -0.7)
        total += w
    if total > 0:
        fit = scores / total
    for c, (name, _) in enumerate(cands):
        fit[c] += _PRIOR.get(name, 0.0)
    return fit


def _best_path(fit: np.ndarray, cands: list[Chord]) -> list[int]:
    """Viterbi over bars: the candidate index per bar maximizing fit plus transition scores."""
    n_bars, n_c = fit.shape
    trans = np.zeros((n_c, n_c))
    for i, (a, _) in enumerate(cands):
        for j, (bname, _) in enumerate(cands):
            trans[i, j] = 0.05 if i == j else (0.12 if (a, bname) in _GOOD_MOVES else -0.04)
            if a == "V" and bname in ("IV", "iv"):
                trans[i, j] = -0.2
    score = fit[0].copy()
    back = np.zeros((n_bars, n_c), dtype=int)
    for b in range(1, n_bars):
        total = score[:, None] + trans
        back[b] = np.argmax(total, axis=0)
        score = total[back[b], np.arange(n_c)] + fit[b]
    path = [int(np.argmax(score))]
    for b in range(n_bars - 1, 0, -1):
        path.append(int(back[b][path[-1]]))
    path.reverse()
    return path
