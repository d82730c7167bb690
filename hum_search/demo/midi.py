"""A standard MIDI file (format 1), written byte by byte from an ``Arrangement``: a tempo track,
then one track per ``Track`` with its name, program, volume and pan. fluidsynth renders it."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from .arrange import Arrangement


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

