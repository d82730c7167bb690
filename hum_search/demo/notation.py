"""The melody notation and notes: note names, the compact text notation, and ``Note`` (times in s).

``parse_notation`` reads "E4 E4:0.5 F#4:1.5 | r G4:2 | -:2": a note name with octave (C4 = middle
C = MIDI 60), ``r`` for a rest, ``-`` to hold the previous note longer, each with an optional
``:DURATION`` in beats, and ``|`` between bars. ``melody_to_notes`` turns a written melody into
``Note`` objects in seconds at a tempo; ``excerpt`` cuts the notes a hum sings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Protocol, Sequence

PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}


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


class WrittenMelody(Protocol):
    """A melody in the notation with its tempo, e.g. a demo ``Tune``."""

    @property
    def notation(self) -> str: ...

    @property
    def bpm(self) -> float: ...


def melody_to_notes(tune: WrittenMelody | str, *, bpm: float | None = None) -> list[Note]:
    """The melody of a ``Tune`` (any ``WrittenMelody``) or of a notation string as notes; the first
    written beat is time 0, so a pickup's first note starts at 0.0 s. ``bpm`` overrides the tune's tempo (beats of the
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

