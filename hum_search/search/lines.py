"""Whole-line pass of the first stage: the hum aligned, coarsely, with every song's whole melody line.

The windows' vote (``candidates.py``) compares 5 s of hum with 5 s of song at one tempo per
window, a fixed template of 40 points: a hum whose note lengths and breaths differ from the song's
(a held note 0.95 s against 1.06 s, a rest where the song plays on) lines up with the song for part
of each window only, and its song can rank 80th-200th of 300 in the vote although nine tenths of
its frames are the right note. This pass does not assume the song's rhythm: the hum (from its first
to its last voiced frame, pauses kept) is aligned by subsequence DTW with each song's whole line at
LINE_FPS, at LINE_TEMPI times the song's speed (steps (1,1), (1,2), (2,1): a local tempo of
0.5-2x on top) and in all 12 keys, with the re-rank's frame cost (``align.local_cost``). Its
LINE_SONGS best songs join the candidates, each with the place, tempo and key it matched at
(``candidates.Candidate.places``), and the re-rank's alignment ranks them with the others.

Measured on the development benchmark's medium instance (300 songs, 80 s each), four generator
seeds, 150 `wide` and 150 `dev` hums each, the CLI's first stage and re-rank on cached analyses (a
harness outside the project; docs/melody.md "A first stage without the song's rhythm"; the CLI's
own figures are in the README). This pass alone ranks the hummed song about as well as the whole
search did (`wide` MRR 0.929 / 0.955 / 0.937 / 0.930 against 0.932 / 0.967 / 0.933 / 0.957), but
finds other hums. Its 10 best songs and places added to the candidates:

- `wide` top-10 0.960 / 0.967 / 0.960 / 0.967 -> 0.960 / 0.993 / 0.980 / 0.973, MRR 0.932 / 0.967
  / 0.933 / 0.957 -> 0.933 / 0.974 / 0.942 / 0.957. Nine hums the first stage never handed on
  now rank in the top 10 (eight of them first or second), and two whose hits all pointed
  elsewhere rise from 55th and 65th to 6th and 1st. Ten hums gain first place; eleven lose it to
  a wrong song aligned at that song's own best place.
- `dev` MRR 0.991 / 0.993 / 0.978 / 0.982 -> 0.987 / 0.993 / 0.978 / 0.981.
- First stage p50 57 -> 144 ms on the 2-core development machine (the compiled pass: about 80 ms
  for a 10 s hum against 300 songs).

Variants measured the same way:

- Only the songs the windows lack (no place for those they hand on): the same on average.
- 5 songs: the same.
- Tempi 0.75 and 1.3 only: 25 ms less, `wide` MRR within a hum or two either way. Kept at three,
  which leave less of the 0.6-1.6x range to the steps.
- 5 frames per second: the same on one seed, 0.02 worse on another.
- 3.1 frames per second: MRR 0.750 alone instead of 0.929 (seed 0).
- 3 keys per song, chosen by pitch-class histograms, instead of all 12: 0.879.
- The songs first ranked at 3.1 frames per second, the best 50 aligned again at 6.25: 0.013 worse
  on one seed.

Its cost grows with the catalogue and the hum: the hum's line frames x the songs' x 3 tempi x 12
keys. So whole lines are aligned only where the store searches exactly and the catalogue holds at
most LINE_MAX_MUSIC_S seconds of song lines (about 375 songs of 80 s, or 140 songs of 3.5 minutes:
about 100 ms on this machine), over the hum's first LINE_MAX_QUERY_S seconds.

A larger catalogue, and every store that takes two passes (a large embedded store, Elasticsearch),
gets the same alignment over stretches (``stretch_places``): of the vote's best
``candidates.STRETCH_SONGS`` songs (150), each song's line around its best hit (the hum's span at
the hit's tempo, 3 s either side), about 6,000 s of lines in all. Where the windows' vote finds a
song's place but ranks the song too low to re-rank it, this hands it on. The seed-0 instance's
hums against its store grown to 10,300 songs (``benchmarks/scale.py --sizes 10000``): `wide` MRR
0.784 -> 0.812, top-10 0.793 -> 0.827; `dev` 0.956 -> 0.956; the first stage +20 ms at the median
(its lines read 6 ms, the alignment 17 ms, p95 34 ms). Measured on the same hums: the 330 songs
of the coarse and middle passes, 0.812 / 0.962 for twice the time; each song's two best hits,
0.810; the stretches at their hit's tempo only instead of the three tempi, 0.808 / 0.956 for half
the alignment's time. What no pass here hands on is a song whose every window misses: 23 of the
33 `wide` hums not first at 10,300 songs are not among the coarse pass's 330 songs at all; a
first stage that finds those needs the songs' lines indexed by their notes (docs/melody.md).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..features import melody
from ..features.extract import QueryAnalysis
from ..jit import Compiled
from ..store.base import Store
from ..types import SongRecord
from . import align

LINE_DOWNSAMPLE = 4  # contour frames per line frame: 6.25 frames per second
LINE_FPS = melody.CONTOUR_FPS / LINE_DOWNSAMPLE
LINE_TEMPI = (0.7, 1.0, 1.4)  # song seconds per hum second the lines are resampled at
LINE_KEYS = np.arange(12, dtype=np.float32)  # semitones from the hum's key to the song's
LINE_SONGS = 10  # best songs of this pass handed to the re-rank
LINE_MAX_MUSIC_S = 30_000.0  # seconds of song lines (all songs) this pass aligns at most per hum
LINE_MAX_QUERY_S = 20.0  # seconds of the hum (from its first voiced frame) it aligns at most
LINE_MIN_VOICED = 8  # voiced line frames (1.3 s) a hum needs for this pass
LINE_BLOCK_ROWS = 64  # rows aligned per call of the compiled programme (blocks of similar length)

Place = tuple[float, float, float]  # (start of the match in song seconds, tempo, key): see best_places


def line_places(store: Store, qa: QueryAnalysis,
                genres: Sequence[str] | None) -> list[tuple[SongRecord, Place]] | None:
    """This pass's LINE_SONGS best songs (of ``genres``) for the hum ``qa``, best first, each with its
    record (melody only) and the place it matched at; none where the pass does not run (module
    docstring), and None where the catalogue is too long to align whole (``stretch_places`` then)."""
    if LINE_SONGS <= 0 or not store.searches_exactly():
        return []
    query = hum_line(qa)
    if query is None:
        return []
    records = _catalogue(store, genres)
    if not records:
        return records  # (None: too long)
    songs = list(records.values())
    return [(songs[i], place) for i, place in best_places(query, [r.melody.contour for r in songs], LINE_SONGS)]


def stretch_places(qa: QueryAnalysis,
                   stretches: Sequence[tuple[SongRecord, float, float]]) -> list[tuple[SongRecord, Place]]:
    """The pass over a catalogue too long to align whole: each of ``stretches`` (a song, and the
    song seconds from and to which its line is aligned: around the vote's best hit, chosen by
    ``candidates.py``) instead of each whole line. The LINE_SONGS best, one per stretch, best first,
    each with its place in the whole song."""
    query = hum_line(qa) if LINE_SONGS > 0 else None
    if query is None:
        return []
    kept, parts, offsets = [], [], []
    for record, lo_s, hi_s in stretches:
        contour = record.melody.contour if record.melody is not None else np.zeros(0, np.float32)
        a = min(max(int(lo_s * melody.CONTOUR_FPS), 0), len(contour))
        b = min(max(int(np.ceil(hi_s * melody.CONTOUR_FPS)), a), len(contour))
        if b - a >= LINE_DOWNSAMPLE:
            kept.append(record)
            parts.append(contour[a:b])
            offsets.append(a / melody.CONTOUR_FPS)
    if not parts:
        return []
    return [(kept[i], (start + offsets[i], tempo, key))
            for i, (start, tempo, key) in best_places(query, parts, LINE_SONGS)]


def hum_line(qa: QueryAnalysis) -> np.ndarray | None:
    """The hum as this pass aligns it: its first LINE_MAX_QUERY_S seconds (from its first voiced
    frame) at LINE_FPS, NaN in its pauses; None where it holds under LINE_MIN_VOICED voiced frames."""
    query = align.hum_query(qa.contour)[: int(LINE_MAX_QUERY_S * melody.CONTOUR_FPS): LINE_DOWNSAMPLE]
    return query if np.count_nonzero(~np.isnan(query)) >= LINE_MIN_VOICED else None


def _catalogue(store: Store, genres: Sequence[str] | None) -> dict[str, SongRecord] | None:
    """Every song of the catalogue (of ``genres``) with a melody line, read with their lines; None
    where they last more than LINE_MAX_MUSIC_S seconds (told from their tags first: the lines of a
    catalogue too large are not read)."""
    ids = list(dict.fromkeys(state.song_id for state in store.file_states().values()))
    if not ids:
        return {}
    wanted = set(genres) if genres else None
    metas = store.get(ids, melody=False, sound=False, segments=False)
    ids = [sid for sid, rec in metas.items() if wanted is None or rec.meta.genre in wanted]
    if sum(metas[sid].meta.duration_s for sid in ids) > LINE_MAX_MUSIC_S:
        return None
    records = store.get(ids, melody=True, sound=False, segments=False)
    return {sid: rec for sid, rec in records.items() if rec.melody is not None and len(rec.melody.contour) > 0}


def best_places(query: np.ndarray, contours: list[np.ndarray], k: int) -> list[tuple[int, Place]]:
    """The ``k`` songs (indices into ``contours``, at CONTOUR_FPS) whose whole line aligns best with
    ``query`` (line frames, NaN = pause), best first, each with its place: (start of the match in
    song seconds, tempo in song seconds per hum second, key in semitones from the hum's to the
    song's)."""
    rows, owner, tempo = line_rows(contours)
    if not rows or k <= 0:
        return []
    cost = line_costs(query, rows)
    best_key = np.argmin(cost, axis=1)
    order = np.argsort(cost[np.arange(len(rows)), best_key], kind="stable")
    chosen: dict[int, int] = {}  # song -> its best row
    for r in order.tolist():
        if owner[r] not in chosen:
            chosen[owner[r]] = r
            if len(chosen) >= k:
                break
    picked = list(chosen.items())
    keys = [float(LINE_KEYS[best_key[r]]) for _, r in picked]
    regions = np.full((len(picked), max(len(rows[r]) for _, r in picked)), np.inf, np.float32)  # (+inf: padding)
    for i, (_, r) in enumerate(picked):
        regions[i, : len(rows[r])] = rows[r] - keys[i]
    starts = align.align(query, regions).start
    return [(song, (float(starts[i]) * tempo[r] / LINE_FPS, float(tempo[r]), keys[i]))
            for i, (song, r) in enumerate(picked)]


def line_rows(contours: list[np.ndarray]) -> tuple[list[np.ndarray], list[int], list[float]]:
    """Each song's line at LINE_FPS, resampled at each of LINE_TEMPI (to hum time: a hum at that
    tempo then matches along the diagonal): (rows, the song of each row, the tempo of each row)."""
    rows, owner, tempo = [], [], []
    for i, contour in enumerate(contours):
        line = np.asarray(contour, np.float32)[::LINE_DOWNSAMPLE]
        if not len(line):
            continue
        for t in LINE_TEMPI:
            rows.append(line[np.minimum(np.arange(0, len(line), t).astype(np.intp), len(line) - 1)])
            owner.append(i)
            tempo.append(t)
    return rows, owner, tempo


def line_costs(query: np.ndarray, rows: list[np.ndarray]) -> np.ndarray:
    """The mean cost per voiced query frame of the best subsequence alignment of ``query`` with each
    of ``rows`` (NaN: no melody) in each of LINE_KEYS: (rows, keys). The same steps, penalty and
    frame costs as ``align.align`` (which it equals to float rounding; tested), without the start
    and end: the compiled loops then run over song frames as vectors, five times faster. The rows
    go in blocks of LINE_BLOCK_ROWS of similar length (the compiler vectorizes a loop over a whole
    matrix row, not one that stops at each row's own length), padded as ``align.align`` pads."""
    q = np.asarray(query, np.float32)
    out = np.full((len(rows), len(LINE_KEYS)), np.inf, np.float32)
    if len(q) == 0 or not rows:
        return out
    gap = np.isnan(q)
    qpc = np.where(gap, 0.0, q - 12.0 * np.floor(q / 12.0)).astype(np.float32)
    per = np.float32(max(np.count_nonzero(~gap), 1))
    by_length = np.argsort([len(r) for r in rows], kind="stable")
    blocks = [by_length[i: i + LINE_BLOCK_ROWS] for i in range(0, len(rows), LINE_BLOCK_ROWS)]

    def run(block: np.ndarray) -> np.ndarray:
        matrix = np.full((len(block), max(len(rows[r]) for r in block)), np.inf, np.float32)
        for i, r in enumerate(block.tolist()):
            matrix[i, : len(rows[r])] = rows[r]
        finite = np.isfinite(matrix)
        folded = matrix.copy()
        folded[finite] -= 12.0 * np.floor(matrix[finite] / 12.0)
        return _KERNEL(qpc, gap, per, LINE_KEYS, folded, np.float32(align.COST_CAP), np.float32(align.UNVOICED_COST),
                       np.float32(align.PAD_COST), np.float32(align.STEP_PENALTY), np.float32(align.PITCH_TOLERANCE))

    for block, costs in zip(blocks, align.in_parallel(run, blocks)):
        out[block] = costs
    return out


def _line_dtw(qpc, gap, per, keys, song, cap, unvoiced, pad, penalty, tol):  # pragma: no cover - compiled
    """``line_costs``' programme: per row and key, the rows of the dynamic programme over the song's
    frames (``per``: the query's voiced frames), written so that the compiler turns each into vector
    instructions: 0.34 ns per cell on the development machine, against 1.3 with min/max instead of
    selects, 1.8 with a loop to each row's own length, 2.0 with a second array read per song frame
    (the song's frames without melody and its padding are therefore codes among its pitch classes),
    and 1.8 with the voiced frames counted here (a loop that reuses the row loop's variable). Column
    j + 2 holds song frame j; columns 0 and 1 are walls. Row i of the programme is acc[i % 3]. NaN
    in ``song``: no melody (``unvoiced``); +inf: padding (``pad``)."""
    n_rows, m = song.shape
    n = qpc.shape[0]
    width = m + 2
    acc = np.zeros((3, width), np.float32)
    local = np.zeros((2, width), np.float32)  # local costs: row i in local[i & 1]
    pc = np.zeros(width, np.float32)  # the song row's pitch classes, or a code: no melody, padding
    out = np.zeros((n_rows, keys.shape[0]), np.float32)
    big = np.float32(1e9)
    for r in range(n_rows):
        for j in range(m):
            v = song[r, j]
            pc[j + 2] = _UNVOICED_CODE if np.isnan(v) else (_PAD_CODE if np.isinf(v) else v)
        for k in range(keys.shape[0]):
            for i in range(n):
                a = qpc[i] + keys[k]
                a = a - np.float32(12.0) if a >= np.float32(12.0) else a
                cur = local[i & 1]
                before = local[1 - (i & 1)]
                for j in range(2, width):
                    d = a - pc[j]
                    d = d if d >= 0 else -d
                    e = np.float32(12.0) - d
                    d = d if d < e else e
                    d = d - tol
                    d = d if d > 0 else np.float32(0.0)
                    d = d if d < cap else cap
                    v = pc[j]
                    cur[j] = d if v < _CODES_FROM else (unvoiced if v > _PAD_CODE else pad)
                if gap[i]:  # a pause in the hum costs nothing
                    for j in range(2, width):
                        cur[j] = np.float32(0.0)
                row = acc[i % 3]
                prev = acc[(i + 2) % 3]  # row i - 1
                prev2 = acc[(i + 1) % 3]  # row i - 2
                if i == 0:  # subsequence: a match may start at any song frame
                    for j in range(width):
                        row[j] = cur[j]
                        prev[j] = big  # (row -1: row 1's row i - 2)
                    row[0] = big
                    row[1] = big
                    continue
                row[0] = big
                row[1] = big
                for j in range(2, width):
                    x = prev[j - 1]  # (1,1)
                    y = prev[j - 2] + penalty  # (1,2)
                    x = x if x < y else y
                    y = prev2[j - 1] + before[j] + penalty  # (2,1), through (i - 1, j)
                    x = x if x < y else y
                    row[j] = cur[j] + x
            last = acc[(n - 1) % 3]
            best = big
            for j in range(2, width):
                best = best if best < last[j] else last[j]
            out[r, k] = best / per
    return out


_CODES_FROM = np.float32(100.0)  # song values from here on are codes, not pitch classes
_PAD_CODE = np.float32(1000.0)
_UNVOICED_CODE = np.float32(2000.0)
_KERNEL = Compiled(_line_dtw)
