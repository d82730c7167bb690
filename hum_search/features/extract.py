"""The analyzer: audio in, stored features out (songs) or search features out (queries).

``current_spec()`` names everything that gives the stored features their meaning; stores record it
and refuse to open with code whose spec differs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import NoMelodyError
from ..types import IndexSpec, MelodyFeatures
from . import melody, pitch
from .audio import AudioSource, decode, describe, resample

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MELODY_MODEL = "salience-melody-v2"  # pitch.py tracker (SONG preset) + melody.py segment vectors
# (v2: 12 harmonics, jump cost 1.4 and the pitch remembered across rests; docs/melody.md)
SOUND_MODEL = "panns-cnn14-32k"  # hum_search.features.sound.MODEL_NAME (kept here so specs need no torch)
SOUND_DIM = 2048
SOUND_SAMPLE_RATE = 32_000
MAX_QUERY_S = 60.0  # longer recordings are cut to their first minute


def current_spec() -> IndexSpec:
    return IndexSpec(format_version=FORMAT_VERSION, melody_model=MELODY_MODEL, melody_dim=melody.MELODY_DIM,
                     melody_params=melody.params(), sound_model=SOUND_MODEL, sound_dim=SOUND_DIM)


@dataclass
class SongAnalysis:
    duration_s: float
    melody: MelodyFeatures
    sound: np.ndarray | None = None


def song_melody(y_16k: np.ndarray) -> MelodyFeatures:
    """The predominant melody of a (polyphonic) song at pitch.SAMPLE_RATE, as stored features."""
    contour = melody.contour_from_f0(pitch.track(y_16k, pitch.SONG))
    return melody.song_segments(contour)


def analyze_song(source: AudioSource, *, max_duration_s: float | None = None, sound_embedder=None) -> SongAnalysis:
    """Decode once, then extract the melody (and the sound embedding when an embedder is given)."""
    audio = decode(source, sr=SOUND_SAMPLE_RATE if sound_embedder is not None else pitch.SAMPLE_RATE,
                   max_seconds=max_duration_s)
    mel = song_melody(resample(audio.samples, audio.sr, pitch.SAMPLE_RATE))
    sound = None
    if sound_embedder is not None:
        sound = sound_embedder.embed(resample(audio.samples, audio.sr, SOUND_SAMPLE_RATE))
    return SongAnalysis(duration_s=audio.duration_s, melody=mel, sound=sound)


@dataclass
class QueryAnalysis:
    duration_s: float
    contour: np.ndarray  # trimmed hum contour (MIDI pitch, NaN = unvoiced) at melody.CONTOUR_FPS
    contour_offset_s: float  # where the trimmed contour starts in the recording
    windows: melody.QueryWindows
    voiced_s: float
    audio_32k: np.ndarray | None = None  # kept for the sound channel
    timing_ms: dict[str, float] = field(default_factory=dict)
    snr_db: float | None = None  # how far the voice stands above the steady background (pitch.track_hum)


LOW_SNR_DB = 10.0  # under this estimated SNR a query's match is often wrong or unconfident (wide profile)
SHORT_HUM_S = 5.0  # voiced seconds under which a hum is short (scoring.short_hum_offset)
# What a hum whose answer is not confident should change (``unsure_hint``). Such answers most often
# came from a hum of a few notes: on the development benchmark's `wide` hums (four generator seeds,
# 600, each searched with its song in the catalogue; benchmarks/fit_score.py's rows), answers were
# confident and right for 73-75 % of the hums with 5-8 s of voiced sound and for 89-95 % of those
# with 8-13 s (`dev`: 94-98 % and 95-100 %); by the estimated SNR, 71 % under 9 dB and 85-89 % above.
UNSURE_SHORT_HUM_S = 8.0  # voiced seconds under which the hint asks for a longer hum
UNSURE_TIP = "hum a part of the tune you know well (its opening or its chorus) steadily for 10-15 s"


def unsure_hint(voiced_s: float, snr_db: float | None) -> str:
    """A one-line suggestion for a hum whose answer is not confident: less noise (under LOW_SNR_DB),
    a longer hum (under UNSURE_SHORT_HUM_S), or else UNSURE_TIP."""
    tips = []
    if snr_db is not None and snr_db < LOW_SNR_DB:
        tips.append("less background noise: move closer to the microphone or away from the noise")
    if voiced_s < UNSURE_SHORT_HUM_S:
        tips.append(f"hum longer (10-15 s; {voiced_s:.0f} s of humming was heard)")
    return "; ".join(tips) or UNSURE_TIP


STEADY_TONE_SEMITONES = 1.0  # voiced pitch spanning less than this (10th to 90th percentile) is one held note
NOISY_FIX = "move closer to the microphone or away from the noise (a fan, a radio, a busy room) and hum the tune for at least 5 seconds"


def _noisy(snr_db: float | None) -> bool:
    """Whether the background, not the humming, is the likely reason that too little melody was heard:
    the voiced frames stand under LOW_SNR_DB above the steady background. (A fan's hum, or a radio,
    can hide most of a hum's notes, so that what comes through looks like one held pitch or a few
    short bursts: on a development-benchmark set under fans, traffic and cafe noise, one hum at 5 dB
    was refused as "a steady tone" with two of its five notes lost.)"""
    return snr_db is not None and snr_db < LOW_SNR_DB


def _noise_words(snr_db: float) -> str:
    """How far the humming stood above the background, in words."""
    if snr_db < 1.0:  # (noise alone reads so too: what "humming" was heard is the noise's)
        return "nothing stands out from the background noise"
    return f"the humming stands only about {snr_db:.0f} dB above the background noise"


def _too_short_error(voiced_s: float, name: str, snr_db: float | None) -> NoMelodyError:
    """Less than melody.MIN_VOICED_S of humming heard: in noise, say that the noise hid it."""
    heard = f"only {voiced_s:.1f} s of humming was heard in {name} (at least {melody.MIN_VOICED_S:.0f} s needed)"
    if _noisy(snr_db):
        return NoMelodyError(f"{heard}: {_noise_words(snr_db)}", NOISY_FIX)
    return NoMelodyError(heard, "hum or sing the tune for at least 5 seconds, close to the microphone")


def _no_windows_error(contour: np.ndarray, name: str, snr_db: float | None = None) -> NoMelodyError:
    """Why a hum with enough voiced sound still gave no window to search with."""
    if _noisy(snr_db):
        return NoMelodyError(f"no melody heard in {name}: only a few notes came through, {_noise_words(snr_db)}",
                             NOISY_FIX)
    voiced = contour[np.isfinite(contour)]
    if len(voiced) and np.percentile(voiced, 90) - np.percentile(voiced, 10) < STEADY_TONE_SEMITONES:
        return NoMelodyError(f"no melody heard in {name}: a steady tone (one held pitch), not a tune",
                             "hum or sing the tune itself, at least 5 seconds of it")
    return NoMelodyError(f"no usable melody in {name}: the humming is broken up by pauses or hardly moves",
                         "hum the tune steadily for at least 5 seconds, close to the microphone")


def analyze_sound_query(source: AudioSource) -> QueryAnalysis:
    """Decode a recording for "sounds like" search: 32 kHz audio for PANNs, no pitch tracking (the
    sound channel does not use the melody)."""
    t0 = time.perf_counter()
    audio = decode(source, sr=SOUND_SAMPLE_RATE, max_seconds=MAX_QUERY_S, truncate=True)
    y32 = resample(audio.samples, audio.sr, SOUND_SAMPLE_RATE)
    empty = np.zeros(0, np.float32)
    return QueryAnalysis(duration_s=audio.duration_s, contour=empty, contour_offset_s=0.0,
                         windows=melody.query_windows(empty), voiced_s=0.0, audio_32k=y32,
                         timing_ms={"decode": 1e3 * (time.perf_counter() - t0), "features": 0.0})


def analyze_query(source: AudioSource) -> QueryAnalysis:
    """Decode a hum and compute its pitch contour and query windows.

    Raises NoMelodyError, with the cause and what to do, when less than melody.MIN_VOICED_S of
    pitched sound is heard, or when what was heard gives no window to search with (a steady tone,
    or humming broken up by pauses)."""
    t0 = time.perf_counter()
    audio = decode(source, sr=pitch.SAMPLE_RATE, max_seconds=MAX_QUERY_S, truncate=True)
    y = resample(audio.samples, audio.sr, pitch.SAMPLE_RATE)
    t1 = time.perf_counter()
    hum = pitch.track_hum(y, pitch.HUM)
    contour = melody.contour_from_f0(hum.f0)
    trimmed, first = melody.trim(contour)
    voiced = melody.voiced_seconds(trimmed)
    if voiced < melody.MIN_VOICED_S:
        raise _too_short_error(voiced, describe(source), hum.snr_db)
    windows = melody.query_windows(trimmed)
    if len(windows.vectors) == 0:
        raise _no_windows_error(trimmed, describe(source), hum.snr_db)
    t2 = time.perf_counter()
    return QueryAnalysis(duration_s=audio.duration_s, contour=trimmed, contour_offset_s=first / melody.CONTOUR_FPS,
                         windows=windows, voiced_s=voiced,
                         timing_ms={"decode": 1e3 * (t1 - t0), "features": 1e3 * (t2 - t1)},
                         snr_db=hum.snr_db)
