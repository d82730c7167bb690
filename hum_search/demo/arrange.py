"""Arranging a melody into a small song: the tracks, the chords per bar, and where the melody sounds.

``arrange``: an intro (accompaniment only), the melody played ``passes`` times (later passes change
the lead instrument and may change octave), diatonic chords per bar from ``harmony.harmonize``, a
bass line, optional drums and a final bar on the tonic. The ``Arrangement`` also says where each
pass of the melody sounds (``occurrences``), so callers know the song time of every note:
``song_time = occurrence.offset_s + note.start_s``. Instruments are General MIDI programs, so the
same arrangement plays through fluidsynth or the additive synthesizer (``render``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np

from .harmony import Chord, chord_candidates, harmonize, scale_pitch_classes
from .notation import Note

DRUM_CHANNEL = 9  # General MIDI's percussion channel (0-based)


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




@dataclass(frozen=True)
class _Form:
    """The song's bars: ``intro_bars``, then each pass of the melody in ``pass_bars`` (its
    ``body_bars`` from the first downbeat, plus a bar where the pickup makes it spill over)."""

    intro_bars: int
    body_bars: int
    pass_bars: int


@dataclass(frozen=True)
class _Grid:
    """The accompaniment's time grid: ``n_pulses`` pulses of ``pulse_s`` seconds per bar of ``bar_s``."""

    pulse_beats: float
    n_pulses: int
    pulse_s: float
    bar_s: float


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
    _check_arrange_args(melody, passes, style, key_root, mode)
    key_root %= 12
    cfg = STYLES[style]
    bpm = float(bpm or _infer_bpm(melody))
    spb = 60.0 / bpm
    bpb = int(beats_per_bar)
    rng = np.random.default_rng(seed)

    mel = sorted(melody, key=lambda n: n.start_s)
    mel_beats = [(n.start_s / spb, n.dur_s / spb, n.pitch) for n in mel]
    form = _song_form(mel_beats, bpb, pickup_beats, intro_beats)
    shifts = _pass_shifts(mel, passes, pass_transpose)
    programs = _pass_programs(passes, lead_program, alt_lead_program, cfg["alt_lead"])
    bar_chords = _bar_chords(mel_beats, form, passes, outro_bars, bpb=bpb, pickup_beats=pickup_beats,
                             key_root=key_root, mode=mode)
    occurrences, lead_tracks = _lead_tracks(mel, form, shifts, programs, spb=spb, bpb=bpb, pickup_beats=pickup_beats)
    grid = _Grid(pulse_beats, max(1, int(round(bpb / pulse_beats))), pulse_beats * spb, bpb * spb)
    use_drums = cfg["drums"] if drums is None else drums
    accompaniment, chord_spans = _accompaniment(bar_chords, form, grid, cfg, use_drums, rng)
    return Arrangement(
        tracks=lead_tracks + accompaniment,
        occurrences=occurrences,
        duration_s=len(bar_chords) * grid.bar_s + tail_s,
        bpm=bpm,
        beats_per_bar=bpb,
        key_root=key_root,
        mode=mode,
        melody=mel,
        pass_transpose=shifts,
        pass_program=programs,
        chords=chord_spans,
    )


def _check_arrange_args(melody: list[Note], passes: int, style: str, key_root: int, mode: str) -> None:
    if not melody:
        raise ValueError("cannot arrange an empty melody")
    if passes < 1:
        raise ValueError("passes must be at least 1")
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; use one of {', '.join(STYLES)}")
    scale_pitch_classes(key_root % 12, mode)  # validates the mode


def _song_form(mel_beats: list[tuple[float, float, float]], bpb: int, pickup_beats: float,
               intro_beats: int) -> _Form:
    """Bars of the intro (at least enough to hold the pickup) and of one pass of the melody."""
    total_beats = max(s + d for s, d, _ in mel_beats)
    body_bars = max(1, math.ceil(round(total_beats - pickup_beats, 6) / bpb))
    pass_bars = max(body_bars, math.ceil(round(total_beats, 6) / bpb))
    intro_bars = math.ceil(intro_beats / bpb) if intro_beats > 0 else 0
    if intro_bars * bpb < pickup_beats:
        intro_bars = math.ceil(pickup_beats / bpb)
    return _Form(intro_bars, body_bars, pass_bars)


def _pass_shifts(mel: list[Note], passes: int, pass_transpose: Sequence[int] | None) -> list[int]:
    """Semitones added to the melody in each pass: every second pass an octave up (or down) where the
    lead stays within MIDI 50..86, unless ``pass_transpose`` gives the shifts (taken in turn)."""
    if pass_transpose is not None:
        return [int(pass_transpose[k % len(pass_transpose)]) for k in range(passes)]
    lo_p, hi_p = min(n.pitch for n in mel), max(n.pitch for n in mel)
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
    return shifts


def _pass_programs(passes: int, lead_program: int, alt_lead_program: int | None, style_alt: int) -> list[int]:
    """The lead's General MIDI program in each pass: the lead, then the alternate lead, in turn."""
    alt = style_alt if alt_lead_program is None else alt_lead_program
    if alt == lead_program and alt_lead_program is None:
        alt = next(p for p in (40, 68, 71, 73) if p != lead_program)
    return [lead_program if k % 2 == 0 else alt for k in range(passes)]


def _bar_chords(mel_beats: list[tuple[float, float, float]], form: _Form, passes: int, outro_bars: int, *,
                bpb: int, pickup_beats: float, key_root: int, mode: str) -> list[Chord]:
    """One chord per bar of the song: tonic (then subdominant, dominant) in the intro, the melody's
    harmony in every pass (the same each time), the tonic in the outro."""
    strong = [0.0] + ([bpb / 2] if bpb in (4, 6) else [])
    mel_chords = harmonize(mel_beats, form.body_bars, beats_per_bar=bpb, first_downbeat=pickup_beats,
                           key_root=key_root, mode=mode, strong_beats=strong)
    cands = chord_candidates(key_root, mode)
    tonic = cands[0]
    dominant = next((c for c in cands if c[0] == "V"), tonic)
    subdominant = next((c for c in cands if c[0] in ("IV", "iv")), tonic)
    intro_chords = [tonic] * form.intro_bars
    if form.intro_bars >= 2:
        intro_chords[-1] = dominant
    if form.intro_bars >= 3:
        intro_chords[-2] = subdominant
    bar_chords = list(intro_chords)
    for _ in range(passes):
        bar_chords += mel_chords + [tonic] * (form.pass_bars - form.body_bars)
    bar_chords += [tonic] * outro_bars
    return bar_chords


def _lead_tracks(mel: list[Note], form: _Form, shifts: list[int], programs: list[int], *, spb: float, bpb: int,
                 pickup_beats: float) -> tuple[list[Occurrence], list[Track]]:
    """The melody's passes, alternating between two lead channels (so each keeps its program), with
    accented downbeats and a short gap before each next note; and where each pass sounds."""
    occurrences: list[Occurrence] = []
    lead_tracks: list[Track] = []
    for k in range(len(shifts)):
        downbeat = (form.intro_bars + k * form.pass_bars) * bpb
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
    return occurrences, lead_tracks


def _accompaniment(bar_chords: list[Chord], form: _Form, grid: _Grid, cfg: dict, use_drums: bool,
                   rng: np.random.Generator) -> tuple[list[Track], list[tuple[float, float, tuple[int, ...]]]]:
    """Chords, pad (where the style has one), bass and drums, bar by bar; and each bar's chord span."""
    chords_track = Track("chords", cfg["chords"], 2, [], volume=72, pan=44, role="chords")
    bass_track = Track("bass", cfg["bass"], 3, [], volume=86, pan=64, role="bass")
    pad_track = Track("pad", cfg["pad"], 4, [], volume=58, pan=84, role="pad") if cfg["pad"] >= 0 else None
    drum_track = Track("drums", 0, DRUM_CHANNEL, [], volume=72, role="drums") if use_drums else None
    chord_spans = []
    last_bar = len(bar_chords) - 1
    for b, (_, pcs) in enumerate(bar_chords):
        t0 = b * grid.bar_s
        chord_spans.append((t0, t0 + grid.bar_s, tuple(pcs)))
        voicing = _voicing(pcs, 48)
        final = b == last_bar
        chords_track.notes += _chord_notes(cfg["chord_pattern"], voicing, t0, grid, final, rng)
        if pad_track is not None:
            pad_track.notes += [Note(p + 12 if p < 55 else p, t0, grid.bar_s, 38) for p in voicing]
        bass_track.notes += _bass_notes(pcs, t0, grid, final)
        if drum_track is not None:
            drum_track.notes += _drum_notes(b, t0, form, grid, final)
    tracks = [chords_track] + ([pad_track] if pad_track else []) + [bass_track]
    if drum_track is not None:
        tracks.append(drum_track)
    return tracks, chord_spans


def _chord_notes(pattern: str, voicing: list[int], t0: float, grid: _Grid, final: bool,
                 rng: np.random.Generator) -> list[Note]:
    """One bar of the chord instrument: "strum", "arpeggio", "block" or "sustain"; the final bar rings."""
    bar_s, pulse_s = grid.bar_s, grid.pulse_s
    notes = []
    if final:
        for i, p in enumerate(voicing):
            notes.append(Note(p, t0 + 0.012 * i, bar_s * 0.95, 64))
    elif pattern == "strum":
        for j in range(grid.n_pulses):
            vel = 54 if j == 0 else 44
            for i, p in enumerate(voicing):
                jitter = float(rng.uniform(0, 0.004))
                notes.append(Note(p, t0 + j * pulse_s + 0.011 * i + jitter, pulse_s * 0.9, vel))
    elif pattern == "arpeggio":
        seq = [voicing[0], voicing[2], voicing[1], voicing[2]]
        sub = pulse_s / 2 if grid.pulse_beats >= 1 else pulse_s
        n_sub = max(1, int(round(bar_s / sub)))
        for j in range(n_sub):
            notes.append(Note(seq[j % 4], t0 + j * sub, sub * 1.6, 40 if j else 48))
    elif pattern == "block":
        for j in range(grid.n_pulses):
            vel = 54 if j == 0 else 44
            for p in voicing:
                notes.append(Note(p, t0 + j * pulse_s, pulse_s * 0.8, vel))
    else:  # sustain
        for p in voicing:
            notes.append(Note(p, t0, bar_s * 0.98, 48))
    return notes


def _bass_notes(pcs: Sequence[int], t0: float, grid: _Grid, final: bool) -> list[Note]:
    """The root on the downbeat and the fifth at mid-bar (the root alone in the final bar)."""
    root = _place(pcs[0], 36)
    fifth = _place(pcs[2], 36)
    n_pulses, pulse_s = grid.n_pulses, grid.pulse_s
    if final or n_pulses < 2:
        return [Note(root, t0, grid.bar_s * 0.95, 88)]
    half = n_pulses // 2
    return [Note(root, t0, half * pulse_s * 0.9, 90),
            Note(fifth, t0 + half * pulse_s, (n_pulses - half) * pulse_s * 0.9, 80)]


def _drum_notes(b: int, t0: float, form: _Form, grid: _Grid, final: bool) -> list[Note]:
    """General MIDI percussion for bar ``b``: kick, snare and hi-hats per pulse (kick and hi-hat
    only in triple pulse), a crash where each pass begins, a crash and kick to end."""
    if final:
        return [Note(49, t0, 0.5, 90), Note(36, t0, 0.2, 100)]
    notes = []
    intro_bars, n_pulses, pulse_s = form.intro_bars, grid.n_pulses, grid.pulse_s
    if b == intro_bars or (b > intro_bars and (b - intro_bars) % form.pass_bars == 0):
        notes.append(Note(49, t0, 0.5, 70))
    for j in range(n_pulses):
        t = t0 + j * pulse_s
        if j == 0:
            notes.append(Note(36, t, 0.2, 96))
        elif n_pulses == 3:
            notes.append(Note(42, t, 0.1, 58))
        elif j % 2 == 1:
            notes.append(Note(38, t, 0.2, 76))
        else:
            notes.append(Note(36, t, 0.2, 84))
        notes.append(Note(42, t, 0.1, 62))
        if n_pulses != 3:
            notes.append(Note(42, t + pulse_s / 2, 0.1, 44))
    return notes
