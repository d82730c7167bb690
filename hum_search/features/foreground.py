"""Foreground and background in a hummed query: which frames hold the hummer, not the radio.

denoise.py removes what is *stationary*. A pitched background that moves (music or TV, a crowd's
voices) survives it, and in the hum's pauses (before the first note, between phrases, after the
last) the tracker follows that background's own notes: on the development benchmark's `wide`
profile, 60-99% of the truly silent frames of the music queries under 10 dB SNR came out voiced,
and with the silent frames removed (an oracle) MRR on those queries rose from 0.64 to 0.76.

The cue used here is the one a listener uses: the hummer is the *foreground*, louder than what
keeps playing when the hummer stops. So the recording's level (voice band, stationary part removed,
smoothed over LEVEL_SMOOTH_FRAMES) has a floor, the level of the background alone; a frame is
foreground only when it stands above that floor by a margin. The floor is local, because a radio's
level changes (a quiet intro, a loud chorus): a low percentile of the finely smoothed level over
the surrounding 2 s (the gaps between notes and the breaths show the background there), never
under the recording's own floor (FLOOR_PERCENTILE: the hummer is silent for at least that share
of a recording: breaths, the moment before the first note). The margin is a share of the level
range between the floor and the hum's typical level (a quiet background under a loud hum gets a
wide margin, one nearly as loud as the hum a narrow one), capped at MAX_MARGIN_DB.

The gate only acts when the background is *pitched*: when at least PITCHED_SHARE of the quietest
frames have a best salience at the tracker's own voicing point (exp(-unvoiced_cost) of the
recording's reference salience). Silence, hiss and a removed steady hum are unpitched and
already unvoiced; gating them would change nothing but could cut a quiet note of a hum that has no
pause at all. For the same reason the gate needs a pause: at least MIN_PAUSE_FRAMES in a row at
the background's level where the raw level also drops by MIN_DIP_DB (without it, a steady 2 s
glide with no silence around it lost 22 % of its frames: its cleaned level dips where its
partials cross bins that others occupied earlier).

Measured on the `wide` queries (silent frames from the generator's note lists, read by the
measuring script only): voiced share of the silent frames under background music 0.33 -> 0.08,
crowd 0.12 -> 0.09, hum frames missed under music 0.03 -> 0.08; MRR music 0.64 -> 0.71, crowd 0.85 -> 0.88,
dev profile unchanged (docs/melody.md). The cost is a few milliseconds per 10 s hum.

A second cue tells the voice from a pitched background *while both sound*: a voice's pitch never
holds still. Vibrato, the slow wobble of a held note and the jitter of the vocal folds move a hum's
pitch by more than a few cents within any 80 ms, while a piano, guitar or synthesizer note, an organ
chord or an appliance's whine stays put (Melodia's contour characterisation uses the same
observation: pitch deviation and vibrato mark the voice). ``steady_penalty`` finds, for each
candidate of the tracker, the worst distance to the nearest candidate in the frames up to
STEADY_FRAMES either side; a candidate whose pitch stays within STEADY_CENTS all that time is
steady, and costs the Viterbi pass up to STEADY_COST more, *relative to the frame's strong
candidates*: when every strong candidate is steady (a synthetic test tone, a tuning fork, a
whistle with no wobble) nothing changes, so a steady hum with no rival is tracked as before.
Measured on the `wide` queries (candidates with at least 60 % of the recording's reference
salience; voice = within half a semitone of the hummed note, from the generator's note lists, read
by the measuring script only): under background music 1.3 % of the voice's candidates stay within
2 cents over ±40 ms, 25 % of the others do. Scorer, 300-song store: wide MRR 0.868 -> 0.899, music
0.808 -> 0.917, dev 0.983 unchanged (docs/melody.md, issue 11 step 4); about 2 ms per 10 s hum.
The plateau is wide (STEADY_CENTS 2-5 and STEADY_COST 0.5-2: 0.892-0.902).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import percentile_filter, uniform_filter1d

LEVEL_SMOOTH_FRAMES = 15  # frames (150 ms) of level averaged: a note's level, not a syllable's ripple
LEVEL_MIN_DB = -30.0  # levels under this (relative to the stationary floor) count as this
FLOOR_PERCENTILE = 5.0  # the background's level: the hummer is silent for at least this share
QUIET_PERCENTILE = 10.0  # the frames under this level percentile show whether the background is pitched
TOP_PERCENTILE = 75.0  # the hum's typical level
MARGIN_SHARE = 0.35  # a frame must stand this share of (top - floor) above the floor
LOCAL_SMOOTH_FRAMES = 5  # frames (50 ms): fine enough to see the background in the gaps between notes
LOCAL_WINDOW_FRAMES = 201  # frames (2 s) over which the local background level is looked for
LOCAL_PERCENTILE = 10.0  # of the finely smoothed level in that window
MIN_PAUSE_FRAMES = 25  # frames (0.25 s): the background is only known if the hummer stops this long
MIN_DIP_DB = 2.0  # and the recording's raw level there is this far under its level elsewhere
MAX_MARGIN_DB = 6.0  # and never more than this (a clean hum's quiet notes are far above its floor)
PITCHED_SHARE = 0.2  # the background is pitched when the tracker would voice this share of the quietest frames
STEADY_FRAMES = 4  # tracker frames (40 ms) either side over which a candidate's pitch is followed
STEADY_CENTS = 4.0  # a candidate that stays within this is steady (an instrument, not a voice)
STEADY_COST = 1.0  # Viterbi cost of a fully steady candidate (a voiced frame costs -log(salience share))
STEADY_STRONG_SHARE = 0.5  # candidates with at least this share of the frame's best salience are its strong ones


def background_frames(level_db: np.ndarray, raw_level_db: np.ndarray, best_salience: np.ndarray,
                      pitched_salience: float) -> np.ndarray:
    """(frames,) True where only the background plays.

    ``level_db``: per-frame level of the voice band after stationary removal (denoise.Cleaned.
    frame_snr_db); ``raw_level_db``: the frame level before any removal; ``best_salience``: each frame's best salience over the recording's reference;
    ``pitched_salience``: the ratio at which the tracker calls a frame voiced."""
    n = len(level_db)
    none = np.zeros(n, bool)
    if n < 2 * LEVEL_SMOOTH_FRAMES:
        return none
    x = uniform_filter1d(np.maximum(level_db.astype(np.float64), LEVEL_MIN_DB), LEVEL_SMOOTH_FRAMES)
    floor, quiet_top, top = np.percentile(x, [FLOOR_PERCENTILE, QUIET_PERCENTILE, TOP_PERCENTILE])
    quietest = x <= quiet_top
    if np.mean(best_salience[quietest] >= pitched_salience) < PITCHED_SHARE:
        return none  # the background is unpitched (silence, hiss, removed hum): nothing to tell apart
    fine = uniform_filter1d(np.maximum(level_db.astype(np.float64), LEVEL_MIN_DB), LOCAL_SMOOTH_FRAMES)
    local = np.maximum(percentile_filter(fine, LOCAL_PERCENTILE, size=LOCAL_WINDOW_FRAMES, mode="nearest"), floor)
    margin = np.minimum(MARGIN_SHARE * np.maximum(top - local, 0.0), MAX_MARGIN_DB)
    gate = x < local + margin
    elsewhere = float(np.median(raw_level_db[~gate])) if (~gate).any() else -np.inf
    if not any(b - a >= MIN_PAUSE_FRAMES and np.median(raw_level_db[a:b]) <= elsewhere - MIN_DIP_DB
               for a, b in _runs(gate)):
        return none  # no pause: the "background" would be the hum's own quieter frames
    return gate


def steady_penalty(cand_pitch: np.ndarray, cand_salience: np.ndarray) -> np.ndarray:
    """(frames, k) extra Viterbi cost of each tracker candidate whose pitch holds still (module
    docstring). ``cand_pitch``: MIDI pitch of each frame's k candidates; ``cand_salience``: their
    salience (0 where a frame has fewer peaks)."""
    n, k = cand_pitch.shape
    worst = np.zeros((n, k), np.float32)
    for lag in range(1, STEADY_FRAMES + 1):
        for shifted in (_shift(cand_pitch, lag), _shift(cand_pitch, -lag)):
            nearest = np.min(np.abs(shifted[:, None, :] - cand_pitch[:, :, None]), axis=2) * 100.0
            worst = np.maximum(worst, nearest)
    steady = np.clip((STEADY_CENTS - worst) / STEADY_CENTS, 0.0, 1.0)
    strong = cand_salience >= STEADY_STRONG_SHARE * cand_salience.max(axis=1, keepdims=True)
    least = np.min(np.where(strong, steady, 1.0), axis=1, keepdims=True)
    return (STEADY_COST * (steady - least)).astype(np.float32)


def _shift(x: np.ndarray, lag: int) -> np.ndarray:
    """Rows moved by ``lag`` (row t holds row t + lag), +inf where there is none."""
    out = np.full_like(x, np.inf)
    if lag > 0:
        out[:-lag] = x[lag:]
    else:
        out[-lag:] = x[:lag]
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]))
