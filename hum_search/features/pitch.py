"""Predominant-pitch tracking: the f0 of a hum, and the melody line of a polyphonic song.

One salience-based tracker serves both, with two parameter presets:

1. A short-time spectrum (magnitude, square-root compressed) every 10 ms.
2. Harmonic-sum salience on a log-frequency grid (20-cent bins): each candidate f0 collects its
   first harmonics with decaying weights, minus a penalty for energy *between* its harmonics (at
   (h - 1/2)·f0). The penalty is what keeps the tracker off the octave above the true f0 when the
   fundamental is weak (phone microphones, male voices), because there the "in-between" positions
   are the true f0's odd harmonics. Hums also pay for energy a third and two thirds of the way
   between harmonics (``HumParams.third_penalty``): there lie the harmonics of a pitch a twelfth
   below, so a low voice that a phone band stripped of its fundamental and 2nd harmonic is not
   tracked at its 3rd (a fifth off in pitch class). On the development benchmark's wide hums the
   share of frames in the right pitch class went 0.928 -> 0.929 (seed 0) and 0.940 -> 0.946 (seed
   1; male voices 0.928 -> 0.943: two hums through a 300-3400 Hz band from 0.46-0.53 to 0.77-0.95).
3. A pitch-height prior (salience × (f0/fmin)^height), which for songs prefers the melody over the
   accompaniment below it (Melodia's assumption: the melody is the predominant high voice).
4. A Viterbi pass over the few salience peaks of each frame plus an "unvoiced" state, with a cost
   per semitone of jump, so that single-frame errors (harmonics, a chord tone) are not followed.

Cost on this 2-core machine: about 0.01 CPU-seconds per second of audio. The choice over basic-pitch
(an ONNX note-transcription model) and pYIN is measured in docs/melody.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from ..jit import Compiled
from . import denoise, foreground

SAMPLE_RATE = 16_000  # Hz, everything is tracked at this rate
HOP = 160  # samples: 10 ms frames
FRAME_RATE = SAMPLE_RATE / HOP  # 100 frames per second
WINDOW = 1024  # samples: 64 ms analysis window
N_FFT = 2048  # zero-padded FFT size
CENTS_PER_BIN = 20  # resolution of the salience grid
N_CANDIDATES = 4  # salience peaks per frame considered by the Viterbi pass
_CHUNK_FRAMES = 3000  # frames per FFT batch (30 s), to bound memory


@dataclass(frozen=True)
class TrackerParams:
    fmin_hz: float
    fmax_hz: float
    harmonics: int = 8
    harmonic_decay: float = 0.6  # weight of harmonic h is h**-decay
    between_penalty: float = 0.3  # weight of the energy between harmonics, subtracted
    height: float = 0.0  # salience *= (f0 / fmin) ** height
    jump_cost_per_semitone: float = 1.0
    octave_jump_cost: float = 2.0  # extra cost of a jump of more than 7 semitones
    silence_db: float = 35.0  # frames this far below the loud frames are unvoiced
    unvoiced_cost: float = 1.2
    voicing_switch_cost: float = 0.5
    # Re-entering voiced after a rest costs this per semitone from the pitch held before the rest (0:
    # a rest forgets the pitch). See _viterbi.
    rest_jump_cost_per_semitone: float = 0.0
    fix_harmonic_jumps: bool = False  # move stray notes tracked at a harmonic back (hums only)
    # Noise rejection, per run of voiced frames: a run whose median peakiness (best salience / mean
    # salience; flat for noise, peaked for a voice) is below min_peakiness is noise unless its pitch
    # is steady (share of frame steps under 0.2 semitone >= min_steadiness) over enough frames.
    min_peakiness: float = 0.0
    min_steadiness: float = 0.75
    min_steady_frames: int = 12


@dataclass(frozen=True)
class HumParams(TrackerParams):
    """The query side's extra steps (a subclass, so that SONG's fields, recorded in every store's
    IndexSpec, stay as they are)."""

    denoise: bool = True  # remove the stationary floor and steady partials first (denoise.py)
    min_frame_snr_db: float = 0.0  # frames whose cleaned power is under this SNR are unvoiced (at -3 dB
    # the residue of pink and brown noise, 10% of frames, made melodies out of noise)...
    low_snr_keep_peakiness: float = 8.0  # ...unless their salience is this sharply peaked (a voice under a
    # loud low rumble: see _low_snr_frames)
    background_gate: bool = True  # frames no louder than a pitched background are unvoiced (foreground.py)
    voice_motion: bool = True  # a candidate whose pitch holds still while a moving one is strong costs more (foreground.py)
    # Weight of the energy a third and two thirds of the way between harmonics, subtracted like the
    # between-penalty: there lie the 4th, 5th, 7th, 8th... harmonics of a pitch a twelfth below, so a
    # voice whose fundamental and 2nd harmonic a phone band cut (a male hum under 150 Hz through
    # 300-3400 Hz) is not tracked at its 3rd harmonic, a fifth off in pitch class. See _grid.
    third_penalty: float = 0.1


# A hum's Viterbi pays 0.7 per semitone of jump (the default 1.0 until stop 41). In noise every
# candidate's salience share is lower and closer to the others', so a sung interval of a few
# semitones could cost more than staying on another source's pitch through a short note; the hums
# it moved up were mostly hummed in a crowd at 3-8.5 dB. Development benchmark, medium instances,
# seeds 0-3, `bash benchmarks/qbh.sh dw|dw1|dw2|dw3`: `wide` MRR 0.933 / 0.969 / 0.951 / 0.964 ->
# 0.939 / 0.969 / 0.958 / 0.965, top-10 +1 hum on seeds 0 and 2; `dev` 0.990 / 0.993 / 0.978 / 0.987
# -> 0.990 / 0.990 / 0.982 / 0.990; confident answers out of the catalogue within a hum either way;
# 0.6 the same, 0.5 and 0.8 less (a harness on cached audio); noise alone voiced no more often.
# docs/melody.md "A hum's pitch jumps cost less" (stop 41).
HUM_JUMP_COST_PER_SEMITONE = 0.7
HUM = HumParams(fmin_hz=65.0, fmax_hz=4000.0, fix_harmonic_jumps=True, min_peakiness=2.3,
                jump_cost_per_semitone=HUM_JUMP_COST_PER_SEMITONE)
SONG = TrackerParams(fmin_hz=100.0, fmax_hz=2000.0, harmonics=12, harmonic_decay=0.5, height=0.35,
                     jump_cost_per_semitone=1.4, rest_jump_cost_per_semitone=0.3)


@dataclass(frozen=True)
class _Grid:
    f0_hz: np.ndarray  # (n_bins,) candidate f0 of each salience bin
    weights: np.ndarray  # (n_fft_bins, n_bins) harmonic-sum matrix, float32


@lru_cache(maxsize=4)
def _grid(params: TrackerParams) -> _Grid:
    n = int(math.floor(1200 * math.log2(params.fmax_hz / params.fmin_hz) / CENTS_PER_BIN)) + 1
    f0 = params.fmin_hz * 2.0 ** (np.arange(n) * CENTS_PER_BIN / 1200)
    n_spec = N_FFT // 2 + 1
    w = np.zeros((n, n_spec), np.float64)
    rows = np.arange(n)
    positions = [(h, h ** -params.harmonic_decay) for h in range(1, params.harmonics + 1)]
    positions += [(h - 0.5, -params.between_penalty * (h + 0.5) ** -params.harmonic_decay)
                  for h in range(2, params.harmonics + 1)]
    third = getattr(params, "third_penalty", 0.0)  # (a HumParams field: SONG's recorded fields stay)
    positions += [(h + d, -third * (h + 1) ** -params.harmonic_decay)
                  for h in range(1, params.harmonics) for d in (1 / 3, 2 / 3) if third]
    for mult, weight in positions:
        fb = f0 * mult * N_FFT / SAMPLE_RATE
        ok = fb < n_spec - 1
        lo = np.floor(fb[ok]).astype(int)
        frac = fb[ok] - lo
        np.add.at(w, (rows[ok], lo), weight * (1 - frac))
        np.add.at(w, (rows[ok], lo + 1), weight * frac)
    w *= (f0 / params.fmin_hz)[:, None] ** params.height
    return _Grid(f0_hz=f0, weights=np.ascontiguousarray(w.T, dtype=np.float32))


def _frames(y: np.ndarray):
    """Yield (analysis frames, level in dB) in chunks of _CHUNK_FRAMES frames, to bound memory."""
    y = np.asarray(y, np.float32)
    n_frames = 1 + len(y) // HOP
    padded = np.pad(y, (WINDOW // 2, WINDOW // 2 + HOP))
    frames = np.lib.stride_tricks.sliding_window_view(padded, WINDOW)[::HOP][:n_frames]
    window = np.hanning(WINDOW).astype(np.float32)
    for a in range(0, n_frames, _CHUNK_FRAMES):
        f = frames[a:a + _CHUNK_FRAMES]
        spec = np.abs(scipy.fft.rfft(f * window, N_FFT, axis=1, workers=-1)).astype(np.float32)
        level_db = 10 * np.log10(np.mean(np.square(f, dtype=np.float32), axis=1) + 1e-12)
        yield np.sqrt(spec), level_db


def _clean_frames(chunks) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """The whole recording's frames (a query: at most a minute) with the stationary part removed
    (denoise.py), compressed like _frames' (magnitude ** 0.5), in one chunk; and the per-frame SNR.
    Digital silence (``live_frames``) tells nothing about the room and is left out of the floor."""
    parts = list(chunks)
    mag = np.square(np.concatenate([p[0] for p in parts]))  # |X|
    level_db = np.concatenate([p[1] for p in parts])
    cleaned = denoise.remove_stationary(np.square(mag), SAMPLE_RATE / N_FFT, live=live_frames(level_db))
    return [(np.sqrt(np.sqrt(cleaned.power)).astype(np.float32), level_db)], cleaned.frame_snr_db


# Frames whose level is under this are digital silence: a recorder's lead-in before the microphone
# opens, an editor's padding, buffers a browser dropped. A microphone's own noise, even in a quiet
# room, stands 20-30 dB above it; 16-bit dither is at about -101 dBFS. Left in, such a stretch drags
# the stationary floor (a low quantile over the recording), the salience reference and the foreground
# gate's quietest frames down with it: 8 s of zeros before 60 of the development benchmark's `wide`
# hums took their MRR from 0.950 to 0.878; with those frames left out, 0.922 (benchmarks/conditions.py;
# the same hums merely 20 ms later score 0.900: the first stage's luck on narrowly found hums).
DIGITAL_SILENCE_DBFS = -100.0


def live_frames(level_db: np.ndarray) -> np.ndarray:
    """(frames,) True where the recording holds any sound at all (``DIGITAL_SILENCE_DBFS``)."""
    return level_db > DIGITAL_SILENCE_DBFS


def salience(y: np.ndarray, params: TrackerParams) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic-sum salience (n_frames, n_bins) and frame level in dB, for 16 kHz mono ``y``."""
    grid = _grid(params)
    parts = [(spec @ grid.weights, level) for spec, level in _frames(y)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def track(y: np.ndarray, params: TrackerParams = HUM) -> np.ndarray:
    """f0 track in MIDI pitch (float, NaN where unvoiced) at FRAME_RATE, for 16 kHz mono ``y``."""
    return _track(y, params)[0]


MAX_SNR_DB = 40.0  # estimates above this (a clean recording: no floor to speak of) are reported as this


@dataclass
class HumTrack:
    f0: np.ndarray  # as track()
    snr_db: float | None  # median estimated SNR over the voiced frames (None: no voiced frame or no denoising)


def track_hum(y: np.ndarray, params: TrackerParams = HUM) -> HumTrack:
    """track(), plus how far the voice stands above the stationary background (denoise.py)."""
    f0, frame_snr = _track(y, params)
    voiced = ~np.isnan(f0)
    if frame_snr is None or not voiced.any():
        return HumTrack(f0, None)
    return HumTrack(f0, float(min(np.median(frame_snr[voiced]), MAX_SNR_DB)))


def _track(y: np.ndarray, params: TrackerParams) -> tuple[np.ndarray, np.ndarray | None]:
    grid = _grid(params)
    k = min(N_CANDIDATES, len(grid.f0_hz))
    cand_sal, cand_pitch, levels, peakiness, kept = [], [], [], [], []
    frame_snr = None
    chunks = _frames(y)
    if getattr(params, "denoise", False):
        chunks, frame_snr = _clean_frames(chunks)
    for spec, level_db in chunks:
        sal = spec @ grid.weights
        if params.fix_harmonic_jumps:
            kept.append(sal)
        if params.min_peakiness > 0 or frame_snr is not None:  # (songs need neither)
            peakiness.append(sal.max(axis=1) / np.maximum(np.abs(sal).mean(axis=1), 1e-9))
        peaked = np.zeros_like(sal)
        is_peak = (sal[:, 1:-1] > sal[:, :-2]) & (sal[:, 1:-1] >= sal[:, 2:])
        peaked[:, 1:-1] = np.where(is_peak, sal[:, 1:-1], 0.0)
        cand = np.argpartition(-peaked, k - 1, axis=1)[:, :k]
        cand_sal.append(np.take_along_axis(peaked, cand, axis=1))
        cand_pitch.append(_refine(sal, cand, grid))
        levels.append(level_db)
    if not levels:
        return np.zeros(0, np.float32), None
    cs, cp, level_db = np.concatenate(cand_sal), np.concatenate(cand_pitch), np.concatenate(levels)
    # a hum's reference levels come from the frames that hold sound (``live_frames``); a song's from
    # all of them, as melody model v2 stored them
    live = live_frames(level_db) if frame_snr is not None else np.ones(len(level_db), bool)
    live = live if live.any() else np.ones(len(level_db), bool)
    ref = float(np.percentile(cs.max(axis=1)[live], 95)) + 1e-9
    quiet = level_db < np.percentile(level_db[live], 97) - params.silence_db
    if frame_snr is not None:
        quiet |= _low_snr_frames(frame_snr, np.concatenate(peakiness), params)
        if getattr(params, "background_gate", False):
            quiet[live] |= foreground.background_frames(frame_snr[live], level_db[live], cs.max(axis=1)[live] / ref,
                                                        math.exp(-params.unvoiced_cost))
    emit = -np.log(np.clip(cs / ref, 1e-3, None)) + np.where(quiet, 3.0, 0.0)[:, None]
    if getattr(params, "voice_motion", False):
        emit += foreground.steady_penalty(cp, cs)
    emit_unvoiced = np.where(quiet, 0.0, params.unvoiced_cost)
    path = _viterbi(emit, emit_unvoiced, cp, params)
    out = np.full(len(path), np.nan, np.float32)
    voiced = path < k
    out[voiced] = cp[np.nonzero(voiced)[0], path[voiced]]
    if params.min_peakiness > 0:
        peaky = np.concatenate(peakiness)
        for a, b in _runs(voiced):
            if np.median(peaky[a:b]) >= params.min_peakiness:
                continue
            steady = np.mean(np.abs(np.diff(out[a:b])) < 0.2) if b - a > 1 else 0.0
            if b - a < params.min_steady_frames or steady < params.min_steadiness:
                out[a:b] = np.nan
    if params.fix_harmonic_jumps:
        out = _fix_harmonic_jumps(out, np.concatenate(kept), grid)
    return out, frame_snr


def _low_snr_frames(frame_snr: np.ndarray, peakiness: np.ndarray, params: TrackerParams) -> np.ndarray:
    """Frames whose cleaned power stands under ``min_frame_snr_db`` and whose salience is not sharply
    peaked: the residue of broadband noise. The SNR is over the whole voice band, so a hum under a
    loud low rumble (a fridge, a car) sits under 0 dB while its harmonics stand clear; its frames
    keep a peakiness (best salience over mean) that noise residue does not reach. Measured: of the
    `wide` queries' hummed frames under 0 dB (5 % of all), 41 % reach 8; of white, pink and brown
    noise residue frames between -10 and 0 dB, 0.4 %. With this exception wide MRR 0.899 -> 0.916
    (the same as with no SNR test at all, which lets 60-70 % of a noise-only recording's frames
    through and makes melodies out of it; with it, noise-only recordings stay under 5 % voiced, as
    before); dev unchanged."""
    low = frame_snr < params.min_frame_snr_db
    keep = getattr(params, "low_snr_keep_peakiness", 0.0)
    return low & (peakiness < keep) if keep > 0 else low


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]))


HARMONIC_SHIFTS = (-24.0, -19.0, -12.0, 12.0, 19.0)  # semitones: 4th, 3rd, 2nd harmonic and sub-octave
OUTLIER_SEMITONES = 8.0  # a note this far from the hum's median pitch is suspect


def _fix_harmonic_jumps(midi: np.ndarray, sal: np.ndarray | None = None, grid: _Grid | None = None) -> np.ndarray:
    """Between breaths or consonants the Viterbi restarts, and a note may be tracked at its 2nd or
    3rd harmonic (thin microphones lose a low voice's fundamental). A hum stays within about an
    octave, so a note far from the hum's median that a harmonic shift brings close is moved back.
    When several downward shifts would do (was it the 2nd or the 3rd harmonic?), the one whose pitch
    has the most salience in the note's frames wins: a true fundamental collects all its harmonics.
    Otherwise (upward: a low note, or one tracked an octave down) the shift that lands closest."""
    out = midi.copy()
    voiced = ~np.isnan(out)
    if voiced.sum() < 10:
        return out
    runs = _runs(voiced)
    for _ in range(2):
        ref = float(np.median(out[voiced]))
        for a, b in runs:
            d = float(np.median(out[a:b])) - ref
            if abs(d) <= OUTLIER_SEMITONES:
                continue
            fits = [s for s in HARMONIC_SHIFTS if abs(d + s) < abs(d) - 4.0]
            if not fits:
                continue
            if sal is not None and grid is not None and len(fits) > 1 and max(fits) < 0:
                shift = max(fits, key=lambda s: _salience_along(sal[a:b], out[a:b] + s, grid))
            else:
                shift = min(fits, key=lambda s: abs(d + s))
            out[a:b] += shift
    return out


def _salience_along(sal: np.ndarray, midi: np.ndarray, grid: _Grid) -> float:
    """Median over frames of the salience at (within one bin of) the given MIDI pitches; -inf off the grid."""
    pos = 1200 * np.log2(440.0 * 2 ** ((midi - 69) / 12) / grid.f0_hz[0]) / CENTS_PER_BIN
    b = np.rint(pos).astype(int)
    if b.min() < 1 or b.max() > sal.shape[1] - 2:
        return -np.inf
    rows = np.arange(len(b))
    return float(np.median(np.max([sal[rows, b - 1], sal[rows, b], sal[rows, b + 1]], axis=0)))


def _refine(sal: np.ndarray, bins: np.ndarray, grid: _Grid) -> np.ndarray:
    """Parabolic interpolation of each candidate's salience peak: (frames, k) bins -> MIDI pitch."""
    b = np.clip(bins, 1, sal.shape[1] - 2)
    a = np.take_along_axis(sal, b - 1, axis=1)
    c = np.take_along_axis(sal, b, axis=1)
    e = np.take_along_axis(sal, b + 1, axis=1)
    denom = a - 2 * c + e
    safe = np.where(np.abs(denom) > 1e-9, denom, 1.0)
    offset = np.clip(np.where(np.abs(denom) > 1e-9, 0.5 * (a - e) / safe, 0.0), -0.5, 0.5)
    f0 = grid.f0_hz[b] * 2.0 ** (offset * CENTS_PER_BIN / 1200)
    return (12 * np.log2(f0 / 440.0) + 69).astype(np.float32)


def _viterbi(emit: np.ndarray, emit_unvoiced: np.ndarray, semitone: np.ndarray, p: TrackerParams) -> np.ndarray:
    """Best path over K candidates + an unvoiced state (index K), compiled (``jit.py``): the plain
    Python loop it replaces took 21 ms of a 15 s hum's 69 ms of features, and about a quarter of a
    song's tracking; same arithmetic in the same order, so the same path.

    With ``rest_jump_cost_per_semitone`` (songs), the unvoiced state remembers the pitch at which its
    best path fell silent, and re-entering voiced costs that much per semitone from it (plus the
    octave cost beyond 7): a lead's rest or staccato gap no longer lets the line restart on the
    accompaniment or on the lead's 3rd harmonic. (The memory follows the unvoiced state's best path
    only, the usual approximation: exact would need an unvoiced state per candidate.)"""
    return _VITERBI(np.ascontiguousarray(emit, np.float64), np.ascontiguousarray(emit_unvoiced, np.float64),
                    np.ascontiguousarray(semitone, np.float64), float(p.jump_cost_per_semitone),
                    float(p.octave_jump_cost), float(p.voicing_switch_cost), float(p.rest_jump_cost_per_semitone))


def _viterbi_path(emit, emit_unvoiced, semitone, lam, octave, switch, rest_lam):  # pragma: no cover - compiled
    """The dynamic programme of ``_viterbi``: a jump from candidate i to j costs ``lam`` per
    semitone plus ``octave`` beyond 7 semitones; entering or leaving the unvoiced state ``switch``,
    and re-entering ``rest_lam`` per semitone from the remembered pitch (when > 0)."""
    n, k = emit.shape
    back = np.zeros((n, k + 1), np.int64)
    prev = np.empty(k + 1)
    cur = np.empty(k + 1)
    prev[:k] = emit[0]
    prev[k] = emit_unvoiced[0]
    memory = np.nan  # the pitch at which the unvoiced state's best path fell silent
    for t in range(1, n):
        best_v = 0
        for i in range(1, k):
            if prev[i] < prev[best_v]:
                best_v = i
        from_unv = prev[k] + switch
        for j in range(k):
            s = semitone[t, j]
            best, arg = from_unv, k
            if rest_lam > 0 and memory == memory:
                back_jump = abs(s - memory)
                best += rest_lam * back_jump + (octave if back_jump > 7 else 0.0)
            for i in range(k):
                jump = abs(s - semitone[t - 1, i])
                c = prev[i] + lam * jump + (octave if jump > 7 else 0.0)
                if c < best:
                    best, arg = c, i
            cur[j] = best + emit[t, j]
            back[t, j] = arg
        to_unv = prev[best_v] + switch
        if to_unv < prev[k]:
            cur[k], back[t, k] = to_unv + emit_unvoiced[t], best_v
            memory = semitone[t - 1, best_v]
        else:
            cur[k], back[t, k] = prev[k] + emit_unvoiced[t], k
        prev, cur = cur, prev
    s = 0
    for i in range(1, k + 1):
        if prev[i] < prev[s]:
            s = i
    path = np.empty(n, np.int64)
    for t in range(n - 1, -1, -1):
        path[t] = s
        s = back[t, s]
    return path


_VITERBI = Compiled(_viterbi_path)
