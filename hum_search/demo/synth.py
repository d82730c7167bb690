"""Rendering notes to audio: songs with accompaniment, and synthetic hummed queries.

Used by the demo catalogue (``hum_search.demo.catalogue``), by the tests, and by the app's example hum.

* ``parse_notation`` / ``melody_to_notes``: a compact text notation ("E4 E4:0.5 F#4:1.5 | r G4:2 | -:2")
  turned into ``Note`` objects with times in seconds.
* ``arrange``: a melody becomes a small song: an intro (accompaniment only), the melody played
  ``passes`` times (later passes change the lead instrument and may change octave), diatonic chords
  per bar from a simple harmonizer, a bass line, optional drums. The ``Arrangement`` also says where
  each pass of the melody sounds (``occurrences``), so callers know the song time of every note:
  ``song_time = occurrence.offset_s + note.start_s``.
* ``render``: an arrangement to mono float32 audio, through the fluidsynth command line with a
  General MIDI soundfont (a standard MIDI file is written here, byte by byte) or through a small
  deterministic additive synthesizer in numpy.
* ``synth_hum``: a synthetic hummed query: an f0 contour with intonation errors, glides, vibrato and
  breath gaps, a glottal-like harmonic source through formant filters ("mm", "la", "da"), and noise.
* ``write_audio`` / ``write_tags``: files in wav/flac (soundfile) or mp3/ogg/m4a/webm (ffmpeg), and
  their title/artist/album/genre tags (mutagen).

Everything is deterministic for a given seed.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, NamedTuple, Sequence

import numpy as np

from ..errors import AudioEncodeError, SynthError

if TYPE_CHECKING:  # pragma: no cover
    from .catalogue import Tune

log = logging.getLogger(__name__)

PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/local/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
)
FLUIDSYNTH_TIMEOUT_S = 300
FFMPEG_TIMEOUT_S = 300
PEAK_DBFS = -1.0
DRUM_CHANNEL = 9


# --------------------------------------------------------------------------------------------------
# notes and notation
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Note:
    pitch: float  # MIDI number (may be fractional for hums)
    start_s: float
    dur_s: float
    velocity: int = 100

    @property
    def end_s(self) -> float:
        return self.start_s + self.dur_s


@dataclass(frozen=True)
class NotationEvent:
    """One written note or rest: ``pitch`` is None for a rest; times are in beats."""

    pitch: int | None
    start_beat: float
    beats: float
    bar: int


@dataclass(frozen=True)
class ParsedMelody:
    events: tuple[NotationEvent, ...]
    bar_beats: tuple[float, ...]  # written length of each bar (the first may be a pickup)

    @property
    def notes(self) -> list[NotationEvent]:
        return [e for e in self.events if e.pitch is not None]

    @property
    def total_beats(self) -> float:
        return sum(self.bar_beats)


_NOTE_RE = re.compile(r"^(?P<name>[A-G])(?P<acc>##|bb|#|b)?(?P<oct>-?\d)(?::(?P<dur>[0-9./]+))?$")
_REST_RE = re.compile(r"^[rR](?::(?P<dur>[0-9./]+))?$")
_TIE_RE = re.compile(r"^-(?::(?P<dur>[0-9./]+))?$")


def note_name_to_midi(name: str) -> int:
    """``"C4"`` -> 60, ``"F#3"`` -> 54, ``"Bb4"`` -> 70."""
    m = _NOTE_RE.match(name)
    if not m or m.group("dur"):
        raise ValueError(f"not a note name: {name!r}")
    return _midi(m)


def midi_to_note_name(pitch: float) -> str:
    names = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    p = int(round(pitch))
    return f"{names[p % 12]}{p // 12 - 1}"


def _midi(m: re.Match) -> int:
    acc = {"": 0, None: 0, "#": 1, "##": 2, "b": -1, "bb": -2}[m.group("acc")]
    return 12 * (int(m.group("oct")) + 1) + PITCH_CLASSES[m.group("name")] + acc


def _duration(text: str | None, token: str) -> float:
    if text is None:
        return 1.0
    try:
        if "/" in text:
            num, den = text.split("/")
            value = float(num) / float(den)
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"bad duration in {token!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"duration must be positive in {token!r}")
    return value


def parse_notation(text: str) -> ParsedMelody:
    """Parse the melody notation.

    Tokens are separated by spaces, bars by ``|``. A token is a note name with octave (``C4``,
    ``F#3``, ``Bb4``; middle C is C4 = MIDI 60), ``r`` for a rest, or ``-`` to hold the previous note
    longer (a tie, e.g. across a bar line). Each may carry ``:DURATION`` in beats (default 1; ``1.5``
    or ``1/3`` also work). Raises ValueError on anything else.
    """
    events: list[NotationEvent] = []
    bar_beats: list[float] = []
    beat = 0.0
    raw_bars = text.split("|")
    # a leading or trailing "|" makes an empty bar: ignore those, but not empty bars in between
    while raw_bars and not raw_bars[0].strip():
        raw_bars.pop(0)
    while raw_bars and not raw_bars[-1].strip():
        raw_bars.pop()
    for bar_index, raw in enumerate(raw_bars):
        tokens = raw.split()
        if not tokens:
            raise ValueError(f"empty bar {bar_index + 1}")
        bar_start = beat
        for token in tokens:
            if m := _NOTE_RE.match(token):
                dur = _duration(m.group("dur"), token)
                events.append(NotationEvent(_midi(m), beat, dur, bar_index))
            elif m := _REST_RE.match(token):
                dur = _duration(m.group("dur"), token)
                events.append(NotationEvent(None, beat, dur, bar_index))
            elif m := _TIE_RE.match(token):
                dur = _duration(m.group("dur"), token)
                if not events or events[-1].pitch is None:
                    raise ValueError(f"tie '-' in bar {bar_index + 1} follows no note")
                last = events[-1]
                events[-1] = replace(last, beats=last.beats + dur)
            else:
                raise ValueError(f"bad token {token!r} in bar {bar_index + 1}")
            beat += dur
        bar_beats.append(round(beat - bar_start, 6))
    if not any(e.pitch is not None for e in events):
        raise ValueError("the melody has no notes")
    return ParsedMelody(tuple(events), tuple(bar_beats))


def notation_to_notes(text: str, bpm: float, *, velocity: int = 100) -> list[Note]:
    if bpm <= 0:
        raise ValueError("bpm must be positive")
    spb = 60.0 / bpm
    return [
        Note(float(e.pitch), e.start_beat * spb, e.beats * spb, velocity)
        for e in parse_notation(text).events
        if e.pitch is not None
    ]


def melody_to_notes(tune: "Tune | str", *, bpm: float | None = None) -> list[Note]:
    """The melody of a ``Tune`` (or a notation string) as notes; the first written beat is time 0,
    so a pickup's first note starts at 0.0 s. ``bpm`` overrides the tune's tempo (beats of the
    notation per minute)."""
    if isinstance(tune, str):
        return notation_to_notes(tune, bpm or 100.0)
    return notation_to_notes(tune.notation, bpm or tune.bpm)


def excerpt(notes: Sequence[Note], start_note: int, n_notes: int) -> list[Note]:
    """``n_notes`` notes from index ``start_note``, with their absolute times kept (so that the song
    time of the excerpt is ``occurrence.offset_s + notes[0].start_s``)."""
    if start_note < 0 or n_notes <= 0 or start_note + n_notes > len(notes):
        raise ValueError(f"excerpt {start_note}+{n_notes} is outside a melody of {len(notes)} notes")
    return list(notes[start_note:start_note + n_notes])


def key_root_pc(key: str) -> int:
    """``"F#"`` -> 6, ``"Bb"`` -> 10."""
    m = re.match(r"^([A-G])(#|b)?$", key.strip())
    if not m:
        raise ValueError(f"not a key: {key!r}")
    return (PITCH_CLASSES[m.group(1)] + {None: 0, "#": 1, "b": -1}[m.group(2)]) % 12


# --------------------------------------------------------------------------------------------------
# arrangement
# --------------------------------------------------------------------------------------------------
@dataclass
class Track:
    name: str
    program: int  # General MIDI program 0..127 (ignored for drums)
    channel: int
    notes: list[Note] = field(default_factory=list)
    volume: int = 100  # MIDI CC7
    pan: int = 64  # MIDI CC10
    role: str = "lead"  # lead, chords, pad, bass, drums

    @property
    def is_drum(self) -> bool:
        return self.channel == DRUM_CHANNEL


class Occurrence(NamedTuple):
    """Where one pass of the melody sounds: melody note ``n`` is heard at ``offset_s + n.start_s``."""

    pass_index: int
    start_s: float  # first melody note's onset in the song
    end_s: float  # last melody note's end in the song
    offset_s: float  # add to a melody note's start_s to get its song time


@dataclass
class Arrangement:
    tracks: list[Track]
    occurrences: list[Occurrence]
    duration_s: float
    bpm: float
    beats_per_bar: int
    key_root: int
    mode: str
    melody: list[Note]
    pass_transpose: list[int]  # semitones added to the melody in each pass
    pass_program: list[int]
    chords: list[tuple[float, float, tuple[int, ...]]]  # (start_s, end_s, pitch classes) per bar

    def song_time(self, note: Note, pass_index: int = 0) -> float:
        return self.occurrences[pass_index].offset_s + note.start_s

    @property
    def lead_notes(self) -> list[Note]:
        return sorted((n for t in self.tracks if t.role == "lead" for n in t.notes), key=lambda n: n.start_s)


# Instruments per style: chords, pad (or -1), bass, alternate lead (for later passes), drums
STYLES: dict[str, dict] = {
    "folk": {"chords": 25, "chord_pattern": "strum", "pad": -1, "bass": 32, "alt_lead": 73, "drums": True},
    "classical": {"chords": 0, "chord_pattern": "arpeggio", "pad": 48, "bass": 42, "alt_lead": 68, "drums": False},
    "pop": {"chords": 0, "chord_pattern": "block", "pad": 89, "bass": 33, "alt_lead": 71, "drums": True},
    "gospel": {"chords": 19, "chord_pattern": "sustain", "pad": -1, "bass": 32, "alt_lead": 56, "drums": True},
}


def _scale(key_root: int, mode: str) -> list[int]:
    try:
        intervals = MODES[mode]
    except KeyError:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}") from None
    return [(key_root + i) % 12 for i in intervals]


def _chord_candidates(key_root: int, mode: str) -> list[tuple[str, tuple[int, int, int]]]:
    """Diatonic major/minor triads of the mode (diminished ones left out) as (roman, pcs)."""
    scale = _scale(key_root, mode)
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
) -> list[tuple[str, tuple[int, int, int]]]:
    """One chord per bar for a melody given as (start_beat, beats, pitch); bar ``b`` covers beats
    [first_downbeat + b*beats_per_bar, +beats_per_bar). A small dynamic programme scores chord tones
    against the melody (longer and stressed notes count more), prefers common progressions and
    ends on the tonic with a dominant before it."""
    cands = _chord_candidates(key_root, mode)
    strong = set(strong_beats)
    fit = np.zeros((n_bars, len(cands)))
    for b in range(n_bars):
        lo = first_downbeat + b * beats_per_bar
        hi = lo + beats_per_bar
        total = 0.0
        scores = np.zeros(len(cands))
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
            fit[b] = scores / total
        for c, (name, _) in enumerate(cands):
            fit[b, c] += _PRIOR.get(name, 0.0)
    tonic = 0
    dominant = next((i for i, (n, _) in enumerate(cands) if n == "V"), None)
    fit[-1, tonic] += 2.0
    if n_bars >= 2 and dominant is not None:
        fit[-2, dominant] += 0.3
    fit[0, tonic] += 0.3
    # Viterbi
    n_c = len(cands)
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
    return [cands[c] for c in path]


def _place(pc: int, lo: int) -> int:
    """The MIDI pitch of class ``pc`` in [lo, lo + 12)."""
    return lo + (pc - lo) % 12


def _voicing(pcs: Sequence[int], lo: int = 48) -> list[int]:
    root = _place(pcs[0], lo)
    out = [root]
    for pc in pcs[1:]:
        p = _place(pc, root)
        out.append(p if p > out[-1] else p + 12)
    return out


def _infer_bpm(melody: Sequence[Note]) -> float:
    durs = np.array([n.dur_s for n in melody if n.dur_s > 0])
    if len(durs) == 0:
        return 100.0
    beat = float(np.median(durs))
    bpm = 60.0 / beat
    while bpm < 60:
        bpm *= 2
    while bpm > 200:
        bpm /= 2
    return bpm


def arrange(
    melody: list[Note],
    *,
    key_root: int,
    mode: str = "major",
    style: str = "folk",
    passes: int = 2,
    intro_beats: int = 4,
    seed: int = 0,
    lead_program: int = 73,
    bpm: float | None = None,
    beats_per_bar: int = 4,
    pickup_beats: float = 0.0,
    pulse_beats: float = 1.0,
    alt_lead_program: int | None = None,
    pass_transpose: Sequence[int] | None = None,
    drums: bool | None = None,
    outro_bars: int = 1,
    tail_s: float = 1.5,
) -> Arrangement:
    """Arrange ``melody`` (notes whose time 0 is the first written beat, see ``melody_to_notes``)
    into a song: ``intro_beats`` (rounded up to whole bars) of accompaniment, then the melody
    ``passes`` times with a chord per bar, a bass line and, for styles that have them, drums, then
    ``outro_bars`` on the tonic chord.

    ``bpm``: beats per minute of the melody's notation (guessed from the note lengths when None).
    ``pickup_beats``: beats before the first full bar. ``pulse_beats``: beats per pulse (e.g. 3 for
    6/8 written in eighth notes) for the accompaniment's rhythm. Later passes use the style's
    alternate lead instrument, and an octave shift where the range allows it (``pass_transpose``
    overrides the shifts)."""
    if not melody:
        raise ValueError("cannot arrange an empty melody")
    if passes < 1:
        raise ValueError("passes must be at least 1")
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; use one of {', '.join(STYLES)}")
    _scale(key_root % 12, mode)  # validates the mode
    key_root %= 12
    cfg = STYLES[style]
    bpm = float(bpm or _infer_bpm(melody))
    spb = 60.0 / bpm
    bpb = int(beats_per_bar)
    rng = np.random.default_rng(seed)

    mel = sorted(melody, key=lambda n: n.start_s)
    mel_beats = [(n.start_s / spb, n.dur_s / spb, n.pitch) for n in mel]
    total_beats = max(s + d for s, d, _ in mel_beats)
    body_bars = max(1, math.ceil(round(total_beats - pickup_beats, 6) / bpb))
    pass_bars = max(body_bars, math.ceil(round(total_beats, 6) / bpb))
    intro_bars = math.ceil(intro_beats / bpb) if intro_beats > 0 else 0
    if intro_bars * bpb < pickup_beats:
        intro_bars = math.ceil(pickup_beats / bpb)

    lo_p, hi_p = min(n.pitch for n in mel), max(n.pitch for n in mel)
    if pass_transpose is None:
        shifts = []
        for k in range(passes):
            if k % 2 == 0:
                shifts.append(0)
            elif hi_p + 12 <= 86:
                shifts.append(12)
            elif lo_p - 12 >= 50:
                shifts.append(-12)
            else:
                shifts.append(0)
    else:
        shifts = [int(pass_transpose[k % len(pass_transpose)]) for k in range(passes)]
    alt = cfg["alt_lead"] if alt_lead_program is None else alt_lead_program
    if alt == lead_program and alt_lead_program is None:
        alt = next(p for p in (40, 68, 71, 73) if p != lead_program)
    programs = [lead_program if k % 2 == 0 else alt for k in range(passes)]

    # chords: one per bar of the melody (same for every pass), tonic/dominant around it
    strong = [0.0] + ([bpb / 2] if bpb in (4, 6) else [])
    mel_chords = harmonize(mel_beats, body_bars, beats_per_bar=bpb, first_downbeat=pickup_beats,
                           key_root=key_root, mode=mode, strong_beats=strong)
    cands = _chord_candidates(key_root, mode)
    tonic = cands[0]
    dominant = next((c for c in cands if c[0] == "V"), tonic)
    subdominant = next((c for c in cands if c[0] in ("IV", "iv")), tonic)
    intro_chords = [tonic] * intro_bars
    if intro_bars >= 2:
        intro_chords[-1] = dominant
    if intro_bars >= 3:
        intro_chords[-2] = subdominant
    bar_chords = list(intro_chords)
    for k in range(passes):
        bar_chords += mel_chords + [tonic] * (pass_bars - body_bars)
    bar_chords += [tonic] * outro_bars
    n_bars = len(bar_chords)

    occurrences: list[Occurrence] = []
    lead_tracks: list[Track] = []
    for k in range(passes):
        downbeat = (intro_bars + k * pass_bars) * bpb
        offset = (downbeat - pickup_beats) * spb
        occurrences.append(Occurrence(k, offset + mel[0].start_s, offset + max(n.end_s for n in mel), offset))
        ch = k % 2
        track = next((t for t in lead_tracks if t.channel == ch), None)
        if track is None:
            track = Track(f"lead {ch + 1}", programs[k], ch, [], volume=127, role="lead")
            lead_tracks.append(track)
        for n in mel:
            beat_in_bar = round(n.start_s / spb - pickup_beats, 6) % bpb
            vel = 124 if beat_in_bar < 1e-6 else 112
            gap = min(0.06, 0.12 * n.dur_s)
            track.notes.append(Note(n.pitch + shifts[k], offset + n.start_s, max(0.03, n.dur_s - gap), vel))

    chords_track = Track("chords", cfg["chords"], 2, [], volume=72, pan=44, role="chords")
    bass_track = Track("bass", cfg["bass"], 3, [], volume=86, pan=64, role="bass")
    pad_track = Track("pad", cfg["pad"], 4, [], volume=58, pan=84, role="pad") if cfg["pad"] >= 0 else None
    use_drums = cfg["drums"] if drums is None else drums
    drum_track = Track("drums", 0, DRUM_CHANNEL, [], volume=72, role="drums") if use_drums else None

    n_pulses = max(1, int(round(bpb / pulse_beats)))
    pulse_s = pulse_beats * spb
    bar_s = bpb * spb
    chord_spans = []
    last_bar = n_bars - 1
    for b, (name, pcs) in enumerate(bar_chords):
        t0 = b * bar_s
        chord_spans.append((t0, t0 + bar_s, tuple(pcs)))
        voicing = _voicing(pcs, 48)
        final = b == last_bar
        # chords
        pattern = cfg["chord_pattern"]
        if final:
            for i, p in enumerate(voicing):
                chords_track.notes.append(Note(p, t0 + 0.012 * i, bar_s * 0.95, 64))
        elif pattern == "strum":
            for j in range(n_pulses):
                vel = 54 if j == 0 else 44
                for i, p in enumerate(voicing):
                    jitter = float(rng.uniform(0, 0.004))
                    chords_track.notes.append(Note(p, t0 + j * pulse_s + 0.011 * i + jitter, pulse_s * 0.9, vel))
        elif pattern == "arpeggio":
            seq = [voicing[0], voicing[2], voicing[1], voicing[2]]
            sub = pulse_s / 2 if pulse_beats >= 1 else pulse_s
            n_sub = max(1, int(round(bar_s / sub)))
            for j in range(n_sub):
                chords_track.notes.append(Note(seq[j % 4], t0 + j * sub, sub * 1.6, 40 if j else 48))
        elif pattern == "block":
            for j in range(n_pulses):
                vel = 54 if j == 0 else 44
                for p in voicing:
                    chords_track.notes.append(Note(p, t0 + j * pulse_s, pulse_s * 0.8, vel))
        else:  # sustain
            for p in voicing:
                chords_track.notes.append(Note(p, t0, bar_s * 0.98, 48))
        if pad_track is not None:
            for p in voicing:
                pad_track.notes.append(Note(p + 12 if p < 55 else p, t0, bar_s, 38))
        # bass: root on the downbeat, fifth at mid-bar
        root = _place(pcs[0], 36)
        fifth = _place(pcs[2], 36)
        if final or n_pulses < 2:
            bass_track.notes.append(Note(root, t0, bar_s * 0.95, 88))
        else:
            half = n_pulses // 2
            bass_track.notes.append(Note(root, t0, half * pulse_s * 0.9, 90))
            bass_track.notes.append(Note(fifth, t0 + half * pulse_s, (n_pulses - half) * pulse_s * 0.9, 80))
        # drums
        if drum_track is not None:
            if final:
                drum_track.notes.append(Note(49, t0, 0.5, 90))
                drum_track.notes.append(Note(36, t0, 0.2, 100))
                continue
            if b == intro_bars or (b > intro_bars and (b - intro_bars) % pass_bars == 0):
                drum_track.notes.append(Note(49, t0, 0.5, 70))
            for j in range(n_pulses):
                t = t0 + j * pulse_s
                if j == 0:
                    drum_track.notes.append(Note(36, t, 0.2, 96))
                elif n_pulses == 3:
                    drum_track.notes.append(Note(42, t, 0.1, 58))
                elif j % 2 == 1:
                    drum_track.notes.append(Note(38, t, 0.2, 76))
                else:
                    drum_track.notes.append(Note(36, t, 0.2, 84))
                drum_track.notes.append(Note(42, t, 0.1, 62))
                if n_pulses != 3:
                    drum_track.notes.append(Note(42, t + pulse_s / 2, 0.1, 44))

    tracks = lead_tracks + [chords_track] + ([pad_track] if pad_track else []) + [bass_track]
    if drum_track is not None:
        tracks.append(drum_track)
    duration = n_bars * bar_s + tail_s
    return Arrangement(
        tracks=tracks,
        occurrences=occurrences,
        duration_s=duration,
        bpm=bpm,
        beats_per_bar=bpb,
        key_root=key_root,
        mode=mode,
        melody=mel,
        pass_transpose=shifts,
        pass_program=programs,
        chords=chord_spans,
    )


# --------------------------------------------------------------------------------------------------
# standard MIDI file
# --------------------------------------------------------------------------------------------------
def _vlq(value: int) -> bytes:
    if value < 0:
        raise ValueError("negative delta time")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">I", len(payload)) + payload


def _track_bytes(events: list[tuple[int, int, bytes]], end_tick: int) -> bytes:
    """events: (tick, order, message bytes); note-offs sort before note-ons at the same tick."""
    out = bytearray()
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        out += _vlq(tick - now) + msg
        now = tick
    out += _vlq(max(0, end_tick - now)) + b"\xff\x2f\x00"
    return bytes(out)


def _meta_text(kind: int, text: str) -> bytes:
    data = text.encode("utf-8")
    return bytes([0xFF, kind]) + _vlq(len(data)) + data


def midi_bytes(arr: Arrangement, *, ticks_per_beat: int = 480) -> bytes:
    """The arrangement as a standard MIDI file (format 1): a tempo track, then one track per
    ``Track`` with its name, program, volume and pan."""
    tempo_us = int(round(60_000_000 / arr.bpm))
    ticks_per_s = ticks_per_beat * arr.bpm / 60.0

    def tick(t: float) -> int:
        return max(0, int(round(t * ticks_per_s)))

    end_tick = tick(arr.duration_s)
    num = max(1, min(255, arr.beats_per_bar))
    conductor = [
        (0, 0, _meta_text(0x03, "hum-search")),
        (0, 1, b"\xff\x51\x03" + tempo_us.to_bytes(3, "big")),
        (0, 2, bytes([0xFF, 0x58, 0x04, num, 2, 24, 8])),
    ]
    chunks = [_track_bytes(conductor, end_tick)]
    for tr in arr.tracks:
        ch = tr.channel & 0x0F
        ev: list[tuple[int, int, bytes]] = [
            (0, 0, _meta_text(0x03, tr.name)),
            (0, 1, bytes([0xB0 | ch, 7, max(0, min(127, tr.volume))])),
            (0, 2, bytes([0xB0 | ch, 10, max(0, min(127, tr.pan))])),
        ]
        if not tr.is_drum:
            ev.append((0, 3, bytes([0xC0 | ch, max(0, min(127, tr.program))])))
        for n in tr.notes:
            p = max(0, min(127, int(round(n.pitch))))
            v = max(1, min(127, int(n.velocity)))
            on, off = tick(n.start_s), tick(n.end_s)
            if off <= on:
                off = on + 1
            ev.append((on, 20, bytes([0x90 | ch, p, v])))
            ev.append((off, 10, bytes([0x80 | ch, p, 0])))
        chunks.append(_track_bytes(ev, end_tick))
    header = _chunk(b"MThd", struct.pack(">HHH", 1, len(chunks), ticks_per_beat))
    return header + b"".join(_chunk(b"MTrk", c) for c in chunks)


def write_midi(path: str | os.PathLike, arr: Arrangement) -> Path:
    path = Path(path)
    path.write_bytes(midi_bytes(arr))
    return path


# --------------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------------
def find_soundfont() -> str | None:
    """A General MIDI soundfont: $HUM_SEARCH_SOUNDFONT, else the usual system locations."""
    env = os.environ.get("HUM_SEARCH_SOUNDFONT", "").strip()
    if env:
        return env if os.path.isfile(env) else None
    return next((p for p in SOUNDFONT_PATHS if os.path.isfile(p)), None)


def fluidsynth_available() -> bool:
    return shutil.which("fluidsynth") is not None and find_soundfont() is not None


def render(arr: Arrangement, *, sr: int = 22050, engine: str = "auto", seed: int = 0) -> np.ndarray:
    """Render to mono float32 at ``sr``, ``round(arr.duration_s * sr)`` samples, peak at -1 dBFS.

    ``engine``: "fluidsynth" (a General MIDI soundfont through the fluidsynth CLI), "additive" (the
    numpy synthesizer, no external programs) or "auto" (fluidsynth when it and a soundfont are
    installed, else additive)."""
    if engine == "auto":
        engine = "fluidsynth" if fluidsynth_available() else "additive"
        log.info("render engine: %s", engine)
    if engine == "fluidsynth":
        y = _render_fluidsynth(arr, sr)
    elif engine == "additive":
        y = _render_additive(arr, sr, seed)
    else:
        raise SynthError(f"unknown render engine {engine!r}", "use auto, fluidsynth or additive")
    return _fit_length(y, int(round(arr.duration_s * sr)))


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if len(y) < n:
        y = np.concatenate([y, np.zeros(n - len(y), np.float32)])
    return _normalize(y[:n], PEAK_DBFS)


def _normalize(y: np.ndarray, peak_dbfs: float) -> np.ndarray:
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0:
        y = y * (10 ** (peak_dbfs / 20) / peak)
    return y.astype(np.float32)


def _render_fluidsynth(arr: Arrangement, sr: int) -> np.ndarray:
    import soundfile as sf

    exe = shutil.which("fluidsynth")
    sf2 = find_soundfont()
    if exe is None or sf2 is None:
        missing = "fluidsynth" if exe is None else "a General MIDI soundfont"
        raise SynthError(
            f"cannot render with fluidsynth: {missing} is not installed",
            "install the packages fluidsynth and fluid-soundfont-gm (apt-get install fluidsynth "
            "fluid-soundfont-gm), set HUM_SEARCH_SOUNDFONT to a .sf2 file, or use the additive engine",
        )
    with tempfile.TemporaryDirectory(prefix="hum-search-fs-") as tmp:
        mid = os.path.join(tmp, "song.mid")
        wav = os.path.join(tmp, "song.wav")
        write_midi(mid, arr)
        cmd = [exe, "-ni", "-q", "-g", "0.6", "-r", str(int(sr)), "-T", "wav", "-O", "float", "-F", wav, sf2, mid]
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=FLUIDSYNTH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise SynthError(f"fluidsynth took over {FLUIDSYNTH_TIMEOUT_S} s", "use the additive engine") from None
        if p.returncode != 0 or not os.path.exists(wav):
            msg = (p.stderr or p.stdout).decode(errors="replace").strip().splitlines()
            raise SynthError(
                f"fluidsynth failed ({msg[-1][:200] if msg else f'exit status {p.returncode}'})",
                "check the fluidsynth installation or use the additive engine",
            )
        y, file_sr = sf.read(wav, dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if file_sr != sr:
        from ..features.audio import resample

        y = resample(y, file_sr, sr)
    if not np.all(np.isfinite(y)) or float(np.max(np.abs(y), initial=0.0)) == 0.0:
        raise SynthError("fluidsynth rendered silence", "check the soundfont, or use the additive engine")
    return y


# --- additive synthesizer -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Timbre:
    partials: tuple[float, ...]  # amplitude of harmonic k = 1, 2, ...
    kind: str  # "sustain" or "pluck"
    attack: float = 0.02
    release: float = 0.08
    decay: float = 1.0  # pluck: time constant of the fundamental (s)
    vibrato: float = 0.0  # depth in semitones
    gain: float = 1.0


_TIMBRES = {
    "flute": _Timbre((1.0, 0.35, 0.18, 0.08, 0.05, 0.02), "sustain", 0.04, 0.08, vibrato=0.12),
    "reed": _Timbre((1.0, 0.1, 0.55, 0.08, 0.35, 0.06, 0.2, 0.04, 0.1), "sustain", 0.03, 0.07, vibrato=0.08),
    "string": _Timbre(tuple(1 / k for k in range(1, 13)), "sustain", 0.05, 0.15, vibrato=0.15),
    "brass": _Timbre(tuple(1 / k ** 0.8 for k in range(1, 11)), "sustain", 0.03, 0.08, vibrato=0.05),
    "organ": _Timbre((1.0, 0.7, 0.4, 0.45, 0.0, 0.25, 0.0, 0.2), "sustain", 0.01, 0.05, gain=0.7),
    "pad": _Timbre(tuple(0.8 ** k for k in range(8)), "sustain", 0.25, 0.4, gain=0.7),
    "piano": _Timbre(tuple(1 / k ** 1.3 for k in range(1, 11)), "pluck", 0.004, 0.12, decay=1.1),
    "guitar": _Timbre(tuple(1 / k ** 1.1 for k in range(1, 11)), "pluck", 0.003, 0.08, decay=0.7, gain=0.8),
    "bells": _Timbre((1.0, 0.1, 0.5, 0.05, 0.3), "pluck", 0.002, 0.3, decay=1.6),
    "bass": _Timbre((1.0, 0.6, 0.3, 0.15, 0.08), "pluck", 0.005, 0.06, decay=0.9, gain=1.3),
    "synth": _Timbre(tuple(1 / k for k in range(1, 16)), "sustain", 0.01, 0.05, gain=0.6),
}


def _timbre_for(program: int) -> _Timbre:
    p = program
    if 0 <= p <= 7:
        return _TIMBRES["piano"]
    if 8 <= p <= 15:
        return _TIMBRES["bells"]
    if 16 <= p <= 23:
        return _TIMBRES["organ"] if p < 21 else _TIMBRES["reed"]
    if 24 <= p <= 31:
        return _TIMBRES["guitar"]
    if 32 <= p <= 39:
        return _TIMBRES["bass"]
    if 40 <= p <= 51:
        return _TIMBRES["string"]
    if 52 <= p <= 55:
        return _TIMBRES["pad"]
    if 56 <= p <= 63:
        return _TIMBRES["brass"]
    if 64 <= p <= 71:
        return _TIMBRES["reed"]
    if 72 <= p <= 79:
        return _TIMBRES["flute"]
    if 88 <= p <= 95:
        return _TIMBRES["pad"]
    return _TIMBRES["synth"]


_TABLE_SIZE = 2048


@lru_cache(maxsize=256)
def _wavetable(partials: tuple[float, ...], k_max: int) -> np.ndarray:
    """One period of the sum of the first ``k_max`` partials, normalized to peak 1 (plus a wrap
    sample for interpolation)."""
    theta = 2 * np.pi * np.arange(_TABLE_SIZE + 1) / _TABLE_SIZE
    ks = np.arange(1, k_max + 1)
    table = np.asarray(partials[:k_max]) @ np.sin(np.outer(ks, theta))
    return (table / (np.max(np.abs(table)) + 1e-12)).astype(np.float32)


def _lookup(table: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """``table`` read at ``cycles`` (periods elapsed, float32), linearly interpolated."""
    pos = (cycles - np.floor(cycles)) * np.float32(_TABLE_SIZE)
    i = pos.astype(np.int32)
    frac = pos - i
    lo = table[i]
    return lo + (table[i + 1] - lo) * frac


def _tone(note: Note, timbre: _Timbre, sr: int) -> np.ndarray:
    """One note: a band-limited harmonic wavetable read at the note's (vibrato) frequency, with an
    envelope (plucked timbres decay exponentially, faster for higher notes)."""
    f0 = 440.0 * 2 ** ((note.pitch - 69) / 12)
    dur = max(note.dur_s, 0.02)
    n = int((dur + timbre.release) * sr)
    t = np.arange(n, dtype=np.float32) / np.float32(sr)
    if timbre.vibrato and dur > 0.3:
        depth = timbre.vibrato * np.clip((t - 0.2) / 0.3, 0, 1)
        freq = f0 * 2 ** (depth * np.sin(2 * np.pi * 5.2 * t) / 12)
        cycles = (np.cumsum(freq, dtype=np.float64) / sr).astype(np.float32)
    else:
        cycles = np.float32(f0) * t
    k_max = max(1, min(len(timbre.partials), int(0.45 * sr / f0)))
    y = _lookup(_wavetable(timbre.partials, k_max), cycles)
    env = np.ones(n, dtype=np.float32)
    a = max(1, int(timbre.attack * sr))
    env[:a] = np.linspace(0.0, 1.0, a)
    if timbre.kind == "pluck":
        tau = timbre.decay * (220.0 / max(f0, 55.0)) ** 0.35
        env *= np.exp(-t / np.float32(tau))
    else:
        env *= 1.0 - 0.15 * np.clip(t / 1.5, 0, 1)
    s_end = int(dur * sr)
    r = n - s_end
    if r > 0:
        env[s_end:] *= np.linspace(1.0, 0.0, r, dtype=np.float32)
    return (y * env * timbre.gain * 0.5).astype(np.float32)


def _highpass_noise(rng: np.random.Generator, n: int, order: int) -> np.ndarray:
    x = rng.standard_normal(n + order)
    for _ in range(order):
        x = np.diff(x)
    return x[:n] / (2 ** order) ** 0.5


def _drum(note: Note, sr: int, rng: np.random.Generator) -> np.ndarray:
    kind = int(round(note.pitch))
    if kind in (35, 36):  # kick
        n = int(0.35 * sr)
        t = np.arange(n) / sr
        freq = 45 + 95 * np.exp(-t / 0.035)
        y = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.12)
        y[: int(0.003 * sr)] += 0.3 * rng.standard_normal(int(0.003 * sr))
        return y.astype(np.float32)
    if kind in (38, 40):  # snare
        n = int(0.25 * sr)
        t = np.arange(n) / sr
        y = 0.6 * _highpass_noise(rng, n, 1) * np.exp(-t / 0.06) + 0.5 * np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.05)
        return y.astype(np.float32)
    if kind in (42, 44):  # closed hi-hat
        n = int(0.08 * sr)
        t = np.arange(n) / sr
        return (0.35 * _highpass_noise(rng, n, 2) * np.exp(-t / 0.015)).astype(np.float32)
    if kind == 46:
        n = int(0.3 * sr)
        t = np.arange(n) / sr
        return (0.3 * _highpass_noise(rng, n, 2) * np.exp(-t / 0.09)).astype(np.float32)
    # crash and anything else
    n = int(1.2 * sr)
    t = np.arange(n) / sr
    return (0.3 * _highpass_noise(rng, n, 2) * np.exp(-t / 0.35)).astype(np.float32)


def _render_additive(arr: Arrangement, sr: int, seed: int) -> np.ndarray:
    n_total = int(round(arr.duration_s * sr)) + sr
    out = np.zeros(n_total, dtype=np.float32)
    for ti, tr in enumerate(arr.tracks):
        buf = np.zeros(n_total, dtype=np.float32)
        gain = (tr.volume / 127.0) ** 2
        timbre = None if tr.is_drum else _timbre_for(tr.program)
        for ni, note in enumerate(tr.notes):
            if tr.is_drum:
                y = _drum(note, sr, np.random.default_rng([seed, ti, ni]))
            else:
                y = _tone(note, timbre, sr)
            y = y * (note.velocity / 127.0) ** 1.6
            start = int(round(note.start_s * sr))
            if start >= n_total:
                continue
            end = min(n_total, start + len(y))
            buf[start:end] += y[: end - start]
        out += buf * gain * {"drums": 0.55, "lead": 1.5}.get(tr.role, 1.0)
    return out


# --------------------------------------------------------------------------------------------------
# synthetic hums
# --------------------------------------------------------------------------------------------------
VOICE_CENTRE = {"male": 52.0, "female": 62.0, "child": 67.0}  # typical median humming pitch (MIDI)
_FORMANT_SCALE = {"male": 1.0, "female": 1.17, "child": 1.3}
# (frequency Hz, bandwidth Hz, gain) for a male voice; scaled for the others
_FORMANTS = {
    "m": ((260.0, 70.0, 1.0), (1050.0, 200.0, 0.06), (2300.0, 250.0, 0.03)),
    "a": ((730.0, 90.0, 1.0), (1090.0, 110.0, 0.6), (2440.0, 170.0, 0.25), (3300.0, 250.0, 0.1)),
    "l": ((360.0, 80.0, 1.0), (1000.0, 150.0, 0.3), (2700.0, 200.0, 0.12)),
}
SYLLABLES = ("mm", "la", "da")
NOISES = ("pink", "white", "babble")


def hum_octave_shift(notes: Sequence[Note], voice: str = "male") -> int:
    """The octave shift (a multiple of 12) that ``synth_hum`` applies to bring ``notes`` into the
    voice's range (before ``transpose``)."""
    if voice not in VOICE_CENTRE:
        raise ValueError(f"unknown voice {voice!r}; use one of {', '.join(VOICE_CENTRE)}")
    durs = np.array([n.dur_s for n in notes], dtype=np.float64)
    pitches = np.array([n.pitch for n in notes], dtype=np.float64)
    centre = float(np.sum(pitches * durs) / max(np.sum(durs), 1e-9))
    return int(12 * round((VOICE_CENTRE[voice] - centre) / 12))


def _formant_bank(x: np.ndarray, formants, scale: float, sr: int) -> np.ndarray:
    from scipy.signal import iirpeak, lfilter

    y = np.zeros_like(x)
    for freq, bw, gain in formants:
        f = min(freq * scale, 0.45 * sr)
        b, a = iirpeak(f, Q=f / (bw * scale), fs=sr)
        y += gain * lfilter(b, a, x)
    return y


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 1:
        return x
    k = np.hanning(n + 2)[1:-1]
    return np.convolve(x, k / k.sum(), mode="same")


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    white = rng.standard_normal(n)
    spec = np.fft.rfft(white)
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec /= np.sqrt(np.maximum(f, 1.0))
    spec[0] = 0.0
    y = np.fft.irfft(spec, n)
    return y / (np.std(y) + 1e-12)


def _babble(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    y = np.zeros(n)
    for _ in range(6):
        f0 = rng.uniform(95, 240) * 2 ** (np.cumsum(rng.standard_normal(n)) * 0.0004 / 12)
        phase = 2 * np.pi * np.cumsum(f0) / sr
        src = sum(np.sin(k * phase) / k for k in range(1, 16))
        am = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2.5, 5.5) * t + rng.uniform(0, 2 * np.pi))
        vowel = "a" if rng.random() < 0.5 else "l"
        y += _formant_bank(src * am ** 2, _FORMANTS[vowel], rng.uniform(1.0, 1.2), sr)
    y += 0.3 * _pink(rng, n)
    return y / (np.std(y) + 1e-12)


def synth_hum(
    notes: list[Note],
    *,
    sr: int = 16000,
    transpose: float = 0.0,
    tempo: float = 1.0,
    voice: str = "male",
    syllable: str = "mm",
    vibrato_cents: float = 25.0,
    pitch_error_cents: float = 20.0,
    glide_ms: float = 40.0,
    breath_gaps: bool = True,
    snr_db: float | None = 20.0,
    noise: str = "pink",
    lead_silence_s: float = 0.3,
    seed: int = 0,
    octave: int | None = None,
) -> np.ndarray:
    """A synthetic hummed query of ``notes`` (mono float32 at ``sr``, peak at -6 dBFS).

    The notes are moved by whole octaves into the range of ``voice`` ("male", "female", "child";
    ``octave`` overrides that shift, in octaves; 0 keeps the written pitch), transposed by
    ``transpose`` semitones and time-scaled by 1/``tempo`` (tempo > 1 is faster); the first note
    starts after ``lead_silence_s`` and the same silence follows the last. Each note gets a random
    intonation error (standard deviation ``pitch_error_cents``), a glide from the previous note
    (``glide_ms``), delayed vibrato of about ``vibrato_cents`` and a slow pitch drift; the source is
    a harmonic, glottal-like pulse train through formant filters for the ``syllable`` ("mm" nasal
    hum, "la", "da"). ``breath_gaps`` leaves short breaths at phrase ends. Noise ("pink", "white",
    "babble") is added at ``snr_db`` relative to the hum (None: no noise)."""
    if not notes:
        raise ValueError("no notes to hum")
    if tempo <= 0:
        raise ValueError("tempo must be positive")
    if syllable not in SYLLABLES:
        raise ValueError(f"unknown syllable {syllable!r}; use one of {', '.join(SYLLABLES)}")
    if noise not in NOISES:
        raise ValueError(f"unknown noise {noise!r}; use one of {', '.join(NOISES)}")
    rng = np.random.default_rng(seed)
    notes = sorted(notes, key=lambda n: n.start_s)
    shift = (12 * octave if octave is not None else hum_octave_shift(notes, voice)) + transpose
    t_first = notes[0].start_s
    on = np.array([(n.start_s - t_first) / tempo + lead_silence_s for n in notes])
    off = on + np.array([n.dur_s / tempo for n in notes])
    n_notes = len(notes)
    err = np.clip(rng.standard_normal(n_notes), -2.5, 2.5) * pitch_error_cents / 100.0
    target = np.array([n.pitch for n in notes]) + shift + err
    total_s = float(off.max()) + lead_silence_s
    n = int(math.ceil(total_s * sr))

    # articulation: voiced span of each note
    voiced_end = off.copy()
    ioi = np.diff(on)
    median_ioi = float(np.median(ioi)) if len(ioi) else 1.0
    since_breath = 0.0
    attack = {"mm": 0.04, "la": 0.025, "da": 0.012}[syllable]
    art_gap = {"mm": 0.025, "la": 0.05, "da": 0.07}[syllable]
    for i in range(n_notes):
        dur = off[i] - on[i]
        since_breath += dur
        if i + 1 < n_notes:
            rest = on[i + 1] - off[i]
            gap = art_gap * float(rng.uniform(0.6, 1.4))
            if breath_gaps and rest < 0.15 and since_breath > 2.5 and ioi[i] >= median_ioi:
                gap = float(rng.uniform(0.15, 0.28))
                since_breath = 0.0
            if rest > 0.25:
                since_breath = 0.0
            voiced_end[i] = min(off[i], on[i + 1] - gap) if rest < gap else off[i]
        voiced_end[i] = max(voiced_end[i], on[i] + min(0.06, 0.5 * dur))

    # f0 contour in MIDI units, amplitude envelope
    midi = np.empty(n)
    amp = np.zeros(n)
    t = np.arange(n) / sr
    glide = max(glide_ms, 1.0) / 1000.0
    prev_pitch, prev_end = None, -1.0
    for i in range(n_notes):
        s = int(round(on[i] * sr))
        e = min(n, int(round(voiced_end[i] * sr)))
        if e <= s:
            continue
        tt = t[s:e] - on[i]
        p = np.full(e - s, target[i])
        if prev_pitch is not None and on[i] - prev_end < 0.2:
            start_pitch = prev_pitch
        else:
            start_pitch = target[i] - float(rng.uniform(0.1, 0.5))  # a scoop up into the note
        g = np.clip(tt / glide, 0, 1)
        p += (start_pitch - target[i]) * (0.5 + 0.5 * np.cos(np.pi * g))
        if vibrato_cents > 0:
            depth = vibrato_cents / 100.0 * float(rng.uniform(0.7, 1.3))
            rate = float(rng.uniform(4.8, 6.2))
            ramp = np.clip((tt - 0.22) / 0.25, 0, 1)
            p += depth * ramp * np.sin(2 * np.pi * rate * tt + float(rng.uniform(0, 2 * np.pi)))
        midi[s:e] = p
        dur = voiced_end[i] - on[i]
        a = max(1, int(min(attack, 0.4 * dur) * sr))
        r = max(1, int(min(0.05, 0.3 * dur) * sr))
        env = np.ones(e - s) * (1.0 - 0.25 * np.clip(tt / 2.0, 0, 1)) * float(rng.uniform(0.8, 1.0))
        env[:a] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
        env[-r:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(r) / r)
        amp[s:e] = np.maximum(amp[s:e], env)
        prev_pitch, prev_end = target[i], voiced_end[i]
    # fill unvoiced stretches (keeps the phase smooth) and add a slow random drift of a few cents
    voiced = amp > 0
    idx = np.where(voiced, np.arange(n), 0)
    np.maximum.accumulate(idx, out=idx)
    first_voiced = int(np.argmax(voiced))
    midi = np.where(voiced, midi, midi[idx])
    midi[:first_voiced] = midi[first_voiced]
    drift = _smooth(rng.standard_normal(n), int(0.3 * sr)) * 0.04 * math.sqrt(0.3 * sr)
    midi = midi + np.clip(drift, -0.08, 0.08)
    f0 = 440.0 * 2 ** ((midi - 69) / 12)

    # glottal-like source: harmonics with a spectral tilt, band-limited sample by sample
    phase = 2 * np.pi * np.cumsum(f0) / sr
    tilt = {"mm": 1.6, "la": 1.15, "da": 1.15}[syllable]
    k_max = int(0.45 * sr / max(float(f0.min()), 40.0))
    source = np.zeros(n)
    for k in range(1, max(2, k_max) + 1):
        limit = np.clip((0.45 * sr - k * f0) / (0.05 * sr), 0, 1)
        if not limit.any():
            break
        source += np.sin(k * phase) * limit / k ** tilt
    source += 0.02 * rng.standard_normal(n)  # breathiness
    source *= amp

    scale = _FORMANT_SCALE.get(voice, 1.0)
    if syllable == "mm":
        y = _formant_bank(source, _FORMANTS["m"], scale, sr)
    else:
        vowel = _formant_bank(source, _FORMANTS["a"], scale, sr)
        onset_mask = np.zeros(n)
        for i in range(n_notes):
            s = int(round(on[i] * sr))
            m_len = int((0.06 if syllable == "la" else 0.025) * sr)
            fade = int(0.04 * sr)
            seg = np.concatenate([np.ones(m_len), np.linspace(1, 0, fade)])
            e = min(n, s + len(seg))
            onset_mask[s:e] = np.maximum(onset_mask[s:e], seg[: e - s])
        if syllable == "la":
            cons = _formant_bank(source, _FORMANTS["l"], scale, sr) * 0.6
            y = cons * onset_mask + vowel * (1 - onset_mask)
        else:  # "da": a short closure, then a burst, then the vowel
            y = vowel * (1 - 0.9 * onset_mask)
            for i in range(n_notes):
                s = int(round((on[i] + 0.018) * sr))
                b = int(0.008 * sr)
                if s + b < n:
                    burst = _highpass_noise(rng, b, 1) * np.exp(-np.arange(b) / (0.003 * sr))
                    y[s:s + b] += 0.15 * burst * float(np.max(np.abs(vowel)) + 1e-9)
    y = y / (np.max(np.abs(y)) + 1e-12)

    if snr_db is not None:
        if noise == "pink":
            nz = _pink(rng, n)
        elif noise == "white":
            nz = rng.standard_normal(n)
        else:
            nz = _babble(rng, n, sr)
        sig_rms = float(np.sqrt(np.mean(y[voiced] ** 2))) if voiced.any() else 1.0
        y = y + nz * (sig_rms / (10 ** (snr_db / 20)) / (float(np.std(nz)) + 1e-12))
    return _normalize(y, -6.0)


# --------------------------------------------------------------------------------------------------
# files and tags
# --------------------------------------------------------------------------------------------------
_SOUNDFILE_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16")}
_FFMPEG_CODECS = {
    ".mp3": ["-c:a", "libmp3lame", "-q:a", "3"],
    ".ogg": ["-c:a", "libvorbis", "-q:a", "5"],
    ".m4a": ["-c:a", "aac", "-b:a", "160k"],
    ".webm": ["-c:a", "libopus", "-b:a", "96k"],
}


def write_audio(path: str | os.PathLike, y: np.ndarray, sr: int) -> Path:
    """Write mono audio. wav/flac through soundfile; mp3/ogg/m4a/webm through ffmpeg. The file
    appears complete or not at all (written beside it, then renamed)."""
    import soundfile as sf

    path = Path(path)
    ext = path.suffix.lower()
    if ext not in _SOUNDFILE_FORMATS and ext not in _FFMPEG_CODECS:
        raise AudioEncodeError(
            f"cannot write {path.name}: unsupported format {ext or '(no extension)'}",
            "use .wav, .flac, .mp3, .ogg, .m4a or .webm",
        )
    y = np.clip(np.asarray(y, dtype=np.float32), -1.0, 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=ext, dir=path.parent)
    os.close(fd)
    try:
        if ext in _SOUNDFILE_FORMATS:
            fmt, subtype = _SOUNDFILE_FORMATS[ext]
            sf.write(tmp, y, sr, format=fmt, subtype=subtype)
        else:
            ffmpeg = shutil.which("ffmpeg")
            if ffmpeg is None:
                raise AudioEncodeError(
                    f"cannot write {path.name}: {ext[1:]} encoding needs ffmpeg, which is not installed",
                    "install ffmpeg (apt-get install ffmpeg) or write wav/flac instead",
                )
            wav = tmp + ".wav"
            try:
                sf.write(wav, y, sr, format="WAV", subtype="PCM_16")
                cmd = [ffmpeg, "-nostdin", "-y", "-v", "error", "-i", wav, *_FFMPEG_CODECS[ext], "-f",
                       {".m4a": "ipod", ".ogg": "ogg", ".webm": "webm", ".mp3": "mp3"}[ext], tmp]
                try:
                    p = subprocess.run(cmd, capture_output=True, timeout=FFMPEG_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    raise AudioEncodeError(f"encoding {path.name} took over {FFMPEG_TIMEOUT_S} s",
                                           "write wav/flac instead") from None
                if p.returncode != 0:
                    msg = p.stderr.decode(errors="replace").strip().splitlines()
                    raise AudioEncodeError(
                        f"ffmpeg could not encode {path.name} ({msg[-1][:200] if msg else p.returncode})",
                        f"check that your ffmpeg has the {ext[1:]} encoder, or write wav/flac instead",
                    )
            finally:
                if os.path.exists(wav):
                    os.unlink(wav)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_tags(
    path: str | os.PathLike,
    *,
    title: str | None = None,
    artist: str | None = None,
    album: str | None = None,
    genre: str | None = None,
) -> None:
    """Write title/artist/album/genre tags (mp3, flac, ogg, m4a through mutagen's easy interface;
    wav gets an ID3 chunk). Fields left None are not touched."""
    import mutagen

    path = Path(path)
    values = {k: v for k, v in (("title", title), ("artist", artist), ("album", album), ("genre", genre)) if v}
    if not values:
        return
    try:
        if path.suffix.lower() in (".wav", ".wave"):
            _write_wav_tags(path, values)
            return
        f = mutagen.File(str(path), easy=True)
        if f is None:
            raise AudioEncodeError(f"cannot tag {path.name}: mutagen does not know this format",
                                   "use mp3, flac, ogg, m4a or wav")
        if f.tags is None:
            f.add_tags()
        for key, value in values.items():
            f.tags[key] = [value]
        f.save()
    except AudioEncodeError:
        raise
    except Exception as e:  # mutagen raises many types
        raise AudioEncodeError(f"cannot write tags to {path.name} ({e})", "check that the file is not corrupt") from None


def _write_wav_tags(path: Path, values: dict[str, str]) -> None:
    from mutagen.id3 import TALB, TCON, TIT2, TPE1
    from mutagen.wave import WAVE

    frames = {"title": TIT2, "artist": TPE1, "album": TALB, "genre": TCON}
    f = WAVE(str(path))
    if f.tags is None:
        f.add_tags()
    for key, value in values.items():
        f.tags.add(frames[key](encoding=3, text=[value]))
    f.save()
