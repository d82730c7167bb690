"""hum_search.demo.midi: the standard MIDI file holds every note of the arrangement."""

from __future__ import annotations

import struct

from hum_search.demo import midi

from .demo_helpers import simple_arrangement


def parse_smf(data: bytes) -> tuple[tuple[int, int, int], list[list[tuple[int, int, bytes]]]]:
    """A small standard-MIDI-file reader: header fields and, per track, (tick, status, data) events."""
    assert data[:4] == b"MThd"
    (hlen,) = struct.unpack(">I", data[4:8])
    assert hlen == 6
    header = struct.unpack(">HHH", data[8:14])
    pos = 14
    tracks = []
    while pos < len(data):
        assert data[pos:pos + 4] == b"MTrk", f"chunk at {pos} is not MTrk"
        (length,) = struct.unpack(">I", data[pos + 4:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert len(body) == length
        pos += 8 + length
        events, i, tick = [], 0, 0
        while i < len(body):
            delta = 0
            while True:
                byte = body[i]
                i += 1
                delta = (delta << 7) | (byte & 0x7F)
                if not byte & 0x80:
                    break
            tick += delta
            status = body[i]
            assert status & 0x80, "running status is not used by our writer"
            if status == 0xFF:
                kind, mlen = body[i + 1], body[i + 2]
                events.append((tick, status, bytes([kind]) + body[i + 3:i + 3 + mlen]))
                i += 3 + mlen
            else:
                n = 1 if status & 0xF0 in (0xC0, 0xD0) else 2
                events.append((tick, status, body[i + 1:i + 1 + n]))
                i += 1 + n
        assert events[-1][1] == 0xFF and events[-1][2][:1] == b"\x2f", "track must end with end-of-track"
        tracks.append(events)
    return header, tracks


SIMPLE = "C4 D4 E4 F4 | G4:2 r:2 | E4:0.5 D4:0.5 C4:3"




# --------------------------------------------------------------------------------------------------
# MIDI
# --------------------------------------------------------------------------------------------------
def test_midi_bytes_parse_and_hold_every_note():
    arr = simple_arrangement()
    data = midi.midi_bytes(arr)
    (fmt, ntracks, division), tracks = parse_smf(data)
    assert fmt == 1 and division == 480
    assert ntracks == len(tracks) == len(arr.tracks) + 1
    tempo = [e for e in tracks[0] if e[1] == 0xFF and e[2][:1] == b"\x51"]
    assert int.from_bytes(tempo[0][2][1:], "big") == round(60e6 / arr.bpm)
    ticks_per_s = 480 * arr.bpm / 60
    for track, events in zip(arr.tracks, tracks[1:]):
        ons = [e for e in events if e[1] & 0xF0 == 0x90 and e[2][1] > 0]
        offs = [e for e in events if e[1] & 0xF0 == 0x80]
        assert len(ons) == len(offs) == len(track.notes)
        assert {e[1] & 0x0F for e in ons} == {track.channel}
        programs = [e for e in events if e[1] & 0xF0 == 0xC0]
        if track.is_drum:
            assert not programs
        else:
            assert programs[0][2][0] == track.program
        first = min(track.notes, key=lambda n: n.start_s)
        assert min(e[0] for e in ons) == round(first.start_s * ticks_per_s)
        ticks = [e[0] for e in events]
        assert ticks == sorted(ticks)
    assert max(e[0] for t in tracks for e in t) == round(arr.duration_s * ticks_per_s)


def test_vlq():
    assert midi._vlq(0) == b"\x00"
    assert midi._vlq(0x7F) == b"\x7f"
    assert midi._vlq(0x80) == b"\x81\x00"
    assert midi._vlq(0x0FFFFFFF) == b"\xff\xff\xff\x7f"

